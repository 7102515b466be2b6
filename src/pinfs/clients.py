"""What real bpf tools do with procfs, transliterated into Python over the task API.

Each function follows one C function step by step (the citation is in its docstring)
and takes any task with the syscalls it needs -- a :class:`pinfs.Task` or a
:class:`pinfs.live.kernel.LiveTask` -- so the same client code runs on the simulation
and on Linux.  C library behaviour the originals rely on is reproduced where it
matters: ``sscanf``'s ``%u``/``%i``/``%x`` conversions (:func:`scan_field`), ``fgets``
line by line, ``strstr``, and ``fscanf``'s whitespace-separated fields.

This module imports nothing of pinfs: it is user space.
"""

from __future__ import annotations

import errno
import os
import re
from typing import Any, Protocol

import attrs

BPF_FS_MAGIC = 0xCAFE4A11
PATH_MAX = 4096

# enum bpf_obj_type (tools/bpf/bpftool/main.h)
BPF_OBJ_UNKNOWN = 0
BPF_OBJ_PROG = 1
BPF_OBJ_MAP = 2
BPF_OBJ_LINK = 3


class UserTask(Protocol):
    """The syscalls the transliterated tools make."""

    def getpid(self) -> int: ...
    def open(self, path: str, flags: int = ..., mode: int = ...) -> int: ...
    def read(self, fd: int, count: int) -> bytes: ...
    def close(self, fd: int) -> None: ...
    def readlink(self, path: str) -> str: ...
    def statfs(self, path: str) -> Any: ...


# ---------------------------------------------------------------------------------------
# The C library pieces


def read_lines(task: UserTask, path: str) -> list[str]:
    """``fopen(path, "r")`` + ``fgets`` until EOF: the file's lines, newlines kept."""
    fd = task.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := task.read(fd, 4096):
            chunks.append(chunk)
    finally:
        task.close(fd)
    return b"".join(chunks).decode("latin-1").splitlines(keepends=True)


_NUMBER = {
    "u": re.compile(r"[ \t\n]*([+-]?[0-9]+)"),
    "x": re.compile(r"[ \t\n]*([+-]?(?:0[xX])?[0-9a-fA-F]+)"),
    "i": re.compile(r"[ \t\n]*([+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*))"),
}


def scan_field(line: str, label: str, conversion: str) -> int | None:
    """``sscanf(line, "<label>:\\t%<conversion>", &val) == 1``: the literal must
    match from the start (the tab in the format matches any run of white space, even
    none), then the number as ``strtoul``/``strtol`` reads it, kept to 32 bits."""
    head = label + ":"
    if not line.startswith(head):
        return None
    match = _NUMBER[conversion].match(line, len(head))
    if match is None:
        return None
    text = match.group(1)
    base = {"u": 10, "x": 16, "i": 0}[conversion]
    if conversion == "i" and re.fullmatch(r"[+-]?0[0-7]+", text):
        base = 8
    return int(text, base) & 0xFFFFFFFF


# ---------------------------------------------------------------------------------------
# libbpf


@attrs.define
class BpfMapInfo:
    """The fields of ``struct bpf_map_info`` the fdinfo fallback fills."""

    type: int = 0
    key_size: int = 0
    value_size: int = 0
    max_entries: int = 0
    map_flags: int = 0


def bpf_get_map_info_from_fdinfo(task: UserTask, fd: int) -> BpfMapInfo | int:
    """tools/lib/bpf/libbpf.c ``bpf_get_map_info_from_fdinfo`` (Martynas Pumputis,
    2021; libbpf's fallback when BPF_OBJ_GET_INFO_BY_FD is EINVAL): read
    /proc/<getpid()>/fdinfo/<fd> line by line, take the first conversion that
    matches each line; -errno if the file cannot be opened ("No procfs support?")."""
    path = f"/proc/{task.getpid()}/fdinfo/{fd}"
    info = BpfMapInfo()
    try:
        lines = read_lines(task, path)
    except OSError as exc:
        return -(exc.errno or errno.EIO)
    for line in lines:
        if (val := scan_field(line, "map_type", "u")) is not None:
            info.type = val
        elif (val := scan_field(line, "key_size", "u")) is not None:
            info.key_size = val
        elif (val := scan_field(line, "value_size", "u")) is not None:
            info.value_size = val
        elif (val := scan_field(line, "max_entries", "u")) is not None:
            info.max_entries = val
        elif (val := scan_field(line, "map_flags", "i")) is not None:
            info.map_flags = val
    return info


