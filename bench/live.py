"""The live-kernel contender: timing loops run inside a private sandbox.

:meth:`LiveSandbox.start` forks a child that

1. asks to be SIGKILLed when the benchmark process dies (``PR_SET_PDEATHSIG``);
2. calls ``unshare(CLONE_NEWNS)`` and then ``mount(NULL, "/", NULL, MS_REC|MS_PRIVATE,
   NULL)`` *before* mounting anything, so nothing it mounts can propagate to the host;
3. mounts a fresh bpffs and a tmpfs on two directories of a ``tempfile.mkdtemp()``
   directory (made by the parent; on the host they stay empty) and checks their
   ``statfs`` magics;
4. creates one ``BPF_MAP_TYPE_ARRAY`` 4/4/1 map and the depth-benchmark pins, then
   serves requests ``(loop, n)``: it runs ``n`` iterations of the loop with direct
   syscalls (``ctypes`` ``syscall(321, ...)`` for ``bpf(2)``, :mod:`os` for the VFS
   calls) between two ``perf_counter_ns()`` readings and sends back only the
   nanoseconds.  The per-request IPC is therefore not part of any figure.

The host's ``/sys/fs/bpf`` is never touched.  :meth:`LiveSandbox.close` asks the child
to exit (SIGKILL after a timeout); its mount namespace, and with it the scratch bpffs
and tmpfs and every bpf object, die with it; then the parent removes the empty
directories.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from bench.timing import Timer

__all__ = ["LOOPS", "LiveSandbox", "live_precheck"]

_SYS_BPF = 321
_BPF_MAP_CREATE = 0
_BPF_OBJ_PIN = 6
_BPF_OBJ_GET = 7
_BPF_MAP_TYPE_ARRAY = 2
_CLONE_NEWNS = 0x00020000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_MNT_DETACH = 2
_PR_SET_PDEATHSIG = 1
_BPF_FS_MAGIC = 0xCAFE4A11
_TMPFS_MAGIC = 0x01021994
DEPTH_DIRS = 16

#: The loops the sandbox serves (same names as the pinfs contenders use in the report).
LOOPS = ("cycle", "mkdir", "create", "get_depth1", "get_depth16")


def live_precheck() -> str | None:
    """Why the live sandbox cannot even be tried here (``None`` if it can)."""
    if sys.platform != "linux":
        return f"not Linux ({sys.platform})"
    if platform.machine() != "x86_64":
        return f"syscall numbers are only known for x86_64, not {platform.machine()}"
    if os.geteuid() != 0:
        return "not root (euid != 0): unshare(CLONE_NEWNS) and mounting a bpffs need root"
    return None


class LiveSandbox:
    """The parent's handle on the sandboxed child."""

    def __init__(self, sock: socket.socket, pid: int, base: str, info: dict[str, Any]) -> None:
        self._sock = sock
        self._file = sock.makefile("rwb")
        self.pid = pid
        self.base = base
        self.info = info
        self.closed = False

    @classmethod
    def start(cls, timeout: float = 30.0) -> tuple[LiveSandbox | None, str | None]:
        """Fork the sandbox; returns ``(sandbox, None)`` or ``(None, reason)``."""
        reason = live_precheck()
        if reason is not None:
            return None, reason
        base = tempfile.mkdtemp(prefix="pinfs-bench-")
        os.mkdir(os.path.join(base, "bpf"), 0o700)
        os.mkdir(os.path.join(base, "tmp"), 0o700)
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child never returns
            parent_sock.close()
            _child_main(child_sock, base, parent)
        child_sock.close()
        parent_sock.settimeout(timeout)
        box = cls(parent_sock, pid, base, {})
        try:
            reply = box._recv()
        except (OSError, EOFError, ValueError) as e:
            box.close()
            return None, f"live sandbox did not start: {e}"
        if "error" in reply:
            box.close()
            return None, f"live sandbox: {reply['error']}"
        box.info = reply
        parent_sock.settimeout(None if timeout <= 0 else max(timeout, 600.0))
        return box, None

    def _recv(self) -> dict[str, Any]:
        line = self._file.readline()
        if not line:
            raise EOFError("the live sandbox exited")
        msg: dict[str, Any] = json.loads(line)
        return msg

    def run(self, loop: str, n: int) -> float:
        """Run ``n`` iterations of ``loop`` in the sandbox; the seconds it measured."""
        if self.closed:
            raise RuntimeError("live sandbox is closed")
        self._file.write(json.dumps({"loop": loop, "n": n}).encode() + b"\n")
        self._file.flush()
        reply = self._recv()
        if "error" in reply:
            raise RuntimeError(f"live {loop}: {reply['error']}")
        return float(reply["ns"]) / 1e9

    def timer(self, loop: str) -> Timer:
        def timer(n: int) -> float:
            return self.run(loop, n)

        return timer

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError, ValueError):
            self._file.write(b'{"loop": "exit"}\n')
            self._file.flush()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                break
            time.sleep(0.01)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)  # our own child, by pid
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            self._file.close()
        self._sock.close()
        # The mounts lived only in the child's mount namespace: on the host the two
        # directories are the empty ones the parent made.  rmdir (not rmtree) so that
        # nothing but empty directories can ever be removed.
        for sub in ("bpf", "tmp", ""):
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(self.base, sub) if sub else self.base)
        if os.path.exists(self.base):  # pragma: no cover - should not happen
            print(f"warning: could not remove {self.base}", file=sys.stderr)

    def __enter__(self) -> LiveSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- the child


