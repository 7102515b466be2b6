"""``find_and_alloc_map`` for every modelled map type: the seed's four
(:func:`pinfs.ebpf.objects.find_and_alloc_map`) and the later ones -- per-CPU
(:mod:`pinfs.ebpf.percpu`), LRU (:mod:`pinfs.ebpf.lru`), ring buffers
(:mod:`pinfs.ebpf.ringbuf`) and maps of maps (:mod:`pinfs.ebpf.mapinmap`).

A type the profile's kernel lacks (``Profile.map_types``) is EINVAL.  The type's
``map_alloc_check`` ran before (:func:`pinfs.ebpf.mapcreate.map_alloc_check`, where
the profile has ``map_flags``); what follows is each ``map_alloc``.
"""

from __future__ import annotations

import errno
from typing import Any

from pinfs.base.errors import kernel_error
from pinfs.ebpf.arraymap import fd_array_map_alloc
from pinfs.ebpf.attr import (
    BPF_F_NO_COMMON_LRU,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH_OF_MAPS,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_LRU_PERCPU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_MAP_TYPE_RINGBUF,
)
from pinfs.ebpf.context import BpfTask
from pinfs.ebpf.hashtab import htab_map_alloc
from pinfs.ebpf.lru import lru_map_alloc
from pinfs.ebpf.mapinmap import ArrayOfMaps, HashOfMaps, MapMeta, bpf_map_meta_alloc
from pinfs.ebpf.objects import bpf_map_fdget, find_and_alloc_map
from pinfs.ebpf.percpu import htab_pages, percpu_array_map_alloc, percpu_htab_map_alloc
from pinfs.ebpf.ringbuf import ringbuf_map_alloc


def map_alloc(task: BpfTask, attr: dict[str, int]) -> Any:
    """The storage of the map ``attr`` describes (the type's ``map_alloc``)."""
    kernel = task.kernel
    map_type = attr["map_type"]
    if map_type not in kernel.profile.map_types:
        raise kernel_error(errno.EINVAL)
    key_size, value_size, max_entries = attr["key_size"], attr["value_size"], attr["max_entries"]
    ncpus, key_limit = kernel.num_possible_cpus, kernel.profile.htab_key_size_limit
    if map_type == BPF_MAP_TYPE_PERCPU_ARRAY:
        return percpu_array_map_alloc(key_size, value_size, max_entries, ncpus)
    if map_type == BPF_MAP_TYPE_PERCPU_HASH:
        return percpu_htab_map_alloc(key_size, value_size, max_entries, ncpus, key_limit)
    if map_type in (BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH):
        return lru_map_alloc(
            key_size,
            value_size,
            max_entries,
            percpu=map_type == BPF_MAP_TYPE_LRU_PERCPU_HASH,
            percpu_lru=bool(attr.get("map_flags", 0) & BPF_F_NO_COMMON_LRU),
            ncpus=ncpus,
            key_size_limit=key_limit,
        )
    if map_type == BPF_MAP_TYPE_RINGBUF:
        return ringbuf_map_alloc(attr)
    if map_type == BPF_MAP_TYPE_ARRAY_OF_MAPS:
        meta = _inner_map_meta(task, attr)
        array = fd_array_map_alloc(key_size, value_size, max_entries)
        return ArrayOfMaps(max_entries=array.max_entries, pages=array.pages, inner_meta=meta)
    if map_type == BPF_MAP_TYPE_HASH_OF_MAPS:
        meta = _inner_map_meta(task, attr)
        table = htab_map_alloc(
            key_size, value_size, max_entries, overflow_errno=errno.E2BIG, key_size_limit=key_limit
        )
        pages = htab_pages(table.n_buckets, key_size, 8, max_entries)
        return HashOfMaps(table, meta, pages)
    return find_and_alloc_map(kernel, map_type, key_size, value_size, max_entries)


def _inner_map_meta(task: BpfTask, attr: dict[str, int]) -> MapMeta:
    """``bpf_map_meta_alloc(attr->inner_map_fd)``: the template map's fd (EBADF /
    EINVAL), copied; no reference is kept."""
    return bpf_map_meta_alloc(bpf_map_fdget(task, attr.get("inner_map_fd", 0)))
