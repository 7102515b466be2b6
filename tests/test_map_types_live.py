"""The later map types -- per-CPU, LRU, ring buffer, maps of maps -- on pinfs
(LINUX_6_18, 2 possible CPUs) beside the live 6.18 kernel, through the same raw
bpf(2) calls on both sides.

The live task is pinned to CPU 0 (``sched_setaffinity``): the LRU's lists are per
CPU, and pinfs runs every syscall on CPU 0.  Ids differ between the sides, so they
are compared by relation (the id a lookup returns is the id the info shows).
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import pinfs
from pinfs.base.profiles import LINUX_6_18
from pinfs.ebpf.attr import (
    BPF_F_INNER_MAP,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_NUMA_NODE,
    BPF_F_RDONLY_PROG,
    BPF_MAP_CREATE,
    BPF_MAP_DELETE_ELEM,
    BPF_MAP_FREEZE,
    BPF_MAP_GET_FD_BY_ID,
    BPF_MAP_GET_NEXT_KEY,
    BPF_MAP_LOOKUP_AND_DELETE_ELEM,
    BPF_MAP_LOOKUP_ELEM,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_HASH_OF_MAPS,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_LRU_PERCPU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAP_TYPE_RINGBUF,
    BPF_MAP_UPDATE_ELEM,
    BPF_OBJ_GET_INFO_BY_FD,
)
from pinfs.live.kernel import LiveKernel
from test_modern_live import LiveRaw, PinfsRaw, Raw, call

pytestmark = pytest.mark.live

Sides = list[tuple[str, Raw, Raw]]


@pytest.fixture
def sides(live: LiveKernel) -> Iterator[Sides]:
    """(name, root, user) for pinfs and the live kernel, root pinned to CPU 0."""
    k = pinfs.Kernel(LINUX_6_18, possible_cpus=NCPUS)
    live_root, live_user = live.init_task.fork(), live.spawn(uid=1000)
    os.sched_setaffinity(live_root.host_pid, {0})
    yield [
        ("pinfs", PinfsRaw(k.spawn(uid=0)), PinfsRaw(k.spawn(uid=1000))),
        ("live", LiveRaw(live_root), LiveRaw(live_user)),
    ]
    live_root.exit(0)
    live_user.exit(0)


def both(sides: Sides, script: Callable[[Raw, Raw], Any]) -> Any:
    results = {name: script(root, user) for name, root, user in sides}
    assert results["pinfs"] == results["live"], results
    return results["pinfs"]


def outcome(result: int) -> int | str:
    """A return value, or the errno's name."""
    return result if result >= 0 else errno.errorcode.get(-result, str(-result))


def create(
    side: Raw, map_type: int, ks: int, vs: int, n: int, flags: int = 0, inner: int = 0
) -> int:
    return call(side, BPF_MAP_CREATE, struct.pack("<6I", map_type, ks, vs, n, flags, inner))[0]


def elem(
    side: Raw,
    cmd: int,
    fd: int,
    key: bytes | None,
    value: bytes | None = None,
    flags: int = 0,
    out: int = 0,
) -> int | str | bytes:
    """An element command: ``key``/``value`` None pass NULL; ``out`` > 0 reserves a
    value buffer of that size and returns what the kernel wrote there."""
    addresses = []

    def put(data: bytes) -> int:
        addresses.append(side.alloc(data or b"\0"))
        return addresses[-1]

    try:
        kaddr = 0 if key is None else put(key)
        vaddr = put(bytes(out)) if out else (0 if value is None else put(value))
        result, _ = call(side, cmd, struct.pack("<IIQQQ", fd, 0, kaddr, vaddr, flags))
        if result < 0 or not out:
            return outcome(result)
        return side.read(vaddr, out)
    finally:
        for address in addresses:
            side.free(address)


def k4(i: int) -> bytes:
    return struct.pack("<I", i)


def map_info(side: Raw, fd: int) -> tuple[int, ...]:
    """(type, id, key_size, value_size, max_entries, map_flags) from the info."""
    buf = side.alloc(bytes(88))
    try:
        result, _ = call(side, BPF_OBJ_GET_INFO_BY_FD, struct.pack("<IIQ", fd, 88, buf))
        assert result == 0, result
        return struct.unpack_from("<6I", side.read(buf, 24))
    finally:
        side.free(buf)


def present(side: Raw, fd: int, keys: range, out: int = 4) -> list[int]:
    return [i for i in keys if elem(side, BPF_MAP_LOOKUP_ELEM, fd, k4(i), out=out) != "ENOENT"]


