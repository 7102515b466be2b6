"""Object lifetimes at the seed (spec rows S95-S100): bpf_map_release's PROG_ARRAY
flush, bpf_map_put / bpf_map_free_deferred, bpf_prog_release / __prog_put_common,
bpffs eviction, the unchecked 32-bit refcount (CVE-2016-4558) and the later
BPF_MAX_REFCNT, and how dup/fork/exec share or drop files."""

from __future__ import annotations

import errno
from typing import Any

import attrs
import pytest

import pinfs
from pinfs.base.profiles import SEED, Profile
from pinfs.ebpf.attr import BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PROG_ARRAY
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from pinfs.machine.invariants import InvariantError
from pinfs.machine.task import RLIMIT_NOFILE
from support import CONSOLE_FDS, err

BPFFS = "/sys/fs/bpf"
ARRAY, HASH, PROG_ARRAY = BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PROG_ARRAY
SOCKET_FILTER = 1
V44 = attrs.evolve(SEED, name="c9da161c6517", prog_array_flush_on_last_uref=True)


def boot(profile: Profile = SEED) -> tuple[pinfs.Kernel, pinfs.Task]:
    k = pinfs.Kernel(profile)
    k.init_task.mount("bpf", BPFFS, "bpf")
    return k, k.init_task


def k4(i: int) -> bytes:
    return i.to_bytes(4, "little")


def slots(t: pinfs.Task, fd: int) -> dict[int, Any]:
    return dict(t.fd_object(fd).storage.slots)


def tail_call_setup(t: pinfs.Task) -> tuple[int, int, Any, Any]:
    """A pinned PROG_ARRAY with a program in slot 0 (the prog's own fd stays open)."""
    pa = t.map_create(PROG_ARRAY, 4, 4, 4)
    prog = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    t.map_update_elem(pa, k4(0), k4(prog))
    t.obj_pin(pa, BPFFS + "/pa")
    return pa, prog, t.fd_object(pa), t.fd_object(prog)


# ---------------------------------------------------------------------------------------
# S95: the seed's PROG_ARRAY flush


def test_s95_prog_array_flushed_on_every_map_file_release_bpf_map_release() -> None:
    """bpf_map_release (seed form, v4.3.3 syscall.c:67-79): the last close of *any* file
    of a PROG_ARRAY (the MAP_CREATE file, every OBJ_GET file, via close, exit or exec)
    empties every slot, putting each prog, whatever pins or other files exist.  dup'ed
    and forked fds share the file, so closing one of them flushes nothing."""
    k, t = boot()
    pa, prog, PA, P = tail_call_setup(t)
    assert P.refcnt == 2
    d = t.dup(pa)
    t.close(d)
    c = t.fork()
    c.exit()
    assert slots(t, pa) == {0: P}
    g = t.obj_get(BPFFS + "/pa")
    t.close(g)  # another file of the map goes: flush, though the creator's fd is open
    assert slots(t, pa) == {}
    assert P.refcnt == 1
    t.map_update_elem(pa, k4(1), k4(prog))
    t.close(pa)  # the creator's file goes: flush again, though the map is pinned
    assert PA.refcnt == 1 and PA.storage.slots == {}
    assert P.refcnt == 1
    g = t.obj_get(BPFFS + "/pa")
    t.map_update_elem(g, k4(2), k4(prog))
    keep = t.dup(prog)  # no FD_CLOEXEC: the prog's file survives the exec
    t.execve()  # close-on-exec releases the OBJ_GET file: flush
    assert t.files.open_fds() == [*CONSOLE_FDS, keep]
    assert PA.storage.slots == {}
    assert (PA.refcnt, P.refcnt) == (1, 1)
    k.check_invariants()
    # exit of the process that holds the last fd of a file: release, flush
    u = k.spawn(uid=1000)
    upa = u.map_create(PROG_ARRAY, 4, 4, 1)
    uprog = u.prog_load(SOCKET_FILTER, RETURN_ZERO)
    u.map_update_elem(upa, k4(0), k4(uprog))
    u.obj_pin(upa, BPFFS + "/upa")
    UPA, UP = u.fd_object(upa), u.fd_object(uprog)
    u.exit()
    assert UPA.storage.slots == {} and UPA.refcnt == 1
    assert UP.freed
    k.check_invariants()


