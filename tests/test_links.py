"""bpf links in pinfs: lifetimes and holders, devices, legacy XDP, the preloaded
iterator links, profiles, and failed calls that change nothing.  What the live kernel
can check is in test_links_live.py."""

from __future__ import annotations

import errno
import os
import struct

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pinfs
from pinfs.base.profiles import LINUX_5_10, LINUX_6_18, SEED
from pinfs.ebpf.iterids import (
    BPF_TCX_EGRESS,
    BPF_TCX_INGRESS,
    BPF_TRACE_ITER,
    BPF_XDP,
    ITER_BTF_IDS,
)
from pinfs.ebpf.netdev import XDP_FLAGS_REPLACE, XDP_FLAGS_UPDATE_IF_NOEXIST
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from pinfs.machine.invariants import InvariantError
from pinfs.svg import kernel_svg
from snapshot import snapshot
from support import err

XDP, RAW_TP, TRACING, SCHED_CLS = 6, 17, 26, 3


def machine(profile: pinfs.Profile = LINUX_6_18) -> tuple[pinfs.Kernel, pinfs.Task]:
    k = pinfs.Kernel(profile, mount_proc=True)
    t = k.init_task
    t.mkdir("/b", 0o755)
    t.mount("bpf", "/b", "bpf")
    return k, t


def fdinfo(t: pinfs.Task, fd: int) -> list[str]:
    f = t.open(f"/proc/self/fdinfo/{fd}", os.O_RDONLY)
    try:
        lines = t.read(f, 4096).decode().splitlines()
        return [
            line for line in lines if not line.startswith(("pos:", "flags:", "mnt_id:", "ino:"))
        ]
    finally:
        t.close(f)


def xdp_prog(t: pinfs.Task, name: str = "x") -> int:
    return t.prog_load_typed(XDP, RETURN_ZERO, prog_name=name)


def obj(k: pinfs.Kernel, kind: str) -> list[pinfs.machine.invariants.ObjectInfo]:
    return [o for o in k.objects() if o.kind == kind and o.type != "tracing" and o.id > 5]


def cat(t: pinfs.Task, path: str) -> str:
    fd = t.open(path, os.O_RDONLY)
    try:
        return t.read(fd, 65536).decode()
    finally:
        t.close(fd)


# --------------------------------------------------------------------------- lifetime


def test_a_pinned_link_keeps_the_attachment_after_its_loader_exits() -> None:
    k, t = machine()
    loader = t.fork()
    prog = xdp_prog(loader)
    link = loader.link_create(prog, 1, BPF_XDP)
    loader.obj_pin(link, "/b/xdp")
    loader.exit(0)
    k.check_invariants()
    (info,) = [o for o in k.objects() if o.kind == "link" and o.type == "xdp"]
    assert [h.kind for h in info.holders] == ["pin"]
    assert k.netdevs[1].xdp[0].link is info.obj
    t.unlink("/b/xdp")  # the last reference: bpf_link_free detaches, then puts the prog
    assert k.netdevs[1].xdp[0].link is None
    assert not [o for o in k.objects() if o.type == "xdp"]
    k.check_invariants()


def test_the_last_close_ends_an_unpinned_attachment_and_frees_the_program() -> None:
    k, t = machine()
    prog = xdp_prog(t)
    link = t.link_create(prog, 1, BPF_XDP)
    t.close(prog)  # the link holds the program
    (p,) = [o for o in k.objects() if o.type == "xdp" and o.kind == "prog"]
    assert [h.kind for h in p.holders] == ["link"]
    t.close(link)
    assert not [o for o in k.objects() if o.type == "xdp"]
    assert err(t.link_create, xdp_prog(t), 1, BPF_XDP) == 0  # the device is free again
    k.check_invariants()


def test_a_link_holds_the_maps_of_its_program_through_used_maps() -> None:
    k, t = machine()
    m = t.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    prog = t.prog_load_typed(XDP, BPF_LD_MAP_FD(1, m) + RETURN_ZERO)
    link = t.link_create(prog, 1, BPF_XDP)
    t.close(m)
    t.close(prog)
    (held,) = [o for o in k.objects() if o.kind == "map" and o.type == "array" and o.id > 5]
    assert [h.kind for h in held.holders] == ["used_map"]
    t.close(link)
    assert not [o for o in k.objects() if o.kind == "map" and o.id > 5]
    k.check_invariants()


