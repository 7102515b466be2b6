"""The ``*at`` syscalls' own checks (fs/namei.c, fs/open.c, fs/stat.c), before the
bodies they share with the path calls.

Each syscall with a directory fd checks its ``flags`` first (EINVAL), then copies the
name (``getname``; AT_EMPTY_PATH allows ""), and the walk's ``path_init`` looks at the
dirfd: EBADF if nothing is open there, ENOTDIR if it is not a directory and there is a
name to walk (see :func:`pinfs.fs.namei.dfd_start`).  An absolute name ignores the
dirfd entirely; AT_FDCWD means the cwd.  The path calls (``mkdir``, ``unlink``, ...)
are the same bodies with AT_FDCWD, as in the kernel.
"""

from __future__ import annotations

import errno
import stat

import attrs

from pinfs.base import uapi
from pinfs.base.cred import CAP_DAC_READ_SEARCH, Cred, capable, ns_capable
from pinfs.base.errors import kernel_error, refuse
from pinfs.fs.namei import (
    AT_FDCWD,
    Current,
    FileLookup,
    FsStruct,
    do_linkat,
    do_rmdir,
    do_unlinkat,
    getname,
    path_lookupat,
)
from pinfs.fs.open import do_fchownat
from pinfs.fs.permission import inode_permission
from pinfs.mountns import MNT_NOEXEC, MountNamespace
from pinfs.vfs import MAY_ACCESS, MAY_EXEC, KernelServices

AT_SYMLINK_NOFOLLOW = uapi.AT_SYMLINK_NOFOLLOW
AT_SYMLINK_FOLLOW = uapi.AT_SYMLINK_FOLLOW
AT_REMOVEDIR = uapi.AT_REMOVEDIR
AT_EACCESS = uapi.AT_EACCESS
AT_EMPTY_PATH = uapi.AT_EMPTY_PATH
S_IRWXO = 0o7
S_IWOTH = 0o2


def getname_uflags(name: str, flags: int) -> str:
    """``getname_uflags``: AT_EMPTY_PATH lets an empty name through (LOOKUP_EMPTY)."""
    if not name and flags & AT_EMPTY_PATH:
        return name
    return getname(name)


def _bad_flags(function: str, flags: int, known: int) -> None:
    if flags & ~known:
        check = "unknown flags {flags:#x}"
        raise refuse(errno.EINVAL, function, check, flags=flags & ~known)


def sys_unlinkat(current: Current, dfd: int, name: str, flags: int) -> None:
    """``unlinkat``: flags other than AT_REMOVEDIR are EINVAL; then ``do_rmdir`` or
    ``do_unlinkat``."""
    if flags & ~AT_REMOVEDIR:
        _bad_flags("unlinkat", flags, AT_REMOVEDIR)
    name = getname(name)
    if flags & AT_REMOVEDIR:
        do_rmdir(current, name, dfd)
    else:
        do_unlinkat(current, name, dfd)


def sys_linkat(
    current: Current, old_dfd: int, old: str, new_dfd: int, new: str, flags: int
) -> None:
    """``do_linkat``'s prologue: flags other than AT_SYMLINK_FOLLOW and AT_EMPTY_PATH
    are EINVAL; then AT_EMPTY_PATH's rule (:func:`may_linkat_empty`)."""
    _bad_flags("do_linkat", flags, AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)
    if flags & AT_EMPTY_PATH:
        may_linkat_empty(current, old_dfd, old)
    old = getname_uflags(old, flags)
    do_linkat(current, old, new, old_dfd, new_dfd, follow=bool(flags & AT_SYMLINK_FOLLOW))


