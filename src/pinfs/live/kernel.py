"""A "twin" of :class:`pinfs.Kernel` that drives the real Linux kernel.

Tests can run one function against pinfs and against Linux and compare the
outcomes (like pyfakefs's ``RealFsTestCase``, or gVisor's syscall tests run
natively).  :class:`LiveKernel` starts a private sandbox:

* a helper process (started with ``python -I -S``, so nothing of the test process
  is inherited but the control socket) calls ``unshare(CLONE_NEWNS|CLONE_NEWPID)``,
  makes every mount ``MS_REC|MS_PRIVATE`` *before* mounting anything, mounts a
  fresh tmpfs on a ``tempfile.mkdtemp()`` directory (visible only in the private
  mount namespace) and builds pinfs's boot tree in it: ``/`` 0755, ``/tmp`` 01777,
  ``/sys``, ``/sys/fs``, ``/sys/fs/bpf`` 0755, all ``0:0``;
* it forks the *init* process (pid 1 of the new pid namespace), which chroots into
  the tmpfs, ``chdir("/")``, ``umask(0o022)``, sets ``RLIMIT_NOFILE=(1024, 4096)``
  and ``RLIMIT_MEMLOCK=8 MiB`` (the kernel's boot defaults) and serves requests.

Every simulated task is a real process serving requests from the test process over
a private ``AF_UNIX`` socket that lives at fd >= 900 and is hidden from the task's
syscalls (``close``/``dup``/``fstat`` of it fail with ``EBADF``).  A task starts
with *no* open fds (0, 1 and 2 are closed), so, as in pinfs, the first fd is 0.
Failures raise ``OSError(errno, strerror, path)`` exactly as :mod:`os` does.
:meth:`LiveKernel.close` SIGKILLs the namespace's init through a pidfd: the kernel
then kills and reaps every sandbox process, and the private mounts vanish with the
namespace; nothing is ever mounted in the host's namespace.

Known divergences that are *not* hidden here:

* every new bpffs instance holds kernel-made files (``maps.debug``,
  ``progs.debug`` on kernels with ``CONFIG_BPF_PRELOAD``);
* the live tasks only have the capabilities of the host's bounding set (e.g. a
  container without ``CAP_SYS_RESOURCE``), see :meth:`LiveTask.capget`;
* the ``fs.protected_*`` sysctls of the host apply;
* ``getcwd`` is the raw syscall: a cwd outside the root gives
  ``"(unreachable)/..."`` where glibc would fail with ``ENOENT``;
* ``listdir`` needs a free fd (``EMFILE`` when the table is full), as on Linux;
* a task whose ``RLIMIT_NOFILE`` hard limit is below 908 can be forked only once
  (the harness needs a fresh socket per process and cannot raise the hard limit);
* a call that blocks on Linux (e.g. opening a FIFO) raises :class:`TimeoutError`
  after ``timeout`` seconds and the task is killed.

The sandbox dies with the thread that created it (``PR_SET_PDEATHSIG``), and a
:class:`LiveKernel` is not thread-safe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno as _errno
import json
import marshal
import os
import platform
import select
import signal
import socket
import stat
import struct
import sys
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NoReturn

if sys.platform != "win32":
    import fcntl
    import resource

if TYPE_CHECKING:
    import ctypes
    import subprocess

__all__ = [
    "CAP_NAMES",
    "LiveBpfMapInfo",
    "LiveKernel",
    "LiveStat",
    "LiveStatfs",
    "LiveStatx",
    "LiveTask",
    "LiveUserMemory",
    "live_unavailable_reason",
]

# x86_64 syscall numbers.
_SYS_LSEEK = 8
_SYS_DUP = 32
_SYS_DUP2 = 33
_SYS_FCNTL = 72
_SYS_DUP3 = 292
_SYS_GETCWD = 79
_SYS_CAPGET = 125
_SYS_CAPSET = 126
_SYS_STATFS = 137
_SYS_FSTATFS = 138
_SYS_PRCTL = 157
_SYS_CHROOT = 161
_SYS_FCHDIR = 81
_SYS_PIVOT_ROOT = 155
_SYS_MOUNT = 165
_SYS_SETRLIMIT = 160
_SYS_UMOUNT2 = 166
_SYS_OPENAT = 257
_SYS_UNSHARE = 272
_SYS_RENAMEAT2 = 316
_SYS_FCHMOD = 91
_SYS_FCHOWN = 93
_SYS_GETDENTS64 = 217
_SYS_MKDIRAT = 258
_SYS_MKNODAT = 259
_SYS_FCHOWNAT = 260
_SYS_NEWFSTATAT = 262
_SYS_UNLINKAT = 263
_SYS_LINKAT = 265
_SYS_SYMLINKAT = 266
_SYS_READLINKAT = 267
_SYS_FCHMODAT = 268
_SYS_FACCESSAT = 269
_SYS_STATX = 332
_SYS_FACCESSAT2 = 439
_SYS_OPENAT2 = 437
_STAT_FORMAT = "<QQQIIIiQqqqqqqqqq"  # struct stat on x86_64, up to the ctime nsec
_STATX_FORMAT = "<IIQIIIHxxQQQQqIiqIiqIiqIiIIIIQ"  # struct statx up to stx_mnt_id
_SYS_BPF = 321

_AT_FDCWD = -100
_CLONE_NEWNS = 0x00020000
_CLONE_NEWPID = 0x20000000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_PR_SET_PDEATHSIG = 1
_PR_SET_KEEPCAPS = 8
_CAP_VERSION_3 = 0x20080522
_TMPFS_MAGIC = 0x01021994

_BPF_MAP_CREATE = 0
_BPF_MAP_LOOKUP_ELEM = 1
_BPF_MAP_UPDATE_ELEM = 2
_BPF_MAP_DELETE_ELEM = 3
_BPF_MAP_GET_NEXT_KEY = 4
_BPF_PROG_LOAD = 5
_BPF_OBJ_PIN = 6
_BPF_OBJ_GET = 7
_BPF_OBJ_GET_INFO_BY_FD = 15
_BPF_F_PATH_FD = 1 << 14
_PERCPU_MAP_TYPES = frozenset({5, 6, 10, 21})  # values are per possible CPU

_U64 = (1 << 64) - 1
_HARNESS_FD_BASE = 900  # harness sockets live at fds >= this, invisible to tasks
_HARNESS_FD_ROOM = 8
_BOOT_NOFILE = (1024, 4096)
_BOOT_MEMLOCK = (8 << 20, 8 << 20)
_STATFS_FORMAT = "<qqQQQQQiiqqq4q"  # struct statfs on x86_64 (120 bytes)
_ANCBUF = 256

# The harness imports pinfs's tables; the sandbox runs this file alone (``python -I -S``,
# where pinfs cannot be imported) and is handed the attr layout by the harness.
try:
    from pinfs.base.cred import CAP_NAMES
    from pinfs.ebpf.attr import UAPI_FIELDS
except ImportError:  # the sandbox side
    CAP_NAMES = ()
    UAPI_FIELDS = {}

#: cmd -> field -> (offset, size), from :data:`pinfs.ebpf.attr.UAPI_FIELDS`: the
#: harness's own copy, and the sandbox's once ``_sandbox_main`` has read it.
_ATTR: dict[int, dict[str, tuple[int, int]]] = {
    int(cmd): {f.name: (f.offset, f.size) for f in fields} for cmd, fields in UAPI_FIELDS.items()
}


def _pack_attr(cmd: int, size: int, **values: int | bytes) -> bytes:
    """``union bpf_attr`` of ``size`` bytes with the named fields of ``cmd`` set,
    laid out by pinfs's one table (little-endian, x86_64)."""
    buf = bytearray(size)
    for name, value in values.items():
        offset, width = _ATTR[cmd][name]
        if isinstance(value, bytes):
            data = value[:width].ljust(width, b"\0")
        else:
            data = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
        buf[offset : offset + width] = data
    return bytes(buf)


"""Capability names indexed by number (Linux 5.9+)."""


# --------------------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True, slots=True)
class LiveStat:
    """The fields of ``struct stat`` that pinfs models."""

    st_mode: int
    st_ino: int
    st_dev: int
    st_nlink: int
    st_uid: int
    st_gid: int
    st_size: int
    st_rdev: int
    st_blksize: int
    st_blocks: int
    st_atime_ns: int
    st_mtime_ns: int
    st_ctime_ns: int


@dataclasses.dataclass(frozen=True, slots=True)
class LiveStatx:
    """``struct statx`` with the fields pinfs's ``Statx`` has (times in ns)."""

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


@dataclasses.dataclass(frozen=True, slots=True)
class LiveStatfs:
    """``struct statfs`` (``f_fsid`` as a pair of ints)."""

    f_type: int
    f_bsize: int
    f_blocks: int
    f_bfree: int
    f_bavail: int
    f_files: int
    f_ffree: int
    f_fsid: tuple[int, int]
    f_namelen: int
    f_frsize: int
    f_flags: int