def test_dev_xdp_attach_checks_the_mode_clash_before_the_driver() -> None:
    """``dev_xdp_attach`` (6.18): with a generic-mode link on ``lo``, a native-mode
    (XDP_FLAGS_DRV_MODE) link is EEXIST, "Native and generic XDP can't be active at
    the same time", before ``dev_xdp_bpf_op`` would find no ``ndo_bpf`` (EOPNOTSUPP),
    which is what native mode gives on a device with nothing attached."""
    k, t = machine()
    prog = xdp_prog(t)
    xdp_flags_drv_mode = 4
    assert err(t.link_create, prog, 1, BPF_XDP, xdp_flags_drv_mode) == errno.EOPNOTSUPP
    t.link_create(prog, 1, BPF_XDP)  # generic: lo has no driver
    assert err(t.link_create, prog, 1, BPF_XDP, xdp_flags_drv_mode) == errno.EEXIST
    k.check_invariants()


def test_a_failed_attach_spends_a_link_id() -> None:
    k, t = machine()
    prog = xdp_prog(t)
    first = t.link_create(prog, 1, BPF_XDP)
    first_id = struct.unpack_from("<I", t.obj_get_info_by_fd(first, 64), 4)[0]
    assert err(t.link_create, prog, 1, BPF_XDP) == errno.EBUSY
    raw = t.raw_tracepoint_open("sys_enter", t.prog_load_typed(RAW_TP, RETURN_ZERO))
    raw_id = struct.unpack_from("<I", t.obj_get_info_by_fd(raw, 64), 4)[0]
    assert raw_id == first_id + 2  # bpf_link_prime allocated one for the EBUSY attempt
    k.check_invariants()


def test_link_ids_walk_and_fd_by_id_needs_cap_sys_admin() -> None:
    k, t = machine()
    links = [t.raw_tracepoint_open("sys_exit", t.prog_load_typed(RAW_TP, RETURN_ZERO))]
    link_id = struct.unpack_from("<I", t.obj_get_info_by_fd(links[0], 64), 4)[0]
    assert t.link_get_next_id(link_id - 1) == link_id
    assert err(t.link_get_next_id, link_id) == errno.ENOENT
    user = t.fork()
    user.setresuid(1000, 1000, 1000)
    assert err(user.link_get_fd_by_id, link_id) == errno.EPERM
    fd = t.link_get_fd_by_id(link_id)
    assert t.readlink(f"/proc/self/fd/{fd}") == "anon_inode:bpf-link"
    k.check_invariants()


# --------------------------------------------------------------------------- devices


def test_removing_a_device_ends_its_xdp_and_tcx_attachments() -> None:
    k, t = machine()
    ifindex = k.add_netdev("eth0")
    assert ifindex == 2
    xdp = t.link_create(xdp_prog(t), ifindex, BPF_XDP)
    tcx = t.link_create(t.prog_load_typed(SCHED_CLS, RETURN_ZERO), ifindex, BPF_TCX_EGRESS)
    k.remove_netdev("eth0")
    assert fdinfo(t, xdp)[-1] == "ifindex:\t0"
    assert fdinfo(t, tcx)[-2:] == ["ifindex:\t0", "attach_type:\t47 (egress)"]
    assert err(t.link_update, xdp, xdp_prog(t)) == errno.ENOLINK
    assert err(t.link_update, tcx, t.prog_load_typed(SCHED_CLS, RETURN_ZERO)) == errno.ENOLINK
    assert err(t.link_create, xdp_prog(t), ifindex, BPF_XDP) == errno.EINVAL  # no device
    k.check_invariants()


def test_device_names_and_lo() -> None:
    k, _ = machine()
    for bad in ("", ".", "..", "a/b", "a:b", "a b", "x" * 16):
        with pytest.raises(OSError) as e:
            k.add_netdev(bad)
        assert e.value.errno == errno.EINVAL
    k.add_netdev("veth0")
    with pytest.raises(OSError) as e:
        k.add_netdev("veth0")
    assert e.value.errno == errno.EEXIST
    for name, expected in (("lo", errno.EOPNOTSUPP), ("nope", errno.ENODEV)):
        with pytest.raises(OSError) as e:
            k.remove_netdev(name)
        assert e.value.errno == expected
    with pytest.raises(TypeError):
        k.add_netdev(3)  # type: ignore[arg-type]


