"""The mount syscalls' bodies (fs/namespace.c, fs/open.c): mount(2) with its
propagation changes (MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE) and MS_MOVE,
umount2(2), pivot_root(2), chroot(2) and the mount namespace copy of unshare(2).

:mod:`pinfs.mountns` holds the mount tree and its primitives (attach, clone, copy,
umount a tree); this module is the part that needs a path walk and the caller's
credentials: ``path_mount`` and its ``do_*`` branches, ``path_umount``/``do_umount``,
and ``copy_mnt_ns``.  ``current`` is the calling task (its ``cred``, ``fs``,
``mnt_ns`` and ``kernel``), as ``current`` is in the kernel.
"""

from __future__ import annotations

import errno
from typing import Any

from pinfs.base import cred as credmod
from pinfs.base import uapi
from pinfs.base.errors import KernelError, kernel_error, refuse
from pinfs.fs.namei import getname, path_lookupat
from pinfs.fs.permission import inode_permission
from pinfs.fs.pnode import (
    is_path_reachable,
    lookup_child,
    propagate_mnt,
    propagate_mount_busy,
    propagate_umount,
    tree_contains_unbindable,
)
from pinfs.mountns import (
    CL_COPY_UNBINDABLE,
    CL_EXPIRE,
    CL_SHARED_TO_SLAVE,
    CL_UNPRIVILEGED,
    MNT_ATIME_MASK,
    MNT_DETACH,
    MNT_EXPIRE,
    MNT_FORCE,
    MNT_LOCK_ATIME,
    MNT_LOCK_NODEV,
    MNT_LOCK_NOEXEC,
    MNT_LOCK_NOSUID,
    MNT_LOCK_READONLY,
    MNT_LOCKED,
    MNT_NOATIME,
    MNT_NODEV,
    MNT_NODIRATIME,
    MNT_NOEXEC,
    MNT_NOSUID,
    MNT_READONLY,
    MNT_RELATIME,
    UMOUNT_NOFOLLOW,
    Mount,
    MountContext,
    MountNamespace,
    Path,
    add_to_namespace,
    attach_mnt,
    change_mnt_propagation,
    check_mnt,
    cleanup_mnt,
    clone_mnt,
    copy_tree,
    detach_mnt,
    follow_mount,
    invent_group_ids,
    is_mnt_shared,
    is_mnt_unbindable,
    is_subdir,
    new_mount,
    path_get,
    path_put,
    set_mnt_shared,
    subtree,
    umount_mounts,
    umount_tree,
)
from pinfs.vfs import (
    FS_USERNS_MOUNT,
    MAY_EXEC,
    MS_BIND,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_STRICTATIME,
    Dentry,
)

#: The propagation types mount(2) dispatches to do_change_type.
MS_PROPAGATION = uapi.MS_SHARED | uapi.MS_SLAVE | uapi.MS_UNBINDABLE | uapi.MS_PRIVATE

# The per-mount flags a remount may change (MNT_USER_SETTABLE_MASK).
MNT_USER_SETTABLE = (
    MNT_NOSUID | MNT_NODEV | MNT_NOEXEC | MNT_NOATIME | MNT_NODIRATIME | MNT_RELATIME | MNT_READONLY
)
# The MS_* bits path_mount turns into mnt_flags and then drops from the sb flags
# (MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_NOATIME, MS_NODIRATIME, MS_RELATIME,
# MS_STRICTATIME and MS_RDONLY, which the superblock keeps).
_MS_KNOWN_DROPPED = (
    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME
    | MS_STRICTATIME
)  # fmt: skip


def may_mount(current: Any) -> bool:
    """``may_mount``: CAP_SYS_ADMIN over the caller's mount namespace."""
    return credmod.ns_capable(current.cred, current.mnt_ns.user_ns, credmod.CAP_SYS_ADMIN)


def _capable_init(current: Any) -> bool:
    """CAP_SYS_ADMIN in the initial user namespace (``capable``)."""
    return credmod.capable(current.cred, current.kernel.init_user_ns, credmod.CAP_SYS_ADMIN)


# ---------------------------------------------------------------------------------------
# mount(2)


