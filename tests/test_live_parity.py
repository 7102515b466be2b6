"""The live twin speaks Task's API (issue 10, item 7): code written against
:class:`pinfs.Task` runs unchanged against :class:`pinfs.live.kernel.LiveTask`.

For every method both have, the names, the parameters (in order) and Task's defaults
are the same, and failures are ``OSError`` with the same errno.  Only one of them has:

* ``Task`` only -- pinfs's own introspection and plumbing: ``fd_file``, ``fd_object``,
  ``fd_map``, ``fd_prog``, ``rlimit`` (the kernel's soft-limit helper), ``getdents`` (the raw directory read
  that ``listdir`` wraps), ``prctl``, ``sysctl_write`` and ``write_uid_map`` /
  ``write_gid_map`` (the live sandbox must not change the host's sysctls and keeps to
  its own user namespace); and the modern bpf(2) helpers the live twin does not wrap
  yet (``map_freeze``, ``map_get_next_id``, ``map_get_fd_by_id``, ``prog_get_next_id``,
  ``prog_get_fd_by_id``, ``obj_get_info_by_fd``; tests/test_modern_live.py drives them
  on the live kernel through raw bpf(2)).
* ``LiveTask`` only -- reads of the real process that pinfs answers through its
  objects instead (``task.cred``, ``task.fs``, ``task.kernel.tasks``): ``capget``,
  ``getresuid``, ``getresgid``, ``getgroups``; ``fstatfs``;
  ``bpf_map_info`` (BPF_OBJ_GET_INFO_BY_FD, which the seed lacks); and the raw
  user-memory calls ``write_user`` / ``read_user`` / ``free_user`` that ``task.mem``
  (on both) is built on.

Live-only extras are keyword-only (``prog_load(..., expected_attach_type=,
prog_name=)``).  The live tests use the
twin's sandbox only: private mount and pid namespaces and a scratch tmpfs, never the
host's /sys/fs/bpf.
"""

from __future__ import annotations

import errno
import inspect
import os
import stat
import struct
from collections.abc import Iterator
from typing import Any

import pytest

import pinfs
from pinfs.base import profiles
from pinfs.live.kernel import LiveKernel, LiveTask, live_unavailable_reason

TASK_ONLY = {
    "fd_file",
    "fd_object",
    "fd_map",
    "fd_prog",
    "map_freeze",
    "map_get_next_id",
    "map_get_fd_by_id",
    "prog_get_next_id",
    "prog_get_fd_by_id",
    "obj_get_info_by_fd",
    "rlimit",
    "getdents",
    "prctl",
    "sysctl_write",
    "write_uid_map",
    "write_gid_map",
}
LIVE_ONLY = {
    "capget",
    "getresuid",
    "getresgid",
    "getgroups",
    "bpf_map_info",
    "write_user",
    "read_user",
    "free_user",
}
BPF_MAP_TYPE_HASH = 1
RLIMIT_NOFILE = 7


def _public_methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member) and not isinstance(member, type)
    }


def test_methods_only_one_side_has_are_the_documented_ones() -> None:
    task = set(_public_methods(pinfs.Task))
    live = set(_public_methods(LiveTask))
    assert task - live == TASK_ONLY
    assert live - task == LIVE_ONLY


@pytest.mark.parametrize(
    "name", sorted(set(_public_methods(pinfs.Task)) & set(_public_methods(LiveTask)))
)
def test_shared_methods_take_tasks_arguments(name: str) -> None:
    """Task's positional parameters in order with Task's defaults; LiveTask may add
    keyword-only ones (with defaults) and be more lenient about a required one."""
    task_sig = inspect.signature(getattr(pinfs.Task, name))
    live_sig = inspect.signature(getattr(LiveTask, name))
    live_params = list(live_sig.parameters.values())
    for i, param in enumerate(task_sig.parameters.values()):
        other = live_params[i]
        assert (other.name, other.kind) == (param.name, param.kind), name
        if param.default is not inspect.Parameter.empty:
            assert other.default == param.default, (name, param.name)
    for extra in live_params[len(task_sig.parameters) :]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY, (name, extra.name)
        assert extra.default is not inspect.Parameter.empty, (name, extra.name)


def both_sides(k: Any) -> list[object]:
    """One small function against either kernel: outcomes as comparable values."""
    out: list[object] = []

    def step(fn: Any, *args: Any) -> Any:
        try:
            value = fn(*args)
        except OSError as exc:
            out.append(errno.errorcode[exc.errno or 0])
            return None
        out.append("ok" if value is None else value)
        return value

    t = k.init_task
    step(t.mount, "bpf", "/sys/fs/bpf", "bpf")
    root = k.spawn()  # root keeps every capability by default, on both
    step(root.mkdir, "/sys/fs/bpf/d", 0o700)
    fd = step(root.map_create, BPF_MAP_TYPE_HASH, 4, 8, 4)
    step(root.map_update_elem, fd, struct.pack("<I", 7), b"seven!!!")
    step(root.map_update_elem, fd, struct.pack("<I", 7), b"again!!!", 1)  # BPF_NOEXIST
    step(root.obj_pin, fd, "/sys/fs/bpf/d/m")
    step(root.obj_pin, fd, b"/sys/fs/bpf/d/m")
    got = step(root.obj_get, "/sys/fs/bpf/d/m")
    step(root.map_lookup_elem, got, struct.pack("<I", 7))
    step(root.map_get_next_key, got, struct.pack("<I", 8))
    step(root.map_delete_elem, got, struct.pack("<I", 9))
    st = step(root.stat, "/sys/fs/bpf/d/m")
    out[-1] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode))
    user = k.spawn(uid=1000)  # gid defaults to uid, no capabilities
    step(user.obj_get, "/sys/fs/bpf/d/m")
    step(user.map_create, BPF_MAP_TYPE_HASH, 4, 8, 4)  # sysctl 2 on 6.18: EPERM
    step(user.setrlimit, RLIMIT_NOFILE, 8, 4)  # soft > hard: EINVAL, an OSError
    step(user.setrlimit, RLIMIT_NOFILE, 8, 1 << 30)  # raising hard: EPERM
    step(user.getrlimit, RLIMIT_NOFILE)
    addr = root.mem.alloc(16)  # user memory, the pinfs way
    root.mem.write(addr + 8, b"\1\2")
    out.append(root.mem.read(addr, 10))
    root.mem.free(addr)
    step(root.open, "/sys/fs/bpf/d", os.O_RDONLY | os.O_DIRECTORY)
    step(root.listdir, "/sys/fs/bpf/d")
    step(root.chmod, "/sys/fs/bpf/d/m", 0o644)
    step(root.unlink, "/sys/fs/bpf/d/m")
    return out


@pytest.fixture
def live() -> Iterator[LiveKernel]:
    reason = live_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with LiveKernel() as k:
        yield k


def _unprivileged_bpf_setting() -> int:
    with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
        return int(f.read())


@pytest.mark.live
def test_the_same_function_gives_the_same_results(live: LiveKernel) -> None:
    k = pinfs.Kernel(profiles.LATEST, unprivileged_bpf_disabled=_unprivileged_bpf_setting())
    k.init_task.setrlimit(RLIMIT_NOFILE, 1024, 4096)  # the live sandbox's boot limits
    expected = both_sides(k)
    assert both_sides(live) == expected
    assert "EINVAL" in expected and "EEXIST" in expected  # the failures were compared
