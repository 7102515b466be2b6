"""``check_invariants`` counts holders without naming them first (issue 17): the
count pass must catch every object fact the named pass (``collect_holders``) checks,
and the message is still the named one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import pinfs
from pinfs.base.profiles import LINUX_4_4, SEED
from pinfs.base.uapi import MS_SHARED
from pinfs.ebpf.attr import BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PROG_ARRAY
from pinfs.ebpf.objects import BpfMap, BpfProg
from pinfs.ebpf.prog import RETURN_ZERO
from pinfs.machine import invariants
from pinfs.machine.invariants import InvariantError
from pinfs.machine.task import CLONE_NEWNS
from pinfs.mountns import T_SHARED, Mount


def world(profile: pinfs.Profile) -> tuple[pinfs.Kernel, BpfMap, BpfMap, BpfProg]:
    """A map pinned twice and open, a PROG_ARRAY holding a pinned program."""
    k = pinfs.Kernel(profile)
    t = k.init_task
    t.mount("bpf", "/sys/fs/bpf", "bpf")
    fd = t.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 2)
    t.obj_pin(fd, "/sys/fs/bpf/a")
    t.obj_pin(fd, "/sys/fs/bpf/b")
    pa = t.map_create(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 2)
    prog = t.prog_load(1, RETURN_ZERO)
    t.map_update_elem(pa, b"\0\0\0\0", prog.to_bytes(4, "little"))
    t.obj_pin(prog, "/sys/fs/bpf/p")
    m, a, p = (t.fd_object(x) for x in (fd, pa, prog))
    assert isinstance(m, BpfMap) and isinstance(a, BpfMap) and isinstance(p, BpfProg)
    return k, m, a, p


def more_refs(k: pinfs.Kernel, m: BpfMap, a: BpfMap, p: BpfProg) -> None:
    m.refcnt += 1


def fewer_refs(k: pinfs.Kernel, m: BpfMap, a: BpfMap, p: BpfProg) -> None:
    p.refcnt -= 1


def freed_but_pinned(k: pinfs.Kernel, m: BpfMap, a: BpfMap, p: BpfProg) -> None:
    m.freed = True


def extra_used_map(k: pinfs.Kernel, m: BpfMap, a: BpfMap, p: BpfProg) -> None:
    p.used_maps.append(a)


def usercnt_off(k: pinfs.Kernel, m: BpfMap, a: BpfMap, p: BpfProg) -> None:
    m.usercnt += 1


CORRUPTIONS: list[Callable[[pinfs.Kernel, BpfMap, BpfMap, BpfProg], None]] = [
    more_refs,
    fewer_refs,
    freed_but_pinned,
    extra_used_map,
    usercnt_off,
]


@pytest.mark.parametrize("profile", [SEED, LINUX_4_4], ids=["seed", "4.4"])
def test_a_consistent_kernel_adds_up(profile: pinfs.Profile) -> None:
    k, *_ = world(profile)
    assert invariants._objects_add_up(k)
    assert invariants._object_problems(k) == []
    k.check_invariants()


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__)
def test_every_object_fact_is_caught_by_the_count_pass(
    corrupt: Callable[[pinfs.Kernel, BpfMap, BpfMap, BpfProg], None],
) -> None:
    k, m, a, p = world(LINUX_4_4)  # 4.4 counts usercnt
    corrupt(k, m, a, p)
    assert not invariants._objects_add_up(k)
    named = invariants._object_problems(k)
    assert named
    with pytest.raises(InvariantError) as caught:
        k.check_invariants()
    assert str(caught.value).splitlines()[: len(named)] == named


def test_usercnt_is_not_a_fact_without_the_switch() -> None:
    k, m, a, p = world(SEED)
    usercnt_off(k, m, a, p)
    assert invariants._objects_add_up(k)
    k.check_invariants()


def test_pin_names_are_the_first_path_walked() -> None:
    """``kernel.objects()`` still names each pin (the names are built only for pins)."""
    k, m, _a, p = world(SEED)
    held = {
        info.obj: sorted(h.detail for h in info.holders if h.kind == "pin") for info in k.objects()
    }
    assert [d.split(":")[-1] for d in held[m]] == ["/a", "/b"]
    assert [d.split(":")[-1] for d in held[p]] == ["/p"]


def shared_world() -> tuple[pinfs.Kernel, list[Mount]]:
    """/sys/fs/bpf shared and copied into a second namespace: a peer group of two."""
    k = pinfs.Kernel(SEED)
    t = k.init_task
    t.mount("bpf", "/sys/fs/bpf", "bpf")
    t.mount("none", "/sys/fs/bpf", None, MS_SHARED)
    t.fork().unshare(CLONE_NEWNS)
    return k, [m for ns in k.namespaces for m in ns.mounts]


def test_propagation_checks_look_at_private_mounts_too() -> None:
    """A private, peerless, masterless mount skips the ring and master checks, but a
    shared flag without a group id is still caught, with the same message."""
    k, mounts = shared_world()
    assert invariants.check_propagation(k) == []
    private = next(m for m in mounts if not m.mnt_group_id)
    private.mnt_t_flags |= T_SHARED
    ns_id = private.mnt_ns.ns_id if private.mnt_ns else None
    assert invariants.check_propagation(k) == [
        f"{private!r} (ns {ns_id}): shared=True but group id 0"
    ]


def test_propagation_checks_name_broken_rings_and_masters() -> None:
    k, mounts = shared_world()
    a, b = (m for m in mounts if m.mnt_group_id)
    b.mnt_share = [a, b]  # b holds a ring of its own: two rings, one group id
    assert invariants.check_propagation(k) == [
        f"{a!r} (ns 1): {b!r} is in its ring but not its peer",
        f"{b!r} (ns 2): {a!r} is in its ring but not its peer",
        f"{b!r} (ns 2): group id {b.mnt_group_id} is used by two peer groups",
    ]
    k, mounts = shared_world()
    a, b = (m for m in mounts if m.mnt_group_id)
    private = next(m for m in mounts if not m.mnt_group_id)
    private.mnt_master = a  # a slave a does not list
    problems = invariants.check_propagation(k)
    assert problems == [f"{private!r} (ns {private.mnt_ns.ns_id}): not on its master's slave list"]