def do_mount(
    current: Any,
    dev_name: str | None,
    dir_name: str,
    type_name: str | None,
    flags: int,
    options: str | None,
) -> None:
    """``do_mount``: resolve the target, then ``path_mount``."""
    getname(dir_name)
    path = path_lookupat(current, dir_name, follow=True)
    path_mount(current, dev_name, path, dir_name, type_name, flags, options)


def mount_flags(flags: int) -> int:
    """The mnt_flags ``path_mount`` derives from the MS_* flags (relatime by default)."""
    mnt_flags = 0 if flags & MS_NOATIME else MNT_RELATIME
    for ms, mnt in (
        (MS_NOSUID, MNT_NOSUID),
        (MS_NODEV, MNT_NODEV),
        (MS_NOEXEC, MNT_NOEXEC),
        (MS_NOATIME, MNT_NOATIME),
        (MS_NODIRATIME, MNT_NODIRATIME),
        (MS_RDONLY, MNT_READONLY),
    ):
        if flags & ms:
            mnt_flags |= mnt
    if flags & MS_STRICTATIME:
        mnt_flags &= ~(MNT_RELATIME | MNT_NOATIME)
    return mnt_flags


def path_mount(
    current: Any,
    dev_name: str | None,
    path: Path,
    dir_name: str,
    type_name: str | None,
    flags: int,
    options: str | None,
) -> None:
    """``path_mount``: may_mount, the flag translation, then one of the ``do_*``."""
    if not may_mount(current):
        raise _no_may_mount(current, dir_name)
    mnt_flags = mount_flags(flags)
    ms_flags = flags  # do_change_type sees them all (measured on 6.18)
    flags &= ~_MS_KNOWN_DROPPED | MS_RDONLY
    if flags & MS_REMOUNT:
        do_remount(current, path, flags, mnt_flags, options)
    elif flags & MS_BIND:
        do_loopback(current, path, dev_name, bool(flags & MS_REC))
    elif flags & MS_PROPAGATION:
        do_change_type(current, path, ms_flags, dir_name)
    elif flags & uapi.MS_MOVE:
        do_move_mount_old(current, path, dev_name)
    else:
        do_new_mount(current, path, type_name, flags, mnt_flags, dev_name, options)


def flags_to_propagation_type(ms_flags: int) -> int:
    """``flags_to_propagation_type``: exactly one propagation flag and nothing else
    (MS_REC and MS_SILENT aside), else 0."""
    type = ms_flags & ~(MS_REC | uapi.MS_SILENT)
    if type & ~MS_PROPAGATION or type & (type - 1):
        return 0
    return type


def do_change_type(current: Any, path: Path, ms_flags: int, dir_name: str) -> None:
    """``do_change_type``: on a mount's root, one type, a mount of our namespace
    (v6.16's check_mnt); shared needs group ids first (``invent_group_ids``), then
    ``change_mnt_propagation`` on the mount or, with MS_REC, its whole tree."""
    mnt = path.mnt
    if path.dentry is not mnt.mnt_root:
        raise refuse(EINVAL, "do_change_type", "not the root of a mount", path=dir_name)
    type = flags_to_propagation_type(ms_flags)
    if not type:
        raise kernel_error(errno.EINVAL, dir_name)
    if not check_mnt(current.mnt_ns, mnt):
        raise kernel_error(errno.EINVAL, dir_name)
    recurse = bool(ms_flags & MS_REC)
    if type == uapi.MS_SHARED:
        invent_group_ids(mnt, recurse)
    for m in subtree(mnt) if recurse else [mnt]:
        change_mnt_propagation(m, type)


def do_new_mount(
    current: Any,
    path: Path,
    type_name: str | None,
    flags: int,
    mnt_flags: int,
    dev_name: str | None,
    options: str | None,
) -> None:
    """``do_new_mount`` + ``do_add_mount``."""
    kernel = current.kernel
    if type_name is None:
        raise refuse(EINVAL, "do_new_mount", "no filesystem type given")
    fs_type = kernel.filesystems.get(type_name)
    if fs_type is None:
        raise refuse(ENODEV, "get_fs_type", "no filesystem {fs!r}", fs=type_name)
    if current.mnt_ns.user_ns is not kernel.init_user_ns:
        if not fs_type.fs_flags & FS_USERNS_MOUNT:
            raise refuse(EPERM, "do_new_mount", _NOT_USERNS_MOUNT, fs=type_name)
        if kernel.profile.userns_mount_nodev:
            flags |= MS_NODEV
            mnt_flags |= MNT_NODEV | MNT_LOCK_NODEV
    ctx = MountContext(options=options, cred=current.cred, mnt_ns=current.mnt_ns)
    root = fs_type.mount(fs_type, kernel, flags, dev_name or "none", ctx)
    mnt = new_mount(root.d_sb, root, mnt_flags, dev_name or "none", kernel.next_mnt_id())
    mnt.attached = False
    try:
        lock_mount(current, path)
        graft_tree(current, mnt, path, check_busy=True)
    except BaseException:
        cleanup_mnt(mnt)
        raise


