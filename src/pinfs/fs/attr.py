"""Attributes: stat (fs/stat.c) and setattr (fs/attr.c, libfs ``simple_setattr``)."""

from __future__ import annotations

import errno
import stat
from collections.abc import Iterator
from typing import overload

import attrs

from pinfs.base.cred import (
    CAP_CHOWN,
    CAP_FOWNER,
    CAP_FSETID,
    Cred,
    UserNamespace,
    capable,
    capable_wrt_inode_uidgid,
)
from pinfs.base.errors import kernel_error
from pinfs.vfs import Inode

# iattr.ia_valid bits (include/linux/fs.h)
ATTR_MODE = 1
ATTR_UID = 2
ATTR_GID = 4
ATTR_SIZE = 8
ATTR_ATIME = 16
ATTR_MTIME = 32
ATTR_CTIME = 64
ATTR_ATIME_SET = 128
ATTR_MTIME_SET = 256
ATTR_FORCE = 512
ATTR_KILL_SUID = 2048
ATTR_KILL_SGID = 4096
ATTR_TIMES_SET = 1 << 16


@attrs.frozen
class Kstat:
    """``struct kstat`` as stat(2) returns it (ids as seen from the caller's namespace)."""

    st_dev: int
    st_ino: int
    st_mode: int
    st_nlink: int
    st_uid: int
    st_gid: int
    st_rdev: int
    st_size: int
    st_blksize: int
    st_blocks: int
    st_atime_ns: int
    st_mtime_ns: int
    st_ctime_ns: int

    # Like os.stat_result: a 10-tuple of (mode, ino, dev, nlink, uid, gid, size, and the
    # three times in whole seconds), with float seconds as st_atime/st_mtime/st_ctime.
    @property
    def st_atime(self) -> float:
        return self.st_atime_ns / 1e9

    @property
    def st_mtime(self) -> float:
        return self.st_mtime_ns / 1e9

    @property
    def st_ctime(self) -> float:
        return self.st_ctime_ns / 1e9

    def _tuple(self) -> tuple[int, ...]:
        return (
            self.st_mode,
            self.st_ino,
            self.st_dev,
            self.st_nlink,
            self.st_uid,
            self.st_gid,
            self.st_size,
            self.st_atime_ns // 10**9,
            self.st_mtime_ns // 10**9,
            self.st_ctime_ns // 10**9,
        )

    def __len__(self) -> int:
        return 10

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[int, ...]: ...

    def __getitem__(self, index: int | slice) -> int | tuple[int, ...]:
        return self._tuple()[index]

    def __iter__(self) -> Iterator[int]:
        return iter(self._tuple())


@attrs.frozen
class IAttr:
    """``struct iattr``: what a setattr changes."""

    ia_valid: int
    ia_mode: int = 0
    ia_uid: int = 0
    ia_gid: int = 0
    ia_size: int = 0
    ia_atime: int = 0
    ia_mtime: int = 0
    ia_ctime: int = 0


def generic_fillattr(inode: Inode, cred: Cred) -> Kstat:
    """``generic_fillattr`` + ``cp_new_stat``: ids mapped into the caller's namespace."""
    ns = cred.user_ns
    return Kstat(
        st_dev=inode.i_sb.s_dev,
        st_ino=inode.i_ino,
        st_mode=inode.i_mode,
        st_nlink=inode.i_nlink,
        st_uid=ns.from_kuid_munged(inode.i_uid),
        st_gid=ns.from_kgid_munged(inode.i_gid),
        st_rdev=inode.i_rdev,
        st_size=inode.i_size,
        st_blksize=inode.i_sb.s_blocksize,
        st_blocks=0,
        st_atime_ns=inode.i_atime,
        st_mtime_ns=inode.i_mtime,
        st_ctime_ns=inode.i_ctime,
    )


def inode_owner_or_capable(cred: Cred, inode: Inode) -> bool:
    """``inode_owner_or_capable``: fsuid owns it, or CAP_FOWNER over its ids."""
    if cred.fsuid == inode.i_uid:
        return True
    return capable_wrt_inode_uidgid(cred, inode.i_uid, inode.i_gid, CAP_FOWNER)


def inode_change_ok(cred: Cred, inode: Inode, attr: IAttr) -> int:
    """``inode_change_ok``: may this caller make these changes?  Returns an errno."""
    valid = attr.ia_valid
    if valid & ATTR_FORCE:
        return 0
    if valid & ATTR_UID and (
        cred.fsuid != inode.i_uid or attr.ia_uid != inode.i_uid
    ):  # chown to another user needs CAP_CHOWN
        if not capable_wrt_inode_uidgid(cred, inode.i_uid, inode.i_gid, CAP_CHOWN):
            return errno.EPERM
    if valid & ATTR_GID and (
        cred.fsuid != inode.i_uid
        or (not cred.in_group_p(attr.ia_gid) and attr.ia_gid != inode.i_gid)
    ):
        if not capable_wrt_inode_uidgid(cred, inode.i_uid, inode.i_gid, CAP_CHOWN):
            return errno.EPERM
    if valid & ATTR_MODE and not inode_owner_or_capable(cred, inode):
        return errno.EPERM
    if valid & (ATTR_MTIME_SET | ATTR_ATIME_SET | ATTR_TIMES_SET) and not (
        inode_owner_or_capable(cred, inode)
    ):
        return errno.EPERM
    return 0


