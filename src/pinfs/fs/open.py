"""The bodies of the fs/open.c syscalls: open, chmod, chown, truncate and chdir.

Each function is what the kernel's ``SYSCALL_DEFINE`` calls once the arguments are in
kernel space (``do_sys_open``, ``do_fchmodat``, ``do_fchownat``, ``do_sys_truncate``,
the body of ``chdir``); :class:`pinfs.machine.task.Task` checks the Python values,
enters the syscall and calls them with itself as ``current``.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Protocol

from pinfs.base import uapi
from pinfs.base.errors import call_naming, kernel_error
from pinfs.fs.attr import (
    ATTR_CTIME,
    ATTR_GID,
    ATTR_KILL_SGID,
    ATTR_KILL_SUID,
    ATTR_MODE,
    ATTR_UID,
    IAttr,
    do_truncate,
    notify_change,
)
from pinfs.fs.fdtable import FdTable
from pinfs.fs.namei import O_PATH, Current, do_filp_open, getname, path_lookupat
from pinfs.fs.permission import inode_permission
from pinfs.mountns import mnt_want_write, path_get, path_put
from pinfs.vfs import MAY_EXEC, MAY_WRITE, S_APPEND, S_IALLUGO, File

#: x86_64's O_LARGEFILE (``os.O_LARGEFILE`` is 0 in a 64-bit Python).
O_LARGEFILE = 0o100000

RLIMIT_NOFILE = uapi.RLIMIT_NOFILE


class FilesCurrent(Current, Protocol):
    """``current`` with its whole fd table and rlimits: what opening a file needs."""

    @property
    def files(self) -> FdTable: ...

    def rlimit(self, resource: int) -> int: ...


def do_sys_open(current: FilesCurrent, name: str, flags: int, mode: int) -> int:
    """``do_sys_open``: ``build_open_flags`` (O_CREAT|O_DIRECTORY is EINVAL since v6.4;
    O_PATH keeps only O_DIRECTORY and O_NOFOLLOW), ``getname``, an fd reserved
    (EMFILE first), ``do_filp_open``, then ``fd_install``.  O_CLOEXEC sets
    close-on-exec."""
    if (
        flags & os.O_CREAT
        and flags & os.O_DIRECTORY
        and current.kernel.profile.open_creat_directory_einval
    ):
        raise kernel_error(errno.EINVAL, name)
    getname(name)
    nofile = current.rlimit(RLIMIT_NOFILE)
    current.files.reserve_fd(nofile)
    open_flags = (flags & ~os.O_CLOEXEC) | O_LARGEFILE  # force_o_largefile: 64-bit
    if open_flags & O_PATH:
        open_flags &= os.O_DIRECTORY | os.O_NOFOLLOW | O_PATH
    file = do_filp_open(current, name, open_flags, mode)
    return current.files.install(file, bool(flags & os.O_CLOEXEC), nofile)


def filp_open(current: Current, name: str, flags: int, mode: int) -> File:
    """``filp_open``: a file the kernel opens for itself, with no fd (``getname_kernel``
    then ``do_filp_open``; nothing adds O_LARGEFILE)."""
    return do_filp_open(current, getname(name), flags, mode)


def do_fchmodat(current: Current, name: str, mode: int) -> None:
    """``do_fchmodat`` + ``chmod_common``: EROFS, then ``notify_change`` of the
    permission bits (the file type is kept)."""
    found = path_lookupat(current, name, follow=True)
    err = mnt_want_write(found.mnt)
    if err:
        raise kernel_error(err, name)
    inode = found.dentry.d_inode
    assert inode is not None
    new_mode = (mode & S_IALLUGO) | (inode.i_mode & ~S_IALLUGO)
    attr = IAttr(ATTR_MODE | ATTR_CTIME, ia_mode=new_mode)
    call_naming(name, notify_change, current.cred, inode, attr)


def do_fchownat(current: Current, name: str, uid: int, gid: int) -> None:
    """``do_fchownat`` + ``chown_common``: EROFS, ids mapped from the caller's
    namespace (EINVAL if unmapped; -1 leaves one unchanged), setuid bits cleared on
    non-directories, then ``notify_change``."""
    found = path_lookupat(current, name, follow=True)
    err = mnt_want_write(found.mnt)
    if err:
        raise kernel_error(err, name)
    inode = found.dentry.d_inode
    assert inode is not None
    ns = current.cred.user_ns
    valid, kuid, kgid = ATTR_CTIME, 0, 0
    if uid not in (-1, 0xFFFFFFFF):
        mapped = ns.make_kuid(uid)
        if mapped is None:
            raise kernel_error(errno.EINVAL, name)
        valid, kuid = valid | ATTR_UID, mapped
    if gid not in (-1, 0xFFFFFFFF):
        mapped = ns.make_kgid(gid)
        if mapped is None:
            raise kernel_error(errno.EINVAL, name)
        valid, kgid = valid | ATTR_GID, mapped
    if not inode.is_dir:  # even chown(-1, -1) clears the setuid bits
        valid |= ATTR_KILL_SUID | ATTR_KILL_SGID
    attr = IAttr(valid, ia_uid=kuid, ia_gid=kgid)
    call_naming(name, notify_change, current.cred, inode, attr)


def do_sys_truncate(current: Current, name: str, length: int) -> None:
    """``do_sys_truncate`` + ``vfs_truncate``: EINVAL for a negative length (before
    ``getname``), EISDIR, EINVAL for non-regular files, EROFS or no write permission,
    EPERM for append-only, then ``do_truncate`` (only the size is modelled)."""
    if length < 0:
        raise kernel_error(errno.EINVAL, name)
    found = path_lookupat(current, getname(name), follow=True)
    inode = found.dentry.d_inode
    assert inode is not None
    if inode.is_dir:
        raise kernel_error(errno.EISDIR, name)
    if not stat.S_ISREG(inode.i_mode):
        raise kernel_error(errno.EINVAL, name)
    err = mnt_want_write(found.mnt) or inode_permission(current.cred, inode, MAY_WRITE)
    if err:
        raise kernel_error(err, name)
    if inode.i_flags & S_APPEND:
        raise kernel_error(errno.EPERM, name)
    init_ns = current.kernel.init_user_ns
    call_naming(name, do_truncate, current.cred, inode, length, 0, init_ns)


def do_chdir(current: Current, name: str) -> None:
    """The body of ``SYSCALL_DEFINE1(chdir)``: ENOTDIR, search permission, then
    ``set_fs_pwd``."""
    found = path_lookupat(current, name, follow=True)
    inode = found.dentry.d_inode
    assert inode is not None
    if not inode.is_dir:
        raise kernel_error(errno.ENOTDIR, name)
    err = inode_permission(current.cred, inode, MAY_EXEC)
    if err:
        raise kernel_error(err, name)
    fs = current.fs
    old = fs.pwd
    fs.pwd = path_get(found)
    path_put(old)