def lock_mount(current: Any, path: Path) -> None:
    """``lock_mount``, before any other check on the mountpoint: ENOENT for a
    removed name (``cant_mount``) and, since 0d039eac6e59, for a name on a mount that
    is in no namespace (lazily unmounted: ``!is_mounted``; EINVAL from
    ``check_mnt`` before)."""
    if not path.dentry.hashed and not path.dentry.is_root:
        raise refuse(ENOENT, "lock_mount", "the mountpoint was removed")
    if current.kernel.profile.lock_mount_needs_mounted and path.mnt.mnt_ns is None:
        raise refuse(ENOENT, "lock_mount", "the mountpoint's mount is in no namespace")


def graft_tree(current: Any, mnt: Mount, path: Path, check_busy: bool) -> None:
    """``do_add_mount``/``graft_tree`` after ``lock_mount``: not our namespace
    EINVAL, the same fs on the same root EBUSY, a directory on a file ENOTDIR; then
    ``attach_recursive_mnt``."""
    parent = path.mnt
    if not check_mnt(current.mnt_ns, parent):
        raise refuse(EINVAL, "check_mnt", "the mountpoint is not in our mount namespace")
    if check_busy and parent.mnt_sb is mnt.mnt_sb and path.dentry is parent.mnt_root:
        raise refuse(EBUSY, "do_add_mount", _SAME_FS_SAME_ROOT, fs=mnt.mnt_sb.s_type.name)
    mp_inode, root_inode = path.dentry.d_inode, mnt.mnt_root.d_inode
    assert mp_inode is not None and root_inode is not None
    if mp_inode.is_dir != root_inode.is_dir:
        raise refuse(ENOTDIR, "graft_tree", "a directory on a file or a file on a directory")
    attach_recursive_mnt(current, mnt, parent, path.dentry, moving=False)


def attach_recursive_mnt(
    current: Any, source_mnt: Mount, dest_mnt: Mount, dest_mp: Dentry, moving: bool
) -> None:
    """``attach_recursive_mnt``: on a shared destination the source tree becomes
    shared (``invent_group_ids``) and every mount receiving from ``dest_mnt`` gets a
    copy (``propagate_mnt``); a copy landing where something is already mounted goes
    under it (the old mount is moved onto the copy's top: ``mnt_change_mountpoint``);
    a copy landing in a less privileged user namespace is locked (``lock_mnt_tree``).
    Nothing here can fail once the copies are made."""
    copies: list[tuple[Mount, Mount]] = []
    if is_mnt_shared(dest_mnt):
        invent_group_ids(source_mnt, True)
        copies = propagate_mnt(dest_mnt, dest_mp, source_mnt, current.kernel.next_mnt_id)
        for p in subtree(source_mnt):
            set_mnt_shared(p)
    if moving:
        detach_mnt(source_mnt)
        attach_mnt(source_mnt, dest_mnt, dest_mp)
    else:
        _commit_tree(source_mnt, dest_mnt, dest_mp, current.mnt_ns)
    user_ns = current.mnt_ns.user_ns
    for receiver, copy in copies:
        assert receiver.mnt_ns is not None  # need_secondary: receivers are attached
        if receiver.mnt_ns.user_ns is not user_ns:
            lock_mnt_tree(copy)
            copy.mnt_flags |= MNT_LOCKED  # what it covers stays covered
        below = lookup_child(receiver, dest_mp)
        _commit_tree(copy, receiver, dest_mp, receiver.mnt_ns)
        if below is not None:
            top = follow_mount(Path(copy, copy.mnt_root))
            detach_mnt(below)
            attach_mnt(below, top.mnt, top.dentry)