def _child_main(sock: socket.socket, base: str, parent: int) -> NoReturn:
    status = 1
    try:
        f = sock.makefile("rwb")

        def send(obj: dict[str, Any]) -> None:
            f.write(json.dumps(obj).encode() + b"\n")
            f.flush()

        try:
            loops, info = _setup(base, parent)
        except Exception as e:
            send({"error": f"{type(e).__name__}: {e}"})
            raise SystemExit(1) from None
        send(info)
        while True:
            line = f.readline()
            if not line:
                break
            req = json.loads(line)
            if req.get("loop") == "exit":
                status = 0
                break
            try:
                ns = loops[req["loop"]](int(req["n"]))
                send({"ns": ns})
            except Exception as e:
                send({"error": f"{type(e).__name__}: {e}"})
        status = 0
    except SystemExit:
        pass
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(status)


_KEEP_ALIVE: list[Any] = []  # the child's ctypes buffers


def _setup(base: str, parent: int) -> tuple[dict[str, Callable[[int], int]], dict[str, Any]]:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def check(ret: int, what: str) -> int:
        if ret < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")
        return ret

    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    check(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:
        raise RuntimeError("the benchmark process is gone")

    # 1. a private mount namespace, every mount private before anything is mounted.
    libc.unshare.argtypes = [ctypes.c_int]
    check(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    libc.mount.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_void_p,
    ]
    check(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "mount(/, MS_REC|MS_PRIVATE)")

    # 2. scratch filesystems on the parent's mkdtemp() directories.
    bpfdir = os.path.join(base, "bpf").encode()
    tmpdir = os.path.join(base, "tmp").encode()
    check(libc.mount(b"bpf", bpfdir, b"bpf", 0, None), "mount bpffs")
    check(libc.mount(b"tmpfs", tmpdir, b"tmpfs", 0, None), "mount tmpfs")
    libc.statfs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    for d, magic, name in ((bpfdir, _BPF_FS_MAGIC, "bpffs"), (tmpdir, _TMPFS_MAGIC, "tmpfs")):
        buf = ctypes.create_string_buffer(120)
        check(libc.statfs(d, ctypes.addressof(buf)), f"statfs {name}")
        f_type = struct.unpack_from("<q", buf.raw)[0]
        if f_type != magic:
            raise RuntimeError(f"{d!r} is not a {name} (f_type {f_type:#x})")

    # 3. bpf(2) through syscall(321, cmd, attr, size).
    sysc = libc.syscall
    sysc.restype = ctypes.c_long
    sysc.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_ulong]

    def cbuf(data: bytes) -> int:
        b = ctypes.create_string_buffer(data, len(data) + 1)
        _KEEP_ALIVE.append(b)  # the loops hold only the addresses
        return ctypes.addressof(b)

    mc = struct.pack("<6I", _BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, 0).ljust(48, b"\0")
    mapfd = check(sysc(_SYS_BPF, _BPF_MAP_CREATE, cbuf(mc), 48), "bpf(BPF_MAP_CREATE)")

    def attr(path: bytes, fd: int) -> int:
        return cbuf(struct.pack("<QII", cbuf(path), fd, 0))

    m = bpfdir + b"/m"
    pin_m, get_m = attr(m, mapfd), attr(m, 0)

    def fail(what: str) -> NoReturn:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")

    def cycle(n: int) -> int:
        unlink, close = os.unlink, os.close
        start = time.perf_counter_ns()
        for _ in range(n):
            if sysc(_SYS_BPF, _BPF_OBJ_PIN, pin_m, 16) < 0:
                fail("BPF_OBJ_PIN")
            g = sysc(_SYS_BPF, _BPF_OBJ_GET, get_m, 16)
            if g < 0:
                fail("BPF_OBJ_GET")
            close(g)
            unlink(m)
        return time.perf_counter_ns() - start

    d = tmpdir + b"/d"
    fpath = tmpdir + b"/f"
    flags = os.O_CREAT | os.O_WRONLY

    def mkdir(n: int) -> int:
        mk, rm = os.mkdir, os.rmdir
        start = time.perf_counter_ns()
        for _ in range(n):
            mk(d)
            rm(d)
        return time.perf_counter_ns() - start

    def create(n: int) -> int:
        open_, close, unlink = os.open, os.close, os.unlink
        start = time.perf_counter_ns()
        for _ in range(n):
            fd = open_(fpath, flags, 0o644)
            close(fd)
            unlink(fpath)
        return time.perf_counter_ns() - start

    # depth k: the pin sits under k directories below the bpffs root.
    p = bpfdir
    for i in range(1, DEPTH_DIRS + 1):
        p += b"/d%d" % i
        os.mkdir(p, 0o700)
    shallow = bpfdir + b"/d1/m"
    deep = p + b"/m"
    for path in (shallow, deep):
        check(sysc(_SYS_BPF, _BPF_OBJ_PIN, attr(path, mapfd), 16), "bpf(BPF_OBJ_PIN)")

    def get_loop(path: bytes) -> Callable[[int], int]:
        a = attr(path, 0)

        def loop(n: int) -> int:
            close = os.close
            start = time.perf_counter_ns()
            for _ in range(n):
                g = sysc(_SYS_BPF, _BPF_OBJ_GET, a, 16)
                if g < 0:
                    fail("BPF_OBJ_GET")
                close(g)
            return time.perf_counter_ns() - start

        return loop

    loops: dict[str, Callable[[int], int]] = {
        "cycle": cycle,
        "mkdir": mkdir,
        "create": create,
        "get_depth1": get_loop(shallow),
        "get_depth16": get_loop(deep),
    }
    info = {
        "kernel": platform.release(),
        "bpffs": os.fsdecode(bpfdir),
        "tmpfs": os.fsdecode(tmpdir),
        "how": "forked child: unshare(CLONE_NEWNS), MS_REC|MS_PRIVATE, scratch bpffs + tmpfs",
    }
    return loops, info
