"""Mounts and mount namespaces (fs/namespace.c, fs/super.c, the state half of fs/pnode.c).

A :class:`Mount` puts a superblock's tree (from ``mnt_root``) at a dentry of a parent
mount.  A :class:`MountNamespace` is a tree of mounts that tasks share.  Mounts hold
superblocks active (``s_active``); when the last mount of a superblock goes, the
filesystem's ``kill_sb`` runs, which is where bpffs lets go of its pins.

Propagation state lives here as in ``struct mount``: a shared mount (``T_SHARED``) is
in a peer group (``mnt_share``, a ring every peer holds, and ``mnt_group_id`` from the
kernel's group IDA); a slave has an ``mnt_master`` and sits on its ``mnt_slave_list``;
``T_UNBINDABLE`` marks mounts bind mounts may not copy.  ``change_mnt_propagation``,
``clone_mnt``'s CL_* rules and ``copy_tree`` are here; walking the propagation graph
(``propagate_mnt``, ``propagate_umount``) is :mod:`pinfs.fs.pnode`.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from typing import NamedTuple, Protocol, cast

import attrs

from pinfs.base import uapi
from pinfs.base.cred import Cred, UserNamespace
from pinfs.base.display import repr_mimebundle
from pinfs.base.errors import kernel_error, refused
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

# mnt_t_flags (fs/mount.h, v6.17): the propagation type bits.
T_SHARED = 0x1
T_UNBINDABLE = 0x2

# copy_tree/clone_mnt flags (fs/pnode.h)
CL_EXPIRE = 0x01
CL_SLAVE = 0x02
CL_COPY_UNBINDABLE = 0x04
CL_MAKE_SHARED = 0x08
CL_PRIVATE = 0x10
CL_SHARED_TO_SLAVE = 0x20
CL_COPY_MNT_NS_FILE = 0x40
CL_UNPRIVILEGED = 0x80


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
    mnt_t_flags: int = 0  # T_SHARED, T_UNBINDABLE
    mnt_group_id: int = 0  # the peer group's id (0: not shared)
    mnt_share: list[Mount] = attrs.field(factory=list)  # the peer ring (empty: no peers)
    mnt_master: Mount | None = None  # the mount we receive propagation from (slaves)
    mnt_slave_list: list[Mount] = attrs.field(factory=list)  # our slaves

    def __repr__(self) -> str:
        return f"<mount {self.mnt_id} {self.mnt_sb.s_type.name} {self.source!r}>"

    def children(self) -> Iterator[Mount]:
        for stack in self.mounts_at.values():
            yield from stack

    @property
    def read_only(self) -> bool:
        return bool(self.mnt_flags & MNT_READONLY or self.mnt_sb.s_flags & MS_RDONLY)


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
    if mnt.mnt_flags & MNT_READONLY or mnt.mnt_sb.s_flags & MS_RDONLY:  # Mount.read_only
        return refused(errno.EROFS, "mnt_want_write", "the mount is read-only")
    return 0


# ---------------------------------------------------------------------------------------
# Propagation state (fs/pnode.c, fs/pnode.h)


class Ida:
    """``struct ida`` used as ``ida_alloc_min(ida, 1)``: the lowest free id, given back
    by ``ida_free`` (so a freed peer group id is the next one handed out)."""

    def __init__(self) -> None:
        self.used: set[int] = set()

    def alloc(self) -> int:
        candidate = 1
        while candidate in self.used:
            candidate += 1
        self.used.add(candidate)
        return candidate

    def free(self, ident: int) -> None:
        self.used.discard(ident)


class MountServices(KernelServices, Protocol):
    """What the mount tree needs of the kernel besides :class:`KernelServices`: the
    peer group id allocator (``mnt_group_ida``)."""

    @property
    def mnt_group_ida(self) -> Ida: ...


def _group_ida(mnt: Mount) -> Ida:
    return cast(MountServices, mnt.mnt_sb.kernel).mnt_group_ida


def is_mnt_shared(mnt: Mount) -> bool:
    """``IS_MNT_SHARED``."""
    return bool(mnt.mnt_t_flags & T_SHARED)


def is_mnt_slave(mnt: Mount) -> bool:
    """``IS_MNT_SLAVE``."""
    return mnt.mnt_master is not None


def is_mnt_unbindable(mnt: Mount) -> bool:
    """``IS_MNT_UNBINDABLE``."""
    return bool(mnt.mnt_t_flags & T_UNBINDABLE)


def peers(m1: Mount, m2: Mount) -> bool:
    """``peers``: the same, non-zero peer group id."""
    return m1.mnt_group_id != 0 and m1.mnt_group_id == m2.mnt_group_id


def peer_ring(mnt: Mount) -> list[Mount]:
    """The peer group in ring order starting at ``mnt`` (``next_peer`` until back)."""
    ring = mnt.mnt_share
    if not ring:
        return [mnt]
    at = ring.index(mnt)
    return ring[at:] + ring[:at]


def next_peer(mnt: Mount) -> Mount:
    """``next_peer``: the next mount in the ring (``mnt`` itself when alone)."""
    ring = peer_ring(mnt)
    return ring[1] if len(ring) > 1 else mnt


def share_add(new: Mount, old: Mount) -> None:
    """``list_add(&new->mnt_share, &old->mnt_share)``: join ``old``'s ring after it."""
    if not old.mnt_share:
        old.mnt_share = [old]
    ring = old.mnt_share
    ring.insert(ring.index(old) + 1, new)
    new.mnt_share = ring