def _commit_tree(mnt: Mount, parent: Mount, mountpoint: Dentry, ns: MountNamespace) -> None:
    """``mnt_set_mountpoint`` + ``commit_tree``: hang the tree and put its mounts in
    the namespace of the mount they hang on."""
    mnts = subtree(mnt)
    for m in mnts:
        m.attached = True
    attach_mnt(mnt, parent, mountpoint)
    add_to_namespace(ns, mnts)


def do_loopback(current: Any, path: Path, old_name: str | None, recurse: bool) -> None:
    """``do_loopback``: a bind mount of ``old_name`` (with MS_REC, its submounts but
    the unbindable ones).  ``__do_loopback``: EINVAL for an unbindable source, one of
    another namespace, or locked mounts a non-recursive bind would uncover.  If
    ``graft_tree`` refuses it, the copy is umounted again (``umount_tree``)."""
    if not old_name:
        raise refuse(EINVAL, "do_loopback", "no source path for MS_BIND")
    old_path = path_lookupat(current, old_name, follow=True)
    lock_mount(current, path)
    if not check_mnt(current.mnt_ns, path.mnt):
        raise refuse(EINVAL, "check_mnt", "the target is not in our mount namespace")
    if is_mnt_unbindable(old_path.mnt):
        raise refuse(EINVAL, "__do_loopback", "the source mount is unbindable")
    if not check_mnt(current.mnt_ns, old_path.mnt):
        raise refuse(EINVAL, "__do_loopback", "the source is not in our mount namespace")
    if not recurse and has_locked_children(old_path.mnt, old_path.dentry):
        raise refuse(EINVAL, "do_loopback", _LOCKED_CHILDREN)
    next_id = current.kernel.next_mnt_id
    if recurse:
        mnt, _ = copy_tree(old_path.mnt, old_path.dentry, next_id)
    else:
        mnt = clone_mnt(old_path.mnt, old_path.dentry, next_id())
    mnt.mnt_flags &= ~MNT_LOCKED  # the new top is ours; locked copies below stay locked
    for m in subtree(mnt):
        m.attached = False
    try:
        graft_tree(current, mnt, path, check_busy=False)
    except BaseException:
        # The copy's submounts hang on the source's mountpoints: take the whole
        # copy down (umount_tree), not only each mount's references.
        umount_tree(mnt)
        raise


def do_move_mount_old(current: Any, path: Path, old_name: str | None) -> None:
    """``do_move_mount_old``: mount(old, new, NULL, MS_MOVE, NULL)."""
    if not old_name:
        raise kernel_error(errno.EINVAL)
    old_path = path_lookupat(current, old_name, follow=True)
    do_move_mount(current, old_path, path)


def do_move_mount(current: Any, old_path: Path, new_path: Path) -> None:
    """``do_move_mount``: after ``lock_mount`` on the target, EINVAL unless the
    target is ours, the mount is attached in our namespace (anonymous trees of
    open_tree/fsmount are not modelled), not locked, named at its root, the same
    kind (directory or not) as the target, not hanging on a shared parent, and no
    unbindable mount goes to a shared target; ELOOP for a move under itself."""
    lock_mount(current, new_path)
    old, p = old_path.mnt, new_path.mnt
    parent = old.mnt_parent
    attached = parent is not None
    if not check_mnt(current.mnt_ns, p):
        raise kernel_error(errno.EINVAL)
    if old.mnt_ns is None or not attached or not check_mnt(current.mnt_ns, old):
        raise kernel_error(errno.EINVAL)
    if old.mnt_flags & MNT_LOCKED:
        raise kernel_error(errno.EINVAL)
    if old_path.dentry is not old.mnt_root:
        raise kernel_error(errno.EINVAL)
    new_inode, old_inode = new_path.dentry.d_inode, old_path.dentry.d_inode
    assert new_inode is not None and old_inode is not None
    if new_inode.is_dir != old_inode.is_dir:
        raise kernel_error(errno.EINVAL)
    if parent is not None and is_mnt_shared(parent):
        raise kernel_error(errno.EINVAL)
    if is_mnt_shared(p) and tree_contains_unbindable(old):
        raise kernel_error(errno.EINVAL)
    ancestor: Mount | None = p
    while ancestor is not None and ancestor.mnt_parent is not None:
        if ancestor is old:
            raise kernel_error(errno.ELOOP)
        ancestor = ancestor.mnt_parent
    attach_recursive_mnt(current, old, p, new_path.dentry, moving=True)
    old.expiry_mark = False


