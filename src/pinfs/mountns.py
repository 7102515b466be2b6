"""Mounts and mount namespaces (fs/namespace.c, fs/super.c, fs/pnode.c without propagation).

A :class:`Mount` puts a superblock's tree (from ``mnt_root``) at a dentry of a parent
mount.  A :class:`MountNamespace` is a tree of mounts that tasks share.  Mounts hold
superblocks active (``s_active``); when the last mount of a superblock goes, the
filesystem's ``kill_sb`` runs, which is where bpffs lets go of its pins.

Mount propagation is not modelled: every mount behaves as ``MS_PRIVATE`` (what
``unshare --propagation private`` gives), which the kernel's own default for a new
namespace also is unless an init system made ``/`` shared.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from typing import NamedTuple

import attrs

from pinfs.base import uapi
from pinfs.base.cred import Cred, UserNamespace
from pinfs.base.display import repr_mimebundle
from pinfs.base.errors import refused
from pinfs.vfs import (
    MS_RDONLY,
    Dentry,
    FileSystemType,
    KernelServices,
    SuperBlock,
    dget,
    dput,
)

# Their home is pinfs.base.uapi; the names stay importable from here.
MNT_DETACH = uapi.MNT_DETACH
MNT_EXPIRE = uapi.MNT_EXPIRE
MNT_FORCE = uapi.MNT_FORCE
UMOUNT_NOFOLLOW = uapi.UMOUNT_NOFOLLOW

# mnt_flags (include/linux/mount.h)
MNT_NOSUID = 0x01
MNT_NODEV = 0x02
MNT_NOEXEC = 0x04
MNT_NOATIME = 0x08
MNT_NODIRATIME = 0x10
MNT_RELATIME = 0x20
MNT_READONLY = 0x40
MNT_ATIME_MASK = MNT_NOATIME | MNT_NODIRATIME | MNT_RELATIME
MNT_LOCK_ATIME = 0x040000
MNT_LOCK_NOEXEC = 0x080000
MNT_LOCK_NOSUID = 0x100000
MNT_LOCK_NODEV = 0x200000
MNT_LOCK_READONLY = 0x400000
MNT_LOCKED = 0x800000


@attrs.define(eq=False)
class Mount:
    """``struct mount`` with its ``struct vfsmount``."""

    mnt_sb: SuperBlock
    mnt_root: Dentry
    mnt_flags: int
    mnt_id: int
    source: str = "none"
    mnt_parent: Mount | None = None  # None: the root of its namespace, or detached
    mnt_mountpoint: Dentry | None = None
    mnt_ns: MountNamespace | None = None
    mnt_count: int = 0  # path references: open files, cwds, roots
    mnt_writers: int = 0  # files open for writing (mnt_want_write held)
    mounts_at: dict[Dentry, list[Mount]] = attrs.field(factory=dict)  # children by mountpoint
    attached: bool = True
    expiry_mark: bool = False

    def __repr__(self) -> str:
        return f"<mount {self.mnt_id} {self.mnt_sb.s_type.name} {self.source!r}>"

    def children(self) -> Iterator[Mount]:
        for stack in self.mounts_at.values():
            yield from stack

    @property
    def read_only(self) -> bool:
        return bool(self.mnt_flags & MNT_READONLY) or self.mnt_sb.read_only


@attrs.frozen
class MountContext:
    """What ``mount(2)`` hands a filesystem: the option string, and who is mounting
    from which namespace (the kernel reads these from ``current``)."""

    options: str | None
    cred: Cred
    mnt_ns: MountNamespace


#: A filesystem's ``fill_super``: fill a new superblock from the mount's context.
FillSuper = Callable[[SuperBlock, MountContext], None]


class Path(NamedTuple):
    """``struct path``: a dentry seen through a mount."""

    mnt: Mount
    dentry: Dentry


@attrs.define(eq=False)
class MountNamespace:
    """``struct mnt_namespace``: a tree of mounts and the tasks that use it."""

    ns_id: int
    user_ns: UserNamespace
    root: Mount | None = None
    mounts: list[Mount] = attrs.field(factory=list)
    count: int = 0  # tasks (nsproxy references)
    alive: bool = True

    def __repr__(self) -> str:
        return f"<mnt_namespace {self.ns_id}: {len(self.mounts)} mounts, {self.count} tasks>"

    _repr_mimebundle_ = repr_mimebundle


# ---------------------------------------------------------------------------------------
# References


def path_get(path: Path) -> Path:
    path.mnt.mnt_count += 1
    dget(path.dentry)
    return path


def path_put(path: Path) -> None:
    dput(path.dentry)
    mntput(path.mnt)


def mntput(mnt: Mount) -> None:
    mnt.mnt_count -= 1
    if mnt.mnt_count == 0 and not mnt.attached:
        cleanup_mnt(mnt)


def cleanup_mnt(mnt: Mount) -> None:
    """``cleanup_mnt``: a detached, unused mount lets go of its root and superblock."""
    dput(mnt.mnt_root)
    deactivate_super(mnt.mnt_sb)


def deactivate_super(sb: SuperBlock) -> None:
    """``deactivate_super``: the last active reference kills the superblock."""
    sb.s_active -= 1
    if sb.s_active == 0:
        sb.s_type.kill_sb(sb)
        supers: list[SuperBlock] = sb.s_type.fs_supers
        if sb in supers:
            supers.remove(sb)


def mnt_want_write(mnt: Mount) -> int:
    """``mnt_want_write``: EROFS for a read-only mount or superblock."""
    if mnt.read_only:
        return refused(errno.EROFS, "mnt_want_write", "the mount is read-only")
    return 0


# ---------------------------------------------------------------------------------------
# The mount tree


def lookup_mnt(path: Path) -> Mount | None:
    """``lookup_mnt``: the top-most mount on this dentry of this mount."""
    stack = path.mnt.mounts_at.get(path.dentry)
    return stack[-1] if stack else None


def follow_mount(path: Path) -> Path:
    """``follow_mount``: down through every mount stacked here."""
    while path.dentry.d_mounted:
        mounted = lookup_mnt(path)
        if mounted is None:
            break
        path = Path(mounted, mounted.mnt_root)
    return path


def attach_mnt(mnt: Mount, parent: Mount, mountpoint: Dentry) -> None:
    """``attach_mnt``: hang ``mnt`` on ``mountpoint`` of ``parent``."""
    mnt.mnt_parent = parent
    mnt.mnt_mountpoint = dget(mountpoint)
    mounted = mountpoint.d_mounted
    if not isinstance(mounted, list):  # the first mount here
        mounted = mountpoint.d_mounted = []
    mounted.append(mnt)
    parent.mounts_at.setdefault(mountpoint, []).append(mnt)


def detach_mnt(mnt: Mount) -> None:
    """``umount_mnt``: take ``mnt`` off its mountpoint."""
    parent, mountpoint = mnt.mnt_parent, mnt.mnt_mountpoint
    if parent is not None and mountpoint is not None:
        stack = parent.mounts_at[mountpoint]
        stack.remove(mnt)
        if not stack:
            del parent.mounts_at[mountpoint]
        mounted = mountpoint.d_mounted
        assert isinstance(mounted, list)  # it holds mnt
        mounted.remove(mnt)
        dput(mountpoint)
    mnt.mnt_parent = None
    mnt.mnt_mountpoint = None


def detach_mounts(dentry: Dentry) -> None:
    """``detach_mounts``: a removed name takes every mount on it, in every namespace,
    with it (lazily, as ``umount_tree``)."""
    while dentry.d_mounted:
        umount_tree(dentry.d_mounted[-1])


def subtree(mnt: Mount) -> list[Mount]:
    """``mnt`` and every mount below it, parents first."""
    out = [mnt]
    for m in out:
        out.extend(m.children())
    return out


def umount_tree(mnt: Mount) -> None:
    """``umount_tree``: detach ``mnt`` and everything below it from the namespace.

    Each detached mount lives on while something still holds a path in it (lazy
    unmount); the last ``mntput`` then releases its superblock."""
    for m in reversed(subtree(mnt)):
        detach_mnt(m)
        ns = m.mnt_ns
        if ns is not None:
            ns.mounts.remove(m)
            if ns.root is m:
                ns.root = None
        m.mnt_ns = None
        m.attached = False
        if m.mnt_count == 0:
            cleanup_mnt(m)


def new_mount(sb: SuperBlock, root: Dentry, mnt_flags: int, source: str, mnt_id: int) -> Mount:
    """``vfs_kern_mount`` after ``mount_fs``: a mount holding an active superblock ref."""
    return Mount(mnt_sb=sb, mnt_root=root, mnt_flags=mnt_flags, mnt_id=mnt_id, source=source)


def clone_mnt(old: Mount, root: Dentry, mnt_id: int) -> Mount:
    """``clone_mnt``: another mount of the same superblock (bind mounts, namespace
    copies), with the original's flags, locks included (``do_loopback`` unlocks the
    top of a bind)."""
    old.mnt_sb.s_active += 1
    return Mount(
        mnt_sb=old.mnt_sb,
        mnt_root=dget(root),
        mnt_flags=old.mnt_flags,
        mnt_id=mnt_id,
        source=old.source,
    )


def is_subdir(dentry: Dentry, ancestor: Dentry) -> bool:
    """``is_subdir`` (fs/dcache.c): ``dentry`` is ``ancestor`` or below it."""
    node = dentry
    while node is not ancestor:
        if node.d_parent is None or node.d_parent is node:
            return False
        node = node.d_parent
    return True


def copy_tree(
    old: Mount, root: Dentry, next_id: Callable[[], int]
) -> tuple[Mount, dict[Mount, Mount]]:
    """``copy_tree``: clone ``old`` (from ``root``) and the mounts below ``root``:
    of ``old``'s own submounts only those on ``root`` or under it (``is_subdir``),
    each with everything mounted below it."""
    copies: dict[Mount, Mount] = {}
    top = clone_mnt(old, root, next_id())
    copies[old] = top
    for original in subtree(old)[1:]:
        parent_copy = copies.get(original.mnt_parent) if original.mnt_parent else None
        if parent_copy is None or original.mnt_mountpoint is None:
            continue
        if original.mnt_parent is old and not is_subdir(original.mnt_mountpoint, root):
            continue
        clone = clone_mnt(original, original.mnt_root, next_id())
        attach_mnt(clone, parent_copy, original.mnt_mountpoint)
        copies[original] = clone
    return top, copies


def add_to_namespace(ns: MountNamespace, mnts: list[Mount]) -> None:
    for m in mnts:
        m.mnt_ns = ns
        ns.mounts.append(m)


# ---------------------------------------------------------------------------------------
# Superblock helpers for filesystems (fs/super.c)


def sget_new(
    fs_type: FileSystemType, kernel: KernelServices, flags: int, fs_info: object
) -> SuperBlock:
    """``sget`` when no existing superblock matches: a fresh one, active once."""
    sb = SuperBlock(
        s_type=fs_type,
        kernel=kernel,
        s_dev=kernel.alloc_anon_dev(),
        s_flags=flags & MS_RDONLY,
        s_fs_info=fs_info,
        s_active=1,
    )
    fs_type.fs_supers.append(sb)
    return sb


def mount_nodev(
    fs_type: FileSystemType,
    kernel: KernelServices,
    flags: int,
    data: MountContext,
    fill_super: FillSuper,
) -> Dentry:
    """``mount_nodev``: every mount gets a new superblock."""
    sb = sget_new(fs_type, kernel, flags, None)
    return _fill_or_kill(sb, data, fill_super)


def mount_ns(
    fs_type: FileSystemType,
    kernel: KernelServices,
    flags: int,
    ns_key: object,
    data: MountContext,
    fill_super: FillSuper,
) -> Dentry:
    """``mount_ns``: one superblock per key (a mount namespace); later mounts share it.

    The key is compared by identity, as ``ns_test_super`` compares ``s_fs_info`` with
    the namespace pointer; no reference is taken on it."""
    for sb in fs_type.fs_supers:
        if sb.s_fs_info is ns_key and sb.s_active > 0 and sb.s_root is not None:
            sb.s_active += 1  # grab_super; flags are not reconciled
            return dget(sb.s_root)
    sb = sget_new(fs_type, kernel, flags, ns_key)
    return _fill_or_kill(sb, data, fill_super)


def _fill_or_kill(sb: SuperBlock, data: MountContext, fill_super: FillSuper) -> Dentry:
    try:
        fill_super(sb, data)
    except BaseException:
        deactivate_super(sb)
        raise
    assert sb.s_root is not None
    return dget(sb.s_root)


def check_mnt(task_ns: MountNamespace, mnt: Mount) -> bool:
    """``check_mnt``: the mount belongs to the caller's namespace."""
    return mnt.mnt_ns is task_ns
