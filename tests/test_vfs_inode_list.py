"""``sb->s_inodes`` as the kernel keeps it: a list threaded through the inodes
(``i_sb_list``), in creation order; ``evict`` takes an inode off it, which is what
``Inode.freed`` reads; a saved kernel (``pinfs.host.state``) keeps the order however
many inodes there are."""

from __future__ import annotations

import pytest

import pinfs
from pinfs.host.state import dumps, loads
from pinfs.vfs import Inode, SuperBlock

BPFFS = "/sys/fs/bpf"


def _bpffs(n: int) -> pinfs.Kernel:
    k = pinfs.Kernel()
    t = k.init_task
    t.mount("bpf", BPFFS, "bpf")
    fd = t.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    for i in range(n):
        t.obj_pin(fd, f"{BPFFS}/p{i}")
    t.close(fd)
    return k


def _sb_of(k: pinfs.Kernel) -> SuperBlock:
    (sb,) = k.filesystems["bpf"].fs_supers
    return sb


def _pins(sb: SuperBlock) -> list[int]:
    return [inode.i_ino for inode in sb.s_inodes]


def test_inodes_are_listed_oldest_first_and_evict_takes_them_off() -> None:
    k = _bpffs(5)
    sb = _sb_of(k)
    inodes = list(sb.s_inodes)
    assert len(sb.s_inodes) == 6 and inodes[0].is_dir  # the root, then the pins
    assert [i.i_ino for i in inodes[1:]] == sorted(i.i_ino for i in inodes[1:])
    victim = inodes[3]
    assert victim in sb.s_inodes and not victim.freed
    k.init_task.unlink(f"{BPFFS}/p2")
    assert victim.freed and victim not in sb.s_inodes
    assert list(sb.s_inodes) == [i for i in inodes if i is not victim]
    assert isinstance(victim, Inode) and victim.i_sb_prev is None


def test_a_saved_kernel_keeps_thousands_of_inodes_in_order() -> None:
    k = _bpffs(3000)  # deeper than the recursion limit, were the links followed
    before = _pins(_sb_of(k))
    k2 = loads(dumps(k), k.profile.name)
    sb2 = _sb_of(k2)
    assert _pins(sb2) == before
    assert all(not inode.freed and inode.i_sb is sb2 for inode in sb2.s_inodes)
    k2.check_invariants()
    k2.init_task.unlink(f"{BPFFS}/p0")
    assert len(sb2.s_inodes) == len(before) - 1


def test_iterating_survives_evicting_the_current_inode_not_the_next() -> None:
    k = _bpffs(4)
    sb, t = _sb_of(k), k.init_task
    names = {inode.i_ino: f"{BPFFS}/p{i}" for i, inode in enumerate(list(sb.s_inodes)[1:])}
    for inode in sb.s_inodes:
        if inode.i_ino in names and inode.i_ino % 2:
            t.unlink(names[inode.i_ino])  # the one the loop is at
    assert len(sb.s_inodes) == 1 + sum(1 for ino in names if not ino % 2)
    survivors = list(sb.s_inodes)[1:]
    with pytest.raises(RuntimeError):
        for inode in sb.s_inodes:
            if inode.is_dir:
                t.unlink(names[survivors[0].i_ino])  # the next one
