"""The pinning state machine: random syscall sequences against a :class:`pinfs.Kernel`,
checked after every step by ``kernel.check_invariants()`` and by the reference model.

Run it as a test (``TestPinning = PinningMachine.TestCase``), or subclass it: pick a
kernel profile, add rules for your own loader, add invariants for what it promises.
Make syscalls through ``self.run(op, **args)`` (a :class:`~pinfs.testing.runner.Driver`
operation) so the reference model follows them::

    from hypothesis import strategies as st
    from hypothesis.stateful import rule

    from pinfs.base.profiles import LINUX_4_4
    from pinfs.testing import PinningMachine

    class LoaderMachine(PinningMachine):
        profile = LINUX_4_4

        def setup_world(self):
            super().setup_world()
            self.pinned = {}                      # path -> (uid, map id)

        @rule(uid=st.sampled_from([0, 1000]), name=st.sampled_from(["counters", "config"]))
        def loader_runs(self, uid, name):
            pid, path = self.run("spawn", uid=uid).result, f"/sys/fs/bpf/{name}"
            fd = self.run("map_create", pid=pid, map_type=1, key_size=4, value_size=8,
                          max_entries=4)
            if fd.errno is None and self.run("obj_pin", pid=pid, fd=fd.result,
                                             path=path).errno is None:
                self.pinned[path] = (uid, self.kernel.tasks[pid].fd_object(fd.result).id)
            self.run("exit", pid=pid)

        @rule(name=st.sampled_from(["counters", "config"]))
        def loader_restarts(self, name):       # its pins survive: a new loader gets them
            ...

    TestLoader = LoaderMachine.TestCase

(docs/testing.md has the whole example.)  Hooks: :attr:`PinningMachine.profile`,
:meth:`~PinningMachine.make_kernel`, :meth:`~PinningMachine.make_model`,
:meth:`~PinningMachine.setup_world`, :meth:`~PinningMachine.check_kernel`,
:meth:`~PinningMachine.check_model`.  Bundles: ``tasks`` (pids), ``mount_namespaces``
(the model's namespace ids), ``map_fds`` / ``prog_fds`` / ``fds`` (:class:`FdRef`),
``paths`` (pinned paths).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, NamedTuple

try:
    from hypothesis import strategies as st
    from hypothesis.stateful import (
        Bundle,
        MultipleResults,
        RuleBasedStateMachine,
        consumes,
        initialize,
        invariant,
        multiple,
        rule,
    )
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    from pinfs.testing._deps import MISSING

    raise ImportError(MISSING) from exc

from pinfs.base.profiles import SEED, Profile
from pinfs.base.uapi import O_PATH
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from pinfs.machine.kernel import Kernel
from pinfs.machine.task import CLONE_NEWNS, CLONE_NEWUSER
from pinfs.mountns import MNT_DETACH
from pinfs.testing import _selection
from pinfs.testing import strategies as pst
from pinfs.testing.model import RefModel
from pinfs.testing.runner import CHDIR_PATHS, DIRS, MOUNTPOINTS, PIN_PATHS, Driver, Outcome
from pinfs.vfs import MS_RDONLY

__all__ = ["FdRef", "PinningMachine", "counterexample"]

UIDS = (0, 1000, 1001)
OPEN_PATHS = (*CHDIR_PATHS, *PIN_PATHS[:4], *PIN_PATHS[:4], "/tmp")
OPEN_FLAGS = (
    os.O_RDONLY,
    os.O_RDONLY | os.O_DIRECTORY,
    os.O_RDONLY | os.O_CLOEXEC,
    O_PATH,
    O_PATH | os.O_CLOEXEC,
    os.O_WRONLY,
)
_ELEM_OPS = ("update", "lookup", "delete", "next_key")


def counterexample(exc: BaseException) -> str:
    """The failing program Hypothesis attached to ``exc`` (``state = M()`` ... up to
    ``state.teardown()``): paste it after ``from pinfs.testing import *`` (and the
    import of your machine class) to replay the failure."""
    lines: list[str] = []
    for note in getattr(exc, "__notes__", ()):
        for line in note.splitlines():
            if line.startswith("state = "):
                lines = []
            lines.append(line)
            if line == "state.teardown()":
                return "\n".join(lines)
    return "\n".join(lines)


class FdRef(NamedTuple):
    """An fd of one task, as bundles carry it."""

    pid: int
    fd: int


def _fds(pid: int, outcome: Outcome) -> MultipleResults[FdRef]:
    if outcome.errno is not None:
        return multiple()
    assert isinstance(outcome.result, int)
    return multiple(FdRef(pid, outcome.result))


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "little")


class PinningMachine(RuleBasedStateMachine):
    """Tasks, fds, pins, mounts and namespaces under random syscalls.

    Each rule makes one syscall through ``self.driver``; the kernel may refuse it
    (an ``OSError`` with its errno: expected, ignored), and any other exception fails
    the run.  After every step :meth:`invariants_hold` runs :meth:`check_kernel`
    (``kernel.check_invariants()``) and :meth:`check_model` (the reference model
    against ``kernel.objects()`` and the fd tables).  At teardown every task but init
    exits, init closes its fds and unmounts everything: then no object may be left.
    """

    #: The kernel profile (:class:`pinfs.Profile`) :meth:`make_kernel` boots; None: the
    #: pytest session's ``--pinfs-profile`` (the seed outside pytest).
    profile: ClassVar[Profile | None] = None
    #: fork/spawn do nothing once this many tasks are alive.
    max_tasks: ClassVar[int] = 8

    tasks = Bundle("tasks")
    mount_namespaces = Bundle("mount_namespaces")
    map_fds = Bundle("map_fds")
    prog_fds = Bundle("prog_fds")
    fds = Bundle("fds")
    paths = Bundle("paths")

    def __init__(self) -> None:
        super().__init__()
        self._broken = False
        self.kernel = self.make_kernel()
        self.model = self.make_model()
        self.driver = Driver(self.kernel, self.model)
        self.setup_world()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- hooks ---------------------------------------------------------------------------

    def make_kernel(self) -> Kernel:
        """A freshly booted kernel (default: ``Kernel(self.profile)``).  Change it
        only through :meth:`setup_world`, so the model follows."""
        return Kernel(self.profile or _selection.selected_profile or SEED)

    def make_model(self) -> RefModel:
        """The reference model for the kernel's profile (:meth:`RefModel.for_profile`),
        with init's console fds if the kernel booted with them."""
        console = self.kernel.init_task.files.open_fds() == [0, 1, 2]
        return RefModel.for_profile(self.kernel.profile, console=console)

    def setup_world(self) -> None:
        """Initial state, made through ``self.driver``: the standard world (bpffs at
        /sys/fs/bpf, /tmp/b, the raw-call arena in init's memory)."""
        self.driver.setup_world()

    def check_kernel(self) -> None:
        """The kernel's own invariants."""
        self.kernel.check_invariants()

    def check_model(self) -> None:
        """The reference model against the kernel."""
        self.model.check(self.kernel)

    def run(self, op: str, **args: Any) -> Outcome:
        """``self.driver.run(op, args)``, marking the machine broken on anything that is
        not the kernel's errno (so teardown does not bury the first failure)."""
        try:
            return self.driver.run(op, args)
        except BaseException:
            self._broken = True
            raise

    def _crowded(self) -> bool:
        return len(self.kernel.tasks) >= self.max_tasks

    # -- invariants and teardown ---------------------------------------------------------

    @invariant()
    def invariants_hold(self) -> None:
        """``kernel.check_invariants()`` and the reference model, after every step."""
        try:
            self.check_kernel()
            self.check_model()
        except BaseException:
            self._broken = True
            raise

    def teardown(self) -> None:
        """Every task but init exits, init lets go of everything: nothing may remain."""
        if self._broken:
            return
        driver = self.driver
        for pid in sorted(self.kernel.tasks):
            if pid != 1:
                driver.exit(pid)
        for fd in self.kernel.init_task.files.open_fds():
            driver.close(1, fd)
        driver.chdir(1, "/")
        progress = True
        while progress:
            progress = False
            for where in MOUNTPOINTS:
                out = driver.run("umount", {"pid": 1, "target": where, "flags": MNT_DETACH})
                progress |= out.errno is None
        self.check_kernel()
        self.check_model()
        if not self.model.mounts:  # (init may have given up the right to unmount)
            left = self.kernel.objects()
            assert not left, f"objects outlive every holder: {left}"

    # -- processes -----------------------------------------------------------------------

    @initialize(target=tasks)
    def init_task(self) -> int:
        """pid 1."""
        return 1

    @initialize(target=mount_namespaces)
    def init_namespace(self) -> int:
        """The initial mount namespace."""
        return 1

    @rule(target=tasks, uid=st.sampled_from(UIDS))
    def spawn(self, uid: int) -> MultipleResults[int]:
        if self._crowded():
            return multiple()
        out = self.run("spawn", uid=uid)
        return multiple() if out.errno is not None else multiple(out.result)

    @rule(target=tasks, task=tasks)
    def fork(self, task: int) -> MultipleResults[int]:
        if self._crowded():
            return multiple()
        out = self.run("fork", pid=task)
        return multiple() if out.errno is not None else multiple(out.result)

    @rule(target=tasks, ns=mount_namespaces)
    def fork_in(self, ns: int) -> MultipleResults[int]:
        """Fork the lowest pid living in mount namespace ``ns`` (if any)."""
        members = [pid for pid, t in self.model.tasks.items() if t.ns == ns]
        if not members or self._crowded():
            return multiple()
        return self.fork(min(members))

    @rule(target=tasks, task=consumes(tasks))
    def exit(self, task: int) -> MultipleResults[int]:
        """exit(2); init cannot exit and stays in the bundle."""
        if task == 1:
            return multiple(task)
        self.run("exit", pid=task)
        return multiple()

    @rule(task=tasks)
    def execve(self, task: int) -> None:
        self.run("execve", pid=task)

    @rule(task=tasks, uid=st.sampled_from(UIDS))
    def setresuid(self, task: int, uid: int) -> None:
        self.run("setresuid", pid=task, ruid=uid, euid=uid, suid=uid)

    @rule(target=mount_namespaces, task=tasks, userns=st.booleans())
    def unshare(self, task: int, userns: bool) -> MultipleResults[int]:
        flags = CLONE_NEWNS | (CLONE_NEWUSER if userns else 0)
        out = self.run("unshare", pid=task, flags=flags)
        return multiple() if out.errno is not None else multiple(out.result)

    # -- bpf(2) --------------------------------------------------------------------------

    @rule(target=map_fds, task=tasks, spec=pst.map_specs())
    def map_create(self, task: int, spec: pst.MapSpec) -> MultipleResults[FdRef]:
        return _fds(task, self.run("map_create", pid=task, **spec._asdict()))

    @rule(
        fd=map_fds,
        op=st.sampled_from(_ELEM_OPS),
        key=st.integers(0, 3),
        value=st.binary(min_size=8, max_size=8),
    )
    def map_elem(self, fd: FdRef, op: str, key: int, value: bytes) -> None:
        """Element commands on hash and array maps (sizes from the model's record)."""
        task = self.model.tasks.get(fd.pid)
        file_id = task.fds.get(fd.fd) if task is not None else None
        obj = self.model.files[file_id].obj if file_id is not None else None
        sizes = self.model.map_sizes(obj) if obj is not None else None
        key_size, value_size = sizes or (4, 8)
        k = key.to_bytes(key_size, "little") if key_size <= 8 else _u32(key).ljust(key_size, b"\0")
        if op == "update":
            self.run(
                "map_update_elem",
                pid=fd.pid,
                fd=fd.fd,
                key=k,
                value=value[:value_size].ljust(value_size, b"\0"),
            )
        elif op == "lookup":
            self.run("map_lookup_elem", pid=fd.pid, fd=fd.fd, key=k)
        elif op == "delete":
            self.run("map_delete_elem", pid=fd.pid, fd=fd.fd, key=k)
        else:
            self.run("map_get_next_key", pid=fd.pid, fd=fd.fd, key=k)

    @rule(target=prog_fds, task=tasks, spec=pst.prog_specs())
    def prog_load(self, task: int, spec: pst.ProgSpec) -> MultipleResults[FdRef]:
        return _fds(
            task,
            self.run(
                "prog_load",
                pid=task,
                prog_type=spec.prog_type,
                insns=spec.insns,
                license=spec.license,
            ),
        )

    @rule(target=prog_fds, map=map_fds, spec=pst.prog_specs())
    def prog_load_using(self, map: FdRef, spec: pst.ProgSpec) -> MultipleResults[FdRef]:
        """A program that uses ``map`` (BPF_LD_MAP_FD), loaded by the map's task."""
        insns = BPF_LD_MAP_FD(1, map.fd) + spec.insns
        return _fds(
            map.pid,
            self.run(
                "prog_load",
                pid=map.pid,
                prog_type=spec.prog_type,
                insns=insns,
                license=spec.license,
            ),
        )

    @rule(map=map_fds, prog=prog_fds, slot=st.integers(0, 3))
    def prog_array_update(self, map: FdRef, prog: FdRef, slot: int) -> None:
        """Slot ``slot`` of the map := the program at ``prog.fd`` of the map's task."""
        self.run("map_update_elem", pid=map.pid, fd=map.fd, key=_u32(slot), value=_u32(prog.fd))

    @rule(
        target=map_fds,
        task=tasks,
        prog_type=st.sampled_from((1, 3)),
        path=st.sampled_from(PIN_PATHS),
    )
    def tail_call_array(self, task: int, prog_type: int, path: str) -> MultipleResults[FdRef]:
        """What a loader does: a PROG_ARRAY, a program that tail-calls through it (a
        reference cycle), the program in slot 0, the array pinned at ``path``.  Stops
        at the first refusal; the array's fd joins ``map_fds`` (the program's stays
        open, close-on-exec)."""
        out = self.run("map_create", pid=task, map_type=3, key_size=4, value_size=4, max_entries=2)
        if out.errno is not None:
            return multiple()
        array = FdRef(task, out.result)
        prog = self.run(
            "prog_load",
            pid=task,
            prog_type=prog_type,
            insns=BPF_LD_MAP_FD(1, array.fd) + RETURN_ZERO,
        )
        if prog.errno is None:
            update = self.run(
                "map_update_elem", pid=task, fd=array.fd, key=_u32(0), value=_u32(prog.result)
            )
            if update.errno is None:
                self.run("obj_pin", pid=task, fd=array.fd, path=path)
        return multiple(array)

    @rule(map=map_fds, slot=st.integers(0, 3))
    def prog_array_delete(self, map: FdRef, slot: int) -> None:
        self.run("map_delete_elem", pid=map.pid, fd=map.fd, key=_u32(slot))

    @rule(target=paths, fd=map_fds, path=st.sampled_from(PIN_PATHS))
    def pin_map(self, fd: FdRef, path: str) -> MultipleResults[str]:
        out = self.run("obj_pin", pid=fd.pid, fd=fd.fd, path=path)
        return multiple() if out.errno is not None else multiple(path)

    @rule(target=paths, fd=prog_fds, path=st.sampled_from(PIN_PATHS))
    def pin_prog(self, fd: FdRef, path: str) -> MultipleResults[str]:
        out = self.run("obj_pin", pid=fd.pid, fd=fd.fd, path=path)
        return multiple() if out.errno is not None else multiple(path)

    @rule(targets=(map_fds, prog_fds), task=tasks, path=paths)
    def obj_get(self, task: int, path: str) -> MultipleResults[FdRef]:
        """OBJ_GET; the new fd joins both fd bundles (rules for the other kind get
        EINVAL, which is worth testing too)."""
        return _fds(task, self.run("obj_get", pid=task, path=path))

    @rule(task=tasks, call=pst.arena_bpf_calls(malformed=True))
    def bpf(self, task: int, call: pst.BpfCall) -> None:
        """Raw bpf(2), attr pointers into the arena (see ``pinfs.testing.runner``)."""
        self.run("bpf", pid=task, cmd=call.cmd, attr=call.attr, size=call.size)

    # -- fds -----------------------------------------------------------------------------

    @rule(target=map_fds, fd=map_fds)
    def dup_map(self, fd: FdRef) -> MultipleResults[FdRef]:
        return _fds(fd.pid, self.run("dup", pid=fd.pid, fd=fd.fd))

    @rule(target=prog_fds, fd=prog_fds)
    def dup_prog(self, fd: FdRef) -> MultipleResults[FdRef]:
        return _fds(fd.pid, self.run("dup", pid=fd.pid, fd=fd.fd))

    @rule(fd=consumes(map_fds))
    def close_map(self, fd: FdRef) -> None:
        self.run("close", pid=fd.pid, fd=fd.fd)

    @rule(fd=consumes(prog_fds))
    def close_prog(self, fd: FdRef) -> None:
        self.run("close", pid=fd.pid, fd=fd.fd)

    @rule(fd=consumes(fds))
    def close_file(self, fd: FdRef) -> None:
        self.run("close", pid=fd.pid, fd=fd.fd)

    # -- files and directories -----------------------------------------------------------

    @rule(
        target=fds, task=tasks, path=st.sampled_from(OPEN_PATHS), flags=st.sampled_from(OPEN_FLAGS)
    )
    def open(self, task: int, path: str, flags: int) -> MultipleResults[FdRef]:
        return _fds(task, self.run("open", pid=task, path=path, flags=flags))

    @rule(task=tasks, path=st.sampled_from(CHDIR_PATHS))
    def chdir(self, task: int, path: str) -> None:
        self.run("chdir", pid=task, path=path)

    @rule(
        task=tasks, path=st.sampled_from(DIRS), mode=st.sampled_from((0o755, 0o777, 0o700, 0o1777))
    )
    def mkdir(self, task: int, path: str, mode: int) -> None:
        self.run("mkdir", pid=task, path=path, mode=mode)

    @rule(task=tasks, path=st.sampled_from(DIRS))
    def rmdir(self, task: int, path: str) -> None:
        self.run("rmdir", pid=task, path=path)

    @rule(target=paths, task=tasks, path=consumes(paths))
    def unlink(self, task: int, path: str) -> MultipleResults[str]:
        """unlink(2) of a pinned path; it stays in the bundle if the unlink failed."""
        out = self.run("unlink", pid=task, path=path)
        return multiple(path) if out.errno is not None else multiple()

    @rule(task=tasks, old=paths, new=st.sampled_from(PIN_PATHS))
    def rename(self, task: int, old: str, new: str) -> None:
        self.run("rename", pid=task, old=old, new=new)

    @rule(task=tasks, path=paths, mode=pst.modes())
    def chmod(self, task: int, path: str, mode: int) -> None:
        self.run("chmod", pid=task, path=path, mode=mode)

    # -- mounts --------------------------------------------------------------------------

    @rule(task=tasks, where=st.sampled_from(MOUNTPOINTS), ro=st.booleans())
    def mount(self, task: int, where: str, ro: bool) -> None:
        self.run("mount", pid=task, target=where, flags=MS_RDONLY if ro else 0)

    @rule(task=tasks, where=st.sampled_from(MOUNTPOINTS), detach=st.booleans())
    def umount(self, task: int, where: str, detach: bool) -> None:
        self.run("umount", pid=task, target=where, flags=MNT_DETACH if detach else 0)
