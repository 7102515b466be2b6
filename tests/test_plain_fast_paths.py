"""The plain-file fast paths (issue 17, target (b)) take the decisions the slow paths take.

``mkdir``, ``rmdir``, ``unlink``, ``open`` and ``close`` test their arguments inline and
call ``path_arg`` / ``_mode_arg`` / ``_int_arg`` / ``check_fd`` only for a value the
inline test does not pass, and run their kernel body themselves instead of going
through their ``*at`` form.  The differential test runs random call sequences twice,
on two kernels built the same way: once as the benchmark calls them, once through the
``*at`` syscalls with ``AT_FDCWD`` and every argument a ``str``/``int`` subclass, which
no inline test passes, so every helper runs.  Results, exceptions (class, errno, text,
refusal) and the whole state (``snapshot``) must be identical.

The kernel helpers skip a call where the kernel's own inline half decides alone:
``check_sticky`` without S_ISVTX, ``is_local_mountpoint``/``detach_mounts`` without
anything mounted, ``d_lookup_valid`` without ``d_revalidate``.  Each skip is checked
against the function it skips over every dentry of a populated world.  The
``@syscall`` wrapper is checked against the generic path every call took before.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pinfs
import pinfs.fs.namei as namei
from pinfs.base.cred import Cred
from pinfs.base.syscall import _generic
from pinfs.fs.fdtable import check_fd, fput
from pinfs.fs.permission import check_sticky
from pinfs.machine.task import AT_FDCWD, AT_REMOVEDIR, Task
from pinfs.mountns import detach_mounts
from pinfs.vfs import Dentry, d_lookup_valid, walk_tree
from snapshot import snapshot
from support import budget

O_CREAT_WRONLY = 0o101


class SlowStr(str):
    """A path no inline test passes (``type(path) is str`` is False)."""


class SlowInt(int):
    """A number no inline test passes (``type(n) is int`` is False)."""


def slow(value: Any) -> Any:
    if type(value) is str:
        return SlowStr(value)
    if type(value) is int:
        return SlowInt(value)
    return value


def build_world() -> tuple[pinfs.Kernel, Task, Task, Task]:
    """A kernel with directories of several modes under the sticky /tmp, a file, a
    tmpfs mounted on /tmp/mnt, procfs, an unprivileged task and one that exited."""
    kernel = pinfs.Kernel(mount_proc=True)
    t = kernel.init_task
    t.mkdir("/tmp/d", 0o755)
    t.mkdir("/tmp/d/sub", 0o700)
    t.mkdir("/tmp/locked", 0o000)
    t.mkdir("/tmp/open")
    t.chmod("/tmp/open", 0o777)
    t.close(t.open("/tmp/d/f", O_CREAT_WRONLY, 0o644))
    t.mkdir("/tmp/mnt")
    t.mount("tmpfs", "/tmp/mnt", "tmpfs")
    user = kernel.spawn(uid=1000)
    user.close(user.open("/tmp/open/mine", O_CREAT_WRONLY, 0o600))
    gone = kernel.spawn(uid=1000)
    gone.exit(0)  # every syscall is ESRCH for it now
    return kernel, t, user, gone


def entry_state(kernel: pinfs.Kernel) -> tuple[int, int | None]:
    """What entering a syscall changes: the clock and the current task."""
    current = kernel._current
    return kernel._clock, None if current is None else current.pid


LISTED_PATHS = [
    "/tmp/x",
    "/tmp/x/",
    "/tmp/d",
    "/tmp/d/",
    "/tmp/d/f",
    "/tmp/d/f/",
    "/tmp/d/sub",
    "/tmp/d/sub/y",
    "/tmp/locked/y",
    "/tmp/open/mine",
    "/tmp/open/z",
    "/tmp/mnt",
    "/tmp/mnt/q",
    "/tmp//d///f",
    "/tmp/./d/../x",
    "/tmp/.",
    "/tmp/..",
    "/",
    "",
    "tmp/x",
    "/proc/self/fd/0",
    "/proc/1/x",
    "/tmp/\u00e9t\u00e9",
    "/tmp/a\0b",
    "/tmp/" + "n" * 300,
    "/" + "a/" * 2100,
]
PATHS = st.one_of(
    st.sampled_from(LISTED_PATHS),
    st.text(alphabet="ab/.", max_size=10).map(lambda s: "/tmp/" + s),
)
MODES = st.sampled_from([0o777, 0o700, 0o644, 0o1777, 0, 1 << 32, -1, True])
FLAGS = st.sampled_from(
    [0, O_CREAT_WRONLY, 0o1101, 0o301, 0o2, 0o200000, 0o100, 0o400, 0o10000000, 1 << 32, True]
)
FDS = st.sampled_from([0, 3, 4, 5, 99, -1, 1 << 31, (1 << 32) - 1, 1 << 32, False])

CALLS = st.one_of(
    st.tuples(st.just("mkdir"), PATHS, MODES),
    st.tuples(st.just("rmdir"), PATHS),
    st.tuples(st.just("unlink"), PATHS),
    st.tuples(st.just("open"), PATHS, FLAGS, MODES),
    st.tuples(st.just("close"), FDS),
)


def fast_call(task: Task, call: tuple[Any, ...]) -> Any:
    name, *args = call
    return getattr(task, name)(*args)


def slow_call(task: Task, call: tuple[Any, ...]) -> Any:
    """The same call by the general route: the *at form, every argument wrapped."""
    name, *args = call
    args = [slow(a) for a in args]
    if name == "mkdir":
        return task.mkdirat(AT_FDCWD, *args)
    if name == "rmdir":
        return task.unlinkat(AT_FDCWD, args[0], AT_REMOVEDIR)
    if name == "unlink":
        return task.unlinkat(AT_FDCWD, args[0], 0)
    if name == "open":
        return task.openat(AT_FDCWD, *args)
    check_fd(args[0])  # close has no *at form: its body before the inline entry
    task._enter()
    return fput(task.files.remove(args[0]))


def outcome(fn: Callable[[], Any]) -> Any:
    try:
        return ("ok", fn())
    except (OSError, TypeError, ValueError) as exc:
        refusal = getattr(exc, "refusal", None)
        return (type(exc), getattr(exc, "errno", None), str(exc), str(refusal))


@settings(max_examples=budget(150), deadline=None)
@given(calls=st.lists(st.tuples(st.sampled_from(["root", "user", "gone"]), CALLS), max_size=8))
def test_fast_prologue_and_bodies_match_the_general_route(
    calls: list[tuple[str, tuple[Any, ...]]],
) -> None:
    fast_kernel, fast_root, fast_user, fast_gone = build_world()
    slow_kernel, slow_root, slow_user, slow_gone = build_world()
    fast_tasks = {"root": fast_root, "user": fast_user, "gone": fast_gone}
    slow_tasks = {"root": slow_root, "user": slow_user, "gone": slow_gone}
    for who, call in calls:
        fast_task, slow_task = fast_tasks[who], slow_tasks[who]
        got = outcome(lambda: fast_call(fast_task, call))
        want = outcome(lambda: slow_call(slow_task, call))
        assert got == want, call
        assert entry_state(fast_kernel) == entry_state(slow_kernel), call
        assert snapshot(fast_kernel) == snapshot(slow_kernel), call
    fast_kernel.check_invariants()


@pytest.mark.parametrize(
    "call",
    [("mkdir", 0o755), ("rmdir",), ("unlink",), ("open", O_CREAT_WRONLY, 0o644), ("open", 0, 0)],
)
def test_every_listed_path_both_ways(call: tuple[Any, ...]) -> None:
    """Each listed path once, in turn, on one pair of kernels (the random test may
    miss one of them)."""
    fast_kernel, fast_root, _, _ = build_world()
    slow_kernel, slow_root, _, _ = build_world()
    for path in LISTED_PATHS:
        full = (call[0], path, *call[1:])
        got = outcome(lambda: fast_call(fast_root, full))
        want = outcome(lambda: slow_call(slow_root, full))
        assert got == want, full
        assert entry_state(fast_kernel) == entry_state(slow_kernel), full
        assert snapshot(fast_kernel) == snapshot(slow_kernel), full


def test_the_benchmark_loops_take_the_fast_paths() -> None:
    """The loops of (b) never call the helpers the inline tests stand for."""
    kernel, t, _, _ = build_world()
    counted: list[str] = []
    saved = {n: getattr(namei, n) for n in ("path_arg", "d_lookup_valid")}

    def counting(name: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counted.append(name)
            return saved[name](*args, **kwargs)

        return wrapper

    import pinfs.machine.task as taskmod

    with contextlib.ExitStack() as stack:
        for n in saved:
            stack.enter_context(_patched(namei, n, counting(n)))
        stack.enter_context(_patched(taskmod, "path_arg", counting("path_arg")))
        for _ in range(3):
            t.mkdir("/tmp/b")
            t.rmdir("/tmp/b")
            t.close(t.open("/tmp/c", O_CREAT_WRONLY, 0o644))
            t.unlink("/tmp/c")
    assert counted == []
    kernel.check_invariants()


@contextlib.contextmanager
def _patched(module: Any, name: str, value: Any) -> Any:
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)


# -- the kernel helpers' inline halves ------------------------------------------------------


def every_dentry(kernel: pinfs.Kernel) -> list[Dentry]:
    seen: dict[int, Dentry] = {}
    for ns in kernel.namespaces:
        for mnt in ns.mounts:
            for dentry in [mnt.mnt_root, *walk_tree(mnt.mnt_root)]:
                seen[id(dentry)] = dentry
    return list(seen.values())


def test_d_lookup_valid_without_revalidate_is_the_hash_lookup() -> None:
    """``lookup_hash`` and ``link_path_walk`` read ``d_subdirs`` themselves unless the
    child has a ``d_revalidate``: there ``d_lookup_valid`` gives the same dentry."""
    kernel, t, _, _ = build_world()
    t.open("/proc/self/fd/0")  # procfs's fd dentries revalidate
    revalidating = 0
    for parent in every_dentry(kernel):
        for name, child in list(parent.d_subdirs.items()):
            if child.d_op is not None and child.d_op.d_revalidate is not None:
                revalidating += 1
                continue
            assert d_lookup_valid(parent, name) is child
    assert revalidating > 0  # the other branch exists in this world, and is kept


def test_lookup_hash_asks_d_revalidate_where_there_is_one() -> None:
    kernel, t, _, _ = build_world()
    t.open("/proc/self/fd/0")  # now /proc/self/fd/0 is cached, and it revalidates
    fd_dir = namei.path_lookupat(t, "/proc/self/fd", follow=True).dentry
    cached = fd_dir.d_subdirs["0"]
    assert cached.d_op is not None and cached.d_op.d_revalidate is not None
    calls: list[str] = []
    saved = namei.d_lookup_valid

    def counted(parent: Dentry, name: str) -> Dentry | None:
        calls.append(name)
        return saved(parent, name)

    with _patched(namei, "d_lookup_valid", counted):
        found = namei.lookup_hash(fd_dir, "0")
    assert calls == ["0"]
    namei.dput(found)
    kernel.check_invariants()


@given(
    mode=st.integers(0, 0o7777),
    dir_uid=st.sampled_from([0, 1000, 1001]),
    uid=st.sampled_from([0, 1000, 1001]),
    fsuid=st.sampled_from([0, 1000, 1001]),
)
def test_check_sticky_is_false_without_the_sticky_bit(
    mode: int, dir_uid: int, uid: int, fsuid: int
) -> None:
    """``may_delete`` calls ``check_sticky`` only for a sticky directory."""
    kernel, t, _, _ = build_world()
    d = t.fs.root.dentry.d_subdirs["tmp"].d_subdirs["d"]
    f = d.d_subdirs["f"]
    assert d.d_inode is not None and f.d_inode is not None
    d.d_inode.i_mode = 0o040000 | mode
    d.d_inode.i_uid, f.d_inode.i_uid = dir_uid, uid
    cred = Cred(uid=fsuid, gid=fsuid, user_ns=kernel.init_user_ns)
    if not mode & 0o1000:
        assert check_sticky(cred, d.d_inode, f.d_inode) is False


def test_nothing_mounted_means_no_local_mountpoint_and_nothing_to_detach() -> None:
    """``vfs_unlink``/``vfs_rmdir`` call ``is_local_mountpoint`` and ``detach_mounts``
    only for a dentry something is mounted on."""
    kernel, _, _, _ = build_world()
    mounted = 0
    for dentry in every_dentry(kernel):
        if dentry.d_mounted:
            mounted += 1
            continue
        for ns in [None, *kernel.namespaces]:
            assert namei.is_local_mountpoint(ns, dentry) is False
        before = snapshot(kernel)
        detach_mounts(dentry)
        assert snapshot(kernel) == before
    assert mounted > 0


def test_a_mountpoint_is_still_busy() -> None:
    kernel, t, _, _ = build_world()
    for call in (lambda: t.rmdir("/tmp/mnt"), lambda: t.unlink("/tmp/mnt")):
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno in (errno.EBUSY, errno.EISDIR)
    kernel.check_invariants()


# -- the @syscall wrapper ---------------------------------------------------------------------

#: Call forms: (args, kwargs) per syscall, the ordinary and the odd ones.
FORMS: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {
    "mkdir": [
        (("/tmp/w",), {}),
        (("/tmp/w", 0o700), {}),
        (("/tmp/w",), {"mode": 0o700}),
        ((), {"path": "/tmp/w", "mode": 0o700}),
        ((), {"mode": 0o700}),
        ((), {}),
        (("/tmp/w", 0o700, 1), {}),
        (("/tmp/w",), {"bogus": 1}),
    ],
    "open": [
        (("/tmp/w",), {}),
        (("/tmp/w", O_CREAT_WRONLY), {}),
        (("/tmp/w",), {"mode": 0o600}),
        (("/tmp/w",), {"mode": 0o600, "flags": O_CREAT_WRONLY}),
        (("/tmp/w", O_CREAT_WRONLY, 0o600), {}),
        ((iter("x"),), {}),
    ],
    "openat2": [
        ((AT_FDCWD, "/tmp/w"), {}),
        ((AT_FDCWD, "/tmp/w"), {"resolve": 8}),
        ((AT_FDCWD, "/tmp/w", 0, 0, 4), {}),
        ((AT_FDCWD,), {"path": "/tmp/w", "resolve": 1}),
    ],
    "rename": [
        (("/tmp/d/f", "/tmp/d/g"), {}),
        (("/tmp/d/f",), {"new": "/tmp/d/g", "flags": 1}),
    ],
    "close": [((3,), {}), ((), {"fd": 3}), ((3, 4), {}), ((), {})],
    "rmdir": [(("/tmp/d/sub",), {}), ((), {"path": "/tmp/d/sub"})],
}


def _event_key(event: Any) -> Any:
    error = event.error
    return (
        event.name,
        event.args,
        event.given,
        None if error is None else (type(error), str(error)),
        event.result,
    )


@pytest.mark.parametrize(("name", "form"), [(n, f) for n, fs in FORMS.items() for f in fs])
def test_the_wrapper_records_what_the_generic_path_records(
    name: str, form: tuple[tuple[Any, ...], dict[str, Any]]
) -> None:
    args, kwargs = form
    wrapped = getattr(Task, name)
    fn = wrapped.__wrapped__
    sig = inspect.signature(fn)
    results = []
    for route in ("wrapper", "generic"):
        kernel, t, _, _ = build_world()
        for traced in (False, True):
            trace = kernel.start_trace() if traced else None
            call_args = tuple(iter("x") if isinstance(a, type(iter(""))) else a for a in args)
            if route == "wrapper":
                got = outcome(lambda: wrapped(t, *call_args, **kwargs))
            else:
                got = outcome(lambda: _generic(fn, sig, name, t, call_args, kwargs))
            kernel.stop_trace()
            events = [] if trace is None else [_event_key(e) for e in trace.events]
            results.append((got, events, snapshot(kernel)))
    assert results[:2] == results[2:]


def test_a_duplicate_argument_is_the_same_type_error() -> None:
    """The one call form the wrapper refuses itself, before a trace can see it: an
    argument given twice.  The error is the one the method gives."""
    _, t, _, _ = build_world()
    with pytest.raises(TypeError) as fast:
        t.mkdir("/tmp/w", path="/tmp/v")  # type: ignore[misc]
    with pytest.raises(TypeError) as slow_:
        Task.mkdir.__wrapped__(t, "/tmp/w", path="/tmp/v")
    assert str(fast.value) == str(slow_.value)


def test_other_parameter_kinds_keep_the_generic_wrapper() -> None:
    """``*args``, keyword-only parameters or a name the generated text would shadow:
    the wrapper of before, which passes every call on as it came."""
    from pinfs.base.syscall import syscall

    class Kernel:
        trace = None

    class Caller:
        kernel = Kernel()

        @syscall
        def varargs(self, *values: int) -> tuple[int, ...]:
            return values

        @syscall
        def keyword_only(self, a: int, *, b: int = 2) -> tuple[int, int]:
            return a, b

        @syscall
        def shadowing(self, _fn: int) -> int:
            return _fn

    caller = Caller()
    assert caller.varargs(1, 2) == (1, 2)
    assert caller.keyword_only(1, b=3) == (1, 3)
    assert caller.shadowing(5) == 5
    for method in (Caller.varargs, Caller.keyword_only, Caller.shadowing):
        assert not method.__code__.co_filename.startswith("<syscall")
        assert inspect.signature(method) == inspect.signature(method.__wrapped__)
    assert Task.mkdir.__code__.co_filename == "<syscall mkdir>"
