"""Seed hash map (kernel/bpf/hashtab.c): outcome rows S10-S13, S23-S26, S29, S30."""

from __future__ import annotations

import errno
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pinfs.base.errors import KernelError
from pinfs.ebpf.hashtab import HashTab, htab_map_alloc, roundup_pow_of_two
from pinfs.ebpf.jhash import jhash
from support import budget

ANY, NOEXIST, EXIST = 0, 1, 2
U32_MAX = 0xFFFFFFFF


def k4(i: int) -> bytes:
    return i.to_bytes(4, "little")


def bucket_of(htab: HashTab, key: bytes) -> int:
    return jhash(key, 0) & (htab.n_buckets - 1)


def walk(htab: HashTab, start: bytes) -> list[bytes]:
    """Userspace-style iteration: get_next_key until ENOENT."""
    out: list[bytes] = []
    key = start
    while True:
        try:
            key = htab.get_next_key(key)
        except KernelError as e:
            assert e.errno == errno.ENOENT
            return out
        out.append(key)
        assert len(out) <= htab.elem_count, "iteration did not terminate"


def colliding_keys(n_buckets: int, count: int, bucket: int = 0) -> list[bytes]:
    """``count`` distinct 4-byte keys that all land in ``bucket``."""
    found = [k4(i) for i in range(100_000) if jhash(k4(i), 0) & (n_buckets - 1) == bucket]
    assert len(found) >= count
    return found[:count]


# --- htab_map_alloc -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_size", "value_size", "max_entries"), [(0, 4, 1), (4, 0, 1), (4, 4, 0)]
)
def test_s10_htab_map_alloc_zero_attribute_is_einval(
    key_size: int, value_size: int, max_entries: int
) -> None:
    with pytest.raises(KernelError) as ei:
        htab_map_alloc(key_size, value_size, max_entries)
    assert ei.value.errno == errno.EINVAL


def test_s10_htab_map_alloc_einval_is_checked_before_e2big_and_overflow() -> None:
    with pytest.raises(KernelError) as ei:
        htab_map_alloc(1000, 0, U32_MAX)
    assert ei.value.errno == errno.EINVAL


def test_s11_htab_map_alloc_key_over_max_bpf_stack_is_e2big() -> None:
    htab_map_alloc(512, 1, 1)
    with pytest.raises(KernelError) as ei:
        htab_map_alloc(513, 1, 1)
    assert ei.value.errno == errno.E2BIG


def test_s11_htab_map_alloc_key_e2big_wins_over_bucket_overflow() -> None:
    with pytest.raises(KernelError) as ei:
        htab_map_alloc(513, 1, 1 << 30)
    assert ei.value.errno == errno.E2BIG


@pytest.mark.parametrize("max_entries", [(1 << 28) + 1, 1 << 29, 1 << 31, (1 << 31) + 1, U32_MAX])
def test_s12_htab_map_alloc_too_many_buckets_is_enomem_at_seed(max_entries: int) -> None:
    """htab_map_alloc: n_buckets > U32_MAX/8, or 0 after the u32 round-up wraps."""
    with pytest.raises(KernelError) as ei:
        htab_map_alloc(4, 4, max_entries)
    assert ei.value.errno == errno.ENOMEM
    with pytest.raises(KernelError) as ei:
        htab_map_alloc(4, 4, max_entries, overflow_errno=errno.E2BIG)
    assert ei.value.errno == errno.E2BIG


def test_s12_htab_map_alloc_largest_bucket_count_is_accepted_and_lazy() -> None:
    """htab_map_alloc: 2^28 buckets pass; nothing is allocated per bucket up front."""
    htab = htab_map_alloc(8, 8, 1 << 28)
    assert htab.n_buckets == 1 << 28
    htab.update_elem(bytes(8), bytes(8), ANY)
    assert htab.lookup_elem(bytes(8)) == bytes(8)
    assert htab.get_next_key(b"\x01" * 8) == bytes(8)


def test_roundup_pow_of_two() -> None:
    assert [roundup_pow_of_two(n) for n in (1, 2, 3, 4, 5, 1023, 1024, 1025)] == [
        1,
        2,
        4,
        4,
        8,
        1024,
        1024,
        2048,
    ]
    assert roundup_pow_of_two((1 << 31) + 1) == 1 << 32  # unsigned long; u32 callers truncate
    with pytest.raises(ValueError):
        roundup_pow_of_two(0)


