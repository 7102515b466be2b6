"""BPF_MAP_TYPE_RINGBUF (kernel/bpf/ringbuf.c, 457f44363a88, v5.8) as the bpf(2)
element commands see it.

A ring buffer has no keys and no values: ``ringbuf_map_alloc`` wants both sizes 0 and
a power-of-two, page-aligned ``max_entries`` (the data size), BPF_F_NUMA_NODE the only
flag.  Its element operations all answer ENOTSUPP (524); before that, a non-NULL key
pointer is EINVAL (``__bpf_copy_key`` with key_size 0), which the dispatcher checks.
Producing and consuming records (programs, mmap, epoll) are not modelled.
"""

from __future__ import annotations

import errno

import attrs

from pinfs.base.errors import ENOTSUPP, kernel_error, refuse
from pinfs.base.uapi import PAGE_SIZE
from pinfs.ebpf.attr import BPF_F_NUMA_NODE

RINGBUF_CREATE_FLAG_MASK = BPF_F_NUMA_NODE
#: RINGBUF_PGOFF: the consumer and producer pages in front of the data.
RINGBUF_NR_META_PAGES = 2
#: RINGBUF_MAX_DATA_SZ on 64-bit: far above any u32 max_entries.
RINGBUF_MAX_DATA_SZ = ((1 << 24) - 1) * PAGE_SIZE


@attrs.define
class RingBuf:
    """``struct bpf_ringbuf_map``: only its size."""

    max_entries: int
    pages: int
    key_size: int = 0
    value_size: int = 0

    def lookup_elem(self, key: bytes | None) -> bytes | None:
        raise kernel_error(ENOTSUPP)  # ringbuf_map_lookup_elem

    def update_elem(self, key: bytes | None, value: bytes, flags: int) -> None:
        raise kernel_error(ENOTSUPP)

    def delete_elem(self, key: bytes | None) -> None:
        raise kernel_error(ENOTSUPP)

    def get_next_key(self, key: bytes | None) -> bytes:
        raise kernel_error(ENOTSUPP)

    def free(self) -> None:
        pass


def _is_power_of_2(n: int) -> bool:
    return n != 0 and n & (n - 1) == 0


def ringbuf_map_alloc(attr: dict[str, int]) -> RingBuf:
    """``ringbuf_map_alloc``: flags, then sizes and the data size's shape (EINVAL),
    then the 64-bit bound (E2BIG).  ``pages``: the data pages and the two meta pages
    (v5.10 charged about that)."""
    if attr.get("map_flags", 0) & ~RINGBUF_CREATE_FLAG_MASK:
        raise kernel_error(errno.EINVAL)
    size = attr["max_entries"]
    if attr["key_size"] or attr["value_size"] or not _is_power_of_2(size) or size % PAGE_SIZE:
        raise refuse(
            errno.EINVAL,
            "ringbuf_map_alloc",
            "a ring buffer takes key_size 0, value_size 0 and a power-of-two multiple of "
            "the page size as max_entries (got {key_size}, {value_size}, {size})",
            key_size=attr["key_size"],
            value_size=attr["value_size"],
            size=size,
        )
    if size > RINGBUF_MAX_DATA_SZ:
        raise kernel_error(errno.E2BIG)
    return RingBuf(max_entries=size, pages=size // PAGE_SIZE + RINGBUF_NR_META_PAGES)
