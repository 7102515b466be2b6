"""The later map types on pinfs alone: per-CPU sizes, LRU bookkeeping, ring buffers,
maps of maps as holders, and the profile switches that gate them.  (What the live
kernel says is in tests/test_map_types_live.py.)"""

from __future__ import annotations

import errno

import attrs
import pytest

import pinfs
from pinfs import svg
from pinfs.base.profiles import LINUX_4_7, LINUX_5_10, LINUX_6_18, SEED
from pinfs.ebpf import attr as uapi
from pinfs.ebpf.lru import ACTIVE, INACTIVE, LruHash
from pinfs.machine.invariants import check_invariants
from snapshot import snapshot
from support import err


def k4(i: int) -> bytes:
    return i.to_bytes(4, "little")


def kernel(cpus: int = 2) -> pinfs.Kernel:
    return pinfs.Kernel(LINUX_6_18, possible_cpus=cpus)


@pytest.mark.parametrize("cpus", [1, 2, 3, 64])
def test_percpu_values_scale_with_possible_cpus(cpus: int) -> None:
    t = kernel(cpus).init_task
    for map_type in (uapi.BPF_MAP_TYPE_PERCPU_ARRAY, uapi.BPF_MAP_TYPE_PERCPU_HASH):
        fd = t.map_create(map_type, 4, 5, 2)
        blob = bytes(range(8 * cpus % 256)).ljust(8 * cpus, b"\1")
        t.map_update_elem(fd, k4(1), blob)
        assert t.map_lookup_elem(fd, k4(1)) == blob
        assert len(t.map_lookup_elem(fd, k4(1))) == 8 * cpus  # round_up(5, 8) per CPU


def test_possible_cpus_is_validated() -> None:
    with pytest.raises(TypeError, match="possible_cpus"):
        pinfs.Kernel(LINUX_6_18, possible_cpus=True)
    with pytest.raises(ValueError, match="possible_cpus"):
        pinfs.Kernel(LINUX_6_18, possible_cpus=0)


@pytest.mark.parametrize(
    ("profile", "available"),
    [(SEED, ()), (LINUX_4_7, (5, 6)), (LINUX_5_10, (5, 6, 9, 10, 12, 13, 27))],
)
def test_map_types_per_profile(
    profile: pinfs.base.profiles.Profile, available: tuple[int, ...]
) -> None:
    k = pinfs.Kernel(profile)
    t = k.init_task
    inf = pinfs.machine.task.RLIM_INFINITY
    t.setrlimit(pinfs.machine.task.RLIMIT_MEMLOCK, inf, inf)
    template = t.map_create(uapi.BPF_MAP_TYPE_HASH, 4, 4, 1)
    for map_type, sizes in {
        5: (4, 4, 2),
        6: (4, 4, 2),
        9: (4, 4, 2),
        10: (4, 4, 2),
        27: (0, 0, 4096),
    }.items():
        result = err(t.map_create, map_type, *sizes)
        assert result == (0 if map_type in available else errno.EINVAL), map_type
    if 12 in available:
        assert t.map_create(12, 4, 4, 2, inner_map_fd=template) >= 0
    check_invariants(k)


def test_lru_capability_before_or_after_the_other_checks() -> None:
    """``lru_map_cap_check``: v5.10 refuses an unprivileged LRU first (EPERM even with
    bad sizes), v6.18 checks the sizes first."""
    results = {}
    for profile in (LINUX_5_10, LINUX_6_18):
        k = pinfs.Kernel(profile, unprivileged_bpf_disabled=0)
        t = k.spawn(uid=1000)
        results[profile.name] = (
            err(t.map_create, uapi.BPF_MAP_TYPE_LRU_HASH, 4, 0, 1),
            err(t.map_create, uapi.BPF_MAP_TYPE_LRU_HASH, 4, 4, 1),
            err(t.map_create, uapi.BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 1),
        )
    assert results == {
        "linux-5.10": (errno.EPERM, errno.EPERM, 0),
        "linux-6.18": (errno.EINVAL, errno.EPERM, 0),
    }


def test_lru_of_a_million_entries_costs_nothing_until_used() -> None:
    t = kernel().init_task
    fd = t.map_create(uapi.BPF_MAP_TYPE_LRU_HASH, 4, 4, 1 << 20)
    for i in range(200):
        t.map_update_elem(fd, k4(i), k4(i))
    storage = t.fd_object(fd).storage  # type: ignore[attr-defined]
    assert isinstance(storage, LruHash)
    assert len(storage.nodes) == 200
    assert storage.lru.lru_list.free.virgin == (1 << 20) - 2 * 128  # two batches taken