def may_linkat_empty(current: Current, dfd: int, old: str) -> None:
    """AT_EMPTY_PATH in linkat ("flink"): up to v6.9 it needs CAP_DAC_READ_SEARCH
    (ENOENT); from v6.10 (``LOOKUP_LINKAT_EMPTY`` in ``path_init``) a relative name on a
    dirfd needs only that the fd was opened with the caller's very credentials, else
    CAP_DAC_READ_SEARCH in the opener's namespace (ENOENT).  A closed dirfd is left to
    the walk's EBADF."""
    if not current.kernel.profile.linkat_empty_path_opener:
        if not capable(current.cred, current.kernel.init_user_ns, CAP_DAC_READ_SEARCH):
            check = "AT_EMPTY_PATH without CAP_DAC_READ_SEARCH"
            raise refuse(errno.ENOENT, "do_linkat", check)
        return
    if dfd == AT_FDCWD or old.startswith("/"):
        return
    file = current.files.lookup(dfd) if dfd >= 0 else None
    if file is None or file.f_cred is current.cred:
        return
    opener_ns = file.f_cred.user_ns if file.f_cred is not None else current.kernel.init_user_ns
    if not ns_capable(current.cred, opener_ns, CAP_DAC_READ_SEARCH):
        check = "the fd was opened with other credentials, and no CAP_DAC_READ_SEARCH"
        raise refuse(errno.ENOENT, "path_init", check)


def sys_fchownat(current: Current, dfd: int, name: str, uid: int, gid: int, flags: int) -> None:
    """``do_fchownat``: flags other than AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH are
    EINVAL; then the lookup, EROFS and ``chown_common``."""
    _bad_flags("do_fchownat", flags, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)
    name = getname_uflags(name, flags)
    do_fchownat(current, name, uid, gid, dfd, follow=not flags & AT_SYMLINK_NOFOLLOW)


def access_override_creds(cred: Cred) -> Cred:
    """``access_override_creds``: check with the real ids; root's (by real uid)
    capabilities are its permitted set, everyone else has none."""
    root = cred.user_ns.make_kuid(0)
    effective = cred.cap_permitted if cred.uid == root else 0
    return attrs.evolve(cred, fsuid=cred.uid, fsgid=cred.gid, cap_effective=effective)


@attrs.frozen
class _AsCred:
    """``current`` with other credentials (``override_creds``)."""

    current: Current
    cred: Cred

    @property
    def fs(self) -> FsStruct:
        return self.current.fs

    @property
    def files(self) -> FileLookup:
        return self.current.files

    @property
    def mnt_ns(self) -> MountNamespace:
        return self.current.mnt_ns

    @property
    def kernel(self) -> KernelServices:
        return self.current.kernel


def do_faccessat(current: Current, dfd: int, name: str, mode: int, flags: int) -> None:
    """``do_faccessat``: EINVAL for a mode beyond rwx and for unknown flags; the
    walk and the check run with the real ids unless AT_EACCESS
    (``access_override_creds``); EACCES for exec on a regular file of a noexec mount;
    ``inode_permission(mode | MAY_ACCESS)``; EROFS for write on a read-only mount
    (not for special files)."""
    if mode & ~S_IRWXO:
        check = "mode {mode:#o} is not F_OK or a mix of R_OK, W_OK, X_OK"
        raise refuse(errno.EINVAL, "do_faccessat", check, mode=mode)
    _bad_flags("do_faccessat", flags, AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)
    name = getname_uflags(name, flags)
    cred = current.cred if flags & AT_EACCESS else access_override_creds(current.cred)
    as_cred: Current = _AsCred(current, cred)
    found = path_lookupat(as_cred, name, follow=not flags & AT_SYMLINK_NOFOLLOW, dfd=dfd)
    inode = found.dentry.d_inode
    assert inode is not None
    if mode & MAY_EXEC and stat.S_ISREG(inode.i_mode) and found.mnt.mnt_flags & MNT_NOEXEC:
        raise refuse(errno.EACCES, "do_faccessat", "exec on a noexec mount", path=name)
    err = inode_permission(cred, inode, mode | MAY_ACCESS)
    if err:
        raise kernel_error(err, name)
    if not mode & S_IWOTH or _special_file(inode.i_mode):
        return
    if found.mnt.read_only:
        raise refuse(errno.EROFS, "do_faccessat", "write access on a read-only mount", path=name)


def _special_file(mode: int) -> bool:
    """``special_file``: devices, fifos and sockets."""
    return stat.S_IFMT(mode) in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK)


__all__ = [
    "AT_FDCWD",
    "access_override_creds",
    "do_faccessat",
    "getname_uflags",
    "sys_fchownat",
    "sys_linkat",
    "sys_unlinkat",
]
