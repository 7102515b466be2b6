"""What the hosted program reads in ``/proc`` about the simulated kernel.

``/proc/PID/fdinfo/N`` of a placeholder fd is the model's procfs text for the pinfs
file (``pos``, ``flags``, ``mnt_id``, ``ino``, then ``bpf_map_show_fdinfo`` or
``bpf_prog_show_fdinfo``); ``/proc/PID/mounts`` and ``/proc/PID/mountinfo`` are the
real files with each simulated mount point's covering tmpfs shown as the model's
bpffs (``show_vfsmnt`` / ``show_mountinfo``).  The text is made when the file is
opened (the kernel's ``single_open`` makes it at the first read) and handed to the
program as a sealed memfd: its reads, seeks and closes need no interception.
"""

from __future__ import annotations

import errno
import os
import re

from pinfs.base.cred import CAP_DAC_OVERRIDE, Cred
from pinfs.host.context import Served as Supervisor

O_CLOEXEC = 0o2000000
_FDINFO = re.compile(r"/proc/(\d+)(?:/task/\d+)?/fdinfo/(\d+)")
_MOUNTS = re.compile(r"/proc/(\d+)(?:/task/\d+)?/(mounts|mountinfo)")
PROC_ROOT = "/proc"


def proc_file_text(sup: Supervisor, host: str | None, flags: int, cred: Cred) -> bytes | None:
    """The text of a procfs file that shows simulated state, or None (the real
    file is the right one: passed through)."""
    if host is None or not host.startswith("/proc/"):
        return None
    match = _FDINFO.fullmatch(host)
    if match is not None:
        text = fdinfo(sup, int(match.group(1)), int(match.group(2)))
    else:
        match = _MOUNTS.fullmatch(host)
        text = None if match is None else mounts(sup, int(match.group(1)), match.group(2))
    if text is None:
        return None
    _check_open_flags(flags, cred)
    return text.encode("utf-8", "surrogateescape")


def _check_open_flags(flags: int, cred: Cred) -> None:
    """``do_open`` of a procfs regular file (mode 0444): EEXIST for O_CREAT|O_EXCL,
    ENOTDIR for O_DIRECTORY, EACCES for writing without CAP_DAC_OVERRIDE (with it,
    the open succeeds; the program's writes then get EBADF, not procfs's EINVAL)."""
    if flags & os.O_CREAT and flags & os.O_EXCL:
        raise OSError(errno.EEXIST, "exists")
    if flags & os.O_DIRECTORY:
        raise OSError(errno.ENOTDIR, "not a directory")
    if flags & os.O_ACCMODE != os.O_RDONLY and not cred.has_cap(CAP_DAC_OVERRIDE):
        raise OSError(errno.EACCES, "procfs file opened for writing")


def _real_cloexec(pid: int, fd: int) -> bool:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as real:
            for line in real:
                if line.startswith("flags:"):
                    return bool(int(line.split()[1], 8) & O_CLOEXEC)
    except OSError:
        pass
    return False


def fdinfo(sup: Supervisor, pid: int, fd: int) -> str | None:
    """The model's ``/proc/PID/fdinfo/FD`` for a placeholder, read through the holder
    task (which holds the pinfs file), with the child's close-on-exec flag."""
    file = sup.placeholders.child_fd(pid, fd)
    holder = sup.placeholders.holder
    if file is None or file is sup.placeholders.host_file or holder is None:
        return None
    holder_fd = sup.placeholders.holder_fd_of(file)
    text = _model_read(sup, f"{PROC_ROOT}/{holder.pid}/fdinfo/{holder_fd}")
    if not _real_cloexec(pid, fd):
        return text
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.startswith("flags:"):
            lines[index] = f"flags:\t0{int(line.split()[1], 8) | O_CLOEXEC:o}\n"
    return "".join(lines)


def _model_read(sup: Supervisor, path: str) -> str:
    """The holder reads a file of the model's procfs (untraced: the program made
    no such calls, and a replayed scenario must not make them)."""
    holder = sup.placeholders.holder
    assert holder is not None
    kernel = sup.kernel
    trace, kernel.trace = kernel.trace, None
    try:
        fd = holder.open(path, os.O_RDONLY)
        try:
            out = b""
            while chunk := holder.read(fd, 1 << 16):
                out += chunk
        finally:
            holder.close(fd)
    finally:
        kernel.trace = trace
    return out.decode("utf-8", "surrogateescape")


def mounts(sup: Supervisor, pid: int, kind: str) -> str | None:
    """The real mount table of ``pid`` with the covering tmpfs of each simulated
    mount point replaced by the model's bpffs line."""
    try:
        with open(f"/proc/{pid}/{kind}", encoding="utf-8", errors="surrogateescape") as real:
            lines = real.readlines()
    except OSError:
        return None
    holder = sup.placeholders.holder
    assert holder is not None
    model = _model_read(sup, f"{PROC_ROOT}/{holder.pid}/{kind}").splitlines(keepends=True)
    where = 1 if kind == "mounts" else 4  # the mount point's field
    simulated = {line.split()[where]: line for line in model}
    out = []
    for line in lines:
        fields = line.split()
        point = fields[where] if len(fields) > where else ""
        if point in sup.mounts and point in simulated and _is_cover(fields, kind):
            line = _merge(line, simulated[point], kind)
        out.append(line)
    return "".join(out)


def _is_cover(fields: list[str], kind: str) -> bool:
    """The tmpfs ``pinfs run`` laid over a simulated mount point."""
    if kind == "mounts":
        return fields[0] == "pinfs" and fields[2] == "tmpfs"
    dash = fields.index("-") if "-" in fields else -1
    return dash > 0 and fields[dash + 1 : dash + 3] == ["tmpfs", "pinfs"]


def _merge(real: str, model: str, kind: str) -> str:
    """mounts: the model's line as it is.  mountinfo: the real mount and parent ids
    (the real table's own numbering), the rest the model's."""
    if kind == "mounts":
        return model
    ids = real.split()[:2]
    return " ".join(ids + model.split(" ")[2:])


def memfd_with(text: bytes) -> int:
    """A memfd holding ``text``, reopened read-only (so a write gets EBADF, as on
    procfs's read-only file), at offset 0."""
    fd = os.memfd_create("pinfs-proc", os.MFD_CLOEXEC)
    try:
        os.write(fd, text)
        return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(fd)
