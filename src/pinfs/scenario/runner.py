"""Running scenarios on pinfs or on the live kernel, and rendering what they observed."""

from __future__ import annotations

import contextlib
import os
import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from pinfs.base import profiles
from pinfs.base.errors import errno_name
from pinfs.base.profiles import Profile
from pinfs.live.kernel import LiveKernel
from pinfs.machine.kernel import Kernel
from pinfs.scenario.format import format_result
from pinfs.scenario.ops import _FD_PREFIX, FD_COMMANDS, OPS
from pinfs.scenario.syntax import (
    Attr,
    AttrValue,
    Buf,
    Bytes,
    BytesCat,
    BytesFn,
    CStr,
    Errno,
    Failure,
    FdResult,
    Flags,
    Int,
    Label,
    Name,
    Null,
    Ok,
    Record,
    Result,
    Scenario,
    Step,
    Str,
    TaskDecl,
    TaskResult,
    Value,
    ValueList,
)
from pinfs.scenario.values import (
    _ATTR_ALL,
    _ATTR_FIELDS,
    _BYTES_CONSTANTS,
    _CAP_NAMES,
    REFERENCE_ALL_CAPS,
    REFERENCE_SYSCTLS,
    _Env,
    _eval_arg,
    _eval_bytes,
    _eval_int,
    _Unbound,
)


def resolve_profile(
    name: str | None, switches: dict[str, Any] | None = None
) -> tuple[Profile, str | None]:
    """The profile called ``name`` (``LINUX_6_18`` or ``linux-6.18``) with ``switches``
    changed, and a warning, or SEED and a warning when it is unknown."""
    profile, warning = _preset(name)
    if switches:
        profile = attrs.evolve(profile, **switches)
    return profile, warning


def _preset(name: str | None) -> tuple[Profile, str | None]:
    if name is None:
        return profiles.SEED, None
    obj = getattr(profiles, name, None)
    if isinstance(obj, profiles.Profile):
        return obj, None
    try:
        return profiles.by_name(name), None
    except (KeyError, ValueError):
        return profiles.SEED, f"unknown profile {name!r}: using SEED"


@attrs.frozen
class StepResult:
    """What one step gave on one backend."""

    index: int  # 1-based among the steps
    lineno: int
    step: Step
    observed: Result
    text: str  # format_result(observed)

    @property
    def matches(self) -> bool | None:
        """Whether the observation is the expectation (None if there is none)."""
        if self.step.expect is None:
            return None
        return results_equal(self.step.expect, self.observed)


def results_equal(a: Result, b: Result) -> bool:
    """Equal results (integers compare by value whatever their base)."""
    return format_result(_canon(a)) == format_result(_canon(b))


def _canon(r: Result) -> Result:
    if isinstance(r, Value) and isinstance(r.value, Int):
        return Value(Int(r.value.value))
    if isinstance(r, Record):
        return Record(
            r.kind, tuple((k, Int(v.value) if isinstance(v, Int) else v) for k, v in r.fields)
        )
    if isinstance(r, Value) and isinstance(r.value, ValueList):
        return Value(
            ValueList(tuple(Int(i.value) if isinstance(i, Int) else i for i in r.value.items))
        )
    return r


class Run(list[StepResult]):
    """The step results of one run, with the backend's name and its warnings."""

    def __init__(self, backend: str, results: Iterable[StepResult] = ()) -> None:
        super().__init__(results)
        self.backend = backend
        self.warnings: list[str] = []
        self.all_caps: tuple[int, ...] = ()  # what caps=all meant


class Session:
    """One run on one backend: tasks by name and the label bindings."""

    backend_name = "?"

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.all_caps: tuple[int, ...] = ()

    def spawn(self, decl: TaskDecl, parent: Any = None) -> Any:
        raise NotImplementedError

    def call(self, task: Any, op: str, args: list[Any]) -> Any:
        raise NotImplementedError

    def alloc(self, task: Any, data: bytes) -> int:
        raise NotImplementedError

    def free(self, task: Any, address: int) -> None:
        raise NotImplementedError

    def raw_bpf(self, task: Any, cmd: int, address: int, size: int) -> int:
        raise NotImplementedError

    def alive(self, task: Any) -> bool:
        raise NotImplementedError

    def finish(self) -> None:
        """Release what the run made."""


