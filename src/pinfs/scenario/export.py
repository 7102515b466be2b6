"""Export from traces: a recorded :class:`~pinfs.machine.trace.Trace` as a scenario."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from pinfs.base import profiles
from pinfs.base.errors import errno_name
from pinfs.base.profiles import Profile, switches
from pinfs.ebpf.attr import BpfCmd
from pinfs.machine.trace import ARG_KINDS, Event, Part, TaskOrigin, Trace, decode_int
from pinfs.scenario.format import dumps
from pinfs.scenario.ops import FD_COMMANDS, OPS, OpSpec
from pinfs.scenario.runner import _render
from pinfs.scenario.syntax import (
    Arg,
    Attr,
    Buf,
    Bytes,
    BytesFn,
    Comment,
    CStr,
    Errno,
    FdResult,
    Flags,
    Int,
    IntExpr,
    IntList,
    Label,
    Line,
    Name,
    Null,
    ProfileLine,
    Result,
    Scenario,
    Step,
    Str,
    SysctlLine,
    TaskDecl,
    TaskResult,
)
from pinfs.scenario.values import _CAP_NAMES, _Env

#: bpf(2) command numbers by name, for ``bpf`` steps (BPF_MAP_CREATE, ...).
_BPF_CMD_NAMES: dict[int, str] = {int(cmd): cmd.name for cmd in BpfCmd}


class RawBpf(Protocol):
    """What a raw ``bpf(2)`` call passed, for a trace whose bpf events carry only an
    address (``pinfs run``: :class:`pinfs.host.record.RawBpf`): the command, the size
    and the attr's fields by name.  A value is an int, ``("fd", n)`` (labelled like
    other fds), ``("fd_bytes", n)`` (an fd as the 4 bytes a pointer points to: the
    value of an fd array), bytes the call read through a pointer, ``("buf", n)`` (an output
    buffer of n bytes), ``("str", s)`` (a C string) or None (a NULL pointer)."""

    @property
    def cmd(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def fields(self) -> tuple[tuple[str, Any], ...]: ...


def from_trace(
    trace: Trace, profile_name: str | None = None, raw_bpf: Mapping[int, RawBpf] | None = None
) -> str:
    """A recorded :class:`~pinfs.machine.trace.Trace` as a scenario that replays on a
    fresh kernel to the same results.  Syscalls the format has no operation for
    (``getdents``, ``prctl``, ``sysctl_write``, id maps, raw ``bpf``), and calls that
    failed without an errno, become comments; ``raw_bpf`` gives the attrs of raw
    ``bpf`` events by event index, which then become ``bpf`` steps."""
    return dumps(trace_to_scenario(trace, profile_name, raw_bpf))


def trace_to_scenario(
    trace: Trace, profile_name: str | None = None, raw_bpf: Mapping[int, RawBpf] | None = None
) -> Scenario:
    """:func:`from_trace` before printing."""
    profile = ProfileLine(profile_name) if profile_name else profile_line(trace.kernel.profile)
    names = {pid: ("init" if pid == 1 else f"t{pid}") for pid in trace.tasks}
    head: list[Line] = [
        Comment(" recorded by pinfs.machine.trace"),
        profile,
        SysctlLine(tuple(sorted(trace.kernel.sysctl.items()))),
    ]
    head.extend(_declaration(names[o.pid], o) for o in trace.tasks.values() if o.kind == "declared")
    exporter = _Exporter(names)
    body: list[Line] = []
    spawns = list(trace.spawns)
    for i, event in enumerate([*trace.events, None]):
        while spawns and spawns[0][0] == i:
            _, parent, child = spawns.pop(0)
            body.extend(exporter.spawn(parent, child, trace.tasks[child]))
        if event is None:
            continue
        raw = (raw_bpf or {}).get(i)
        body.append(exporter.line(event) if raw is None else exporter.raw_bpf_step(event, raw))
    return Scenario(tuple(head + body))


def _declaration(name: str, origin: TaskOrigin) -> TaskDecl:
    return TaskDecl(
        name,
        uid=origin.uid,
        gid=origin.gid,
        groups=origin.groups,
        caps=tuple(_CAP_NAMES[c] for c in origin.caps if c < len(_CAP_NAMES)),
        umask=origin.umask,
        cwd=origin.cwd,
    )


def profile_line(profile: Profile) -> ProfileLine:
    """``profile`` as a scenario's ``profile`` line: the preset it equals (by value),
    else the nearest preset and the switches that differ from it."""
    best: tuple[str, list[tuple[str, Any]]] | None = None
    for attr_name, value in vars(profiles).items():
        if not (attr_name.isupper() and isinstance(value, Profile)):
            continue
        diff = [
            (k, getattr(profile, k)) for k in switches() if getattr(value, k) != getattr(profile, k)
        ]
        if best is None or len(diff) < len(best[1]):
            best = (attr_name, diff)
    assert best is not None
    return ProfileLine(best[0], tuple(best[1]))


def _int_expr(parts: tuple[Part, ...]) -> IntExpr:
    """A decoded integer (:func:`pinfs.machine.trace.decode_int`) as syntax."""
    atoms: list[Int | Name | Label] = [
        Name(p) if isinstance(p, str) else Int(p[0], p[1]) for p in parts
    ]
    return atoms[0] if len(atoms) == 1 else Flags(tuple(atoms))


#: Parameters that are fds of the calling task.
_FD_PARAMS: dict[str, tuple[str, ...]] = {
    "close": ("fd",),
    "dup": ("fd",),
    "fstat": ("fd",),
    "getdents": ("fd",),
    "map_lookup_elem": ("fd",),
    "map_update_elem": ("fd",),
    "map_delete_elem": ("fd",),
    "map_get_next_key": ("fd",),
    "obj_pin": ("fd", "path_fd"),
    "obj_get": ("path_fd",),
    "openat": ("dirfd",),
    "openat2": ("dirfd",),
    "mkdirat": ("dirfd",),
    "unlinkat": ("dirfd",),
    "renameat2": ("olddirfd", "newdirfd"),
    "linkat": ("olddirfd", "newdirfd"),
    "symlinkat": ("newdirfd",),
    "readlinkat": ("dirfd",),
    "fstatat": ("dirfd",),
    "faccessat": ("dirfd",),
    "faccessat2": ("dirfd",),
    "fchmodat": ("dirfd",),
    "fchownat": ("dirfd",),
    "fchmod": ("fd",),
    "fchown": ("fd",),
}
_FD_RESULTS = frozenset({"open", "openat", "openat2", "dup", "map_create", "prog_load", "obj_get"})


class _Unexportable(Exception):
    pass


class _Exporter:
    """Turns events into scenario steps, naming fds with labels."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self.fds: dict[tuple[int, int], str] = {}
        self.count = 0
        self.env = _Env()

    def line(self, e: Event) -> Line:
        try:
            step = self.step(e)
        except _Unexportable as why:
            return Comment(f" {e.strace()}  ({why})".replace("\n", " "))
        self.effects(e)
        return step

    def raw_bpf_step(self, e: Event, raw: RawBpf) -> Line:
        """``bpf CMD attr(...) SIZE``, its fds labelled, its new fd labelled."""
        if e.error is not None and e.errno is None:
            return Comment(f" {e.strace()}  (no errno)".replace("\n", " "))
        items: list[tuple[str, Any]] = []
        for name, value in raw.fields:
            if isinstance(value, tuple) and value[0] == "fd":
                items.append((name, self.label(e.pid, value[1])))
            elif isinstance(value, tuple) and value[0] == "fd_bytes":  # an fd-array value
                items.append((name, BytesFn("le32", self.label(e.pid, value[1]))))
            elif isinstance(value, tuple) and value[0] == "buf":
                items.append((name, Buf(value[1])))
            elif isinstance(value, tuple) and value[0] == "str":
                items.append((name, CStr(value[1])))
            elif isinstance(value, bytes):
                items.append((name, Bytes(value)))
            elif value is None:
                items.append((name, Null()))
            else:
                items.append((name, Int(int(value))))
        cmd_name = _BPF_CMD_NAMES.get(raw.cmd)
        args = (Name(cmd_name) if cmd_name else Int(raw.cmd), Attr(tuple(items)), Int(raw.size))
        result: Result
        if e.errno is not None:
            result = Errno(errno_name(e.errno))
        elif raw.cmd in FD_COMMANDS:
            self.count += 1
            label = f"f{self.count}"
            self.fds[(e.pid, int(e.result))] = label
            result = FdResult(Label(label))
        else:
            result = _render(Step(self.names[e.pid], "bpf", ()), "bpf", e.result, self.env)
        return Step(self.names[e.pid], "bpf", args, result)

    def spawn(self, parent: int, child: int, origin: TaskOrigin) -> list[Line]:
        """``kernel.spawn`` after the parent changed what a fork inherits: a ``task``
        line here, ``from=`` the parent (a fork of it as it is now: fds, cwd, rlimits)."""
        for (pid, fd), name in list(self.fds.items()):
            if pid == parent:
                self.fds[(child, fd)] = name
        decl = _declaration(self.names[child], origin)
        return [attrs.evolve(decl, parent=self.names[parent])]

    def label(self, pid: int, fd: int) -> IntExpr:
        name = self.fds.get((pid, fd))
        return Int(fd) if name is None else Label(name)

    def step(self, e: Event) -> Step:
        spec = OPS.get(e.name)
        if spec is None or e.name == "bpf":
            raise _Unexportable("no scenario operation")
        if e.error is not None and e.errno is None:
            raise _Unexportable("no errno")
        args = dict(e.args)
        order = [k for k, _ in e.args]
        if e.name == "setrlimit" and args.get("hard") is None:  # setrlimit(res, (soft, hard))
            pair = args.get("limits")
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise _Unexportable("limits is not a (soft, hard) pair")
            args["limits"], args["hard"] = pair
        if e.name == "prog_load":
            if args.get("log_level") or args.get("log_size"):
                raise _Unexportable("a verifier log")
            order = ["prog_type", "insns", "license", "kern_version"]
        if e.name in ("obj_pin", "obj_get"):
            if args.get("path_fd") is None:
                order.remove("path_fd")
                if not args.get("file_flags"):
                    order.remove("file_flags")
            required = len(order)
        else:
            required = spec.required
            while len(order) > required and _is_default(e.name, order[-1], args[order[-1]]):
                order.pop()
        if len(order) > len(spec.args):
            raise _Unexportable("too many arguments")
        out = tuple(
            self.arg(e, kind, key, args[key]) for kind, key in zip(spec.args, order, strict=False)
        )
        return Step(self.names[e.pid], e.name, out, self.result(e, spec))

    def arg(self, e: Event, kind: str, key: str, value: Any) -> Arg:
        if value is None and kind in "PB":
            return Null()
        if kind in "pP":
            if not isinstance(value, (str, bytes)):
                raise _Unexportable(f"{key} is not a string")
            return Str(os.fsdecode(value))
        if kind == "i":
            if not isinstance(value, int) or isinstance(value, bool):
                raise _Unexportable(f"{key} is not an integer")
            if key in _FD_PARAMS.get(e.name, ()):
                return self.label(e.pid, value)
            return _int_expr(decode_int(ARG_KINDS.get((e.name, key)), value))
        if kind in "bB":
            if not isinstance(value, (bytes, bytearray)):
                raise _Unexportable(f"{key} is not bytes")
            return Bytes(bytes(value))
        if kind == "l":
            items = list(value)
            if not all(isinstance(i, int) for i in items):
                raise _Unexportable(f"{key} is not a list of integers")
            return IntList(tuple(Int(i) for i in items))
        raise _Unexportable(f"argument kind {kind}")

    def result(self, e: Event, spec: OpSpec) -> Result:
        num = e.errno
        if num is not None:
            return Errno(errno_name(num))
        if e.name == "fork":
            return TaskResult(self.names[e.result.pid])
        if e.name in _FD_RESULTS:
            self.count += 1
            name = f"f{self.count}"
            self.fds[(e.pid, int(e.result))] = name
            return FdResult(Label(name))
        step = Step(self.names[e.pid], e.name, ())
        return _render(step, spec.result, e.result, self.env)

    def effects(self, e: Event) -> None:
        """Forget and inherit fd labels as the call did."""
        if e.error is not None:
            return
        args = dict(e.args)
        if e.name == "close":
            self.fds.pop((e.pid, args["fd"]), None)
        elif e.name == "exit":
            self.fds = {k: v for k, v in self.fds.items() if k[0] != e.pid}
        elif e.name == "fork":
            child = e.result.pid
            for (pid, fd), name in list(self.fds.items()):
                if pid == e.pid:
                    self.fds[(child, fd)] = name
        elif e.name == "execve":
            pass  # close-on-exec fds keep their (now unused) labels


def _is_default(call: str, key: str, value: Any) -> bool:
    if call == "listdir":
        return False
    defaults = {"mode": 0o777 if call == "mkdir" else 0o666, "license": "GPL"}
    if key in defaults:
        return bool(value == defaults[key])
    return value is None or value == 0