@dataclasses.dataclass(frozen=True, slots=True)
class LiveBpfMapInfo:
    """The head of ``struct bpf_map_info`` (``BPF_OBJ_GET_INFO_BY_FD``)."""

    map_type: int
    id: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int
    name: str


# --------------------------------------------------------------------------- availability

_UNAVAILABLE: list[str | None] = []


def live_unavailable_reason() -> str | None:
    """``None`` if :class:`LiveKernel` can run here, else why not (cached)."""
    if not _UNAVAILABLE:
        _UNAVAILABLE.append(_probe())
    return _UNAVAILABLE[0]


def _probe() -> str | None:
    if sys.platform != "linux":
        return f"not Linux ({sys.platform})"
    if platform.machine() != "x86_64":
        return f"syscall numbers are only known for x86_64, not {platform.machine()}"
    if os.geteuid() != 0:
        return "not root (euid != 0)"
    if not hasattr(os, "pidfd_open"):
        return "os.pidfd_open is missing"
    try:
        with LiveKernel() as k:
            try:
                fd = k.init_task.map_create(2, 4, 4, 1)  # BPF_MAP_TYPE_ARRAY
            except OSError as e:
                return f"bpf(BPF_MAP_CREATE) fails in the sandbox: {e}"
            k.init_task.close(fd)
    except (OSError, RuntimeError) as e:
        return f"live kernel sandbox failed: {e}"
    return None


# --------------------------------------------------------------------------- low level


_LIBC: list[ctypes.CDLL] = []


def _libc() -> ctypes.CDLL:
    if not _LIBC:
        import ctypes  # noqa: PLC0415 - ctypes (libffi) loads only where a raw syscall is made

        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        _LIBC.append(libc)
    return _LIBC[0]


def _sys(nr: int, *args: int | bytes | None, path: str | None = None) -> int:
    """``syscall(nr, args...)``; ints are passed as longs, bytes as pointers."""
    import ctypes  # noqa: PLC0415 - ctypes (libffi) loads only where a raw syscall is made

    cargs: list[Any] = []
    for a in args:
        if a is None:
            cargs.append(ctypes.c_void_p(None))
        elif isinstance(a, bytes):
            cargs.append(ctypes.c_char_p(a))
        else:
            cargs.append(ctypes.c_long(a))
    ctypes.set_errno(0)
    ret: int = _libc().syscall(ctypes.c_long(nr), *cargs)
    if ret == -1:
        err = ctypes.get_errno()
        raise _oserror(err, path)
    return ret


def _oserror(err: int, path: str | None = None) -> OSError:
    if path is None:
        return OSError(err, os.strerror(err))
    return OSError(err, os.strerror(err), path)


def _cstr(path: str | bytes) -> bytes:
    b = os.fsencode(path)
    if b"\0" in b:
        raise ValueError("embedded null byte")
    return b


def _pathname(path: str | bytes) -> str:
    return os.fsdecode(path)


def _frame(obj: Any) -> bytes:
    data = marshal.dumps(obj)
    return len(data).to_bytes(4, "little") + data


def _move_high(fd: int) -> int:
    """Move ``fd`` to the harness range (close-on-exec); returns the new number."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _HARNESS_FD_BASE)
    os.close(fd)
    return new


def _caps_mask(caps: Iterable[int | str]) -> int:
    if isinstance(caps, int):
        raise TypeError("caps must be an iterable of capability numbers or names")
    mask = 0
    for c in caps:
        if isinstance(c, str):
            name = c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper()
            c = CAP_NAMES.index(name)
        mask |= 1 << int(c)
    return mask


# --------------------------------------------------------------------------- task side


class _ExitRequest(Exception):
    pass


class _Server:
    """The request loop run by every task process (pid 1 of the sandbox included)."""

    def __init__(self, ctl: int) -> None:
        self.ctl = ctl
        self.spare: tuple[int, int] | None = None  # (end for the harness, end for a child)
        self.mem: dict[int, Any] = {}  # write_user buffers by address
        self.reply_fds: list[int] = []
        self.no_reply = False

    # ---- transport
    def _recv(self) -> Any:
        buf = b""
        need = 4
        length = -1
        while True:
            while len(buf) < need:
                chunk = os.read(self.ctl, need - len(buf))
                if not chunk:
                    raise EOFError
                buf += chunk
            if length >= 0:
                return marshal.loads(buf[4:])
            length = int.from_bytes(buf[:4], "little")
            need = 4 + length

    def _send(self, obj: object, fds: list[int] | None = None) -> None:
        data = _frame(obj)
        s = socket.socket(fileno=self.ctl)  # no dup: the fd table may be full
        try:
            if fds:
                sent = socket.send_fds(s, [data], fds)
                data = data[sent:]
            s.sendall(data)
        finally:
            s.detach()

    def serve(self) -> NoReturn:
        while True:
            try:
                name, args, kwargs = self._recv()
            except (EOFError, OSError):
                os._exit(0)
            op = _OPS.get(name)
            reply: tuple[Any, ...]
            try:
                if op is None:
                    raise RuntimeError(f"unknown live operation {name!r}")
                reply = ("ok", op(self, *args, **kwargs))
            except _ExitRequest as e:
                os._exit(e.args[0])
            except OSError as e:
                path = e.filename if e.filename is not None else None
                if isinstance(path, bytes):
                    path = os.fsdecode(path)
                reply = ("err", e.errno or 0, path, getattr(e, "bpf_log", None))
            except Exception as e:
                reply = ("exc", type(e).__name__, str(e))
            if self.no_reply:  # the child half of a fork: it talks on a new socket
                self.no_reply = False
                continue
            fds, self.reply_fds = self.reply_fds, []
            try:
                self._send(reply, fds)
            except OSError:
                os._exit(0)
            finally:
                for fd in fds:
                    os.close(fd)

    # ---- harness fds
    def harness_fds(self) -> set[int]:
        fds = {self.ctl}
        if self.spare is not None:
            fds.update(self.spare)
        return fds

    def user_fd(self, fd: int) -> int:
        if fd in self.harness_fds():
            raise _oserror(_errno.EBADF)
        return fd

    def make_pair(self) -> tuple[int, int]:
        """A socketpair at high fds, temporarily raising the soft fd limit if needed."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = _HARNESS_FD_BASE + _HARNESS_FD_ROOM
        raised = False
        if soft != resource.RLIM_INFINITY and soft < need:
            if hard != resource.RLIM_INFINITY and hard < need:
                raise RuntimeError(
                    f"live harness cannot fork a task whose RLIMIT_NOFILE hard limit ({hard}) "
                    f"is below {need}: it needs a fresh socket at fd >= {_HARNESS_FD_BASE}"
                )
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
            raised = True
        try:
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            return _move_high(a.detach()), _move_high(b.detach())
        finally:
            if raised:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    # ---- ops with special plumbing
    def op_hello(self) -> int:
        return os.getpid()

    def op_fork(self) -> int:
        pair, self.spare = self.spare, None
        a, b = pair if pair is not None else self.make_pair()
        pid = os.fork()
        if pid == 0:
            os.close(self.ctl)
            os.close(a)
            self.ctl = b
            self.no_reply = True
            return 0
        os.close(b)
        self.reply_fds = [a]
        return pid

    def op_setcreds(self, uid: int, gid: int, groups: list[int], caps: int) -> None:
        os.setgroups(groups)
        os.setresgid(gid, gid, gid)
        _sys(_SYS_PRCTL, _PR_SET_KEEPCAPS, 1, 0, 0, 0)
        os.setresuid(uid, uid, uid)
        _sys(_SYS_PRCTL, _PR_SET_KEEPCAPS, 0, 0, 0, 0)
        _capset(caps, caps, 0)

    def op_exit(self, status: int) -> None:
        raise _ExitRequest(status)

    def op_execve(self) -> None:
        keep = self.harness_fds()
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        top = _HARNESS_FD_BASE if soft == resource.RLIM_INFINITY else max(soft, 1024)
        for fd in range(min(top, 1 << 16)):
            if fd in keep:
                continue
            try:
                if fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                    os.close(fd)
            except OSError:
                pass

    def op_setrlimit(self, res: int, soft: int, hard: int) -> None:
        need = _HARNESS_FD_BASE + _HARNESS_FD_ROOM
        if res == resource.RLIMIT_NOFILE and self.spare is None and 0 <= hard < need:
            with contextlib.suppress(
                OSError, RuntimeError
            ):  # keep one socket ready so that this task can still fork once
                self.spare = self.make_pair()
        limits = struct.pack("<QQ", soft & _U64, hard & _U64)  # RLIM_INFINITY may be -1
        _sys(_SYS_SETRLIMIT, res, limits)  # EINVAL/EPERM as OSError, as in pinfs

    # ---- user memory for bpf()
    def op_write_user(self, data: bytes) -> int:
        import ctypes  # noqa: PLC0415 - ctypes (libffi) loads only where a raw syscall is made

        buf = ctypes.create_string_buffer(data, max(len(data), 1))
        addr = ctypes.addressof(buf)
        self.mem[addr] = buf
        return addr

    def op_read_user(self, addr: int, size: int) -> bytes:
        import ctypes  # noqa: PLC0415 - ctypes (libffi) loads only where a raw syscall is made

        self._user_range(addr, size)
        return ctypes.string_at(addr, size)

    def op_poke_user(self, addr: int, data: bytes) -> None:
        import ctypes  # noqa: PLC0415 - see op_peek_user

        self._user_range(addr, len(data))
        ctypes.memmove(addr, data, len(data))

    def _user_range(self, addr: int, size: int) -> None:
        """EFAULT unless [addr, addr+size) is inside one write_user buffer."""
        import ctypes  # noqa: PLC0415 - see op_peek_user

        for base, buf in self.mem.items():
            if base <= addr and addr + size <= base + ctypes.sizeof(buf):
                return
        raise _oserror(_errno.EFAULT)

    def op_free_user(self, addr: int) -> None:
        if self.mem.pop(addr, None) is None:
            raise _oserror(_errno.EFAULT)