class Backend:
    """Makes a :class:`Session` per scenario run."""

    name = "?"

    def start(self, scenario: Scenario) -> Session:
        raise NotImplementedError


def effective_sysctls(scenario: Scenario) -> dict[str, int]:
    """The reference sysctls, overridden by the scenario's ``sysctl`` lines."""
    values = dict(REFERENCE_SYSCTLS)
    values.update(scenario.sysctls)
    return values


class PinfsBackend(Backend):
    """A fresh :class:`pinfs.Kernel` per run.  ``profile`` overrides the scenario's;
    ``all_caps`` is what ``caps=all`` means (default :data:`REFERENCE_ALL_CAPS`)."""

    name = "pinfs"

    def __init__(
        self,
        profile: Profile | str | None = None,
        *,
        all_caps: Iterable[int] | None = None,
        sysctls: dict[str, int] | None = None,
        check_invariants: bool = True,
    ) -> None:
        self.profile = profile
        self.all_caps = tuple(REFERENCE_ALL_CAPS if all_caps is None else all_caps)
        self.sysctls = dict(sysctls or {})
        self.check_invariants = check_invariants

    def start(self, scenario: Scenario) -> Session:
        warnings: list[str] = []
        prof = self.profile
        if isinstance(prof, profiles.Profile):
            profile = prof
        elif prof is not None:
            profile, warning = resolve_profile(prof)
            if warning:
                warnings.append(warning)
        else:
            profile, warning = resolve_profile(scenario.profile, scenario.profile_switches)
            if warning:
                warnings.append(warning)
        session = _PinfsSession(profile, self.all_caps, self.check_invariants)
        session.warnings.extend(warnings)
        values = effective_sysctls(scenario)
        values.update(self.sysctls)
        for key, value in values.items():
            if key in session.kernel.sysctl:
                session.kernel.sysctl[key] = value
            else:
                session.warnings.append(f"pinfs has no sysctl {key}")
        return session


class _PinfsSession(Session):
    backend_name = "pinfs"

    def __init__(self, profile: Profile, all_caps: tuple[int, ...], check: bool) -> None:
        super().__init__()

        self.kernel = Kernel(profile=profile)
        self.all_caps = all_caps
        self.check = check

    def spawn(self, decl: TaskDecl, parent: Any = None) -> Any:
        caps = _caps_of(decl, self.all_caps)
        available = self.kernel.init_task.cred.cap_permitted
        kept = [c for c in caps if available >> c & 1]
        if len(kept) != len(caps):
            dropped = sorted(set(caps) - set(kept))
            names = ",".join(_CAP_NAMES[c] for c in dropped)
            self.warnings.append(f"pinfs init lacks {names}: task {decl.name} runs without them")
        task = self.kernel.spawn(
            uid=decl.uid, gid=decl.gid, groups=decl.groups, caps=kept, parent=parent
        )
        task.umask(decl.umask)
        if decl.cwd != "/":
            task.chdir(decl.cwd)
        return task

    def call(self, task: Any, op: str, args: list[Any]) -> Any:
        if op == "listdir":
            return task.listdir(*args)
        if op == "prog_load":
            prog_type, insns, *rest = args
            kw: dict[str, Any] = {}
            if rest:
                kw["license"] = rest[0]
            if len(rest) > 1:
                kw["kern_version"] = rest[1]
            return task.prog_load(prog_type, insns, **kw)
        return getattr(task, op)(*args)

    def alloc(self, task: Any, data: bytes) -> int:
        return int(task.mem.alloc(data))

    def free(self, task: Any, address: int) -> None:
        task.mem.free(address)

    def raw_bpf(self, task: Any, cmd: int, address: int, size: int) -> int:
        return int(task.bpf(cmd, address, size))

    def alive(self, task: Any) -> bool:
        return bool(getattr(task, "alive", True))

    def finish(self) -> None:
        if self.check:
            try:
                self.kernel.check_invariants()
            except Exception as e:
                self.warnings.append(f"pinfs invariants broken after the run: {e}")


