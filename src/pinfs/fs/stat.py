"""The bodies of the fs/stat.c syscalls: stat, lstat, newfstatat, statx and readlinkat.

``fstat`` needs only :func:`~pinfs.fs.attr.generic_fillattr` of the open file's inode
and stays with the task (as does the AT_EMPTY_PATH short cut to it).
"""

from __future__ import annotations

import errno

import attrs

from pinfs.base import uapi
from pinfs.base.errors import KernelError, naming, refuse
from pinfs.fs.attr import Kstat, generic_fillattr
from pinfs.fs.namei import AT_FDCWD, Current, path_lookupat, touch_atime, vfs_readlink
from pinfs.mountns import Path
from pinfs.vfs import Inode

AT_SYMLINK_NOFOLLOW = uapi.AT_SYMLINK_NOFOLLOW
AT_NO_AUTOMOUNT = uapi.AT_NO_AUTOMOUNT
AT_EMPTY_PATH = uapi.AT_EMPTY_PATH
AT_STATX_SYNC_TYPE = uapi.AT_STATX_SYNC_TYPE
STATX_BASIC_STATS = uapi.STATX_BASIC_STATS
STATX_BTIME = uapi.STATX_BTIME
STATX_MNT_ID = uapi.STATX_MNT_ID
STATX__RESERVED = uapi.STATX__RESERVED
STATX_ATTR_MOUNT_ROOT = uapi.STATX_ATTR_MOUNT_ROOT
STATX_ATTR_AUTOMOUNT = 0x1000
STATX_ATTR_DAX = 0x200000
#: What ``vfs_statx`` takes in ``flags`` (``vfs_stat_set_lookup_flags``).
STAT_FLAGS = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | AT_STATX_SYNC_TYPE


def vfs_fstatat(
    current: Current, name: str, follow: bool, dfd: int = AT_FDCWD, flags: int = 0
) -> Kstat:
    """``vfs_fstatat`` -> ``vfs_statx``: EINVAL for flags it does not know, resolve
    (following a final symlink unless AT_SYMLINK_NOFOLLOW), then ``generic_fillattr``
    with ids as the caller's namespace sees them."""
    if flags & ~STAT_FLAGS:
        raise refuse(
            errno.EINVAL, "vfs_statx", "unknown flags {flags:#x}", flags=flags & ~STAT_FLAGS
        )
    found = path_lookupat(current, name, follow=follow, dfd=dfd)
    assert found.dentry.d_inode is not None
    return generic_fillattr(found.dentry.d_inode, current.cred)


def check_stat_flags(flags: int) -> None:
    """``vfs_stat_set_lookup_flags``: EINVAL for flags ``vfs_statx`` does not know."""
    if flags & ~STAT_FLAGS:
        unknown = flags & ~STAT_FLAGS
        raise refuse(errno.EINVAL, "vfs_statx", "unknown flags {flags:#x}", flags=unknown)


@attrs.frozen
class Statx:
    """``struct statx`` as statx(2) fills it (times in nanoseconds, ids as the caller's
    namespace sees them)."""

    stx_mask: int
    stx_blksize: int
    stx_attributes: int
    stx_nlink: int
    stx_uid: int
    stx_gid: int
    stx_mode: int
    stx_ino: int
    stx_size: int
    stx_blocks: int
    stx_attributes_mask: int
    stx_atime_ns: int
    stx_btime_ns: int
    stx_ctime_ns: int
    stx_mtime_ns: int
    stx_rdev_major: int
    stx_rdev_minor: int
    stx_dev_major: int
    stx_dev_minor: int
    stx_mnt_id: int


def check_statx_args(flags: int, mask: int, fd_only: bool = False) -> None:
    """``do_statx``'s first checks: reserved mask bits, both sync types at once, then
    ``vfs_statx``'s unknown flags (not for ``do_statx_fd``: ``fd_only``), all EINVAL."""
    if mask & STATX__RESERVED:
        raise refuse(errno.EINVAL, "do_statx", "STATX__RESERVED is set in the mask")
    if flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE:
        raise refuse(errno.EINVAL, "do_statx", "AT_STATX_FORCE_SYNC with AT_STATX_DONT_SYNC")
    if not fd_only:
        check_stat_flags(flags)