def _capset(effective: int, permitted: int, inheritable: int) -> None:
    import ctypes  # noqa: PLC0415 - ctypes (libffi) loads only where a raw syscall is made

    hdr = ctypes.create_string_buffer(struct.pack("<Ii", _CAP_VERSION_3, 0), 8)
    data = ctypes.create_string_buffer(
        struct.pack(
            "<6I",
            effective & 0xFFFFFFFF,
            permitted & 0xFFFFFFFF,
            inheritable & 0xFFFFFFFF,
            effective >> 32,
            permitted >> 32,
            inheritable >> 32,
        ),
        24,
    )
    _sys(_SYS_CAPSET, ctypes.addressof(hdr), ctypes.addressof(data))


def _capget() -> tuple[int, int, int]:
    import ctypes  # noqa: PLC0415 - ctypes (libffi) loads only where a raw syscall is made

    hdr = ctypes.create_string_buffer(struct.pack("<Ii", _CAP_VERSION_3, 0), 8)
    data = ctypes.create_string_buffer(24)
    _sys(_SYS_CAPGET, ctypes.addressof(hdr), ctypes.addressof(data))
    e0, p0, i0, e1, p1, i1 = struct.unpack("<6I", data.raw)
    return e0 | e1 << 32, p0 | p1 << 32, i0 | i1 << 32


def _bpf(cmd: int, attr: bytes | bytearray) -> tuple[int, bytes]:
    """bpf(cmd, attr, len(attr)); returns the result and the attr after the call."""
    import ctypes  # noqa: PLC0415 - ctypes (libffi) loads only where a raw syscall is made

    buf = ctypes.create_string_buffer(bytes(attr), len(attr))
    ret = _sys(_SYS_BPF, cmd, ctypes.addressof(buf), len(attr))
    return ret, buf.raw


def _stat_tuple(st: os.stat_result) -> tuple[int, ...]:
    return (
        st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
        st.st_rdev, st.st_blksize, st.st_blocks, st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns,
    )  # fmt: skip


def _raw_stat_tuple(raw: bytes) -> tuple[int, ...]:
    """``struct stat`` bytes as :func:`_stat_tuple` orders the fields."""
    dev, ino, nlink, mode, uid, gid, _, rdev, size, blksize, blocks, *times = struct.unpack_from(
        _STAT_FORMAT, raw
    )
    atime, mtime, ctime = (times[i] * 10**9 + times[i + 1] for i in (0, 2, 4))
    return (mode, ino, dev, nlink, uid, gid, size, rdev, blksize, blocks, atime, mtime, ctime)


def _raw_statx_tuple(raw: bytes) -> tuple[int, ...]:
    """``struct statx`` bytes in :class:`LiveStatx` order."""
    v = struct.unpack_from(_STATX_FORMAT, raw)
    mask, blksize, attributes, nlink, uid, gid, mode, ino, size, blocks, amask = v[:11]
    atime, btime, ctime, mtime = (v[11 + 3 * i] * 10**9 + v[12 + 3 * i] for i in range(4))
    rdev_major, rdev_minor, dev_major, dev_minor, mnt_id = v[23:28]
    return (
        mask, blksize, attributes, nlink, uid, gid, mode, ino, size, blocks, amask,
        atime, btime, ctime, mtime, rdev_major, rdev_minor, dev_major, dev_minor, mnt_id,
    )  # fmt: skip


def _make_statfs(v: Any) -> LiveStatfs:
    fsid = (int(v[7][0]), int(v[7][1]))
    return LiveStatfs(v[0], v[1], v[2], v[3], v[4], v[5], v[6], fsid, v[8], v[9], v[10])


def _statfs_tuple(raw: bytes) -> tuple[Any, ...]:
    v = struct.unpack(_STATFS_FORMAT, raw)
    return (*v[:7], (v[7], v[8]), *v[9:12])


_POSSIBLE_CPUS: list[int] = []


def _possible_cpus() -> int:
    if not _POSSIBLE_CPUS:
        try:
            with open("/sys/devices/system/cpu/possible") as f:
                spec = f.read().strip()
            n = 0
            for part in spec.split(","):
                lo, _, hi = part.partition("-")
                n += int(hi or lo) - int(lo) + 1
        except (OSError, ValueError):
            n = os.cpu_count() or 1
        _POSSIBLE_CPUS.append(n)
    return _POSSIBLE_CPUS[0]


def _map_info(fd: int) -> tuple[int, int, int, int, int, int, str]:
    import ctypes  # noqa: PLC0415 - ctypes (libffi) loads only where a raw syscall is made

    info = ctypes.create_string_buffer(80)
    attr = _pack_attr(
        _BPF_OBJ_GET_INFO_BY_FD, 16, bpf_fd=fd, info_len=80, info=ctypes.addressof(info)
    )
    _bpf(_BPF_OBJ_GET_INFO_BY_FD, attr)
    t, i, ks, vs, me, mf = struct.unpack_from("<6I", info.raw)
    name = info.raw[24:40].split(b"\0", 1)[0].decode(errors="replace")
    return t, i, ks, vs, me, mf, name


def _value_size(fd: int) -> tuple[int, int]:
    t, _, ks, vs, *_ = _map_info(fd)
    if t in _PERCPU_MAP_TYPES:
        vs = (vs + 7) // 8 * 8 * _possible_cpus()
    return ks, vs