class LiveBackend(Backend):
    """The live kernel: ``kernel`` is reused (each run spawns and ends its own tasks),
    or a fresh :class:`~pinfs.live.kernel.LiveKernel` is started per run."""

    name = "live"

    def __init__(self, kernel: LiveKernel | None = None) -> None:
        self.kernel = kernel

    def start(self, scenario: Scenario) -> Session:

        own = self.kernel is None
        kernel = LiveKernel() if self.kernel is None else self.kernel
        session = _LiveSession(kernel, own)
        for key, want in effective_sysctls(scenario).items():
            have = host_sysctl(key)
            if have is not None and have != want:
                session.warnings.append(f"live host has {key}={have}, the scenario assumes {want}")
        return session


def host_sysctl(key: str) -> int | None:
    """The host's value of a sysctl (None if unreadable)."""
    try:
        with open("/proc/sys/" + key.replace(".", "/")) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


#: sizeof(struct bpf_map_info) is about 100 bytes on 6.18; bpf_prog_info over 200.
_MAP_INFO_MAX = 160


def _caps_of(decl: TaskDecl, all_caps: tuple[int, ...]) -> list[int]:
    if decl.caps is None:
        return list(all_caps)
    return [_CAP_NAMES.index(c) for c in decl.caps]


def live_all_caps(kernel: LiveKernel) -> tuple[int, ...]:
    """The capabilities a live root can have (its init's permitted set)."""
    _, permitted, _ = kernel.init_task.capget()
    return tuple(c for c in range(64) if permitted >> c & 1)


class _LiveSession(Session):
    backend_name = "live"

    def __init__(self, kernel: LiveKernel, own: bool) -> None:
        super().__init__()
        self.kernel = kernel
        self.own = own
        self.tasks: list[Any] = []
        self.all_caps = live_all_caps(kernel)

    def spawn(self, decl: TaskDecl, parent: Any = None) -> Any:
        caps = _caps_of(decl, self.all_caps)
        kept = [c for c in caps if c in self.all_caps]
        if len(kept) != len(caps):
            names = ",".join(_CAP_NAMES[c] for c in sorted(set(caps) - set(kept)))
            self.warnings.append(f"live init lacks {names}: task {decl.name} runs without them")
        task = self.kernel.spawn(
            uid=decl.uid, gid=decl.gid, groups=decl.groups, caps=kept, parent=parent
        )
        self.tasks.append(task)
        task.umask(decl.umask)
        if decl.cwd != "/":
            task.chdir(decl.cwd)
        return task

    def call(self, task: Any, op: str, args: list[Any]) -> Any:
        if op == "map_lookup_elem":
            key_size, value_size = self._map_sizes(task, args[0])
            return self._elem(task, 1, args[0], args[1], value_size)
        if op == "map_get_next_key":
            key_size, _ = self._map_sizes(task, args[0])
            return self._elem(task, 4, args[0], args[1] if len(args) > 1 else None, key_size)
        if op == "prog_load":
            prog_type, insns, *rest = args
            kw: dict[str, Any] = {}
            if len(rest) > 1:
                kw["kern_version"] = rest[1]
            return task.prog_load(prog_type, insns, rest[0] if rest else "GPL", **kw)
        if op == "fork":
            child = task.fork()
            self.tasks.append(child)
            return child
        return getattr(task, op)(*args)

    def _map_sizes(self, task: Any, fd: int) -> tuple[int, int]:
        """Key and value sizes of the map at ``fd`` via BPF_OBJ_GET_INFO_BY_FD, or
        (8, 8) if it is not a map (the kernel then refuses the fd before it touches
        the buffers).  A program's info is far longer than a map's, which tells
        them apart (LiveTask.bpf_map_info reads a program's info as a map's)."""
        size = 512
        buf = task.write_user(bytes(size))
        attr = task.write_user(struct.pack("<IIQ", fd & 0xFFFFFFFF, size, buf))
        try:
            task.bpf(15, attr, 16)
            info_len = struct.unpack_from("<I", task.read_user(attr, 16), 4)[0]
            info = task.read_user(buf, 24)
        except OSError:
            return 8, 8
        finally:
            task.free_user(attr)
            task.free_user(buf)
        if info_len > _MAP_INFO_MAX:
            return 8, 8
        _, _, key_size, value_size = struct.unpack_from("<4I", info)
        return key_size, value_size

    def _elem(self, task: Any, cmd: int, fd: int, key: bytes | None, out_size: int) -> bytes:
        """LOOKUP_ELEM / GET_NEXT_KEY with an ``out_size`` output buffer."""
        out = task.write_user(bytes(max(out_size, 1)))
        kaddr = task.write_user(key) if key is not None else 0
        attr = task.write_user(struct.pack("<IIQQQ", fd & 0xFFFFFFFF, 0, kaddr, out, 0))
        try:
            task.bpf(cmd, attr, 32)
            return bytes(task.read_user(out, out_size))
        finally:
            for addr in (attr, out, kaddr):
                if addr:
                    task.free_user(addr)

    def alloc(self, task: Any, data: bytes) -> int:
        return int(task.write_user(data))

    def free(self, task: Any, address: int) -> None:
        task.free_user(address)

    def raw_bpf(self, task: Any, cmd: int, address: int, size: int) -> int:
        return int(task.bpf(cmd, address, size))

    def alive(self, task: Any) -> bool:
        return bool(task.alive)

    def finish(self) -> None:
        if self.own:
            self.kernel.close()
            return
        for task in self.tasks:
            if task.alive:
                with contextlib.suppress(OSError, RuntimeError):
                    task.exit(0)


