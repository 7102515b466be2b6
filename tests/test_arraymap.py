"""Seed array and fd-array maps (kernel/bpf/arraymap.c): rows S14-S16, S23, S24, S27-S30."""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinfs.base.errors import KernelError, kernel_error
from pinfs.ebpf.arraymap import (
    BPF_ARRAY_SIZE,
    ArrayMap,
    FdArray,
    array_map_alloc,
    fd_array_map_alloc,
)
from support import budget

ANY, NOEXIST, EXIST = 0, 1, 2
U32_MAX = 0xFFFFFFFF


def k4(i: int) -> bytes:
    return i.to_bytes(4, "little")


def errno_of(exc_info: pytest.ExceptionInfo[KernelError]) -> int | None:
    return exc_info.value.errno


# --- array_map_alloc ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_size", "value_size", "max_entries"),
    [(0, 4, 1), (3, 4, 1), (5, 4, 1), (8, 4, 1), (4, 0, 1), (4, 4, 0)],
)
def test_s14_array_map_alloc_bad_attributes_are_einval(
    key_size: int, value_size: int, max_entries: int
) -> None:
    with pytest.raises(KernelError) as ei:
        array_map_alloc(key_size, value_size, max_entries)
    assert errno_of(ei) == errno.EINVAL


def test_s14_array_map_alloc_einval_before_enomem() -> None:
    with pytest.raises(KernelError) as ei:
        array_map_alloc(8, U32_MAX, U32_MAX)
    assert errno_of(ei) == errno.EINVAL


@pytest.mark.parametrize("value_size", [U32_MAX - 6, U32_MAX - 1, U32_MAX])
def test_s15_array_map_alloc_elem_size_round_up_wraps_to_zero_is_enomem(value_size: int) -> None:
    with pytest.raises(KernelError) as ei:
        array_map_alloc(4, value_size, 1)
    assert errno_of(ei) == errno.ENOMEM


def test_s15_array_map_alloc_total_size_over_u32_is_enomem() -> None:
    """array_map_alloc: max_entries > (U32_MAX - sizeof(struct bpf_array)) / elem_size."""
    limit = (U32_MAX - BPF_ARRAY_SIZE) // 8
    assert limit == 536870900
    array_map_alloc(4, 8, limit)
    with pytest.raises(KernelError) as ei:
        array_map_alloc(4, 8, limit + 1)
    assert errno_of(ei) == errno.ENOMEM
    # elem_size 2^32 - 8 does not wrap, but one element plus the header exceeds U32_MAX.
    with pytest.raises(KernelError) as ei:
        array_map_alloc(4, U32_MAX - 7, 1)
    assert errno_of(ei) == errno.ENOMEM


@pytest.mark.parametrize(
    ("value_size", "max_entries", "elem_size", "pages"),
    [
        (4, 1, 8, 1),  # 88 + 8
        (8, 1000, 8, 2),  # 88 + 8000
        (4096, 1, 4096, 2),  # 88 + 4096
        (1, 501, 8, 1),  # 88 + 4008 = 4096 exactly
        (1, 502, 8, 2),
        (8, 536870389, 8, 1048575),  # 88 + 4294963112 = 2^32 - 4096 exactly
    ],
)
def test_array_map_alloc_pages(
    value_size: int, max_entries: int, elem_size: int, pages: int
) -> None:
    """array_map_alloc: pages = round_up(sizeof(struct bpf_array) + n * elem_size, 4096)."""
    array = array_map_alloc(4, value_size, max_entries)
    assert (array.elem_size, array.pages) == (elem_size, pages)
    assert (array.key_size, array.value_size, array.max_entries) == (4, value_size, max_entries)


def test_s15_array_map_alloc_pages_round_up_wraps_to_zero_in_u32() -> None:
    """array_map_alloc: array_size is a u32, and round_up() of a size within a page of
    U32_MAX wraps to 0, so the seed charges no memlock at all for this map."""
    array = array_map_alloc(4, 8, 536870900)
    assert BPF_ARRAY_SIZE + 536870900 * 8 == 4294967288
    assert array.pages == 0


def test_array_map_alloc_is_lazy_for_huge_arrays() -> None:
    array = array_map_alloc(4, 8, 536870900)
    assert array.lookup_elem(k4(536870899)) == bytes(8)
    array.update_elem(k4(536870899), b"12345678", ANY)
    assert array.lookup_elem(k4(536870899)) == b"12345678"