def test_legacy_xdp_and_links_exclude_each_other() -> None:
    k, t = machine()
    old, new = xdp_prog(t, "old"), xdp_prog(t, "new")
    t.xdp_attach_legacy(1, old)
    assert err(t.link_create, new, 1, BPF_XDP) == errno.EBUSY  # active program, no link
    assert err(t.xdp_attach_legacy, 1, new, XDP_FLAGS_UPDATE_IF_NOEXIST) == errno.EBUSY
    assert err(t.xdp_attach_legacy, 1, new, XDP_FLAGS_REPLACE, new) == errno.EEXIST
    assert err(t.xdp_attach_legacy, 1, new, XDP_FLAGS_REPLACE) == errno.EINVAL  # no expected_fd
    assert err(t.xdp_attach_legacy, 1, t.prog_load_typed(RAW_TP, RETURN_ZERO)) == errno.EINVAL
    t.xdp_attach_legacy(1, new, XDP_FLAGS_REPLACE, old)
    t.close(new)
    (p,) = [o for o in k.objects() if o.kind == "prog" and o.obj.name == b"new"]
    assert [h.kind for h in p.holders] == ["xdp"]
    t.xdp_attach_legacy(1, -1)  # detach: the device's reference is put
    assert not [o for o in k.objects() if o.kind == "prog" and o.obj.name == b"new"]
    link = t.link_create(old, 1, BPF_XDP)
    assert err(t.xdp_attach_legacy, 1, old) == errno.EBUSY  # "Can't replace active BPF XDP link"
    assert err(t.xdp_attach_legacy, 1, -1) == errno.EBUSY
    user = t.fork()
    user.setresuid(1000, 1000, 1000)
    assert err(user.xdp_attach_legacy, 1, -1) == errno.EPERM
    t.close(link)
    k.check_invariants()


def test_a_legacy_program_goes_with_its_device() -> None:
    k, t = machine()
    k.add_netdev("dummy0")
    prog = xdp_prog(t, "gone")
    t.xdp_attach_legacy(2, prog)
    t.close(prog)
    k.remove_netdev("dummy0")
    assert not [o for o in k.objects() if o.kind == "prog" and o.obj.name == b"gone"]
    k.check_invariants()


def test_tcx_places_links_as_bpf_mprog_attach_does() -> None:
    k, t = machine()
    progs = [t.prog_load_typed(SCHED_CLS, RETURN_ZERO) for _ in range(5)]
    links = [t.link_create(p, 1, BPF_TCX_INGRESS) for p in progs[:2]]
    t.link_create(progs[2], 1, BPF_TCX_INGRESS, 1 << 3)  # BPF_F_BEFORE, no relative: first
    relative = struct.pack("<I", progs[0])
    t.link_create(progs[3], 1, BPF_TCX_INGRESS, 1 << 4, None)  # BPF_F_AFTER: last
    order = [link.prog for link in k.netdevs[1].tcx[BPF_TCX_INGRESS]]
    assert order == [t.fd_object(p) for p in (progs[2], progs[0], progs[1], progs[3])]
    assert err(t.link_update, links[0], progs[1]) == errno.EEXIST  # already on the hook
    t.link_update(links[0], progs[4])
    t.close(links[0])
    assert len(k.netdevs[1].tcx[BPF_TCX_INGRESS]) == 3
    assert relative  # relative placement by fd: test_links_live.test_tcx_placement
    k.check_invariants()


# --------------------------------------------------------------------------- preload


