"""BPF_MAP_TYPE_ARRAY and fd-array storage, as in the seed's kernel/bpf/arraymap.c.

The seed's arraymap.c is the v4.3 file plus the memlock ``pages`` accounting of
aaac3ba95e4c, without the extra size checks of 01b3f52157ff (v4.4 final).  Sizes are
those of x86_64.

``ArrayMap`` models BPF_MAP_TYPE_ARRAY; ``FdArray`` models the slot storage shared by
BPF_MAP_TYPE_PROG_ARRAY and BPF_MAP_TYPE_PERF_EVENT_ARRAY.  Out of scope: RCU,
allocation failures, memlock charging (the caller charges ``pages``), and what an fd
array slot refers to: the caller resolves fds (``map_fd_get_ptr``), checks and records
prog-array ownership, and releases the references this module hands back
(``map_fd_put_ptr``).
"""

from __future__ import annotations

import errno
from collections.abc import Callable

import attrs

from pinfs.base.errors import kernel_error, refuse
from pinfs.base.uapi import PAGE_SHIFT, PAGE_SIZE
from pinfs.ebpf.attr import BPF_ANY, BPF_EXIST, BPF_NOEXIST

__all__ = [
    "BPF_ARRAY_SIZE",
    "ArrayMap",
    "FdArray",
    "array_map_alloc",
    "fd_array_map_alloc",
]


U32_MAX = 0xFFFFFFFF
_U64_MAX = 0xFFFFFFFFFFFFFFFF
# sizeof(struct bpf_array) at the seed on x86_64 without lockdep: struct bpf_map (72),
# u32 elem_size, owner_prog_type, bool owner_jited, padded to the 8-aligned values.
# (96 in v4.4, where c9da161c6517 grew struct bpf_map by the usercnt.)
BPF_ARRAY_SIZE = 88
_KEY_SIZE = 4


def _check_uint(name: str, value: int, limit: int) -> None:
    # A value the C field cannot hold is a caller bug, not a syscall outcome.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise ValueError(f"{name} must be an unsigned integer <= {limit:#x}, got {value!r}")


def _index(key: bytes) -> int:
    if len(key) != _KEY_SIZE:
        raise ValueError(f"key must be {_KEY_SIZE} bytes, got {len(key)}")
    return int.from_bytes(key, "little")


def _array_map_get_next_key(max_entries: int, key: bytes) -> bytes:
    """``array_map_get_next_key``: shared by arrays and fd arrays."""
    index = _index(key)
    if index >= max_entries:
        return (0).to_bytes(4, "little")
    if index == max_entries - 1:
        raise kernel_error(errno.ENOENT)
    return (index + 1).to_bytes(4, "little")


@attrs.define
class ArrayMap:
    """``struct bpf_array`` of BPF_MAP_TYPE_ARRAY.

    Every slot exists and starts as zero bytes (kzalloc/vzalloc); only written slots
    are stored, so a huge array costs nothing until used.
    """

    key_size: int
    value_size: int
    max_entries: int
    elem_size: int
    pages: int
    _values: dict[int, bytearray] = attrs.field(factory=dict, init=False, repr=False)

    def lookup_elem(self, key: bytes) -> bytes | None:
        """``array_map_lookup_elem``: None (ENOENT) only when the index is out of range."""
        index = _index(key)
        if index >= self.max_entries:
            return None
        value = self._values.get(index)
        return bytes(value) if value is not None else bytes(self.value_size)

    def update_elem(self, key: bytes, value: bytes, flags: int) -> None:
        """``array_map_update_elem``: every slot exists, so BPF_NOEXIST is EEXIST."""
        index = _index(key)
        if len(value) != self.value_size:
            raise ValueError(f"value must be {self.value_size} bytes, got {len(value)}")
        _check_uint("flags", flags, _U64_MAX)
        if flags > BPF_EXIST:
            raise kernel_error(errno.EINVAL)
        if index >= self.max_entries:
            raise refuse(
                errno.E2BIG,
                "array_map_update_elem",
                "index {index} is beyond max_entries {max_entries}",
                index=index,
                max_entries=self.max_entries,
            )
        if flags == BPF_NOEXIST:
            raise kernel_error(errno.EEXIST)
        # Copied in place: a lookup result obtained earlier is unaffected (it is a copy).
        slot = self._values.get(index)
        if slot is None:
            self._values[index] = bytearray(value)
        else:
            slot[:] = value

    def delete_elem(self, key: bytes) -> None:
        """``array_map_delete_elem``: array elements cannot be deleted (always EINVAL)."""
        _index(key)
        raise kernel_error(errno.EINVAL)

    def get_next_key(self, key: bytes) -> bytes:
        """``array_map_get_next_key``: out of range restarts at 0; the last index is ENOENT."""
        return _array_map_get_next_key(self.max_entries, key)

    def free(self) -> None:
        """``array_map_free``: release the storage."""
        self._values.clear()


