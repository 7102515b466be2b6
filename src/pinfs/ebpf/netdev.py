"""Simulated network devices and what bpf attaches to them: XDP (net/core/dev.c,
``dev_xdp_attach``, ``bpf_xdp_link_attach``) and tcx (kernel/bpf/tcx.c).

Devices have no driver: XDP runs in generic (skb) mode, native or offload mode is
EOPNOTSUPP (``dev_xdp_bpf_op`` finds no ``ndo_bpf``), as on ``lo``.  There is one
network namespace.  ``lo`` (ifindex 1) exists at boot; ``kernel.add_netdev(name)``
and ``kernel.remove_netdev(name)`` add and unregister devices.  Unregistering ends
every attachment (``dev_xdp_uninstall``, ``tcx_uninstall``): a link keeps its program
and its id but loses the device (fdinfo ``ifindex: 0``; update ENOLINK).

The legacy attachment, rtnetlink's IFLA_XDP (``do_setlink`` -> ``dev_change_xdp_fd``),
is :func:`dev_change_xdp_fd`; the device holds that program's reference.

tcx links are placed as ``bpf_mprog_attach`` places them (BPF_F_BEFORE/AFTER relative
to a program or link given by fd or id, ``expected_revision``); BPF_PROG_ATTACH to tcx
(links only here) and BPF_PROG_QUERY are not modelled.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable

import attrs

from pinfs.base.cred import capable
from pinfs.base.errors import Refusal, kernel_error
from pinfs.ebpf.attr import BPF_PROG_TYPE_XDP
from pinfs.ebpf.context import BpfKernel, BpfTask
from pinfs.ebpf.iterids import BPF_LINK_TYPE_TCX, BPF_LINK_TYPE_XDP, BPF_TCX_INGRESS
from pinfs.ebpf.link import (
    BpfLink,
    bpf_link_cleanup,
    bpf_link_get_from_fd,
    bpf_link_inc,
    bpf_link_prime,
    bpf_link_put,
    bpf_link_settle,
)
from pinfs.ebpf.objects import BpfProg, bpf_prog_get, bpf_prog_inc, bpf_prog_put

CAP_NET_ADMIN = 12
IFNAMSIZ = 16

XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_FLAGS_HW_MODE = 1 << 3
XDP_FLAGS_REPLACE = 1 << 4
XDP_FLAGS_MODES = XDP_FLAGS_SKB_MODE | XDP_FLAGS_DRV_MODE | XDP_FLAGS_HW_MODE
XDP_FLAGS_MASK = XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_MODES | XDP_FLAGS_REPLACE

XDP_MODE_SKB, XDP_MODE_DRV, XDP_MODE_HW = 0, 1, 2


@attrs.define(eq=False)
class XdpState:
    """``dev->xdp_state[mode]``: a program attached the legacy way, or a link."""

    prog: BpfProg | None = None
    link: XdpLink | None = None


@attrs.define(eq=False, repr=False)
class NetDevice:
    """``struct net_device``: a name, an ifindex, the XDP slots and the tcx lists."""

    name: str
    ifindex: int
    xdp: list[XdpState] = attrs.field(factory=lambda: [XdpState(), XdpState(), XdpState()])
    tcx: dict[int, list[TcxLink]] = attrs.field(factory=lambda: {46: [], 47: []})
    tcx_revision: dict[int, int] = attrs.field(factory=lambda: {46: 1, 47: 1})
    registered: bool = True

    def __repr__(self) -> str:
        return f"<netdev {self.ifindex}: {self.name}>"


def dev_valid_name(name: object) -> bool:
    """``dev_valid_name``: 1..15 bytes, not '.' or '..', no '/', ':' or white space."""
    if not isinstance(name, str) or not name or len(name.encode()) >= IFNAMSIZ:
        return False
    return name not in (".", "..") and not any(c in "/:" or c.isspace() for c in name)


def register_netdev(kernel: BpfKernel, name: str) -> NetDevice:
    """``register_netdevice``: EINVAL for a bad name, EEXIST for a taken one; the
    next ifindex (``dev_index_reserve``)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be str, not {type(name).__name__}")
    if not dev_valid_name(name):
        raise kernel_error(errno.EINVAL)
    if dev_get_by_name(kernel, name) is not None:
        raise kernel_error(errno.EEXIST)
    ifindex = max(kernel.netdevs, default=0) + 1
    dev = kernel.netdevs[ifindex] = NetDevice(name, ifindex)
    return dev


