"""libbpf's, bpftool's and iproute2's procfs readers (pinfs.clients) on pinfs, and the
same calls on the live kernel with identical results (LINUX_6_18)."""

from __future__ import annotations

import errno
from typing import Any

import pytest

import pinfs
from pinfs import clients
from pinfs.base.profiles import LINUX_4_7, LINUX_6_18, SEED
from pinfs.clients import BpfElfMap, BpfMapInfo, scan_field
from pinfs.ebpf.attr import BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PROG_ARRAY
from pinfs.ebpf.prog import RETURN_ZERO

CLONE_NEWNS = 0x00020000


def test_scan_field_is_sscanf() -> None:
    assert scan_field("map_type:\t1\n", "map_type", "u") == 1
    assert scan_field("map_type:1\n", "map_type", "u") == 1  # "\t" matches no space too
    assert scan_field("map_flags:\t0x10\n", "map_flags", "i") == 16
    assert scan_field("map_flags:\t010\n", "map_flags", "i") == 8
    assert scan_field("map_flags:\t0x10\n", "map_flags", "x") == 16
    assert scan_field("map_flags:\t10\n", "map_flags", "x") == 16
    assert scan_field("max_entries:\t-1\n", "max_entries", "u") == 0xFFFFFFFF
    assert scan_field("owner_prog_type:\t1\n", "prog_type", "u") is None
    assert scan_field("key_size:\tx\n", "key_size", "u") is None


def machine(profile: Any = LINUX_6_18, proc: bool = True) -> pinfs.Task:
    return pinfs.Kernel(profile, mount_proc=proc).init_task


def test_libbpf_fallback_on_pinfs() -> None:
    t = machine()
    fd = t.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
    assert clients.bpf_get_map_info_from_fdinfo(t, fd) == BpfMapInfo(1, 4, 8, 16, 0)
    assert clients.bpf_get_map_info_from_fdinfo(t, 77) == -errno.ENOENT


def test_libbpf_fallback_needs_a_kernel_that_prints_map_fields() -> None:
    for profile, expected in ((SEED, BpfMapInfo()), (LINUX_4_7, BpfMapInfo(2, 4, 4, 1, 0))):
        t = machine(profile)
        fd = t.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
        assert clients.bpf_get_map_info_from_fdinfo(t, fd) == expected


def test_clients_without_procfs() -> None:
    t = machine(proc=False)
    fd = t.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
    assert clients.bpf_get_map_info_from_fdinfo(t, fd) == -errno.ENOENT
    assert clients.get_fd_type(t, fd) == -1
    assert clients.bpf_derive_elf_map_from_fdinfo(t, fd) == -errno.EIO
    assert clients.bpf_find_bpffs(t) is None


def test_bpftool_get_fd_type_on_pinfs() -> None:
    t = machine()
    m = t.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
    p = t.prog_load(pinfs.BPF_PROG_TYPE_SOCKET_FILTER, RETURN_ZERO)
    d = t.open("/tmp")
    types = [clients.get_fd_type(t, fd) for fd in (m, p, d, 99)]
    assert types == [clients.BPF_OBJ_MAP, clients.BPF_OBJ_PROG, clients.BPF_OBJ_UNKNOWN, -1]


def test_iproute2_on_pinfs() -> None:
    t = machine()
    assert clients.bpf_find_bpffs(t) is None
    t.mkdir("/tmp/b")
    t.mount("bpf", "/tmp/b", "bpf")
    assert clients.bpf_find_bpffs(t) == "/tmp/b"
    t.mount("bpf", "/sys/fs/bpf", "bpf")
    assert clients.bpf_find_bpffs(t) == "/sys/fs/bpf"  # a known mount point wins
    assert clients.bpf_find_mntpt(t, "bpf", clients.BPF_FS_MAGIC, (), 100) is None
    array = t.map_create(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 2)
    prog = t.prog_load(pinfs.BPF_PROG_TYPE_SOCKET_FILTER, RETURN_ZERO)
    t.map_update_elem(array, b"\0" * 4, prog.to_bytes(4, "little"))
    # owner_jited 1: the 6.18 machine JITs (CONFIG_BPF_JIT_ALWAYS_ON)
    assert clients.bpf_derive_elf_map_from_fdinfo(t, array) == BpfElfMap(3, 4, 4, 2, 0, 1, 1)


# ---------------------------------------------------------------------------------------
# The same on the live kernel


#: conftest's ``live`` fixture mounts the twin's own /proc for this module.
LIVE_MOUNTS_PROC = True


def run_clients(t: Any) -> list[Any]:
    """One session of the three tools; what each returned, jit state normalised."""
    create = getattr(t, "bpf_map_create", None) or t.map_create
    load = getattr(t, "bpf_prog_load", None) or t.prog_load
    update = getattr(t, "bpf_map_update_elem", None) or t.map_update_elem
    out: list[Any] = []
    t.unshare(CLONE_NEWNS)
    out.append(clients.bpf_find_bpffs(t))
    t.mkdir("/tmp/clients-b")
    t.mount("bpf", "/tmp/clients-b", "bpf")
    out.append(clients.bpf_find_bpffs(t))
    t.mount("bpf", "/sys/fs/bpf", "bpf")
    out.append(clients.bpf_find_bpffs(t))
    hash_map = create(int(BPF_MAP_TYPE_HASH), 4, 8, 16)
    array = create(int(BPF_MAP_TYPE_ARRAY), 4, 16, 4)
    prog_array = create(int(BPF_MAP_TYPE_PROG_ARRAY), 4, 4, 2)
    prog = load(int(pinfs.BPF_PROG_TYPE_SOCKET_FILTER), RETURN_ZERO, "GPL")
    update(prog_array, b"\0" * 4, prog.to_bytes(4, "little"))
    for fd in (hash_map, array, prog_array):
        out.append(clients.bpf_get_map_info_from_fdinfo(t, fd))
        derived = clients.bpf_derive_elf_map_from_fdinfo(t, fd)
        assert isinstance(derived, BpfElfMap)
        derived.owner_jited = 0  # pinfs has no JIT
        out.append(derived)
    out.append([clients.get_fd_type(t, fd) for fd in (hash_map, prog, t.open("/tmp"), 99)])
    out.append(clients.bpf_get_map_info_from_fdinfo(t, 99))
    return out


@pytest.mark.live
def test_the_clients_agree_with_the_live_kernel(live: Any) -> None:
    k = pinfs.Kernel(LINUX_6_18, mount_proc=True)
    on_pinfs = run_clients(k.init_task)
    child = live.init_task.fork()
    try:
        on_live = run_clients(child)
    finally:
        child.exit(0)
    assert on_pinfs == on_live
    assert on_pinfs[:3] == [None, "/tmp/clients-b", "/sys/fs/bpf"]
    assert on_pinfs[3] == BpfMapInfo(1, 4, 8, 16, 0)
