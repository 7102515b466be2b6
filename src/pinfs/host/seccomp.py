"""The kernel interfaces the host needs, through ctypes (x86_64 only).

seccomp user notification (``seccomp(2)``, ``ioctl(SECCOMP_IOCTL_NOTIF_*)``),
``process_vm_readv``/``process_vm_writev`` and ``prctl(PR_SET_NO_NEW_PRIVS)``.  No
PyPI package offers the notification ioctls with ADDFD and CONTINUE (the libseccomp
binding stops at receive/respond), so this is the one small ctypes layer.

Kernel releases of what is used (include/uapi/linux/seccomp.h history):
SECCOMP_FILTER_FLAG_NEW_LISTENER and the RECV/SEND/ID_VALID ioctls v5.0,
SECCOMP_USER_NOTIF_FLAG_CONTINUE v5.5, SECCOMP_IOCTL_NOTIF_ADDFD v5.9,
SECCOMP_ADDFD_FLAG_SEND v5.14, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV v5.19,
SECCOMP_IOCTL_NOTIF_SET_FLAGS / SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP v6.6 (optional).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import platform
import struct
from collections.abc import Iterable, Iterator
from typing import Any

MINIMUM_KERNEL = "5.14"  # ADDFD_FLAG_SEND is the newest feature we cannot do without

# x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl)
NR_SECCOMP = 317
NR_PROCESS_VM_READV = 310
NR_PROCESS_VM_WRITEV = 311

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_GET_NOTIF_SIZES = 3
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
SECCOMP_ADDFD_FLAG_SETFD = 1
SECCOMP_ADDFD_FLAG_SEND = 2
SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP = 1
PR_SET_NO_NEW_PRIVS = 38

# struct seccomp_notif: id, pid, flags, then struct seccomp_data (nr, arch, ip, args[6])
_NOTIF = struct.Struct("=QIIiIQ6Q")
# struct seccomp_notif_resp: id, val, error, flags
_RESP = struct.Struct("=QqiI")
# struct seccomp_notif_addfd: id, flags, srcfd, newfd, newfd_flags
_ADDFD = struct.Struct("=QIIII")
_ID = struct.Struct("=Q")


def _iowr(nr: int, size: int, read: bool) -> int:
    direction = 3 if read else 1  # _IOC_READ|_IOC_WRITE, or _IOC_WRITE
    return (direction << 30) | (size << 16) | (ord("!") << 8) | nr


IOCTL_NOTIF_RECV = _iowr(0, _NOTIF.size, True)
IOCTL_NOTIF_SEND = _iowr(1, _RESP.size, True)
IOCTL_NOTIF_ID_VALID = _iowr(2, 8, False)
IOCTL_NOTIF_ADDFD = _iowr(3, _ADDFD.size, False)
IOCTL_NOTIF_SET_FLAGS = _iowr(4, 8, False)

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.ioctl.restype = ctypes.c_int
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]


def _syscall(nr: int, *args: object) -> int:
    """syscall(2) with every integer passed as a full C long (variadic ABI)."""
    wide = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return int(_libc.syscall(ctypes.c_long(nr), *wide))


class HostUnsupported(RuntimeError):
    """This machine cannot host programs (architecture, kernel feature, policy)."""


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def check_platform() -> None:
    """Refuse early, naming what is missing."""
    machine = platform.machine()
    if os.uname().sysname != "Linux" or machine != "x86_64":
        raise HostUnsupported(
            f"pinfs run needs Linux on x86_64 (this is {os.uname().sysname} {machine}): "
            "the seccomp filter and syscall numbers are x86_64's"
        )
    action = ctypes.c_uint32(SECCOMP_RET_USER_NOTIF)
    if _syscall(NR_SECCOMP, SECCOMP_GET_ACTION_AVAIL, 0, ctypes.byref(action)) < 0:
        raise HostUnsupported(
            "the kernel has no seccomp user notification (SECCOMP_RET_USER_NOTIF, Linux 5.0; "
            f"pinfs run needs Linux >= {MINIMUM_KERNEL}): "
            f"{os.strerror(ctypes.get_errno())}"
        )


class SockFilter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter)))


# classic BPF opcodes (include/uapi/linux/filter.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06


def filter_program(
    syscalls: Iterable[int],
    when_arg: dict[int, tuple[int, int]] | None = None,
    fd_from: dict[int, int] | None = None,
    first_fd: int = 3,
) -> list[tuple[int, int, int, int]]:
    """The classic-BPF filter: foreign ABIs (i386, x32) get ENOSYS so that nothing
    slips past under another syscall number; ``syscalls`` notify; the rest run.
    ``when_arg`` maps a syscall to (argument index, value): it notifies only when the
    low 32 bits of that argument are that value (fcntl's F_GETFL, not every fcntl).
    ``fd_from`` maps a syscall to the index of its fd argument: it notifies only for
    fds from ``first_fd`` up (not negative ones: read(1, ...) costs nothing)."""
    special = set(when_arg or {}) | set(fd_from or {})
    numbers = sorted(set(syscalls) - special)
    prog = [
        (_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS),
        (_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        (_JGE_K, 0, 1, X32_SYSCALL_BIT),
        (_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS),
    ]
    for nr, (arg, value) in sorted((when_arg or {}).items()):
        prog += [
            (_JEQ_K, 0, 4, nr),  # not this call: on, with the number still loaded
            (_LD_W_ABS, 0, 0, 16 + 8 * arg),  # seccomp_data.args[arg], low half
            (_JEQ_K, 0, 1, value),
            (_RET_K, 0, 0, SECCOMP_RET_USER_NOTIF),
            (_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        ]
    for nr, arg in sorted((fd_from or {}).items()):
        prog += [
            (_JEQ_K, 0, 5, nr),
            (_LD_W_ABS, 0, 0, 16 + 8 * arg),  # the fd, as the int it is
            (_JGE_K, 2, 0, 0x80000000),  # negative: run (EBADF, or MAP_ANONYMOUS's -1)
            (_JGE_K, 0, 1, first_fd),
            (_RET_K, 0, 0, SECCOMP_RET_USER_NOTIF),
            (_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        ]
    for index, nr in enumerate(numbers):
        remaining = len(numbers) - index - 1
        prog.append((_JEQ_K, remaining + 1, 0, nr))  # jump to the NOTIF return
    prog.append((_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    prog.append((_RET_K, 0, 0, SECCOMP_RET_USER_NOTIF))
    return prog


def install_filter(
    syscalls: Iterable[int],
    when_arg: dict[int, tuple[int, int]] | None = None,
    fd_from: dict[int, int] | None = None,
) -> int:
    """In the child: no_new_privs, then the filter; returns the listener fd."""
    _check(
        _libc.prctl(
            PR_SET_NO_NEW_PRIVS,
            ctypes.c_ulong(1),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        ),
        "prctl(PR_SET_NO_NEW_PRIVS)",
    )
    prog = filter_program(syscalls, when_arg, fd_from)
    array = (SockFilter * len(prog))(*(SockFilter(*ins) for ins in prog))
    fprog = SockFprog(len(prog), array)
    flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    fd = _syscall(NR_SECCOMP, SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(fprog))
    if fd < 0 and ctypes.get_errno() == errno.EINVAL:  # before v5.19: no WAIT_KILLABLE_RECV
        flags &= ~SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        fd = _syscall(NR_SECCOMP, SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(fprog))
    return _check(fd, "seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER)")


class Notification:
    """One intercepted syscall (``struct seccomp_notif``)."""

    __slots__ = ("args", "id", "nr", "pid")

    def __init__(self, raw: bytes | bytearray) -> None:
        fields = _NOTIF.unpack(raw)
        self.id: int = fields[0]
        self.pid: int = fields[1]
        self.nr: int = fields[3]
        self.args: list[int] = list(fields[6:])

    def __repr__(self) -> str:
        return f"<Notification pid={self.pid} nr={self.nr} args={self.args}>"


class Listener:
    """The supervisor's end: receive, answer, pass through, install fds.

    The ioctls go through :func:`fcntl.ioctl` on preallocated ``bytearray`` buffers:
    a ctypes call costs about a microsecond more, and there are two per call."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._resp_buf = bytearray(_RESP.size)
        self._addfd_buf = bytearray(_ADDFD.size)
        self._id_buf = bytearray(8)
        self.sync_wakeup = self._set_sync_wakeup()

    def _set_sync_wakeup(self) -> bool:
        """SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (v6.6): the woken task runs on our CPU."""
        flag = ctypes.c_void_p(SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)  # the value, not a pointer
        return int(_libc.ioctl(self.fd, IOCTL_NOTIF_SET_FLAGS, flag)) == 0

    def receive(self) -> Notification | None:
        """The next notification, or None if the target died before we read it."""
        buf = bytearray(_NOTIF.size)  # seccomp_notify_recv wants it zeroed
        try:
            fcntl.ioctl(self.fd, IOCTL_NOTIF_RECV, buf, True)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EINTR):
                return None
            raise OSError(exc.errno, f"SECCOMP_IOCTL_NOTIF_RECV: {exc.strerror}") from None
        return Notification(buf)

    def id_valid(self, notif_id: int) -> bool:
        """Still waiting for our answer (its memory is still the caller's)."""
        _ID.pack_into(self._id_buf, 0, notif_id)
        try:
            fcntl.ioctl(self.fd, IOCTL_NOTIF_ID_VALID, self._id_buf, False)
        except OSError:
            return False
        return True

    def _send(self, notif_id: int, val: int, error: int, flags: int) -> None:
        _RESP.pack_into(self._resp_buf, 0, notif_id, val, error, flags)
        try:
            fcntl.ioctl(self.fd, IOCTL_NOTIF_SEND, self._resp_buf, False)
        except OSError as exc:
            if exc.errno != errno.ENOENT:  # the caller was killed meanwhile
                raise OSError(exc.errno, f"SECCOMP_IOCTL_NOTIF_SEND: {exc.strerror}") from None

    def reply(self, notif_id: int, value: int) -> None:
        self._send(notif_id, value, 0, 0)

    def fail(self, notif_id: int, err: int) -> None:
        self._send(notif_id, 0, -err, 0)

    def pass_through(self, notif_id: int) -> None:
        """SECCOMP_USER_NOTIF_FLAG_CONTINUE: the real kernel runs the call."""
        self._send(notif_id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)

    def reply_fd(self, notif_id: int, srcfd: int, cloexec: bool) -> int:
        """ADDFD with SECCOMP_ADDFD_FLAG_SEND: install ``srcfd`` in the caller and make
        its number the syscall's result in one step; returns that number (-1 if the
        caller died)."""
        flags = os.O_CLOEXEC if cloexec else 0
        _ADDFD.pack_into(self._addfd_buf, 0, notif_id, SECCOMP_ADDFD_FLAG_SEND, srcfd, 0, flags)
        try:
            return int(fcntl.ioctl(self.fd, IOCTL_NOTIF_ADDFD, self._addfd_buf, True))
        except OSError as exc:
            err = exc.errno
            if err == errno.ENOENT:
                return -1
            if err == errno.EINVAL:
                raise HostUnsupported(
                    "SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND needs Linux >= 5.14"
                ) from None
            if err == errno.EMFILE:
                self.fail(notif_id, errno.EMFILE)
                return -1
            raise OSError(err, f"SECCOMP_IOCTL_NOTIF_ADDFD: {exc.strerror}") from None