def _raw_bpf(
    session: Session, task: Any, cmd: int, attr: Attr | Bytes, size: int | None, env: _Env
) -> int:
    """Build the attr in the task's memory (pointers to buffers made for it), call
    bpf(2), and unmap everything."""
    addresses: list[int] = []
    try:
        if isinstance(attr, Bytes):
            buf = bytearray(attr.value)
        else:
            fields = _ATTR_FIELDS.get(cmd, _ATTR_ALL)
            writes: list[tuple[int, bytes]] = []
            for key, value in attr.items:
                if key.startswith("@"):
                    off = int(key[1:])
                    if isinstance(value, (Int, Name, Label, Flags)):
                        data = bytes([_eval_int(value, env) & 0xFF])
                    elif isinstance(value, (Bytes, BytesFn, BytesCat)):
                        data = _eval_bytes(value, env)
                    else:
                        raise _Unbound(f"@{off} takes a byte or bytes")
                    writes.append((off, data))
                    continue
                spec = fields.get(key) or _ATTR_ALL.get(key)
                if spec is None:
                    raise _Unbound(f"unknown attr field {key!r}")
                off, width = spec
                if isinstance(value, CStr):
                    addr = session.alloc(task, os.fsencode(value.value) + b"\0")
                    addresses.append(addr)
                    number = addr
                elif isinstance(value, Buf):
                    addr = session.alloc(task, bytes(value.size))
                    addresses.append(addr)
                    number = addr
                elif isinstance(value, Null):
                    number = 0
                elif isinstance(value, (Bytes, BytesFn, BytesCat)) or (
                    isinstance(value, Name) and value.name in _BYTES_CONSTANTS
                ):
                    raw = _eval_bytes(value, env)
                    if key in ("map_name", "prog_name"):
                        writes.append((off, raw[:width]))
                        continue
                    addr = session.alloc(task, raw)
                    addresses.append(addr)
                    number = addr
                else:
                    number = _eval_int(value, env)
                writes.append((off, (number & ((1 << 8 * width) - 1)).to_bytes(width, "little")))
            end = max((off + len(data) for off, data in writes), default=0)
            buf = bytearray(max(48, end))
            for off, data in writes:
                buf[off : off + len(data)] = data
        if size is None:
            size = len(buf)
        if size > len(buf):
            buf.extend(bytes(size - len(buf)))
        addr = session.alloc(task, bytes(buf))
        addresses.append(addr)
        return session.raw_bpf(task, cmd, addr, size)
    finally:
        for addr in addresses:
            with contextlib.suppress(Exception):  # the task may have died
                session.free(task, addr)