@pytest.mark.parametrize("bad", [-1, 1 << 32, None])
def test_array_map_alloc_rejects_values_a_u32_cannot_hold(bad: object) -> None:
    with pytest.raises(ValueError):
        array_map_alloc(4, bad, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        array_map_alloc(4, 4, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        fd_array_map_alloc(4, bad, 1)  # type: ignore[arg-type]


# --- ArrayMap ops ---------------------------------------------------------------------


@pytest.fixture
def array() -> ArrayMap:
    return array_map_alloc(4, 6, 4)


def test_s23_array_map_lookup_elem(array: ArrayMap) -> None:
    """array_map_lookup_elem: zero-filled in range, None (ENOENT) at index >= max_entries."""
    for i in range(4):
        assert array.lookup_elem(k4(i)) == bytes(6)
    assert array.lookup_elem(k4(4)) is None
    assert array.lookup_elem(k4(U32_MAX)) is None


@pytest.mark.parametrize("flags", [3, 4, (1 << 64) - 1])
def test_s24_array_map_update_elem_unknown_flags_is_einval_before_e2big(
    array: ArrayMap, flags: int
) -> None:
    for index in (0, 99):
        with pytest.raises(KernelError) as ei:
            array.update_elem(k4(index), bytes(6), flags)
        assert errno_of(ei) == errno.EINVAL


def test_s27_array_map_update_elem_out_of_range_is_e2big_before_eexist(array: ArrayMap) -> None:
    for flags in (ANY, NOEXIST, EXIST):
        with pytest.raises(KernelError) as ei:
            array.update_elem(k4(4), bytes(6), flags)
        assert errno_of(ei) == errno.E2BIG


def test_s27_array_map_update_elem_noexist_is_always_eexist(array: ArrayMap) -> None:
    """array_map_update_elem: every element exists, written or not."""
    with pytest.raises(KernelError) as ei:
        array.update_elem(k4(0), b"abcdef", NOEXIST)
    assert errno_of(ei) == errno.EEXIST
    assert array.lookup_elem(k4(0)) == bytes(6)


@pytest.mark.parametrize("flags", [ANY, EXIST])
def test_s27_array_map_update_elem_any_or_exist_stores(array: ArrayMap, flags: int) -> None:
    array.update_elem(k4(2), b"abcdef", flags)
    got = array.lookup_elem(k4(2))
    assert got == b"abcdef"
    array.update_elem(k4(2), b"uvwxyz", flags)
    assert array.lookup_elem(k4(2)) == b"uvwxyz"
    assert got == b"abcdef"  # an earlier lookup result is a copy
    assert array.lookup_elem(k4(1)) == bytes(6)


def test_s29_array_map_delete_elem_is_always_einval(array: ArrayMap) -> None:
    array.update_elem(k4(1), b"abcdef", ANY)
    for index in (0, 1, 4, U32_MAX):
        with pytest.raises(KernelError) as ei:
            array.delete_elem(k4(index))
        assert errno_of(ei) == errno.EINVAL
    assert array.lookup_elem(k4(1)) == b"abcdef"


def test_array_ops_reject_wrong_key_or_value_length(array: ArrayMap) -> None:
    with pytest.raises(ValueError):
        array.lookup_elem(b"\x00" * 8)
    with pytest.raises(ValueError):
        array.update_elem(k4(0), b"abc", ANY)
    with pytest.raises(ValueError):
        array.delete_elem(b"")
    with pytest.raises(ValueError):
        array.get_next_key(b"\x00")


def test_array_map_free(array: ArrayMap) -> None:
    array.update_elem(k4(1), b"abcdef", ANY)
    array.free()
    assert array.lookup_elem(k4(1)) == bytes(6)


def test_s30_array_map_get_next_key(array: ArrayMap) -> None:
    assert array.get_next_key(k4(0)) == k4(1)
    assert array.get_next_key(k4(2)) == k4(3)
    with pytest.raises(KernelError) as ei:
        array.get_next_key(k4(3))
    assert errno_of(ei) == errno.ENOENT
    assert array.get_next_key(k4(4)) == k4(0)
    assert array.get_next_key(k4(U32_MAX)) == k4(0)


@given(
    max_entries=st.integers(min_value=1, max_value=U32_MAX),
    index=st.integers(min_value=0, max_value=U32_MAX),
)
def test_s30_array_map_get_next_key_rule(max_entries: int, index: int) -> None:
    """array_map_get_next_key: >= max -> 0; max-1 -> ENOENT; else index+1 (LE u32)."""
    arr = ArrayMap(key_size=4, value_size=4, max_entries=max_entries, elem_size=8, pages=1)
    fd_arr = FdArray(max_entries=max_entries, pages=1)
    for m in (arr, fd_arr):
        if index == max_entries - 1:
            with pytest.raises(KernelError) as ei:
                m.get_next_key(k4(index))
            assert errno_of(ei) == errno.ENOENT
        else:
            expected = 0 if index >= max_entries else index + 1
            assert m.get_next_key(k4(index)) == k4(expected)


@settings(max_examples=budget(100))
@given(
    ops=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=6),
            st.binary(min_size=3, max_size=3),
            st.sampled_from([ANY, NOEXIST, EXIST, 3]),
        ),
        max_size=30,
    )
)
def test_s24_s27_array_update_matches_list_model(ops: list[tuple[int, bytes, int]]) -> None:
    """array_map_update_elem against a zero-initialised list."""
    arr = array_map_alloc(4, 3, 5)
    model = [bytes(3)] * 5
    for index, value, flags in ops:
        if flags > EXIST:
            expected: int | None = errno.EINVAL
        elif index >= 5:
            expected = errno.E2BIG
        elif flags == NOEXIST:
            expected = errno.EEXIST
        else:
            expected = None
            model[index] = value
        try:
            arr.update_elem(k4(index), value, flags)
        except KernelError as e:
            assert e.errno == expected
        else:
            assert expected is None
    assert [arr.lookup_elem(k4(i)) for i in range(5)] == model