class _IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


def _raw(name: str) -> Any:
    """A libc function called without argtypes: every argument is passed as a ctypes
    instance of its C type, which skips ctypes' per-call conversion (a microsecond)."""
    fn = getattr(_libc, name)
    fn.restype = ctypes.c_ssize_t
    return fn


_process_vm_readv = _raw("process_vm_readv")
_process_vm_writev = _raw("process_vm_writev")
#: One buffer and one pair of iovecs, reused (the supervisor is single-threaded) and
#: filled through memoryviews: building or setting ctypes objects per call cost more
#: than the syscall.
_BUF_SIZE = 1 << 16
_buf = ctypes.create_string_buffer(_BUF_SIZE)
_buf_view = memoryview(_buf).cast("B")
_local = _IoVec(ctypes.addressof(_buf), 0)
_remote = _IoVec(0, 0)
_local_words = memoryview(_local).cast("B").cast("Q")  # base, len
_remote_words = memoryview(_remote).cast("B").cast("Q")
_local_ref = ctypes.byref(_local)
_remote_ref = ctypes.byref(_remote)
_ONE = ctypes.c_ulong(1)
_ZERO = ctypes.c_ulong(0)


def _transfer(fn: Any, pid: int, address: int, size: int) -> int:
    _local_words[1] = size
    _remote_words[0] = address
    _remote_words[1] = size
    return int(fn(ctypes.c_int(pid), _local_ref, _ONE, _remote_ref, _ONE, _ZERO))