def share_del(mnt: Mount) -> None:
    """``list_del_init(&mnt->mnt_share)``: leave the ring."""
    ring = mnt.mnt_share
    if ring:
        ring.remove(mnt)
        if len(ring) == 1:
            ring[0].mnt_share = []
    mnt.mnt_share = []


def slave_del(mnt: Mount) -> None:
    """``list_del_init(&mnt->mnt_slave)``: off our master's slave list."""
    master = mnt.mnt_master
    if master is not None and mnt in master.mnt_slave_list:
        master.mnt_slave_list.remove(mnt)


def set_mnt_shared(mnt: Mount) -> None:
    """``set_mnt_shared``: shared, and so no longer unbindable."""
    mnt.mnt_t_flags = (mnt.mnt_t_flags & ~T_UNBINDABLE) | T_SHARED


def mnt_alloc_group_id(mnt: Mount) -> None:
    """``mnt_alloc_group_id``."""
    mnt.mnt_group_id = _group_ida(mnt).alloc()


def mnt_release_group_id(mnt: Mount) -> None:
    """``mnt_release_group_id``: the id goes back to the IDA."""
    _group_ida(mnt).free(mnt.mnt_group_id)
    mnt.mnt_group_id = 0


def invent_group_ids(mnt: Mount, recurse: bool) -> None:
    """``invent_group_ids``: a group id for every mount (of the tree, with
    ``recurse``) that has none yet; ``set_mnt_shared`` follows once nothing can fail."""
    for m in subtree(mnt) if recurse else [mnt]:
        if not m.mnt_group_id and not is_mnt_shared(m):
            mnt_alloc_group_id(m)


def do_make_slave(mnt: Mount) -> None:
    """``do_make_slave``: leave the peer group and receive from it.  The new master is
    a peer with the same root if there is one, else any peer; the last peer of a group
    hands its slaves to its own master, or frees them when it has none."""
    master: Mount | None
    if not mnt.mnt_share:
        if is_mnt_shared(mnt):
            mnt_release_group_id(mnt)
            mnt.mnt_t_flags &= ~T_SHARED
        master = mnt.mnt_master
        if master is None:
            for slave in mnt.mnt_slave_list:
                slave.mnt_master = None
            mnt.mnt_slave_list = []
            return
    else:
        others = peer_ring(mnt)[1:]
        master = next((m for m in others if m.mnt_root is mnt.mnt_root), others[0])
        share_del(mnt)
        mnt.mnt_group_id = 0
        mnt.mnt_t_flags &= ~T_SHARED
    for slave in mnt.mnt_slave_list:
        slave.mnt_master = master
    slave_del(mnt)
    master.mnt_slave_list.append(mnt)
    master.mnt_slave_list.extend(mnt.mnt_slave_list)
    mnt.mnt_slave_list = []
    mnt.mnt_master = master


def change_mnt_propagation(mnt: Mount, type: int) -> None:
    """``change_mnt_propagation``: MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE."""
    if type == uapi.MS_SHARED:
        set_mnt_shared(mnt)
        return
    do_make_slave(mnt)
    if type != uapi.MS_SLAVE:
        slave_del(mnt)
        mnt.mnt_master = None
        if type == uapi.MS_UNBINDABLE:
            mnt.mnt_t_flags |= T_UNBINDABLE
        else:
            mnt.mnt_t_flags &= ~T_UNBINDABLE


def propagation_type(mnt: Mount) -> str:
    """A word for pictures: shared, slave, shared+slave, unbindable or private."""
    if is_mnt_shared(mnt):
        return "shared+slave" if is_mnt_slave(mnt) else "shared"
    if is_mnt_slave(mnt):
        return "slave"
    return "unbindable" if is_mnt_unbindable(mnt) else "private"


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
    umount_mounts(subtree(mnt))


def umount_mounts(mounts: list[Mount]) -> None:
    """The body of ``umount_tree`` over a gathered set (a tree, plus what
    ``propagate_umount`` added), children before parents: each leaves its namespace
    and its propagation (``change_mnt_propagation(p, MS_PRIVATE)``)."""
    for m in reversed(mounts):
        detach_mnt(m)
        change_mnt_propagation(m, uapi.MS_PRIVATE)
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