def test_maps_debug_and_progs_debug_list_the_live_objects() -> None:
    k, t = machine()
    m = t.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 4, 8, map_name="counts")
    t.map_update_elem(m, b"abcd", b"1234")
    t.prog_load_typed(XDP, RETURN_ZERO, prog_name="fw")
    maps = cat(t, "/b/maps.debug").splitlines()
    assert maps[0] == "  id name             max_entries  cur_entries"
    assert maps[1:] == [
        "   1 iterator.rodata            1            0",
        "   2 counts                     8            1",
    ]
    progs = cat(t, "/b/progs.debug").splitlines()
    assert progs == [
        "  id name             attached",
        "   1 dump_bpf_map     bpf_iter_bpf_map ",
        "   2 dump_bpf_prog    bpf_iter_bpf_prog ",
        "   3 fw                ",
    ]
    fd = t.obj_get("/b/maps.debug")
    assert t.readlink(f"/proc/self/fd/{fd}") == "anon_inode:bpf-link"
    assert fdinfo(t, fd)[-1] == "target_name:\tbpf_map"
    assert err(t.obj_get, "/b/maps.debug", 1 << 3) == errno.EINVAL
    t.unlink("/b/maps.debug")  # upstream: an ordinary unlink of a pin
    k.check_invariants()


def test_every_instance_pins_the_same_preloaded_links() -> None:
    k, t = machine()
    t.mkdir("/c", 0o755)
    t.mount("bpf", "/c", "bpf")
    (maps_link,) = [o for o in k.objects() if o.kind == "link" and "maps" in o.holders[0].detail]
    assert [h.kind for h in maps_link.holders] == ["pin", "pin", "kernel"]
    k.check_invariants()


def test_the_5_10_listing_format_and_an_updated_preload_link() -> None:
    k, t = machine(LINUX_5_10)
    t.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 3, map_name="a")
    assert cat(t, "/b/maps.debug").splitlines() == [
        "  id name             max_entries",
        "   1 iterator.rodata      1",
        "   2 a                    3",
    ]
    mine = t.prog_load_typed(TRACING, RETURN_ZERO, "GPL", BPF_TRACE_ITER, ITER_BTF_IDS["bpf_map"])
    link = t.obj_get("/b/maps.debug")
    t.link_update(link, mine)  # the listing is the preload program's, not the link's
    assert cat(t, "/b/maps.debug") == ""
    assert fdinfo(t, link)[:1] == ["link_type:\titer"]
    k.check_invariants()


def test_the_inert_variant_holds_nothing() -> None:
    k, t = machine(attrs.evolve(LINUX_6_18, preload_links="inert"))
    assert err(t.obj_get, "/b/maps.debug") == errno.EACCES
    assert err(t.open, "/b/progs.debug", os.O_RDONLY) == errno.EIO
    assert not [o for o in k.objects() if o.kind == "link"]


# --------------------------------------------------------------------------- profiles


def test_the_seed_and_5_10_have_what_they_had() -> None:
    seed = pinfs.Kernel(SEED).init_task
    assert err(seed.raw_tracepoint_open, "sys_enter", 0) == errno.EINVAL
    _, t = machine(LINUX_5_10)
    link = t.raw_tracepoint_open("sys_enter", t.prog_load_typed(RAW_TP, RETURN_ZERO))
    assert fdinfo(t, link)[-1] == "tp_name:\tsys_enter"  # no cookie line before v6.10
    assert len(t.obj_get_info_by_fd(link, 64)) == 32
    prog = t.prog_load_typed(SCHED_CLS, RETURN_ZERO)
    assert err(t.link_create, prog, 1, BPF_TCX_INGRESS) == errno.EINVAL  # no tcx before v6.6
    task_prog = t.prog_load_typed(TRACING, RETURN_ZERO, "GPL", BPF_TRACE_ITER, ITER_BTF_IDS["task"])
    pid_one = struct.pack("<III", 0, 1, 0)  # past 5.10's 4-byte bpf_iter_link_info: E2BIG
    assert err(t.link_create, task_prog, 0, BPF_TRACE_ITER, 0, pid_one) == errno.E2BIG
    task_iter = t.link_create(task_prog, 0, BPF_TRACE_ITER, 0, bytes(12))
    assert fdinfo(t, task_iter)[-1] == "target_name:\ttask"  # no task parameters before v6.1


def test_tracing_programs_need_a_known_iterator_target() -> None:
    _, t = machine()
    assert err(t.prog_load_typed, TRACING, RETURN_ZERO, "GPL", BPF_TRACE_ITER, 12345) == (
        errno.EINVAL
    )
    assert err(t.prog_load_typed, TRACING, RETURN_ZERO, "GPL", BPF_TRACE_ITER, 0) == errno.EINVAL
    assert err(t.prog_load_typed, XDP, RETURN_ZERO, "GPL", 0, ITER_BTF_IDS["task"]) == errno.EINVAL
    other = ITER_BTF_IDS["task"]
    assert err(t.prog_load_typed, TRACING, RETURN_ZERO, "GPL", 24, other) == errno.EINVAL


