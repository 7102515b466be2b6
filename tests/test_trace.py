"""``kernel.trace``: strace-style printing, and export as a scenario that replays."""

from __future__ import annotations

import errno
import os
import struct

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pinfs
from pinfs import scenario, tour
from pinfs.base import profiles
from pinfs.base.cred import CAP_DAC_OVERRIDE
from pinfs.machine.kernel import Kernel
from pinfs.machine.task import RLIMIT_MEMLOCK, RLIMIT_NOFILE, Task
from pinfs.machine.trace import Trace
from support import budget


def replay(trace: Trace) -> scenario.Scenario:
    """Export, parse, run on a fresh kernel, and check every step gave the same."""
    text = scenario.from_trace(trace)
    parsed = scenario.loads(text)
    assert scenario.dumps(parsed) == text
    run = scenario.run_scenario(parsed, scenario.PinfsBackend())
    expected = [scenario.format_result(s.expect) for s in parsed.steps if s.expect]
    assert [r.text for r in run] == expected, text
    assert all(r.matches for r in run)
    assert not run.warnings
    return parsed


def test_strace_lines_for_a_small_script() -> None:
    k = Kernel()
    root = k.init_task
    reader = k.spawn(uid=1000)
    trace = k.start_trace()
    root.mount("bpf", "/sys/fs/bpf", "bpf")
    fd = root.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    root.obj_pin(fd, "/sys/fs/bpf/m")
    with pytest.raises(PermissionError):
        reader.obj_get("/sys/fs/bpf/m")
    f = root.open("/tmp/x", os.O_CREAT | os.O_WRONLY, 0o600)
    root.close(f)
    assert root.listdir("/sys/fs/bpf") == ["m"]
    root.stat("/tmp/x")
    assert k.stop_trace() is trace
    root.unlink("/tmp/x")  # not recorded: the trace stopped
    assert str(trace).splitlines() == [
        '[pid 1] mount("bpf", "/sys/fs/bpf", "bpf") = 0',
        "[pid 1] map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1) = 3",
        '[pid 1] obj_pin(3, "/sys/fs/bpf/m") = 0',
        '[pid 2] obj_get("/sys/fs/bpf/m") = -1 EACCES (Permission denied)',
        '[pid 1] open("/tmp/x", O_WRONLY|O_CREAT, 0o600) = 4',
        "[pid 1] close(4) = 0",
        "[pid 1] listdir(\"/sys/fs/bpf\") = ['m']",
        '[pid 1] stat("/tmp/x") = 0 {st_mode=S_IFREG|0600, st_ino=10, st_nlink=1, '
        "st_uid=0, st_gid=0, st_size=0}",
    ]
    assert trace.strace() == str(trace)
    # only the outermost call: listdir's open/getdents/close and obj_pin's bpf are not
    assert [e.name for e in trace] == [
        "mount", "map_create", "obj_pin", "obj_get", "open", "close", "listdir", "stat",
    ]  # fmt: skip
    replay(trace)


def test_trace_flag_and_decorator_keep_the_methods() -> None:
    k = Kernel(trace=True)
    assert isinstance(k.trace, Trace)
    assert Task.obj_pin.__doc__ and "BPF_OBJ_PIN" in Task.obj_pin.__doc__
    assert Task.mkdir.__name__ == "mkdir"
    k.init_task.mkdir("/d", 0o700)
    k.init_task.umask(0o077)
    with pytest.raises(OSError) as exc:
        k.init_task.rmdir("/nope")
    assert exc.value.errno == errno.ENOENT
    lines = str(k.trace).splitlines()
    assert lines == [
        '[pid 1] mkdir("/d", 0o700) = 0',
        "[pid 1] umask(0o077) = 0o022",
        '[pid 1] rmdir("/nope") = -1 ENOENT (No such file or directory)',
    ]
    assert k.trace.events[-1].errno == errno.ENOENT
    assert Kernel().trace is None


def test_unexportable_calls_become_comments() -> None:
    k = Kernel(trace=True)
    init = k.init_task
    fd = init.open("/", os.O_RDONLY | os.O_DIRECTORY)
    init.getdents(fd)
    init.close(fd)
    trace = k.trace
    assert trace is not None
    text = scenario.from_trace(trace)
    assert "# [pid 1] getdents(" in text
    assert "init close $f1" in text
    replay(trace)


def test_a_task_spawned_after_init_opened_fds_is_declared_where_it_was_spawned() -> None:
    k = Kernel(trace=True)
    init = k.init_task
    init.mount("bpf", "/sys/fs/bpf", "bpf")
    fd = init.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    init.mkdir("/tmp/w")
    init.chdir("/tmp/w")
    user = k.spawn(uid=1000, groups=[5])
    user.map_lookup_elem(fd, bytes(4))  # the inherited fd
    with pytest.raises(PermissionError):
        user.mkdir("x")  # relative to the inherited cwd
    trace = k.trace
    assert trace is not None
    text = scenario.from_trace(trace)
    parsed = scenario.loads(text)
    assert [d.name for d in parsed.tasks] == ["init", "t2"]
    assert parsed.lines.index(parsed.tasks[1]) > parsed.lines.index(parsed.steps[0])
    assert "task t2 uid=1000 gid=1000 groups=5" in text  # declared where it was spawned
    assert "t2 map_lookup_elem $f1" in text
    replay(trace)


