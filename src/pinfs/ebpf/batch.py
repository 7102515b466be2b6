"""The batch element commands (kernel/bpf/syscall.c ``bpf_map_do_batch``, v5.6):
BPF_MAP_LOOKUP_BATCH, LOOKUP_AND_DELETE_BATCH, UPDATE_BATCH, DELETE_BATCH.

Which map types have which op (``map_lookup_batch`` ... in their ``bpf_map_ops``),
measured on the live 6.18 kernel: the hash types (HASH, PERCPU_HASH, LRU_HASH,
LRU_PERCPU_HASH, HASH_OF_MAPS) all four, with bucket-walking lookups
(``__htab_map_lookup_and_delete_batch``); ARRAY, PERCPU_ARRAY and ARRAY_OF_MAPS the
generic lookup and update; PROG_ARRAY, PERF_EVENT_ARRAY and RINGBUF none (ENOTSUPP).
The per-element work is the single-element commands' (:class:`ElemOps`, given by the
dispatcher), so every type's rules and errnos apply element by element.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

import attrs

from pinfs.base.errors import ENOTSUPP, kernel_error
from pinfs.ebpf.attr import (
    BPF_MAP_LOOKUP_AND_DELETE_BATCH,
    BPF_MAP_LOOKUP_BATCH,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH_OF_MAPS,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_UPDATE_BATCH,
)
from pinfs.ebpf.context import BpfTask
from pinfs.ebpf.hashtab import HashTab
from pinfs.ebpf.mapcreate import HASH_TYPES
from pinfs.ebpf.objects import FMODE_READ, FMODE_WRITE, BpfMap, bpf_map_fdget
from pinfs.ebpf.percpu import bpf_map_value_size

BPF_F_LOCK = 4
_GENERIC_TYPES = (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS)
_HTAB_TYPES = (*HASH_TYPES, BPF_MAP_TYPE_HASH_OF_MAPS)


@attrs.frozen
class ElemOps:
    """The single-element operations, as ``bpf_map_copy_value``,
    ``bpf_map_update_value`` and ``map_delete_elem`` do them."""

    copy_value: Callable[[BpfMap, bytes], bytes]
    update_value: Callable[[BpfMap, bytes, bytes, int], None]
    delete_value: Callable[[BpfMap, bytes], None]


def bpf_map_do_batch(task: BpfTask, attr: dict[str, int], cmd: int, ops: ElemOps) -> int:
    """``bpf_map_do_batch``: the map (EBADF/EINVAL), read access for the lookups,
    write access for the others (EPERM), then the type's op (ENOTSUPP without one)."""
    has_read = cmd in (BPF_MAP_LOOKUP_BATCH, BPF_MAP_LOOKUP_AND_DELETE_BATCH)
    has_write = cmd != BPF_MAP_LOOKUP_BATCH
    map = bpf_map_fdget(task, attr["map_fd"])
    if has_read:
        bpf_map_fdget(task, attr["map_fd"], FMODE_READ)
    if has_write:
        bpf_map_fdget(task, attr["map_fd"], FMODE_WRITE)
    batch = _Batch(task, map, attr, ops)
    if map.map_type in _HTAB_TYPES:
        if cmd in (BPF_MAP_LOOKUP_BATCH, BPF_MAP_LOOKUP_AND_DELETE_BATCH):
            return batch.htab_lookup(delete=cmd == BPF_MAP_LOOKUP_AND_DELETE_BATCH)
        return batch.generic_update() if cmd == BPF_MAP_UPDATE_BATCH else batch.generic_delete()
    if map.map_type in _GENERIC_TYPES and cmd == BPF_MAP_LOOKUP_BATCH:
        return batch.generic_lookup()
    if map.map_type in _GENERIC_TYPES and cmd == BPF_MAP_UPDATE_BATCH:
        return batch.generic_update()
    raise kernel_error(ENOTSUPP)


def _order(storage: Any) -> HashTab:
    """The hash table whose buckets order a hash map's elements."""
    if isinstance(storage, HashTab):
        return storage
    table = getattr(storage, "table", None) or storage.order
    assert isinstance(table, HashTab)
    return table