def _possible_cpus() -> int:
    """``num_possible_cpus`` of this machine (/sys/devices/system/cpu/possible)."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            spec = f.read().strip()
    except OSError:
        return os.cpu_count() or 1
    count = 0
    for part in spec.split(","):
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return count


NCPUS = _possible_cpus()
BLOB = 8 * NCPUS  # a 4-byte per-CPU value from user space

# map_create cases: (name, map_type, key_size, value_size, max_entries, flags)
CREATE_CASES = [
    ("percpu_hash", BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 4, 0),
    ("percpu_hash value 32 KiB", BPF_MAP_TYPE_PERCPU_HASH, 4, 32768, 4, 0),
    ("percpu_hash value 32 KiB + 1", BPF_MAP_TYPE_PERCPU_HASH, 4, 32769, 4, 0),
    ("percpu_hash NO_COMMON_LRU", BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 4, BPF_F_NO_COMMON_LRU),
    ("percpu_hash NUMA_NODE", BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 4, BPF_F_NUMA_NODE),
    ("percpu_hash NO_PREALLOC", BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 4, BPF_F_NO_PREALLOC),
    ("percpu_array", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 4, 0),
    ("percpu_array value 32 KiB + 1", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 32769, 4, 0),
    ("percpu_array MMAPABLE", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 4, 1 << 10),
    ("percpu_array NUMA_NODE", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 4, BPF_F_NUMA_NODE),
    ("percpu_array key 8", BPF_MAP_TYPE_PERCPU_ARRAY, 8, 8, 4, 0),
    ("lru", BPF_MAP_TYPE_LRU_HASH, 4, 8, 4, 0),
    ("lru NO_PREALLOC", BPF_MAP_TYPE_LRU_HASH, 4, 8, 4, BPF_F_NO_PREALLOC),
    ("lru NO_COMMON_LRU", BPF_MAP_TYPE_LRU_HASH, 4, 8, 3, BPF_F_NO_COMMON_LRU),
    ("lru NUMA_NODE", BPF_MAP_TYPE_LRU_HASH, 4, 8, 4, BPF_F_NUMA_NODE),
    ("lru key 0", BPF_MAP_TYPE_LRU_HASH, 0, 8, 4, 0),
    ("lru_percpu NO_COMMON_LRU", BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 8, 3, BPF_F_NO_COMMON_LRU),
    ("lru_percpu NO_COMMON_LRU NUMA", BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 8, 3, 6),
    ("ringbuf", BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0),
    ("ringbuf key 4", BPF_MAP_TYPE_RINGBUF, 4, 0, 4096, 0),
    ("ringbuf value 4", BPF_MAP_TYPE_RINGBUF, 0, 4, 4096, 0),
    ("ringbuf 3 pages", BPF_MAP_TYPE_RINGBUF, 0, 0, 3 * 4096, 0),
    ("ringbuf half a page", BPF_MAP_TYPE_RINGBUF, 0, 0, 2048, 0),
    ("ringbuf 0", BPF_MAP_TYPE_RINGBUF, 0, 0, 0, 0),
    ("ringbuf NUMA_NODE", BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, BPF_F_NUMA_NODE),
    ("ringbuf NO_PREALLOC", BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, BPF_F_NO_PREALLOC),
    ("array_of_maps no template", BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 4, 0),
    ("hash_of_maps no template", BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 4, 0),
    ("array_of_maps value 8", BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 8, 4, 0),
    ("hash_of_maps value 8", BPF_MAP_TYPE_HASH_OF_MAPS, 4, 8, 4, 0),
]


def test_map_create_checks_agree(sides: Sides) -> None:
    """``htab_map_alloc_check``, ``array_map_alloc_check``, ``ringbuf_map_alloc``,
    ``fd_htab_map_alloc_check`` and the unprivileged gate between them (the host
    runs with unprivileged_bpf_disabled=2, as LINUX_6_18 boots)."""

    def script(root: Raw, user: Raw) -> Any:
        out = []
        for name, *args in CREATE_CASES:
            results = []
            for side in (root, user):
                fd = create(side, *args)
                results.append(map_info(side, fd)[4] if fd >= 0 else outcome(fd))
                if fd >= 0:
                    side.close(fd)
            out.append((name, *results))
        return out

    both(sides, script)


def test_map_in_map_templates(sides: Sides) -> None:
    """``bpf_map_meta_alloc``: a map of maps is no template (EINVAL), a PROG_ARRAY
    neither (ENOTSUPP); an fd that is no map is EINVAL, a closed one EBADF;
    BPF_F_INNER_MAP belongs to arrays."""

    def script(root: Raw, user: Raw) -> Any:
        templates = {
            "hash": create(root, BPF_MAP_TYPE_HASH, 4, 8, 4),
            "lru": create(root, BPF_MAP_TYPE_LRU_HASH, 4, 8, 4),
            "percpu_array": create(root, BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 4),
            "prog_array": create(root, BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4),
            "perf": create(root, BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 4),
            "ringbuf": create(root, BPF_MAP_TYPE_RINGBUF, 0, 0, 4096),
        }
        templates["array_of_maps"] = create(
            root, BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, 0, templates["hash"]
        )
        out = []
        for name, fd in templates.items():
            for outer in (BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS):
                result = create(root, outer, 4, 4, 2, 0, fd)
                out.append((name, outer, outcome(result) if result < 0 else "ok"))
                if result >= 0:
                    root.close(result)
        inner_flag = create(root, BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, BPF_F_INNER_MAP, fd)
        closed = create(root, BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 2, 0, 999)
        for fd in templates.values():
            root.close(fd)
        return out, outcome(inner_flag), outcome(closed)

    both(sides, script)


def test_percpu_values_are_per_possible_cpu(sides: Sides) -> None:
    """``bpf_map_value_size``: lookups and updates move round_up(value_size, 8) bytes
    per possible CPU; the array rules (E2BIG, EEXIST, no delete) and the hash rules
    (E2BIG when full, ENOENT for BPF_EXIST) on top."""

    def script(root: Raw, user: Raw) -> Any:
        blob = bytes(range(BLOB))
        arr = create(root, BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 2)
        htab = create(root, BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 2)
        out = [
            elem(root, BPF_MAP_LOOKUP_ELEM, arr, k4(0), out=BLOB),
            elem(root, BPF_MAP_UPDATE_ELEM, arr, k4(1), blob),
            elem(root, BPF_MAP_LOOKUP_ELEM, arr, k4(1), out=BLOB),
            elem(root, BPF_MAP_DELETE_ELEM, arr, k4(1)),
            elem(root, BPF_MAP_UPDATE_ELEM, arr, k4(2), blob),
            elem(root, BPF_MAP_UPDATE_ELEM, arr, k4(0), blob, flags=1),
            elem(root, BPF_MAP_UPDATE_ELEM, arr, k4(0), blob, flags=3),
            elem(root, BPF_MAP_LOOKUP_AND_DELETE_ELEM, arr, k4(1), out=BLOB),
            [elem(root, BPF_MAP_LOOKUP_ELEM, arr, k4(1), flags=f, out=BLOB) for f in (4, 8, 16)],
            elem(root, BPF_MAP_UPDATE_ELEM, htab, k4(1), blob),
            elem(root, BPF_MAP_LOOKUP_ELEM, htab, k4(1), out=BLOB),
            elem(root, BPF_MAP_UPDATE_ELEM, htab, k4(2), bytes(BLOB)),
            elem(root, BPF_MAP_UPDATE_ELEM, htab, k4(3), bytes(BLOB)),
            elem(root, BPF_MAP_UPDATE_ELEM, htab, k4(3), bytes(BLOB), flags=2),
            elem(root, BPF_MAP_UPDATE_ELEM, htab, k4(1), blob[::-1], flags=2),
            elem(root, BPF_MAP_LOOKUP_AND_DELETE_ELEM, htab, k4(1), out=BLOB),
            elem(root, BPF_MAP_LOOKUP_ELEM, htab, k4(1), out=BLOB),
            elem(root, BPF_MAP_LOOKUP_AND_DELETE_ELEM, htab, k4(2), flags=4, out=BLOB),
            map_info(root, arr)[2:],
        ]
        root.close(arr)
        root.close(htab)
        return out

    both(sides, script)


LRU_RUNS = [  # (map_type, max_entries, flags, keys inserted)
    (BPF_MAP_TYPE_LRU_HASH, 4, 0, 10),
    (BPF_MAP_TYPE_LRU_HASH, 10, 0, 30),
    (BPF_MAP_TYPE_LRU_HASH, 300, 0, 400),
    (BPF_MAP_TYPE_LRU_HASH, 257, 0, 600),
    (BPF_MAP_TYPE_LRU_HASH, 4, BPF_F_NO_COMMON_LRU, 10),
    (BPF_MAP_TYPE_LRU_PERCPU_HASH, 3, BPF_F_NO_COMMON_LRU, 10),
    (BPF_MAP_TYPE_LRU_PERCPU_HASH, 6, BPF_F_NO_COMMON_LRU, 10),
    (BPF_MAP_TYPE_LRU_PERCPU_HASH, 8, 0, 20),
]


def _runs(keys: list[int]) -> list[tuple[int, int]]:
    """Keys as (first, last) runs, for short failure messages."""
    runs: list[list[int]] = []
    for i in keys:
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return [(a, b) for a, b in runs]


@pytest.mark.parametrize(("map_type", "max_entries", "flags", "total"), LRU_RUNS)
def test_lru_evicts_the_same_keys(
    sides: Sides, map_type: int, max_entries: int, flags: int, total: int
) -> None:
    """Filling an LRU map past ``max_entries`` never fails, and the same keys survive
    (``bpf_common_lru_pop_free`` / ``bpf_percpu_lru_pop_free``: batches of
    ``target_free``, the local pending list, PERCPU_FREE_TARGET)."""
    out = BLOB if map_type == BPF_MAP_TYPE_LRU_PERCPU_HASH else 4

    def script(root: Raw, user: Raw) -> Any:
        fd = create(root, map_type, 4, 4, max_entries, flags)
        results = {elem(root, BPF_MAP_UPDATE_ELEM, fd, k4(i), bytes(out)) for i in range(total)}
        kept = _runs(present(root, fd, range(total), out))
        root.close(fd)
        return results, kept

    results, kept = both(sides, script)
    assert results == {0}
    survivors = sum(last - first + 1 for first, last in kept)
    assert 0 < survivors <= max_entries + NCPUS  # NO_COMMON_LRU rounds up per CPU
    assert kept[-1][1] == total - 1  # the newest key is always there


def test_lru_failed_updates_still_evict_and_replaced_keys_are_referenced(sides: Sides) -> None:
    """``htab_lru_map_update_elem`` takes a node before ``check_flags``: an EEXIST or
    ENOENT update on a full map has already evicted; a replaced element is marked
    referenced and outlives older ones; deleted nodes are reused first."""

    def script(root: Raw, user: Raw) -> Any:
        fd = create(root, BPF_MAP_TYPE_LRU_HASH, 4, 4, 8)
        steps: list[Any] = [elem(root, BPF_MAP_UPDATE_ELEM, fd, k4(i), k4(i)) for i in range(8)]
        steps.append(elem(root, BPF_MAP_UPDATE_ELEM, fd, k4(7), k4(0), flags=1))
        steps.append(elem(root, BPF_MAP_UPDATE_ELEM, fd, k4(100), k4(0), flags=2))
        steps.append(_runs(present(root, fd, range(101))))
        for i in (2, 3):  # replace: new elements with the reference bit
            steps.append(elem(root, BPF_MAP_UPDATE_ELEM, fd, k4(i), k4(9), flags=2))
        steps.append(elem(root, BPF_MAP_DELETE_ELEM, fd, k4(5)))
        steps.extend(elem(root, BPF_MAP_UPDATE_ELEM, fd, k4(i), k4(i)) for i in range(20, 34))
        steps.append(_runs(present(root, fd, range(40))))
        steps.append(elem(root, BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, k4(33), out=4))
        steps.append(_runs(present(root, fd, range(40))))
        root.close(fd)
        pfd = create(root, BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 4, 4, BPF_F_NO_COMMON_LRU)
        for i in range(4):
            steps.append(elem(root, BPF_MAP_UPDATE_ELEM, pfd, k4(i), bytes(BLOB)))
        steps.append(elem(root, BPF_MAP_UPDATE_ELEM, pfd, k4(2), bytes(BLOB), flags=2))
        steps.append(elem(root, BPF_MAP_UPDATE_ELEM, pfd, k4(9), bytes(BLOB), flags=2))
        steps.extend(elem(root, BPF_MAP_UPDATE_ELEM, pfd, k4(i), bytes(BLOB)) for i in (5, 6))
        steps.append(_runs(present(root, pfd, range(10), BLOB)))
        root.close(pfd)
        return steps

    both(sides, script)


def test_ringbuf_has_no_elements(sides: Sides) -> None:
    """``__bpf_copy_key`` with key_size 0 (a non-NULL key: EINVAL), then the ring
    buffer's element operations: ENOTSUPP; freezing works."""

    def script(root: Raw, user: Raw) -> Any:
        fd = create(root, BPF_MAP_TYPE_RINGBUF, 0, 0, 4096)
        out = []
        for cmd in (
            BPF_MAP_LOOKUP_ELEM,
            BPF_MAP_UPDATE_ELEM,
            BPF_MAP_DELETE_ELEM,
            BPF_MAP_GET_NEXT_KEY,
            BPF_MAP_LOOKUP_AND_DELETE_ELEM,
        ):
            value = None if cmd == BPF_MAP_DELETE_ELEM else b"\0"
            out.append((elem(root, cmd, fd, b"\0", value), elem(root, cmd, fd, None, value)))
        out.append(call(root, BPF_MAP_FREEZE, struct.pack("<I", fd))[0])
        out.append(map_info(root, fd)[2:])
        root.close(fd)
        return out

    both(sides, script)