# --- fd arrays ------------------------------------------------------------------------


@pytest.mark.parametrize("value_size", [0, 1, 3, 5, 8, U32_MAX])
def test_s16_fd_array_map_alloc_value_size_not_4_is_einval(value_size: int) -> None:
    """fd_array_map_alloc: value_size != sizeof(u32) is checked before the array rules
    (U32_MAX would be ENOMEM under array_map_alloc)."""
    with pytest.raises(KernelError) as ei:
        fd_array_map_alloc(4, value_size, 1)
    assert errno_of(ei) == errno.EINVAL


def test_s16_fd_array_map_alloc_then_array_rules() -> None:
    for key_size, max_entries in ((8, 1), (4, 0)):
        with pytest.raises(KernelError) as ei:
            fd_array_map_alloc(key_size, 4, max_entries)
        assert errno_of(ei) == errno.EINVAL
    with pytest.raises(KernelError) as ei:
        fd_array_map_alloc(4, 4, 536870901)
    assert errno_of(ei) == errno.ENOMEM
    fd_arr = fd_array_map_alloc(4, 4, 1000)
    assert (fd_arr.key_size, fd_arr.value_size, fd_arr.elem_size) == (4, 4, 8)
    assert fd_arr.pages == 2  # 88 + 8000 bytes
    assert fd_arr.max_entries == 1000
    assert fd_arr.slots == {}
    assert fd_arr.owner_prog_type is None
    assert fd_arr.owner_jited is None


class Obj:
    def __init__(self, fd: int) -> None:
        self.fd = fd


def getter(calls: list[int]) -> Callable[[int], Obj]:
    def get_ptr(fd: int) -> Obj:
        calls.append(fd)
        return Obj(fd)

    return get_ptr


@pytest.fixture
def fd_arr() -> FdArray:
    return fd_array_map_alloc(4, 4, 4)


def test_s23_fd_array_map_lookup_elem_is_always_none(fd_arr: FdArray) -> None:
    """fd_array_map_lookup_elem returns NULL: ENOENT even for a filled slot."""
    fd_arr.update_elem(k4(0), k4(7), ANY, lambda fd: Obj(fd))
    assert fd_arr.lookup_elem(k4(0)) is None
    assert fd_arr.lookup_elem(k4(1)) is None
    assert fd_arr.lookup_elem(k4(99)) is None


@pytest.mark.parametrize("flags", [NOEXIST, EXIST, 3, (1 << 64) - 1])
def test_s28_fd_array_map_update_elem_flags_not_any_is_einval(fd_arr: FdArray, flags: int) -> None:
    calls: list[int] = []
    for index in (0, 99):
        with pytest.raises(KernelError) as ei:
            fd_arr.update_elem(k4(index), k4(7), flags, getter(calls))
        assert errno_of(ei) == errno.EINVAL
    assert calls == []


