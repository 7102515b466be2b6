"""The profile switches of bpf links, seed beside modern (merged into
``test_profiles.SIDE_BY_SIDE``).  Each script runs on a kernel whose bpffs is mounted
at /sys/fs/bpf and returns what a user sees: a result or an errno."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Any

import pinfs
from pinfs.base.profiles import LATEST, LINUX_5_10, Profile
from pinfs.ebpf.attr import (
    BPF_ITER_CREATE,
    BPF_LINK_CREATE,
    BPF_LINK_DETACH,
    BPF_LINK_GET_NEXT_ID,
    BPF_LINK_UPDATE,
    BPF_RAW_TRACEPOINT_OPEN,
)
from pinfs.ebpf.iterids import BPF_TCX_INGRESS, BPF_TRACE_ITER, BPF_XDP, ITER_BTF_IDS
from pinfs.ebpf.prog import RETURN_ZERO

Script = Callable[[pinfs.Kernel], Any]
XDP, RAW_TP, TRACING, SCHED_CLS = 6, 17, 26, 3


def attempt(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except OSError as exc:
        return exc.errno


def raw(cmd: int, at: dict[int, bytes]) -> Script:
    """bpf(cmd) on a 168-byte attr with ``at``'s bytes: 0 or the errno."""

    def script(k: pinfs.Kernel) -> Any:
        t = k.init_task
        attr = bytearray(168)
        for offset, data in at.items():
            attr[offset : offset + len(data)] = data
        address = t.mem.alloc(bytes(attr))
        try:
            return attempt(lambda: t.bpf(cmd, address, k.profile.bpf_attr_size) and 0)
        finally:
            t.mem.free(address)

    return script


BAD_FD = struct.pack("<I", 999)


def ok(value: object) -> str:
    return "ok" if isinstance(value, int) and value >= 0 else "?"


def xdp_link(k: pinfs.Kernel) -> Any:
    t = k.init_task
    return attempt(lambda: ok(t.link_create(t.prog_load_typed(XDP, RETURN_ZERO), 1, BPF_XDP)))


def tcx_link(k: pinfs.Kernel) -> Any:
    t = k.init_task
    prog = t.prog_load_typed(SCHED_CLS, RETURN_ZERO)
    return attempt(lambda: ok(t.link_create(prog, 1, BPF_TCX_INGRESS)))


def iter_prog(t: pinfs.Task, target: str) -> int:
    return t.prog_load_typed(TRACING, RETURN_ZERO, "GPL", BPF_TRACE_ITER, ITER_BTF_IDS[target])


def prog_iter(k: pinfs.Kernel) -> Any:
    t = k.init_task
    return attempt(lambda: ok(t.link_create(iter_prog(t, "bpf_prog"), 0, BPF_TRACE_ITER)))


def fdinfo(t: pinfs.Task, fd: int) -> str:
    return str(t.fd_file(fd).f_op.show_fdinfo(t.fd_file(fd)))  # type: ignore[misc]


def task_iter_fdinfo(k: pinfs.Kernel) -> Any:
    t = k.init_task

    def run() -> Any:
        fd = t.link_create(iter_prog(t, "task"), 0, BPF_TRACE_ITER, 0, struct.pack("<III", 0, 1, 0))
        return fdinfo(t, fd).splitlines()[-2:]

    return attempt(run)


def link_info_64(k: pinfs.Kernel) -> Any:
    """OBJ_GET_INFO_BY_FD of a raw tracepoint link with a 64-byte buffer whose last
    byte is set: E2BIG where bpf_link_info is smaller."""
    t = k.init_task

    def run() -> Any:
        link = t.raw_tracepoint_open("sys_enter", t.prog_load_typed(RAW_TP, RETURN_ZERO))
        return t.obj_get_info_by_fd(link, 64, bytes(63) + b"\1")[:4]

    return attempt(run)


def preload_obj_get(k: pinfs.Kernel) -> Any:
    t = k.init_task
    return attempt(lambda: t.readlink(f"/proc/self/fd/{t.obj_get('/sys/fs/bpf/maps.debug')}"))


def maps_debug_header(k: pinfs.Kernel) -> Any:
    t = k.init_task

    def run() -> Any:
        fd = t.open("/sys/fs/bpf/maps.debug", os.O_RDONLY)
        return t.read(fd, 4096).decode().splitlines()[0]

    return attempt(run)


def xdp_prog(k: pinfs.Kernel) -> Any:
    return attempt(lambda: ok(k.init_task.prog_load_typed(XDP, RETURN_ZERO)))


def with_proc(script: Script) -> Script:
    def run(k: pinfs.Kernel) -> Any:
        t = k.init_task
        if "proc" not in t.listdir("/"):
            t.mkdir("/proc", 0o555)
        t.mount("proc", "/proc", "proc")
        return script(k)

    return run


EINVAL, EBADF, ENOENT, E2BIG = 22, 9, 2, 7
LINK_SIDE_BY_SIDE: dict[str, tuple[Script, Any, Any, Profile]] = {
    "prog_types": (xdp_prog, EINVAL, "ok", LINUX_5_10),
    "bpf_links": (raw(BPF_LINK_UPDATE, {0: BAD_FD}), EINVAL, EBADF, LINUX_5_10),
    "raw_tracepoints": (raw(BPF_RAW_TRACEPOINT_OPEN, {8: BAD_FD}), EINVAL, EBADF, LINUX_5_10),
    "raw_tp_cookie": (raw(BPF_RAW_TRACEPOINT_OPEN, {8: BAD_FD, 16: b"\1"}), EINVAL, EBADF, LATEST),
    "link_ids": (raw(BPF_LINK_GET_NEXT_ID, {}), EINVAL, 0, LINUX_5_10),  # the preloaded links
    "link_info_size": (link_info_64, EINVAL, b"\1\0\0\0", LATEST),
    "link_detach": (raw(BPF_LINK_DETACH, {0: BAD_FD}), EINVAL, EBADF, LINUX_5_10),
    "bpf_iter": (raw(BPF_ITER_CREATE, {0: BAD_FD}), EINVAL, EBADF, LINUX_5_10),
    "iter_targets": (prog_iter, E2BIG, "ok", LINUX_5_10),  # the seed: attr too long
    "iter_task_params": (task_iter_fdinfo, E2BIG, ["task_type:\tPID", "pid:\t1"], LATEST),
    "xdp_links": (xdp_link, EINVAL, "ok", LINUX_5_10),
    "tcx_links": (tcx_link, EINVAL, "ok", LATEST),
    "link_create_multi": (raw(BPF_LINK_CREATE, {0: BAD_FD, 56: b"\1"}), EINVAL, EBADF, LATEST),
    "preload_links": (with_proc(preload_obj_get), ENOENT, "anon_inode:bpf-link", LINUX_5_10),
    "preload_maps_cur_entries": (
        maps_debug_header,
        ENOENT,
        "  id name             max_entries  cur_entries",
        LATEST,
    ),
}