def _typed_as_raw(op: str, args: list[Any]) -> tuple[int, Attr] | None:
    """obj_pin/obj_get/map_create with the optional later fields go through raw bpf on
    every backend (the typed helpers may not take them)."""
    if op == "obj_pin" and len(args) > 2:
        fd, path, flags, *rest = args
        items: list[tuple[str, AttrValue]] = [
            ("pathname", CStr(path)),
            ("bpf_fd", Int(fd)),
            ("file_flags", Int(flags)),
        ]
        if rest:
            items.append(("path_fd", Int(rest[0])))
        return 6, Attr(tuple(items))
    if op == "obj_get" and len(args) > 1:
        path, flags, *rest = args
        items = [("pathname", CStr(path)), ("file_flags", Int(flags))]
        if rest:
            items.append(("path_fd", Int(rest[0])))
        return 7, Attr(tuple(items))
    if op == "map_create" and len(args) > 4:
        names = ("map_type", "key_size", "value_size", "max_entries", "map_flags")
        return 0, Attr(tuple((n, Int(v)) for n, v in zip(names, args, strict=False)))
    return None


def _bind(label: Label, value: int, env: _Env) -> Label:
    """``label`` if it is unbound (it gets ``value``) or already has ``value``;
    otherwise a fresh label for ``value`` (which then fails the comparison)."""
    if label.name in env.labels:
        if env.labels[label.name] == value:
            return label
        label = _fresh_label(label.name + "_", env)
    env.labels[label.name] = value
    return label


def _fresh_label(prefix: str, env: _Env) -> Label:
    n = 1
    while True:
        name = prefix if n == 1 else f"{prefix}{n}"
        if name not in env.labels:
            return Label(name)
        n += 1


_STAT_DEFAULT = ("mode", "nlink", "uid", "gid", "size")
_STATFS_DEFAULT = ("type", "namelen")
_OCTAL_FIELDS = {"mode"}
_HEX_FIELDS = {"type", "flags"}


def _render_record(kind: str, value: Any, expect: Result | None, env: _Env, op: str) -> Record:
    if isinstance(expect, Record) and expect.kind == kind and expect.fields:
        wanted = [k for k, _ in expect.fields]
        expected = dict(expect.fields)
    else:
        wanted = list(_STAT_DEFAULT if kind == "stat" else _STATFS_DEFAULT)
        expected = {}
        if kind == "stat" and (value.st_mode & 0o170000) == 0o040000:
            wanted.remove("size")  # directory sizes are filesystem-specific
    fields: list[tuple[str, Int | Label]] = []
    for key in wanted:
        raw = getattr(value, ("st_" if kind == "stat" else "f_") + key, None)
        if raw is None:
            raise _Unbound(f"{kind} has no field {key!r}")
        if isinstance(raw, tuple):
            raw = raw[0]
        raw = int(raw)
        exp = expected.get(key)
        if isinstance(exp, Label):
            fields.append((key, _bind(exp, raw, env)))
        elif key in ("ino", "dev") and exp is None:
            fields.append((key, _bind(_fresh_label(key[0], env), raw, env)))
        else:
            base = 8 if key in _OCTAL_FIELDS else 16 if key in _HEX_FIELDS else 10
            fields.append((key, Int(raw, base)))
    return Record(kind, tuple(fields))


def _render(
    step: Step, kind: str, value: Any, env: _Env, new_task: Any = None, cmd: int = -1
) -> Result:
    expect = step.expect
    if kind == "bpf":
        if cmd in FD_COMMANDS and value >= 0:
            kind = "fd"
        elif value == 0:
            return Ok()
        else:
            return Value(Int(int(value)))
    if kind == "none":
        return Ok()
    if kind == "fd":
        v = int(value)
        if isinstance(expect, FdResult) and isinstance(expect.ref, Label):
            return FdResult(_bind(expect.ref, v, env))
        prefix = _FD_PREFIX.get(step.op, "x")
        if expect is not None:  # an fd where something else was expected
            prefix += "_"  # (never one of the scenario's own labels)
        label = _fresh_label(prefix, env)
        env.labels[label.name] = v
        return FdResult(label)
    if kind == "task":
        if isinstance(expect, TaskResult):
            name = expect.name
        else:
            env.forked += 1
            name = f"child{env.forked}"
            while name in env.tasks:
                env.forked += 1
                name = f"child{env.forked}"
        env.tasks[name] = new_task
        return TaskResult(name)
    if kind == "mode":
        return Value(Int(int(value), 8))
    if kind == "int":
        return Value(Int(int(value)))
    if kind == "bytes":
        return Value(Bytes(bytes(value)))
    if kind == "str":
        return Value(Str(str(value)))
    if kind == "names":
        return Value(ValueList(tuple(Str(str(n)) for n in sorted(value))))
    if kind == "ints":
        return Value(ValueList(tuple(Int(int(n)) for n in value)))
    if kind in ("stat", "statfs"):
        return _render_record(kind, value, expect, env, step.op)
    raise AssertionError(kind)


