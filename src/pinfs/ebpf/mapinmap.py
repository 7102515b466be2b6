"""Maps of maps: BPF_MAP_TYPE_ARRAY_OF_MAPS and HASH_OF_MAPS (kernel/bpf/map_in_map.c,
56f668dfe00d and bcc6b1b7ebf8, v4.12), the storage half.

``inner_map_fd`` at creation names a *template* map: ``bpf_map_meta_alloc`` copies its
type, sizes, flags and max_entries (no reference is kept: the template may be closed
at once).  A slot then takes any map that ``map_meta_equal`` finds alike, and holds a
reference to it (``bpf_map_fd_get_ptr`` + ``bpf_map_inc``): inner maps are holders
like prog-array slots, listed by :func:`held_objects`.  From user space an update
passes the inner map's fd and a lookup returns its id (``bpf_map_fd_sys_lookup_elem``).
The fd resolution is :func:`pinfs.ebpf.objects.fd_array_get_ptr`.
"""

from __future__ import annotations

import errno
from typing import Any

import attrs

from pinfs.base.errors import ENOTSUPP, kernel_error
from pinfs.ebpf.arraymap import FdArray
from pinfs.ebpf.attr import (
    BPF_F_INNER_MAP,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH_OF_MAPS,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_PROG_ARRAY,
)
from pinfs.ebpf.hashtab import HashTab

MAP_IN_MAP_TYPES = (BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS)
#: Types without ``map_meta_equal`` (ENOTSUPP as a template), among those modelled.
NO_META_EQUAL_TYPES = (BPF_MAP_TYPE_PROG_ARRAY,)


@attrs.frozen
class MapMeta:
    """``inner_map_meta``: what ``bpf_map_meta_alloc`` copies from the template."""

    map_type: int
    key_size: int
    value_size: int
    map_flags: int
    max_entries: int


def bpf_map_meta_alloc(inner: Any) -> MapMeta:
    """``bpf_map_meta_alloc`` once the fd gave a map: no map of maps inside a map of
    maps (EINVAL), a type that can be compared (ENOTSUPP)."""
    if inner.map_type in MAP_IN_MAP_TYPES:
        raise kernel_error(errno.EINVAL)  # "Does not support >1 level map-in-map"
    if inner.map_type in NO_META_EQUAL_TYPES:
        raise kernel_error(ENOTSUPP)
    return MapMeta(
        inner.map_type, inner.key_size, inner.value_size, inner.map_flags, inner.max_entries
    )


def map_meta_equal(meta: MapMeta, map: Any) -> bool:
    """The template's ``map_meta_equal``: ``bpf_map_meta_equal`` (type, sizes, flags;
    not max_entries), and for arrays ``array_map_meta_equal`` (max_entries too, unless
    the template has BPF_F_INNER_MAP)."""
    if (meta.map_type, meta.key_size, meta.value_size, meta.map_flags) != (
        map.map_type,
        map.key_size,
        map.value_size,
        map.map_flags,
    ):
        return False
    if meta.map_type in (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY):
        return bool(meta.map_flags & BPF_F_INNER_MAP) or meta.max_entries == map.max_entries
    return True


@attrs.define
class ArrayOfMaps(FdArray):
    """An fd array whose slots hold maps (``array_of_map_alloc``)."""

    inner_meta: MapMeta | None = None


@attrs.define
class HashOfMaps:
    """``htab_of_map_alloc``: a hash table (bucket order, capacity, flags) whose
    values are references to maps."""

    table: HashTab
    inner_meta: MapMeta
    pages: int
    slots: dict[bytes, object] = attrs.field(factory=dict, repr=False)

    value_size = 4

    @property
    def key_size(self) -> int:
        return self.table.key_size

    @property
    def max_entries(self) -> int:
        return self.table.max_entries

    def lookup_elem(self, key: bytes) -> object | None:
        """``bpf_fd_htab_map_lookup_elem``'s element (the caller shows its id)."""
        return self.slots.get(bytes(key))

    def update_elem(self, key: bytes, obj: object, flags: int) -> object | None:
        """``bpf_fd_htab_map_update_elem`` after the fd was resolved to ``obj``:
        ``htab_map_update_elem_in_place`` (EINVAL, EEXIST/ENOENT, E2BIG when full).
        Returns the replaced map for the caller to put; on an error the caller puts
        ``obj``."""
        key = bytes(key)
        self.table.update_elem(key, bytes(4), flags, check_flags_first=True, in_place=True)
        old = self.slots.get(key)
        self.slots[key] = obj
        return old

    def delete_elem(self, key: bytes) -> object:
        """``htab_map_delete_elem``: the removed map, for the caller to put."""
        self.table.delete_elem(key)
        return self.slots.pop(bytes(key))

    def get_next_key(self, key: bytes | None) -> bytes:
        return self.table.get_next_key(key)

    def clear(self) -> list[object]:
        """``htab_map_free`` of an fd hash: every held map, for the caller to put."""
        removed = list(self.slots.values())
        self.slots.clear()
        self.table.free()
        return removed

    def free(self) -> None:
        if self.slots:
            raise AssertionError("htab_of_map_free: slots still hold references")


def slot_objects(storage: object) -> list[object]:
    """What a map's slots hold, unlabelled (for counting holders)."""
    if isinstance(storage, FdArray | HashOfMaps):
        return list(storage.slots.values())
    return []


def held_objects(storage: object) -> list[tuple[str, object]]:
    """What a map's slots hold, labelled by index or key (hex): programs of a
    PROG_ARRAY, maps of a map of maps."""
    if isinstance(storage, FdArray):
        return [(str(index), obj) for index, obj in sorted(storage.slots.items())]
    if isinstance(storage, HashOfMaps):
        return [(key.hex(), obj) for key, obj in sorted(storage.slots.items())]
    return []