@pytest.mark.parametrize(
    ("key_size", "value_size", "max_entries", "n_buckets", "elem_size", "pages"),
    [
        # 8*1 + 52*1 = 60 bytes
        (4, 4, 1, 1, 52, 1),
        # 8*1024 + 56*1024 = 65536 bytes
        (8, 8, 1024, 1024, 56, 16),
        # 8*2048 + 56*1025 = 73784 bytes
        (8, 8, 1025, 2048, 56, 19),
        # key rounded up to 8: 40 + 512 + 1
        (509, 1, 3, 4, 553, 1),
    ],
)
def test_htab_map_alloc_pages_and_geometry(
    key_size: int, value_size: int, max_entries: int, n_buckets: int, elem_size: int, pages: int
) -> None:
    """htab_map_alloc: n_buckets, elem_size and the memlock pages of aaac3ba95e4c."""
    htab = htab_map_alloc(key_size, value_size, max_entries)
    assert (htab.n_buckets, htab.elem_size, htab.pages) == (n_buckets, elem_size, pages)
    assert (htab.key_size, htab.value_size, htab.max_entries) == (
        key_size,
        value_size,
        max_entries,
    )
    assert htab.elem_count == 0


def test_s13_htab_map_alloc_accepts_huge_value_size_and_elem_size_wraps() -> None:
    """htab_map_alloc at the seed: no value_size cap; the u32 elem_size wraps."""
    htab = htab_map_alloc(8, U32_MAX, 1)
    assert htab.elem_size == 47  # 40 + 8 + U32_MAX, mod 2^32
    assert htab.pages == 1  # 8 + 47 bytes


def test_s13_htab_map_alloc_pages_product_wraps_in_32_bits() -> None:
    """htab_map_alloc: elem_size * max_entries is u32 * u32 and wraps to 0 here."""
    htab = htab_map_alloc(8, 65536 - 48, 1 << 16)
    assert htab.elem_size == 1 << 16
    assert htab.pages == (8 << 16) // 4096  # only the bucket array is charged


def test_s13_htab_map_alloc_pages_sum_is_64_bit() -> None:
    """htab_map_alloc: the size_t bucket term keeps the sum from wrapping.

    2^31 bytes of buckets + (56 * 2^28 mod 2^32 = 2^31) = 2^32 bytes: 2^20 pages, not 0.
    """
    htab = htab_map_alloc(8, 8, 1 << 28)
    assert htab.pages == 1 << 20