def unregister_netdev(kernel: BpfKernel, name: str) -> None:
    """``unregister_netdevice``: ENODEV if there is none; ``lo`` cannot go (EOPNOTSUPP,
    it has no ``dellink``); XDP and tcx attachments end first."""
    dev = dev_get_by_name(kernel, name)
    if dev is None:
        raise kernel_error(errno.ENODEV)
    if dev.ifindex == 1:
        raise kernel_error(errno.EOPNOTSUPP)
    dev_xdp_uninstall(dev)
    tcx_uninstall(dev)
    dev.registered = False
    del kernel.netdevs[dev.ifindex]


def dev_get_by_name(kernel: BpfKernel, name: str) -> NetDevice | None:
    return next((d for d in kernel.netdevs.values() if d.name == name), None)


def dev_get_by_index(kernel: BpfKernel, ifindex: int) -> NetDevice | None:
    dev: NetDevice | None = kernel.netdevs.get(ifindex)
    return dev


# ---------------------------------------------------------------------------------------
# XDP


def dev_xdp_mode(flags: int) -> int:
    """``dev_xdp_mode``: the flag's mode; none means native if the driver has
    ``ndo_bpf``, else generic -- always generic here."""
    if flags & XDP_FLAGS_HW_MODE:
        return XDP_MODE_HW
    if flags & XDP_FLAGS_DRV_MODE:
        return XDP_MODE_DRV
    return XDP_MODE_SKB


def dev_xdp_prog(dev: NetDevice, mode: int) -> BpfProg | None:
    state = dev.xdp[mode]
    return state.link.prog if state.link is not None else state.prog


def dev_xdp_prog_count(dev: NetDevice) -> int:
    return sum(1 for mode in range(3) if dev_xdp_prog(dev, mode) is not None)


def _refuse(err: int, why: str) -> OSError:
    return kernel_error(err, refusal=Refusal("dev_xdp_attach", why, {}))


def dev_xdp_attach(
    dev: NetDevice,
    link: XdpLink | None,
    new_prog: BpfProg | None,
    old_prog: BpfProg | None,
    flags: int,
) -> None:
    """``dev_xdp_attach``: the checks in the kernel's order, then install.  A legacy
    attachment takes over the caller's reference on ``new_prog`` and puts the program
    it replaces."""
    if link is not None and (new_prog is not None or old_prog is not None):
        raise kernel_error(errno.EINVAL)
    if link is not None and flags & ~XDP_FLAGS_MODES:
        raise _refuse(errno.EINVAL, "Invalid XDP flags for BPF link attachment")
    modes = bin(flags & XDP_FLAGS_MODES).count("1")
    if modes > 1:
        raise _refuse(errno.EINVAL, "Only one XDP mode flag can be set")
    if not modes and dev_xdp_prog_count(dev) > 1:
        raise _refuse(errno.EINVAL, "More than one program loaded, unset mode is ambiguous")
    if old_prog is not None and not flags & XDP_FLAGS_REPLACE:
        raise _refuse(errno.EINVAL, "XDP_FLAGS_REPLACE is not specified")
    mode = dev_xdp_mode(flags)
    if dev.xdp[mode].link is not None:
        raise _refuse(errno.EBUSY, "Can't replace active BPF XDP link")
    cur_prog = dev_xdp_prog(dev, mode)
    if link is not None and cur_prog is not None:
        raise _refuse(errno.EBUSY, "Can't replace active XDP program with BPF link")
    if flags & XDP_FLAGS_REPLACE and cur_prog is not old_prog:
        raise _refuse(errno.EEXIST, "Active program does not match expected")
    if link is not None:
        new_prog = link.prog
    if new_prog is not None:
        if flags & XDP_FLAGS_UPDATE_IF_NOEXIST and cur_prog is not None:
            raise _refuse(errno.EBUSY, "XDP program already attached")
        other = XDP_MODE_DRV if mode == XDP_MODE_SKB else XDP_MODE_SKB
        if mode != XDP_MODE_HW and dev_xdp_prog(dev, other) is not None:
            raise _refuse(errno.EEXIST, "Native and generic XDP can't be active at the same time")
    # the driver is asked only when the effective program changes: no ndo_bpf, so
    # native or offload mode fails here, after the mode clash (6.18's dev.c; an
    # earlier 6.18.44 build measured this before the clash, the current one after)
    if new_prog is not cur_prog and mode != XDP_MODE_SKB:
        raise _refuse(errno.EOPNOTSUPP, "Underlying driver does not support XDP in native mode")
    if link is not None:
        dev.xdp[mode].link = link
    else:
        dev.xdp[mode].prog = new_prog
    if cur_prog is not None and link is None:
        bpf_prog_put(cur_prog)


