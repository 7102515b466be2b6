"""Typed helpers against the raw bpf(2) entry (issue 17 item 2).

The typed helpers (``Task.map_create``, ``obj_pin``, ``obj_get``, ...) enter the bpf()
handlers without writing the attr into user memory when the attr is sure to pass the
entry checks (``pinfs.bpf.typed_entry_layout``).  The differential test runs every
helper twice on two kernels built the same way: once as it is, once with that shortcut
switched off, so the call goes through ``task.bpf(cmd, addr, size)`` with the attr and
every buffer copied from user memory.  Results, exceptions (class, errno, text,
refusal) and the whole state (``snapshot``) must be identical, for random arguments,
random prior states and every preset profile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pinfs
import pinfs.bpf as bpfmod
from pinfs.base.profiles import PRESETS
from pinfs.ebpf.attr import (
    BPF_F_PATH_FD,
    BPF_F_RDONLY,
    BPF_F_WRONLY,
    BPF_MAP_GET_NEXT_ID,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_OBJ_PIN,
    layouts_for,
)
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from snapshot import snapshot
from support import budget

BPFFS = "/sys/fs/bpf"
PROFILES = sorted(PRESETS)


@contextlib.contextmanager
def raw_entry_only() -> Iterator[None]:
    """Every typed helper takes the raw path (attr packed into user memory)."""
    saved = bpfmod.typed_entry_layout
    bpfmod.typed_entry_layout = lambda kernel, cmd, nonzero: None
    try:
        yield
    finally:
        bpfmod.typed_entry_layout = saved


@contextlib.contextmanager
def counting_typed_entries(counter: list[int]) -> Iterator[None]:
    saved = bpfmod.sys_bpf_typed

    def counted(*args: Any, **kwargs: Any) -> int:
        counter.append(1)
        return saved(*args, **kwargs)

    bpfmod.sys_bpf_typed = counted
    try:
        yield
    finally:
        bpfmod.sys_bpf_typed = saved


# -- states -------------------------------------------------------------------------------

#: Setup steps: each is run through the typed helpers on both kernels, errors ignored.
SETUP_STEPS = st.sampled_from(
    [
        "array",
        "hash",
        "prog_array",
        "prog",
        "pin_map",
        "pin_prog",
        "mkdir",
        "chmod_dir",
        "tmp_file",
        "unpriv_task",
        "sysctl_unpriv",
        "fill_slot",
    ]
)


class World:
    """A kernel built by setup steps, and the fds those made (maps and programs, in
    the order made), so calls can name them whatever fd numbers the table hands out."""

    def __init__(self, profile_name: str, steps: list[str]) -> None:
        self.kernel = kernel = pinfs.Kernel(PRESETS[profile_name])
        self.made: list[int] = []
        t = kernel.init_task
        t.mount("bpf", BPFFS, "bpf")
        actions: dict[str, Callable[[], object]] = {
            "array": lambda: self.made.append(t.map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 4)),
            "hash": lambda: self.made.append(t.map_create(BPF_MAP_TYPE_HASH, 4, 4, 8)),
            "prog_array": lambda: self.made.append(t.map_create(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4)),
            "prog": lambda: self.made.append(t.prog_load(1, RETURN_ZERO)),
            "pin_map": lambda: t.obj_pin(self.fd(0), f"{BPFFS}/m{len(self.made)}"),
            "pin_prog": lambda: t.obj_pin(self.fd(-1), f"{BPFFS}/p{len(self.made)}"),
            "mkdir": lambda: t.mkdir(f"{BPFFS}/d", 0o700),
            "chmod_dir": lambda: t.chmod(f"{BPFFS}/d", 0o000),
            "tmp_file": lambda: t.close(t.open("/tmp/f", 0o101, 0o644)),
            "unpriv_task": lambda: kernel.spawn(uid=1000),
            "sysctl_unpriv": lambda: t.sysctl_write("kernel.unprivileged_bpf_disabled", 1),
            "fill_slot": lambda: t.map_update_elem(
                self.fd(-2), b"\0\0\0\0", self.fd(-1).to_bytes(4, "little")
            ),
        }
        for step in ["array", "hash", "pin_map", *steps]:
            with contextlib.suppress(OSError, ValueError, TypeError):
                actions[step]()

    def fd(self, index: int) -> int:
        """The ``index``-th fd made (cyclically), or 99 (nothing open) if none was."""
        return self.made[index % len(self.made)] if self.made else 99

    def resolve(self, value: Any) -> Any:
        """A call argument: ``Made(i)`` becomes the i-th fd made."""
        return self.fd(value.index) if isinstance(value, Made) else value


class Made:
    """A placeholder for the ``index``-th fd the setup made."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"Made({self.index})"


