"""A Hypothesis state machine over bpf(2), bpffs and mount namespaces.

Three tasks with different credentials (init as root, uid 1000, uid 1001) and their
forks interleave map and program creation (PROG_ARRAY included, programs that use
maps through BPF_LD_MAP_FD, tail-call webs where a program sits in the array it
uses), prog array updates and deletes, pins, OBJ_GETs, close, dup, unlink,
mkdir/rmdir/chdir, directory opens, fork, exit, exec, mount (also read-only), umount
(also lazy) and unshare (CLONE_NEWNS, and CLONE_NEWUSER for the unprivileged).  The
RLIMIT_MEMLOCK is small so that the EPERM paths are common.  Syscalls may fail (only with an errno); after every step
``kernel.check_invariants()`` must hold (refcount == holders, no freed object
reachable, f_count == fds, memlock == live objects + known leaks).  Teardown: every
task but init exits, init closes its fds and unmounts every bpffs it still sees, and
then nothing may be left: ``k.objects() == []``.
"""

from __future__ import annotations

import contextlib

import attrs
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import pinfs
from pinfs.base.profiles import SEED, Profile
from pinfs.ebpf.attr import BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PROG_ARRAY
from pinfs.ebpf.objects import bpf_file_object
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from pinfs.machine.task import CLONE_NEWNS, CLONE_NEWUSER, RLIMIT_MEMLOCK
from pinfs.mountns import MNT_DETACH
from support import budget

BPFFS = "/sys/fs/bpf"
MOUNTPOINTS = [BPFFS, "/tmp/b2"]
DIRS = [BPFFS + "/d", "/tmp/b2/d"]
PATHS = [
    BPFFS + "/a",
    BPFFS + "/a",
    BPFFS + "/b",
    BPFFS + "/b",
    BPFFS + "/d/c",
    "/tmp/b2/a",
    "/tmp/b2/d/e",
    "/tmp/x",
    "c",  # relative to the cwd
]
MAP_TYPES = [BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PROG_ARRAY]
PROG_TYPES = [1, 3]  # SOCKET_FILTER, SCHED_CLS
MAX_TASKS = 6
MEMLOCK = 4 * 4096

index = st.integers(0, 50)


def _kind(task: pinfs.Task, fd: int, want: str) -> bool:
    obj = bpf_file_object(task.fd_file(fd))
    if obj is None:
        return False
    if want == "bpf":
        return True
    if want == "prog_array":
        return obj.kind == "map" and obj.map_type == BPF_MAP_TYPE_PROG_ARRAY
    return bool(obj.kind == want)