def dev_xdp_uninstall(dev: NetDevice) -> None:
    """``dev_xdp_uninstall``: every mode's program goes; a link loses its device (it
    keeps its program), a legacy program is put."""
    for state in dev.xdp:
        if state.link is not None:
            state.link.dev = None
            state.link = None
        elif state.prog is not None:
            bpf_prog_put(state.prog)
            state.prog = None


def dev_change_xdp_fd(
    task: BpfTask, ifindex: int, fd: int, expected_fd: int = -1, flags: int = 0
) -> None:
    """rtnetlink IFLA_XDP (``rtnetlink_rcv_msg``: CAP_NET_ADMIN; ``do_setlink``: the
    device (ENODEV), flags (EINVAL), XDP_FLAGS_REPLACE needs IFLA_XDP_EXPECTED_FD
    (EINVAL), which is ignored without it) then ``dev_change_xdp_fd``: the programs (an
    fd of another type: EINVAL), ``dev_xdp_attach``.  ``fd`` -1 detaches; an
    ``expected_fd`` of -1 means the attribute is absent."""
    if not capable(task.cred, task.kernel.init_user_ns, CAP_NET_ADMIN):
        raise kernel_error(errno.EPERM)
    dev = dev_get_by_index(task.kernel, ifindex)
    if dev is None:
        raise kernel_error(errno.ENODEV)
    if flags & ~XDP_FLAGS_MASK or bin(flags & XDP_FLAGS_MODES).count("1") > 1:
        raise kernel_error(errno.EINVAL)
    if flags & XDP_FLAGS_REPLACE and expected_fd == -1:
        raise kernel_error(errno.EINVAL)
    if not flags & XDP_FLAGS_REPLACE:
        expected_fd = -1
    new_prog = _xdp_prog_get(task, fd) if fd >= 0 else None
    old_prog = None
    try:
        if expected_fd >= 0:
            old_prog = _xdp_prog_get(task, expected_fd)
        dev_xdp_attach(dev, None, new_prog, old_prog, flags)
    except BaseException:
        if new_prog is not None:
            bpf_prog_put(new_prog)
        raise
    finally:
        if old_prog is not None:
            bpf_prog_put(old_prog)


def _xdp_prog_get(task: BpfTask, fd: int) -> BpfProg:
    """``bpf_prog_get_type_dev(fd, BPF_PROG_TYPE_XDP, ...)``: +1, or EINVAL."""
    prog = bpf_prog_get(task, fd)
    if prog.prog_type != BPF_PROG_TYPE_XDP:
        bpf_prog_put(prog)
        raise kernel_error(errno.EINVAL)
    return prog


@attrs.define(eq=False, repr=False)
class XdpLink(BpfLink):
    """``struct bpf_xdp_link``: its device (None once detached) and mode flags."""

    dev: NetDevice | None = None
    flags: int = 0

    link_type = BPF_LINK_TYPE_XDP

    def release(self) -> None:
        """``bpf_xdp_link_release``: ``dev_xdp_detach_link``, then no device."""
        if self.dev is not None:
            self.dev.xdp[dev_xdp_mode(self.flags)].link = None
            self.dev = None

    def detach(self) -> None:
        """``bpf_xdp_link_detach``: release; detaching twice is fine."""
        self.release()

    def update_prog(self, new_prog: BpfProg, old_prog: BpfProg | None) -> None:
        """``bpf_xdp_link_update``: ENOLINK once detached, EPERM if ``old_prog`` is not
        the current one, EINVAL for another type or attach type; the same program is
        a no-op (its new reference put)."""
        if self.dev is None:
            raise kernel_error(errno.ENOLINK)
        current = self.prog
        assert current is not None
        if old_prog is not None and current is not old_prog:
            raise kernel_error(errno.EPERM)
        if (
            current.prog_type != new_prog.prog_type
            or current.expected_attach_type != new_prog.expected_attach_type
        ):
            raise kernel_error(errno.EINVAL)
        if new_prog is current:
            bpf_prog_put(new_prog)
            return
        self.prog = new_prog
        bpf_prog_put(current)

    def show_fdinfo(self) -> str:
        return f"ifindex:\t{self.dev.ifindex if self.dev else 0}\n"

    def fill_link_info(self, task: BpfTask, info: bytearray) -> None:
        struct.pack_into("<I", info, 16, self.dev.ifindex if self.dev else 0)

    def attached_to(self) -> str:
        return f"xdp {self.dev.name}" if self.dev else ""


