"""Tests of the pin-or-reuse loader, with pinfs's public API only."""

from __future__ import annotations

import contextlib
import errno
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule
from pinloader import MapSpec, Mismatch, pin_or_reuse

import pinfs
from pinfs.testing import PinningMachine
from pinfs.testing import strategies as pst
from pinfs.testing.plugin import KernelFactory

COUNTERS = MapSpec(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)


def test_the_first_run_pins_and_the_second_reuses(kernel: pinfs.Kernel) -> None:
    first = kernel.spawn(uid=0)
    fd, reused = pin_or_reuse(first, "/sys/fs/bpf/counters", COUNTERS)
    assert not reused
    first.map_update_elem(fd, b"\1\0\0\0", b"\7" * 8)
    first.exit()  # the loader exits: the pin keeps the map
    second = kernel.spawn(uid=0)
    fd, reused = pin_or_reuse(second, "/sys/fs/bpf/counters", COUNTERS)
    assert reused and second.map_lookup_elem(fd, b"\1\0\0\0") == b"\7" * 8


def test_a_map_of_another_shape_is_refused_by_name(kernel: pinfs.Kernel) -> None:
    root = kernel.init_task
    pin_or_reuse(root, "/sys/fs/bpf/counters", COUNTERS)
    with pytest.raises(Mismatch, match="value_size is 8, the loader needs 16"):
        pin_or_reuse(root, "/sys/fs/bpf/counters", COUNTERS._replace(value_size=16))


def test_an_unprivileged_reader_gets_the_kernels_eacces(kernel: pinfs.Kernel) -> None:
    pin_or_reuse(kernel.init_task, "/sys/fs/bpf/counters", COUNTERS)
    with pytest.raises(pinfs.KernelError) as info:
        pin_or_reuse(kernel.spawn(uid=1000), "/sys/fs/bpf/counters", COUNTERS)
    assert info.value.errno == errno.EACCES
    assert info.value.function == "generic_permission"  # the check that refused, and why


@settings(max_examples=50)
@given(
    name=pst.names(dotted=False, long=False),
    umask=pst.umasks(),
    entries=st.integers(1, 64),
)
def test_reuse_keeps_one_map_whatever_the_name_and_umask(
    kernel_factory: KernelFactory, name: str, umask: int, entries: int
) -> None:
    kernel = kernel_factory()
    spec = COUNTERS._replace(max_entries=entries)
    path = f"/sys/fs/bpf/{name}"
    for _ in range(3):
        loader = kernel.spawn(uid=0)
        loader.umask(umask)
        pin_or_reuse(loader, path, spec)
        loader.exit()
    maps = [o for o in kernel.objects() if o.kind == "map"]
    assert len(maps) == 1 and maps[0].refcnt == 1  # only the pin holds it
    kernel.check_invariants()


class LoaderMachine(PinningMachine):
    """The loader as one more rule among the kit's random syscalls."""

    @rule(name=st.sampled_from(["counters", "config"]), uid=st.sampled_from([0, 1000]))
    def loader_runs(self, name: str, uid: int) -> None:
        pid = self.driver.spawn(uid=uid)
        task = self.driver.as_task(pid)
        # Refused by the kernel (EACCES for uid 1000) or another shape pinned: both fine.
        with contextlib.suppress(OSError, Mismatch):
            pin_or_reuse(task, f"/sys/fs/bpf/{name}", COUNTERS)
        task.exit()


LoaderMachine.TestCase.settings = settings(max_examples=10, stateful_step_count=20)
TestLoader: Any = LoaderMachine.TestCase