def has_locked_children(mnt: Mount, dentry: Dentry) -> bool:
    """``has_locked_children``: a locked mount on ``dentry`` or below it, which a
    non-recursive bind would uncover."""
    return any(
        child.mnt_flags & MNT_LOCKED
        and child.mnt_mountpoint is not None
        and is_subdir(child.mnt_mountpoint, dentry)
        for child in mnt.children()
    )


# A locked flag and the MNT_* bit a remount must keep (can_change_locked_flags).
_LOCKED_FLAGS = (
    (MNT_LOCK_READONLY, MNT_READONLY),
    (MNT_LOCK_NODEV, MNT_NODEV),
    (MNT_LOCK_NOSUID, MNT_NOSUID),
    (MNT_LOCK_NOEXEC, MNT_NOEXEC),
)


def can_change_locked_flags(mnt: Mount, mnt_flags: int) -> bool:
    """``can_change_locked_flags``: a remount keeps every flag a less privileged
    namespace inherited locked, and its atime flags."""
    locks = mnt.mnt_flags
    for lock, flag in _LOCKED_FLAGS:
        if locks & lock and not mnt_flags & flag:
            return False
    atime_changes = (locks ^ mnt_flags) & MNT_ATIME_MASK
    return not (locks & MNT_LOCK_ATIME and atime_changes)


def do_remount(current: Any, path: Path, flags: int, mnt_flags: int, options: str | None) -> None:
    """``do_remount``: per-mount flags (MS_BIND) or the superblock's; locked flags
    stay (EPERM) before anything else is looked at."""
    mnt = path.mnt
    if not check_mnt(current.mnt_ns, mnt) or path.dentry is not mnt.mnt_root:
        raise refuse(EINVAL, "do_remount", "not the root of a mount in our namespace")
    if not can_change_locked_flags(mnt, mnt_flags):
        raise refuse(EPERM, "can_change_locked_flags", _LOCKED_FLAG_CHANGE)
    sb = mnt.mnt_sb
    if flags & MS_BIND:
        if mnt_flags & MNT_READONLY and not mnt.mnt_flags & MNT_READONLY and mnt.mnt_writers:
            raise refuse(EBUSY, "change_mount_ro_state", _WRITERS, n=mnt.mnt_writers)
    elif not _capable_init(current):
        raise _no_cap_sys_admin(current, "do_remount", None)
    else:
        if flags & MS_RDONLY and not sb.read_only:
            if any(m.mnt_writers for m in current.kernel.mounts_of(sb)):
                raise refuse(EBUSY, "sb_prepare_remount_readonly", "files are open for writing")
        sb.s_flags = (sb.s_flags & ~MS_RDONLY) | (flags & MS_RDONLY)
    mnt.mnt_flags = mnt_flags | (mnt.mnt_flags & ~MNT_USER_SETTABLE)


# ---------------------------------------------------------------------------------------
# umount2(2)


def ksys_umount(current: Any, name: str, flags: int) -> None:
    """``ksys_umount``: the flag check, the lookup, then ``path_umount``.  Until v5.9
    ``may_mount`` came before the lookup (a missing path was EPERM, not ENOENT)."""
    if flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW):
        raise refuse(EINVAL, "ksys_umount", "unknown flags {flags:#x}", flags=flags)
    if not current.kernel.profile.umount_lookup_first and not may_mount(current):
        raise _no_may_mount(current, None)
    path = path_lookupat(current, getname(name), follow=not flags & UMOUNT_NOFOLLOW)
    # user_path_mountpoint_at: the last step goes down every mount stacked there, even
    # for "." (runc's pivot_root(".", ".") then umount2(".") takes the old root on top)
    path = follow_mount(path)
    path_umount(current, path, flags, name)


def path_umount(current: Any, path: Path, flags: int, name: str) -> None:
    """``path_umount`` / ``can_umount``: may_mount, a mount root in our namespace,
    not locked; MNT_FORCE needs CAP_SYS_ADMIN."""
    if not may_mount(current):
        raise _no_may_mount(current, None)
    mnt = path.mnt
    if path.dentry is not mnt.mnt_root or not check_mnt(current.mnt_ns, mnt):
        raise refuse(EINVAL, "can_umount", "not the root of a mount in our namespace", path=name)
    if mnt.mnt_flags & MNT_LOCKED:
        raise refuse(EINVAL, "can_umount", "the mount is locked (MNT_LOCKED)", path=name)
    if flags & MNT_FORCE and not _capable_init(current):
        raise _no_cap_sys_admin(current, "can_umount", name)
    do_umount(current, mnt, flags, name)