def do_statx(current: Current, name: str, dfd: int, flags: int, mask: int) -> Statx:
    """``do_statx``: the argument checks, the lookup, then :func:`statx_path`."""
    check_statx_args(flags, mask)
    found = path_lookupat(current, name, follow=not flags & AT_SYMLINK_NOFOLLOW, dfd=dfd)
    return statx_path(current, found, mask)


def statx_path(
    current: Current,
    path: Path | None,
    mask: int,
    inode: Inode | None = None,
    anon_mnt_id: int = 0,
) -> Statx:
    """``vfs_statx_path``: ``vfs_getattr_nosec`` (the basic stats, the filesystem's
    ``->getattr`` extras, the automount and DAX attribute bits), then the mount id
    and STATX_ATTR_MOUNT_ROOT where the profile reports them.  ``path`` None is an
    anon_inode file (a bpf object fd with AT_EMPTY_PATH), on the mount
    ``anon_mnt_id``."""
    if path is not None:
        inode = path.dentry.d_inode
    assert inode is not None
    st = generic_fillattr(inode, current.cred)
    result = STATX_BASIC_STATS
    attributes = 0
    attributes_mask = STATX_ATTR_AUTOMOUNT | STATX_ATTR_DAX
    if inode.i_op is not None and inode.i_op.getattr is not None:
        add, drop, fs_attributes = inode.i_op.getattr(inode, mask)
        result = (result | add) & ~drop
        attributes_mask |= fs_attributes
    mnt_id = 0
    if current.kernel.profile.statx_mnt_id:
        mnt_id = path.mnt.mnt_id if path is not None else anon_mnt_id
        result |= STATX_MNT_ID
        if path is not None and path.dentry is path.mnt.mnt_root:
            attributes |= STATX_ATTR_MOUNT_ROOT
        attributes_mask |= STATX_ATTR_MOUNT_ROOT
    return Statx(
        stx_mask=result,
        stx_blksize=st.st_blksize,
        stx_attributes=attributes,
        stx_nlink=st.st_nlink,
        stx_uid=st.st_uid,
        stx_gid=st.st_gid,
        stx_mode=st.st_mode,
        stx_ino=st.st_ino,
        stx_size=st.st_size,
        stx_blocks=st.st_blocks,
        stx_attributes_mask=attributes_mask,
        stx_atime_ns=st.st_atime_ns,
        stx_btime_ns=inode.i_crtime if result & STATX_BTIME else 0,
        stx_ctime_ns=st.st_ctime_ns,
        stx_mtime_ns=st.st_mtime_ns,
        stx_rdev_major=(st.st_rdev >> 8) & 0xFFF,
        stx_rdev_minor=(st.st_rdev & 0xFF) | ((st.st_rdev >> 12) & 0xFFF00),
        stx_dev_major=(st.st_dev >> 8) & 0xFFF,
        stx_dev_minor=(st.st_dev & 0xFF) | ((st.st_dev >> 12) & 0xFFF00),
        stx_mnt_id=mnt_id,
    )


def do_readlinkat(current: Current, name: str, dfd: int = AT_FDCWD) -> str:
    """``do_readlinkat`` (LOOKUP_EMPTY): not a symlink is EINVAL, or ENOENT for an
    empty name (the dirfd itself); reading the body touches atime."""
    found = path_lookupat(current, name, follow=False, dfd=dfd)
    inode = found.dentry.d_inode
    assert inode is not None
    if not name and inode.i_link is None and (inode.i_op is None or inode.i_op.get_link is None):
        raise refuse(errno.ENOENT, "do_readlinkat", "the empty name's file is not a symlink")
    try:
        text = vfs_readlink(found.dentry)  # EINVAL if not a symlink; procfs's ->readlink
    except KernelError as exc:
        raise naming(exc, name) from None
    touch_atime(found)
    return text