def test_s95_pin_eviction_and_umount_do_not_flush_bpf_any_put() -> None:
    """bpf_any_put / bpf_evict_inode call only bpf_map_put: unlinking the pin or
    unmounting the instance leaves the slots alone while a file remains; a file's
    release then flushes."""
    k, t = boot()
    pa, _prog, PA, P = tail_call_setup(t)
    t.unlink(BPFFS + "/pa")
    assert PA.storage.slots == {0: P}
    t.obj_pin(pa, BPFFS + "/pa")
    g = t.obj_get(BPFFS + "/pa")
    t.umount(BPFFS)
    assert PA.storage.slots == {0: P}
    assert (PA.refcnt, P.refcnt) == (2, 2)
    t.close(pa)
    assert not PA.freed and PA.storage.slots == {}
    assert (PA.refcnt, P.refcnt) == (1, 1)
    assert t.fd_object(g) is PA
    k.check_invariants()


def test_s95_not_flushed_with_usercnt_profile_bpf_map_put_uref() -> None:
    """c9da161c6517 (v4.4, ``prog_array_flush_on_last_uref=True``): the flush moves to
    bpf_map_put_uref, i.e. when the last user reference (file or pin) is gone: closing
    the creator's fd or an OBJ_GET file with a pin present keeps the slots; references
    held by programs (used_maps) are not user references and do not delay the flush."""
    k, t = boot(V44)
    pa, _prog, PA, P = tail_call_setup(t)
    user = t.prog_load(SOCKET_FILTER, BPF_LD_MAP_FD(1, pa) + RETURN_ZERO)
    g = t.obj_get(BPFFS + "/pa")
    t.close(g)
    t.close(pa)
    assert PA.storage.slots == {0: P}
    assert (PA.refcnt, PA.usercnt, P.refcnt) == (2, 1, 2)
    k.check_invariants()
    g = t.obj_get(BPFFS + "/pa")
    t.unlink(BPFFS + "/pa")
    assert t.fd_object(g).storage.slots == {0: P}
    t.close(g)  # the last user reference: flush (the user prog still holds the map)
    assert not PA.freed and PA.storage.slots == {}
    assert (PA.refcnt, PA.usercnt, P.refcnt) == (1, 0, 1)
    assert t.fd_object(user).used_maps == [PA]
    k.check_invariants()


@pytest.mark.parametrize("profile", [SEED, V44], ids=["seed", "usercnt"])
def test_s95_tail_call_cycle_is_broken_by_the_flush_bpf_fd_array_map_clear(
    profile: Profile,
) -> None:
    """bpf_fd_array_map_clear: a prog that uses its own PROG_ARRAY and sits in one of
    its slots forms a reference cycle; the flush (at file release at the seed, at the
    last user reference with usercnt) breaks it, so nothing leaks once every fd and pin
    is gone."""
    k, t = boot(profile)
    pa = t.map_create(PROG_ARRAY, 4, 4, 2)
    prog = t.prog_load(SOCKET_FILTER, BPF_LD_MAP_FD(1, pa) + RETURN_ZERO)
    t.map_update_elem(pa, k4(0), k4(prog))
    t.obj_pin(pa, BPFFS + "/pa")
    t.close(prog)
    t.close(pa)
    k.check_invariants()
    t.unlink(BPFFS + "/pa")
    assert k.objects() == []
    assert k.users[0].locked_vm == 0
    k.check_invariants()


# ---------------------------------------------------------------------------------------
# S96-S98: frees