def _op_table() -> dict[str, Any]:
    import ctypes  # noqa: PLC0415 - ctypes (libffi) loads only where a raw syscall is made

    def mkdir(s: _Server, path: str, mode: int = 0o777) -> None:
        os.mkdir(path, mode)

    def rmdir(s: _Server, path: str) -> None:
        os.rmdir(path)

    def unlink(s: _Server, path: str) -> None:
        os.unlink(path)

    def rename(s: _Server, old: str, new: str, flags: int = 0) -> None:
        _sys(_SYS_RENAMEAT2, _AT_FDCWD, _cstr(old), _AT_FDCWD, _cstr(new), flags, path=old)

    def link(s: _Server, old: str, new: str) -> None:
        os.link(old, new, follow_symlinks=False)  # linkat(..., 0) == link(2)

    def symlink(s: _Server, target: str, linkpath: str) -> None:
        os.symlink(target, linkpath)

    def readlink(s: _Server, path: str) -> str:
        return _pathname(os.readlink(path))

    def mknod(s: _Server, path: str, mode: int, dev: int = 0) -> None:
        os.mknod(path, mode, dev)

    def open_(s: _Server, path: str, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
        # os.open would add O_CLOEXEC (PEP 446): call openat(2) directly.
        return _sys(_SYS_OPENAT, _AT_FDCWD, _cstr(path), flags, mode, path=_pathname(path))

    # ---- the *at calls, raw (dirfds are the task's own fds or AT_FDCWD)
    def dfd(s: _Server, fd: int) -> int:
        return fd if fd < 0 else s.user_fd(fd)

    def openat(s: _Server, dirfd: int, path: str, flags: int, mode: int) -> int:
        args = (dfd(s, dirfd), _cstr(path), flags, mode)
        return _sys(_SYS_OPENAT, *args, path=_pathname(path))

    def openat2(s: _Server, dirfd: int, path: str, flags: int, mode: int, resolve: int) -> int:
        how = struct.pack("<QQQ", flags, mode, resolve)  # struct open_how
        args = (dfd(s, dirfd), _cstr(path), how, len(how))
        return _sys(_SYS_OPENAT2, *args, path=_pathname(path))

    def mkdirat(s: _Server, dirfd: int, path: str, mode: int) -> None:
        _sys(_SYS_MKDIRAT, dfd(s, dirfd), _cstr(path), mode, path=_pathname(path))

    def mknodat(s: _Server, dirfd: int, path: str, mode: int, dev: int) -> None:
        _sys(_SYS_MKNODAT, dfd(s, dirfd), _cstr(path), mode, dev, path=_pathname(path))

    def unlinkat(s: _Server, dirfd: int, path: str, flags: int) -> None:
        _sys(_SYS_UNLINKAT, dfd(s, dirfd), _cstr(path), flags, path=_pathname(path))

    def renameat2(s: _Server, olddirfd: int, old: str, newdirfd: int, new: str, flags: int) -> None:
        args = (dfd(s, olddirfd), _cstr(old), dfd(s, newdirfd), _cstr(new), flags)
        _sys(_SYS_RENAMEAT2, *args, path=_pathname(old))

    def linkat(s: _Server, olddirfd: int, old: str, newdirfd: int, new: str, flags: int) -> None:
        args = (dfd(s, olddirfd), _cstr(old), dfd(s, newdirfd), _cstr(new), flags)
        _sys(_SYS_LINKAT, *args, path=_pathname(old))

    def symlinkat(s: _Server, target: str, newdirfd: int, linkpath: str) -> None:
        args = (_cstr(target), dfd(s, newdirfd), _cstr(linkpath))
        _sys(_SYS_SYMLINKAT, *args, path=_pathname(linkpath))

    def readlinkat(s: _Server, dirfd: int, path: str) -> str:
        buf = ctypes.create_string_buffer(4096)
        args = (dfd(s, dirfd), _cstr(path), ctypes.addressof(buf), 4096)
        n = _sys(_SYS_READLINKAT, *args, path=_pathname(path))
        return os.fsdecode(buf.raw[:n])

    def fstatat(s: _Server, dirfd: int, path: str, flags: int) -> tuple[int, ...]:
        buf = ctypes.create_string_buffer(144)
        args = (dfd(s, dirfd), _cstr(path), ctypes.addressof(buf), flags)
        _sys(_SYS_NEWFSTATAT, *args, path=_pathname(path))
        return _raw_stat_tuple(buf.raw)

    def statx(s: _Server, dirfd: int, path: str, flags: int, mask: int) -> tuple[int, ...]:
        buf = ctypes.create_string_buffer(256)
        args = (dfd(s, dirfd), _cstr(path), flags, mask, ctypes.addressof(buf))
        _sys(_SYS_STATX, *args, path=_pathname(path))
        return _raw_statx_tuple(buf.raw)

    def faccessat(s: _Server, dirfd: int, path: str, mode: int) -> None:
        _sys(_SYS_FACCESSAT, dfd(s, dirfd), _cstr(path), mode, path=_pathname(path))

    def faccessat2(s: _Server, dirfd: int, path: str, mode: int, flags: int) -> None:
        args = (dfd(s, dirfd), _cstr(path), mode, flags)
        _sys(_SYS_FACCESSAT2, *args, path=_pathname(path))

    def fchmodat(s: _Server, dirfd: int, path: str, mode: int) -> None:
        _sys(_SYS_FCHMODAT, dfd(s, dirfd), _cstr(path), mode, path=_pathname(path))

    def fchownat(s: _Server, dirfd: int, path: str, uid: int, gid: int, flags: int) -> None:
        args = (dfd(s, dirfd), _cstr(path), uid, gid, flags)
        _sys(_SYS_FCHOWNAT, *args, path=_pathname(path))

    def fchmod(s: _Server, fd: int, mode: int) -> None:
        _sys(_SYS_FCHMOD, s.user_fd(fd), mode)

    def fchown(s: _Server, fd: int, uid: int, gid: int) -> None:
        _sys(_SYS_FCHOWN, s.user_fd(fd), uid, gid)

    def getdents64(s: _Server, fd: int, count: int) -> bytes:
        buf = ctypes.create_string_buffer(max(count, 1))
        n = _sys(_SYS_GETDENTS64, s.user_fd(fd), ctypes.addressof(buf), count)
        return buf.raw[:n]

    def close(s: _Server, fd: int) -> None:
        os.close(s.user_fd(fd))

    def dup(s: _Server, fd: int) -> int:
        return _sys(_SYS_DUP, s.user_fd(fd))  # os.dup would set O_CLOEXEC

    def read(s: _Server, fd: int, count: int) -> bytes:
        return os.read(s.user_fd(fd), count)

    def write(s: _Server, fd: int, data: bytes) -> int:
        return os.write(s.user_fd(fd), data)

    def lseek(s: _Server, fd: int, offset: int, whence: int) -> int:
        return _sys(_SYS_LSEEK, s.user_fd(fd), offset, whence)

    def dup2(s: _Server, fd: int, new: int) -> int:
        return _sys(_SYS_DUP2, s.user_fd(fd), s.user_fd(new))  # os.dup2 may set O_CLOEXEC

    def dup3(s: _Server, fd: int, new: int, flags: int) -> int:
        return _sys(_SYS_DUP3, s.user_fd(fd), s.user_fd(new), flags)

    def fcntl(s: _Server, fd: int, cmd: int, arg: int = 0) -> int:
        return _sys(_SYS_FCNTL, s.user_fd(fd), cmd, arg)

    def uname(s: _Server) -> tuple[str, ...]:
        return tuple(os.uname())

    def stat(s: _Server, path: str) -> tuple[int, ...]:
        return _stat_tuple(os.stat(path))

    def lstat(s: _Server, path: str) -> tuple[int, ...]:
        return _stat_tuple(os.lstat(path))

    def fstat(s: _Server, fd: int) -> tuple[int, ...]:
        return _stat_tuple(os.fstat(s.user_fd(fd)))

    def statfs(s: _Server, path: str) -> tuple[Any, ...]:
        buf = ctypes.create_string_buffer(120)
        _sys(_SYS_STATFS, _cstr(path), ctypes.addressof(buf), path=_pathname(path))
        return _statfs_tuple(buf.raw)

    def fstatfs(s: _Server, fd: int) -> tuple[Any, ...]:
        buf = ctypes.create_string_buffer(120)
        _sys(_SYS_FSTATFS, s.user_fd(fd), ctypes.addressof(buf))
        return _statfs_tuple(buf.raw)

    def listdir(s: _Server, path: str) -> list[str]:
        return [_pathname(n) for n in os.listdir(path)]

    def chmod(s: _Server, path: str, mode: int) -> None:
        os.chmod(path, mode)

    def chown(s: _Server, path: str, uid: int, gid: int) -> None:
        os.chown(path, uid, gid)

    def truncate(s: _Server, path: str, length: int) -> None:
        os.truncate(path, length)

    def chdir(s: _Server, path: str) -> None:
        os.chdir(path)

    def getcwd(s: _Server) -> str:
        buf = ctypes.create_string_buffer(4096)
        _sys(_SYS_GETCWD, ctypes.addressof(buf), 4096)
        return os.fsdecode(buf.value)

    def umask(s: _Server, mask: int) -> int:
        return os.umask(mask)

    def mount(
        s: _Server,
        source: str | None,
        target: str,
        fstype: str | None,
        flags: int = 0,
        data: str | bytes | None = None,
    ) -> None:
        _sys(
            _SYS_MOUNT,
            None if source is None else _cstr(source),
            _cstr(target),
            None if fstype is None else _cstr(fstype),
            flags,
            None if data is None else _cstr(data),
            path=_pathname(target),
        )

    def umount(s: _Server, target: str, flags: int = 0) -> None:
        _sys(_SYS_UMOUNT2, _cstr(target), flags, path=_pathname(target))

    def unshare(s: _Server, flags: int) -> None:
        _sys(_SYS_UNSHARE, flags)

    def chroot(s: _Server, path: str) -> None:
        _sys(_SYS_CHROOT, _cstr(path), path=_pathname(path))

    def fchdir(s: _Server, fd: int) -> None:
        _sys(_SYS_FCHDIR, s.user_fd(fd))

    def pivot_root(s: _Server, new_root: str, put_old: str) -> None:
        _sys(_SYS_PIVOT_ROOT, _cstr(new_root), _cstr(put_old), path=_pathname(new_root))

    def setresuid(s: _Server, r: int, e: int, sv: int) -> None:
        os.setresuid(r, e, sv)

    def setresgid(s: _Server, r: int, e: int, sv: int) -> None:
        os.setresgid(r, e, sv)

    def setgroups(s: _Server, groups: list[int]) -> None:
        os.setgroups(groups)

    def capset(s: _Server, effective: int, permitted: int, inheritable: int) -> None:
        _capset(effective, permitted, inheritable)

    def capget(s: _Server) -> tuple[int, int, int]:
        return _capget()

    def getpid(s: _Server) -> int:
        return os.getpid()

    def getresuid(s: _Server) -> tuple[int, int, int]:
        return os.getresuid()

    def getresgid(s: _Server) -> tuple[int, int, int]:
        return os.getresgid()

    def getgroups(s: _Server) -> list[int]:
        return os.getgroups()

    def getrlimit(s: _Server, res: int) -> tuple[int, int]:
        return resource.getrlimit(res)

    def bpf(s: _Server, cmd: int, attr: bytes | int, size: int | None = None) -> int:
        if isinstance(attr, int):
            if size is None:
                raise TypeError("bpf: size is required when attr is an address")
            return _sys(_SYS_BPF, cmd, attr, size)
        buf = ctypes.create_string_buffer(attr, max(len(attr), 1))
        return _sys(_SYS_BPF, cmd, ctypes.addressof(buf), len(attr) if size is None else size)

    def bpf_map_create(
        s: _Server,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        map_flags: int = 0,
        name: str = "",
    ) -> int:
        attr = _pack_attr(
            _BPF_MAP_CREATE,
            48,
            map_type=map_type,
            key_size=key_size,
            value_size=value_size,
            max_entries=max_entries,
            map_flags=map_flags,
            map_name=name.encode(),
        )
        return _bpf(_BPF_MAP_CREATE, attr)[0]

    def elem(cmd: int, fd: int, key: bytes | None, value: Any, flags: int) -> int:
        kbuf = None if key is None else ctypes.create_string_buffer(key, max(len(key), 1))
        kaddr = 0 if kbuf is None else ctypes.addressof(kbuf)
        vaddr = 0 if value is None else ctypes.addressof(value)
        value_field = "next_key" if cmd == _BPF_MAP_GET_NEXT_KEY else "value"
        fields: dict[str, int] = {"map_fd": fd, "key": kaddr, value_field: vaddr}
        if flags or cmd != _BPF_MAP_GET_NEXT_KEY:
            fields["flags"] = flags
        return _bpf(cmd, _pack_attr(cmd, 32, **fields))[0]

    def bpf_map_update_elem(s: _Server, fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
        vbuf = ctypes.create_string_buffer(value, max(len(value), 1))
        elem(_BPF_MAP_UPDATE_ELEM, s.user_fd(fd), key, vbuf, flags)

    def bpf_map_lookup_elem(s: _Server, fd: int, key: bytes, flags: int = 0) -> bytes:
        _, vs = _value_size(s.user_fd(fd))
        vbuf = ctypes.create_string_buffer(max(vs, 1))
        elem(_BPF_MAP_LOOKUP_ELEM, fd, key, vbuf, flags)
        return vbuf.raw[:vs]

    def bpf_map_delete_elem(s: _Server, fd: int, key: bytes) -> None:
        elem(_BPF_MAP_DELETE_ELEM, s.user_fd(fd), key, None, 0)

    def bpf_map_get_next_key(s: _Server, fd: int, key: bytes | None) -> bytes:
        ks, _ = _value_size(s.user_fd(fd))
        nbuf = ctypes.create_string_buffer(max(ks, 1))
        elem(_BPF_MAP_GET_NEXT_KEY, fd, key, nbuf, 0)
        return nbuf.raw[:ks]

    def bpf_map_info(s: _Server, fd: int) -> tuple[int, int, int, int, int, int, str]:
        return _map_info(s.user_fd(fd))

    def bpf_prog_load(
        s: _Server,
        prog_type: int,
        insns: bytes,
        license: str = "GPL",
        expected_attach_type: int = 0,
        log_level: int = 0,
        kern_version: int = 0,
        prog_name: str = "",
        log_size: int | None = None,
    ) -> int:
        ibuf = ctypes.create_string_buffer(insns, max(len(insns), 1))
        lic = ctypes.create_string_buffer(license.encode())
        if log_size is None:  # the harness default: a 64 KiB log when asked for one
            log_size = 1 << 16 if log_level else 0
        log = ctypes.create_string_buffer(max(log_size, 1))
        attr = _pack_attr(
            _BPF_PROG_LOAD,
            72,
            prog_type=prog_type,
            insn_cnt=len(insns) // 8,
            insns=ctypes.addressof(ibuf),
            license=ctypes.addressof(lic),
            log_level=log_level,
            log_size=log_size,
            log_buf=ctypes.addressof(log) if log_size else 0,
            kern_version=kern_version,
            prog_name=prog_name.encode(),
            expected_attach_type=expected_attach_type,
        )
        try:
            return _bpf(_BPF_PROG_LOAD, attr)[0]
        except OSError as e:
            if log_level:
                e.bpf_log = log.value.decode(errors="replace")  # type: ignore[attr-defined]
            raise

    def obj_attr(s: _Server, path: str, bpf_fd: int, flags: int, path_fd: int | None) -> Any:
        """The OBJ_PIN/OBJ_GET attr (with BPF_F_PATH_FD when ``path_fd`` is given)
        and the path buffer it points to."""
        p = ctypes.create_string_buffer(_cstr(path))
        cmd = _BPF_OBJ_PIN  # OBJ_PIN and OBJ_GET share one layout
        if path_fd is None:
            return _pack_attr(
                cmd, 16, pathname=ctypes.addressof(p), bpf_fd=bpf_fd, file_flags=flags
            ), p
        attr = _pack_attr(
            cmd,
            20,
            pathname=ctypes.addressof(p),
            bpf_fd=bpf_fd,
            file_flags=flags | _BPF_F_PATH_FD,
            path_fd=s.user_fd(path_fd),
        )
        return attr, p

    def bpf_obj_pin(
        s: _Server, fd: int, path: str, file_flags: int = 0, path_fd: int | None = None
    ) -> None:
        attr, _p = obj_attr(s, path, s.user_fd(fd), file_flags, path_fd)
        try:
            _bpf(_BPF_OBJ_PIN, attr)
        except OSError as e:
            raise _oserror(e.errno or 0, _pathname(path)) from None

    def bpf_obj_get(s: _Server, path: str, file_flags: int = 0, path_fd: int | None = None) -> int:
        attr, _p = obj_attr(s, path, 0, file_flags, path_fd)
        try:
            return _bpf(_BPF_OBJ_GET, attr)[0]
        except OSError as e:
            raise _oserror(e.errno or 0, _pathname(path)) from None

    table: dict[str, Any] = {
        name.rstrip("_"): fn
        for name, fn in locals().items()
        if callable(fn) and not isinstance(fn, type) and name not in ("elem", "obj_attr", "dfd")
    }
    for name in dir(_Server):
        if name.startswith("op_"):
            table["_" + name[3:]] = getattr(_Server, name)
    return table


class _LazyOps(dict[str, Any]):
    def get(self, key: str, default: Any = None) -> Any:
        if not self:
            self.update(_op_table())
        return super().get(key, default)


_OPS = _LazyOps()


# --------------------------------------------------------------------------- sandbox side


def _sandbox_main(argv: list[str]) -> NoReturn:
    """Entry point of the helper process (run as ``python -I -S -c ...``)."""
    ctl = int(argv[0])
    scratch = argv[1]
    parent = int(argv[2])
    _ATTR.update({int(cmd): fields for cmd, fields in json.loads(argv[3]).items()})
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _sys(_SYS_PRCTL, _PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)
        ctl = _move_high(ctl)
    except BaseException:
        os._exit(1)
    step = "start"
    try:
        step = "unshare(CLONE_NEWNS|CLONE_NEWPID)"
        _sys(_SYS_UNSHARE, _CLONE_NEWNS | _CLONE_NEWPID)
        step = "mount(NULL, /, MS_REC|MS_PRIVATE)"
        _sys(_SYS_MOUNT, None, b"/", None, _MS_REC | _MS_PRIVATE, None)
        step = "mount tmpfs on the scratch directory"
        _sys(_SYS_MOUNT, b"pinfs-live", _cstr(scratch), b"tmpfs", 0, b"mode=0755,uid=0,gid=0")
        import ctypes  # noqa: PLC0415 - ctypes (libffi) loads only where a raw syscall is made

        buf = ctypes.create_string_buffer(120)
        _sys(_SYS_STATFS, _cstr(scratch), ctypes.addressof(buf))
        parent_dev = os.stat(os.path.dirname(scratch)).st_dev
        if struct.unpack_from("<q", buf.raw)[0] != _TMPFS_MAGIC or (
            os.stat(scratch).st_dev == parent_dev
        ):
            raise RuntimeError("the scratch directory is not the fresh tmpfs")
        step = "build the boot tree"
        os.chmod(scratch, 0o755)
        os.chown(scratch, 0, 0)
        for rel, mode in (("tmp", 0o1777), ("sys", 0o755), ("sys/fs", 0o755)):
            os.mkdir(os.path.join(scratch, rel))
            os.chown(os.path.join(scratch, rel), 0, 0)
            os.chmod(os.path.join(scratch, rel), mode)
        bpfdir = os.path.join(scratch, "sys/fs/bpf")
        os.mkdir(bpfdir)
        os.chown(bpfdir, 0, 0)
        os.chmod(bpfdir, 0o755)
        _make_console(scratch)
        _possible_cpus()
        import array  # noqa: F401, PLC0415 - used by socket.send_fds; import before the chroot

        _OPS.get("")  # build the op table before the chroot hides the library files
        step = "fork the init process"
        pid = os.fork()
    except BaseException as e:
        _fatal(ctl, f"live kernel sandbox: {step} failed: {e}")
    if pid == 0:
        _init_main(ctl, scratch)
    os.close(ctl)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _fatal(ctl: int, message: str) -> NoReturn:
    try:
        os.write(ctl, _frame(("fatal", message)))
    finally:
        os._exit(1)


def _init_main(ctl: int, scratch: str) -> NoReturn:
    try:
        _sys(_SYS_PRCTL, _PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        _sys(_SYS_CHROOT, _cstr(scratch))
        os.chdir("/")
        os.umask(0o022)
        resource.setrlimit(resource.RLIMIT_NOFILE, _BOOT_NOFILE)
        resource.setrlimit(resource.RLIMIT_MEMLOCK, _BOOT_MEMLOCK)
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # reap every exited task
        _detach_stdio()
    except BaseException as e:
        _fatal(ctl, f"live kernel sandbox: init setup failed: {e}")
    try:
        _Server(ctl).serve()
    finally:
        os._exit(70)


_OLD_STDIO: list[object] = []


def _make_console(scratch: str) -> None:
    """``/dev/console`` of the boot tree, as pinfs boots it (crw------- root's, in a
    0755 ``/dev``), but with /dev/null's device number: the tasks' fds 0-2 are opened
    from it, and nothing they write may reach the host's real console."""
    dev = os.path.join(scratch, "dev")
    os.mkdir(dev)
    os.chown(dev, 0, 0)
    os.chmod(dev, 0o755)
    console = os.path.join(dev, "console")
    os.mknod(console, stat.S_IFCHR | 0o600, os.stat(os.devnull).st_rdev)
    os.chown(console, 0, 0)
    os.chmod(console, 0o600)


def _detach_stdio() -> None:
    """Replace fds 0-2 by the console, so tasks start with fds 0, 1 and 2 open as
    pinfs's do (``console_on_rootfs``); never write to them from here."""
    _OLD_STDIO.extend((sys.stdin, sys.stdout, sys.stderr))
    _OLD_STDIO.extend((sys.__stdin__, sys.__stdout__, sys.__stderr__))
    sys.stdin = sys.stdout = sys.stderr = None
    sys.__stdin__ = sys.__stdout__ = sys.__stderr__ = None  # type: ignore[misc]
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.close(fd)
    console = os.open("/dev/console", os.O_RDWR)  # the lowest free fd: 0
    os.set_inheritable(console, True)  # no close-on-exec, as init_dup installs it
    for fd in (1, 2):
        os.dup2(console, fd, inheritable=True)


_BOOTSTRAP = (
    "import importlib.util as u, sys\n"
    "s = u.spec_from_file_location('_pinfs_livekernel_sandbox', sys.argv[1])\n"
    "m = u.module_from_spec(s); sys.modules[s.name] = m; s.loader.exec_module(m)\n"
    "m._sandbox_main(sys.argv[2:])\n"
)


# --------------------------------------------------------------------------- harness side


class _Resources:
    """What :meth:`LiveKernel.close` must release (kept apart for ``weakref.finalize``)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.init_pidfd: int | None = None
        self.scratch: str | None = None
        self.fds: set[int] = set()

    def release(self) -> None:
        if self.init_pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.init_pidfd, signal.SIGKILL)
        if self.proc is not None:
            if self.init_pidfd is None:
                self.proc.kill()  # startup failed before the namespace had an init
            try:
                self.proc.wait(timeout=30)
            except Exception:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            self.proc = None
        for fd in sorted(self.fds):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()
        self.init_pidfd = None
        if self.scratch is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self.scratch)
            self.scratch = None


class LiveKernel:
    """A private Linux sandbox with pinfs's boot tree; see the module docstring."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        reason = None if sys.platform == "linux" else f"not Linux ({sys.platform})"
        if reason:
            raise RuntimeError(reason)
        import subprocess  # noqa: PLC0415 - only the harness side needs it, not the sandbox
        import tempfile  # noqa: PLC0415 - only the harness side needs it, not the sandbox

        self.timeout = timeout
        self._res = _Resources()
        self._finalizer = weakref.finalize(self, self._res.release)
        self._tasks: list[LiveTask] = []
        self.closed = False
        try:
            self._res.scratch = tempfile.mkdtemp(prefix="pinfs-live-")
            here, there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            with there:
                here.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
                hfd = here.detach()
                os.set_blocking(hfd, True)
                self._res.fds.add(hfd)
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-I",
                        "-S",
                        "-c",
                        _BOOTSTRAP,
                        os.path.abspath(__file__),
                        str(there.fileno()),
                        self._res.scratch,
                        str(os.getpid()),
                        json.dumps(_ATTR),
                    ],
                    pass_fds=(there.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    env={},
                )
            self._res.proc = proc
            try:
                self.init_task = LiveTask._attach(self, hfd)
            except (EOFError, RuntimeError) as e:
                detail = str(e)
                if isinstance(e, EOFError):
                    try:
                        _, err = proc.communicate(timeout=5)
                        detail = err.decode(errors="replace").strip()[-2000:]
                    except Exception:
                        detail = "no diagnostics"
                    detail = f"live kernel sandbox died during startup: {detail}"
                raise RuntimeError(detail) from None
            self._res.init_pidfd = self.init_task._pidfd
            if proc.stderr is not None:
                proc.stderr.close()
        except BaseException:
            self.close()
            raise

    # ---- public
    def spawn(
        self,
        uid: int = 0,
        gid: int | None = None,
        groups: Iterable[int] = (),
        caps: Iterable[int | str] | None = None,
        parent: LiveTask | None = None,
    ) -> LiveTask:
        """Fork a child of init (or of ``parent``) and give it these credentials
        (real=effective=saved=fs), as ``pinfs.Kernel.spawn``: ``gid`` defaults to
        ``uid``; by default uid 0 keeps every capability init has (the host's bounding
        set) and others get none."""
        gid = uid if gid is None else gid
        mask = self._default_caps(uid) if caps is None else _caps_mask(caps)
        child = (self.init_task if parent is None else parent).fork()
        try:
            child._call("_setcreds", uid, gid, [int(g) for g in groups], mask)
        except BaseException:
            if child.alive:
                child.exit(0)
            raise
        return child

    def _default_caps(self, uid: int) -> int:
        """pinfs's default: root keeps every capability (here: all init has)."""
        return self.init_task.capget()[1] if uid == 0 else 0

    @property
    def tasks(self) -> list[LiveTask]:
        """The tasks still alive."""
        return [t for t in self._tasks if t.alive]

    def close(self) -> None:
        """Kill every sandbox process (the whole pid namespace) and wait for them."""
        self.closed = True
        for t in self._tasks:
            t._dead = True
        self._finalizer()

    def __enter__(self) -> LiveKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self.tasks)} tasks"
        return f"<LiveKernel {state}>"


