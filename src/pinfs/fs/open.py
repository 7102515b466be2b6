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
from pinfs.base.errors import call_naming, kernel_error, refuse
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
from pinfs.fs.namei import (
    AT_FDCWD,
    LOOKUP_BENEATH,
    LOOKUP_IN_ROOT,
    LOOKUP_NO_MAGICLINKS,
    LOOKUP_NO_SYMLINKS,
    LOOKUP_NO_XDEV,
    O_PATH,
    Current,
    do_filp_open,
    getname,
    path_lookupat,
)
from pinfs.fs.permission import inode_permission
from pinfs.mountns import Path, mnt_want_write, path_get, path_put
from pinfs.vfs import MAY_EXEC, MAY_WRITE, S_APPEND, S_IALLUGO, File, Inode

#: x86_64's O_LARGEFILE (``os.O_LARGEFILE`` is 0 in a 64-bit Python).
O_LARGEFILE = 0o100000

RLIMIT_NOFILE = uapi.RLIMIT_NOFILE
O_CLOEXEC = os.O_CLOEXEC
O_CREAT_DIRECTORY = os.O_CREAT | os.O_DIRECTORY


class FilesCurrent(Current, Protocol):
    """``current`` with its whole fd table and rlimits: what opening a file needs."""

    @property
    def files(self) -> FdTable: ...

    def rlimit(self, resource: int) -> int: ...


def do_sys_open(
    current: FilesCurrent, name: str, flags: int, mode: int, dfd: int = AT_FDCWD
) -> int:
    """``do_sys_open``: ``build_open_flags`` (O_CREAT|O_DIRECTORY is EINVAL since v6.4;
    O_PATH keeps only O_DIRECTORY and O_NOFOLLOW), ``getname``, an fd reserved
    (EMFILE first), ``do_filp_open``, then ``fd_install``.  O_CLOEXEC sets
    close-on-exec."""
    if (
        flags & O_CREAT_DIRECTORY == O_CREAT_DIRECTORY
        and current.kernel.profile.open_creat_directory_einval
    ):
        raise kernel_error(errno.EINVAL, name)
    getname(name)
    nofile = current.rlimit(RLIMIT_NOFILE)
    files = current.files
    files.reserve_fd(nofile)
    open_flags = (flags & ~O_CLOEXEC) | O_LARGEFILE  # force_o_largefile: 64-bit
    if open_flags & O_PATH:
        open_flags &= O_PATH_FLAGS
    file = do_filp_open(current, name, open_flags, mode, dfd)
    return files.install(file, bool(flags & O_CLOEXEC), nofile)


RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE_CACHED = 0x20
VALID_RESOLVE_FLAGS = 0x3F
__O_TMPFILE = 0o20000000
FASYNC = 0o20000
#: ``VALID_OPEN_FLAGS``: what openat2 accepts in ``how.flags`` (others are EINVAL).
VALID_OPEN_FLAGS = (
    os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_TRUNC | os.O_APPEND
    | os.O_NONBLOCK | os.O_SYNC | os.O_DSYNC | FASYNC | os.O_DIRECT | O_LARGEFILE
    | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NOATIME | uapi.O_CLOEXEC | O_PATH | __O_TMPFILE
)  # fmt: skip
O_PATH_FLAGS = os.O_DIRECTORY | os.O_NOFOLLOW | O_PATH
_LOOKUP_OF_RESOLVE = (
    (RESOLVE_NO_XDEV, LOOKUP_NO_XDEV),
    (RESOLVE_NO_MAGICLINKS, LOOKUP_NO_MAGICLINKS),
    (RESOLVE_NO_SYMLINKS, LOOKUP_NO_SYMLINKS),
    (RESOLVE_BENEATH, LOOKUP_BENEATH),
    (RESOLVE_IN_ROOT, LOOKUP_IN_ROOT),
)


def build_open_flags_how(current: Current, flags: int, mode: int, resolve: int) -> int:
    """openat2's ``build_open_flags``: every argument is checked (EINVAL for unknown
    flags or resolve bits, BENEATH with IN_ROOT, a mode without O_CREAT or beyond
    07777, O_CREAT|O_DIRECTORY, O_PATH with other flags; EAGAIN for RESOLVE_CACHED with
    O_CREAT/O_TRUNC/O_TMPFILE).  Returns the LOOKUP_* restrictions."""
    flags &= ~uapi.O_CLOEXEC
    if flags & ~VALID_OPEN_FLAGS:
        raise refuse(errno.EINVAL, "build_open_flags", "unknown open flags {f:#o}", f=flags)
    if resolve & ~VALID_RESOLVE_FLAGS:
        raise refuse(errno.EINVAL, "build_open_flags", "unknown resolve flags {r:#x}", r=resolve)
    if resolve & RESOLVE_BENEATH and resolve & RESOLVE_IN_ROOT:
        raise refuse(errno.EINVAL, "build_open_flags", "RESOLVE_BENEATH with RESOLVE_IN_ROOT")
    if flags & (os.O_CREAT | __O_TMPFILE):
        if mode & ~S_IALLUGO:
            raise refuse(errno.EINVAL, "build_open_flags", "mode {m:#o} beyond 07777", m=mode)
    elif mode:
        raise refuse(errno.EINVAL, "build_open_flags", "a mode without O_CREAT or O_TMPFILE")
    if flags & os.O_CREAT and flags & os.O_DIRECTORY:
        raise refuse(errno.EINVAL, "build_open_flags", "O_CREAT with O_DIRECTORY")
    if flags & O_PATH and flags & ~O_PATH_FLAGS:
        raise refuse(errno.EINVAL, "build_open_flags", "O_PATH with other flags")
    lookup = 0
    for bit, lookup_bit in _LOOKUP_OF_RESOLVE:
        if resolve & bit:
            lookup |= lookup_bit
    if resolve & RESOLVE_CACHED and flags & (os.O_TRUNC | os.O_CREAT | __O_TMPFILE):
        raise refuse(errno.EAGAIN, "build_open_flags", "RESOLVE_CACHED cannot create or truncate")
    return lookup


