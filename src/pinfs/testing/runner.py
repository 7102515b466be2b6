"""Run operations against a :class:`pinfs.Kernel` with the reference model in step.

A :class:`Driver` makes each syscall on behalf of a pid and, when it succeeds, tells
the :class:`~pinfs.testing.model.RefModel` what happened; a failure (an ``OSError``
with the kernel's errno) changes nothing in the model.  :meth:`Driver.check` then
holds the kernel to ``check_invariants()`` and to the model.

Operation scripts (what :func:`pinfs.testing.strategies.scripts` draws) are lists of
``(op, args)`` tuples naming a :class:`Driver` method and its keyword arguments::

    [("map_create", {"pid": 1, "map_type": 3, "key_size": 4, "value_size": 4,
                     "max_entries": 2}),
     ("obj_pin", {"pid": 1, "fd": 0, "path": "/sys/fs/bpf/a"}),
     ("close", {"pid": 1, "fd": 0})]

:func:`run_script` runs one from a freshly booted kernel and returns every outcome.

The *standard world* every driver boots into: bpffs mounted at ``/sys/fs/bpf`` by
init, the empty directory ``/tmp/b`` (a second mount point), and an *arena* of user
buffers in init's memory (:data:`ARENA`: pin paths, keys, fd values, instructions, a
license, an output buffer) at fixed addresses that every later task inherits, so raw
``bpf(2)`` attrs can point at them.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from pinfs.base.errors import kernel_error
from pinfs.base.profiles import SEED, Profile
from pinfs.base.uapi import MS_SHARED, MS_SLAVE, MS_UNBINDABLE
from pinfs.base.usermem import UserMemory
from pinfs.ebpf.attr import (
    ATTR_LAYOUT,
    BPF_F_PATH_FD,
    BPF_MAP_CREATE,
    BPF_MAP_DELETE_ELEM,
    BPF_MAP_UPDATE_ELEM,
    BPF_OBJ_GET,
    BPF_OBJ_PIN,
    BPF_PROG_LOAD,
    SEED_ATTR_SIZE,
)
from pinfs.ebpf.objects import bpf_file_object
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from pinfs.machine.kernel import Kernel
from pinfs.machine.task import CLONE_NEWNS, Task
from pinfs.testing.model import ModelMismatch, ModelScopeError, RefModel
from pinfs.vfs import MS_BIND, MS_PRIVATE, MS_REMOUNT, PATH_MAX

__all__ = [
    "ARENA",
    "BPFFS",
    "CHDIR_PATHS",
    "DIRS",
    "MOUNTPOINTS",
    "OPS",
    "PIN_PATHS",
    "Driver",
    "DrivenTask",
    "Outcome",
    "run_script",
]

#: Where the standard world mounts bpffs, and the mount points the machine uses.
BPFFS = "/sys/fs/bpf"
MOUNTPOINTS = (BPFFS, "/tmp/b")
#: Directories the machine creates and removes (inside whatever is mounted).
DIRS = (BPFFS + "/d", "/tmp/b/d")
#: Pin paths: on either mount point, in a subdirectory, relative to the cwd, outside
#: bpffs (EPERM) and reserved (a dot, EPERM).
PIN_PATHS = (
    BPFFS + "/a",
    BPFFS + "/b",
    BPFFS + "/d/a",
    "/tmp/b/a",
    "/tmp/b/d/a",
    "c",
    "/tmp/x",
    BPFFS + "/a.b",
)
CHDIR_PATHS = ("/", *MOUNTPOINTS, *DIRS)
# mount(2) flags that make no new mount: remount, bind, propagation changes.
_MS_NOT_NEW = MS_REMOUNT | MS_BIND | MS_PRIVATE | MS_UNBINDABLE | MS_SLAVE | MS_SHARED


def _arena_buffers() -> dict[str, bytes]:
    bufs: dict[str, bytes] = {}
    for path in (*PIN_PATHS, *MOUNTPOINTS, *DIRS):
        bufs["path:" + path] = path.encode() + b"\0"
    for i in range(4):
        bufs[f"key:{i}"] = i.to_bytes(4, "little")
    for i in range(8):
        bufs[f"fd:{i}"] = i.to_bytes(4, "little")
    bufs["zero8"] = bytes(8)
    bufs["insns:ret0"] = RETURN_ZERO
    for i in range(8):
        bufs[f"insns:map{i}"] = BPF_LD_MAP_FD(1, i) + RETURN_ZERO
    bufs["license"] = b"GPL\0"
    bufs["out"] = bytes(256)
    return bufs


ARENA_BUFFERS = _arena_buffers()


def _arena_memory() -> tuple[UserMemory, dict[str, int]]:
    memory = UserMemory()
    return memory, {name: memory.alloc(data) for name, data in ARENA_BUFFERS.items()}


#: A fresh task's memory with the arena mapped (copied into init's by setup_world).
_ARENA_MEMORY, _ARENA_ADDRESSES = _arena_memory()
#: Name -> address of each arena buffer in every task of a driver's world.
ARENA: dict[str, int] = _ARENA_ADDRESSES


def _install_arena(task: Task) -> None:
    if type(task.mem) is UserMemory and not task.mem.image():
        task.mem = _ARENA_MEMORY.copy()  # nothing mapped yet: as fork copies memory
        return
    for name, data in ARENA_BUFFERS.items():
        address = task.mem.alloc(data)
        if address != ARENA[name]:
            raise RuntimeError(
                f"arena buffer {name!r} landed at {address:#x}, not {ARENA[name]:#x}: "
                "install the arena before anything else uses init's memory"
            )


class Outcome(NamedTuple):
    """One operation's result: its return value, or the errno it failed with."""

    op: str
    result: Any = None
    errno: int | None = None


