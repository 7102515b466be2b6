"""Per-CPU maps: BPF_MAP_TYPE_PERCPU_ARRAY (kernel/bpf/arraymap.c) and
BPF_MAP_TYPE_PERCPU_HASH (kernel/bpf/hashtab.c), as user space sees them.

Every element has one value per possible CPU.  The syscalls move all of them at once:
a lookup copies ``round_up(value_size, 8)`` bytes for each possible CPU into the
caller's buffer, an update reads as many (``bpf_map_value_size``,
``bpf_percpu_array_copy``, ``bpf_percpu_hash_update``).  The storage keeps that
user-visible blob per element; programs, which see their own CPU's slot, do not run
in pinfs.  The CPU count is the kernel's ``num_possible_cpus``.

Not modelled: BPF_F_CPU / BPF_F_ALL_CPUS (not in v6.18: EINVAL like any unknown
flag), percpu allocation failures.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import attrs

from pinfs.base.errors import kernel_error
from pinfs.base.uapi import PAGE_SIZE
from pinfs.ebpf.arraymap import ArrayMap, array_map_alloc
from pinfs.ebpf.attr import (
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH_OF_MAPS,
    BPF_MAP_TYPE_LRU_PERCPU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    BPF_MAP_TYPE_PROG_ARRAY,
)
from pinfs.ebpf.hashtab import HashTab, htab_map_alloc

if TYPE_CHECKING:
    from pinfs.ebpf.objects import BpfMap

#: PCPU_MIN_UNIT_SIZE: the largest per-CPU value (E2BIG beyond).
PCPU_MIN_UNIT_SIZE = 32 << 10
PERCPU_TYPES = (BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_LRU_PERCPU_HASH)
#: Maps whose syscall value is a u32 (an fd in, an id out).
FD_VALUE_TYPES = (
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH_OF_MAPS,
)


def round_up8(size: int) -> int:
    return -(-size // 8) * 8


def percpu_value_size(value_size: int, ncpus: int) -> int:
    """What one element weighs from user space: 8-aligned, once per possible CPU."""
    return round_up8(value_size) * ncpus


def bpf_map_value_size(map: BpfMap) -> int:
    """``bpf_map_value_size``: the size of a syscall's value buffer."""
    if map.map_type in PERCPU_TYPES:
        return percpu_value_size(map.value_size, map.kernel.num_possible_cpus)
    if map.map_type in FD_VALUE_TYPES:
        return 4
    return map.value_size


def check_percpu_value_size(value_size: int) -> None:
    """The per-CPU bound of ``array_map_alloc_check`` / ``htab_map_alloc_check``."""
    if round_up8(value_size) > PCPU_MIN_UNIT_SIZE:
        raise kernel_error(errno.E2BIG)


def _pages(cost: int) -> int:
    return -(-cost // PAGE_SIZE)


@attrs.define
class PercpuArray:
    """``struct bpf_array`` of BPF_MAP_TYPE_PERCPU_ARRAY: the array rules
    (``bpf_percpu_array_update``: flags, then the index E2BIG, BPF_NOEXIST EEXIST; no
    delete) over per-CPU blobs."""

    key_size: int
    value_size: int
    max_entries: int
    pages: int
    cells: ArrayMap  # its value_size is the blob's

    def lookup_elem(self, key: bytes) -> bytes | None:
        return self.cells.lookup_elem(key)

    def update_elem(self, key: bytes, value: bytes, flags: int) -> None:
        self.cells.update_elem(key, value, flags)

    def delete_elem(self, key: bytes) -> None:
        self.cells.delete_elem(key)

    def get_next_key(self, key: bytes) -> bytes:
        return self.cells.get_next_key(key)

    def free(self) -> None:
        self.cells.free()


def percpu_array_map_alloc(
    key_size: int, value_size: int, max_entries: int, ncpus: int
) -> PercpuArray:
    """``array_map_alloc`` with ``percpu``: the array checks, then one 8-aligned value
    per CPU and element.  ``pages`` is v5.10's cost (pointers plus the values)."""
    blob = percpu_value_size(value_size, ncpus)
    cells = array_map_alloc(key_size, blob, max_entries)
    cost = 96 + max_entries * 8 + max_entries * round_up8(value_size) * ncpus
    return PercpuArray(key_size, value_size, max_entries, _pages(cost), cells)


@attrs.define
class PercpuHash:
    """``struct bpf_htab`` of BPF_MAP_TYPE_PERCPU_HASH, preallocated or not: exactly
    ``max_entries`` elements (no extra per-CPU spares), updates in place
    (``htab_map_update_elem_in_place``: flags, check_flags, then E2BIG when full)."""

    key_size: int
    value_size: int
    max_entries: int
    pages: int
    table: HashTab  # its value_size is the blob's

    def lookup_elem(self, key: bytes) -> bytes | None:
        return self.table.lookup_elem(key)

    def update_elem(self, key: bytes, value: bytes, flags: int) -> None:
        self.table.update_elem(key, value, flags, check_flags_first=True, in_place=True)

    def delete_elem(self, key: bytes) -> None:
        self.table.delete_elem(key)

    def get_next_key(self, key: bytes | None) -> bytes:
        return self.table.get_next_key(key)

    def free(self) -> None:
        self.table.free()


def percpu_htab_map_alloc(
    key_size: int, value_size: int, max_entries: int, ncpus: int, key_size_limit: int | None
) -> PercpuHash:
    """``htab_map_alloc`` for PERCPU_HASH.  ``pages`` is v5.10's cost: 16-byte
    buckets, the elements (key and a per-CPU pointer) and the per-CPU values."""
    blob = percpu_value_size(value_size, ncpus)
    table = htab_map_alloc(
        key_size, blob, max_entries, overflow_errno=errno.E2BIG, key_size_limit=key_size_limit
    )
    if max_entries > 1 << 31:
        raise kernel_error(errno.E2BIG)
    elem_size = 48 + round_up8(key_size) + 8
    cost = table.n_buckets * 16 + elem_size * max_entries + blob * max_entries
    return PercpuHash(key_size, value_size, max_entries, _pages(cost), table)


def htab_pages(n_buckets: int, key_size: int, value_size: int, max_entries: int) -> int:
    """v5.10's ``htab_map_alloc`` cost of a hash whose values are not per CPU."""
    elem_size = 48 + round_up8(key_size) + round_up8(value_size)
    return _pages(n_buckets * 16 + elem_size * max_entries)


__all__ = [
    "FD_VALUE_TYPES",
    "PCPU_MIN_UNIT_SIZE",
    "PERCPU_TYPES",
    "PercpuArray",
    "PercpuHash",
    "bpf_map_value_size",
    "check_percpu_value_size",
    "htab_pages",
    "percpu_array_map_alloc",
    "percpu_htab_map_alloc",
    "percpu_value_size",
]