@pytest.mark.parametrize("bad", [-1, 1 << 32, 1.0, True])
def test_htab_map_alloc_rejects_values_a_u32_cannot_hold(bad: object) -> None:
    with pytest.raises(ValueError):
        htab_map_alloc(bad, 4, 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        htab_map_alloc(4, bad, 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        htab_map_alloc(4, 4, bad)  # type: ignore[arg-type]


# --- lookup / update / delete ---------------------------------------------------------


def test_s23_htab_map_lookup_elem_absent_is_none() -> None:
    htab = htab_map_alloc(4, 8, 4)
    assert htab.lookup_elem(k4(1)) is None
    htab.update_elem(k4(1), b"A" * 8, ANY)
    assert htab.lookup_elem(k4(1)) == b"A" * 8
    assert htab.lookup_elem(k4(2)) is None


def test_htab_ops_reject_wrong_key_or_value_length() -> None:
    """Wrong lengths are caller bugs: the syscall layer always copies key_size bytes."""
    htab = htab_map_alloc(4, 8, 4)
    with pytest.raises(ValueError):
        htab.lookup_elem(b"abc")
    with pytest.raises(ValueError):
        htab.update_elem(k4(1), b"short", ANY)
    with pytest.raises(ValueError):
        htab.update_elem(b"toolong", bytes(8), ANY)
    with pytest.raises(ValueError):
        htab.delete_elem(b"")
    with pytest.raises(ValueError):
        htab.get_next_key(bytes(5))
    with pytest.raises(ValueError):
        htab.update_elem(k4(1), bytes(8), -1)


@pytest.mark.parametrize("flags", [3, 4, 1 << 32, (1 << 64) - 1])
def test_s24_htab_map_update_elem_unknown_flags_is_einval(flags: int) -> None:
    htab = htab_map_alloc(4, 4, 1)
    with pytest.raises(KernelError) as ei:
        htab.update_elem(k4(1), k4(1), flags)
    assert ei.value.errno == errno.EINVAL
    assert htab.elem_count == 0


def test_s24_htab_map_update_elem_einval_wins_over_e2big() -> None:
    htab = htab_map_alloc(4, 4, 1)
    htab.update_elem(k4(1), k4(1), ANY)
    with pytest.raises(KernelError) as ei:
        htab.update_elem(k4(2), k4(2), 3)
    assert ei.value.errno == errno.EINVAL


@pytest.mark.parametrize("flags", [ANY, NOEXIST, EXIST])
def test_s25_full_hash_update_absent_key_is_e2big_even_with_exist_flag(flags: int) -> None:
    """htab_map_update_elem: the max_entries check precedes the NOEXIST/EXIST checks."""
    htab = htab_map_alloc(4, 4, 2)
    htab.update_elem(k4(1), k4(10), ANY)
    htab.update_elem(k4(2), k4(20), ANY)
    with pytest.raises(KernelError) as ei:
        htab.update_elem(k4(3), k4(30), flags)
    assert ei.value.errno == errno.E2BIG
    assert htab.elem_count == 2
    assert htab.lookup_elem(k4(3)) is None


@pytest.mark.parametrize("flags", [ANY, EXIST])
def test_s25_full_hash_update_present_key_still_replaces(flags: int) -> None:
    htab = htab_map_alloc(4, 4, 2)
    htab.update_elem(k4(1), k4(10), ANY)
    htab.update_elem(k4(2), k4(20), ANY)
    htab.update_elem(k4(2), k4(21), flags)
    assert htab.lookup_elem(k4(2)) == k4(21)
    assert htab.elem_count == 2


def test_s26_htab_map_update_elem_noexist_present_is_eexist() -> None:
    htab = htab_map_alloc(4, 4, 4)
    htab.update_elem(k4(1), k4(10), NOEXIST)
    with pytest.raises(KernelError) as ei:
        htab.update_elem(k4(1), k4(11), NOEXIST)
    assert ei.value.errno == errno.EEXIST
    assert htab.lookup_elem(k4(1)) == k4(10)


def test_s26_htab_map_update_elem_exist_absent_is_enoent() -> None:
    htab = htab_map_alloc(4, 4, 4)
    with pytest.raises(KernelError) as ei:
        htab.update_elem(k4(1), k4(10), EXIST)
    assert ei.value.errno == errno.ENOENT
    assert htab.elem_count == 0
    htab.update_elem(k4(1), k4(10), ANY)
    htab.update_elem(k4(1), k4(11), EXIST)
    assert htab.lookup_elem(k4(1)) == k4(11)
    assert htab.elem_count == 1


def test_s26_htab_map_update_elem_replace_moves_key_to_bucket_head() -> None:
    """htab_map_update_elem: hlist_add_head of the new element, then unlink of the old."""
    htab = htab_map_alloc(4, 4, 4)
    a, b, c = colliding_keys(htab.n_buckets, 3)
    for key in (a, b, c):
        htab.update_elem(key, key, ANY)
    assert walk(htab, k4(U32_MAX)) == [c, b, a]
    htab.update_elem(a, b"new!", EXIST)
    assert htab.elem_count == 3
    assert walk(htab, k4(U32_MAX)) == [a, c, b]
    assert htab.lookup_elem(a) == b"new!"


def test_s29_htab_map_delete_elem() -> None:
    htab = htab_map_alloc(4, 4, 2)
    with pytest.raises(KernelError) as ei:
        htab.delete_elem(k4(1))
    assert ei.value.errno == errno.ENOENT
    htab.update_elem(k4(1), k4(1), ANY)
    htab.update_elem(k4(2), k4(2), ANY)
    htab.delete_elem(k4(1))
    assert htab.elem_count == 1
    assert htab.lookup_elem(k4(1)) is None
    with pytest.raises(KernelError) as ei:
        htab.delete_elem(k4(1))
    assert ei.value.errno == errno.ENOENT
    # The freed slot can be reused.
    htab.update_elem(k4(3), k4(3), NOEXIST)
    assert htab.elem_count == 2


def test_htab_map_free_drops_every_element() -> None:
    htab = htab_map_alloc(4, 4, 8)
    for i in range(8):
        htab.update_elem(k4(i), k4(i), ANY)
    htab.free()
    assert htab.elem_count == 0
    assert htab.lookup_elem(k4(3)) is None
    with pytest.raises(KernelError) as ei:
        htab.get_next_key(k4(0))
    assert ei.value.errno == errno.ENOENT


def test_htab_lookup_returns_immutable_copy() -> None:
    htab = htab_map_alloc(4, 4, 1)
    value = bytearray(b"abcd")
    htab.update_elem(k4(0), value, ANY)  # type: ignore[arg-type]
    value[0] = 0
    got = htab.lookup_elem(k4(0))
    assert got == b"abcd"
    assert isinstance(got, bytes)


# --- get_next_key ---------------------------------------------------------------------


def test_s30_htab_map_get_next_key_empty_map_is_enoent() -> None:
    htab = htab_map_alloc(4, 4, 4)
    with pytest.raises(KernelError) as ei:
        htab.get_next_key(k4(0))
    assert ei.value.errno == errno.ENOENT


def test_s30_htab_map_get_next_key_unknown_key_gives_first_and_last_gives_enoent() -> None:
    htab = htab_map_alloc(4, 4, 64)
    keys = [k4(i) for i in range(40)]
    for key in keys:
        htab.update_elem(key, key, ANY)
    expected = sorted(keys, key=lambda k: (bucket_of(htab, k), -keys.index(k)))
    assert htab.get_next_key(k4(1000)) == expected[0]
    for cur, nxt in itertools.pairwise(expected):
        assert htab.get_next_key(cur) == nxt
    with pytest.raises(KernelError) as ei:
        htab.get_next_key(expected[-1])
    assert ei.value.errno == errno.ENOENT


def test_s30_htab_map_get_next_key_deterministic_order_of_u32_keys() -> None:
    """htab_map_get_next_key with jhash initval 0: the order is fixed at the seed.

    jhash of LE u32 keys 0..3 is 0x049396b8, 0x72a82a9b, 0xee626cca, 0x9917754f, so with
    4 buckets they land in buckets 0, 3, 2, 3.
    """
    htab = htab_map_alloc(4, 4, 4)
    for i in range(4):
        htab.update_elem(k4(i), k4(i), ANY)
    assert walk(htab, k4(99)) == [k4(0), k4(2), k4(3), k4(1)]


@settings(max_examples=budget(200), deadline=None)
@given(
    max_entries=st.integers(min_value=1, max_value=64),
    raw_keys=st.lists(st.binary(min_size=3, max_size=3), max_size=80, unique=True),
    data=st.data(),
)
def test_s30_get_next_key_from_unknown_key_visits_every_key_once(
    max_entries: int, raw_keys: list[bytes], data: st.DataObject
) -> None:
    """htab_map_get_next_key: a full walk yields each key once, in bucket order
    (buckets ascending, newest first in a bucket), then ENOENT."""
    htab = htab_map_alloc(3, 1, max_entries)
    inserted: list[bytes] = []
    for key in raw_keys:
        if len(inserted) == max_entries:
            break
        htab.update_elem(key, b"v", NOEXIST)
        inserted.append(key)
    unknown = data.draw(st.binary(min_size=3, max_size=3).filter(lambda k: k not in inserted))
    order = walk(htab, unknown)
    assert sorted(order) == sorted(inserted)
    age = {key: i for i, key in enumerate(inserted)}
    assert order == sorted(inserted, key=lambda k: (bucket_of(htab, k), -age[k]))


KEYS = [bytes([i, i ^ 0x5A]) for i in range(12)]


class HashTabModel(RuleBasedStateMachine):
    """S24-S26, S29, S30 against a dict model that also predicts iteration order."""

    def __init__(self) -> None:
        super().__init__()
        self.htab = htab_map_alloc(2, 2, 5)
        self.model: dict[bytes, bytes] = {}
        self.stamp: dict[bytes, int] = {}
        self.clock = 0

    @rule(
        key=st.sampled_from(KEYS),
        value=st.binary(min_size=2, max_size=2),
        flags=st.sampled_from([ANY, NOEXIST, EXIST, 3]),
    )
    def update(self, key: bytes, value: bytes, flags: int) -> None:
        present = key in self.model
        if flags > EXIST:
            expected: int | None = errno.EINVAL
        elif not present and len(self.model) >= self.htab.max_entries:
            expected = errno.E2BIG
        elif present and flags == NOEXIST:
            expected = errno.EEXIST
        elif not present and flags == EXIST:
            expected = errno.ENOENT
        else:
            expected = None
        try:
            self.htab.update_elem(key, value, flags)
        except KernelError as e:
            assert e.errno == expected
        else:
            assert expected is None
            self.model[key] = value
            self.clock += 1
            self.stamp[key] = self.clock

    @rule(key=st.sampled_from(KEYS))
    def delete(self, key: bytes) -> None:
        try:
            self.htab.delete_elem(key)
        except KernelError as e:
            assert e.errno == errno.ENOENT
            assert key not in self.model
        else:
            del self.model[key]
            del self.stamp[key]

    @rule(key=st.sampled_from(KEYS))
    def lookup(self, key: bytes) -> None:
        assert self.htab.lookup_elem(key) == self.model.get(key)

    @invariant()
    def count_and_order(self) -> None:
        assert self.htab.elem_count == len(self.model)
        expected = sorted(self.model, key=lambda k: (bucket_of(self.htab, k), -self.stamp[k]))
        assert walk(self.htab, b"\xff\xff") == expected


TestHashTabModel = HashTabModel.TestCase
TestHashTabModel.settings = settings(
    max_examples=budget(100), stateful_step_count=40, deadline=None
)
