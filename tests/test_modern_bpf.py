"""The modern bpf(2) object model on pinfs alone: layouts per profile, ids, info,
names and flags (issue 12).  The live comparisons are in tests/scenarios/modern/ and
tests/test_modern_live.py."""

from __future__ import annotations

import errno
import struct

import pytest

import pinfs
from pinfs.base.profiles import LINUX_4_7, LINUX_5_10, LINUX_6_18, SEED
from pinfs.ebpf.attr import (
    ATTR_LAYOUT,
    BPF_F_NO_PREALLOC,
    BPF_F_RDONLY,
    BPF_MAP_CREATE,
    BPF_MAP_LOOKUP_ELEM,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_PROG_LOAD,
    layouts_for,
)
from pinfs.ebpf.ids import Idr
from pinfs.ebpf.info import bpf_prog_calc_tag
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from snapshot import snapshot
from support import err


@pytest.mark.parametrize(
    ("profile", "map_create", "prog_load", "lookup"),
    [
        (SEED, 16, 44, 24),
        (LINUX_4_7, 20, 44, 24),
        (LINUX_5_10, 64, 116, 32),
        (LINUX_6_18, 92, 168, 32),
    ],
)
def test_check_attr_tail_starts_after_each_kernels_last_field(
    profile: pinfs.Profile, map_create: int, prog_load: int, lookup: int
) -> None:
    table = layouts_for(profile)
    assert table[BPF_MAP_CREATE].check_from == map_create
    assert table[BPF_PROG_LOAD].check_from == prog_load
    assert table[BPF_MAP_LOOKUP_ELEM].check_from == lookup
    assert all(table[cmd].check_from <= profile.bpf_attr_size for cmd in table)


def test_the_seed_table_is_the_seed_profiles_table() -> None:
    assert {int(c): v for c, v in ATTR_LAYOUT.items()} == layouts_for(SEED)


def test_idr_is_cyclic_and_wraps_to_the_lowest_free_id() -> None:
    idr = Idr(end=5)
    assert [idr.alloc_cyclic(object()) for _ in range(3)] == [1, 2, 3]
    idr.remove(2)
    assert idr.alloc_cyclic(object()) == 4  # not 2: the search starts after 3
    assert idr.alloc_cyclic(object()) == 2  # the space is exhausted above: wrap
    with pytest.raises(OSError) as exc:
        idr.alloc_cyclic(object())
    assert exc.value.errno == errno.ENOSPC
    assert idr.get_next(3) == 3 and idr.get_next(5) is None


def test_maps_and_programs_have_separate_id_spaces() -> None:
    t = pinfs.Kernel(LINUX_6_18).init_task
    m = t.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    p = t.prog_load(1, RETURN_ZERO)
    assert (t.fd_object(m).idr_id, t.fd_object(p).idr_id) == (1, 1)  # type: ignore[attr-defined]
    assert t.map_get_next_id(0) == 1 and t.prog_get_next_id(0) == 1
    assert err(t.map_get_next_id, 1) == errno.ENOENT


def test_a_refused_map_changes_nothing_and_takes_no_id() -> None:
    k = pinfs.Kernel(LINUX_6_18)
    t = k.init_task
    before = snapshot(k)
    assert err(t.map_create, BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, "no-dash") == errno.EINVAL
    assert snapshot(k) == before
    assert t.fd_object(t.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1)).idr_id == 1  # type: ignore[attr-defined]


def test_an_id_leaves_with_the_last_reference() -> None:
    t = pinfs.Kernel(LINUX_6_18).init_task
    m = t.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    p = t.prog_load(1, BPF_LD_MAP_FD(1, m) + RETURN_ZERO)
    t.close(m)  # the program still uses the map
    fd = t.map_get_fd_by_id(1, BPF_F_RDONLY)
    assert err(t.map_update_elem, fd, bytes(4), bytes(4)) == errno.EPERM
    t.close(fd)
    t.close(p)
    assert err(t.map_get_fd_by_id, 1) == errno.ENOENT
    assert err(t.prog_get_fd_by_id, 1) == errno.ENOENT


def test_map_info_reports_flags_without_the_fd_mode_and_the_name() -> None:
    t = pinfs.Kernel(LINUX_6_18).init_task
    fd = t.map_create(BPF_MAP_TYPE_HASH, 4, 8, 3, BPF_F_NO_PREALLOC | BPF_F_RDONLY, "counts")
    info = t.obj_get_info_by_fd(fd, 300)
    assert len(info) == 104
    assert struct.unpack_from("<6I", info) == (BPF_MAP_TYPE_HASH, 1, 4, 8, 3, BPF_F_NO_PREALLOC)
    assert info[24:40] == b"counts".ljust(16, b"\0")
    assert len(t.obj_get_info_by_fd(fd, 8)) == 8
    old = pinfs.Kernel(LINUX_5_10).init_task
    assert len(old.obj_get_info_by_fd(old.map_create(BPF_MAP_TYPE_HASH, 4, 8, 3), 300)) == 80
    assert err(pinfs.Kernel().init_task.obj_get_info_by_fd, fd, 8) == errno.EINVAL  # no command


def test_prog_info_lengths_need_cap_bpf() -> None:
    k = pinfs.Kernel(LINUX_6_18, unprivileged_bpf_disabled=0)
    root, user = k.init_task, k.spawn(uid=1000)
    for task, xlated in ((root, 16), (user, 0)):
        fd = task.prog_load(1, RETURN_ZERO)
        info = task.obj_get_info_by_fd(fd, 232)
        assert struct.unpack_from("<II", info, 16) == (0, xlated)
        assert struct.unpack_from("<I", info, 48)[0] == task.cred.uid  # created_by_uid


def test_prog_tag_is_sha1_before_6_18_and_sha256_since() -> None:
    # Measured on the live 6.18 kernel (bpf_prog_info.tag of "r0 = 0; exit").
    assert bpf_prog_calc_tag(RETURN_ZERO, sha256=True).hex() == "59f4a931744dcdc6"
    assert bpf_prog_calc_tag(RETURN_ZERO, sha256=False).hex() == "a04f5eef06a7f555"
    # Map fds do not change the tag.
    assert bpf_prog_calc_tag(BPF_LD_MAP_FD(1, 3), True) == bpf_prog_calc_tag(
        BPF_LD_MAP_FD(1, 9), True
    )


def test_map_flags_by_era() -> None:
    old, new = pinfs.Kernel(LINUX_4_7).init_task, pinfs.Kernel(LINUX_6_18).init_task
    assert err(old.map_create, BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_NO_PREALLOC) == 0
    assert err(old.map_create, BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_RDONLY) == errno.EINVAL
    assert err(old.map_create, BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_NO_PREALLOC) == errno.EINVAL
    assert err(new.map_create, BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_RDONLY) == 0
    assert err(pinfs.Kernel().init_task.map_create, BPF_MAP_TYPE_HASH, 4, 4, 1, 1) == errno.EINVAL


def test_linux_5_10_still_charges_memlock_and_6_18_boots_with_8_mib() -> None:
    t = pinfs.Kernel(LINUX_5_10).init_task
    assert err(t.map_create, BPF_MAP_TYPE_ARRAY, 4, 4096, 64) == errno.EPERM  # > 64 KiB
    assert pinfs.Kernel(LINUX_6_18).init_task.getrlimit(8) == (8 << 20, 8 << 20)