def test_s96_map_freed_and_uncharged_at_refcnt_zero_bpf_map_free_deferred() -> None:
    """bpf_map_put -> bpf_map_free_deferred: at refcnt 0 the map is uncharged and freed
    (a work item in the kernel; pinfs completes it before the syscall returns); a map
    still used by a program survives its fd and goes with the program."""
    k, t = boot()
    h = t.map_create(HASH, 4, 4, 16)
    H = t.fd_object(h)
    pages = H.pages
    assert k.users[0].locked_vm == pages
    t.close(h)
    assert H.freed and k.objects() == [] and k.users[0].locked_vm == 0
    a = t.map_create(ARRAY, 4, 4, 1)
    A = t.fd_object(a)
    prog = t.prog_load(SOCKET_FILTER, BPF_LD_MAP_FD(1, a) + RETURN_ZERO)
    t.close(a)
    assert not A.freed and A.refcnt == 1
    assert [h.kind for o in k.objects() if o.obj is A for h in o.holders] == ["used_map"]
    t.close(prog)
    assert A.freed and k.objects() == [] and k.users[0].locked_vm == 0
    k.check_invariants()


def test_s96_prog_and_perf_arrays_are_freed_at_refcnt_zero_fd_array_map_free() -> None:
    """bpf_map_free_deferred -> fd_array_map_free: a PROG_ARRAY or PERF_EVENT_ARRAY whose
    last reference goes is uncharged and freed like any map (its slots are empty by
    then at the seed: every file release flushed them)."""
    k, t = boot()
    pa = t.map_create(PROG_ARRAY, 4, 4, 4)
    prog = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    t.map_update_elem(pa, k4(0), k4(prog))
    PA, P = t.fd_object(pa), t.fd_object(prog)
    assert k.users[0].locked_vm == 2
    t.close(pa)
    assert PA.freed
    assert P.refcnt == 1
    assert k.users[0].locked_vm == 1
    pe = t.map_create(pinfs.BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 4)
    PE = t.fd_object(pe)
    t.obj_pin(pe, BPFFS + "/pe")
    t.close(pe)
    t.unlink(BPFFS + "/pe")
    assert PE.freed
    assert [o.obj for o in k.objects()] == [P]
    assert k.users[0].locked_vm == 1
    k.check_invariants()


def test_s97_prog_freed_at_last_reference_puts_maps_and_memlock_prog_put_common() -> None:
    """bpf_prog_release -> bpf_prog_put_rcu -> __prog_put_common: the last reference
    puts every used map, uncharges memlock and frees the prog; a prog array slot is a
    reference, so closing the fd alone does not free a prog held there."""
    k, t = boot()
    m = t.map_create(ARRAY, 4, 4, 1)
    M = t.fd_object(m)
    prog = t.prog_load(SOCKET_FILTER, BPF_LD_MAP_FD(1, m) + RETURN_ZERO)
    P = t.fd_object(prog)
    assert k.users[0].locked_vm == 2
    pa = t.map_create(PROG_ARRAY, 4, 4, 1)
    t.map_update_elem(pa, k4(0), k4(prog))
    t.close(prog)
    assert not P.freed and P.refcnt == 1
    t.map_delete_elem(pa, k4(0))
    assert P.freed and M.refcnt == 1 and P.used_maps == []
    assert k.users[0].locked_vm == 2  # the map and the prog array
    k.check_invariants()


def test_s98_unlinking_a_pinned_prog_frees_it_synchronously_bpf_prog_put() -> None:
    """bpf_evict_inode -> bpf_any_put -> bpf_prog_put: the pin's reference is dropped
    inside unlink(2), without RCU deferral; a pin-only prog is freed there and then,
    with its maps put."""
    k, t = boot()
    m = t.map_create(ARRAY, 4, 4, 1)
    prog = t.prog_load(SOCKET_FILTER, BPF_LD_MAP_FD(1, m) + RETURN_ZERO)
    P, M = t.fd_object(prog), t.fd_object(m)
    t.obj_pin(prog, BPFFS + "/p")
    t.close(prog)
    t.close(m)
    assert (P.refcnt, M.refcnt) == (1, 1)
    t.unlink(BPFFS + "/p")
    assert P.freed and M.freed
    assert k.objects() == [] and k.users[0].locked_vm == 0
    k.check_invariants()