def do_umount(current: Any, mnt: Mount, flags: int, name: str) -> None:
    """``do_umount``: EBUSY while in use (files, cwds, submounts) unless MNT_DETACH."""
    root_mnt = current.fs.root.mnt
    if flags & MNT_EXPIRE:
        if mnt is root_mnt or flags & (MNT_FORCE | MNT_DETACH):
            raise refuse(EINVAL, "do_umount", _EXPIRE_FLAGS, path=name)
        if mnt.mnt_count or any(True for _ in mnt.children()):
            raise refuse(EBUSY, "do_umount", "MNT_EXPIRE of a mount in use", path=name)
        if not mnt.expiry_mark:
            mnt.expiry_mark = True
            raise refuse(EAGAIN, "do_umount", _EXPIRE_MARKED, path=name)
    if mnt is root_mnt and not flags & MNT_DETACH:
        # "Unmounting" our own root remounts it read-only.
        if not _capable_init(current):
            raise _no_cap_sys_admin(current, "do_umount", name)
        sb = mnt.mnt_sb
        if not sb.read_only:
            if any(m.mnt_writers for m in current.kernel.mounts_of(sb)):
                raise refuse(EBUSY, "do_umount", "files are open for writing", path=name)
            sb.s_flags |= MS_RDONLY
        return
    if not flags & MNT_DETACH:
        # Linux counts the parent's and our own reference (2); pinfs counts path refs.
        root = mnt.mnt_parent is None
        busy = mnt.mnt_count > 0 if root else propagate_mount_busy(mnt, 0)
        if busy:
            raise refuse(EBUSY, "do_umount", _BUSY, path=name, count=mnt.mnt_count)
    mounts = subtree(mnt)
    umount_mounts(mounts + propagate_umount(mounts))  # UMOUNT_PROPAGATE


# ---------------------------------------------------------------------------------------
# chroot(2) and pivot_root(2)


def _lookup_dir(current: Any, name: str) -> Path:
    """``user_path_at(..., LOOKUP_FOLLOW | LOOKUP_DIRECTORY)``: ENOTDIR for a
    non-directory."""
    path = path_lookupat(current, getname(name), follow=True)
    inode = path.dentry.d_inode
    assert inode is not None
    if not inode.is_dir:
        raise kernel_error(errno.ENOTDIR, name)
    return path


def ksys_chroot(current: Any, name: str) -> None:
    """``SYSCALL_DEFINE1(chroot)`` (fs/open.c): the lookup (ENOENT, ENOTDIR), search
    permission (``MAY_EXEC | MAY_CHDIR``: EACCES), then CAP_SYS_CHROOT in our user
    namespace (EPERM), then ``set_fs_root``.  The cwd stays where it was."""
    path = _lookup_dir(current, name)
    inode = path.dentry.d_inode
    assert inode is not None
    err = inode_permission(current.cred, inode, MAY_EXEC)
    if err:
        raise kernel_error(err, name)
    if not credmod.ns_capable(current.cred, current.cred.user_ns, credmod.CAP_SYS_CHROOT):
        raise kernel_error(errno.EPERM, name)
    fs = current.fs
    old = fs.root
    fs.root = path_get(path)
    path_put(old)


def ksys_fchdir(current: Any, file: Any) -> None:
    """``SYSCALL_DEFINE1(fchdir)`` (fs/open.c) after ``fdget``: ENOTDIR, search
    permission (EACCES), then ``set_fs_pwd`` to the file's path (which may be a mount
    now hidden under another: runc's way back to the old root after pivot_root)."""
    path: Path = file.f_path
    inode = path.dentry.d_inode
    assert inode is not None
    if not inode.is_dir:
        raise kernel_error(errno.ENOTDIR)
    err = inode_permission(current.cred, inode, MAY_EXEC)
    if err:
        raise kernel_error(err)
    fs = current.fs
    old = fs.pwd
    fs.pwd = path_get(path)
    path_put(old)


