"""Syscall traces: ``kernel.start_trace()`` records every syscall of every task.

A :class:`Trace` holds one :class:`Event` per outermost syscall (a syscall made inside
another, such as the ``open``/``getdents``/``close`` of ``listdir`` or the raw ``bpf``
of ``obj_pin``, is not recorded) and prints strace-style (``print(trace)``).  Export as
a scenario that replays on a fresh kernel is a scenario tool
(:func:`pinfs.scenario.from_trace`): recording knows nothing of the scenario format.

The :func:`~pinfs.base.syscall.syscall` decorator marks the syscall methods of
:class:`~pinfs.machine.task.Task`; while no trace is running its cost is one attribute
check.
"""

from __future__ import annotations

import inspect
import os
import stat as _stat
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from pinfs.base.errors import errno_name
from pinfs.base.syscall import syscall
from pinfs.fs.char_dev import console_fops
from pinfs.machine.constants import constants
from pinfs.machine.task import INIT_RLIMITS

if TYPE_CHECKING:
    from pinfs.machine.kernel import Kernel
    from pinfs.machine.task import Task

__all__ = [
    "ARG_KINDS",
    "Event",
    "Part",
    "TaskOrigin",
    "Trace",
    "decode_int",
    "format_parts",
    "syscall",
]


@attrs.frozen
class TaskOrigin:
    """How a task entered the trace: ``declared`` (already running when the trace
    started, or spawned while a fork of init was still a fork of a freshly booted
    init: declared at the head), ``spawned`` (by ``kernel.spawn`` from ``parent``
    after that changed what a fork inherits: declared where it happened) or ``fork``
    of ``parent``; with its credentials, umask and (declared) cwd then."""

    pid: int
    kind: str
    parent: int | None = None
    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    caps: tuple[int, ...] = ()
    umask: int = 0o022
    cwd: str = "/"


@attrs.frozen
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
ARG_KINDS: dict[tuple[str, str], str] = {
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
#: One part of a decoded integer: a constant's name, or a literal ``(value, base)`` with
#: base 10, 8 or 16.  The scenario tools turn parts into their syntax tree.
Part = str | tuple[int, int]


def decode_int(kind: str | None, value: int) -> tuple[Part, ...]:
    """An integer as a constant or flag expression when that is exact, else a literal;
    ``kind`` is one of the families of :data:`ARG_KINDS` (None: a plain number)."""
    if kind is None:
        return ((value, 10),)
    if kind == "mode":
        return ((value, 8),)
    table = constants()
    if kind in _ENUMS:
        for name in _ENUMS[kind]:
            if table.get(name) == value:
                return (name,)
        return ((value, 10),)
    parts: list[Part] = []
    rest = value
    if kind == "oflags":
        acc = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}.get(value & 3)
        if acc is None or value < 0:
            return ((value, 16),)
        rest &= ~3
        if acc != "O_RDONLY" or not rest:
            parts.append(acc)
    if value < 0:
        return ((value, 10),)
    for name in _FAMILIES[kind]:
        bits = table.get(name, 0)
        if bits > 0 and rest & bits == bits:
            parts.append(name)
            rest &= ~bits
    if rest:
        parts.append((rest, 16))
    if not parts:
        return ((0, 10),)
    exact = _value_of(parts, table) == value
    return tuple(parts) if exact else ((value, 16),)


def _value_of(parts: list[Part], table: dict[str, int]) -> int | None:
    value = 0
    for part in parts:
        if isinstance(part, str):
            if part not in table:  # pragma: no cover - a constant pinfs lacks
                return None
            value |= table[part]
        else:
            value |= part[0]
    return value


def _format_literal(value: int, base: int) -> str:
    sign = "-" if value < 0 else ""
    a = abs(value)
    if base == 8:
        return f"{sign}0o{a:03o}"
    if base == 16:
        return f"{sign}0x{a:x}"
    return f"{sign}{a}"


def format_parts(parts: tuple[Part, ...]) -> str:
    """``O_WRONLY|O_CREAT``, ``0o600``, ``0x10``: the parts as C-like text."""
    return "|".join(p if isinstance(p, str) else _format_literal(*p) for p in parts)


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
        return format_parts(decode_int(ARG_KINDS.get((call, key)), value))
    return repr(value)


def _show_result(e: Event) -> str:
    err = e.error
    if err is not None:
        num = e.errno
        if num is not None:
            return f"-1 {errno_name(num)} ({os.strerror(num)})"
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


def _origin(task: Task, kind: str, parent: int | None = None) -> TaskOrigin:
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
    )


class Trace:
    """The syscalls recorded while ``kernel.trace`` is this trace."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.events: list[Event] = []
        self.tasks: dict[int, TaskOrigin] = {}  # by pid, in order of appearance
        #: spawns declared where they happened: (events before it, parent pid, child pid)
        self.spawns: list[tuple[int, int, int]] = []

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

    def _boots_like_init(self, parent: Task) -> bool:
        """Whether a fork of ``parent`` now is a fork of a freshly booted init (so the
        child can be declared at the head of a scenario): the fds boot gave it, cwd and root
        ``/``, the initial mount namespace, the boot rlimits."""
        kernel = self.kernel
        initial_ns = kernel.namespaces[0] if kernel.namespaces else parent.mnt_ns
        root = parent.fs.root
        return (
            parent is kernel.init_task
            and _fds_as_booted(parent)
            and _cwd(parent) == "/"
            and parent.mnt_ns is initial_ns
            and root.mnt is initial_ns.root
            and root.dentry is root.mnt.mnt_root
            and parent.rlimits == INIT_RLIMITS
        )

    def _spawned(self, task: Task, parent: Task) -> None:
        """``kernel.spawn`` made ``task`` (its inner syscalls were not recorded)."""
        if self._boots_like_init(parent):  # the same task is declared at the head
            self.tasks[task.pid] = _origin(task, "declared")
            return
        self._see(parent)  # a task line right here: a fork of the parent as it is now
        self.tasks[task.pid] = _origin(task, "spawned", parent=parent.pid)
        self.spawns.append((len(self.events), parent.pid, task.pid))

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


def _fds_as_booted(task: Task) -> bool:
    """The fd table boot gave init: the console as fds 0, 1 and 2 (one file), or
    nothing when it had no console."""
    files = task.files
    fds = files.open_fds()
    if files.cloexec or not fds:
        return not files.cloexec
    console = files.lookup(0)
    return (
        fds == [0, 1, 2]
        and console is not None
        and console.f_op is console_fops
        and all(files.lookup(fd) is console for fd in fds)
    )
