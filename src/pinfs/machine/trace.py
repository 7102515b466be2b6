"""Syscall traces: ``kernel.start_trace()`` records every syscall of every task.

A :class:`Trace` holds one :class:`Event` per outermost syscall (a syscall made inside
another, such as the ``open``/``getdents``/``close`` of ``listdir`` or the raw ``bpf``
of ``obj_pin``, is not recorded), prints strace-style (``print(trace)``), and exports
as a scenario (:mod:`pinfs.scenario`) that replays on a fresh kernel
(:meth:`Trace.to_scenario`).

The :func:`syscall` decorator marks the syscall methods of :class:`~pinfs.machine.task.Task`;
while no trace is running its cost is one attribute check.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import stat as _stat
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pinfs import scenario as scn

if TYPE_CHECKING:
    from pinfs.machine.kernel import Kernel
    from pinfs.machine.task import Task

__all__ = ["Event", "TaskOrigin", "Trace", "syscall"]

F = TypeVar("F", bound=Callable[..., Any])


def syscall(fn: F) -> F:
    """Record calls of ``fn`` (a syscall method of a task) in ``kernel.trace``."""
    name = fn.__name__
    sig: list[inspect.Signature] = []

    @functools.wraps(fn)
    def wrapper(self: Task, *args: Any, **kwargs: Any) -> Any:
        trace = self.kernel.trace
        if trace is None:
            return fn(self, *args, **kwargs)
        if not sig:
            sig.append(inspect.signature(fn))
        return trace._call(fn, sig[0], name, self, args, kwargs)

    return cast(F, wrapper)


@dataclasses.dataclass(frozen=True)
class TaskOrigin:
    """How a task entered the trace: ``declared`` (spawned, or already running when
    the trace started, with its credentials then) or ``fork`` of ``parent``."""

    pid: int
    kind: str
    parent: int | None = None
    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    caps: tuple[int, ...] = ()
    umask: int = 0o022
    cwd: str = "/"
    note: str | None = None  # why the declaration may not replay exactly


@dataclasses.dataclass(frozen=True)
class Event:
    """One syscall: the task, the name, the arguments as given (by parameter name, in
    order) and the return value or the exception."""

    pid: int
    name: str
    args: tuple[tuple[str, Any], ...]
    result: Any = None
    error: BaseException | None = None
    given: int = -1  # how many of ``args`` the caller passed (the rest are defaults)

    @property
    def errno(self) -> int | None:
        err = self.error
        if isinstance(err, OSError) and err.errno:
            return int(err.errno)
        return None

    def strace(self) -> str:
        """``[pid N] name(args) = result``."""
        shown = self.args if self.given < 0 else self.args[: self.given]
        args = ", ".join(_show_arg(self.name, k, v) for k, v in shown)
        return f"[pid {self.pid}] {self.name}({args}) = {_show_result(self)}"


# --------------------------------------------------------------------------- decoding

_OFLAGS = (
    "O_TMPFILE", "O_SYNC", "O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND",
    "O_NONBLOCK", "O_DSYNC", "O_DIRECT", "O_LARGEFILE", "O_DIRECTORY", "O_NOFOLLOW",
    "O_NOATIME", "O_CLOEXEC", "O_PATH",
)  # fmt: skip
_MSFLAGS = (
    "MS_RDONLY", "MS_NOSUID", "MS_NODEV", "MS_NOEXEC", "MS_REMOUNT", "MS_NOATIME",
    "MS_NODIRATIME", "MS_BIND", "MS_MOVE", "MS_REC", "MS_SILENT", "MS_PRIVATE", "MS_SHARED",
    "MS_RELATIME", "MS_STRICTATIME",
)  # fmt: skip
_FAMILIES: dict[str, tuple[str, ...]] = {
    "oflags": _OFLAGS,
    "msflags": _MSFLAGS,
    "mntflags": ("MNT_FORCE", "MNT_DETACH", "MNT_EXPIRE", "UMOUNT_NOFOLLOW"),
    "clone": (
        "CLONE_NEWUSER",
        "CLONE_NEWNS",
        "CLONE_NEWPID",
        "CLONE_NEWNET",
        "CLONE_NEWUTS",
        "CLONE_NEWIPC",
        "CLONE_FS",
        "CLONE_FILES",
        "CLONE_VM",
        "CLONE_SIGHAND",
        "CLONE_THREAD",
        "CLONE_SYSVSEM",
    ),
    "rename": ("RENAME_NOREPLACE", "RENAME_EXCHANGE", "RENAME_WHITEOUT"),
    "objflags": ("BPF_F_RDONLY", "BPF_F_WRONLY", "BPF_F_PATH_FD"),
}
_ENUMS: dict[str, tuple[str, ...]] = {
    "bpfcmd": (
        "BPF_MAP_CREATE",
        "BPF_MAP_LOOKUP_ELEM",
        "BPF_MAP_UPDATE_ELEM",
        "BPF_MAP_DELETE_ELEM",
        "BPF_MAP_GET_NEXT_KEY",
        "BPF_PROG_LOAD",
        "BPF_OBJ_PIN",
        "BPF_OBJ_GET",
        "BPF_OBJ_GET_INFO_BY_FD",
    ),
    "maptype": (
        "BPF_MAP_TYPE_UNSPEC",
        "BPF_MAP_TYPE_HASH",
        "BPF_MAP_TYPE_ARRAY",
        "BPF_MAP_TYPE_PROG_ARRAY",
        "BPF_MAP_TYPE_PERF_EVENT_ARRAY",
    ),
    "progtype": (
        "BPF_PROG_TYPE_UNSPEC",
        "BPF_PROG_TYPE_SOCKET_FILTER",
        "BPF_PROG_TYPE_KPROBE",
        "BPF_PROG_TYPE_SCHED_CLS",
        "BPF_PROG_TYPE_SCHED_ACT",
    ),
    "updflags": ("BPF_ANY", "BPF_NOEXIST", "BPF_EXIST"),
    "rlimit": ("RLIMIT_NOFILE", "RLIMIT_MEMLOCK"),
}
#: (syscall, parameter) -> how the integer is decoded.
_KINDS: dict[tuple[str, str], str] = {
    ("open", "flags"): "oflags",
    ("open", "mode"): "mode",
    ("mkdir", "mode"): "mode",
    ("chmod", "mode"): "mode",
    ("mknod", "mode"): "mode",
    ("umask", "mask"): "mode",
    ("mount", "flags"): "msflags",
    ("umount", "flags"): "mntflags",
    ("unshare", "flags"): "clone",
    ("rename", "flags"): "rename",
    ("bpf", "cmd"): "bpfcmd",
    ("map_create", "map_type"): "maptype",
    ("prog_load", "prog_type"): "progtype",
    ("obj_pin", "file_flags"): "objflags",
    ("obj_get", "file_flags"): "objflags",
    ("map_update_elem", "flags"): "updflags",
    ("setrlimit", "resource"): "rlimit",
    ("getrlimit", "resource"): "rlimit",
}
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
}
_FD_RESULTS = frozenset({"open", "dup", "map_create", "prog_load", "obj_get"})


def _decode(kind: str | None, value: int) -> scn.IntExpr:
    """An integer as a constant or flag expression when that is exact, else a literal."""
    if kind is None:
        return scn.Int(value)
    if kind == "mode":
        return scn.Int(value, 8)
    table = scn.constants()
    if kind in _ENUMS:
        for name in _ENUMS[kind]:
            if table.get(name) == value:
                return scn.Name(name)
        return scn.Int(value)
    parts: list[scn.Int | scn.Name | scn.Label] = []
    rest = value
    if kind == "oflags":
        acc = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}.get(value & 3)
        if acc is None or value < 0:
            return scn.Int(value, 16)
        rest &= ~3
        if acc != "O_RDONLY" or not rest:
            parts.append(scn.Name(acc))
    if value < 0:
        return scn.Int(value)
    names = [(n, table[n]) for n in _FAMILIES[kind] if table.get(n, 0) > 0]
    for name, bits in names:
        if rest & bits == bits:
            parts.append(scn.Name(name))
            rest &= ~bits
    if rest:
        parts.append(scn.Int(rest, 16))
    if not parts:
        return scn.Int(0)
    expr: scn.IntExpr = parts[0] if len(parts) == 1 else scn.Flags(tuple(parts))
    try:
        exact = scn._eval_int(expr, scn._Env()) == value
    except Exception:  # pragma: no cover - a constant pinfs lacks
        exact = False
    return expr if exact else scn.Int(value, 16)


_S_IFMT = {
    _stat.S_IFREG: "S_IFREG", _stat.S_IFDIR: "S_IFDIR", _stat.S_IFLNK: "S_IFLNK",
    _stat.S_IFCHR: "S_IFCHR", _stat.S_IFBLK: "S_IFBLK", _stat.S_IFIFO: "S_IFIFO",
    _stat.S_IFSOCK: "S_IFSOCK",
}  # fmt: skip


def _cstr(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _show_arg(call: str, key: str, value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (str, bytes)) and not (
        (isinstance(value, bytes) and call.startswith("map_")) or key == "insns"
    ):
        return _cstr(os.fsdecode(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return scn._fmt_int_expr(_decode(_KINDS.get((call, key)), value))
    return repr(value)


def _show_result(e: Event) -> str:
    err = e.error
    if err is not None:
        num = e.errno
        if num is not None:
            return f"-1 {scn.errno_name(num)} ({os.strerror(num)})"
        return f"? {type(err).__name__}: {err}"
    r = e.result
    if r is None:
        return "0"
    if e.name == "fork":
        return str(r.pid)
    if e.name == "umask":
        return f"0o{r:03o}"
    if hasattr(r, "st_mode"):
        fmt = _S_IFMT.get(_stat.S_IFMT(r.st_mode), "0")
        return (
            f"0 {{st_mode={fmt}|0{_stat.S_IMODE(r.st_mode):o}, st_ino={r.st_ino}, "
            f"st_nlink={r.st_nlink}, "
            f"st_uid={r.st_uid}, st_gid={r.st_gid}, st_size={r.st_size}}}"
        )
    if hasattr(r, "f_type"):
        return f"0 {{f_type=0x{r.f_type:x}, f_namelen={r.f_namelen}}}"
    if isinstance(r, str):
        return _cstr(r)
    return repr(r)


# --------------------------------------------------------------------------- the trace


def _cwd(task: Task) -> str:
    kernel = task.kernel
    saved, kernel.trace = kernel.trace, None
    clock = kernel._clock  # looking is not a syscall: time does not move
    try:
        return task.getcwd()
    except (OSError, RuntimeError):
        return "/"
    finally:
        kernel.trace, kernel._clock = saved, clock


def _origin(
    task: Task, kind: str, parent: int | None = None, note: str | None = None
) -> TaskOrigin:
    c = task.cred
    caps = tuple(i for i in range(c.cap_effective.bit_length()) if c.cap_effective >> i & 1)
    return TaskOrigin(
        pid=task.pid,
        kind=kind,
        parent=parent,
        uid=c.uid,
        gid=c.gid,
        groups=tuple(sorted(c.groups)),
        caps=caps,
        umask=task.fs.umask,
        cwd=_cwd(task) if kind == "declared" else "/",
        note=note,
    )


class Trace:
    """The syscalls recorded while ``kernel.trace`` is this trace."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.events: list[Event] = []
        self.tasks: dict[int, TaskOrigin] = {}  # by pid, in order of appearance
        #: spawns replayed as forks: (events before it, parent, child, credential steps)
        self.spawns: list[tuple[int, int, int, list[tuple[str, tuple[Any, ...]]]]] = []

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __str__(self) -> str:
        return self.strace()

    def __repr__(self) -> str:
        return f"<Trace {len(self.events)} syscalls of {len(self.tasks)} tasks>"

    def strace(self) -> str:
        """One strace-style line per syscall."""
        return "\n".join(e.strace() for e in self.events)

    # -- recording ------------------------------------------------------------------------

    def _see(self, task: Task) -> None:
        if task.pid not in self.tasks:
            self.tasks[task.pid] = _origin(task, "declared")

    def _spawned(self, task: Task, parent: Task) -> None:
        """``kernel.spawn`` made ``task`` (its inner syscalls were not recorded)."""
        note = None
        if (
            parent.files.open_fds()
            or _cwd(parent) != "/"
            or parent.mnt_ns
            is not (self.kernel.namespaces[0] if self.kernel.namespaces else parent.mnt_ns)
        ):
            note = "spawned from a parent with open fds, a cwd or a new mount namespace"
            steps = _spawn_steps(parent, task)
            if steps is not None:  # replay it as a fork and credential changes
                self._see(parent)
                self.tasks[task.pid] = TaskOrigin(task.pid, "fork", parent=parent.pid)
                self.spawns.append((len(self.events), parent.pid, task.pid, steps))
                return
        self.tasks[task.pid] = _origin(task, "declared", note=note)

    def _call(
        self,
        fn: Callable[..., Any],
        sig: inspect.Signature,
        name: str,
        task: Task,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        self._see(task)
        args = tuple(
            list(a)
            if isinstance(a, Iterator) or (isinstance(a, (set, frozenset, dict)) and a)
            else a
            for a in args
        )
        try:
            bound = sig.bind(task, *args, **kwargs)
            names = list(bound.arguments)
            bound.apply_defaults()
            given = max((list(bound.arguments).index(n) for n in names), default=0)
            params = tuple(
                (k, bytes(v) if isinstance(v, (bytearray, memoryview)) else v)
                for k, v in list(bound.arguments.items())[1:]
            )
        except TypeError:
            params = tuple((f"arg{i}", a) for i, a in enumerate(args)) + tuple(kwargs.items())
            given = -1
        kernel = self.kernel
        kernel.trace = None
        try:
            result = fn(task, *args, **kwargs)
        except BaseException as exc:
            self.events.append(Event(task.pid, name, params, None, exc, given))
            raise
        finally:
            kernel.trace = self
        if isinstance(result, list):
            result = list(result)
        self.events.append(Event(task.pid, name, params, result, None, given))
        if name == "fork":
            self.tasks[result.pid] = TaskOrigin(result.pid, "fork", parent=task.pid)
        return result

    # -- export ---------------------------------------------------------------------------

    def to_scenario(self, profile_name: str | None = None) -> str:
        """The trace as a scenario (:mod:`pinfs.scenario`) that replays on a fresh
        kernel to the same results.  Syscalls the format has no operation for
        (``getdents``, ``prctl``, ``sysctl_write``, id maps, raw ``bpf``), and calls
        that failed without an errno, become comments."""
        return scn.dumps(self.to_scenario_tree(profile_name))

    def to_scenario_tree(self, profile_name: str | None = None) -> scn.Scenario:
        """:meth:`to_scenario` before printing."""
        if profile_name is None:
            profile_name = _profile_name(self.kernel)
        names = {pid: ("init" if pid == 1 else f"t{pid}") for pid in self.tasks}
        head: list[scn.Line] = [
            scn.Comment(" recorded by pinfs.machine.trace"),
            scn.ProfileLine(profile_name),
            scn.SysctlLine(tuple(sorted(self.kernel.sysctl.items()))),
        ]
        for origin in self.tasks.values():
            if origin.kind != "declared":
                continue
            if origin.note:
                head.append(scn.Comment(f" {names[origin.pid]}: {origin.note}"))
            head.append(
                scn.TaskDecl(
                    names[origin.pid],
                    uid=origin.uid,
                    gid=origin.gid,
                    groups=origin.groups,
                    caps=tuple(scn._CAP_NAMES[c] for c in origin.caps if c < len(scn._CAP_NAMES)),
                    umask=origin.umask,
                    cwd=origin.cwd,
                )
            )
        exporter = _Exporter(names)
        body: list[scn.Line] = []
        spawns = list(self.spawns)
        for i, event in enumerate([*self.events, None]):
            while spawns and spawns[0][0] == i:
                _, parent, child, steps = spawns.pop(0)
                body.extend(exporter.spawn(parent, child, steps))
            if event is not None:
                body.append(exporter.line(event))
        return scn.Scenario(tuple(head + body))


def _spawn_steps(parent: Task, child: Task) -> list[tuple[str, tuple[Any, ...]]] | None:
    """The credential calls that turn a fork of ``parent`` into ``child``, or None when
    the scenario format cannot express them (capabilities kept across a uid change)."""
    p, c = parent.cred, child.cred
    if c.cap_effective != (p.cap_effective if c.uid == 0 else 0):
        return None
    if c.cap_permitted != c.cap_effective or c.user_ns is not p.user_ns:
        return None
    steps: list[tuple[str, tuple[Any, ...]]] = []
    if c.groups != p.groups:
        steps.append(("setgroups", tuple(sorted(c.groups))))
    if (c.gid, c.egid, c.sgid) != (p.gid, p.egid, p.sgid):
        steps.append(("setresgid", (c.gid, c.egid, c.sgid)))
    if (c.uid, c.euid, c.suid) != (p.uid, p.euid, p.suid):
        steps.append(("setresuid", (c.uid, c.euid, c.suid)))
    return steps


def _profile_name(kernel: Kernel) -> str:
    from pinfs.base import profiles

    for attr, value in vars(profiles).items():
        if value is kernel.profile and attr.isupper():
            return attr
    return "SEED"


class _Unexportable(Exception):
    pass


class _Exporter:
    """Turns events into scenario steps, naming fds with labels."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self.fds: dict[tuple[int, int], str] = {}
        self.count = 0
        self.env = scn._Env()

    def line(self, e: Event) -> scn.Line:
        try:
            step = self.step(e)
        except _Unexportable as why:
            return scn.Comment(f" {e.strace()}  ({why})".replace("\n", " "))
        self.effects(e)
        return step

    def spawn(
        self, parent: int, child: int, steps: list[tuple[str, tuple[Any, ...]]]
    ) -> list[scn.Line]:
        """``kernel.spawn`` as a fork and the credential calls it made."""
        out: list[scn.Line] = [
            scn.Comment(f" kernel.spawn: pid {child}"),
            scn.Step(self.names[parent], "fork", (), scn.TaskResult(self.names[child])),
        ]
        for (pid, fd), name in list(self.fds.items()):
            if pid == parent:
                self.fds[(child, fd)] = name
        for op, values in steps:
            args: tuple[scn.Arg, ...]
            if op == "setgroups":
                args = (scn.IntList(tuple(scn.Int(v) for v in values)),)
            else:
                args = tuple(scn.Int(v) for v in values)
            out.append(scn.Step(self.names[child], op, args, scn.Ok()))
        return out

    def label(self, pid: int, fd: int) -> scn.IntExpr:
        name = self.fds.get((pid, fd))
        return scn.Int(fd) if name is None else scn.Label(name)

    def step(self, e: Event) -> scn.Step:
        spec = scn.OPS.get(e.name)
        if spec is None or e.name == "bpf":
            raise _Unexportable("no scenario operation")
        if e.error is not None and e.errno is None:
            raise _Unexportable("no errno")
        args = dict(e.args)
        order = [k for k, _ in e.args]
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
        return scn.Step(self.names[e.pid], e.name, out, self.result(e, spec))

    def arg(self, e: Event, kind: str, key: str, value: Any) -> scn.Arg:
        if value is None and kind in "PB":
            return scn.Null()
        if kind in "pP":
            if not isinstance(value, (str, bytes)):
                raise _Unexportable(f"{key} is not a string")
            return scn.Str(os.fsdecode(value))
        if kind == "i":
            if not isinstance(value, int) or isinstance(value, bool):
                raise _Unexportable(f"{key} is not an integer")
            if key in _FD_PARAMS.get(e.name, ()):
                return self.label(e.pid, value)
            return _decode(_KINDS.get((e.name, key)), value)
        if kind in "bB":
            if not isinstance(value, (bytes, bytearray)):
                raise _Unexportable(f"{key} is not bytes")
            return scn.Bytes(bytes(value))
        if kind == "l":
            items = list(value)
            if not all(isinstance(i, int) for i in items):
                raise _Unexportable(f"{key} is not a list of integers")
            return scn.IntList(tuple(scn.Int(i) for i in items))
        raise _Unexportable(f"argument kind {kind}")

    def result(self, e: Event, spec: scn.OpSpec) -> scn.Result:
        num = e.errno
        if num is not None:
            return scn.Errno(scn.errno_name(num))
        if e.name == "fork":
            return scn.TaskResult(self.names[e.result.pid])
        if e.name in _FD_RESULTS:
            self.count += 1
            name = f"f{self.count}"
            self.fds[(e.pid, int(e.result))] = name
            return scn.FdResult(scn.Label(name))
        step = scn.Step(self.names[e.pid], e.name, ())
        return scn._render(step, spec.result, e.result, self.env)

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