def path_mounted(path: Path) -> bool:
    """``path_mounted``: the path is the root of its mount."""
    return path.dentry is path.mnt.mnt_root


def _shared_parent(mnt: Mount) -> bool:
    """``IS_MNT_SHARED(mnt->mnt_parent)``; a mount without one is its own parent."""
    return is_mnt_shared(mnt.mnt_parent if mnt.mnt_parent is not None else mnt)


def do_pivot_root(current: Any, new_root: str, put_old: str) -> None:
    """``SYSCALL_DEFINE2(pivot_root)``/``path_pivot_root``: may_mount (EPERM); both
    lookups (ENOENT, ENOTDIR); ``lock_mount`` on put_old; then EINVAL if put_old,
    new_root's parent or the root's parent is shared, if the root or new_root is not
    ours, or new_root is locked; ENOENT for an unlinked new_root; EBUSY if new_root or
    put_old is on the root mount; EINVAL if the root or new_root is not a mount root
    or is not attached, put_old is not under new_root, or new_root not under the root.

    Then the old root mount hangs on put_old, new_root where the old root was, and
    every task whose root or cwd was the old root moves to new_root
    (``chroot_fs_refs``)."""
    if not may_mount(current):
        raise kernel_error(errno.EPERM)
    new = _lookup_dir(current, new_root)
    old = _lookup_dir(current, put_old)
    root = current.fs.root
    lock_mount(current, old)
    new_mnt, root_mnt, old_mnt = new.mnt, root.mnt, old.mnt
    if is_mnt_shared(old_mnt) or _shared_parent(new_mnt) or _shared_parent(root_mnt):
        raise kernel_error(errno.EINVAL)
    if not check_mnt(current.mnt_ns, root_mnt) or not check_mnt(current.mnt_ns, new_mnt):
        raise kernel_error(errno.EINVAL)
    if new_mnt.mnt_flags & MNT_LOCKED:
        raise kernel_error(errno.EINVAL)
    if not new.dentry.hashed and not new.dentry.is_root:
        raise kernel_error(errno.ENOENT)
    if new_mnt is root_mnt or old_mnt is root_mnt:
        raise kernel_error(errno.EBUSY)  # a loop, on the same file system
    if not path_mounted(root) or root_mnt.mnt_parent is None:
        raise kernel_error(errno.EINVAL)  # the root is not a mount point, or not attached
    if not path_mounted(new) or new_mnt.mnt_parent is None:
        raise kernel_error(errno.EINVAL)
    if not is_path_reachable(old_mnt, old.dentry, new):
        raise kernel_error(errno.EINVAL)  # put_old must be under new_root
    if not is_path_reachable(new_mnt, new.dentry, root):
        raise kernel_error(errno.EINVAL)  # new_root must be under the root
    root_parent, root_mp = root_mnt.mnt_parent, root_mnt.mnt_mountpoint
    assert root_mp is not None
    detach_mnt(new_mnt)
    if root_mnt.mnt_flags & MNT_LOCKED:
        new_mnt.mnt_flags |= MNT_LOCKED
        root_mnt.mnt_flags &= ~MNT_LOCKED
    detach_mnt(root_mnt)
    attach_mnt(root_mnt, old_mnt, old.dentry)
    attach_mnt(new_mnt, root_parent, root_mp)
    chroot_fs_refs(current, root, Path(new_mnt, new_mnt.mnt_root))


def chroot_fs_refs(current: Any, old_root: Path, new_root: Path) -> None:
    """``chroot_fs_refs``: every task's root and cwd that were exactly the old root
    move to the new one."""
    old_root = Path(old_root.mnt, old_root.dentry)
    for task in current.kernel.tasks.values():
        fs = task.fs
        for attr in ("root", "pwd"):
            path: Path = getattr(fs, attr)
            if path.mnt is old_root.mnt and path.dentry is old_root.dentry:
                setattr(fs, attr, path_get(new_root))
                path_put(path)


# ---------------------------------------------------------------------------------------
# unshare(CLONE_NEWNS)


def current_chrooted(current: Any) -> bool:
    """``current_chrooted``: our root is not the root of our mount namespace, taken
    down through the mounts stacked on it.  True once the namespace's root was
    unmounted from under us, or after a mount over "/"."""
    ns_root = current.mnt_ns.root
    if ns_root is None:
        return True
    top = follow_mount(Path(ns_root, ns_root.mnt_root))
    root = current.fs.root
    return root.mnt is not top.mnt or root.dentry is not top.dentry


