"""Tasks: a process's credentials, fs context, fd table, mount namespace and memory,
and the syscalls it can make (kernel/fork.c, kernel/exit.c, kernel/sys.c, fs/open.c,
fs/stat.c, fs/namespace.c entry points).

Every syscall method reads like the kernel's ``SYSCALL_DEFINE``: it validates its Python
arguments first (wrong types and values no C prototype can carry raise
``TypeError``/``ValueError`` and change nothing), enters the syscall, then calls the body
in the fs layer with itself as ``current`` (``pinfs.fs.namei`` for names,
``pinfs.fs.open``, ``pinfs.fs.stat``, ``pinfs.fs.statfs``, ``pinfs.fs.readdir``,
``pinfs.fs.d_path``), which runs the kernel's checks in order and raises
:class:`~pinfs.base.errors.KernelError` on failure.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

import attrs

from pinfs.base import cred as credmod
from pinfs.base import uapi
from pinfs.base.cstring import c_string
from pinfs.base.display import repr_mimebundle
from pinfs.base.errors import KernelError, as_os_reports, kernel_error
from pinfs.base.syscall import syscall
from pinfs.base.usermem import UserMemory
from pinfs.bpf import BpfSyscalls
from pinfs.ebpf.objects import BpfMap, BpfProg
from pinfs.fs.at import do_faccessat, getname_uflags, sys_fchownat, sys_linkat, sys_unlinkat
from pinfs.fs.attr import (
    Kstat,
    generic_fillattr,
)
from pinfs.fs.d_path import getcwd
from pinfs.fs.fdtable import FdTable, check_fd, fget, fput
from pinfs.fs.libfs import DirEntry, KStatFs
from pinfs.fs.namei import (
    FMODE_READ,
    FMODE_WRITE,
    FsStruct,
    PathArg,
    do_mkdirat,
    do_mknodat,
    do_renameat2,
    do_rmdir,
    do_symlinkat,
    do_unlinkat,
    fspath_arg,
    getname,
    path_arg,
)
from pinfs.fs.namespace import (
    copy_mnt_ns,
    current_chrooted,
    do_mount,
    do_pivot_root,
    ksys_chroot,
    ksys_fchdir,
    ksys_umount,
)
from pinfs.fs.open import (
    chmod_common,
    chown_common,
    do_chdir,
    do_fchmodat,
    do_sys_open,
    do_sys_openat2,
    do_sys_truncate,
)
from pinfs.fs.readdir import getdents64, iterate_dir
from pinfs.fs.stat import (
    Statx,
    check_stat_flags,
    check_statx_args,
    do_readlinkat,
    do_statx,
    statx_path,
    vfs_fstatat,
)
from pinfs.fs.statfs import user_statfs, vfs_statfs
from pinfs.machine.sysctl import SYSCTL_RANGES
from pinfs.mountns import (
    MountNamespace,
    path_put,
)
from pinfs.vfs import (
    File,
    Inode,
)

if TYPE_CHECKING:
    from pinfs.machine.kernel import Kernel

# Their home is pinfs.base.uapi; the names stay importable from here.
CLONE_FILES = uapi.CLONE_FILES
CLONE_FS = uapi.CLONE_FS
CLONE_NEWIPC = uapi.CLONE_NEWIPC
CLONE_NEWNET = uapi.CLONE_NEWNET
CLONE_NEWNS = uapi.CLONE_NEWNS
CLONE_NEWPID = uapi.CLONE_NEWPID
CLONE_NEWUSER = uapi.CLONE_NEWUSER
CLONE_NEWUTS = uapi.CLONE_NEWUTS
CLONE_SIGHAND = uapi.CLONE_SIGHAND
CLONE_SYSVSEM = uapi.CLONE_SYSVSEM
CLONE_THREAD = uapi.CLONE_THREAD
CLONE_VM = uapi.CLONE_VM
PR_SET_KEEPCAPS = uapi.PR_SET_KEEPCAPS
RLIM_INFINITY = uapi.RLIM_INFINITY
RLIMIT_MEMLOCK = uapi.RLIMIT_MEMLOCK
RLIMIT_NOFILE = uapi.RLIMIT_NOFILE
AT_FDCWD = uapi.AT_FDCWD
AT_EMPTY_PATH = uapi.AT_EMPTY_PATH
AT_REMOVEDIR = uapi.AT_REMOVEDIR
AT_SYMLINK_NOFOLLOW = uapi.AT_SYMLINK_NOFOLLOW
F_OK = uapi.F_OK
STATX_BASIC_STATS = uapi.STATX_BASIC_STATS

_UNSHARE_FLAGS = (
    CLONE_THREAD | CLONE_FS | CLONE_NEWNS | CLONE_SIGHAND | CLONE_VM | CLONE_FILES
    | CLONE_SYSVSEM | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUSER | CLONE_NEWPID
)  # fmt: skip

F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 1030
_FCNTL_MODELLED = frozenset({F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_DUPFD_CLOEXEC})
FD_CLOEXEC = 1
SEEK_MAX = 4  # SEEK_HOLE
#: init's limits at boot (the kernel's INIT_RLIMITS for the two pinfs models).
INIT_RLIMITS: dict[int, tuple[int, int]] = {
    RLIMIT_NOFILE: (1024, 4096),
    RLIMIT_MEMLOCK: (65536, 65536),
}
RLIM_NLIMITS = 16


class UtsName(NamedTuple):
    """``struct new_utsname`` (without ``domainname``), like :func:`os.uname`."""

    sysname: str
    nodename: str
    release: str
    version: str
    machine: str


def _int_arg(value: object, what: str, lo: int = -(1 << 63), hi: int = 1 << 64) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be int, not {type(value).__name__}")
    if not lo <= value < hi:
        raise ValueError(f"{what} out of range: {value}")
    return value


def _mode_arg(mode: object) -> int:
    return _int_arg(mode, "mode", 0, 1 << 32)


def _flags_arg(flags: object) -> int:
    """An ``int flags`` argument (the bits are the syscall's to judge)."""
    return _int_arg(flags, "flags", -(1 << 31), 1 << 32) & 0xFFFFFFFF


def _dirfd_arg(dirfd: object, what: str = "dirfd") -> int:
    """An ``int dfd`` argument: AT_FDCWD, or an fd (C ``int``: 2**32 - 1 is -1)."""
    value = _int_arg(dirfd, what, -(1 << 31), 1 << 32)
    return value - (1 << 32) if value >= 1 << 31 else value


PY_RLIM_INFINITY = uapi.RESOURCE_RLIM_INFINITY


def _rlim_arg(value: object, what: str) -> int:
    """An ``rlim_t``: 0 .. 2**64 - 1, or -1 for RLIM_INFINITY."""
    value = _int_arg(value, what, PY_RLIM_INFINITY, RLIM_INFINITY + 1)
    return RLIM_INFINITY if value == PY_RLIM_INFINITY else value


def _rlimit_pair(limits: object, hard: object) -> tuple[int, int]:
    """setrlimit's limits: a ``(soft, hard)`` pair, or the soft limit then ``hard``."""
    if hard is not None:
        return _rlim_arg(limits, "soft"), _rlim_arg(hard, "hard")
    if not isinstance(limits, (tuple, list)):
        kind = type(limits).__name__
        raise TypeError(f"limits must be a (soft, hard) pair, or give soft and hard; not {kind}")
    if len(limits) != 2:
        raise ValueError(f"limits must be a (soft, hard) pair, not {len(limits)} values")
    return _rlim_arg(limits[0], "soft"), _rlim_arg(limits[1], "hard")


def _rlim_to_python(value: int) -> int:
    return PY_RLIM_INFINITY if value == RLIM_INFINITY else value


@attrs.define(eq=False, repr=False)
class Task(BpfSyscalls):
    """``struct task_struct``: one process (its syscalls are its methods)."""

    kernel: Kernel
    pid: int
    cred: credmod.Cred
    fs: FsStruct
    files: FdTable
    mnt_ns: MountNamespace
    mem: UserMemory = attrs.field(factory=UserMemory)
    rlimits: dict[int, tuple[int, int]] = attrs.field(factory=dict)
    alive: bool = True
    exit_status: int | None = None

    def __repr__(self) -> str:
        state = "" if self.alive else " exited"
        return f"<Task pid={self.pid} uid={self.cred.uid}{state}>"

    def __enter__(self) -> Task:
        """``with kernel.spawn(uid=1000) as task:``: the task exits (``exit(0)``: its
        fds are closed, its cwd and mount namespace let go) when the block is left,
        however it is left, unless it has exited already.  Exceptions propagate.  init
        may not exit, so it is no context manager (ValueError)."""
        if self.pid == 1:
            raise ValueError("init (pid 1) may not exit, so it cannot be used in a with block")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.alive:
            self.exit(0)

    # -- plumbing ---------------------------------------------------------------------

    _repr_mimebundle_ = repr_mimebundle

    def _enter(self) -> None:
        """Every syscall's entry: an exited task has no syscalls left (ESRCH, the errno
        of a pid that is gone), otherwise the clock moves on.  (:meth:`_enter_path`
        does the same inline: keep them in step.)"""
        if not self.alive:
            raise kernel_error(errno.ESRCH)
        self.kernel.tick()
        self.kernel._current = self

    def _enter_path(self, path: object) -> str:
        """The common prologue of a path syscall: the Python value is checked
        (``path_arg``), the syscall is entered, then the kernel's ``getname``.  Every
        path syscall runs it, so it tests the common case inline: a plain ASCII str
        without NUL is ``path_arg``'s answer as it is, and :meth:`_enter`'s steps
        are written out (keep the two in step)."""
        if type(path) is str and path.isascii() and "\0" not in path:
            name = path
        else:
            name = path_arg(path)
        if not self.alive:
            raise kernel_error(errno.ESRCH)
        kernel = self.kernel
        kernel.tick()
        kernel._current = self
        return getname(name)

    def rlimit(self, resource: int) -> int:
        """The soft limit of ``resource`` (``rlimit()``): RLIM_INFINITY unless set."""
        if type(resource) is not int or not 0 <= resource < RLIM_NLIMITS:
            resource = _int_arg(resource, "resource", 0, RLIM_NLIMITS)
        limits = self.rlimits.get(resource)
        return RLIM_INFINITY if limits is None else limits[0]

    def _install_fd(self, file: File, cloexec: bool) -> int:
        """``fd_install`` of a new file; EMFILE drops the file again."""
        if not isinstance(file, File):
            raise TypeError(f"file must be a File, not {type(file).__name__}")
        if not self.alive:
            raise kernel_error(errno.ESRCH)
        return self.files.install(file, cloexec, self.rlimit(RLIMIT_NOFILE))

    def fd_map(self, fd: int) -> BpfMap:
        """The map behind ``fd``, typed (introspection; ValueError for a program)."""
        obj = self.fd_object(fd)
        if not isinstance(obj, BpfMap):
            raise ValueError(f"fd {fd} is a bpf program, not a map")
        return obj

    def fd_prog(self, fd: int) -> BpfProg:
        """The program behind ``fd``, typed (introspection; ValueError for a map)."""
        obj = self.fd_object(fd)
        if not isinstance(obj, BpfProg):
            raise ValueError(f"fd {fd} is a bpf map, not a program")
        return obj

    def fd_file(self, fd: int) -> File:
        """The open file behind ``fd`` (introspection; no syscall)."""
        file = self.files.lookup(check_fd(fd))
        if file is None:
            raise kernel_error(errno.EBADF)
        return file

    # -- files and directories --------------------------------------------------------
    #
    # Each path call is its *at form with AT_FDCWD, as in the kernel (``sys_mkdir`` is
    # ``do_mkdirat(AT_FDCWD, ...)``).  A failure names the path(s) the way :mod:`os`
    # does for the same call: the argument as :func:`os.fspath` gives it.

    # The hot ones (mkdir, rmdir, unlink, open, close) run their body themselves, as
    # the kernel's do, rather than through their *at forms' helpers.

    @syscall
    def mkdir(self, path: PathArg, mode: int = 0o777) -> None:
        """mkdir(2): ``do_mkdirat(AT_FDCWD, getname(path), mode)``."""
        if type(mode) is not int or not 0 <= mode < 1 << 32:
            mode = _mode_arg(mode)  # the refusal (an int subclass passes there too)
        try:
            do_mkdirat(self, self._enter_path(path), mode, AT_FDCWD)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def mkdirat(self, dirfd: int, path: PathArg, mode: int = 0o777) -> None:
        """mkdirat(2): ``path`` relative to the directory open at ``dirfd``."""
        self._mkdirat(_dirfd_arg(dirfd), path, mode)

    def _mkdirat(self, dfd: int, path: PathArg, mode: int) -> None:
        mode = _mode_arg(mode)
        try:
            name = self._enter_path(path)
            do_mkdirat(self, name, mode, dfd)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def rmdir(self, path: PathArg) -> None:
        """rmdir(2): ``do_rmdir(AT_FDCWD, getname(path))`` (unlinkat's AT_REMOVEDIR)."""
        try:
            do_rmdir(self, self._enter_path(path), AT_FDCWD)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def unlink(self, path: PathArg) -> None:
        """unlink(2): ``do_unlinkat(AT_FDCWD, getname(path))`` (unlinkat's 0)."""
        try:
            do_unlinkat(self, self._enter_path(path), AT_FDCWD)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def unlinkat(self, dirfd: int, path: PathArg, flags: int = 0) -> None:
        """unlinkat(2): AT_REMOVEDIR removes a directory (``do_rmdir``); other flags
        are EINVAL (before the name is looked at)."""
        self._unlinkat(_dirfd_arg(dirfd), path, _flags_arg(flags))

    def _unlinkat(self, dfd: int, path: PathArg, flags: int) -> None:
        name = path_arg(path)
        try:
            self._enter()
            sys_unlinkat(self, dfd, name, flags)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def rename(self, old: PathArg, new: PathArg, flags: int = 0) -> None:
        """renameat2(2) with AT_FDCWD for both names."""
        self._renameat2(AT_FDCWD, old, AT_FDCWD, new, flags)

    @syscall
    def renameat(self, olddirfd: int, old: PathArg, newdirfd: int, new: PathArg) -> None:
        """renameat(2): renameat2 with no flags."""
        self._renameat2(
            _dirfd_arg(olddirfd, "olddirfd"), old, _dirfd_arg(newdirfd, "newdirfd"), new, 0
        )

    @syscall
    def renameat2(
        self, olddirfd: int, old: PathArg, newdirfd: int, new: PathArg, flags: int = 0
    ) -> None:
        """renameat2(2): RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT as the
        profile's filesystems allow; the old name's walk (and its dirfd) comes first."""
        olddfd = _dirfd_arg(olddirfd, "olddirfd")
        self._renameat2(olddfd, old, _dirfd_arg(newdirfd, "newdirfd"), new, flags)

    def _renameat2(self, olddfd: int, old: PathArg, newdfd: int, new: PathArg, flags: int) -> None:
        flags = _int_arg(flags, "flags", 0, 1 << 32)
        old_name, new_name = path_arg(old, "old"), path_arg(new, "new")
        try:
            self._enter()
            do_renameat2(self, old_name, new_name, flags, olddfd, newdfd)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(old, "old"), fspath_arg(new, "new")) from None

    @syscall
    def link(self, old: PathArg, new: PathArg) -> None:
        """link(2): the old name's final symlink is not followed."""
        self._linkat(AT_FDCWD, old, AT_FDCWD, new, 0)

    @syscall
    def linkat(
        self, olddirfd: int, old: PathArg, newdirfd: int, new: PathArg, flags: int = 0
    ) -> None:
        """linkat(2): AT_SYMLINK_FOLLOW follows the old name's final symlink;
        AT_EMPTY_PATH links the file open at ``olddirfd`` (CAP_DAC_READ_SEARCH, as up
        to v6.9); other flags are EINVAL."""
        olddfd = _dirfd_arg(olddirfd, "olddirfd")
        self._linkat(olddfd, old, _dirfd_arg(newdirfd, "newdirfd"), new, _flags_arg(flags))

    def _linkat(self, olddfd: int, old: PathArg, newdfd: int, new: PathArg, flags: int) -> None:
        old_name, new_name = path_arg(old, "old"), path_arg(new, "new")
        try:
            self._enter()
            sys_linkat(self, olddfd, old_name, newdfd, new_name, flags)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(old, "old"), fspath_arg(new, "new")) from None

    @syscall
    def symlink(self, target: PathArg, linkpath: PathArg) -> None:
        """symlink(2)."""
        self._symlinkat(target, AT_FDCWD, linkpath)

    @syscall
    def symlinkat(self, target: PathArg, newdirfd: int, linkpath: PathArg) -> None:
        """symlinkat(2): ``linkpath`` relative to ``newdirfd``."""
        self._symlinkat(target, _dirfd_arg(newdirfd, "newdirfd"), linkpath)

    def _symlinkat(self, target: PathArg, dfd: int, linkpath: PathArg) -> None:
        body, name = path_arg(target, "target"), path_arg(linkpath, "linkpath")
        try:
            self._enter()
            getname(body)
            getname(name)
            do_symlinkat(self, body, name, dfd)
        except KernelError as exc:
            target_path, link_path = fspath_arg(target, "target"), fspath_arg(linkpath, "linkpath")
            raise as_os_reports(exc, target_path, link_path) from None

    @syscall
    def readlink(self, path: PathArg) -> str:
        """readlink(2): EINVAL if not a symlink."""
        return self._readlinkat(AT_FDCWD, path)

    @syscall
    def readlinkat(self, dirfd: int, path: PathArg) -> str:
        """readlinkat(2): an empty ``path`` reads the symlink open (O_PATH|O_NOFOLLOW)
        at ``dirfd``, ENOENT if that is not a symlink."""
        return self._readlinkat(_dirfd_arg(dirfd), path)

    def _readlinkat(self, dfd: int, path: PathArg) -> str:
        name = path_arg(path)
        try:
            self._enter()
            return do_readlinkat(self, getname_uflags(name, AT_EMPTY_PATH), dfd)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def mknod(self, path: PathArg, mode: int, dev: int = 0) -> None:
        """mknod(2)."""
        self._mknodat(AT_FDCWD, path, mode, dev)

    @syscall
    def mknodat(self, dirfd: int, path: PathArg, mode: int, dev: int = 0) -> None:
        """mknodat(2)."""
        self._mknodat(_dirfd_arg(dirfd), path, mode, dev)

    def _mknodat(self, dfd: int, path: PathArg, mode: int, dev: int) -> None:
        mode = _mode_arg(mode)
        dev = _int_arg(dev, "dev", 0, 1 << 32)
        name = path_arg(path)
        try:
            self._enter()
            do_mknodat(self, name, mode, dev, dfd)  # may_mknod comes before getname
        except KernelError as exc:
            # os.mknod names no path in its errors (CPython's posix_error()): nor does this
            raise kernel_error(exc.errno or 0, None, exc.refusal) from None

    @syscall
    def open(self, path: PathArg, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
        """open(2): ``do_sys_open(AT_FDCWD, ...)``, the lowest free fd.  O_CLOEXEC sets
        close-on-exec."""
        if type(flags) is not int or not -(1 << 31) <= flags < 1 << 32:
            flags = _int_arg(flags, "flags", -(1 << 31), 1 << 32)
        if type(mode) is not int or not 0 <= mode < 1 << 32:
            mode = _mode_arg(mode)
        name = path if type(path) is str and path.isascii() and "\0" not in path else path_arg(path)
        try:
            self._enter()
            return do_sys_open(self, name, flags, mode, AT_FDCWD)  # it runs getname
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def openat(self, dirfd: int, path: PathArg, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
        """openat(2): ``path`` relative to the directory open at ``dirfd`` (an O_PATH
        fd will do)."""
        return self._openat(_dirfd_arg(dirfd), path, flags, mode)

    @syscall
    def openat2(
        self, dirfd: int, path: PathArg, flags: int = os.O_RDONLY, mode: int = 0, resolve: int = 0
    ) -> int:
        """openat2(2) (v5.6) with ``struct open_how`` as three arguments: unknown
        flags, a mode without O_CREAT and unknown ``resolve`` bits are EINVAL;
        RESOLVE_NO_SYMLINKS/NO_MAGICLINKS (ELOOP), NO_XDEV, BENEATH (EXDEV), IN_ROOT
        (the dirfd is the root) restrict the walk; ENOSYS before v5.6."""
        dfd = _dirfd_arg(dirfd)
        flags = _int_arg(flags, "flags", 0, 1 << 64)
        mode = _int_arg(mode, "mode", 0, 1 << 64)
        resolve = _int_arg(resolve, "resolve", 0, 1 << 64)
        name = path_arg(path)
        try:
            self._enter()
            if not self.kernel.profile.openat2:
                raise kernel_error(errno.ENOSYS)
            return do_sys_openat2(self, dfd, name, flags, mode, resolve)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    def _openat(self, dfd: int, path: PathArg, flags: int, mode: int) -> int:
        flags = _int_arg(flags, "flags", -(1 << 31), 1 << 32)
        mode = _mode_arg(mode)
        name = path_arg(path)
        try:
            self._enter()
            return do_sys_open(self, name, flags, mode, dfd)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def close(self, fd: int) -> None:
        """close(2)."""
        if type(fd) is not int or not -(1 << 31) <= fd < 1 << 32:
            check_fd(fd)  # the refusal (an int subclass passes there too)
        self._enter()
        fput(self.files.remove(fd))

    @syscall
    def dup(self, fd: int) -> int:
        """dup(2): the same file at the lowest free fd, without close-on-exec."""
        check_fd(fd)
        self._enter()
        file = self.files.fdget(fd, allow_path=True)
        return self.files.install(fget(file), False, self.rlimit(RLIMIT_NOFILE))

    @syscall
    def dup2(self, oldfd: int, newfd: int) -> int:
        """dup2(2): the same fd is checked and returned; otherwise dup3 with no flags."""
        check_fd(oldfd)
        check_fd(newfd)
        if oldfd == newfd:
            self._enter()
            if self.files.lookup(oldfd & 0xFFFFFFFF) is None:
                raise kernel_error(errno.EBADF)
            return oldfd
        return self._dup3(oldfd, newfd, 0)

    @syscall
    def dup3(self, oldfd: int, newfd: int, flags: int = 0) -> int:
        """dup3(2): EINVAL for flags other than O_CLOEXEC or the same fd, EBADF for
        a new fd at or past RLIMIT_NOFILE or an old fd not open; a file open at the
        new fd is closed."""
        check_fd(oldfd)
        check_fd(newfd)
        flags = _int_arg(flags, "flags", -(1 << 31), 1 << 32)
        return self._dup3(oldfd, newfd, flags)

    def _dup3(self, oldfd: int, newfd: int, flags: int) -> int:
        """``ksys_dup3`` + ``do_dup2`` (fds are ``unsigned int``)."""
        self._enter()
        oldfd, newfd = oldfd & 0xFFFFFFFF, newfd & 0xFFFFFFFF
        if flags & ~os.O_CLOEXEC:
            raise kernel_error(errno.EINVAL)
        if oldfd == newfd:
            raise kernel_error(errno.EINVAL)
        if newfd >= self.rlimit(RLIMIT_NOFILE):
            raise kernel_error(errno.EBADF)
        file = self.files.lookup(oldfd)
        if file is None:
            raise kernel_error(errno.EBADF)
        old = self.files.install_at(newfd, fget(file), bool(flags & os.O_CLOEXEC))
        if old is not None:
            fput(old)  # filp_close
        return newfd

    @syscall
    def fcntl(self, fd: int, cmd: int, arg: int = 0) -> int:
        """fcntl(2): F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL (other
        commands are not modelled: ValueError).  EBADF if not open (O_PATH files
        allow these five), EINVAL for a F_DUPFD start at or past RLIMIT_NOFILE."""
        check_fd(fd)
        cmd = _int_arg(cmd, "cmd", -(1 << 31), 1 << 32)
        arg = _int_arg(arg, "arg", -(1 << 63), 1 << 64)
        if cmd & 0xFFFFFFFF not in _FCNTL_MODELLED:
            raise ValueError(f"fcntl command {cmd} is not modelled")
        self._enter()
        fd &= 0xFFFFFFFF
        file = self.files.fdget(fd, allow_path=True)  # fdget_raw; check_fcntl_cmd passes
        cmd &= 0xFFFFFFFF
        if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
            start = arg & 0xFFFFFFFF  # f_dupfd(unsigned int from, ...)
            nofile = self.rlimit(RLIMIT_NOFILE)
            if start >= nofile:
                raise kernel_error(errno.EINVAL)
            return self.files.alloc_fd_from(start, fget(file), cmd == F_DUPFD_CLOEXEC, nofile)
        if cmd == F_GETFD:
            return FD_CLOEXEC if fd in self.files.cloexec else 0
        if cmd == F_SETFD:
            if arg & FD_CLOEXEC:
                self.files.cloexec.add(fd)
            else:
                self.files.cloexec.discard(fd)
            return 0
        return file.f_flags  # F_GETFL

    @syscall
    def lseek(self, fd: int, offset: int, whence: int = os.SEEK_SET) -> int:
        """lseek(2): EBADF if not open (O_PATH too), EINVAL for a whence past
        SEEK_HOLE, ESPIPE for files without ``->llseek`` (pipes, bpf objects), then
        the file's own rules."""
        check_fd(fd)
        offset = _int_arg(offset, "offset", -(1 << 63), 1 << 63)
        whence = _int_arg(whence, "whence", 0, 1 << 32)
        self._enter()
        file = self.files.fdget(fd & 0xFFFFFFFF)
        if whence > SEEK_MAX:
            raise kernel_error(errno.EINVAL)
        if file.f_op is None or file.f_op.llseek is None:
            raise kernel_error(errno.ESPIPE)
        return file.f_op.llseek(file, offset, whence)

    @syscall
    def stat(self, path: PathArg) -> Kstat:
        """stat(2): newfstatat(AT_FDCWD, path, 0)."""
        return self._fstatat(AT_FDCWD, path, 0)

    @syscall
    def lstat(self, path: PathArg) -> Kstat:
        """lstat(2): newfstatat(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW)."""
        return self._fstatat(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW)

    @syscall
    def fstatat(self, dirfd: int, path: PathArg, flags: int = 0) -> Kstat:
        """newfstatat(2): AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH (``path`` "" is the file
        open at ``dirfd``, any kind, O_PATH too), AT_NO_AUTOMOUNT; others EINVAL."""
        return self._fstatat(_dirfd_arg(dirfd), path, _flags_arg(flags))

    def _fstatat(self, dfd: int, path: PathArg, flags: int) -> Kstat:
        name = path_arg(path)
        try:
            self._enter()
            name = getname_uflags(name, flags)
            if self._empty_path_fd(dfd, name, flags):
                if not self.kernel.profile.empty_path_is_fstat:
                    check_stat_flags(flags)
                return generic_fillattr(self._fd_inode(dfd), self.cred)  # vfs_fstat
            return vfs_fstatat(self, name, not flags & AT_SYMLINK_NOFOLLOW, dfd, flags)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    def _empty_path_fd(self, dfd: int, name: str, flags: int) -> bool:
        """Whether a stat call of "" with AT_EMPTY_PATH is the fstat of ``dfd``: from
        v6.11 for any fd (``vfs_empty_path``); before, the walk lands on the fd's
        path, the same inode (a bpf object fd has no path in pinfs, so it is taken
        here too: the kernel's is on anon_inodefs)."""
        if name or not flags & AT_EMPTY_PATH or dfd < 0:
            return False
        if self.kernel.profile.empty_path_is_fstat:
            return True
        file = self.files.lookup(dfd)
        return file is not None and file.f_path is None

    def _fd_inode(self, fd: int) -> Inode:
        """``fdget_raw`` (EBADF) and the file's inode (a bpf object's anon inode)."""
        file = self.files.fdget(fd, allow_path=True)
        return file.f_inode if file.f_inode is not None else self.kernel.anon_inode

    @syscall
    def statx(
        self, dirfd: int, path: PathArg, flags: int = 0, mask: int = STATX_BASIC_STATS
    ) -> Statx:
        """statx(2) (v4.11): ``struct statx`` with ``stx_mask`` saying what was filled
        (tmpfs adds the birth time when asked; v5.8 adds the mount id).  EINVAL for
        reserved mask bits, both sync flags, or unknown flags; ENOSYS before v4.11."""
        dfd = _dirfd_arg(dirfd)
        flags = _flags_arg(flags)
        mask = _int_arg(mask, "mask", 0, 1 << 32)
        name = path_arg(path)
        try:
            self._enter()
            if not self.kernel.profile.statx:
                raise kernel_error(errno.ENOSYS)
            name = getname_uflags(name, flags)
            if self._empty_path_fd(dfd, name, flags):  # do_statx_fd
                check_statx_args(flags, mask, self.kernel.profile.empty_path_is_fstat)
                file = self.files.fdget(dfd, allow_path=True)
                anon_mnt = self.kernel.anon_inode_mnt.mnt_id
                return statx_path(self, file.f_path, mask, self._fd_inode(dfd), anon_mnt)
            return do_statx(self, name, dfd, flags, mask)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def fstat(self, fd: int) -> Kstat:
        """fstat(2) (O_PATH fds allowed)."""
        check_fd(fd)
        self._enter()
        file = self.files.fdget(fd, allow_path=True)
        inode = file.f_inode if file.f_inode is not None else self.kernel.anon_inode
        return generic_fillattr(inode, self.cred)

    @syscall
    def statfs(self, path: PathArg) -> KStatFs:
        """statfs(2)."""
        try:
            name = self._enter_path(path)
            return user_statfs(self, name)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def fstatfs(self, fd: int) -> KStatFs:
        """fstatfs(2) (``fd_statfs``: O_PATH fds allowed; a bpf object fd is on
        anon_inodefs)."""
        check_fd(fd)
        self._enter()
        file = self.files.fdget(fd & 0xFFFFFFFF, allow_path=True)
        if file.f_path is None:
            return KStatFs(f_type=self.kernel.anon_inode.i_sb.s_magic, f_bsize=4096)
        return vfs_statfs(file.f_path)

    @syscall
    def getdents(self, fd: int) -> list[DirEntry]:
        """getdents64(2) with a buffer big enough for every remaining entry (then [])."""
        check_fd(fd)
        self._enter()
        return iterate_dir(self.files.fdget(fd))

    @syscall
    def getdents64(self, fd: int, count: int) -> bytes:
        """getdents64(2) into a ``count``-byte buffer: the ``linux_dirent64`` records
        that fit (parse them with :func:`pinfs.fs.readdir.parse_dirents`), from the
        file position on; EINVAL if not even one fits; b"" at the end; lseek(fd, 0)
        starts again."""
        check_fd(fd)
        count = _int_arg(count, "count", 0, 1 << 32)
        self._enter()
        return getdents64(self.files.fdget(fd & 0xFFFFFFFF), count)

    @syscall
    def read(self, fd: int, count: int) -> bytes:
        """read(2) (``vfs_read``): EBADF unless open for reading, EISDIR for a
        directory (``generic_read_dir``), EINVAL for a file without ``->read``."""
        check_fd(fd)
        count = _int_arg(count, "count", 0, 1 << 64)
        self._enter()
        file = self.files.fdget(fd)
        if not file.f_mode & FMODE_READ:
            raise kernel_error(errno.EBADF)
        if file.f_op is None or file.f_op.read is None:
            if file.f_inode is not None and file.f_inode.is_dir:
                raise kernel_error(errno.EISDIR)
            raise kernel_error(errno.EINVAL)
        data: bytes = file.f_op.read(file, min(count, 0x7FFFF000))  # MAX_RW_COUNT
        return data

    @syscall
    def write(self, fd: int, data: bytes) -> int:
        """write(2) (``vfs_write``): EBADF unless open for writing, EINVAL for a file
        without ``->write``; returns the bytes taken."""
        check_fd(fd)
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        self._enter()
        file = self.files.fdget(fd)
        if not file.f_mode & FMODE_WRITE:
            raise kernel_error(errno.EBADF)
        if file.f_op is None or file.f_op.write is None:
            raise kernel_error(errno.EINVAL)
        return file.f_op.write(file, bytes(data))

    @syscall
    def listdir(self, path: PathArg = ".") -> list[str]:
        """open(O_RDONLY|O_DIRECTORY) + getdents + close: names in getdents order,
        without "." and ".." (like :func:`os.listdir`)."""
        fd = self.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return [e.d_name for e in self.getdents(fd) if e.d_name not in (".", "..")]
        finally:
            self.close(fd)

    @syscall
    def access(self, path: PathArg, mode: int = F_OK) -> None:
        """access(2): faccessat(AT_FDCWD, path, mode) -- raises instead of returning
        False (see :func:`os.access`)."""
        self._faccessat(AT_FDCWD, path, mode, 0)

    @syscall
    def faccessat(self, dirfd: int, path: PathArg, mode: int = F_OK) -> None:
        """faccessat(2): with the real uid and gid (no flags argument)."""
        self._faccessat(_dirfd_arg(dirfd), path, mode, 0)

    @syscall
    def faccessat2(self, dirfd: int, path: PathArg, mode: int = F_OK, flags: int = 0) -> None:
        """faccessat2(2) (v5.8): AT_EACCESS checks with the effective ids,
        AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH; ENOSYS before v5.8."""
        dfd, flags = _dirfd_arg(dirfd), _flags_arg(flags)
        if not self.kernel.profile.faccessat2:
            filename = fspath_arg(path)
            self._enter()
            raise as_os_reports(kernel_error(errno.ENOSYS), filename)
        self._faccessat(dfd, path, mode, flags)

    def _faccessat(self, dfd: int, path: PathArg, mode: int, flags: int) -> None:
        mode = _int_arg(mode, "mode", -(1 << 31), 1 << 32)
        name = path_arg(path)
        try:
            self._enter()
            do_faccessat(self, dfd, name, mode, flags)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def chmod(self, path: PathArg, mode: int) -> None:
        """chmod(2): fchmodat(AT_FDCWD, path, mode)."""
        self._fchmodat(AT_FDCWD, path, mode)

    @syscall
    def fchmodat(self, dirfd: int, path: PathArg, mode: int) -> None:
        """fchmodat(2) (no flags: the final symlink is followed)."""
        self._fchmodat(_dirfd_arg(dirfd), path, mode)

    def _fchmodat(self, dfd: int, path: PathArg, mode: int) -> None:
        mode = _mode_arg(mode)
        try:
            name = self._enter_path(path)
            do_fchmodat(self, name, mode, dfd)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def fchmod(self, fd: int, mode: int) -> None:
        """fchmod(2): EBADF for an O_PATH fd, then ``chmod_common``."""
        check_fd(fd)
        mode = _mode_arg(mode)
        self._enter()
        file = self.files.fdget(fd & 0xFFFFFFFF)
        chmod_common(self, file.f_path, mode, None, file.f_inode or self.kernel.anon_inode)

    @syscall
    def chown(self, path: PathArg, uid: int, gid: int) -> None:
        """chown(2); -1 leaves an id unchanged."""
        self._fchownat(AT_FDCWD, path, uid, gid, 0)

    @syscall
    def lchown(self, path: PathArg, uid: int, gid: int) -> None:
        """lchown(2): fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW)."""
        self._fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW)

    @syscall
    def fchownat(self, dirfd: int, path: PathArg, uid: int, gid: int, flags: int = 0) -> None:
        """fchownat(2): AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH; other flags EINVAL."""
        self._fchownat(_dirfd_arg(dirfd), path, uid, gid, _flags_arg(flags))

    def _fchownat(self, dfd: int, path: PathArg, uid: int, gid: int, flags: int) -> None:
        uid = _int_arg(uid, "uid", -1, 1 << 32)
        gid = _int_arg(gid, "gid", -1, 1 << 32)
        name = path_arg(path)
        try:
            self._enter()
            sys_fchownat(self, dfd, name, uid, gid, flags)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def fchown(self, fd: int, uid: int, gid: int) -> None:
        """fchown(2): EBADF for an O_PATH fd, EROFS, then ``chown_common``."""
        check_fd(fd)
        uid = _int_arg(uid, "uid", -1, 1 << 32)
        gid = _int_arg(gid, "gid", -1, 1 << 32)
        self._enter()
        file = self.files.fdget(fd & 0xFFFFFFFF)
        inode = file.f_inode or self.kernel.anon_inode
        chown_common(self, file.f_path, uid, gid, None, inode)

    @syscall
    def truncate(self, path: PathArg, length: int) -> None:
        """truncate(2): only the size changes (contents are not modelled)."""
        length = _int_arg(length, "length", -(1 << 63), 1 << 63)  # loff_t
        name = path_arg(path)
        try:
            self._enter()
            do_sys_truncate(self, name, length)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def chdir(self, path: PathArg) -> None:
        """chdir(2): a directory we may search."""
        try:
            name = self._enter_path(path)
            do_chdir(self, name)
        except KernelError as exc:
            raise as_os_reports(exc, fspath_arg(path)) from None

    @syscall
    def getcwd(self) -> str:
        """getcwd(2): ENOENT if the cwd was removed."""
        self._enter()
        return getcwd(self.fs)

    @syscall
    def umask(self, mask: int) -> int:
        """umask(2): returns the old mask."""
        mask = _int_arg(mask, "mask", 0, 1 << 32)
        self._enter()
        old, self.fs.umask = self.fs.umask, mask & 0o777
        return old

    # -- mounts and namespaces --------------------------------------------------------

    @syscall
    def mount(
        self,
        source: PathArg | None,
        target: PathArg,
        fstype: str | bytes | None,
        flags: int = 0,
        data: str | bytes | None = None,
    ) -> None:
        """mount(2): new mounts, bind mounts (MS_BIND) and remounts (MS_REMOUNT)."""
        flags = _int_arg(flags, "flags", 0, 1 << 64)
        type_name = None if fstype is None else c_string(fstype, "fstype")
        dir_name = path_arg(target, "target")
        dev_name = None if source is None else path_arg(source, "source")
        options = None if data is None else c_string(data, "data")
        self._enter()
        do_mount(self, dev_name, dir_name, type_name, flags, options)

    @syscall
    def umount(self, target: PathArg, flags: int = 0) -> None:
        """umount2(2)."""
        flags = _int_arg(flags, "flags", 0, 1 << 32)
        name = path_arg(target, "target")
        self._enter()
        ksys_umount(self, name, flags)

    @syscall
    def chroot(self, path: PathArg) -> None:
        """chroot(2): ENOENT/ENOTDIR, EACCES without search permission, EPERM without
        CAP_SYS_CHROOT in our user namespace; the cwd stays."""
        name = self._enter_path(path)
        ksys_chroot(self, name)

    @syscall
    def fchdir(self, fd: int) -> None:
        """fchdir(2): EBADF, ENOTDIR, EACCES without search permission."""
        fd = _int_arg(fd, "fd")
        self._enter()
        ksys_fchdir(self, self.files.fdget(fd, allow_path=True))

    @syscall
    def pivot_root(self, new_root: PathArg, put_old: PathArg) -> None:
        """pivot_root(2): the root mount moves to ``put_old``, ``new_root`` becomes the
        root (``do_pivot_root`` lists the checks in their order)."""
        new_name = path_arg(new_root, "new_root")
        old_name = path_arg(put_old, "put_old")
        self._enter()
        do_pivot_root(self, new_name, old_name)

    @syscall
    def unshare(self, flags: int) -> None:
        """unshare(2) (``ksys_unshare``): CLONE_NEWNS copies the mount tree (same
        superblocks); CLONE_NEWUSER makes a user namespace owned by us, where we have
        every capability.  Other namespace kinds are accepted and not modelled.
        Everything new is made first; the credentials and the namespace are switched
        only once nothing can fail."""
        flags = _int_arg(flags, "flags", 0, 1 << 64)
        self._enter()
        if flags & ~_UNSHARE_FLAGS:
            raise kernel_error(errno.EINVAL)
        new_cred = self.cred
        if flags & CLONE_NEWUSER:  # unshare_userns
            new_cred = self.kernel.create_user_ns(self.cred, chrooted=current_chrooted(self))
        namespaces = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID
        if flags & namespaces and not credmod.ns_capable(
            new_cred, new_cred.user_ns, credmod.CAP_SYS_ADMIN
        ):
            raise kernel_error(errno.EPERM)  # unshare_nsproxy_namespaces
        new_ns = copy_mnt_ns(self, new_cred.user_ns) if flags & CLONE_NEWNS else None
        self.cred = new_cred  # commit_creds
        if new_ns is not None:  # switch_task_namespaces
            old_ns, self.mnt_ns = self.mnt_ns, new_ns
            self.kernel.put_mnt_ns(old_ns)

    # -- processes ----------------------------------------------------------------------

    @syscall
    def fork(self) -> Task:
        """fork(2): a child sharing our open files (not the fd table), with copies of
        our fs context and memory, in our mount namespace."""
        self._enter()
        child = Task(
            kernel=self.kernel,
            pid=self.kernel.next_pid(),
            cred=attrs.evolve(self.cred),  # copy_creds: a new struct cred, equal values
            fs=self.fs.copy(),
            files=self.files.copy(),
            mnt_ns=self.mnt_ns,
            mem=self.mem.copy(),
            rlimits=dict(self.rlimits),
        )
        self.mnt_ns.count += 1
        self.kernel.tasks[child.pid] = child
        return child

    @syscall
    def exit(self, status: int = 0) -> None:
        """exit(2): close every fd, drop the fs context and the mount namespace."""
        status = _int_arg(status, "status")
        if self.pid == 1:  # Linux would panic: "Attempted to kill init!"
            raise ValueError("init (pid 1) may not exit: the kernel would panic")
        self._enter()
        for fd in self.files.open_fds():
            fput(self.files.remove(fd))
        path_put(self.fs.root)
        path_put(self.fs.pwd)
        self.alive = False
        self.exit_status = status & 0xFF
        del self.kernel.tasks[self.pid]
        self.kernel.put_mnt_ns(self.mnt_ns)

    @syscall
    def execve(self) -> None:
        """execve(2)'s effect on kernel state: close-on-exec fds are closed, and the
        capabilities are recomputed for a binary with no file capabilities."""
        self._enter()
        for fd in sorted(self.files.cloexec):
            fput(self.files.remove(fd))
        c = self.cred
        root = c.user_ns.make_kuid(0)
        if root in (c.uid, c.euid):
            permitted = c.cap_bset
            effective = permitted if c.euid == root else 0
        else:
            permitted = effective = 0
        self.cred = attrs.evolve(
            c, cap_permitted=permitted, cap_effective=effective, keep_caps=False, suid=c.euid,
            fsuid=c.euid, sgid=c.egid, fsgid=c.egid,
        )  # fmt: skip

    @syscall
    def getpid(self) -> int:
        """getpid(2): the task's pid (pid namespaces are not modelled)."""
        self._enter()
        return self.pid

    @syscall
    def uname(self) -> UtsName:
        """uname(2): ``release`` is the profile's, so version-deciding loaders see the
        kernel pinfs imitates."""
        self._enter()
        return UtsName(
            "Linux", "pinfs", self.kernel.profile.uname_release, "#1 SMP pinfs", "x86_64"
        )

    # -- credentials --------------------------------------------------------------------

    @syscall
    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        """setresuid(2); -1 leaves an id unchanged."""
        for value in (ruid, euid, suid):
            credmod.check_c_id(value)
        self._enter()
        self.cred = credmod.sys_setresuid(self.cred, ruid, euid, suid)

    @syscall
    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        """setresgid(2)."""
        for value in (rgid, egid, sgid):
            credmod.check_c_id(value)
        self._enter()
        self.cred = credmod.sys_setresgid(self.cred, rgid, egid, sgid)

    @syscall
    def setgroups(self, groups: Iterable[int]) -> None:
        """setgroups(2)."""
        values = list(groups)
        for value in values:
            credmod.check_c_id(value)
        self._enter()
        self.cred = credmod.sys_setgroups(self.cred, values)

    @syscall
    def capset(self, effective: int, permitted: int, inheritable: int = 0) -> None:
        """capset(2) on ourselves, with bit masks of capability numbers."""
        credmod.check_cap_masks(effective, permitted, inheritable)
        self._enter()
        self.cred = credmod.cap_capset(self.cred, effective, permitted, inheritable)

    @syscall
    def prctl(self, option: int, arg2: int = 0) -> int:
        """prctl(2): PR_SET_KEEPCAPS only (keep capabilities across setuid from root)."""
        option = _int_arg(option, "option")
        arg2 = _int_arg(arg2, "arg2")
        self._enter()
        if option != PR_SET_KEEPCAPS or arg2 not in (0, 1):
            raise kernel_error(errno.EINVAL)
        self.cred = attrs.evolve(self.cred, keep_caps=bool(arg2))
        return 0

    @syscall
    def setrlimit(
        self, resource: int, limits: tuple[int, int] | int, hard: int | None = None
    ) -> None:
        """setrlimit(2) (``do_prlimit``): ``setrlimit(res, (soft, hard))`` as
        :func:`resource.setrlimit` takes it, or ``setrlimit(res, soft, hard)``, the
        ``struct rlimit`` fields (the form traces and scenarios write).  -1 is
        RLIM_INFINITY, as :data:`resource.RLIM_INFINITY` (and :data:`pinfs.RLIM_INFINITY`)
        spell it; so is the kernel's own ``2**64 - 1``.  EINVAL if soft > hard; raising
        the hard limit needs CAP_SYS_RESOURCE, and RLIMIT_NOFILE's stops at
        ``fs.nr_open`` (EPERM)."""
        resource = _int_arg(resource, "resource", 0, RLIM_NLIMITS)
        soft, hard = _rlimit_pair(limits, hard)
        self._enter()
        if soft > hard:
            raise kernel_error(errno.EINVAL)
        old = self.rlimits.get(resource, (RLIM_INFINITY, RLIM_INFINITY))
        if hard > old[1] and not credmod.capable(
            self.cred, self.kernel.init_user_ns, credmod.CAP_SYS_RESOURCE
        ):
            raise kernel_error(errno.EPERM)
        if resource == RLIMIT_NOFILE and hard > self.kernel.nr_open:
            raise kernel_error(errno.EPERM)
        self.rlimits[resource] = (soft, hard)

    @syscall
    def getrlimit(self, resource: int) -> tuple[int, int]:
        """getrlimit(2): ``(soft, hard)``, like :func:`resource.getrlimit` (an
        unlimited value is -1, ``resource.RLIM_INFINITY``)."""
        resource = _int_arg(resource, "resource", 0, RLIM_NLIMITS)
        self._enter()
        soft, hard = self.rlimits.get(resource, (RLIM_INFINITY, RLIM_INFINITY))
        return _rlim_to_python(soft), _rlim_to_python(hard)

    @syscall
    def sysctl_write(self, name: str, value: int) -> None:
        """Write ``value`` to /proc/sys/<name with / for .>: the file is 0644 root's
        (``test_perm`` checks the euid, no capability overrides), then the handler's
        ``proc_dointvec_minmax`` range gives EINVAL."""
        if not isinstance(name, str):
            raise TypeError(f"name must be str, not {type(name).__name__}")
        if name not in SYSCTL_RANGES:
            raise ValueError(f"unknown or read-only sysctl: {name!r}")
        value = _int_arg(value, "value", -(1 << 31), 1 << 31)
        self._enter()
        if self.cred.euid != 0:
            raise kernel_error(errno.EACCES, "/proc/sys/" + name.replace(".", "/"))
        self.kernel.sysctl_store(self.cred, name, value)

    @syscall
    def write_uid_map(self, extents: Iterable[tuple[int, int, int]]) -> None:
        """Write /proc/self/uid_map of our own user namespace (once)."""
        lines = credmod.check_id_extents(extents)
        self._enter()
        self.kernel.write_id_map(self, lines, is_gid=False)

    @syscall
    def write_gid_map(self, extents: Iterable[tuple[int, int, int]]) -> None:
        """Write /proc/self/gid_map of our own user namespace (once)."""
        lines = credmod.check_id_extents(extents)
        self._enter()
        self.kernel.write_id_map(self, lines, is_gid=True)
