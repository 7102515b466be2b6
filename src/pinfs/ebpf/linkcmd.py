"""The bpf(2) link commands (kernel/bpf/syscall.c): BPF_LINK_CREATE, BPF_LINK_UPDATE,
BPF_LINK_DETACH, BPF_LINK_GET_FD_BY_ID, BPF_LINK_GET_NEXT_ID, BPF_RAW_TRACEPOINT_OPEN,
BPF_ITER_CREATE, and OBJ_GET_INFO_BY_FD of a link (``bpf_link_get_info_by_fd``).

CHECK_ATTR is the dispatcher's (the layouts are in :mod:`pinfs.ebpf.attr`).
"""

from __future__ import annotations

import errno
import struct

from pinfs.base.cred import CAP_SYS_ADMIN, capable
from pinfs.base.errors import Refusal, kernel_error
from pinfs.ebpf.attr import (
    BPF_PROG_TYPE_RAW_TRACEPOINT,
    BPF_PROG_TYPE_SCHED_CLS,
    BPF_PROG_TYPE_TRACING,
    BPF_PROG_TYPE_XDP,
)
from pinfs.ebpf.context import BpfTask
from pinfs.ebpf.ids import bpf_obj_get_next_id
from pinfs.ebpf.iter import bpf_iter_create, bpf_iter_link_attach
from pinfs.ebpf.iterids import (
    BPF_TCX_EGRESS,
    BPF_TCX_INGRESS,
    BPF_TRACE_ITER,
    BPF_TRACE_RAW_TP,
    BPF_XDP,
)
from pinfs.ebpf.link import (
    RAW_TRACEPOINTS,
    BpfLink,
    RawTracepointLink,
    bpf_link_get_from_fd,
    bpf_link_inc,
    bpf_link_new_fd,
    bpf_link_prime,
    bpf_link_put,
    bpf_link_settle,
    raw_tp_probes,
)
from pinfs.ebpf.netdev import bpf_xdp_link_attach, tcx_link_attach
from pinfs.ebpf.objects import BpfProg, bpf_prog_get, bpf_prog_put
from pinfs.ebpf.uarg import bpf_check_uarg_tail_zero

BPF_F_REPLACE = 1 << 2

#: ``attach_type_to_prog_type`` for the attach types pinfs models.
_ATTACH_PROG_TYPE = {
    BPF_TRACE_RAW_TP: BPF_PROG_TYPE_TRACING,
    BPF_TRACE_ITER: BPF_PROG_TYPE_TRACING,
    BPF_XDP: BPF_PROG_TYPE_XDP,
    BPF_TCX_INGRESS: BPF_PROG_TYPE_SCHED_CLS,
    BPF_TCX_EGRESS: BPF_PROG_TYPE_SCHED_CLS,
}


def link_create(task: BpfTask, attr: dict[str, int]) -> int:
    """``link_create``: the program (EBADF/EINVAL), its type against the attach type
    (``bpf_prog_attach_check_attach_type``, EINVAL), then the type's attach; on
    failure the program's reference is put."""
    prog = bpf_prog_get(task, attr["prog_fd"])
    try:
        return _link_attach(task, attr, prog)
    except BaseException:
        bpf_prog_put(prog)
        raise


def _link_attach(task: BpfTask, attr: dict[str, int], prog: BpfProg) -> int:
    attach_type = attr["attach_type"]
    if _ATTACH_PROG_TYPE.get(attach_type) != prog.prog_type:
        refusal = Refusal(
            "bpf_prog_attach_check_attach_type",
            "attach type {attach_type} does not take a program of type {prog_type}",
            {"attach_type": attach_type, "prog_type": prog.prog_type},
        )
        raise kernel_error(errno.EINVAL, refusal=refusal)
    if prog.prog_type == BPF_PROG_TYPE_TRACING and task.kernel.profile.bpf_iter:
        if attach_type != prog.expected_attach_type or attach_type != BPF_TRACE_ITER:
            raise kernel_error(errno.EINVAL)
        return bpf_iter_link_attach(task, attr, prog)
    if prog.prog_type == BPF_PROG_TYPE_XDP and task.kernel.profile.xdp_links:
        return bpf_xdp_link_attach(task, attr, prog)
    if prog.prog_type == BPF_PROG_TYPE_SCHED_CLS and task.kernel.profile.tcx_links:
        return tcx_link_attach(task, attr, prog)
    raise kernel_error(errno.EINVAL)


def bpf_raw_tracepoint_open(task: BpfTask, attr: dict[str, int]) -> int:
    """``bpf_raw_tracepoint_open``: the program (+1), ``bpf_raw_tp_link_attach``; on
    failure the program is put."""
    prog = bpf_prog_get(task, attr["prog_fd"])
    try:
        return bpf_raw_tp_link_attach(task, prog, attr["name"], attr.get("cookie", 0))
    except BaseException:
        bpf_prog_put(prog)
        raise