def lock_mnt_tree(top: Mount) -> None:
    """``lock_mnt_tree`` (``clone_mnt`` with CL_UNPRIVILEGED before v5.x): a copy for
    a less privileged user namespace may not change the flags it inherited, and
    none below the root may be unmounted to reveal what it covers."""
    for mnt in subtree(top):
        flags = mnt.mnt_flags | MNT_LOCK_ATIME
        for lock, flag in _LOCKED_FLAGS:
            if flags & flag:
                flags |= lock
        if mnt is not top:
            flags |= MNT_LOCKED
        mnt.mnt_flags = flags


def copy_mnt_ns(current: Any, user_ns: credmod.UserNamespace) -> MountNamespace:
    """``copy_mnt_ns``: a new namespace with a copy of every mount of ours, unbindable
    ones included; each copy is a peer of a shared original and a slave of a slave's
    master (for another user ns: shared originals become masters, CL_SHARED_TO_SLAVE,
    and the copies are locked); our root and cwd move to the copies (``unshare``
    switches to the namespace and drops the old one).

    Nothing here can fail.  A namespace whose root was lazily unmounted copies to an
    empty one: Linux copies the hidden rootfs below it, which no path of ours reaches,
    and our root and cwd stay on the detached mounts."""
    kernel = current.kernel
    old = current.mnt_ns
    new: MountNamespace = kernel.new_mnt_ns(user_ns)
    new.count += 1
    if old.root is None:
        return new
    copy_flags = CL_COPY_UNBINDABLE | CL_EXPIRE
    if user_ns is not old.user_ns:
        copy_flags |= CL_SHARED_TO_SLAVE | CL_UNPRIVILEGED
    top, copies = copy_tree(old.root, old.root.mnt_root, kernel.next_mnt_id, copy_flags)
    if user_ns is not old.user_ns:
        lock_mnt_tree(top)
    new.root = top
    add_to_namespace(new, subtree(top))
    fs = current.fs
    for attr in ("root", "pwd"):
        path: Path = getattr(fs, attr)
        mnt = copies.get(path.mnt, path.mnt)
        setattr(fs, attr, path_get(Path(mnt, path.dentry)))
        path_put(path)
    return new


# ---------------------------------------------------------------------------------------
# Why mount(2) and umount2(2) refused (issue 16): the checks in words

EAGAIN, EBUSY, EINVAL, ENODEV, ENOENT, ENOTDIR, EPERM = (
    errno.EAGAIN, errno.EBUSY, errno.EINVAL, errno.ENODEV, errno.ENOENT, errno.ENOTDIR, errno.EPERM,
)  # fmt: skip
_NOT_USERNS_MOUNT = "{fs!r} is not mountable in a user namespace (no FS_USERNS_MOUNT)"
_SAME_FS_SAME_ROOT = "the same {fs} superblock is already mounted on this mount's root"
_LOCKED_CHILDREN = "a non-recursive bind would uncover locked mounts below the source"
_LOCKED_FLAG_CHANGE = "a remount may not clear flags locked by a less privileged namespace"
_WRITERS = "{n} files are open for writing on the mount"
_EXPIRE_FLAGS = "MNT_EXPIRE of our root, or with MNT_FORCE or MNT_DETACH"
_EXPIRE_MARKED = "MNT_EXPIRE marked the mount; a second call unmounts it if still unused"
_BUSY = "the mount is in use ({count} references: open files, cwds) or has submounts"


def _no_may_mount(current: Any, path: str | None) -> KernelError:
    """``may_mount``'s EPERM: no CAP_SYS_ADMIN over the mount namespace's owner."""
    check = "uid {uid} has no CAP_SYS_ADMIN in the user namespace owning the mount namespace"
    return refuse(errno.EPERM, "may_mount", check, path=path, uid=current.cred.euid)


def _no_cap_sys_admin(current: Any, function: str, path: str | None) -> KernelError:
    """EPERM from ``capable(CAP_SYS_ADMIN)`` in the initial user namespace."""
    check = "uid {uid} has no CAP_SYS_ADMIN in the initial user namespace"
    return refuse(errno.EPERM, function, check, path=path, uid=current.cred.euid)
