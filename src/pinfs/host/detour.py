"""Real paths reached through a simulated mount, served on the real system.

``..`` out of a simulated mount, a symlink in one that leads out, or a relative path
from a simulated cwd or directory fd can land on a real file.  The real kernel, given
the program's own path, would walk it another way (through the covering tmpfs, or
from the real cwd), so such a call cannot be passed through: the supervisor makes it
itself, on the path the resolver found, seen from the process's root
(``/proc/PID/root``), with the process's umask, and answers with the outcome (an fd
installed with ADDFD, a ``struct stat``, a link's text, an access check).  Other
calls on such paths are refused as unmodelled.  The supervisor's credentials are
the process's at the start of the run (not its later setuid).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from pinfs.fs.attr import Kstat
from pinfs.host.context import Call
from pinfs.host.context import Served as Supervisor
from pinfs.host.fileops import PASS_DONE

AT_SYMLINK_NOFOLLOW = 0x100


def _real(sup: Supervisor, call: Call) -> str:
    assert sup.last_host is not None
    return f"/proc/{call.pid}/root{sup.last_host}"


def _umask(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def open_on_host(sup: Supervisor, call: Call, flags: int, mode: int) -> object:
    """open/openat/openat2: opened here, installed in the process (ADDFD)."""
    cloexec = bool(flags & os.O_CLOEXEC)
    old = os.umask(_umask(call.pid))
    try:
        fd = os.open(_real(sup, call), (flags & 0xFFFFFFFF) | os.O_CLOEXEC, mode & 0o7777)
    finally:
        os.umask(old)
    try:
        sup.listener_reply_fd(call, fd, cloexec)
    finally:
        os.close(fd)
    return PASS_DONE


def kstat(st: os.stat_result) -> Kstat:
    """A real ``stat`` as the model's Kstat (device numbers in the kernel's form)."""

    def kdev(dev: int) -> int:
        return os.major(dev) << 20 | os.minor(dev)

    return Kstat(
        kdev(st.st_dev), st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
        kdev(st.st_rdev), st.st_size, st.st_blksize, st.st_blocks,
        st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns,
    )  # fmt: skip


def stat(sup: Supervisor, call: Call) -> Kstat:
    """stat family: the resolver has followed the links it had to; the last
    component is a link only for lstat and AT_SYMLINK_NOFOLLOW."""
    return kstat(os.stat(_real(sup, call), follow_symlinks=False))


def _readlink(sup: Supervisor, call: Call, pidx: int) -> int:
    size = call.sarg(pidx + 2)
    if size <= 0:
        raise OSError(errno.EINVAL, "bufsiz")
    body = os.fsencode(os.readlink(_real(sup, call)))[:size]
    call.mem.write(call.arg(pidx + 1), body)
    return len(body)


def _access(sup: Supervisor, call: Call, pidx: int) -> int:
    mode = call.arg(pidx + 1) & 0xFFFFFFFF
    if mode & ~7:
        raise OSError(errno.EINVAL, "mode")
    real = _real(sup, call)
    os.stat(real)  # ENOENT, ENOTDIR, ELOOP first
    if mode and not os.access(real, mode):
        raise OSError(errno.EACCES, "access")
    return 0


SERVED: dict[str, Callable[[Supervisor, Call, int], object]] = {
    "readlink": _readlink,
    "access": _access,
}