# ---------------------------------------------------------------------------------------
# bpftool


def get_fd_type(task: UserTask, fd: int) -> int:
    """tools/bpf/bpftool/common.c ``get_fd_type``: readlink /proc/self/fd/<fd> into
    a 512-byte buffer (-1 if it fails or fills it) and look for "bpf-map",
    "bpf-prog", "bpf-link" in the text (``strstr``).  The kernel names a link file
    ``bpf-link`` only when OBJ_GET or LINK_GET_FD_BY_ID made it; the fd of LINK_CREATE or
    RAW_TRACEPOINT_OPEN reads ``bpf_link`` and comes out BPF_OBJ_UNKNOWN, as in bpftool
    (which only asks about pinned objects)."""
    try:
        text = task.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return -1
    if len(os.fsencode(text)) >= 512:
        return -1
    if "bpf-map" in text:
        return BPF_OBJ_MAP
    if "bpf-prog" in text:
        return BPF_OBJ_PROG
    if "bpf-link" in text:
        return BPF_OBJ_LINK
    return BPF_OBJ_UNKNOWN


# ---------------------------------------------------------------------------------------
# iproute2 (lib/bpf_legacy.c, formerly lib/bpf.c)


def bpf_valid_mntpt(task: UserTask, mnt: str, magic: int) -> int:
    """``bpf_valid_mntpt``: 0 if ``statfs(mnt)`` works and has ``magic``, else -ENOENT."""
    try:
        st = task.statfs(mnt)
    except OSError:
        return -errno.ENOENT
    return 0 if st.f_type == magic else -errno.ENOENT


def bpf_find_mntpt(
    task: UserTask,
    fstype: str,
    magic: int,
    known_mnts: tuple[str, ...] = (),
    length: int = PATH_MAX,
) -> str | None:
    """``bpf_find_mntpt``: the first known mount point whose statfs magic matches;
    else (only with a PATH_MAX buffer) the mount point of the first /proc/mounts line
    of type ``fstype`` (``fscanf("%*s %4096s %99s %*s %*d %*d\\n")``: the escaped text
    as the kernel printed it); None when no line has that type."""
    for mnt in known_mnts:
        if bpf_valid_mntpt(task, mnt, magic) == 0:
            return mnt
    if length != PATH_MAX:
        return None
    try:
        lines = read_lines(task, "/proc/mounts")
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            return None  # fscanf matches fewer than 2 fields: the loop ends
        mnt, type_ = fields[1][:PATH_MAX], fields[2][:99]
        if type_ == fstype:
            return mnt
    return None


BPF_DIR_MNT = "/sys/fs/bpf"


def bpf_find_bpffs(task: UserTask) -> str | None:
    """The call ``bpf_get_work_dir`` makes: bpffs at BPF_DIR_MNT or /bpf, or from
    /proc/mounts."""
    return bpf_find_mntpt(task, "bpf", BPF_FS_MAGIC, (BPF_DIR_MNT, "/bpf"))


@attrs.define
class BpfElfMap:
    """``struct bpf_elf_map`` as the fdinfo derivation fills it, with the
    ``struct bpf_map_ext`` owner fields."""

    type: int = 0
    size_key: int = 0
    size_value: int = 0
    max_elem: int = 0
    flags: int = 0
    owner_type: int = 0
    owner_jited: int = 0


def bpf_derive_elf_map_from_fdinfo(task: UserTask, fd: int) -> BpfElfMap | int:
    """``bpf_derive_elf_map_from_fdinfo``: what tc's loader reads to self-check a
    pinned map; -EIO ("No procfs support?!") if the fdinfo file cannot be opened."""
    path = f"/proc/{task.getpid()}/fdinfo/{fd}"
    try:
        lines = read_lines(task, path)
    except OSError:
        return -errno.EIO
    out = BpfElfMap()
    for line in lines:
        if (val := scan_field(line, "map_type", "u")) is not None:
            out.type = val
        elif (val := scan_field(line, "key_size", "u")) is not None:
            out.size_key = val
        elif (val := scan_field(line, "value_size", "u")) is not None:
            out.size_value = val
        elif (val := scan_field(line, "max_entries", "u")) is not None:
            out.max_elem = val
        elif (val := scan_field(line, "map_flags", "i")) is not None:
            out.flags = val
        elif (val := scan_field(line, "owner_prog_type", "i")) is not None:
            out.owner_type = val
        elif (val := scan_field(line, "owner_jited", "i")) is not None:
            out.owner_jited = val
    return out
