"""BPF_MAP_TYPE_HASH storage and validation, as in the seed's kernel/bpf/hashtab.c.

The seed's hashtab.c is the v4.3 file plus the memlock ``pages`` accounting of
aaac3ba95e4c, without the extra size checks of 01b3f52157ff (v4.4 final).  Sizes are
those of x86_64.

Out of scope: RCU and locking (every operation here is atomic), allocation failures
(kmalloc/vmalloc ENOMEM), memlock charging (the caller charges ``pages``), and the
syscall layer (fd lookup, copy_from_user, CHECK_ATTR).
"""

from __future__ import annotations

import errno
from bisect import bisect_left, bisect_right, insort

import attrs

from pinfs.base.errors import kernel_error, refuse
from pinfs.base.uapi import PAGE_SHIFT, PAGE_SIZE
from pinfs.ebpf.attr import BPF_EXIST, BPF_NOEXIST
from pinfs.ebpf.jhash import jhash

__all__ = [
    "HTAB_ELEM_SIZE",
    "MAX_BPF_STACK",
    "HashTab",
    "htab_map_alloc",
    "roundup_pow_of_two",
]


U32_MAX = 0xFFFFFFFF
_U64_MAX = 0xFFFFFFFFFFFFFFFF
MAX_BPF_STACK = 512
# sizeof(struct hlist_head) on x86_64: one pointer.
HLIST_HEAD_SIZE = 8
# sizeof(struct htab_elem) on x86_64: hlist_node (16) + rcu_head (16) + u32 hash,
# padded so that the key that follows is 8-aligned.
HTAB_ELEM_SIZE = 40


def _check_uint(name: str, value: int, limit: int) -> None:
    # A value the C field cannot hold is a caller bug, not a syscall outcome.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise ValueError(f"{name} must be an unsigned integer <= {limit:#x}, got {value!r}")