def test_s28_fd_array_map_update_elem_out_of_range_is_e2big_before_fd(fd_arr: FdArray) -> None:
    calls: list[int] = []
    with pytest.raises(KernelError) as ei:
        fd_arr.update_elem(k4(4), k4(7), ANY, getter(calls))
    assert errno_of(ei) == errno.E2BIG
    assert calls == []


def test_s28_fd_array_map_update_elem_get_ptr_error_propagates(fd_arr: FdArray) -> None:
    """fd_array_map_update_elem: map_fd_get_ptr's error (EBADF, EINVAL) is returned
    and the slot is left as it was."""
    first = Obj(5)
    fd_arr.update_elem(k4(1), k4(5), ANY, lambda fd: first)

    def bad(fd: int) -> object:
        raise kernel_error(errno.EBADF)

    with pytest.raises(KernelError) as ei:
        fd_arr.update_elem(k4(1), k4(9), ANY, bad)
    assert errno_of(ei) == errno.EBADF
    assert fd_arr.slots == {1: first}


def test_s28_fd_array_map_update_elem_stores_and_returns_old(fd_arr: FdArray) -> None:
    calls: list[int] = []
    get_ptr = getter(calls)
    assert fd_arr.update_elem(k4(2), k4(0x01020304), ANY, get_ptr) is None
    assert calls == [0x01020304]  # value decoded as a little-endian u32 fd
    first = fd_arr.slots[2]
    old = fd_arr.update_elem(k4(2), k4(U32_MAX), ANY, get_ptr)
    assert old is first
    assert calls == [0x01020304, U32_MAX]
    assert isinstance(fd_arr.slots[2], Obj)
    assert fd_arr.slots[2].fd == U32_MAX


def test_s29_fd_array_map_delete_elem(fd_arr: FdArray) -> None:
    for index in (4, U32_MAX):
        with pytest.raises(KernelError) as ei:
            fd_arr.delete_elem(k4(index))
        assert errno_of(ei) == errno.E2BIG
    with pytest.raises(KernelError) as ei:
        fd_arr.delete_elem(k4(0))
    assert errno_of(ei) == errno.ENOENT
    obj = Obj(3)
    fd_arr.update_elem(k4(3), k4(3), ANY, lambda fd: obj)
    assert fd_arr.delete_elem(k4(3)) is obj
    assert fd_arr.slots == {}
    with pytest.raises(KernelError) as ei:
        fd_arr.delete_elem(k4(3))
    assert errno_of(ei) == errno.ENOENT


def test_s30_fd_array_get_next_key_walks_every_index(fd_arr: FdArray) -> None:
    fd_arr.update_elem(k4(2), k4(2), ANY, lambda fd: Obj(fd))
    keys = []
    key = k4(U32_MAX)
    while True:
        try:
            key = fd_arr.get_next_key(key)
        except KernelError as e:
            assert e.errno == errno.ENOENT
            break
        keys.append(key)
    assert keys == [k4(0), k4(1), k4(2), k4(3)]


def test_s95_bpf_fd_array_map_clear_returns_objects_in_index_order() -> None:
    fd_arr = fd_array_map_alloc(4, 4, 10)
    objs = {i: Obj(i) for i in (7, 0, 3)}
    for i, obj in objs.items():
        fd_arr.update_elem(k4(i), k4(i), ANY, lambda fd, o=obj: o)  # type: ignore[misc]
    assert fd_arr.clear() == [objs[0], objs[3], objs[7]]
    assert fd_arr.slots == {}
    assert fd_arr.clear() == []


def test_fd_array_rejects_wrong_lengths_and_null_get_ptr(fd_arr: FdArray) -> None:
    with pytest.raises(ValueError):
        fd_arr.update_elem(k4(0), b"\x00" * 8, ANY, lambda fd: Obj(fd))
    with pytest.raises(ValueError):
        fd_arr.update_elem(b"\x00", k4(0), ANY, lambda fd: Obj(fd))
    with pytest.raises(ValueError):
        fd_arr.update_elem(k4(0), k4(0), ANY, lambda fd: None)
    assert fd_arr.slots == {}
