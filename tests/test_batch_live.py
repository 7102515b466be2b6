"""The batch element commands on pinfs (LINUX_6_18) beside the live 6.18 kernel:
``generic_map_{lookup,update,delete}_batch`` and the hash tables' bucket walks
(``__htab_map_lookup_and_delete_batch``), with what they write back (``count``,
``out_batch``, keys, values).  Hash maps use BPF_F_ZERO_SEED so that both kernels put
keys in the same buckets; the live task is pinned to CPU 0 (the LRU lists)."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import Any

import pytest

import pinfs
from pinfs.base.profiles import LINUX_6_18
from pinfs.ebpf.attr import (
    BPF_F_ZERO_SEED,
    BPF_MAP_DELETE_BATCH,
    BPF_MAP_LOOKUP_AND_DELETE_BATCH,
    BPF_MAP_LOOKUP_BATCH,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_HASH_OF_MAPS,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAP_TYPE_RINGBUF,
    BPF_MAP_UPDATE_BATCH,
)
from pinfs.live.kernel import LiveKernel
from test_map_types_live import NCPUS, create, outcome
from test_modern_live import LiveRaw, PinfsRaw, Raw, call

pytestmark = pytest.mark.live


@pytest.fixture
def sides(live: LiveKernel) -> Iterator[list[tuple[str, Raw]]]:
    root = live.init_task.fork()
    os.sched_setaffinity(root.host_pid, {0})
    k = pinfs.Kernel(LINUX_6_18, possible_cpus=NCPUS)
    yield [("pinfs", PinfsRaw(k.init_task)), ("live", LiveRaw(root))]
    root.exit(0)


def batch(
    side: Raw,
    cmd: int,
    fd: int,
    count: int,
    sizes: tuple[int, int],
    keys: bytes = b"",
    values: bytes = b"",
    in_batch: bytes | None = None,
    elem_flags: int = 0,
    flags: int = 0,
) -> tuple[Any, ...]:
    """One batch call: (result, count after, out_batch, keys and values written)."""
    key_size, value_size = sizes
    room = max(count, 1)
    kbuf = side.alloc(keys.ljust(key_size * room, b"\0") or b"\0")
    vbuf = side.alloc(values.ljust(value_size * room, b"\0") or b"\0")
    ibuf = 0 if in_batch is None else side.alloc(in_batch)
    obuf = side.alloc(bytes(8))
    try:
        attr = struct.pack("<QQQQIIQQ", ibuf, obuf, kbuf, vbuf, count, fd, elem_flags, flags)
        result, after = call(side, cmd, attr)
        written = struct.unpack_from("<I", after, 32)[0]
        shown = min(written, room)
        return (
            outcome(result) if result < 0 else result,
            written,
            side.read(obuf, 4).hex(),
            side.read(kbuf, key_size * shown).hex(),
            side.read(vbuf, value_size * shown).hex(),
        )
    finally:
        for buf in (kbuf, vbuf, obuf) + ((ibuf,) if ibuf else ()):
            side.free(buf)


def u32s(*values: int) -> bytes:
    return b"".join(struct.pack("<I", v) for v in values)


def test_hash_batches_walk_the_same_buckets(sides: list[tuple[str, Raw]]) -> None:
    def script(side: Raw) -> Any:
        fd = create(side, BPF_MAP_TYPE_HASH, 4, 8, 64, BPF_F_ZERO_SEED)
        keys = u32s(*range(40))
        values = b"".join(struct.pack("<Q", i * 3) for i in range(40))
        hs = (4, 8)
        out = [
            batch(side, BPF_MAP_UPDATE_BATCH, fd, 40, hs, keys, values),
            batch(side, BPF_MAP_UPDATE_BATCH, fd, 2, hs, keys, values, elem_flags=1),
            batch(side, BPF_MAP_UPDATE_BATCH, fd, 0, hs, keys, values),
        ]
        out += [batch(side, BPF_MAP_LOOKUP_BATCH, fd, n, hs) for n in (1, 2, 3, 5, 64)]
        out.append(batch(side, BPF_MAP_LOOKUP_BATCH, fd, 6, hs, in_batch=u32s(3)))
        out.append(batch(side, BPF_MAP_LOOKUP_BATCH, fd, 6, hs, in_batch=u32s(64)))
        out.append(batch(side, BPF_MAP_LOOKUP_BATCH, fd, 6, hs, flags=1))
        out.append(batch(side, BPF_MAP_DELETE_BATCH, fd, 3, hs, u32s(5, 100, 9)))
        out.append(batch(side, BPF_MAP_LOOKUP_AND_DELETE_BATCH, fd, 7, hs))
        out.append(batch(side, BPF_MAP_LOOKUP_AND_DELETE_BATCH, fd, 64, hs))
        out.append(batch(side, BPF_MAP_LOOKUP_BATCH, fd, 64, hs))
        side.close(fd)
        return out

    results = {name: script(side) for name, side in sides}
    assert results["pinfs"] == results["live"], results


def test_batches_of_the_other_types(sides: list[tuple[str, Raw]]) -> None:
    def script(side: Raw) -> Any:
        out = []
        arr = create(side, BPF_MAP_TYPE_ARRAY, 4, 8, 4)
        out.append(batch(side, BPF_MAP_UPDATE_BATCH, arr, 2, (4, 8), u32s(1, 7), bytes(16)))
        out.append(batch(side, BPF_MAP_LOOKUP_BATCH, arr, 3, (4, 8)))
        out.append(batch(side, BPF_MAP_LOOKUP_BATCH, arr, 3, (4, 8), in_batch=u32s(2)))
        out.append(batch(side, BPF_MAP_DELETE_BATCH, arr, 1, (4, 8), u32s(1)))
        out.append(batch(side, BPF_MAP_LOOKUP_AND_DELETE_BATCH, arr, 1, (4, 8)))
        blob = 8 * NCPUS
        pa = create(side, BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 2)
        out.append(batch(side, BPF_MAP_UPDATE_BATCH, pa, 1, (4, blob), u32s(1), bytes(range(blob))))
        out.append(batch(side, BPF_MAP_LOOKUP_BATCH, pa, 5, (4, blob)))
        ph = create(side, BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 8, BPF_F_ZERO_SEED)
        out.append(batch(side, BPF_MAP_UPDATE_BATCH, ph, 2, (4, blob), u32s(3, 4), bytes(2 * blob)))
        out.append(batch(side, BPF_MAP_LOOKUP_AND_DELETE_BATCH, ph, 8, (4, blob)))
        lru = create(side, BPF_MAP_TYPE_LRU_HASH, 4, 4, 4, BPF_F_ZERO_SEED)
        out.append(batch(side, BPF_MAP_UPDATE_BATCH, lru, 9, (4, 4), u32s(*range(9)), bytes(36)))
        out.append(batch(side, BPF_MAP_LOOKUP_BATCH, lru, 8, (4, 4)))
        template = create(side, BPF_MAP_TYPE_HASH, 4, 8, 4)
        aom = create(side, BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 3, 0, template)
        hom = create(side, BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 3, BPF_F_ZERO_SEED, template)
        for outer in (aom, hom):
            out.append(batch(side, BPF_MAP_UPDATE_BATCH, outer, 1, (4, 4), u32s(1), u32s(template)))
            result = batch(side, BPF_MAP_LOOKUP_BATCH, outer, 3, (4, 4))
            out.append(result[:4])  # the value is the inner map's id
        for map_type, sizes in (
            (BPF_MAP_TYPE_PROG_ARRAY, (4, 4, 2)),
            (BPF_MAP_TYPE_RINGBUF, (0, 0, 4096)),
        ):
            fd = create(side, map_type, *sizes)
            out.append([batch(side, cmd, fd, 1, (4, 4)) for cmd in range(24, 28)])
        return out

    results = {name: script(side) for name, side in sides}
    assert results["pinfs"] == results["live"], results