# ---------------------------------------------------------------------------------------
# S99: reference counts


def test_s99_seed_refcount_has_no_limit_bpf_any_get() -> None:
    """bpf_any_get at the seed: an unchecked atomic_inc of a 32-bit atomic_t; the
    profile carries refcnt_bits 32 and no BPF_MAX_REFCNT, so 33000 OBJ_GETs succeed."""
    assert (SEED.refcnt_bits, SEED.refcnt_limit) == (32, None)
    k, t = boot()
    t.setrlimit(RLIMIT_NOFILE, 40000, 40000)
    fd = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(fd, BPFFS + "/m")
    for _ in range(33000):
        t.obj_get(BPFFS + "/m")
    assert t.fd_object(fd).refcnt == 33002
    k.check_invariants()


def test_s99_refcount_wrap_frees_a_reachable_map_cve_2016_4558_bpf_any_get() -> None:
    """bpf_any_get / atomic_inc with no overflow check (CVE-2016-4558), with the counter
    narrowed to 8 bits: 256 increments bring refcnt back to 1 while 257 holders exist;
    one close then frees the map while a pin and 255 fds still reach it, and
    check_invariants reports it."""
    k, t = boot(attrs.evolve(SEED, refcnt_bits=8))
    fd = t.map_create(ARRAY, 4, 4, 1)
    M = t.fd_object(fd)
    t.obj_pin(fd, BPFFS + "/m")  # 1st increment
    for _ in range(253):
        t.obj_get(BPFFS + "/m")
    assert M.refcnt == 255  # 255 holders: the fd, the pin, 253 files
    k.check_invariants()
    t.obj_get(BPFFS + "/m")  # 255th increment: 256 wraps to 0
    assert M.refcnt == 0 and not M.freed
    with pytest.raises(InvariantError, match="refcnt 0 but 256 holders"):
        k.check_invariants()
    t.obj_get(BPFFS + "/m")  # 256th increment: 257 holders, refcnt 1
    assert M.refcnt == 1
    t.close(fd)
    assert M.freed
    assert k.users[0].locked_vm == 0
    with pytest.raises(InvariantError, match="freed"):
        k.check_invariants()


def test_s99_prog_refcount_wrap_frees_a_reachable_prog_bpf_prog_get() -> None:
    """bpf_prog_get / bpf_any_get, unchecked at the seed: the same wrap for a program
    (here through prog array slots and pins), freeing it while still reachable."""
    k, t = boot(attrs.evolve(SEED, refcnt_bits=8))
    t.setrlimit(pinfs.machine.task.RLIMIT_MEMLOCK, 1 << 30, 1 << 30)
    prog = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    P = t.fd_object(prog)
    pa = t.map_create(PROG_ARRAY, 4, 4, 256)
    for i in range(255):
        t.map_update_elem(pa, k4(i), k4(prog))
    assert P.refcnt == 0  # 1 + 255 wrapped
    t.obj_pin(prog, BPFFS + "/p")
    assert P.refcnt == 1
    t.close(prog)
    assert P.freed
    with pytest.raises(InvariantError, match="freed"):
        k.check_invariants()