def clean_failure(text: str) -> str:
    """A harness message made safe for a result: no quotes, brackets or ``#``, and
    single spaces."""
    text = re.sub(r"[\'\"()\[\]{}#\\]", " ", text)
    return " ".join(text.split()) or "failure"


def _errno_of(exc: BaseException) -> int | None:
    if isinstance(exc, OSError) and exc.errno:
        return int(exc.errno)
    return None


def _run_step(session: Session, step: Step, env: _Env) -> Result:
    spec = OPS[step.op]
    task = env.tasks.get(step.task)
    if task is None:
        return Failure(f"no task {step.task}")
    if not session.alive(task):
        return Failure(f"task {step.task} has exited")
    cmd = -1
    try:
        args = [_eval_arg(k, a, env) for k, a in zip(spec.args, step.args, strict=False)]
        if step.op == "bpf":
            cmd = args[0]
            size = args[2] if len(args) > 2 else None
            value: Any = _raw_bpf(session, task, cmd, step.args[1], size, env)  # type: ignore[arg-type]
        else:
            raw = _typed_as_raw(step.op, args)
            if raw is not None:
                cmd = raw[0]
                value = _raw_bpf(session, task, raw[0], raw[1], None, env)
            else:
                value = session.call(task, step.op, args)
    except _Unbound as e:
        return Failure(clean_failure(str(e)))
    except Exception as e:
        err = _errno_of(e)
        if err is not None:
            return Errno(errno_name(err))
        return Failure(clean_failure(f"{type(e).__name__}: {e}"))
    try:
        if step.op == "fork":
            return _render(step, "task", None, env, new_task=value)
        return _render(step, spec.result, value, env, cmd=cmd)
    except _Unbound as e:
        return Failure(clean_failure(str(e)))


def _backend(backend: Backend | str) -> Backend:
    if isinstance(backend, Backend):
        return backend
    if backend == "pinfs":
        return PinfsBackend()
    if backend == "live":
        return LiveBackend()
    raise ValueError(f"unknown backend {backend!r}: 'pinfs', 'live' or a Backend")


def run_scenario(scenario: Scenario, backend: Backend | str = "pinfs") -> Run:
    """Run every step on ``backend``; a step's failure never stops the run."""
    b = _backend(backend)
    session = b.start(scenario)
    run = Run(b.name)
    run.all_caps = session.all_caps
    env = _Env()
    try:
        index = 0
        for lineno, line in enumerate(scenario.lines, 1):
            if isinstance(line, TaskDecl):  # at the head, or spawned after a step
                parent = None if line.parent is None else env.tasks.get(line.parent)
                env.tasks[line.name] = session.spawn(line, parent)
            elif isinstance(line, Step):
                index += 1
                observed = _run_step(session, line, env)
                run.append(StepResult(index, lineno, line, observed, format_result(observed)))
    finally:
        session.finish()
        run.warnings.extend(session.warnings)
    return run


def with_results(scenario: Scenario, results: Sequence[StepResult]) -> Scenario:
    """The scenario with every step's expectation replaced by what was observed."""
    by_line = {r.lineno: r.observed for r in results}
    lines = [
        attrs.evolve(line, expect=by_line[i]) if isinstance(line, Step) and i in by_line else line
        for i, line in enumerate(scenario.lines, 1)
    ]
    return Scenario(tuple(lines), scenario.name)


def record(scenario: Scenario, backend: Backend | str = "live") -> tuple[Scenario, Run]:
    """Run ``scenario`` and freeze the observed results into it (SibylFS's
    ``posix -o``); returns the new scenario and the run."""
    run = run_scenario(scenario, backend)
    return with_results(scenario, run), run


def iter_scenarios(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Scenario files: the files given, and ``*.scn`` under the directories given."""
    for p in paths:
        path = Path(p)
        if path.is_dir():
            yield from sorted(path.rglob("*.scn"))
        else:
            yield path
