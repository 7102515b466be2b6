"""bpf links, pinfs (LINUX_6_18) beside the live kernel: the same raw bpf(2) calls on a
pinfs task and on a task of the live sandbox (its own mount namespace with proc and a
scratch bpffs, and a private network namespace, so ``lo`` is its own).

Compared exactly: return values and errnos, ``/proc/self/fd`` readlink text, fdinfo
lines in order, the ``struct bpf_link_info`` bytes, what an iterator fd reads.
Normalised, and why: fd numbers (the tables start differently); ``mnt_id`` and
``ino`` of anonymous files (Linux numbers its anon_inodefs mount and inode; pinfs
does not); ids (the live machine has other objects): a link's ``link_id`` and
``prog_id`` are checked against the ids OBJ_GET_INFO_BY_FD gives on the same side,
and ``prog_jited`` does not appear in link output.  The iterator programs' BTF ids are
each side's own (pinfs: ``ITER_BTF_IDS``, live: /sys/kernel/btf/vmlinux).
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable
from typing import Any

import pytest

import pinfs
from pinfs.base.profiles import LINUX_6_18
from pinfs.clients import get_fd_type
from pinfs.ebpf.iterids import ITER_BTF_IDS
from pinfs.ebpf.prog import RETURN_ZERO

pytestmark = pytest.mark.live

ATTR = 168
CLONE_NEWNET = 0x40000000
PROG_LOAD, OBJ_PIN, OBJ_GET, INFO = 5, 6, 7, 15
RAW_TP_OPEN, LINK_CREATE, LINK_UPDATE, LINK_FD_BY_ID, LINK_NEXT_ID = 17, 28, 29, 30, 31
ITER_CREATE, LINK_DETACH = 33, 34
SOCKET_FILTER, SCHED_CLS, XDP, RAW_TP, TRACING = 1, 3, 6, 17, 26
TRACE_ITER, ATTACH_XDP, TCX_INGRESS = 28, 37, 46


def vmlinux_btf_funcs(names: set[str]) -> dict[str, int]:
    """The BTF ids of the named FUNC types in this machine's vmlinux BTF."""
    with open("/sys/kernel/btf/vmlinux", "rb") as f:
        data = f.read()
    hdr_len, type_off, type_len, str_off = struct.unpack_from("<IIII", data, 4)
    pos, end, strings = hdr_len + type_off, hdr_len + type_off + type_len, hdr_len + str_off
    per_member = {3: 0, 4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}
    fixed = {1: 4, 3: 12, 14: 4, 17: 4}
    out, type_id = {}, 1
    while pos < end:
        name_off, info, _ = struct.unpack_from("<III", data, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        if kind == 12:
            name = data[strings + name_off : data.index(b"\0", strings + name_off)].decode()
            if name in names:
                out[name] = type_id
        pos += 12 + fixed.get(kind, 0) + per_member.get(kind, 0) * vlen
        type_id += 1
    return out


class Side:
    """One side's task: user memory, raw bpf(2), a few file calls."""

    def __init__(self, task: Any, live: bool, btf_ids: dict[str, int]) -> None:
        self.t, self.live, self.btf_ids = task, live, btf_ids

    def add_dev(self, name: str) -> None:
        """A device without native XDP: a bridge live, ``kernel.add_netdev`` in pinfs."""
        self.t.netdev_add(name) if self.live else self.t.kernel.add_netdev(name)

    def del_dev(self, name: str) -> None:
        self.t.netdev_del(name) if self.live else self.t.kernel.remove_netdev(name)

    def alloc(self, data: bytes) -> int:
        return int(self.t.write_user(data) if self.live else self.t.mem.alloc(data))

    def peek(self, address: int, size: int) -> bytes:
        if self.live:
            return bytes(self.t.read_user(address, size))
        return bytes(self.t.mem.read(address, size))

    def call(self, cmd: int, attr: bytes) -> tuple[int, bytes]:
        """bpf(cmd): (result or -errno, the attr after the call)."""
        address = self.alloc(attr.ljust(ATTR, b"\0"))
        try:
            try:
                result = int(self.t.bpf(cmd, address, ATTR))
            except OSError as exc:
                result = -(exc.errno or 0)
            return result, self.peek(address, ATTR)
        finally:
            if self.live:
                self.t.free_user(address)
            else:
                self.t.mem.free(address)

    def bpf(self, cmd: int, *fields: int, fmt: str = "") -> int:
        return self.call(cmd, struct.pack("<" + (fmt or "I" * len(fields)), *fields))[0]

    def load(self, prog_type: int, attach_type: int = 0, target: str = "") -> int:
        insns, license = self.alloc(RETURN_ZERO), self.alloc(b"GPL\0")
        attr = bytearray(struct.pack("<IIQQ", prog_type, 2, insns, license).ljust(ATTR, b"\0"))
        struct.pack_into("<I", attr, 68, attach_type)
        struct.pack_into("<I", attr, 108, self.btf_ids[target] if target else 0)
        fd, _ = self.call(PROG_LOAD, bytes(attr))
        assert fd >= 0, fd
        return fd

    def cstr(self, text: str) -> int:
        return self.alloc(text.encode() + b"\0")

    def readlink(self, fd: int) -> str:
        return str(self.t.readlink(f"/proc/self/fd/{fd}"))

    def fdinfo(self, fd: int) -> list[str]:
        """fdinfo's lines, ``mnt_id``/``ino`` values dropped (see the module doc)."""
        text = self.cat(f"/proc/self/fdinfo/{fd}")
        return [
            line.split("\t")[0] if line.startswith(("mnt_id:", "ino:")) else line
            for line in text.splitlines()
        ]

    def cat(self, path: str) -> str:
        fd = self.t.open(path, os.O_RDONLY)
        try:
            return bytes(self.t.read(fd, 65536)).decode()
        finally:
            self.t.close(fd)

    def read(self, fd: int) -> bytes:
        return bytes(self.t.read(fd, 4096))

    def info(self, fd: int, size: int = 64, initial: bytes = b"") -> tuple[int, int, bytes]:
        """OBJ_GET_INFO_BY_FD: (result, the info_len written back, the buffer)."""
        buf = self.alloc(initial.ljust(size, b"\0"))
        result, after = self.call(INFO, struct.pack("<IIQ", fd, size, buf))
        return result, struct.unpack_from("<I", after, 4)[0], self.peek(buf, size)


@pytest.fixture(scope="module")
def live(live: Any) -> Any:
    """conftest's live twin; the iterator programs need the kernel's vmlinux BTF."""
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("no vmlinux BTF for the iterator programs")
    return live


def both(live: Any, script: Callable[[Side], Any]) -> Any:
    """Run ``script`` on a fresh pinfs 6.18 machine and a fresh live task (own mount
    and network namespaces, /proc, a bpffs at /b); require equal results."""
    k = pinfs.Kernel(LINUX_6_18, mount_proc=True)
    k.init_task.mkdir("/b", 0o755)
    k.init_task.mount("bpf", "/b", "bpf")
    lt = live.init_task.fork()
    lt.unshare(CLONE_NEWNET | 0x00020000)  # CLONE_NEWNS too: our own /proc and /b
    for path, fstype in (("/proc", "proc"), ("/b", "bpf")):
        if os.path.basename(path) not in lt.listdir("/"):
            lt.mkdir(path, 0o755)
        lt.mount(fstype, path, fstype)
    btf = vmlinux_btf_funcs({f"bpf_iter_{t}" for t in ITER_BTF_IDS})
    live_ids = {t: btf[f"bpf_iter_{t}"] for t in ITER_BTF_IDS}
    try:
        results = {
            "pinfs": script(Side(k.init_task, False, ITER_BTF_IDS)),
            "live": script(Side(lt, True, live_ids)),
        }
    finally:
        lt.exit(0)
    k.check_invariants()
    assert results["pinfs"] == results["live"], results
    return results["pinfs"]


def link_ids(side: Side, fd: int) -> tuple[int, int]:
    _, _, buf = side.info(fd)
    link_id, prog_id = struct.unpack_from("<II", buf, 4)
    return link_id, prog_id


def ids_checked(side: Side, fd: int) -> list[str]:
    """fdinfo with link_id/prog_id replaced by whether they equal the info's ids."""
    link_id, prog_id = link_ids(side, fd)
    out = []
    for line in side.fdinfo(fd):
        if line.startswith("link_id:"):
            line = f"link_id: {line.split()[1] == str(link_id)}"
        elif line.startswith("prog_id:"):
            line = f"prog_id: {line.split()[1] == str(prog_id)}"
        out.append(line)
    return out


def info_fields(side: Side, fd: int, name_buf: bool = True) -> Any:
    """The info minus the ids: type, then bytes 16.. with any name pointer zeroed."""
    name = side.alloc(bytes(32)) if name_buf else 0
    result, info_len, buf = side.info(fd, 64, struct.pack("<IIIIQI", 0, 0, 0, 0, name, 32))
    body = bytearray(buf[16:])
    if name_buf:
        body[0:8] = bytes(8)
    text = side.peek(name, 32).split(b"\0")[0] if name_buf else b""
    return result, info_len, struct.unpack_from("<I", buf)[0], bytes(body), text


# --------------------------------------------------------------------------- raw tracepoints


def test_raw_tracepoint_link(live: Any) -> None:
    def script(s: Side) -> Any:
        prog = s.load(RAW_TP)
        name = s.cstr("sys_enter")
        link = s.bpf(RAW_TP_OPEN, name, prog, fmt="QI")
        out: list[Any] = [link >= 0, s.readlink(link), ids_checked(s, link)]
        out.append(info_fields(s, link))
        short = s.alloc(bytes(8))
        r, _, _ = s.info(link, 64, struct.pack("<IIIIQI", 0, 0, 0, 0, short, 4))
        out += [r, s.peek(short, 8)]
        out.append(s.info(link, 64, struct.pack("<IIIIQI", 0, 0, 0, 0, 0, 4))[0])  # len, no buf
        out += [s.info(link, n, bytes(n - 1) + b"\1")[0] for n in (64, 72)]  # the struct size
        out.append(s.bpf(LINK_DETACH, link))
        out.append(s.bpf(LINK_UPDATE, link, prog, 0))
        out.append(s.bpf(RAW_TP_OPEN, s.cstr("no_such_tp"), prog, fmt="QI"))
        out.append(s.bpf(RAW_TP_OPEN, 0, prog, fmt="QI"))
        out.append(s.bpf(RAW_TP_OPEN, name, 999, fmt="QI"))
        out.append(s.bpf(RAW_TP_OPEN, name, s.load(SOCKET_FILTER), fmt="QI"))
        out.append(s.bpf(LINK_CREATE, prog, 0, 23, 0))  # RAW_TRACEPOINT via LINK_CREATE
        return out

    both(live, script)


def test_link_ids_fd_by_id_pin_and_obj_get(live: Any) -> None:
    def script(s: Side) -> Any:
        prog = s.load(RAW_TP)
        link = s.bpf(RAW_TP_OPEN, s.cstr("sched_switch"), prog, fmt="QI")
        link_id, _ = link_ids(s, link)
        out: list[Any] = []
        again = s.bpf(LINK_FD_BY_ID, link_id)
        out += [s.readlink(again), ids_checked(s, again)]
        _, after = s.call(LINK_NEXT_ID, struct.pack("<I", link_id - 1))
        out.append(struct.unpack_from("<I", after, 4)[0] == link_id)
        out += [s.bpf(LINK_FD_BY_ID, 0), s.bpf(LINK_FD_BY_ID, 0x7FFFFFF0)]
        path = s.cstr("/b/link")
        out.append(s.bpf(OBJ_PIN, path, link, fmt="QI"))
        for flags in (0, 1 << 3, 1 << 4):
            fd = s.bpf(OBJ_GET, path, 0, flags, fmt="QII")
            out.append(s.readlink(fd) if fd >= 0 else fd)
        out.append(oct(s.t.stat("/b/link").st_mode))
        try:
            s.t.open("/b/link", os.O_RDONLY)
        except OSError as exc:
            out.append(errno.errorcode[exc.errno or 0])
        out += [s.bpf(LINK_UPDATE, prog, prog, 0), s.bpf(LINK_UPDATE, 999, prog, 0)]
        return out

    both(live, script)


# --------------------------------------------------------------------------- iterators


def test_iterator_links_and_iter_create(live: Any) -> None:
    def script(s: Side) -> Any:
        prog = s.load(TRACING, TRACE_ITER, "bpf_map")
        link = s.bpf(LINK_CREATE, prog, 0, TRACE_ITER, 0)
        out: list[Any] = [s.readlink(link), ids_checked(s, link), info_fields(s, link)]
        it = s.bpf(ITER_CREATE, link, 0)
        out += [s.readlink(it), s.fdinfo(it), s.read(it), s.info(it)[0]]
        out.append(s.bpf(LINK_DETACH, link))
        other = s.load(TRACING, TRACE_ITER, "bpf_prog")
        same = s.load(TRACING, TRACE_ITER, "bpf_map")
        out.append(s.bpf(LINK_UPDATE, link, other, 0))
        out.append(s.bpf(LINK_UPDATE, link, prog, 4, same))  # wrong old: EPERM
        out.append(s.bpf(LINK_UPDATE, link, prog, 0, same))  # old without the flag
        out.append(s.bpf(LINK_UPDATE, link, prog, 2, prog))  # an unknown flag
        out.append(s.bpf(LINK_UPDATE, link, same, 4, prog))
        out.append(ids_checked(s, link))
        raw = s.bpf(RAW_TP_OPEN, s.cstr("sys_exit"), s.load(RAW_TP), fmt="QI")
        out += [s.bpf(ITER_CREATE, raw, 0), s.bpf(ITER_CREATE, link, 1)]
        out.append(s.bpf(LINK_CREATE, prog, 5, TRACE_ITER, 0))  # a target_fd
        path = s.cstr("/b/iter")
        out.append(s.bpf(OBJ_PIN, path, link, fmt="QI"))
        fd = s.t.open("/b/iter", os.O_RDONLY)
        out += [s.readlink(fd).startswith("/b/"), s.read(fd)]
        return out

    both(live, script)


def test_task_iterator_parameters(live: Any) -> None:
    def script(s: Side) -> Any:
        prog = s.load(TRACING, TRACE_ITER, "task")
        out: list[Any] = []
        for tid, pid in ((0, 0), (0, 1), (7, 0), (1, 1)):
            linfo = s.alloc(struct.pack("<III", tid, pid, 0))
            link = s.bpf(LINK_CREATE, prog, 0, TRACE_ITER, 0, linfo, 12, fmt="IIIIQI")
            out.append(link if link < 0 else (ids_checked(s, link), info_fields(s, link, False)))
        long_info = s.alloc(bytes(24) + b"\1")
        out.append(s.bpf(LINK_CREATE, prog, 0, TRACE_ITER, 0, long_info, 25, fmt="IIIIQI"))
        out.append(s.bpf(LINK_CREATE, prog, 0, TRACE_ITER, 0, long_info, 0, fmt="IIIIQI"))
        return out

    both(live, script)


# --------------------------------------------------------------------------- XDP and tcx


def test_xdp_links_on_lo(live: Any) -> None:
    def script(s: Side) -> Any:
        prog, prog2 = s.load(XDP), s.load(XDP)
        link = s.bpf(LINK_CREATE, prog, 1, ATTACH_XDP, 0)
        out: list[Any] = [s.readlink(link), ids_checked(s, link), info_fields(s, link, False)]
        for ifindex, attach, flags in ((1, 37, 0), (99, 37, 0), (1, 37, 4), (1, 37, 1), (1, 37, 2)):
            out.append(s.bpf(LINK_CREATE, prog, ifindex, attach, flags))
        out.append(s.bpf(LINK_CREATE, prog, 1, TCX_INGRESS, 0))
        out += [s.bpf(LINK_UPDATE, link, prog2, 0), ids_checked(s, link)]
        out.append(s.bpf(LINK_UPDATE, link, s.load(RAW_TP), 0))
        out.append(s.bpf(LINK_UPDATE, link, prog2, 4, prog))  # the old one is prog2 now
        out += [s.bpf(LINK_DETACH, link), ids_checked(s, link), info_fields(s, link, False)]
        out += [s.bpf(LINK_UPDATE, link, prog, 0), s.bpf(LINK_DETACH, link)]
        again = s.bpf(LINK_CREATE, prog, 1, ATTACH_XDP, 0)
        out.append(again >= 0)
        return out

    both(live, script)


def test_tcx_links_on_lo(live: Any) -> None:
    def script(s: Side) -> Any:
        prog = s.load(SCHED_CLS)
        link = s.bpf(LINK_CREATE, prog, 1, TCX_INGRESS, 0)
        out: list[Any] = [s.readlink(link), ids_checked(s, link), info_fields(s, link, False)]
        out.append(s.bpf(LINK_CREATE, prog, 1, TCX_INGRESS, 0))
        out.append(s.bpf(LINK_CREATE, prog, 99, TCX_INGRESS, 0))
        out.append(s.bpf(LINK_CREATE, prog, 1, ATTACH_XDP, 0))
        second = s.bpf(LINK_CREATE, s.load(SCHED_CLS), 1, TCX_INGRESS, 0)
        out.append(second >= 0)
        out += [s.bpf(LINK_UPDATE, link, prog, 0), ids_checked(s, link)]
        out += [s.bpf(LINK_DETACH, link), ids_checked(s, link)]
        out.append(s.bpf(LINK_UPDATE, link, prog, 0))
        return out

    both(live, script)


# --------------------------------------------------------------------------- CHECK_ATTR


def test_check_attr_ends_of_the_link_commands(live: Any) -> None:
    def script(s: Side) -> Any:
        out = []
        bad = struct.pack("<I", 999)
        for cmd, base, offsets in (
            (LINK_CREATE, bad, (56, 59, 60, 64)),
            (RAW_TP_OPEN, bytes(8) + bad, (12, 16, 23, 24)),
            (LINK_UPDATE, bad, (12, 16)),
            (LINK_FD_BY_ID, b"", (4, 8)),
            (LINK_DETACH, bad, (4, 8)),
            (ITER_CREATE, bad, (8,)),
            (LINK_NEXT_ID, b"", (8,)),
        ):
            for offset in offsets:
                attr = bytearray(base.ljust(ATTR, b"\0"))
                attr[offset] = 1
                out.append((cmd, offset, s.call(cmd, bytes(attr))[0]))
        return out

    both(live, script)


def test_pin_update_restart_with_the_typed_helpers(live: Any) -> None:
    """Lesson 9's steps through the typed helpers both sides share."""

    def script(s: Side) -> Any:
        t = s.t
        v1, v2 = t.prog_load_typed(XDP, RETURN_ZERO), t.prog_load_typed(XDP, RETURN_ZERO)
        link = t.link_create(v1, 1, ATTACH_XDP)
        t.obj_pin(link, "/b/lo_xdp")
        t.close(link)
        pinned = t.obj_get("/b/lo_xdp")
        out: list[Any] = [s.readlink(pinned)]
        for call, args in ((t.link_update, (pinned, v2, v2)), (t.link_create, (v2, 1, ATTACH_XDP))):
            try:
                call(*args)
            except OSError as exc:
                out.append(errno.errorcode[exc.errno or 0])
        t.link_update(pinned, v2, v1)
        link_id, _ = link_ids(s, pinned)
        out.append(t.link_get_next_id(link_id - 1) == link_id)
        again = t.link_get_fd_by_id(link_id)
        t.link_detach(again)
        out.append(ids_checked(s, again))
        try:
            t.link_update(again, v1)
        except OSError as exc:
            out.append(errno.errorcode[exc.errno or 0])
        raw = t.raw_tracepoint_open("sys_enter", t.prog_load_typed(RAW_TP, RETURN_ZERO))
        it = t.link_create(
            t.prog_load_typed(TRACING, RETURN_ZERO, "GPL", TRACE_ITER, s.btf_ids["bpf_map"]),
            0,
            TRACE_ITER,
        )
        out += [s.fdinfo(raw)[-2:], s.read(t.iter_create(it))]
        t.unlink("/b/lo_xdp")
        return out

    both(live, script)


def test_bpftool_get_fd_type_of_link_fds(live: Any) -> None:
    """bpftool's ``get_fd_type`` (pinfs.clients): a pinned link opened with OBJ_GET is
    a link, the LINK_CREATE fd itself is unknown (its file is named ``bpf_link``)."""

    def script(s: Side) -> Any:
        t = s.t
        link = t.raw_tracepoint_open("sys_enter", t.prog_load_typed(RAW_TP, RETURN_ZERO))
        t.obj_pin(link, "/b/l")
        return get_fd_type(t, link), get_fd_type(t, t.obj_get("/b/l"))

    assert both(live, script) == (0, 3)  # BPF_OBJ_UNKNOWN, BPF_OBJ_LINK


def test_tcx_placement_and_its_errors(live: Any) -> None:
    """``bpf_mprog_attach``'s placement rules, by their results (the order itself needs
    BPF_PROG_QUERY, which pinfs does not model)."""
    before, after, by_id, by_link = 1 << 3, 1 << 4, 1 << 5, 1 << 13

    def script(s: Side) -> Any:
        s.load(SOCKET_FILTER)  # fd 0 taken where tables start empty: relative fds are not 0
        progs = [s.load(SCHED_CLS) for _ in range(8)]
        assert 0 not in progs
        first = s.bpf(LINK_CREATE, progs[0], 1, TCX_INGRESS, 0)
        _, prog0_id = link_ids(s, first)
        link0_id, _ = link_ids(s, first)
        other_type = s.load(XDP)
        out = []
        for prog, flags, relative in (
            (progs[1], before, 0),  # first place
            (progs[2], after, progs[0]),  # after prog 0, by fd
            (progs[3], before | after, 0),  # first and last disagree
            (progs[3], before, progs[7]),  # not attached
            (progs[3], 0, progs[0]),  # a relative without a flag
            (progs[3], before, other_type),  # another program type
            (progs[3], before, 999),  # no such fd
            (progs[3], before | by_id, prog0_id),  # by id
            (progs[4], after | by_link, first),  # after the link, by fd
            (progs[5], before | by_link | by_id, link0_id),  # by link id
            (progs[6], before | by_id, 0),  # id 0
            (progs[6], by_link, 0),  # a link flag and nothing
            (progs[6], 1, 0),  # an unknown flag alone
        ):
            fd = s.bpf(LINK_CREATE, prog, 1, TCX_INGRESS, flags, relative, fmt="IIIII")
            out.append(fd if fd < 0 else "ok")
        stale = s.bpf(LINK_CREATE, progs[6], 1, TCX_INGRESS, 0, 0, 0, 1, fmt="IIIIIIQ")
        out.append(stale)
        return out

    both(live, script)


def test_legacy_xdp_and_links_exclude_each_other(live: Any) -> None:
    """rtnetlink IFLA_XDP (the live twin sends RTM_SETLINK) beside links on ``lo``."""
    replace, if_noexist, drv = 1 << 4, 1 << 0, 1 << 2

    def script(s: Side) -> Any:
        t = s.t
        s.load(SOCKET_FILTER)  # fd 0 taken
        old, new, raw = s.load(XDP), s.load(XDP), s.load(RAW_TP)
        out: list[Any] = []

        def step(*args: int) -> None:
            try:
                t.xdp_attach_legacy(*args)
                out.append("ok")
            except OSError as exc:
                out.append(errno.errorcode[exc.errno or 0])

        step(1, old)
        out.append(s.bpf(LINK_CREATE, new, 1, ATTACH_XDP, 0))  # a program is attached
        step(1, new, if_noexist)
        step(1, new, replace, new)  # not the active one
        step(1, new, replace)  # no expected fd
        step(1, new, 0, new)  # an expected fd without REPLACE is ignored: replaces
        step(1, raw)
        step(1, 999)
        step(99, old)
        step(1, old, drv)
        step(1, old, 1 << 5)  # an unknown flag
        step(1, new, replace, new)
        step(1, -1)
        link = s.bpf(LINK_CREATE, new, 1, ATTACH_XDP, 0)
        out.append(link >= 0)
        step(1, old)  # a link is attached
        step(1, -1)
        s.bpf(LINK_DETACH, link)
        step(1, -1)
        return out

    both(live, script)


def test_a_device_going_away_ends_its_attachments(live: Any) -> None:
    """unregister_netdevice: ``dev_xdp_uninstall`` and ``tcx_uninstall`` leave the links
    (and their programs and ids) without a device."""

    def script(s: Side) -> Any:
        s.add_dev("br0")
        xdp = s.bpf(LINK_CREATE, s.load(XDP), 2, ATTACH_XDP, 0)
        tcx = s.bpf(LINK_CREATE, s.load(SCHED_CLS), 2, TCX_INGRESS, 0)
        out: list[Any] = [ids_checked(s, xdp)[-1], ids_checked(s, tcx)[-2:]]
        s.del_dev("br0")
        out += [ids_checked(s, xdp), ids_checked(s, tcx)]
        out += [info_fields(s, xdp, False), info_fields(s, tcx, False)]
        out += [
            s.bpf(LINK_UPDATE, xdp, s.load(XDP), 0),
            s.bpf(LINK_UPDATE, tcx, s.load(SCHED_CLS), 0),
        ]
        out += [s.bpf(LINK_DETACH, xdp), s.bpf(LINK_DETACH, tcx)]
        out.append(s.bpf(LINK_CREATE, s.load(XDP), 2, ATTACH_XDP, 0))  # no such device
        out.append(s.bpf(LINK_CREATE, s.load(SCHED_CLS), 2, TCX_INGRESS, 0))
        return out

    both(live, script)


def test_iterator_files_seek_write_and_open_modes(live: Any) -> None:
    """An iterator fd has no lseek (ESPIPE) and is read-only (EBADF); a pinned iter
    link opens for writing, but writing is EINVAL (``bpf_iter_fops`` has no write)."""

    def script(s: Side) -> Any:
        link = s.bpf(LINK_CREATE, s.load(TRACING, TRACE_ITER, "bpf_map"), 0, TRACE_ITER, 0)
        it = s.bpf(ITER_CREATE, link, 0)
        out: list[Any] = [s.read(it)]
        calls = (lambda: s.t.lseek(it, 0, 0), lambda: s.t.write(it, b"x"))
        for call in (*calls, lambda: s.t.fstat(it).st_mode):
            try:
                out.append(call())
            except OSError as exc:
                out.append(errno.errorcode[exc.errno or 0])
        s.bpf(OBJ_PIN, s.cstr("/b/i"), link, fmt="QI")
        for flags in (os.O_WRONLY, os.O_RDWR):
            fd = s.t.open("/b/i", flags)
            try:
                s.t.write(fd, b"x")
            except OSError as exc:
                out.append(errno.errorcode[exc.errno or 0])
        return out

    both(live, script)