@pytest.mark.parametrize("change", ["setrlimit", "chdir", "chdir+caps"])
@pytest.mark.parametrize("profile", [profiles.SEED, profiles.LINUX_6_18], ids=["seed", "6.18"])
def test_a_task_spawned_after_init_changed_its_state_replays_where_it_was_spawned(
    profile: profiles.Profile, change: str
) -> None:
    """Regression (issue 11, defect 14): a task spawned after init changed its cwd or
    rlimits was declared at the head, so on replay its rlimits differed, and (with
    capabilities kept across the uid change, which no step can express) its cwd did
    not exist yet: ENOENT.  Now it is declared where it was spawned, ``from=init``."""
    k = Kernel(profile=profile, trace=True)
    init = k.init_task
    init.mkdir("/tmp/w")
    if "chdir" in change:
        init.chdir("/tmp/w")
    else:
        init.setrlimit(RLIMIT_NOFILE, 5, 5)  # 0-2: the console; two opens, then EMFILE
    caps = [CAP_DAC_OVERRIDE] if "caps" in change else None
    user = k.spawn(uid=1000, groups=[1000], caps=caps)
    for name in ("/tmp/a", "/tmp/b", "/tmp/c"):
        try:
            user.open(name, os.O_CREAT | os.O_WRONLY, 0o600)
        except OSError as exc:
            assert exc.errno == errno.EMFILE and change == "setrlimit"
    try:
        user.mkdir("x")  # relative to the inherited cwd
    except OSError as exc:
        assert exc.errno == errno.EACCES and change != "chdir+caps"
    trace = k.trace
    assert trace is not None
    text = scenario.from_trace(trace)
    parsed = scenario.loads(text)
    assert [d.name for d in parsed.tasks] == ["init", "t2"]
    assert parsed.tasks[1].parent == "init"
    assert isinstance(parsed.lines[parsed.lines.index(parsed.tasks[1]) - 1], scenario.Step)
    replay(trace)


def test_a_task_spawned_before_init_changed_anything_is_declared() -> None:
    k = Kernel(trace=True)
    user = k.spawn(uid=1000, groups=[1000])
    k.init_task.setrlimit(RLIMIT_NOFILE, 5, 5)  # after the spawn: not inherited
    user.mkdir("/tmp/u")
    trace = k.trace
    assert trace is not None
    parsed = replay(trace)
    assert [d.uid for d in parsed.tasks] == [1000, 0]


def test_the_tour_replays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tour, "Kernel", lambda: Kernel(trace=True))
    k = tour.run_tour(lambda _: None)
    trace = k.trace
    assert trace is not None
    parsed = replay(trace)
    assert len(parsed.steps) == len(trace.events)  # every call is a step
    text = scenario.from_trace(trace)
    assert "t3 obj_get /sys/fs/bpf/counters" in text
    assert "-> EACCES" in text
    assert "init fork" not in text  # spawned tasks are declared
    assert [d.uid for d in parsed.tasks] == [0, 0, 1000, 0]


# --------------------------------------------------------------------------- random scripts

PATHS = [
    "/sys/fs/bpf/a",
    "/sys/fs/bpf/b",
    "/sys/fs/bpf/d",
    "/sys/fs/bpf/d/x",
    "/tmp/a",
    "/tmp/d",
]
DIRS = ["/sys/fs/bpf", "/sys/fs/bpf/d", "/tmp", "/tmp/d"]
OPS = [
    "mkdir", "rmdir", "unlink", "chmod", "map_create", "obj_pin", "obj_get", "close",
    "update", "lookup", "stat", "listdir", "fork", "exit", "mount", "spawn",
    "chdir", "setrlimit", "umask",
]  # fmt: skip
#: (resource, soft, hard): small enough that a later open or map_create notices.
RLIMITS = [
    (RLIMIT_NOFILE, 3, 3),
    (RLIMIT_NOFILE, 1024, 4096),
    (RLIMIT_MEMLOCK, 0, 0),
    (RLIMIT_MEMLOCK, 4096, 4096),
]