def _round_up(x: int, y: int) -> int:
    return -(-x // y) * y


def roundup_pow_of_two(n: int) -> int:
    """Model of ``roundup_pow_of_two`` (include/linux/log2.h) on 64-bit: ``1UL << fls_long(n-1)``.

    The result is an unsigned long; callers storing it in a u32 must truncate it.
    """
    if n < 1:
        raise ValueError("roundup_pow_of_two(0) is undefined")
    return 1 << (n - 1).bit_length()


@attrs.define
class HashTab:
    """``struct bpf_htab``: a hash map with ``n_buckets`` chained buckets.

    Buckets are created lazily (``n_buckets`` may be 2^28): ``_buckets`` maps a bucket
    index to its chain, newest element first (``hlist_add_head``), and ``_nonempty`` is
    the sorted list of indices of non-empty buckets, so that ``get_next_key`` can find
    the next bucket with a bisection instead of a scan.  Chain entries are immutable
    ``(key, value)`` pairs: like the kernel, an update builds a new element.
    """

    key_size: int
    value_size: int
    max_entries: int
    n_buckets: int
    elem_size: int
    pages: int
    elem_count: int = 0
    _buckets: dict[int, list[tuple[bytes, bytes]]] = attrs.field(
        factory=dict, init=False, repr=False
    )
    _nonempty: list[int] = attrs.field(factory=list, init=False, repr=False)

    def _check_key(self, key: bytes) -> None:
        if len(key) != self.key_size:
            raise ValueError(f"key must be {self.key_size} bytes, got {len(key)}")

    def _select_bucket(self, key: bytes) -> int:
        """``htab_map_hash`` + ``select_bucket``: jhash with the seed's fixed initval 0."""
        return jhash(key, 0) & (self.n_buckets - 1)

    @staticmethod
    def _lookup_elem_raw(chain: list[tuple[bytes, bytes]] | None, key: bytes) -> int:
        """``lookup_elem_raw``: position of ``key`` in ``chain``, or -1."""
        if chain:
            for pos, (k, _) in enumerate(chain):
                if k == key:
                    return pos
        return -1

    def lookup_elem(self, key: bytes) -> bytes | None:
        """``htab_map_lookup_elem``: the value stored under ``key``, or None (ENOENT)."""
        self._check_key(key)
        chain = self._buckets.get(self._select_bucket(key))
        pos = self._lookup_elem_raw(chain, key)
        if pos < 0:
            return None
        assert chain is not None
        return chain[pos][1]

    def update_elem(
        self,
        key: bytes,
        value: bytes,
        flags: int,
        *,
        check_flags_first: bool = False,
        in_place: bool = False,
    ) -> None:
        """``htab_map_update_elem``.

        At the seed the capacity check (E2BIG) comes before the flag checks, so a full
        map answers E2BIG for a missing key even with BPF_EXIST; with
        ``check_flags_first`` (``check_flags`` before ``alloc_htab_elem``, as since
        v4.6) that is ENOENT.  With ``in_place`` (``htab_map_update_elem_in_place``:
        per-CPU and fd hash maps) a known key keeps its place in its chain.
        """
        self._check_key(key)
        if len(value) != self.value_size:
            raise ValueError(f"value must be {self.value_size} bytes, got {len(value)}")
        _check_uint("flags", flags, _U64_MAX)
        if flags > BPF_EXIST:
            raise kernel_error(errno.EINVAL)
        key = bytes(key)
        bucket = self._select_bucket(key)
        chain = self._buckets.get(bucket)
        pos = self._lookup_elem_raw(chain, key)
        full = pos < 0 and self.elem_count >= self.max_entries
        if full and not check_flags_first:
            raise refuse(
                errno.E2BIG,
                "htab_map_update_elem",
                "the map is full (max_entries {max_entries}) and the key is new",
                max_entries=self.max_entries,
            )
        if pos >= 0 and flags == BPF_NOEXIST:
            raise kernel_error(errno.EEXIST)
        if pos < 0 and flags == BPF_EXIST:
            raise kernel_error(errno.ENOENT)
        if full:
            raise kernel_error(errno.E2BIG)  # alloc_htab_elem
        if chain is None:
            chain = self._buckets[bucket] = []
            insort(self._nonempty, bucket)
        if pos >= 0 and in_place:
            chain[pos] = (key, bytes(value))
            return
        if pos >= 0:
            del chain[pos]
        else:
            self.elem_count += 1
        # The new element goes to the head, so a replaced key moves to the front.
        chain.insert(0, (key, bytes(value)))

    def delete_elem(self, key: bytes) -> None:
        """``htab_map_delete_elem``: unlink ``key``; ENOENT if it is absent."""
        self._check_key(key)
        bucket = self._select_bucket(key)
        chain = self._buckets.get(bucket)
        pos = self._lookup_elem_raw(chain, key)
        if pos < 0:
            raise kernel_error(errno.ENOENT)
        assert chain is not None
        del chain[pos]
        if not chain:
            del self._buckets[bucket]
            del self._nonempty[bisect_left(self._nonempty, bucket)]
        self.elem_count -= 1

    def get_next_key(self, key: bytes | None) -> bytes:
        """``htab_map_get_next_key``.

        An unknown key (or None: a NULL key, from v4.12) restarts at the first element
        in bucket order; a known key gives the next element of its chain, else the head
        of the next non-empty bucket.  ENOENT after the last element or on an empty map.
        """
        pos, bucket = -1, 0
        if key is not None:
            self._check_key(key)
            bucket = self._select_bucket(key)
            chain = self._buckets.get(bucket)
            pos = self._lookup_elem_raw(chain, key)
        if pos < 0:
            i = 0
        else:
            chain = self._buckets[bucket]
            if pos + 1 < len(chain):
                return chain[pos + 1][0]
            i = bisect_right(self._nonempty, bucket)
        if i < len(self._nonempty):
            return self._buckets[self._nonempty[i]][0][0]
        raise kernel_error(errno.ENOENT)

    def bucket_keys(self, index: int) -> list[bytes]:
        """The keys in bucket ``index``, in chain order (the batch commands walk
        buckets)."""
        return [k for k, _ in self._buckets.get(index, [])]

    def free(self) -> None:
        """``htab_map_free`` / ``delete_all_elements``: drop every element."""
        self._buckets.clear()
        self._nonempty.clear()
        self.elem_count = 0


def htab_map_alloc(
    key_size: int,
    value_size: int,
    max_entries: int,
    *,
    overflow_errno: int = errno.ENOMEM,
    key_size_limit: int | None = MAX_BPF_STACK,
) -> HashTab:
    """``htab_map_alloc`` at the seed (v4.3 checks plus aaac3ba95e4c ``pages``).

    ``overflow_errno`` is what the bucket-count check returns: ENOMEM at the seed,
    E2BIG from v4.4 (01b3f52157ff left ``err = -E2BIG`` in force there).
    """
    _check_uint("key_size", key_size, U32_MAX)
    _check_uint("value_size", value_size, U32_MAX)
    _check_uint("max_entries", max_entries, U32_MAX)
    if max_entries == 0 or key_size == 0 or value_size == 0:
        raise refuse(
            errno.EINVAL,
            "htab_map_alloc",
            "key_size {key_size}, value_size {value_size} and max_entries {max_entries} "
            "must all be non-zero",
            key_size=key_size,
            value_size=value_size,
            max_entries=max_entries,
        )
    # n_buckets is a u32: above 2^31 the round-up wraps to 0.
    n_buckets = roundup_pow_of_two(max_entries) & U32_MAX
    if key_size_limit is not None and key_size > key_size_limit:
        # Programs build keys on their stack (the seed's bound; later kernels drop it).
        raise kernel_error(errno.E2BIG)
    if n_buckets == 0 or n_buckets > U32_MAX // HLIST_HEAD_SIZE:
        raise kernel_error(overflow_errno)
    # elem_size is a u32 field and the seed does not bound value_size, so it can wrap.
    elem_size = (HTAB_ELEM_SIZE + _round_up(key_size, 8) + value_size) & U32_MAX
    # The bucket term is size_t (64-bit) but elem_size * max_entries is u32 * u32 and
    # wraps: the seed under-charges huge maps.  The 64-bit sum itself cannot overflow.
    size = n_buckets * HLIST_HEAD_SIZE + ((elem_size * max_entries) & U32_MAX)
    pages = _round_up(size, PAGE_SIZE) >> PAGE_SHIFT
    return HashTab(
        key_size=key_size,
        value_size=value_size,
        max_entries=max_entries,
        n_buckets=n_buckets,
        elem_size=elem_size,
        pages=pages,
    )