class LiveTask:
    """Proxy to one real process of a :class:`LiveKernel` sandbox.

    It speaks :class:`pinfs.Task`'s API: every method both have takes the same
    arguments (live-only extras are keyword-only), user memory is ``task.mem``
    (``alloc``/``read``/``write``/``free``), failures are ``OSError`` with the errno,
    and :meth:`LiveKernel.spawn` gives root every capability by default.  What only
    one side has is listed (and checked) in ``tests/test_live_parity.py``.
    """

    pid: int
    """The pid inside the sandbox's pid namespace (init is 1)."""
    host_pid: int
    """The pid as seen by the test process."""

    def __init__(self, kernel: LiveKernel, fd: int) -> None:
        self.kernel = kernel
        self._fd = fd
        self._pidfd = -1
        self._dead = False

    @classmethod
    def _attach(cls, kernel: LiveKernel, fd: int) -> LiveTask:
        task = cls(kernel, fd)
        kernel._res.fds.add(fd)
        kernel._tasks.append(task)
        task._send(("_hello", (), {}))
        reply, _, host_pid = task._recv()
        if reply[0] == "fatal":
            task._dead = True
            raise RuntimeError(reply[1])
        if host_pid is None:
            raise RuntimeError("live harness: no SCM_CREDENTIALS on the control socket")
        task.pid = reply[1]
        task.host_pid = host_pid
        task._pidfd = os.pidfd_open(host_pid)
        kernel._res.fds.add(task._pidfd)
        return task

    @property
    def alive(self) -> bool:
        return not self._dead and not self.kernel.closed

    def __repr__(self) -> str:
        state = "" if self.alive else " dead"
        return f"<LiveTask pid={getattr(self, 'pid', '?')}{state}>"

    # ---- transport
    def _send(self, obj: object) -> None:
        data = _frame(obj)
        while data:
            n = os.write(self._fd, data)
            data = data[n:]

    def _recv(self) -> tuple[Any, list[int], int | None]:
        """Read one frame; returns it with any passed fds and the sender's host pid."""
        buf = b""
        fds: list[int] = []
        pid: int | None = None
        need, length = 4, -1
        deadline = time.monotonic() + self.kernel.timeout
        s = socket.socket(fileno=self._fd)
        try:
            while True:
                while len(buf) < need:
                    left = deadline - time.monotonic()
                    if left <= 0 or not select.select([s], [], [], left)[0]:
                        for fd in fds:
                            os.close(fd)
                        raise TimeoutError
                    chunk, anc, _, _ = s.recvmsg(need - len(buf), _ANCBUF, socket.MSG_CMSG_CLOEXEC)
                    for level, kind, data in anc:
                        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                            fds.extend(
                                struct.unpack(f"<{len(data) // 4}i", data[: len(data) // 4 * 4])
                            )
                        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                            pid = struct.unpack_from("<i", data)[0]
                    if not chunk:
                        for fd in fds:
                            os.close(fd)
                        raise EOFError
                    buf += chunk
                if length >= 0:
                    return marshal.loads(buf[4:]), fds, pid
                length = int.from_bytes(buf[:4], "little")
                need = 4 + length
        finally:
            s.detach()

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        value, _ = self._call_fds(name, *args, **kwargs)
        return value

    def _call_fds(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, list[int]]:
        if not self.alive:
            raise RuntimeError(f"{self!r} is not alive (it exited or the kernel was closed)")
        try:
            self._send((name, args, kwargs))
            reply, fds, _ = self._recv()
        except TimeoutError:
            self._kill()
            raise TimeoutError(
                f"live {name}() did not return within {self.kernel.timeout}s; task killed"
            ) from None
        except (EOFError, OSError):
            self._dead = True
            raise RuntimeError(f"the process of {self!r} is gone") from None
        kind = reply[0]
        if kind == "ok":
            return reply[1], fds
        if kind == "err":
            err, path, log = reply[1], reply[2], reply[3]
            exc = _oserror(err, path)
            if log is not None:
                exc.bpf_log = log  # type: ignore[attr-defined]
            raise exc
        if kind == "exc":
            cls: type[Exception] = {"ValueError": ValueError, "TypeError": TypeError}.get(
                reply[1], RuntimeError
            )
            msg = reply[2] if cls is not RuntimeError else f"{reply[1]}: {reply[2]}"
            raise cls(msg)
        raise RuntimeError(f"live harness: unexpected reply {reply!r}")

    def _kill(self) -> None:
        self._dead = True
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        self._wait_gone()

    def _wait_gone(self) -> None:
        select.select([self._pidfd], [], [], self.kernel.timeout)
        self._close_fds()

    def _close_fds(self) -> None:
        for fd in (self._fd, self._pidfd):
            if fd in self.kernel._res.fds:
                self.kernel._res.fds.discard(fd)
                os.close(fd)

    # ---- processes and credentials
    def fork(self) -> LiveTask:
        """fork(2): a new task sharing this one's open files."""
        _, fds = self._call_fds("_fork")
        if len(fds) != 1:
            raise RuntimeError("live harness: fork did not pass a control socket")
        fd = fds[0]
        s = socket.socket(fileno=fd)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        finally:
            s.detach()
        return LiveTask._attach(self.kernel, fd)

    def exit(self, status: int = 0) -> None:
        """_exit(2); waits until the process is gone (its files are closed)."""
        if not self.alive:
            raise RuntimeError(f"{self!r} is not alive")
        self._send(("_exit", (status,), {}))
        self._dead = True
        self._wait_gone()
        if self.pid == 1:  # the namespace dies with its init
            self.kernel.close()

    def execve(self) -> None:
        """The effect of execve(2) on the fd table: close every close-on-exec fd."""
        self._call("_execve")

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        self._call("setresuid", ruid, euid, suid)

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        self._call("setresgid", rgid, egid, sgid)

    def setgroups(self, groups: Iterable[int]) -> None:
        self._call("setgroups", [int(g) for g in groups])

    def capset(self, effective: int, permitted: int, inheritable: int = 0) -> None:
        self._call("capset", effective, permitted, inheritable)

    def capget(self) -> tuple[int, int, int]:
        """(effective, permitted, inheritable) bitmasks."""
        e, p, i = self._call("capget")
        return int(e), int(p), int(i)

    def getpid(self) -> int:
        return int(self._call("getpid"))

    def getresuid(self) -> tuple[int, int, int]:
        r, e, s = self._call("getresuid")
        return int(r), int(e), int(s)

    def getresgid(self) -> tuple[int, int, int]:
        r, e, s = self._call("getresgid")
        return int(r), int(e), int(s)

    def getgroups(self) -> list[int]:
        return list(self._call("getgroups"))

    def setrlimit(
        self, resource: int, limits: tuple[int, int] | int, hard: int | None = None
    ) -> None:
        """``setrlimit(res, (soft, hard))`` or ``setrlimit(res, soft, hard)``, as
        :meth:`pinfs.Task.setrlimit` takes them (-1 is RLIM_INFINITY)."""
        if hard is None:
            if not isinstance(limits, (tuple, list)) or len(limits) != 2:
                raise TypeError(f"limits must be a (soft, hard) pair, not {limits!r}")
            limits, hard = limits
        self._call("_setrlimit", resource, limits, hard)

    def getrlimit(self, resource: int) -> tuple[int, int]:
        soft, hard = self._call("getrlimit", resource)
        return int(soft), int(hard)

    def unshare(self, flags: int) -> None:
        self._call("unshare", flags)

    # ---- namespace
    def mkdir(self, path: str, mode: int = 0o777) -> None:
        self._call("mkdir", path, mode)

    def rmdir(self, path: str) -> None:
        self._call("rmdir", path)

    def unlink(self, path: str) -> None:
        self._call("unlink", path)

    def rename(self, old: str, new: str, flags: int = 0) -> None:
        """renameat2(AT_FDCWD, old, AT_FDCWD, new, flags)."""
        self._call("rename", old, new, flags)

    def link(self, old: str, new: str) -> None:
        """link(2): does not follow a symlink ``old``."""
        self._call("link", old, new)

    def symlink(self, target: str, linkpath: str) -> None:
        self._call("symlink", target, linkpath)

    def readlink(self, path: str) -> str:
        return str(self._call("readlink", path))

    def mknod(self, path: str, mode: int, dev: int = 0) -> None:
        self._call("mknod", path, mode, dev)

    def open(self, path: str, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
        """openat(AT_FDCWD, ...) with exactly these flags (no implicit O_CLOEXEC)."""
        return int(self._call("open", path, flags, mode))

    def close(self, fd: int) -> None:
        self._call("close", fd)

    # ---- the *at calls: pinfs's Task signatures, raw syscalls (AT_FDCWD is -100)
    def openat(self, dirfd: int, path: str, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
        return int(self._call("openat", dirfd, path, flags, mode))

    def openat2(
        self, dirfd: int, path: str, flags: int = os.O_RDONLY, mode: int = 0, resolve: int = 0
    ) -> int:
        """openat2(2) with ``struct open_how`` {flags, mode, resolve}."""
        return int(self._call("openat2", dirfd, path, flags, mode, resolve))

    def mkdirat(self, dirfd: int, path: str, mode: int = 0o777) -> None:
        self._call("mkdirat", dirfd, path, mode)

    def mknodat(self, dirfd: int, path: str, mode: int, dev: int = 0) -> None:
        self._call("mknodat", dirfd, path, mode, dev)

    def unlinkat(self, dirfd: int, path: str, flags: int = 0) -> None:
        self._call("unlinkat", dirfd, path, flags)

    def renameat(self, olddirfd: int, old: str, newdirfd: int, new: str) -> None:
        self._call("renameat2", olddirfd, old, newdirfd, new, 0)

    def renameat2(self, olddirfd: int, old: str, newdirfd: int, new: str, flags: int = 0) -> None:
        self._call("renameat2", olddirfd, old, newdirfd, new, flags)

    def linkat(self, olddirfd: int, old: str, newdirfd: int, new: str, flags: int = 0) -> None:
        self._call("linkat", olddirfd, old, newdirfd, new, flags)

    def symlinkat(self, target: str, newdirfd: int, linkpath: str) -> None:
        self._call("symlinkat", target, newdirfd, linkpath)

    def readlinkat(self, dirfd: int, path: str) -> str:
        return str(self._call("readlinkat", dirfd, path))

    def fstatat(self, dirfd: int, path: str, flags: int = 0) -> LiveStat:
        return LiveStat(*self._call("fstatat", dirfd, path, flags))

    def statx(self, dirfd: int, path: str, flags: int = 0, mask: int = 0x7FF) -> LiveStatx:
        return LiveStatx(*self._call("statx", dirfd, path, flags, mask))

    def access(self, path: str, mode: int = 0) -> None:
        """access(2) as faccessat(AT_FDCWD, ...): raises instead of returning False."""
        self._call("faccessat", _AT_FDCWD, path, mode)

    def faccessat(self, dirfd: int, path: str, mode: int = 0) -> None:
        self._call("faccessat", dirfd, path, mode)

    def faccessat2(self, dirfd: int, path: str, mode: int = 0, flags: int = 0) -> None:
        self._call("faccessat2", dirfd, path, mode, flags)

    def fchmodat(self, dirfd: int, path: str, mode: int) -> None:
        self._call("fchmodat", dirfd, path, mode)

    def fchownat(self, dirfd: int, path: str, uid: int, gid: int, flags: int = 0) -> None:
        self._call("fchownat", dirfd, path, uid, gid, flags)

    def lchown(self, path: str, uid: int, gid: int) -> None:
        self._call("fchownat", _AT_FDCWD, path, uid, gid, 0x100)

    def fchmod(self, fd: int, mode: int) -> None:
        self._call("fchmod", fd, mode)

    def fchown(self, fd: int, uid: int, gid: int) -> None:
        self._call("fchown", fd, uid, gid)

    def getdents64(self, fd: int, count: int) -> bytes:
        """getdents64(2) into a ``count``-byte buffer: the raw records."""
        return bytes(self._call("getdents64", fd, count))

    def dup(self, fd: int) -> int:
        return int(self._call("dup", fd))

    def read(self, fd: int, count: int) -> bytes:
        return bytes(self._call("read", fd, count))

    def write(self, fd: int, data: bytes) -> int:
        return int(self._call("write", fd, bytes(data)))

    def lseek(self, fd: int, offset: int, whence: int = os.SEEK_SET) -> int:
        return int(self._call("lseek", fd, offset, whence))

    def dup2(self, oldfd: int, newfd: int) -> int:
        return int(self._call("dup2", oldfd, newfd))

    def dup3(self, oldfd: int, newfd: int, flags: int = 0) -> int:
        return int(self._call("dup3", oldfd, newfd, flags))

    def fcntl(self, fd: int, cmd: int, arg: int = 0) -> int:
        return int(self._call("fcntl", fd, cmd, arg))

    def uname(self) -> os.uname_result:
        return os.uname_result(self._call("uname"))

    def stat(self, path: str) -> LiveStat:
        return LiveStat(*self._call("stat", path))

    def lstat(self, path: str) -> LiveStat:
        return LiveStat(*self._call("lstat", path))

    def fstat(self, fd: int) -> LiveStat:
        return LiveStat(*self._call("fstat", fd))

    def statfs(self, path: str) -> LiveStatfs:
        return _make_statfs(self._call("statfs", path))

    def fstatfs(self, fd: int) -> LiveStatfs:
        return _make_statfs(self._call("fstatfs", fd))

    def listdir(self, path: str = ".") -> list[str]:
        """Names in getdents order, without "." and ".."."""
        return list(self._call("listdir", path))

    def chmod(self, path: str, mode: int) -> None:
        self._call("chmod", path, mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self._call("chown", path, uid, gid)

    def truncate(self, path: str, length: int) -> None:
        self._call("truncate", path, length)

    def chdir(self, path: str) -> None:
        self._call("chdir", path)

    def getcwd(self) -> str:
        """The raw getcwd(2) answer."""
        return str(self._call("getcwd"))

    def umask(self, mask: int) -> int:
        return int(self._call("umask", mask))

    def mount(
        self,
        source: str | None,
        target: str,
        fstype: str | None,
        flags: int = 0,
        data: str | bytes | None = None,
    ) -> None:
        self._call("mount", source, target, fstype, flags, data)

    def umount(self, target: str, flags: int = 0) -> None:
        """umount2(2)."""
        self._call("umount", target, flags)

    def chroot(self, path: str) -> None:
        """chroot(2)."""
        self._call("chroot", path)

    def fchdir(self, fd: int) -> None:
        """fchdir(2)."""
        self._call("fchdir", fd)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        """pivot_root(2)."""
        self._call("pivot_root", new_root, put_old)

    # ---- bpf: the same helpers, names and signatures as pinfs's Task
    def bpf(self, cmd: int, attr_addr: int | bytes, size: int | None = None) -> int:
        """bpf(2): ``attr_addr`` is an address in this task's memory (``task.mem``), as
        in pinfs; live only, it may also be the attr bytes (copied in, ``size`` their
        length by default)."""
        attr = attr_addr if isinstance(attr_addr, int) else bytes(attr_addr)
        return int(self._call("bpf", cmd, attr, size))

    @property
    def mem(self) -> LiveUserMemory:
        """This task's user memory, with pinfs's ``UserMemory`` calls."""
        return LiveUserMemory(self)

    def write_user(self, data: bytes) -> int:
        """Copy ``data`` into the task's memory; returns its address."""
        return int(self._call("_write_user", bytes(data)))

    def read_user(self, address: int, size: int) -> bytes:
        """Read back memory of a :meth:`write_user` buffer."""
        return bytes(self._call("_read_user", address, size))

    def free_user(self, address: int) -> None:
        self._call("_free_user", address)

    def map_create(
        self,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        map_flags: int = 0,
        map_name: str | bytes | None = None,
    ) -> int:
        """BPF_MAP_CREATE: returns the new map's fd."""
        name = map_name.decode() if isinstance(map_name, bytes) else (map_name or "")
        args = (map_type, key_size, value_size, max_entries, map_flags, name)
        return int(self._call("bpf_map_create", *args))

    def map_update_elem(self, fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
        """BPF_MAP_UPDATE_ELEM."""
        self._call("bpf_map_update_elem", fd, bytes(key), bytes(value), flags)

    def map_lookup_elem(self, fd: int, key: bytes, *, flags: int = 0) -> bytes:
        """BPF_MAP_LOOKUP_ELEM: the value (``flags``: live only)."""
        return bytes(self._call("bpf_map_lookup_elem", fd, bytes(key), flags))

    def map_delete_elem(self, fd: int, key: bytes) -> None:
        """BPF_MAP_DELETE_ELEM."""
        self._call("bpf_map_delete_elem", fd, bytes(key))

    def map_get_next_key(self, fd: int, key: bytes | None = None) -> bytes:
        """BPF_MAP_GET_NEXT_KEY; ``key=None`` passes NULL."""
        return bytes(self._call("bpf_map_get_next_key", fd, None if key is None else bytes(key)))

    def bpf_map_info(self, fd: int) -> LiveBpfMapInfo:
        """BPF_OBJ_GET_INFO_BY_FD of a map (live only)."""
        return LiveBpfMapInfo(*self._call("bpf_map_info", fd))

    def prog_load(
        self,
        prog_type: int,
        insns: bytes,
        license: str = "GPL",
        log_level: int = 0,
        log_size: int = 0,
        kern_version: int = 0,
        *,
        expected_attach_type: int = 0,
        prog_name: str = "",
    ) -> int:
        """BPF_PROG_LOAD: returns the program's fd; with ``log_size`` a log buffer of that
        size is provided, and a failure carries the verifier log in ``.bpf_log``.
        ``expected_attach_type`` and ``prog_name``: live only."""
        return int(
            self._call(
                "bpf_prog_load",
                prog_type,
                bytes(insns),
                license,
                expected_attach_type,
                log_level,
                kern_version,
                prog_name,
                log_size,
            )
        )

    def obj_pin(
        self, fd: int, path: str | bytes, file_flags: int = 0, path_fd: int | None = None
    ) -> None:
        """BPF_OBJ_PIN (``path_fd`` sets BPF_F_PATH_FD)."""
        self._call("bpf_obj_pin", fd, path, file_flags, path_fd)

    def obj_get(self, path: str | bytes, file_flags: int = 0, path_fd: int | None = None) -> int:
        """BPF_OBJ_GET (``path_fd`` sets BPF_F_PATH_FD)."""
        return int(self._call("bpf_obj_get", path, file_flags, path_fd))


class LiveUserMemory:
    """A live task's memory seen through pinfs's ``UserMemory`` calls: ``alloc`` (bytes,
    or a size for a zeroed buffer), ``read``, ``write`` and ``free``; outside a buffer
    they fail with EFAULT."""

    def __init__(self, task: LiveTask) -> None:
        self._task = task

    def alloc(self, data: bytes | bytearray | int) -> int:
        return self._task.write_user(bytes(data))  # bytes(n): n zero bytes

    def read(self, address: int, n: int) -> bytes:
        return self._task.read_user(address, n)

    def write(self, address: int, data: bytes) -> None:
        self._task._call("_poke_user", address, bytes(data))

    def free(self, address: int) -> None:
        self._task.free_user(address)
