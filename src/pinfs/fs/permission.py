"""Permission checks (fs/namei.c): who may search, create, delete and open.

Each returns an errno (0 = allowed), like the kernel's ``int`` helpers, so a caller can
remember an error and report it later in the kernel's order.
"""

from __future__ import annotations

import errno
import stat

from pinfs.base.cred import (
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    Cred,
    capable_wrt_inode_uidgid,
)
from pinfs.base.errors import Errno, refused
from pinfs.vfs import (
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    MS_RDONLY,
    S_APPEND,
    S_DEAD,
    S_IMMUTABLE,
    Dentry,
    Inode,
)


def acl_permission_check(cred: Cred, inode: Inode, mask: int) -> int:
    """``acl_permission_check``: owner, else group (fsgid or supplementary), else other."""
    mode = inode.i_mode
    if cred.fsuid == inode.i_uid:
        mode >>= 6
    elif cred.in_group_p(inode.i_gid):
        mode >>= 3
    if (mask & ~mode & (MAY_READ | MAY_WRITE | MAY_EXEC)) == 0:
        return 0
    return errno.EACCES


_MAY_NAMES = ((MAY_READ, "MAY_READ"), (MAY_WRITE, "MAY_WRITE"), (MAY_EXEC, "MAY_EXEC"))


def _dac_refusal(cred: Cred, inode: Inode, mask: int, override: str) -> Errno:
    """EACCES from ``generic_permission``, saying which access, mode, owner and caller."""
    wanted = "|".join(name for bit, name in _MAY_NAMES if mask & bit) or "access"
    return refused(
        errno.EACCES,
        "generic_permission",
        "{mask} denied: mode {mode:04o}, owner {uid}:{gid}, for uid {fsuid} without {cap}",
        mask=wanted,
        mode=inode.i_mode & 0o7777,
        uid=inode.i_uid,
        gid=inode.i_gid,
        fsuid=cred.fsuid,
        cap=override,
    )


def generic_permission(cred: Cred, inode: Inode, mask: int) -> int:
    """``generic_permission``: DAC, then CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH."""
    if acl_permission_check(cred, inode, mask) == 0:
        return 0
    uid, gid = inode.i_uid, inode.i_gid
    if stat.S_ISDIR(inode.i_mode):
        if capable_wrt_inode_uidgid(cred, uid, gid, CAP_DAC_OVERRIDE):
            return 0
        if not mask & MAY_WRITE and capable_wrt_inode_uidgid(cred, uid, gid, CAP_DAC_READ_SEARCH):
            return 0
        return _dac_refusal(cred, inode, mask, "CAP_DAC_OVERRIDE")
    # Files: override read/write always, exec only if some x bit is set.
    if (not mask & MAY_EXEC or inode.i_mode & 0o111) and capable_wrt_inode_uidgid(
        cred, uid, gid, CAP_DAC_OVERRIDE
    ):
        return 0
    mask &= MAY_READ | MAY_WRITE | MAY_EXEC
    if mask == MAY_READ and capable_wrt_inode_uidgid(cred, uid, gid, CAP_DAC_READ_SEARCH):
        return 0
    return _dac_refusal(cred, inode, mask, "CAP_DAC_OVERRIDE")


def sb_permission(inode: Inode, mask: int) -> int:
    """``sb_permission``: no writing to files, dirs or links of a read-only superblock."""
    if mask & MAY_WRITE and inode.i_sb.read_only:
        fmt = stat.S_IFMT(inode.i_mode)
        if fmt in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
            return refused(errno.EROFS, "sb_permission", "the superblock is read-only")
    return 0


_RWX = MAY_READ | MAY_WRITE | MAY_EXEC
S_IFMT = 0o170000
S_IFDIR = stat.S_IFDIR
S_ISVTX = stat.S_ISVTX


def inode_permission(cred: Cred, inode: Inode, mask: int) -> int:
    """``inode_permission``: superblock read-only, then ``__inode_permission``."""
    if mask & MAY_WRITE:
        if inode.i_sb.s_flags & MS_RDONLY:
            err = sb_permission(inode, mask)
            if err:
                return err
        if inode.i_flags & S_IMMUTABLE:
            return refused(errno.EACCES, "inode_permission", "the inode is immutable")
    iops = inode.i_op
    if iops is not None and iops.permission is not None:
        return iops.permission(cred, inode, mask)  # do_inode_permission
    if cred.fsuid == inode.i_uid and not mask & ~(inode.i_mode >> 6) & _RWX:
        return 0  # the owner's bits grant it: acl_permission_check's first answer
    return generic_permission(cred, inode, mask)


def check_sticky(cred: Cred, dir: Inode, inode: Inode) -> bool:
    """``check_sticky``: in a sticky dir only the file's or dir's owner (or CAP_FOWNER)."""
    if not dir.i_mode & S_ISVTX:
        return False
    if inode.i_uid == cred.fsuid or dir.i_uid == cred.fsuid:
        return False
    return not capable_wrt_inode_uidgid(cred, inode.i_uid, inode.i_gid, CAP_FOWNER)


def may_create(cred: Cred, dir: Inode, child: Dentry) -> int:
    """``may_create``: the name is free, the dir alive, and we may write and search it."""
    if child.d_inode is not None:
        return refused(errno.EEXIST, "may_create", "the name {name!r} exists", name=child.d_name)
    if dir.i_flags & S_DEAD:  # IS_DEADDIR
        return refused(errno.ENOENT, "may_create", "the directory was removed")
    return inode_permission(cred, dir, MAY_WRITE | MAY_EXEC)


def may_delete(cred: Cred, dir: Inode, victim: Dentry, isdir: bool) -> int:
    """``may_delete``: the checks of unlink, rmdir and rename, in the kernel's order."""
    inode = victim.d_inode
    if inode is None:
        return errno.ENOENT
    err = inode_permission(cred, dir, MAY_WRITE | MAY_EXEC)
    if err:
        return err
    if dir.i_flags & S_APPEND:
        return errno.EPERM
    if dir.i_mode & S_ISVTX and check_sticky(cred, dir, inode):  # its first test inline
        return refused(
            errno.EPERM,
            "check_sticky",
            "the directory is sticky and uid {fsuid} owns neither it ({dir_uid}) nor "
            "{name!r} ({uid}), without CAP_FOWNER",
            fsuid=cred.fsuid,
            dir_uid=dir.i_uid,
            name=victim.d_name,
            uid=inode.i_uid,
        )
    if inode.i_flags & (S_APPEND | S_IMMUTABLE):
        return refused(errno.EPERM, "may_delete", "the inode is append-only or immutable")
    if isdir:
        if inode.i_mode & S_IFMT != S_IFDIR:
            return errno.ENOTDIR
        if victim.d_parent is victim:  # IS_ROOT
            return errno.EBUSY
    elif inode.i_mode & S_IFMT == S_IFDIR:
        return errno.EISDIR
    if dir.i_flags & S_DEAD:  # IS_DEADDIR
        return errno.ENOENT
    return 0