def bpf_raw_tp_link_attach(task: BpfTask, prog: BpfProg, uname: int, cookie: int) -> int:
    """``bpf_raw_tp_link_attach``: RAW_TRACEPOINT programs only (tracing kinds are not
    modelled: EINVAL), the name (127 bytes, EFAULT), the tracepoint (ENOENT), prime,
    ``bpf_probe_register``, settle."""
    if prog.prog_type != BPF_PROG_TYPE_RAW_TRACEPOINT:
        raise kernel_error(errno.EINVAL)
    name = task.mem.strncpy_from_user(uname, 127).decode("latin-1")
    if name not in RAW_TRACEPOINTS:
        refusal = Refusal("bpf_get_raw_tracepoint", "no raw tracepoint {name!r}", {"name": name})
        raise kernel_error(errno.ENOENT, refusal=refusal)
    link = RawTracepointLink(task.kernel, prog, prog.expected_attach_type, tp_name=name)
    link.cookie = cookie
    primer = bpf_link_prime(task, link)
    raw_tp_probes(task.kernel, name).append(link)
    return bpf_link_settle(primer)


def link_update(task: BpfTask, attr: dict[str, int]) -> int:
    """``link_update``: flags only BPF_F_REPLACE (EINVAL), the link, the new program,
    ``old_prog_fd`` only with BPF_F_REPLACE (EINVAL), then the type's
    ``update_prog`` (EINVAL without one)."""
    flags = attr["flags"]
    if flags & ~BPF_F_REPLACE:
        raise kernel_error(errno.EINVAL)
    link = bpf_link_get_from_fd(task, attr["link_fd"])
    try:
        new_prog = bpf_prog_get(task, attr["new_prog_fd"])
        old_prog: BpfProg | None = None
        try:
            if flags & BPF_F_REPLACE:
                old_prog = bpf_prog_get(task, attr["old_prog_fd"])
            elif attr["old_prog_fd"]:
                raise kernel_error(errno.EINVAL)
            link.update_prog(new_prog, old_prog)
        except BaseException:
            bpf_prog_put(new_prog)
            raise
        finally:
            if old_prog is not None:
                bpf_prog_put(old_prog)
    finally:
        bpf_link_put(link)
    return 0


def link_detach(task: BpfTask, attr: dict[str, int]) -> int:
    """``link_detach``: the link, its ``detach`` (EOPNOTSUPP without one)."""
    link = bpf_link_get_from_fd(task, attr["link_fd"])
    try:
        link.detach()
    finally:
        bpf_link_put(link)
    return 0


def bpf_link_get_fd_by_id(task: BpfTask, attr: dict[str, int]) -> int:
    """``bpf_link_get_fd_by_id``: CAP_SYS_ADMIN (EPERM), the link (ENOENT; id 0 too),
    a new ``bpf-link`` fd."""
    if not capable(task.cred, task.kernel.init_user_ns, CAP_SYS_ADMIN):
        raise kernel_error(errno.EPERM)
    link_id = attr["start_id"]
    link: BpfLink | None = task.kernel.link_idr.find(link_id) if link_id else None
    if link is None or link.refcnt == 0:
        raise kernel_error(errno.ENOENT)
    bpf_link_inc(link)
    try:
        return bpf_link_new_fd(task, link)
    except BaseException:
        bpf_link_put(link)
        raise


def link_get_next_id(task: BpfTask, attr: dict[str, int]) -> int:
    """BPF_LINK_GET_NEXT_ID."""
    return bpf_obj_get_next_id(task, attr, task.kernel.link_idr)


def iter_create(task: BpfTask, attr: dict[str, int]) -> int:
    """BPF_ITER_CREATE."""
    return bpf_iter_create(task, attr)


def bpf_link_get_info_by_fd(task: BpfTask, link: BpfLink, attr: dict[str, int]) -> int:
    """``bpf_link_get_info_by_fd``: tail-zero (E2BIG), the caller's struct read
    (EFAULT), type, id, prog_id, the type's part; its failure (EINVAL, ENOSPC) returns
    before anything is copied back."""
    size = task.kernel.profile.link_info_size
    bpf_check_uarg_tail_zero(task, attr["info"], size, attr["info_len"])
    info_len = min(size, attr["info_len"])
    info = bytearray(task.mem.read(attr["info"], info_len).ljust(size, b"\0"))
    prog_id = link.prog.idr_id if link.prog is not None else 0
    struct.pack_into("<III", info, 0, link.link_type, link.idr_id, prog_id)
    link.fill_link_info(task, info)
    task.mem.write(attr["info"], bytes(info[:info_len]))
    task.mem.write(attr["<uattr>"] + 4, info_len.to_bytes(4, "little"))
    return 0