# -- calls --------------------------------------------------------------------------------

FDS = st.one_of(
    st.integers(0, 5).map(Made),
    st.integers(0, 5).map(Made),
    st.sampled_from([0, 1, 2, 3, 99, -1, 1 << 31]),
)
SMALL = st.sampled_from([0, 1, 2, 4, 8, 16, 4096, 1 << 31, (1 << 32) - 1])
FLAGS32 = st.sampled_from(
    [0, 0, 0, BPF_F_RDONLY, BPF_F_WRONLY, BPF_F_RDONLY | BPF_F_WRONLY, BPF_F_PATH_FD, 1, 1 << 31]
)
KEYS = st.one_of(
    st.sampled_from([b"\0\0\0\0", b"\1\0\0\0", b"\3\0\0\0", b"\7\0\0\0"]),
    st.binary(max_size=9),
)
VALUES = st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=9))
PATHS = st.one_of(
    st.sampled_from([f"{BPFFS}/m2", f"{BPFFS}/m3", f"{BPFFS}/p3", f"{BPFFS}/p4", f"{BPFFS}/new"]),
    st.sampled_from(
        [
            f"{BPFFS}/m1",
            f"{BPFFS}/m4",
            f"{BPFFS}/d/x",
            f"{BPFFS}/d",
            f"{BPFFS}/m2/",
            f"{BPFFS}/nodir/x",
            "/tmp/f",
            "/tmp/x",
            "",
            "/",
            "relative",
            f"{BPFFS}/" + "n" * 300,
            "/" + "a/" * 2100,
        ]
    ),
    st.text(alphabet="ab/.", max_size=12),
)
PATH_FDS = st.one_of(st.none(), st.none(), st.sampled_from([0, 3, 99, -100, -1]))
INSNS = st.one_of(
    st.just(RETURN_ZERO),
    st.just(BPF_LD_MAP_FD(1, 3) + RETURN_ZERO),
    st.just(BPF_LD_MAP_FD(1, 4) + RETURN_ZERO),
    st.binary(max_size=24),
)

CALLS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "map_create": st.tuples(
        st.sampled_from([0, 1, 2, 3, 4, 99]),
        st.one_of(st.just(4), SMALL),
        st.one_of(st.just(4), SMALL),
        st.one_of(st.just(4), SMALL),
        st.sampled_from([0, 0, 1, 4, 1 << 3, 1 << 7, 1 << 12]),
        st.sampled_from([None, None, "", "counters", b"n\xff", "x" * 15, "\u00e9t\u00e9"]),
    ),
    "map_lookup_elem": st.tuples(FDS, KEYS),
    "map_update_elem": st.tuples(FDS, KEYS, VALUES, st.sampled_from([0, 1, 2, 3])),
    "map_delete_elem": st.tuples(FDS, KEYS),
    "map_get_next_key": st.tuples(FDS, st.one_of(st.none(), KEYS)),
    "prog_load": st.tuples(
        st.sampled_from([0, 1, 2, 3, 99]),
        INSNS,
        st.sampled_from(["GPL", "", "Proprietary", "Dual BSD/GPL"]),
        st.sampled_from([0, 1, 2]),
        st.sampled_from([0, 1, 64, 4096]),
        st.sampled_from([0, 1, 0x040400]),
    ),
    "obj_pin": st.tuples(FDS, PATHS, FLAGS32, PATH_FDS),
    "obj_get": st.tuples(PATHS, FLAGS32, PATH_FDS),
    # No typed entry (they read back the attr, or are rare): the raw path both times,
    # compared all the same so every command of the dispatcher is covered.
    "map_get_next_id": st.tuples(st.sampled_from([0, 1, 2, 99, (1 << 32) - 1])),
    "prog_get_next_id": st.tuples(st.sampled_from([0, 1, 3, 99])),
    "map_get_fd_by_id": st.tuples(st.sampled_from([0, 1, 2, 99]), FLAGS32),
    "prog_get_fd_by_id": st.tuples(st.sampled_from([0, 1, 3, 99])),
    "obj_get_info_by_fd": st.tuples(FDS, st.sampled_from([0, 4, 16, 80, 256])),
    "map_freeze": st.tuples(FDS),
}


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except OSError as exc:
        return "error", (type(exc), exc.errno, str(exc), getattr(exc, "refusal", None))
    except (TypeError, ValueError) as exc:
        return "bad input", (type(exc), str(exc))