def read_child(pid: int, address: int, size: int) -> bytes:
    """``process_vm_readv``: up to ``size`` bytes (fewer at the end of a mapping)."""
    if size <= 0 or not 0 <= address < 1 << 64:
        return b""
    if size > _BUF_SIZE:
        return b"".join(_chunks(pid, address, size))
    n = _transfer(_process_vm_readv, pid, address, size)
    return bytes(_buf_view[:n]) if n > 0 else b""


def _chunks(pid: int, address: int, size: int) -> Iterator[bytes]:
    for offset in range(0, size, _BUF_SIZE):
        part = read_child(pid, address + offset, min(_BUF_SIZE, size - offset))
        yield part
        if len(part) < min(_BUF_SIZE, size - offset):
            return


def write_child(pid: int, address: int, data: bytes) -> int:
    """``process_vm_writev``: how many bytes were written."""
    if not data or not 0 <= address < 1 << 64:
        return 0
    if len(data) > _BUF_SIZE:
        head = write_child(pid, address, data[:_BUF_SIZE])
        if head < _BUF_SIZE:
            return head
        return head + write_child(pid, address + _BUF_SIZE, data[_BUF_SIZE:])
    _buf_view[: len(data)] = data
    return max(_transfer(_process_vm_writev, pid, address, len(data)), 0)