class BpfMachine(RuleBasedStateMachine):
    profile: Profile = SEED

    def __init__(self) -> None:
        super().__init__()
        k = self.k = pinfs.Kernel(self.profile)
        init = k.init_task
        init.mkdir("/tmp/b2")
        init.mount("bpf", BPFFS, "bpf")
        # a small RLIMIT_MEMLOCK (4 pages, per uid) makes the EPERM paths common
        init.setrlimit(RLIMIT_MEMLOCK, MEMLOCK, MEMLOCK)
        self.tasks = [init, k.spawn(uid=1000, gid=1000), k.spawn(uid=1001, gid=1001)]

    # -- helpers ------------------------------------------------------------------------

    def live(self) -> list[pinfs.Task]:
        return [t for t in self.tasks if t.alive]

    def task(self, i: int) -> pinfs.Task:
        live = self.live()
        return live[i % len(live)]

    def holder(self, i: int, j: int, *wants: str) -> pinfs.Task:
        """Task ``i``, or (three times in four) the first live task from ``i`` on that
        holds an fd of each kind in ``wants``, so that fd-using rules mostly reach the
        interesting paths."""
        live = self.live()
        if j % 4 != 3:
            for n in range(len(live)):
                t = live[(i + n) % len(live)]
                fds = t.files.open_fds()
                if all(any(_kind(t, fd, want) for fd in fds) for want in wants):
                    return t
        return live[i % len(live)]

    def fd(self, task: pinfs.Task, j: int, want: str = "any") -> int:
        """An open fd of ``task`` (or a closed number if it has none).  With ``want``
        ("bpf", "map", "prog", "prog_array"), three choices in four pick a matching
        bpf fd so that the interesting paths are reached; the fourth is any fd."""
        fds = task.files.open_fds()
        if want != "any" and j % 4 != 3:
            matching = [fd for fd in fds if _kind(task, fd, want)]
            if matching:
                return matching[j % len(matching)]
        return fds[j % len(fds)] if fds else 1000 + j

    # -- bpf(2) -------------------------------------------------------------------------

    @rule(i=index, kind=st.sampled_from(MAP_TYPES), entries=st.integers(1, 3))
    def create_map(self, i: int, kind: int, entries: int) -> None:
        with contextlib.suppress(OSError):
            self.task(i).map_create(kind, 4, 4, entries)

    @rule(i=index, kind=st.sampled_from(PROG_TYPES), uses=st.lists(index, max_size=3))
    def load_prog(self, i: int, kind: int, uses: list[int]) -> None:
        t = self.holder(i, uses[0], "map") if uses else self.task(i)
        code = b"".join(BPF_LD_MAP_FD(1, self.fd(t, j, "map")) for j in uses) + RETURN_ZERO
        with contextlib.suppress(OSError):
            t.prog_load(kind, code)

    @rule(i=index, j=index, jj=index, slot=st.integers(0, 3))
    def prog_array_update(self, i: int, j: int, jj: int, slot: int) -> None:
        t = self.holder(i, j, "prog_array", "prog")
        with contextlib.suppress(OSError):
            t.map_update_elem(
                self.fd(t, j, "prog_array"),
                slot.to_bytes(4, "little"),
                self.fd(t, jj, "prog").to_bytes(4, "little"),
            )

    @rule(i=index, kind=st.sampled_from(PROG_TYPES), path=st.sampled_from(PATHS))
    def tail_call_web(self, i: int, kind: int, path: str) -> None:
        """A prog array, a program that uses it (claiming its owner type), the program
        in slot 0 of the array (a reference cycle), and a pin of the array."""
        t = self.task(i)
        with contextlib.suppress(OSError):
            pa = t.map_create(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 2)
            prog = t.prog_load(kind, BPF_LD_MAP_FD(1, pa) + RETURN_ZERO)
            t.map_update_elem(pa, (0).to_bytes(4, "little"), prog.to_bytes(4, "little"))
            t.obj_pin(pa, path)

    @rule(i=index, j=index, slot=st.integers(0, 3))
    def map_delete(self, i: int, j: int, slot: int) -> None:
        t = self.holder(i, j, "prog_array")
        with contextlib.suppress(OSError):
            t.map_delete_elem(self.fd(t, j, "prog_array"), slot.to_bytes(4, "little"))

    @rule(i=index, j=index, path=st.sampled_from(PATHS))
    def pin(self, i: int, j: int, path: str) -> None:
        t = self.holder(i, j, "bpf")
        with contextlib.suppress(OSError):
            t.obj_pin(self.fd(t, j, "bpf"), path)

    def existing(self, t: pinfs.Task, j: int, path: str) -> str:
        """``path``, or (three times in four) the first of PATHS that ``t`` can see."""
        if j % 4 != 3:
            for candidate in PATHS[j % len(PATHS) :] + PATHS[: j % len(PATHS)]:
                try:
                    t.lstat(candidate)
                except OSError:
                    continue
                return candidate
        return path

    @rule(i=index, j=index, path=st.sampled_from(PATHS))
    def get(self, i: int, j: int, path: str) -> None:
        t = self.task(i)
        with contextlib.suppress(OSError):
            t.obj_get(self.existing(t, j, path))

    # -- files and the tree -------------------------------------------------------------

    @rule(i=index, j=index)
    def close(self, i: int, j: int) -> None:
        t = self.holder(i, j, "bpf")
        with contextlib.suppress(OSError):
            t.close(self.fd(t, j, "bpf"))

    @rule(i=index, j=index)
    def dup(self, i: int, j: int) -> None:
        t = self.holder(i, j, "bpf")
        with contextlib.suppress(OSError):
            t.dup(self.fd(t, j, "bpf"))

    @rule(i=index, j=index, path=st.sampled_from(PATHS))
    def unlink(self, i: int, j: int, path: str) -> None:
        t = self.task(i)
        with contextlib.suppress(OSError):
            t.unlink(self.existing(t, j, path))

    @rule(i=index, path=st.sampled_from(DIRS), remove=st.booleans())
    def mkdir_rmdir(self, i: int, path: str, remove: bool) -> None:
        t = self.task(i)
        try:
            if remove:
                t.rmdir(path)
            else:
                t.mkdir(path, 0o777)
        except OSError:
            pass

    @rule(i=index, path=st.sampled_from(["/", *MOUNTPOINTS, *DIRS]))
    def chdir(self, i: int, path: str) -> None:
        with contextlib.suppress(OSError):
            self.task(i).chdir(path)

    @rule(i=index, path=st.sampled_from(MOUNTPOINTS + DIRS))
    def opendir(self, i: int, path: str) -> None:
        with contextlib.suppress(OSError):
            self.task(i).open(path, 0)

    # -- processes ----------------------------------------------------------------------

    @rule(i=index, op=st.sampled_from(["fork", "execve", "fork", "exit"]))
    def process(self, i: int, op: str) -> None:
        t = self.task(i)
        if op == "fork" and len(self.live()) < MAX_TASKS:
            self.tasks.append(t.fork())
        elif op == "execve":
            t.execve()
        elif op == "exit" and t.pid != 1:
            t.exit()

    # -- mounts -------------------------------------------------------------------------

    @rule(i=index, where=st.sampled_from(MOUNTPOINTS + DIRS), ro=st.booleans())
    def mount(self, i: int, where: str, ro: bool) -> None:
        with contextlib.suppress(OSError):
            self.task(i).mount("bpf", where, "bpf", 1 if ro else 0)

    @rule(i=index, where=st.sampled_from(MOUNTPOINTS + DIRS), detach=st.booleans())
    def umount(self, i: int, where: str, detach: bool) -> None:
        with contextlib.suppress(OSError):
            self.task(i).umount(where, MNT_DETACH if detach else 0)

    @rule(i=index, userns=st.booleans())
    def unshare(self, i: int, userns: bool) -> None:
        t = self.task(i)
        flags = CLONE_NEWNS | (CLONE_NEWUSER if userns and t.pid != 1 else 0)
        with contextlib.suppress(OSError):
            t.unshare(flags)

    # -- checks -------------------------------------------------------------------------

    @invariant()
    def invariants_hold(self) -> None:
        self.k.check_invariants()

    def teardown(self) -> None:
        k = self.k
        init = k.init_task
        for t in list(k.tasks.values()):
            if t is not init:
                t.exit()
        for fd in init.files.open_fds():
            init.close(fd)
        init.chdir("/")
        progress = True
        while progress:  # every mount the rules can make, deepest first, stacks included
            progress = False
            for where in DIRS + MOUNTPOINTS:
                try:
                    init.umount(where, MNT_DETACH)
                except OSError:
                    continue
                progress = True
        k.check_invariants()
        assert k.objects() == [], k.objects()
        assert all(user.locked_vm == k.memlock_leaked.get(uid, 0) for uid, user in k.users.items())


class BpfMachineUsercnt(BpfMachine):
    profile = attrs.evolve(SEED, prog_array_flush_on_last_uref=True)


#: About 1.5 s per machine when nothing fails (shrinking only runs after a failure).
STATEFUL = settings(
    max_examples=budget(200),
    stateful_step_count=30,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

TestBpfStateMachine = BpfMachine.TestCase
TestBpfStateMachine.settings = STATEFUL
TestBpfStateMachineUsercnt = BpfMachineUsercnt.TestCase
TestBpfStateMachineUsercnt.settings = STATEFUL