def test_s99_bpf_max_refcnt_profile_refuses_the_32769th_reference_bpf_map_inc() -> None:
    """92117d8443bc (v4.6 / 4.4.11, ``refcnt_limit=32768``): bpf_map_inc and
    bpf_prog_inc fail with EBUSY above 32768: OBJ_GET of a map or prog at the limit,
    a prog pin, a prog array update and a load using the map are EBUSY; a *map* pin at
    the limit is EINVAL (bpf_fd_probe_obj falls through to bpf_prog_get); dup is not
    limited; a close makes room again."""
    k, t = boot(attrs.evolve(SEED, refcnt_limit=32768))
    t.setrlimit(RLIMIT_NOFILE, 70000, 70000)
    m = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(m, BPFFS + "/m")
    for _ in range(32766):
        t.obj_get(BPFFS + "/m")
    M = t.fd_object(m)
    assert M.refcnt == 32768
    k.advance_clock(24 * 3600)  # relatime would now update the atime...
    atime = t.stat(BPFFS + "/m").st_atime_ns
    assert err(t.obj_get, BPFFS + "/m") == errno.EBUSY
    assert t.stat(BPFFS + "/m").st_atime_ns == atime  # ...but touch_atime only on success
    c = t.fork()  # fork shares the files: no reference, no limit
    assert M.refcnt == 32768
    c.exit()
    assert err(t.obj_pin, m, BPFFS + "/m2") == errno.EINVAL
    assert err(t.prog_load, SOCKET_FILTER, BPF_LD_MAP_FD(1, m) + RETURN_ZERO) == errno.EBUSY
    d = t.dup(m)
    assert M.refcnt == 32768
    t.close(d)
    t.close(m)
    assert t.obj_get(BPFFS + "/m") >= 0
    assert M.refcnt == 32768
    k.check_invariants()

    prog = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    P = t.fd_object(prog)
    pa = t.map_create(PROG_ARRAY, 4, 4, 8)
    t.obj_pin(prog, BPFFS + "/p")
    for _ in range(32766):
        t.obj_get(BPFFS + "/p")
    assert P.refcnt == 32768
    assert err(t.obj_get, BPFFS + "/p") == errno.EBUSY
    assert err(t.obj_pin, prog, BPFFS + "/p2") == errno.EBUSY
    assert err(t.map_update_elem, pa, k4(0), k4(prog)) == errno.EBUSY
    assert P.refcnt == 32768
    k.check_invariants()


# ---------------------------------------------------------------------------------------
# S100: dup, fork, exec


def test_s100_dup_and_fork_share_the_file_exec_closes_it_anon_inode_getfd() -> None:
    """anon_inode_getfd(..., O_RDWR | O_CLOEXEC): dup and fork add fds to the same file
    (no object reference); exec closes the close-on-exec fds, releasing the file if that
    was its last fd; a dup'ed fd (no FD_CLOEXEC) survives exec.  (SCM_RIGHTS passing
    is not modelled.)"""
    k, t = boot()
    m = t.map_create(ARRAY, 4, 4, 1)
    M = t.fd_object(m)
    d = t.dup(m)
    assert d not in t.files.cloexec and m in t.files.cloexec
    assert t.fd_file(d) is t.fd_file(m)
    assert M.refcnt == 1
    c = t.fork()
    assert c.fd_file(m) is t.fd_file(m)
    assert M.refcnt == 1
    (info,) = k.objects()
    assert [h.kind for h in info.holders] == ["file"]
    assert (
        info.holders[0].detail
        == f"pid 1 fd {m}, pid 1 fd {d}, pid {c.pid} fd {m}, pid {c.pid} fd {d}"
    )
    k.check_invariants()
    c.execve()  # child keeps its dup, loses fd m
    assert c.files.open_fds() == [*CONSOLE_FDS, d]
    assert M.refcnt == 1
    t.close(m)
    t.close(d)
    assert not M.freed  # the child's dup keeps the file
    c.exit()
    assert M.freed
    # exec releasing the last fd of a prog and of a pinned map
    prog = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    P = t.fd_object(prog)
    m2 = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(m2, BPFFS + "/m2")
    M2 = t.fd_object(m2)
    t.execve()
    assert t.files.open_fds() == CONSOLE_FDS
    assert P.freed and not M2.freed and M2.refcnt == 1
    k.check_invariants()


def test_s100_forked_child_exit_does_not_release_shared_prog_array_file_bpf_map_release() -> None:
    """bpf_map_release runs on the last close of the file: a forked child that execs
    or exits drops only its fd references, so the shared PROG_ARRAY is not flushed;
    the parent's close then is the release."""
    k, t = boot()
    pa, _prog, PA, P = tail_call_setup(t)
    c = t.fork()
    c.execve()
    c.exit()
    assert PA.storage.slots == {0: P}
    t.close(pa)
    assert PA.storage.slots == {}
    k.check_invariants()