@attrs.define
class FdArray:
    """``struct bpf_array`` of BPF_MAP_TYPE_PROG_ARRAY / PERF_EVENT_ARRAY.

    ``slots`` maps an index to the kernel object it references; an absent index is a
    NULL slot.  ``owner_prog_type`` / ``owner_jited`` are the prog-array owner fields
    (None until claimed); the caller manages them (``bpf_prog_array_compatible``).
    """

    max_entries: int
    pages: int
    key_size: int = _KEY_SIZE
    value_size: int = 4
    elem_size: int = 8
    slots: dict[int, object] = attrs.field(factory=dict, repr=False)
    owner_prog_type: int | None = None
    owner_jited: bool | None = None

    def lookup_elem(self, key: bytes) -> bytes | None:
        """``fd_array_map_lookup_elem``: always NULL, so the syscall always says ENOENT."""
        _index(key)
        return None

    def update_elem(
        self,
        key: bytes,
        value: bytes,
        flags: int,
        get_ptr: Callable[[int], object],
    ) -> object | None:
        """``fd_array_map_update_elem``: store ``get_ptr(fd)`` at the key's index.

        ``get_ptr`` stands for ``map_fd_get_ptr`` (``prog_fd_array_get_ptr`` or
        ``perf_event_fd_array_get_ptr``): it gets the value as a u32 fd and returns the
        referenced object or raises a KernelError.  Returns the object previously in
        the slot (or None); the caller must release it (``map_fd_put_ptr``).
        """
        index = _index(key)
        if len(value) != self.value_size:
            raise ValueError(f"value must be {self.value_size} bytes, got {len(value)}")
        _check_uint("flags", flags, _U64_MAX)
        if flags != BPF_ANY:
            raise kernel_error(errno.EINVAL)
        if index >= self.max_entries:
            raise kernel_error(errno.E2BIG)
        obj = get_ptr(int.from_bytes(value, "little"))
        if obj is None:
            raise ValueError("get_ptr must return an object or raise a KernelError")
        old = self.slots.get(index)
        self.slots[index] = obj
        return old

    def delete_elem(self, key: bytes) -> object:
        """``fd_array_map_delete_elem``: clear the slot and return its object to release."""
        index = _index(key)
        if index >= self.max_entries:
            raise kernel_error(errno.E2BIG)
        old = self.slots.pop(index, None)
        if old is None:
            raise kernel_error(errno.ENOENT)
        return old

    def get_next_key(self, key: bytes) -> bytes:
        """``array_map_get_next_key``: walks every index, filled or not."""
        return _array_map_get_next_key(self.max_entries, key)

    def clear(self) -> list[object]:
        """``bpf_fd_array_map_clear``: empty every slot.

        Returns the removed objects in index order, for the caller to release.
        """
        removed = [self.slots[i] for i in sorted(self.slots)]
        self.slots.clear()
        return removed

    def free(self) -> None:
        """``fd_array_map_free``: the owner has already emptied every slot."""
        if self.slots:
            raise AssertionError("fd_array_map_free: slots still hold references")


def array_map_alloc(key_size: int, value_size: int, max_entries: int) -> ArrayMap:
    """``array_map_alloc`` at the seed (v4.3 checks plus aaac3ba95e4c ``pages``)."""
    _check_uint("key_size", key_size, U32_MAX)
    _check_uint("value_size", value_size, U32_MAX)
    _check_uint("max_entries", max_entries, U32_MAX)
    if max_entries == 0 or key_size != _KEY_SIZE or value_size == 0:
        raise kernel_error(errno.EINVAL)
    # elem_size is a u32: value sizes within 7 of U32_MAX round up to 0.
    elem_size = (-(-value_size // 8) * 8) & U32_MAX
    if elem_size == 0 or max_entries > (U32_MAX - BPF_ARRAY_SIZE) // elem_size:
        raise kernel_error(errno.ENOMEM)
    array_size = BPF_ARRAY_SIZE + max_entries * elem_size
    # array_size is a u32, and so is round_up() of it: within a page of U32_MAX it wraps
    # to 0 and the seed charges no pages at all (01b3f52157ff reserved PAGE_SIZE).
    pages = ((((array_size - 1) | (PAGE_SIZE - 1)) + 1) & U32_MAX) >> PAGE_SHIFT
    return ArrayMap(
        key_size=key_size,
        value_size=value_size,
        max_entries=max_entries,
        elem_size=elem_size,
        pages=pages,
    )


def fd_array_map_alloc(key_size: int, value_size: int, max_entries: int) -> FdArray:
    """``fd_array_map_alloc``: only u32 fds can be stored, then the array rules apply."""
    _check_uint("value_size", value_size, U32_MAX)
    if value_size != 4:
        raise kernel_error(errno.EINVAL)
    array = array_map_alloc(key_size, value_size, max_entries)
    return FdArray(max_entries=array.max_entries, pages=array.pages)