@attrs.define
class _Batch:
    task: BpfTask
    map: BpfMap
    attr: dict[str, int]
    ops: ElemOps

    def _check_elem_flags(self) -> None:
        """Only BPF_F_LOCK, and only with a spin lock (none here): EINVAL."""
        if self.attr["elem_flags"]:
            raise kernel_error(errno.EINVAL)

    def _start(self) -> int | None:
        """``max_count``; 0 ends the call at once, else ``count`` is zeroed first."""
        max_count = self.attr["count"]
        if not max_count:
            return None
        self._put_count(0)
        return max_count

    def _put_count(self, count: int) -> None:
        self.task.mem.write(self.attr["<uattr>"] + 32, count.to_bytes(4, "little"))

    def _each_until_error(self, max_count: int, step: Callable[[int], None]) -> int:
        """The loop of the generic update and delete batches: ``step`` for elements
        0, 1, ... until one fails; ``count`` is set to how many were done before the
        error is returned."""
        done = 0
        try:
            for cp in range(max_count):
                step(cp)
                done = cp + 1
        finally:
            self._put_count(done)
        return 0

    def generic_update(self) -> int:
        """``generic_map_update_batch``: key and value of each element copied (EFAULT),
        updated; the first error stops it; ``count`` says how many were done."""
        self._check_elem_flags()
        max_count = self._start()
        if max_count is None:
            return 0
        key_size, value_size = self.map.key_size, bpf_map_value_size(self.map)

        def update(cp: int) -> None:
            key = self.task.mem.read(self.attr["keys"] + cp * key_size, key_size)
            value = self.task.mem.read(self.attr["values"] + cp * value_size, value_size)
            self.ops.update_value(self.map, key, value, self.attr["elem_flags"])

        return self._each_until_error(max_count, update)

    def generic_delete(self) -> int:
        """``generic_map_delete_batch``: each key copied and deleted, up to an error."""
        self._check_elem_flags()
        max_count = self._start()
        if max_count is None:
            return 0
        key_size = self.map.key_size

        def delete(cp: int) -> None:
            key = self.task.mem.read(self.attr["keys"] + cp * key_size, key_size)
            self.ops.delete_value(self.map, key)

        return self._each_until_error(max_count, delete)

    def generic_lookup(self) -> int:
        """``generic_map_lookup_batch``: from ``in_batch`` (a key; NULL: the start),
        GET_NEXT_KEY and a lookup per element (a missing one is skipped); ENOENT at
        the end; ``count`` and, after at least one element, ``out_batch`` (the last
        key visited) are written back."""
        self._check_elem_flags()
        max_count = self._start()
        if max_count is None:
            return 0
        key_size, value_size = self.map.key_size, bpf_map_value_size(self.map)
        prev: bytes | None = None
        if self.attr["in_batch"]:
            prev = self.task.mem.read(self.attr["in_batch"], key_size)
        cp, error = 0, None
        while cp < max_count:
            try:
                key = self.map.storage.get_next_key(b"\xff" * 4 if prev is None else prev)
            except OSError as exc:
                error = exc
                break
            try:
                value = self.ops.copy_value(self.map, key)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
                prev = key  # next_key: skipped, not counted
                continue
            self.task.mem.write(self.attr["keys"] + cp * key_size, key)
            self.task.mem.write(self.attr["values"] + cp * value_size, value)
            prev, cp = key, cp + 1
        self._put_count(cp)
        if cp and prev is not None:
            self.task.mem.write(self.attr["out_batch"], prev)
        if error is not None:
            raise error
        return 0

    def htab_lookup(self, delete: bool) -> int:
        """``__htab_map_lookup_and_delete_batch``: ``in_batch`` is a bucket index
        (past the last: ENOENT); whole buckets are copied (and deleted) while they fit
        in ``count`` (the first one not fitting: ENOSPC); past the last bucket ENOENT;
        ``out_batch`` gets the next bucket and ``count`` the total."""
        self._check_elem_flags()
        if self.attr["flags"]:
            raise kernel_error(errno.EINVAL)
        max_count = self._start()
        if max_count is None:
            return 0
        batch = 0
        if self.attr["in_batch"]:
            batch = int.from_bytes(self.task.mem.read(self.attr["in_batch"], 4), "little")
        table = _order(self.map.storage)
        if batch >= table.n_buckets:
            raise kernel_error(errno.ENOENT)
        key_size, value_size = self.map.key_size, bpf_map_value_size(self.map)
        total, result = 0, 0
        while True:
            keys = table.bucket_keys(batch)
            if len(keys) > max_count - total:
                if total == 0:
                    result = errno.ENOSPC
                break
            for key in keys:
                value = self.ops.copy_value(self.map, key)
                if delete:
                    self.ops.delete_value(self.map, key)
                self.task.mem.write(self.attr["keys"] + total * key_size, key)
                self.task.mem.write(self.attr["values"] + total * value_size, value)
                total += 1
            batch += 1
            if batch >= table.n_buckets:
                result = errno.ENOENT
                break
        self.task.mem.write(self.attr["out_batch"], batch.to_bytes(4, "little"))
        self._put_count(total)
        if result:
            raise kernel_error(result)
        return 0