def setattr_copy(cred: Cred, inode: Inode, attr: IAttr) -> None:
    """``setattr_copy``: apply; chmod by a non-member clears S_ISGID."""
    valid = attr.ia_valid
    if valid & ATTR_UID:
        inode.i_uid = attr.ia_uid
    if valid & ATTR_GID:
        inode.i_gid = attr.ia_gid
    if valid & ATTR_ATIME:
        inode.i_atime = attr.ia_atime
    if valid & ATTR_MTIME:
        inode.i_mtime = attr.ia_mtime
    if valid & ATTR_CTIME:
        inode.i_ctime = attr.ia_ctime
    if valid & ATTR_MODE:
        mode = attr.ia_mode
        if not cred.in_group_p(inode.i_gid) and not capable_wrt_inode_uidgid(
            cred, inode.i_uid, inode.i_gid, CAP_FSETID
        ):
            mode &= ~stat.S_ISGID
        inode.i_mode = mode


def simple_setattr(cred: Cred, inode: Inode, attr: IAttr) -> None:
    """``simple_setattr``: ``inode_change_ok`` was done by the caller; size, then copy."""
    if attr.ia_valid & ATTR_SIZE:
        inode.i_size = attr.ia_size
    setattr_copy(cred, inode, attr)


def notify_change(cred: Cred, inode: Inode, attr: IAttr) -> None:
    """``notify_change``: stamp the new times (applied only where ``ia_valid`` asks),
    check, then the filesystem's ``setattr``."""
    if inode.i_flags & 0xC and attr.ia_valid & (ATTR_MODE | ATTR_UID | ATTR_GID):
        raise kernel_error(errno.EPERM)  # immutable or append-only
    mode = inode.i_mode
    if attr.ia_valid & ATTR_KILL_SUID and mode & stat.S_ISUID:
        attr = attrs.evolve(attr, ia_valid=attr.ia_valid | ATTR_MODE, ia_mode=mode & ~stat.S_ISUID)
    if attr.ia_valid & ATTR_KILL_SGID and mode & stat.S_ISGID and mode & stat.S_IXGRP:
        if not attr.ia_valid & ATTR_MODE:
            attr = attrs.evolve(attr, ia_valid=attr.ia_valid | ATTR_MODE, ia_mode=mode)
        attr = attrs.evolve(attr, ia_mode=attr.ia_mode & ~stat.S_ISGID)
    now = inode.i_sb.kernel.current_time()
    valid = attr.ia_valid
    atime = attr.ia_atime if valid & ATTR_ATIME_SET else now
    mtime = attr.ia_mtime if valid & ATTR_MTIME_SET else now
    attr = attrs.evolve(attr, ia_valid=valid, ia_ctime=now, ia_atime=atime, ia_mtime=mtime)
    err = inode_change_ok(cred, inode, attr)
    if err:
        raise kernel_error(err)
    iops = inode.i_op
    if iops is not None and iops.setattr is not None:
        iops.setattr(cred, inode, attr)
    else:
        simple_setattr(cred, inode, attr)


def should_remove_suid(cred: Cred, inode: Inode, init_ns: UserNamespace) -> int:
    """``should_remove_suid``: what a write or truncate must clear from a regular file
    (S_ISUID; S_ISGID with group exec) unless the caller has CAP_FSETID."""
    mode = inode.i_mode
    kill = ATTR_KILL_SUID if mode & stat.S_ISUID else 0
    if mode & stat.S_ISGID and mode & stat.S_IXGRP:
        kill |= ATTR_KILL_SGID
    if kill and stat.S_ISREG(mode) and not capable(cred, init_ns, CAP_FSETID):
        return kill
    return 0


def do_truncate(
    cred: Cred, inode: Inode, length: int, time_attrs: int, init_ns: UserNamespace
) -> None:
    """``do_truncate``: ATTR_SIZE (+ the caller's time attrs), and setuid bits killed
    without a permission check (ATTR_FORCE) where ``should_remove_suid`` says so."""
    valid = ATTR_SIZE | time_attrs
    kill = should_remove_suid(cred, inode, init_ns)
    if kill:
        valid |= kill | ATTR_FORCE
    notify_change(cred, inode, IAttr(valid, ia_size=length))