class Driver:
    """Syscalls by pid, with the reference model following every success.

    ``Driver.boot(profile)`` gives the standard world; ``Driver(kernel, model)`` wraps
    a kernel you built (the model must then describe its state: a fresh
    ``RefModel`` describes a freshly booted kernel).  Every operation raises the
    kernel's ``OSError`` on failure; a pid that is not alive gives ESRCH.
    """

    def __init__(self, kernel: Kernel, model: RefModel | None = None) -> None:
        self.kernel = kernel
        if model is None:  # booted with a console: init holds it as fds 0, 1, 2
            console = kernel.init_task.files.open_fds() == [0, 1, 2]
            model = RefModel.for_profile(kernel.profile, console=console)
        self.model = model

    @classmethod
    def boot(cls, profile: Profile = SEED, model: RefModel | None = None) -> Driver:
        """A fresh kernel in the standard world (see the module docstring)."""
        driver = cls(Kernel(profile), model)
        driver.setup_world()
        return driver

    def setup_world(self) -> None:
        """Turn a freshly booted kernel into the standard world: the arena in init's
        memory, ``/tmp/b``, and bpffs mounted at ``/sys/fs/bpf``."""
        _install_arena(self.kernel.init_task)
        self.mkdir(1, "/tmp/b", 0o755)
        self.mount(1, BPFFS)

    def __repr__(self) -> str:
        return f"<Driver {self.kernel!r} {self.model!r}>"

    def task(self, pid: int) -> Task:
        """The live task ``pid`` (ESRCH if there is none)."""
        task = self.kernel.tasks.get(pid) if isinstance(pid, int) else None
        if task is None:
            raise kernel_error(errno.ESRCH)
        return task

    def as_task(self, pid: int) -> DrivenTask:
        """Task ``pid`` as a :class:`DrivenTask`: the :class:`~pinfs.Task` methods, with
        the model following every call, so your own loader code can run unchanged."""
        self.task(pid)  # ESRCH now rather than at the first call
        return DrivenTask(self, pid)

    def check(self) -> None:
        """``kernel.check_invariants()``, then the model against the kernel."""
        self.kernel.check_invariants()
        self.model.check(self.kernel)

    def run(self, op: str, args: dict[str, Any]) -> Outcome:
        """Run one script step; an ``OSError`` becomes an errno outcome."""
        if op not in OPS:
            raise ValueError(f"unknown operation {op!r}; known: {', '.join(sorted(OPS))}")
        try:
            return Outcome(op, getattr(self, op)(**args))
        except OSError as exc:
            if not isinstance(exc.errno, int):
                raise
            return Outcome(op, errno=exc.errno)

    # -- processes and credentials --------------------------------------------------------

    def spawn(
        self,
        uid: int = 0,
        gid: int | None = None,
        groups: Iterable[int] = (),
        caps: Iterable[int] | None = None,
    ) -> int:
        """``kernel.spawn``: a fork of init with these credentials; its pid."""
        task = self.kernel.spawn(uid, gid, groups, caps)
        self.model.fork(1, task.pid)
        return task.pid

    def fork(self, pid: int) -> int:
        """fork(2): the child's pid."""
        child = self.task(pid).fork()
        self.model.fork(pid, child.pid)
        return child.pid

    def exit(self, pid: int, status: int = 0) -> None:
        """exit(2) (init cannot exit: RuntimeError, as Linux panics)."""
        self.task(pid).exit(status)
        self.model.exit(pid)

    def execve(self, pid: int) -> None:
        """execve(2)'s effect: close-on-exec fds closed, capabilities recomputed."""
        self.task(pid).execve()
        self.model.execve(pid)

    def setresuid(self, pid: int, ruid: int, euid: int, suid: int) -> None:
        self.task(pid).setresuid(ruid, euid, suid)

    def setresgid(self, pid: int, rgid: int, egid: int, sgid: int) -> None:
        self.task(pid).setresgid(rgid, egid, sgid)

    def unshare(self, pid: int, flags: int = CLONE_NEWNS) -> int:
        """unshare(2): the model's id of the task's (possibly new) mount namespace."""
        self.task(pid).unshare(flags)
        if flags & CLONE_NEWNS:
            return self.model.unshare(pid)
        return self.model.namespace_of(pid)

    # -- mounts ---------------------------------------------------------------------------

    def mount(self, pid: int, target: str | bytes, flags: int = 0) -> None:
        """mount("bpf", target, "bpf", flags): a new bpffs mount (MS_REMOUNT and the
        propagation flags change no holder; a bind mount is beyond the model)."""
        self.task(pid).mount("bpf", target, "bpf", flags)
        if isinstance(flags, int) and flags & _MS_NOT_NEW:
            if flags & MS_BIND and not flags & MS_REMOUNT:
                raise ModelScopeError(f"bind mount at {target!r}")
            return
        self.model.mount(pid, target)

    def umount(self, pid: int, target: str | bytes, flags: int = 0) -> None:
        """umount2(2)."""
        self.task(pid).umount(target, flags)
        self.model.umount(pid, target)

    # -- files and directories ------------------------------------------------------------

    def mkdir(self, pid: int, path: str | bytes, mode: int = 0o777) -> None:
        self.task(pid).mkdir(path, mode)

    def rmdir(self, pid: int, path: str | bytes) -> None:
        self.task(pid).rmdir(path)
        self.model.rmdir(pid, path)

    def unlink(self, pid: int, path: str | bytes) -> None:
        self.task(pid).unlink(path)
        self.model.unlink(pid, path)

    def rename(self, pid: int, old: str | bytes, new: str | bytes, flags: int = 0) -> None:
        self.task(pid).rename(old, new, flags)
        self.model.rename(pid, old, new, flags)

    def chmod(self, pid: int, path: str | bytes, mode: int) -> None:
        self.task(pid).chmod(path, mode)

    def chdir(self, pid: int, path: str | bytes) -> None:
        self.task(pid).chdir(path)
        self.model.chdir(pid, path)

    def open(self, pid: int, path: str | bytes, flags: int = 0, mode: int = 0o666) -> int:
        fd = self.task(pid).open(path, flags, mode)
        self.model.open(pid, path, flags, fd)
        return fd

    def close(self, pid: int, fd: int) -> None:
        self.task(pid).close(fd)
        self.model.close(pid, fd)

    def dup(self, pid: int, fd: int) -> int:
        new_fd = self.task(pid).dup(fd)
        self.model.dup(pid, fd, new_fd)
        return new_fd

    def dup2(self, pid: int, fd: int, new_fd: int) -> int:
        result = self.task(pid).dup2(fd, new_fd)
        if fd != new_fd:
            self.model.dup_to(pid, fd, new_fd, cloexec=False)
        return result

    def dup3(self, pid: int, fd: int, new_fd: int, flags: int = 0) -> int:
        result = self.task(pid).dup3(fd, new_fd, flags)
        self.model.dup_to(pid, fd, new_fd, cloexec=bool(flags & 0o2000000))
        return result

    def fcntl(self, pid: int, fd: int, cmd: int, arg: int = 0) -> int:
        """F_DUPFD (0), F_SETFD (2) and F_DUPFD_CLOEXEC (1030) change the fd table."""
        result = self.task(pid).fcntl(fd, cmd, arg)
        if cmd in (0, 1030):
            self.model.dupfd(pid, fd, arg & 0xFFFFFFFF, result, cloexec=cmd == 1030)
        elif cmd == 2:
            self.model.set_cloexec(pid, fd, bool(arg & 1))
        return result

    # -- bpf(2), typed ----------------------------------------------------------------------

    def map_create(
        self, pid: int, map_type: int, key_size: int, value_size: int, max_entries: int
    ) -> int:
        task = self.task(pid)
        fd = task.map_create(map_type, key_size, value_size, max_entries)
        self.model.map_create(pid, fd, _object_id(task, fd), map_type, key_size, value_size)
        return fd

    def map_update_elem(self, pid: int, fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
        self.task(pid).map_update_elem(fd, key, value, flags)
        self.model.map_update(pid, fd, key, value)

    def map_lookup_elem(self, pid: int, fd: int, key: bytes) -> bytes:
        return self.task(pid).map_lookup_elem(fd, key)

    def map_delete_elem(self, pid: int, fd: int, key: bytes) -> None:
        self.task(pid).map_delete_elem(fd, key)
        self.model.map_delete(pid, fd, key)

    def map_get_next_key(self, pid: int, fd: int, key: bytes | None = None) -> bytes:
        return self.task(pid).map_get_next_key(fd, key)

    def prog_load(
        self,
        pid: int,
        prog_type: int,
        insns: bytes,
        license: str = "GPL",
        log_level: int = 0,
        log_size: int = 0,
        kern_version: int = 0,
    ) -> int:
        task = self.task(pid)
        fd = task.prog_load(prog_type, insns, license, log_level, log_size, kern_version)
        self.model.prog_load(pid, fd, _object_id(task, fd), prog_type, insns)
        return fd

    def obj_pin(self, pid: int, fd: int, path: str | bytes, *args: Any, **kwargs: Any) -> None:
        """BPF_OBJ_PIN (later kernels' ``file_flags``/``path_fd`` pass through; a pin
        relative to a ``path_fd`` is beyond the model)."""
        self.task(pid).obj_pin(fd, path, *args, **kwargs)
        _no_path_fd(args, kwargs)
        self.model.obj_pin(pid, fd, path)

    def obj_get(self, pid: int, path: str | bytes, *args: Any, **kwargs: Any) -> int:
        """BPF_OBJ_GET (``file_flags``/``path_fd`` as for :meth:`obj_pin`)."""
        fd = self.task(pid).obj_get(path, *args, **kwargs)
        _no_path_fd(args, kwargs)
        self.model.obj_get(pid, path, fd)
        return fd

    # -- bpf(2), raw --------------------------------------------------------------------------

    def bpf(self, pid: int, cmd: int, attr: bytes, size: int | None = None) -> int:
        """bpf(2) with ``attr`` copied into the task's memory (``size`` defaults to its
        length); pointers inside it may name :data:`ARENA` buffers."""
        if not isinstance(attr, (bytes, bytearray)):
            raise TypeError(f"attr must be bytes, not {type(attr).__name__}")
        task = self.task(pid)
        address = task.mem.alloc(attr)
        try:
            return self.bpf_at(pid, cmd, address, len(attr) if size is None else size)
        finally:
            task.mem.free(address)

    def bpf_at(self, pid: int, cmd: int, attr_addr: int, size: int) -> int:
        """bpf(2) exactly as given; the model reads a successful call's attr (and the
        buffers it points at) back from the task's memory."""
        task = self.task(pid)
        result = task.bpf(cmd, attr_addr, size)
        layouts = getattr(self.kernel, "attr_layouts", ATTR_LAYOUT)
        attr_size = int(getattr(self.kernel.profile, "bpf_attr_size", SEED_ATTR_SIZE))
        raw = task.mem.read(attr_addr, min(size, attr_size)).ljust(attr_size, b"\0")
        attr = layouts[cmd].decode(raw)
        if cmd in (BPF_OBJ_PIN, BPF_OBJ_GET) and attr.get("file_flags", 0) & BPF_F_PATH_FD:
            raise ModelScopeError("OBJ_PIN/OBJ_GET relative to a path_fd")
        self._follow_bpf(pid, task, cmd, attr, result)
        return result

    def _follow_bpf(
        self, pid: int, task: Task, cmd: int, attr: dict[str, int], result: int
    ) -> None:
        model, mem = self.model, task.mem
        if cmd == BPF_MAP_CREATE:
            sizes = attr["key_size"], attr["value_size"]
            model.map_create(pid, result, _object_id(task, result), attr["map_type"], *sizes)
        elif cmd == BPF_MAP_UPDATE_ELEM:
            model.map_update(pid, attr["map_fd"], *self._key_value(task, attr))
        elif cmd == BPF_MAP_DELETE_ELEM:
            model.map_delete(pid, attr["map_fd"], self._key_value(task, attr)[0])
        elif cmd == BPF_PROG_LOAD:
            insns = mem.read(attr["insns"], 8 * attr["insn_cnt"])
            model.prog_load(pid, result, _object_id(task, result), attr["prog_type"], insns)
        elif cmd == BPF_OBJ_PIN:
            model.obj_pin(pid, attr["bpf_fd"], _user_path(task, attr["pathname"]))
        elif cmd == BPF_OBJ_GET:
            model.obj_get(pid, _user_path(task, attr["pathname"]), result)

    def _key_value(self, task: Task, attr: dict[str, int]) -> tuple[bytes, bytes]:
        """The first 4 bytes of the key and value (all a PROG_ARRAY reads)."""
        kind = self.model.kind_of(task.pid, attr["map_fd"])
        if kind != "prog_array":
            return b"", b""
        value = task.mem.read(attr["value"], 4) if attr.get("value") else b""
        return task.mem.read(attr["key"], 4), value


def _object_id(task: Task, fd: int) -> int:
    """The id of the object a just-created fd names (its name, not its bookkeeping)."""
    obj = bpf_file_object(task.fd_file(fd))
    if obj is None:
        raise ModelMismatch(f"pid {task.pid} fd {fd} should be a new bpf object")
    return obj.id


def _no_path_fd(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    path_fd = args[1] if len(args) > 1 else kwargs.get("path_fd")
    if path_fd is not None:
        raise ModelScopeError("OBJ_PIN/OBJ_GET relative to a path_fd")


def _user_path(task: Task, address: int) -> str:
    return task.mem.strncpy_from_user(address, PATH_MAX).decode("utf-8", "surrogateescape")


#: Script operations: :class:`Driver` method names.
OPS: frozenset[str] = frozenset(
    name
    for name, value in vars(Driver).items()
    if callable(value)
    and not name.startswith("_")
    and name not in ("boot", "task", "check", "run", "setup_world")
)


def run_script(
    script: Sequence[tuple[str, dict[str, Any]]],
    *,
    profile: Profile = SEED,
    model: RefModel | None = None,
    check: bool = True,
    after_step: Callable[[Driver], None] | None = None,
) -> list[Outcome]:
    """Run ``script`` in a freshly booted standard world (with ``model``, default
    ``RefModel.for_profile(profile)``).  With ``check``, after each step the kernel's
    invariants and the reference model must hold (InvariantError / ModelMismatch
    otherwise); ``after_step(driver)`` may check more."""
    driver = Driver.boot(profile, model)
    outcomes = []
    for op, args in script:
        outcomes.append(driver.run(op, args))
        if check:
            driver.check()
        if after_step is not None:
            after_step(driver)
    return outcomes


#: Task methods that change nothing the reference model tracks: a DrivenTask passes
#: them straight to the task.
_PASS_THROUGH = frozenset(
    {
        "stat", "lstat", "fstat", "statfs", "getdents", "listdir", "readlink", "getcwd",
        "fstatat", "statx", "fstatfs", "getdents64", "readlinkat", "access", "faccessat",
        "faccessat2",
        "getrlimit", "setrlimit", "umask", "capset", "setgroups", "prctl",
        "fd_object", "fd_map", "fd_prog", "fd_file",
        "mem", "pid", "cred", "kernel", "alive", "rlimit",
    }
)  # fmt: skip


class DrivenTask:
    """A :class:`~pinfs.Task`-shaped handle on task ``pid`` whose calls go through a
    :class:`Driver`, so the reference model follows them.

    Code written against ``pinfs.Task`` (``map_create``, ``obj_pin``, ``obj_get``,
    ``close``, ``mkdir``, ``bpf``, ...) runs unchanged on it inside a
    :class:`~pinfs.testing.PinningMachine` rule or a :class:`Driver` script.  Calls
    that change nothing the model tracks (``stat``, ``listdir``, ``fd_object``, the
    task's ``mem``, ...) go to the task itself; calls the model cannot follow
    (``symlink``, ``link``, a non-bpf ``mount``, ...) raise
    :class:`~pinfs.testing.model.ModelScopeError` naming the call.
    """

    def __init__(self, driver: Driver, pid: int) -> None:
        self._driver = driver
        self._pid = pid

    def __repr__(self) -> str:
        return f"<DrivenTask pid={self._pid}>"

    def __getattr__(self, name: str) -> Any:
        if name in _PASS_THROUGH:
            return getattr(self._driver.task(self._pid), name)
        if hasattr(Task, name):
            raise ModelScopeError(
                f"Task.{name} is not followed by the reference model; call it on "
                f"driver.task({self._pid}) if the model need not know"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- processes ---------------------------------------------------------------------------

    def fork(self) -> DrivenTask:
        return DrivenTask(self._driver, self._driver.fork(self._pid))

    def exit(self, status: int = 0) -> None:
        self._driver.exit(self._pid, status)

    def execve(self) -> None:
        self._driver.execve(self._pid)

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        self._driver.setresuid(self._pid, ruid, euid, suid)

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        self._driver.setresgid(self._pid, rgid, egid, sgid)

    def unshare(self, flags: int) -> None:
        self._driver.unshare(self._pid, flags)

    # -- mounts and files --------------------------------------------------------------------

    def mount(
        self,
        source: str | bytes,
        target: str | bytes,
        fstype: str | bytes | None,
        flags: int = 0,
        data: str | bytes | None = None,
    ) -> None:
        if fstype not in ("bpf", b"bpf") or data is not None:
            raise ModelScopeError(f"mount of {fstype!r} (the model follows bpffs mounts)")
        self._driver.mount(self._pid, target, flags)

    def umount(self, target: str | bytes, flags: int = 0) -> None:
        self._driver.umount(self._pid, target, flags)

    def mkdir(self, path: str | bytes, mode: int = 0o777) -> None:
        self._driver.mkdir(self._pid, path, mode)

    def rmdir(self, path: str | bytes) -> None:
        self._driver.rmdir(self._pid, path)

    def unlink(self, path: str | bytes) -> None:
        self._driver.unlink(self._pid, path)

    def rename(self, old: str | bytes, new: str | bytes, flags: int = 0) -> None:
        self._driver.rename(self._pid, old, new, flags)

    def chmod(self, path: str | bytes, mode: int) -> None:
        self._driver.chmod(self._pid, path, mode)

    def chdir(self, path: str | bytes) -> None:
        self._driver.chdir(self._pid, path)

    def open(self, path: str | bytes, flags: int = 0, mode: int = 0o666) -> int:
        return self._driver.open(self._pid, path, flags, mode)

    def close(self, fd: int) -> None:
        self._driver.close(self._pid, fd)

    def dup(self, fd: int) -> int:
        return self._driver.dup(self._pid, fd)

    # -- bpf(2) -------------------------------------------------------------------------------

    def map_create(self, map_type: int, key_size: int, value_size: int, max_entries: int) -> int:
        return self._driver.map_create(self._pid, map_type, key_size, value_size, max_entries)

    def map_update_elem(self, fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
        self._driver.map_update_elem(self._pid, fd, key, value, flags)

    def map_lookup_elem(self, fd: int, key: bytes) -> bytes:
        return self._driver.map_lookup_elem(self._pid, fd, key)

    def map_delete_elem(self, fd: int, key: bytes) -> None:
        self._driver.map_delete_elem(self._pid, fd, key)

    def map_get_next_key(self, fd: int, key: bytes | None = None) -> bytes:
        return self._driver.map_get_next_key(self._pid, fd, key)

    def prog_load(
        self,
        prog_type: int,
        insns: bytes,
        license: str = "GPL",
        log_level: int = 0,
        log_size: int = 0,
        kern_version: int = 0,
    ) -> int:
        return self._driver.prog_load(
            self._pid, prog_type, insns, license, log_level, log_size, kern_version
        )

    def obj_pin(self, fd: int, path: str | bytes, *args: Any, **kwargs: Any) -> None:
        self._driver.obj_pin(self._pid, fd, path, *args, **kwargs)

    def obj_get(self, path: str | bytes, *args: Any, **kwargs: Any) -> int:
        return self._driver.obj_get(self._pid, path, *args, **kwargs)

    def bpf(self, cmd: int, attr_addr: int, size: int) -> int:
        return self._driver.bpf_at(self._pid, cmd, attr_addr, size)