def test_map_of_maps_slots_hold_maps(sides: Sides) -> None:
    """``bpf_map_fd_get_ptr`` + ``map_meta_equal``; a lookup gives the inner map's id;
    a slot keeps the inner map alive after its fd is closed; ``bpf_fd_htab_map_update_elem``
    resolves the fd before the hash's flag and capacity checks."""

    def script(root: Raw, user: Raw) -> Any:
        template = create(root, BPF_MAP_TYPE_HASH, 4, 8, 4)
        bigger = create(root, BPF_MAP_TYPE_HASH, 4, 8, 5)
        array = create(root, BPF_MAP_TYPE_ARRAY, 4, 8, 4)
        ro = create(root, BPF_MAP_TYPE_HASH, 4, 8, 4, BPF_F_RDONLY_PROG)
        aom = create(root, BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, 0, template)
        hom = create(root, BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 2, 0, template)
        bigger_id = map_info(root, bigger)[1]
        steps: list[Any] = [
            elem(root, BPF_MAP_LOOKUP_ELEM, aom, k4(0), out=4),
            elem(root, BPF_MAP_UPDATE_ELEM, aom, k4(0), k4(bigger)),
            elem(root, BPF_MAP_UPDATE_ELEM, aom, k4(1), k4(array)),
            elem(root, BPF_MAP_UPDATE_ELEM, aom, k4(1), k4(ro)),
            elem(root, BPF_MAP_UPDATE_ELEM, aom, k4(1), k4(999)),
            elem(root, BPF_MAP_UPDATE_ELEM, aom, k4(1), k4(template), flags=1),
            elem(root, BPF_MAP_UPDATE_ELEM, aom, k4(2), k4(template)),
            elem(root, BPF_MAP_UPDATE_ELEM, aom, k4(1), k4(aom)),
            elem(root, BPF_MAP_LOOKUP_AND_DELETE_ELEM, aom, k4(0), out=4),
            elem(root, BPF_MAP_UPDATE_ELEM, hom, k4(5), k4(bigger)),
            elem(root, BPF_MAP_UPDATE_ELEM, hom, k4(6), k4(template)),
            elem(root, BPF_MAP_UPDATE_ELEM, hom, k4(7), k4(template)),
            elem(root, BPF_MAP_UPDATE_ELEM, hom, k4(7), k4(999)),
            elem(root, BPF_MAP_UPDATE_ELEM, hom, k4(5), k4(template), flags=1),
            elem(root, BPF_MAP_UPDATE_ELEM, hom, k4(8), k4(999), flags=1),
            elem(root, BPF_MAP_LOOKUP_AND_DELETE_ELEM, hom, k4(5), out=4),
        ]
        root.close(bigger)  # the slots still hold it
        for outer in (aom, hom):
            key = k4(0) if outer == aom else k4(5)
            found = elem(root, BPF_MAP_LOOKUP_ELEM, outer, key, out=4)
            steps.append(isinstance(found, bytes) and struct.unpack("<I", found)[0] == bigger_id)
        by_id, _ = call(root, BPF_MAP_GET_FD_BY_ID, struct.pack("<I", bigger_id))
        steps.append(map_info(root, by_id)[4] if by_id >= 0 else outcome(by_id))
        root.close(by_id)
        steps += [
            elem(root, BPF_MAP_DELETE_ELEM, aom, k4(0)),
            elem(root, BPF_MAP_DELETE_ELEM, aom, k4(0)),
            elem(root, BPF_MAP_DELETE_ELEM, aom, k4(7)),
            elem(root, BPF_MAP_DELETE_ELEM, hom, k4(5)),
            elem(root, BPF_MAP_DELETE_ELEM, hom, k4(5)),
        ]
        gone, _ = call(root, BPF_MAP_GET_FD_BY_ID, struct.pack("<I", bigger_id))
        steps.append(outcome(gone))
        steps.append((map_info(root, aom)[2:], map_info(root, hom)[2:]))
        for fd in (template, array, ro, aom, hom):
            root.close(fd)
        return steps

    both(sides, script)