def bpf_xdp_link_attach(task: BpfTask, attr: dict[str, int], prog: BpfProg) -> int:
    """``bpf_xdp_link_attach``: the device (EINVAL), prime, ``dev_xdp_attach``
    (cleanup on failure: the id is spent), settle."""
    dev = dev_get_by_index(task.kernel, attr["target_fd"])
    if dev is None:
        raise kernel_error(errno.EINVAL)
    link = XdpLink(task.kernel, prog, attr["attach_type"], dev=dev, flags=attr["flags"])
    primer = bpf_link_prime(task, link)
    try:
        dev_xdp_attach(dev, link, None, None, link.flags)
    except BaseException:
        link.dev = None
        bpf_link_cleanup(primer)
        raise
    return bpf_link_settle(primer)


# ---------------------------------------------------------------------------------------
# tcx


@attrs.define(eq=False, repr=False)
class TcxLink(BpfLink):
    """``struct tcx_link``: its device (None once detached); ``attach_type`` is the
    location, BPF_TCX_INGRESS or BPF_TCX_EGRESS."""

    dev: NetDevice | None = None

    link_type = BPF_LINK_TYPE_TCX

    def release(self) -> None:
        """``tcx_link_release``: out of the device's list (``bpf_mprog_detach``)."""
        if self.dev is not None:
            entries = self.dev.tcx[self.attach_type]
            entries[:] = [link for link in entries if link is not self]
            self.dev.tcx_revision[self.attach_type] += 1
            self.dev = None

    def detach(self) -> None:
        self.release()

    def update_prog(self, new_prog: BpfProg, old_prog: BpfProg | None) -> None:
        """``tcx_link_update``: ENOLINK once detached, EPERM for a wrong ``old_prog``,
        the same program a no-op; ``bpf_mprog_attach`` with BPF_F_REPLACE: EEXIST if
        the program is already on this hook, EINVAL for another program type."""
        if self.dev is None:
            raise kernel_error(errno.ENOLINK)
        current = self.prog
        assert current is not None
        if old_prog is not None and current is not old_prog:
            raise kernel_error(errno.EPERM)
        if new_prog is current:
            bpf_prog_put(new_prog)
            return
        if any(link.prog is new_prog for link in self.dev.tcx[self.attach_type]):
            raise kernel_error(errno.EEXIST)
        if new_prog.prog_type != current.prog_type:
            raise kernel_error(errno.EINVAL)
        self.prog = new_prog
        self.dev.tcx_revision[self.attach_type] += 1
        bpf_prog_put(current)

    def show_fdinfo(self) -> str:
        where = "ingress" if self.attach_type == BPF_TCX_INGRESS else "egress"
        ifindex = self.dev.ifindex if self.dev else 0
        return f"ifindex:\t{ifindex}\nattach_type:\t{self.attach_type} ({where})\n"

    def fill_link_info(self, task: BpfTask, info: bytearray) -> None:
        struct.pack_into("<II", info, 16, self.dev.ifindex if self.dev else 0, self.attach_type)

    def attached_to(self) -> str:
        where = "ingress" if self.attach_type == BPF_TCX_INGRESS else "egress"
        return f"tcx {where} {self.dev.name}" if self.dev else ""


def tcx_link_attach(task: BpfTask, attr: dict[str, int], prog: BpfProg) -> int:
    """``tcx_link_attach``: the device (ENODEV), prime, ``bpf_mprog_attach`` (stale
    ``expected_revision``: ESTALE; the program already there: EEXIST), settle."""
    dev = dev_get_by_index(task.kernel, attr["target_fd"])
    if dev is None:
        raise kernel_error(errno.ENODEV)
    link = TcxLink(task.kernel, prog, attr["attach_type"], dev=dev)
    primer = bpf_link_prime(task, link)
    try:
        _mprog_append(task, dev, link, attr)
    except BaseException:
        link.dev = None
        bpf_link_cleanup(primer)
        raise
    return bpf_link_settle(primer)


BPF_F_REPLACE, BPF_F_BEFORE, BPF_F_AFTER, BPF_F_ID, BPF_F_LINK = 4, 8, 16, 32, 1 << 13
BPF_MPROG_MAX = 64


