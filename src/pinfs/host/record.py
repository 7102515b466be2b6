"""Hosted traces as scenarios: what each served ``bpf(2)`` call passed.

The model's trace of a hosted program records a bpf call as ``bpf(CMD, ADDRESS,
SIZE)``: the address is the program's.  While tracing, the supervisor also reads the
attr (its fields by the modelled kernel's layout for the command) and, through each
pointer, what the call reads: keys, values, paths, instructions, BTF; an output
buffer is recorded by its size.  :func:`scenario` then writes the trace as a scenario
(``pinfs.scenario``) that replays on pinfs and on the live kernel
(``python -m pinfs.oracle FILE``), headed by the mounts ``pinfs run`` made at boot.

Not replayed faithfully: the program's closes (the placeholders' last copies closing
are not calls), fds of real files passed where a bpf fd is expected, and map fds
inside instructions (``BPF_LD_IMM64`` with ``BPF_PSEUDO_MAP_FD`` is kept as bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from pinfs.base.errors import KernelError
from pinfs.base.usermem import UserMemory
from pinfs.ebpf.objects import BpfMap
from pinfs.machine.task import Task
from pinfs.machine.trace import Trace
from pinfs.vfs import PATH_MAX


@attrs.frozen
class RawBpf:
    """What a raw ``bpf(2)`` call passed: the command, the size and the attr's fields
    by name.  A value is an int, ``("fd", n)``, bytes the call read through a
    pointer, ``("buf", n)`` (an output buffer of n bytes), ``("str", s)`` (a C
    string) or None (a NULL pointer)."""

    cmd: int
    size: int
    fields: tuple[tuple[str, Any], ...]


#: The scenario tools' exporter (:func:`pinfs.scenario.export.from_trace`), passed in
#: from above: the host sits below the scenario package.
Exporter = Callable[[Trace, Mapping[int, RawBpf]], str]

#: bpf(2) commands (numbers) whose ``value`` the kernel writes rather than reads.
_VALUE_OUT = {1, 21}  # MAP_LOOKUP_ELEM, MAP_LOOKUP_AND_DELETE_ELEM
#: Pointer fields the kernel writes, by the field that gives their size.
_OUT_SIZED = {"log_buf": "log_size", "info": "info_len", "btf_log_buf": "btf_log_size"}
#: Pointer fields the kernel reads, by the field that gives their length.
_IN_SIZED = {"btf": "btf_size"}
_STRINGS = ("pathname", "license")
#: Map types whose update value is an fd: prog, perf event, cgroup arrays, maps of maps.
_FD_ARRAYS = (3, 4, 8, 12, 13)
_NAMES = ("map_name", "prog_name")


class Unrecordable(Exception):
    """A pointer whose length pinfs does not know: the step stays a comment."""


def capture(task: Task, cmd: int, uattr: int, size: int) -> RawBpf | None:
    """The attr of a bpf call about to be served, read the way the model will read
    it (None if the command is unknown or the attr cannot be read or sized)."""
    layout = task.kernel.attr_layouts.get(cmd)
    if layout is None or size <= 0:
        return None
    mem = task.mem
    try:
        raw = mem.read(uattr, min(size, 4096))
    except KernelError:
        return None
    values = layout.decode(raw.ljust(4096, b"\0"))
    fields: list[tuple[str, Any]] = []
    try:
        for field in layout.fields:
            value = values[field.name]
            if field.offset >= size:
                break
            fields.append((field.name, _value(task, mem, cmd, field.name, field.pointer,
                                              value, values)))  # fmt: skip
    except (Unrecordable, KernelError):
        return None
    while fields and fields[-1][1] in (0, None):  # trailing zero fields: the default
        fields.pop()
    return RawBpf(cmd, size, tuple(fields))


def _value(
    task: Task, mem: UserMemory, cmd: int, name: str, pointer: bool, value: int,
    values: dict[str, int],
) -> Any:  # fmt: skip
    if name in _NAMES:
        return value.to_bytes(16, "little").rstrip(b"\0") or 0
    if name.endswith("_fd") or name == "bpf_fd":
        return ("fd", value) if value else 0
    if not pointer:
        return value
    if not value:
        return None
    if name in _STRINGS:
        return ("str", mem.strncpy_from_user(value, PATH_MAX).decode("utf-8", "surrogateescape"))
    if name in _OUT_SIZED:
        return ("buf", values.get(_OUT_SIZED[name], 0))
    if name in _IN_SIZED:
        return mem.read(value, values.get(_IN_SIZED[name], 0))
    if name == "insns":
        return mem.read(value, 8 * values.get("insn_cnt", 0))
    if name in ("key", "value", "next_key"):
        return _elem(task, mem, cmd, name, value, values)
    raise Unrecordable(name)


def _elem(
    task: Task, mem: UserMemory, cmd: int, name: str, address: int, values: dict[str, int]
) -> Any:
    file = task.files.lookup(values.get("map_fd", -1))
    bpf_map = file.private_data if file is not None else None
    if not isinstance(bpf_map, BpfMap):
        raise Unrecordable("not a map")
    key_size, value_size = bpf_map.key_size, bpf_map.value_size
    if name == "key":
        return mem.read(address, key_size)
    if name == "next_key":
        return ("buf", key_size)
    if cmd in _VALUE_OUT:
        return ("buf", value_size)
    data = mem.read(address, value_size)
    if bpf_map.map_type in _FD_ARRAYS and value_size == 4:  # the value is an fd
        return ("fd_bytes", int.from_bytes(data, "little"))
    return data


def scenario(
    export: Exporter, trace: Trace, captures: Mapping[int, RawBpf], mounts: tuple[str, ...]
) -> str:
    """The trace as a scenario, after the steps that make what ``pinfs run`` makes at
    boot: the stand-ins for real paths (``/.host``) and the simulated mounts."""
    head = [
        "init mkdir /.host 0o755 -> ok",
        "init mkdir /.host/dir 0o777 -> ok",
        "init chmod /.host/dir 0o777 -> ok",
        "init open /.host/file O_CREAT|O_WRONLY 0o666 -> fd $hostfile",
        "init close $hostfile -> ok",
        "init chmod /.host/file 0o666 -> ok",
    ]
    for mount_point in mounts:
        parts = [p for p in mount_point.split("/") if p]
        for depth in range(1, len(parts) + 1):
            head.append(f"init mkdir /{'/'.join(parts[:depth])} 0o755")  # may exist
        head.append(f"init mount bpf {mount_point} bpf -> ok")
    lines = export(trace, captures).splitlines()
    at = 0
    while at < len(lines) and lines[at].startswith(("#", "profile", "sysctl", "task ")):
        at += 1
    return "\n".join([*lines[:at], *head, *lines[at:]]) + "\n"