def call_on(world: World, pid: int, name: str, args: tuple[Any, ...]) -> tuple[str, Any]:
    task = world.kernel.tasks.get(pid, world.kernel.init_task)
    values = [world.resolve(a) for a in args]
    return outcome(lambda: getattr(task, name)(*values))


@pytest.mark.parametrize("name", sorted(CALLS))
@settings(max_examples=budget(60))
@given(
    profile=st.sampled_from(PROFILES),
    steps=st.lists(SETUP_STEPS, max_size=8),
    pid=st.sampled_from([1, 1, 2]),
    data=st.data(),
)
def test_typed_helpers_equal_the_raw_entry(
    name: str, profile: str, steps: list[str], pid: int, data: st.DataObject
) -> None:
    args = data.draw(CALLS[name], label="args")
    typed_world, raw_world = World(profile, steps), World(profile, steps)
    assert snapshot(typed_world.kernel) == snapshot(raw_world.kernel)
    typed = call_on(typed_world, pid, name, args)
    with raw_entry_only():
        raw = call_on(raw_world, pid, name, args)
    assert typed == raw
    assert snapshot(typed_world.kernel) == snapshot(raw_world.kernel)
    typed_world.kernel.check_invariants()


@pytest.mark.parametrize("profile", PROFILES)
def test_the_benchmark_cycle_takes_the_typed_entry(profile: str) -> None:
    """Not vacuous: on every preset the pin/get cycle and map_create skip the attr in
    user memory, and leave none of their buffers behind."""
    kernel = pinfs.Kernel(PRESETS[profile])
    t = kernel.init_task
    t.mount("bpf", BPFFS, "bpf")
    before = t.mem.image()
    entered: list[int] = []
    with counting_typed_entries(entered):
        fd = t.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
        t.map_update_elem(fd, b"\0\0\0\0", b"\1\0\0\0")
        assert t.map_lookup_elem(fd, b"\0\0\0\0") == b"\1\0\0\0"
        t.obj_pin(fd, f"{BPFFS}/m")
        t.close(t.obj_get(f"{BPFFS}/m"))
    assert len(entered) == 5
    assert t.mem.image() == before


def test_fields_a_kernel_lacks_take_the_raw_path() -> None:
    """A non-zero ``file_flags`` on the seed (no such field: CHECK_ATTR's EINVAL) is not
    a typed entry; zero-valued fields the kernel lacks do not matter."""
    kernel = pinfs.Kernel(PRESETS["seed"])
    obj_pin = int(BPF_OBJ_PIN)
    assert bpfmod.typed_entry_layout(kernel, obj_pin, ["bpf_fd", "pathname"]) is not None
    assert bpfmod.typed_entry_layout(kernel, obj_pin, ["file_flags"]) is None
    assert bpfmod.typed_entry_layout(kernel, int(BPF_MAP_GET_NEXT_ID), []) is None


@pytest.mark.parametrize("profile", PROFILES)
def test_every_layout_fits_its_attr_size(profile: str) -> None:
    """What :func:`typed_entry_layout` relies on for the presets: no layout ends past
    the kernel's ``sizeof(union bpf_attr)``."""
    table = layouts_for(PRESETS[profile])
    assert all(layout.check_from <= PRESETS[profile].bpf_attr_size for layout in table.values())
