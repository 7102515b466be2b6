"""S2: writing kernel.unprivileged_bpf_disabled (kernel/sysctl.c, proc_dointvec_minmax)."""

from __future__ import annotations

import errno

import pytest

import pinfs
from pinfs.ebpf.attr import BPF_MAP_TYPE_ARRAY


def _err(fn, *args) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(OSError) as info:
        fn(*args)
    return info.value.errno or 0


def test_s2_only_one_can_be_written_and_it_sticks_proc_dointvec_minmax() -> None:
    k = pinfs.Kernel()
    root = k.init_task
    name = "kernel.unprivileged_bpf_disabled"
    assert _err(root.sysctl_write, name, 0) == errno.EINVAL  # min = max = 1
    assert _err(root.sysctl_write, name, 2) == errno.EINVAL
    assert k.sysctl[name] == 0
    root.sysctl_write(name, 1)
    assert _err(root.sysctl_write, name, 0) == errno.EINVAL  # one-way
    assert k.sysctl[name] == 1


def test_s2_the_file_is_roots_0644_test_perm() -> None:
    k = pinfs.Kernel()
    user = k.spawn(uid=1000, caps=[pinfs.base.cred.CAP_DAC_OVERRIDE])
    assert _err(user.sysctl_write, "kernel.unprivileged_bpf_disabled", 1) == errno.EACCES
    assert k.sysctl["kernel.unprivileged_bpf_disabled"] == 0


def test_s1_after_the_write_unprivileged_bpf_is_eperm_sys_bpf() -> None:
    k = pinfs.Kernel()
    user = k.spawn(uid=1000)
    fd = user.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1)  # allowed while the sysctl is 0
    k.init_task.sysctl_write("kernel.unprivileged_bpf_disabled", 1)
    assert _err(user.map_create, BPF_MAP_TYPE_ARRAY, 4, 4, 1) == errno.EPERM
    assert _err(user.map_lookup_elem, fd, b"\0" * 4) == errno.EPERM  # every command
    assert k.init_task.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1) >= 0  # CAP_SYS_ADMIN passes
    k.check_invariants()


def test_unknown_sysctl_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        pinfs.Kernel().init_task.sysctl_write("kernel.nope", 1)