def _mprog_append(task: BpfTask, dev: NetDevice, link: TcxLink, attr: dict[str, int]) -> None:
    """``bpf_mprog_attach`` for a new link: a stale ``expected_revision`` (ESTALE), the
    program already on the hook (EEXIST), the relative program or link
    (``bpf_mprog_tuple_relative``), then the place: BPF_F_BEFORE/AFTER it (ENOENT if
    it is not there; both disagreeing ERANGE), with no relative the first/last place;
    without either flag, the end (a relative or any flag alone: EINVAL); 64 at most
    (ERANGE)."""
    location, flags = link.attach_type, attr["flags"]
    relative = attr.get("iter_info", 0) & 0xFFFFFFFF
    revision = attr.get("iter_info_len", 0) | (attr.get("link_create_tail", 0) & 0xFFFFFFFF) << 32
    entries = dev.tcx[location]
    if revision and revision != dev.tcx_revision[location]:
        raise kernel_error(errno.ESTALE)
    if any(other.prog is link.prog for other in entries):
        raise kernel_error(errno.EEXIST)
    assert link.prog is not None
    rel_prog, rel_link, put = _mprog_relative(task, relative, flags, link.prog.prog_type)
    try:
        index = _mprog_place(entries, flags, rel_prog, rel_link)
    finally:
        put()
    if len(entries) >= BPF_MPROG_MAX:
        raise kernel_error(errno.ERANGE)
    entries.insert(index, link)
    dev.tcx_revision[location] += 1


def _mprog_relative(
    task: BpfTask, id_or_fd: int, flags: int, prog_type: int
) -> tuple[BpfProg | None, BpfLink | None, Callable[[], None]]:
    """``bpf_mprog_tuple_relative``: a link (BPF_F_LINK) or a program, by id (BPF_F_ID;
    ENOENT) or fd (EBADF/EINVAL), of the same program type (EINVAL); nothing when
    neither an id flag nor an fd is given.  Returns it and how to put it."""
    by_id = bool(flags & BPF_F_ID)
    if flags & BPF_F_LINK:
        if by_id:
            found = task.kernel.link_idr.find(id_or_fd) if id_or_fd else None
            if found is None:
                raise kernel_error(errno.ENOENT)
            bpf_link_inc(found)
            rel: BpfLink = found
        elif id_or_fd:
            rel = bpf_link_get_from_fd(task, id_or_fd)
        else:
            raise kernel_error(errno.EINVAL)
        if rel.prog is None or rel.prog.prog_type != prog_type:
            bpf_link_put(rel)
            raise kernel_error(errno.EINVAL)
        return rel.prog, rel, lambda: bpf_link_put(rel)
    if not by_id and not id_or_fd:
        return None, None, lambda: None
    if by_id:
        prog = task.kernel.prog_idr.find(id_or_fd) if id_or_fd else None
        if prog is None:
            raise kernel_error(errno.ENOENT)
        bpf_prog_inc(prog)
    else:
        prog = bpf_prog_get(task, id_or_fd)
    if prog.prog_type != prog_type:
        bpf_prog_put(prog)
        raise kernel_error(errno.EINVAL)
    return prog, None, lambda: bpf_prog_put(prog)


def _mprog_place(
    entries: list[TcxLink], flags: int, rel_prog: BpfProg | None, rel_link: BpfLink | None
) -> int:
    """Where ``bpf_mprog_attach`` puts a new entry (``bpf_mprog_pos_before/after``)."""
    if flags & BPF_F_REPLACE:
        raise kernel_error(errno.EINVAL)  # a link replaces nothing
    found = next(
        (
            i
            for i, entry in enumerate(entries)
            if entry.prog is rel_prog and (rel_link is None or entry is rel_link)
        ),
        None,
    )
    index: int | None = None
    for flag, place in ((BPF_F_BEFORE, found), (BPF_F_AFTER, None if found is None else found + 1)):
        if not flags & flag:
            continue
        if rel_prog is None:
            place = 0 if flag == BPF_F_BEFORE else len(entries)
        elif place is None:
            raise kernel_error(errno.ENOENT)
        if index is not None and place != index:
            raise kernel_error(errno.ERANGE)
        index = place
    if index is None:
        if rel_prog is not None or flags:
            raise kernel_error(errno.EINVAL)
        index = len(entries)
    return index


def tcx_uninstall(dev: NetDevice) -> None:
    """``tcx_uninstall``: every tcx link loses its device."""
    for entries in dev.tcx.values():
        for link in entries:
            link.dev = None
        entries.clear()