def do_sys_openat2(
    current: FilesCurrent, dfd: int, name: str, flags: int, mode: int, resolve: int
) -> int:
    """``openat2``: O_LARGEFILE added unless O_PATH (``force_o_largefile``),
    :func:`build_open_flags_how`, ``getname``, an fd reserved, ``do_filp_open``
    with the restrictions, ``fd_install``.  RESOLVE_CACHED only refuses what would
    create or truncate: pinfs has no dcache misses to fail with EAGAIN."""
    if not flags & O_PATH:
        flags |= O_LARGEFILE
    lookup = build_open_flags_how(current, flags, mode, resolve)
    getname(name)
    nofile = current.rlimit(RLIMIT_NOFILE)
    current.files.reserve_fd(nofile)
    file = do_filp_open(current, name, flags & ~uapi.O_CLOEXEC, mode, dfd, lookup)
    return current.files.install(file, bool(flags & uapi.O_CLOEXEC), nofile)


def filp_open(current: Current, name: str, flags: int, mode: int) -> File:
    """``filp_open``: a file the kernel opens for itself, with no fd (``getname_kernel``
    then ``do_filp_open``; nothing adds O_LARGEFILE)."""
    return do_filp_open(current, getname(name), flags, mode)


def do_fchmodat(current: Current, name: str, mode: int, dfd: int = AT_FDCWD) -> None:
    """``do_fchmodat``: the name is followed, then ``chmod_common``."""
    found = path_lookupat(current, name, follow=True, dfd=dfd)
    chmod_common(current, found, mode, name)


def chmod_common(
    current: Current, path: Path | None, mode: int, name: str | None, inode: Inode | None = None
) -> None:
    """``chmod_common``: EROFS, then ``notify_change`` of the permission bits (the
    file type is kept).  ``path`` None is an anon_inode file (``fchmod`` of a bpf
    object fd): its mount is never read-only."""
    if path is not None:
        err = mnt_want_write(path.mnt)
        if err:
            raise kernel_error(err, name)
        inode = path.dentry.d_inode
    assert inode is not None
    new_mode = (mode & S_IALLUGO) | (inode.i_mode & ~S_IALLUGO)
    attr = IAttr(ATTR_MODE | ATTR_CTIME, ia_mode=new_mode)
    if path is None:
        anon_inode_setattr(current)
    _notify(name, current, inode, attr)


def _notify(name: str | None, current: Current, inode: Inode, attr: IAttr) -> None:
    if name is None:
        notify_change(current.cred, inode, attr)
    else:
        call_naming(name, notify_change, current.cred, inode, attr)


def do_fchownat(
    current: Current, name: str, uid: int, gid: int, dfd: int = AT_FDCWD, follow: bool = True
) -> None:
    """``do_fchownat``: the name (followed unless AT_SYMLINK_NOFOLLOW), then
    ``chown_common``."""
    found = path_lookupat(current, name, follow=follow, dfd=dfd)
    chown_common(current, found, uid, gid, name)


def chown_common(
    current: Current,
    path: Path | None,
    uid: int,
    gid: int,
    name: str | None,
    inode: Inode | None = None,
) -> None:
    """``chown_common`` (after ``mnt_want_write``'s EROFS): ids mapped from the
    caller's namespace (EINVAL if unmapped; -1 leaves one unchanged), setuid bits
    cleared on non-directories, then ``notify_change``.  ``path`` None: an
    anon_inode file, as in :func:`chmod_common`."""
    if path is not None:
        err = mnt_want_write(path.mnt)
        if err:
            raise kernel_error(err, name)
        inode = path.dentry.d_inode
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
    if path is None:
        anon_inode_setattr(current)
    _notify(name, current, inode, attr)


def anon_inode_setattr(current: Current) -> None:
    """``anon_inode_setattr`` (22bdf3d6581a, v6.15 and stable): the one inode every
    bpf object fd shares refuses attribute changes (EOPNOTSUPP); before, root's
    fchmod/fchown changed that shared inode, as here."""
    if current.kernel.profile.anon_inode_setattr_blocked:
        check = "the anon_inode shared by bpf object fds takes no chmod or chown"
        raise refuse(errno.EOPNOTSUPP, "anon_inode_setattr", check)


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