def test_lru_node_accounting_stays_exact() -> None:
    """Every node is in exactly one list: the table's, a free list, or pending."""
    t = kernel().init_task
    fd = t.map_create(uapi.BPF_MAP_TYPE_LRU_HASH, 4, 4, 16)
    for i in range(100):
        err(t.map_update_elem, fd, k4(i % 37), k4(i), i % 3)
        if i % 7 == 0:
            err(t.map_delete_elem, fd, k4(i % 11))
    storage = t.fd_object(fd).storage  # type: ignore[attr-defined]
    lru = storage.lru
    listed = (
        len(lru.lru_list.lists[ACTIVE].reverse())
        + len(lru.lru_list.lists[INACTIVE].reverse())
        + len(lru.local[0].pending.reverse())
    )
    free = sum(
        len(fl.reverse()) + fl.virgin
        for fl in (lru.lru_list.free, lru.local[0].free, lru.local[1].free)
    )
    assert listed + free == 16
    assert len(storage.nodes) <= 16


def test_map_of_maps_slots_are_holders() -> None:
    k = kernel()
    t = k.init_task
    template = t.map_create(uapi.BPF_MAP_TYPE_HASH, 4, 8, 4)
    inner = t.map_create(uapi.BPF_MAP_TYPE_HASH, 4, 8, 9)
    aom = t.map_create(uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, inner_map_fd=template)
    hom = t.map_create(uapi.BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 2, inner_map_fd=template)
    t.close(template)  # a template is not held
    t.map_update_elem(aom, k4(1), k4(inner))
    t.map_update_elem(hom, k4(7), k4(inner))
    inner_obj = t.fd_object(inner)
    t.close(inner)
    info = next(o for o in k.objects() if o.obj is inner_obj)
    assert sorted(h.detail for h in info.holders) == [
        f"map {t.fd_object(aom).id}[1]",  # type: ignore[attr-defined]
        f"map {t.fd_object(hom).id}[07000000]",  # type: ignore[attr-defined]
    ]
    assert info.refcnt == 2
    check_invariants(k)
    picture = svg.kernel_svg(k)
    assert picture.count("holder-slot") >= 2
    t.close(aom)  # the outer map is freed and puts its slot
    check_invariants(k)
    t.map_delete_elem(hom, k4(7))  # the last reference: the inner map is freed
    assert inner_obj.freed  # type: ignore[attr-defined]
    check_invariants(k)


def test_failed_map_of_maps_update_changes_nothing() -> None:
    k = kernel()
    t = k.init_task
    template = t.map_create(uapi.BPF_MAP_TYPE_HASH, 4, 8, 4)
    hom = t.map_create(uapi.BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 1, inner_map_fd=template)
    t.map_update_elem(hom, k4(1), k4(template))
    other = t.map_create(uapi.BPF_MAP_TYPE_HASH, 4, 8, 4)
    before = snapshot(k)
    assert err(t.map_update_elem, hom, k4(2), k4(other)) == errno.E2BIG  # full
    assert err(t.map_update_elem, hom, k4(1), k4(other), 1) == errno.EEXIST
    wrong = t.map_create(uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 4)
    after_create = snapshot(k)
    assert err(t.map_update_elem, hom, k4(1), k4(wrong)) == errno.EINVAL
    assert snapshot(k) == after_create
    t.close(wrong)
    assert snapshot(k)["objects"] == before["objects"]
    check_invariants(k)


def test_ringbuf_helpers_and_pins() -> None:
    k = kernel()
    t = k.init_task
    t.mount("bpf", "/sys/fs/bpf", "bpf")
    fd = t.map_create(uapi.BPF_MAP_TYPE_RINGBUF, 0, 0, 1 << 16)
    t.obj_pin(fd, "/sys/fs/bpf/events")
    again = t.obj_get("/sys/fs/bpf/events")
    assert err(t.map_lookup_elem, again, b"") == errno.EINVAL  # a key pointer: EINVAL
    assert err(t.map_get_next_key, again) == 524  # NULL key: ENOTSUPP
    check_invariants(k)


def test_v5_19_gate_narrowing_at_entry() -> None:
    """c8644cd0efe7 (v5.19): with unprivileged_bpf_disabled, an unprivileged task may
    still open a pinned map and read it; MAP_CREATE is EPERM at entry, before even
    CHECK_ATTR looks (v6.5 moved the gate behind the validation)."""
    results = {}
    for gate in ("all", "create_load_at_entry", "map_create_prog_load"):
        profile = attrs.evolve(LINUX_5_10, unpriv_gate_commands=gate)
        k = pinfs.Kernel(profile, unprivileged_bpf_disabled=1)
        root = k.init_task
        root.mount("bpf", "/sys/fs/bpf", "bpf")
        fd = root.map_create(uapi.BPF_MAP_TYPE_ARRAY, 4, 4, 1)
        root.obj_pin(fd, "/sys/fs/bpf/m")
        root.chmod("/sys/fs/bpf/m", 0o666)
        user = k.spawn(uid=1000)
        opened = err(user.obj_get, "/sys/fs/bpf/m", uapi.BPF_F_RDONLY)
        bad_size = err(user.map_create, uapi.BPF_MAP_TYPE_HASH, 0, 4, 1)
        results[gate] = (opened, bad_size)
    assert results == {
        "all": (errno.EPERM, errno.EPERM),
        "create_load_at_entry": (0, errno.EPERM),
        "map_create_prog_load": (0, errno.EPERM),  # 5.10 has no map_alloc_check_before_gate
    }