# --------------------------------------------------------------------------- failures


def test_failed_link_calls_change_nothing() -> None:
    k, t = machine()
    prog = xdp_prog(t)
    link = t.link_create(prog, 1, BPF_XDP)
    raw = t.raw_tracepoint_open("sys_enter", t.prog_load_typed(RAW_TP, RETURN_ZERO))
    before = snapshot(k)
    calls = [
        (t.link_create, (prog, 1, BPF_XDP)),
        (t.link_update, (link, raw)),
        (t.link_update, (raw, prog)),
        (t.link_update, (link, prog, raw)),
        (t.link_detach, (raw,)),
        (t.iter_create, (raw,)),
        (t.raw_tracepoint_open, ("nope", prog)),
        (t.link_get_fd_by_id, (12345,)),
    ]
    for call, args in calls:
        assert err(call, *args) != 0
        assert snapshot(k) == before, call
    k.check_invariants()


def test_invariants_notice_a_link_whose_count_is_off() -> None:
    k, t = machine()
    link = t.raw_tracepoint_open("sys_enter", t.prog_load_typed(RAW_TP, RETURN_ZERO))
    t.fd_object(link).refcnt += 1  # type: ignore[attr-defined]
    with pytest.raises(InvariantError, match="refcnt 2 but 1 holders"):
        k.check_invariants()


def test_pictures_draw_links_and_what_they_hold() -> None:
    k, t = machine()
    link = t.link_create(xdp_prog(t), 1, BPF_XDP)
    t.obj_pin(link, "/b/l")
    text = k.tree()
    assert "-> prog" in text and "xdp lo" in text
    svg = kernel_svg(k)
    assert "holder-link" in svg and "xdp lo" in svg


STEPS = ["create", "pin", "close", "unlink", "update", "detach", "rm"]


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(st.lists(st.sampled_from(STEPS), max_size=12))
def test_random_link_lives_keep_the_books(steps: list[str]) -> None:
    k, t = machine()
    k.add_netdev("eth0")
    fds: list[int] = []
    pins = 0
    for step in steps:
        if step == "create":
            try:
                fds.append(t.link_create(xdp_prog(t), 2, BPF_XDP))
            except OSError as exc:  # EBUSY (a pinned link is attached), EINVAL (no eth0)
                assert exc.errno in (errno.EBUSY, errno.EINVAL)
        elif step == "pin" and fds:
            pins += 1
            t.obj_pin(fds[-1], f"/b/p{pins}")
        elif step == "close" and fds:
            t.close(fds.pop())
        elif step == "unlink" and pins:
            t.unlink(f"/b/p{pins}")
            pins -= 1
        elif step == "update" and fds:
            err(t.link_update, fds[-1], xdp_prog(t))
        elif step == "detach" and fds:
            t.link_detach(fds[-1])
        elif step == "rm" and "eth0" in [d.name for d in k.netdevs.values()]:
            k.remove_netdev("eth0")
        k.check_invariants()


def test_no_fd_for_a_new_link_is_emfile_before_an_id_is_spent() -> None:
    k, t = machine()
    prog = xdp_prog(t)
    first = t.link_create(prog, 1, BPF_XDP)
    first_id = struct.unpack_from("<I", t.obj_get_info_by_fd(first, 64), 4)[0]
    t.close(first)
    spare = []
    while err(lambda: spare.append(t.dup(prog))) == 0:
        pass  # fill the table up to RLIMIT_NOFILE
    before = snapshot(k)
    assert err(t.link_create, prog, 1, BPF_XDP) == errno.EMFILE  # bpf_link_prime's fd first
    assert err(t.raw_tracepoint_open, "sys_enter", prog) == errno.EINVAL  # the type first
    assert snapshot(k) == before
    t.close(spare.pop())
    link = t.link_create(prog, 1, BPF_XDP)
    assert struct.unpack_from("<I", t.obj_get_info_by_fd(link, 64), 4)[0] == first_id + 1
    k.check_invariants()