def clone_mnt(old: Mount, root: Dentry, mnt_id: int, flag: int = 0) -> Mount:
    """``clone_mnt``: another mount of the same superblock (bind mounts, namespace
    copies, propagated copies), with the original's flags, locks included
    (``do_loopback`` unlocks the top of a bind).  ``flag`` says how it joins the
    original's propagation: CL_SLAVE (a slave of ``old``), CL_SHARED_TO_SLAVE (a slave
    if ``old`` is shared), CL_PRIVATE (none), CL_MAKE_SHARED (a peer, shared); with no
    flag a peer of a shared ``old`` and a slave of ``old``'s master."""
    old.mnt_sb.s_active += 1
    mnt = Mount(
        mnt_sb=old.mnt_sb,
        mnt_root=dget(root),
        mnt_flags=old.mnt_flags,
        mnt_id=mnt_id,
        source=old.source,
        mnt_t_flags=old.mnt_t_flags & _cloned_t_flags(old),
    )
    if not flag & (CL_SLAVE | CL_PRIVATE | CL_SHARED_TO_SLAVE):
        mnt.mnt_group_id = old.mnt_group_id
    if flag & CL_MAKE_SHARED and not mnt.mnt_group_id:
        mnt_alloc_group_id(mnt)
    if flag & CL_SLAVE or (flag & CL_SHARED_TO_SLAVE and is_mnt_shared(old)):
        old.mnt_slave_list.append(mnt)
        mnt.mnt_master = old
        mnt.mnt_t_flags &= ~T_SHARED
    elif not flag & CL_PRIVATE:
        if flag & CL_MAKE_SHARED or is_mnt_shared(old):
            share_add(mnt, old)
        master = old.mnt_master
        if master is not None:
            master.mnt_slave_list.insert(master.mnt_slave_list.index(old) + 1, mnt)
        mnt.mnt_master = master
    else:
        mnt.mnt_t_flags &= ~T_SHARED
    if flag & CL_MAKE_SHARED:
        set_mnt_shared(mnt)
    return mnt


def _cloned_t_flags(old: Mount) -> int:
    """The propagation bits a clone starts with (``clone_keeps_unbindable``)."""
    if old.mnt_sb.kernel.profile.clone_keeps_unbindable:
        return T_SHARED | T_UNBINDABLE
    return T_SHARED


def is_subdir(dentry: Dentry, ancestor: Dentry) -> bool:
    """``is_subdir`` (fs/dcache.c): ``dentry`` is ``ancestor`` or below it."""
    node = dentry
    while node is not ancestor:
        if node.d_parent is None or node.d_parent is node:
            return False
        node = node.d_parent
    return True


def copy_tree(
    old: Mount, root: Dentry, next_id: Callable[[], int], flag: int = 0
) -> tuple[Mount, dict[Mount, Mount]]:
    """``copy_tree``: clone ``old`` (from ``root``) and the mounts below ``root``:
    of ``old``'s own submounts only those on ``root`` or under it (``is_subdir``),
    each with everything mounted below it, every clone made with ``flag``.  Without
    CL_COPY_UNBINDABLE an unbindable top is EINVAL and an unbindable submount is left
    out with its subtree (EPERM if it is also locked: it would uncover what it hides)."""
    copy_unbindable = bool(flag & CL_COPY_UNBINDABLE)
    if not copy_unbindable and is_mnt_unbindable(old):
        raise kernel_error(errno.EINVAL)
    wanted = _copied_submounts(old, root, copy_unbindable)
    copies: dict[Mount, Mount] = {}
    top = clone_mnt(old, root, next_id(), flag)
    copies[old] = top
    for original in wanted:
        assert original.mnt_parent is not None and original.mnt_mountpoint is not None
        clone = clone_mnt(original, original.mnt_root, next_id(), flag)
        attach_mnt(clone, copies[original.mnt_parent], original.mnt_mountpoint)
        copies[original] = clone
    return top, copies


def _copied_submounts(old: Mount, root: Dentry, copy_unbindable: bool) -> list[Mount]:
    """The submounts ``copy_tree`` clones, parents first; it raises before cloning
    anything, where Linux clones and then takes the partial copy down again."""
    kept: set[Mount] = {old}
    out: list[Mount] = []
    for m in subtree(old)[1:]:
        if m.mnt_parent not in kept or m.mnt_mountpoint is None:
            continue
        if m.mnt_parent is old and not is_subdir(m.mnt_mountpoint, root):
            continue
        if not copy_unbindable and is_mnt_unbindable(m):
            if m.mnt_flags & MNT_LOCKED:
                raise kernel_error(errno.EPERM)
            continue
        kept.add(m)
        out.append(m)
    return out


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