def _do(task: Task, op: str, data: st.DataObject) -> Task | None:
    draw = data.draw
    fds = task.files.open_fds()
    fd = draw(st.sampled_from([*fds, 42])) if op in ("obj_pin", "close", "update", "lookup") else 0
    key = struct.pack("<I", draw(st.integers(0, 2)))
    if op == "mkdir":
        task.mkdir(draw(st.sampled_from(PATHS)), draw(st.sampled_from([0o755, 0o700, 0o1777])))
    elif op == "rmdir":
        task.rmdir(draw(st.sampled_from(PATHS)))
    elif op == "unlink":
        task.unlink(draw(st.sampled_from(PATHS)))
    elif op == "chmod":
        task.chmod(draw(st.sampled_from(PATHS)), draw(st.sampled_from([0o600, 0o666, 0o644])))
    elif op == "map_create":
        map_type = draw(st.sampled_from([pinfs.BPF_MAP_TYPE_HASH, pinfs.BPF_MAP_TYPE_ARRAY]))
        task.map_create(map_type, 4, 8, 4)
    elif op == "obj_pin":
        task.obj_pin(fd, draw(st.sampled_from(PATHS)))
    elif op == "obj_get":
        task.obj_get(draw(st.sampled_from(PATHS)))
    elif op == "close":
        task.close(fd)
    elif op == "update":
        task.map_update_elem(fd, key, struct.pack("<Q", draw(st.integers(0, 99))))
    elif op == "lookup":
        task.map_lookup_elem(fd, key)
    elif op == "stat":
        task.stat(draw(st.sampled_from(PATHS + DIRS)))
    elif op == "listdir":
        task.listdir(draw(st.sampled_from(DIRS)))
    elif op == "mount":
        task.mount("bpf", draw(st.sampled_from(["/sys/fs/bpf/d", "/tmp/d"])), "bpf")
    elif op == "chdir":
        task.chdir(draw(st.sampled_from(["/", *DIRS])))
    elif op == "setrlimit":
        task.setrlimit(*draw(st.sampled_from(RLIMITS)))
    elif op == "umask":
        task.umask(draw(st.sampled_from([0o022, 0o077, 0o000])))
    elif op == "fork":
        return task.fork()
    return None


@settings(
    max_examples=budget(60),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=st.data(),
    uids=st.lists(st.sampled_from([0, 1000, 1001]), min_size=1, max_size=3),
    profile=st.sampled_from([profiles.SEED, profiles.LINUX_6_18]),
)
def test_random_traces_replay(
    data: st.DataObject, uids: list[int], profile: profiles.Profile
) -> None:
    """Random scripts (spawns after chdir, setrlimit and umask included) replay to the
    same results under SEED and LINUX_6_18."""
    k = Kernel(profile=profile, trace=True)
    init = k.init_task
    init.mount("bpf", "/sys/fs/bpf", "bpf")
    tasks = [init, *(k.spawn(uid=u, groups=[u]) for u in uids)]
    for _ in range(data.draw(st.integers(1, 25))):
        task = tasks[data.draw(st.integers(0, len(tasks) - 1))]
        op = data.draw(st.sampled_from(OPS))
        if op == "spawn":
            uid = data.draw(st.sampled_from([0, 1000]))
            child = k.spawn(uid=uid, groups=[uid])
            # what it inherited is in the trace, so a replay that differs fails
            child.getrlimit(RLIMIT_NOFILE)
            child.getrlimit(RLIMIT_MEMLOCK)
            child.getcwd()
            tasks.append(child)
            continue
        if op == "exit":
            if task is init:
                continue
            task.exit(0)
            tasks.remove(task)
            continue
        try:
            child = _do(task, op, data)
        except OSError:
            continue
        if child is not None:
            tasks.append(child)
    trace = k.trace
    assert trace is not None
    parsed = replay(trace)
    assert len(parsed.steps) == len(trace.events)
    assert len(parsed.tasks) == len(trace.tasks) - sum(
        o.kind == "fork" for o in trace.tasks.values()
    )


def test_a_profile_that_is_no_preset_is_labelled_by_its_nearest_preset_and_switches() -> None:
    """trace._profile_name looked the profile up by identity, so any other profile was
    labelled SEED.  Now: the preset equal by value, else the nearest preset and the
    switches that differ, which scenario loading applies."""
    profile = attrs.evolve(profiles.LINUX_6_18, name="mine", symlinks=False)
    k = Kernel(profile=profile, trace=True)
    init = k.init_task
    init.mount("bpf", "/sys/fs/bpf", "bpf")
    with pytest.raises(PermissionError):
        init.symlink("/tmp", "/sys/fs/bpf/l")  # no symlinks in bpffs: EPERM
    trace = k.trace
    assert trace is not None
    text = scenario.from_trace(trace)
    assert "\nprofile LINUX_6_18 symlinks=False\n" in text
    parsed = replay(trace)
    assert parsed.profile_switches == {"symlinks": False}
    copy = Kernel(profile=attrs.evolve(profiles.LINUX_4_7), trace=True)
    assert copy.trace is not None
    assert "\nprofile LINUX_4_7\n" in scenario.from_trace(copy.trace)
    with pytest.raises(scenario.ScenarioSyntaxError, match="not a profile switch"):
        scenario.loads("profile SEED bogus=1\n")
