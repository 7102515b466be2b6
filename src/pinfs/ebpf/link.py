"""bpf links (kernel/bpf/syscall.c, 70ed506c3bbc v5.7): the object, its id, its files,
its lifetime, and the raw tracepoint link (``bpf_raw_tp_link_attach``).

A link holds its program (one reference, taken by the command that made it) and is held
by its files (``bpf_link_fops``) and pinned inodes (``bpf_link_iops``).  The attachment
itself (a device's XDP slot, a tracepoint's probe list) points at the link without a
reference: when the last file and pin go, ``bpf_link_free`` ends the attachment, then
puts the program.  Order of ``bpf_link_free``: the id leaves ``link_idr``, ``release``
detaches, the program is put, the link is gone.

A new link goes through ``bpf_link_prime`` (an fd reserved, an id allocated, the file
made), the type's attach, then ``bpf_link_settle`` (the id becomes visible, the fd is
installed) or ``bpf_link_cleanup`` (id and fd given back: a failed attach still
consumed an id of the cyclic space).

fdinfo and readlink follow the kernel: the file made by ``bpf_link_prime`` is named
``bpf_link``, one made by ``bpf_link_new_fd`` (OBJ_GET, LINK_GET_FD_BY_ID) ``bpf-link``;
link files are O_RDONLY, close-on-exec.
"""

from __future__ import annotations

import errno
import os
import struct
from typing import Any

import attrs

from pinfs.base.errors import Refusal, kernel_error
from pinfs.base.uapi import RLIMIT_NOFILE
from pinfs.ebpf.context import BpfKernel, BpfTask
from pinfs.ebpf.iterids import BPF_LINK_TYPE_RAW_TRACEPOINT, LINK_TYPE_NAMES
from pinfs.ebpf.objects import BpfProg, bpf_prog_put, bpf_prog_tag
from pinfs.fs.fdtable import check_fd
from pinfs.vfs import File, FileOperations

ENOTSUPP = 524
EOPNOTSUPP = errno.EOPNOTSUPP


@attrs.define(eq=False, repr=False)
class BpfLink:
    """``struct bpf_link`` and its ``bpf_link_ops``; one subclass per link type."""

    kernel: BpfKernel
    prog: BpfProg | None
    attach_type: int = 0
    id: int = 0  # pinfs's handle (kernel.bpf_objects)
    idr_id: int = 0  # link->id: 0 until bpf_link_settle
    refcnt: int = 1
    freed: bool = False
    user: None = None  # links charge no memlock

    kind = "link"
    link_type = 0

    def __repr__(self) -> str:
        state = " FREED" if self.freed else ""
        return f"<link {self.id} {LINK_TYPE_NAMES[self.link_type]} refcnt={self.refcnt}{state}>"

    # -- bpf_link_ops: the kernel's defaults where a type has no such op ----------------

    def release(self) -> None:
        """``->release``: end the attachment (called once, from ``bpf_link_free``)."""

    def detach(self) -> None:
        """``->detach`` (BPF_LINK_DETACH): EOPNOTSUPP unless the type has one."""
        raise kernel_error(EOPNOTSUPP)

    def update_prog(self, new_prog: BpfProg, old_prog: BpfProg | None) -> None:
        """``->update_prog`` (BPF_LINK_UPDATE): EINVAL unless the type has one.  On
        success the link owns ``new_prog``'s reference and has put the old program."""
        raise kernel_error(errno.EINVAL)

    def show_fdinfo(self) -> str:
        """``->show_fdinfo``: the type's own fdinfo lines."""
        return ""

    def fill_link_info(self, task: BpfTask, info: bytearray) -> None:
        """``->fill_link_info``: the type's part of ``struct bpf_link_info``."""

    def attached_to(self) -> str:
        """What the link is attached to, for pictures ('' once detached)."""
        return ""


# ---------------------------------------------------------------------------------------
# Reference counts and ids


def bpf_link_inc(link: BpfLink) -> None:
    """``bpf_link_inc`` (atomic64: no wrap)."""
    if link.freed:
        link.kernel.bugs.append(f"use-after-free: reference taken on freed {link!r}")
    link.refcnt += 1


def bpf_link_put(link: BpfLink) -> None:
    """``bpf_link_put_direct``: at zero, ``bpf_link_free``."""
    link.refcnt -= 1
    if link.refcnt == 0:
        bpf_link_free(link)


def bpf_link_free(link: BpfLink) -> None:
    """``bpf_link_free``: id out, ``release`` (detach), program put, gone."""
    bpf_link_free_id(link)
    if link.prog is not None:
        link.release()
        bpf_prog_put(link.prog)
    link.freed = True
    link.kernel.bpf_objects.pop(link.id, None)


def bpf_link_free_id(link: BpfLink) -> None:
    if link.idr_id:
        link.kernel.link_idr.remove(link.idr_id)
        link.idr_id = 0


def bpf_link_init(kernel: BpfKernel, link: BpfLink) -> None:
    """``bpf_link_init``: refcnt 1, the program (whose reference the caller passes)."""
    link.id = kernel.register_bpf_object(link)


# ---------------------------------------------------------------------------------------
# Files


def bpf_link_release(file: File) -> None:
    """``bpf_link_release``: the file's reference."""
    bpf_link_put(file.private_data)


def bpf_link_show_fdinfo(file: File) -> str:
    """``bpf_link_show_fdinfo``: link_type, link_id, the program's tag and id (while
    it has one), then the type's lines."""
    link: BpfLink = file.private_data
    out = f"link_type:\t{LINK_TYPE_NAMES[link.link_type]}\nlink_id:\t{link.idr_id}\n"
    if link.prog is not None:
        out += f"prog_tag:\t{bpf_prog_tag(link.prog)}\nprog_id:\t{link.prog.idr_id}\n"
    return out + link.show_fdinfo()


def _no_fdinfo(file: File) -> str:
    return ""


bpf_link_fops = FileOperations(
    name="bpf_link_fops", release=bpf_link_release, show_fdinfo=bpf_link_show_fdinfo
)


def bpf_link_fops_for(kernel: BpfKernel) -> FileOperations:
    """Before link ids and fdinfo (v5.8) a link file prints no link lines."""
    return bpf_link_fops if kernel.profile.link_ids else _BARE_LINK_FOPS


_BARE_LINK_FOPS = FileOperations(
    name="bpf_link_fops", release=bpf_link_release, show_fdinfo=_no_fdinfo
)


def is_link_file(file: File) -> bool:
    return file.f_op is bpf_link_fops or file.f_op is _BARE_LINK_FOPS


def bpf_link_file(file: File) -> BpfLink | None:
    """The link behind a link file, if it is one."""
    if is_link_file(file):
        link: BpfLink = file.private_data
        return link
    return None


def _link_file(task: BpfTask, name: str, link: BpfLink) -> File:
    """``anon_inode_getfile(name, &bpf_link_fops, link, O_CLOEXEC)``: O_RDONLY."""
    file = File(
        f_op=bpf_link_fops_for(task.kernel),
        f_flags=os.O_RDONLY,
        f_mode=1,  # FMODE_READ
        private_data=link,
        anon_name=name,
    )
    file.f_inode = task.kernel.anon_inode
    return file


def bpf_link_new_fd(task: BpfTask, link: BpfLink) -> int:
    """``bpf_link_new_fd``: ``anon_inode_getfd("bpf-link", ...)``; the caller's
    reference goes to the new file (EMFILE: the caller still owns it)."""
    nofile = task.rlimit(RLIMIT_NOFILE)
    task.files.reserve_fd(nofile)
    return task.files.alloc_fd(_link_file(task, "bpf-link", link), cloexec=True, nofile=nofile)


@attrs.define
class BpfLinkPrimer:
    """``struct bpf_link_primer``: what ``bpf_link_settle`` installs."""

    task: BpfTask
    link: BpfLink
    file: File
    id: int


def bpf_link_prime(task: BpfTask, link: BpfLink) -> BpfLinkPrimer:
    """``bpf_link_prime``: an unused fd (EMFILE), an id (ENOSPC), the file.  The link
    is registered with the kernel here (``bpf_link_init`` is the caller's in C)."""
    task.files.reserve_fd(task.rlimit(RLIMIT_NOFILE))
    id = task.kernel.link_idr.alloc_cyclic(link) if task.kernel.profile.link_ids else 0
    bpf_link_init(task.kernel, link)  # after the id: a full id space leaves nothing behind
    return BpfLinkPrimer(task, link, _link_file(task, "bpf_link", link), id)


def bpf_link_settle(primer: BpfLinkPrimer) -> int:
    """``bpf_link_settle``: the id becomes visible, the fd is installed."""
    primer.link.idr_id = primer.id
    task = primer.task
    return task.files.alloc_fd(primer.file, cloexec=True, nofile=task.rlimit(RLIMIT_NOFILE))


def bpf_link_cleanup(primer: BpfLinkPrimer) -> None:
    """``bpf_link_cleanup``: the attach failed; the program stays the caller's (it
    puts it), the id and the fd are given back, the file's put frees the link."""
    link = primer.link
    link.prog = None
    if primer.id:
        link.kernel.link_idr.remove(primer.id)
    bpf_link_put(link)


def bpf_link_get_from_fd(task: BpfTask, ufd: int) -> BpfLink:
    """``bpf_link_get_from_fd``: EBADF if nothing is open there, EINVAL if it is no
    link; +1."""
    file = task.files.lookup(check_fd(ufd) & 0xFFFFFFFF)
    if file is None or file.f_flags & 0o10000000:  # O_PATH files are not open
        raise kernel_error(
            errno.EBADF, refusal=Refusal("fdget", "fd {fd} is not open", {"fd": ufd})
        )
    link = bpf_link_file(file)
    if link is None:
        refusal = Refusal("bpf_link_get_from_fd", "fd {fd} is not a bpf link", {"fd": ufd})
        raise kernel_error(errno.EINVAL, refusal=refusal)
    bpf_link_inc(link)
    return link


# ---------------------------------------------------------------------------------------
# Raw tracepoints (kernel/trace/bpf_trace.c's table, a few of __bpf_raw_tp_map)

#: Raw tracepoints ``bpf_get_raw_tracepoint`` finds (a small table of real ones).
RAW_TRACEPOINTS = (
    "sys_enter",
    "sys_exit",
    "sched_switch",
    "sched_wakeup",
    "sched_process_fork",
    "sched_process_exec",
    "sched_process_exit",
    "task_newtask",
    "kfree_skb",
    "netif_receive_skb",
)


@attrs.define(eq=False, repr=False)
class RawTracepointLink(BpfLink):
    """``struct bpf_raw_tp_link``: no detach, no update."""

    tp_name: str = ""
    cookie: int = 0

    link_type = BPF_LINK_TYPE_RAW_TRACEPOINT

    def release(self) -> None:
        """``bpf_raw_tp_link_release``: ``bpf_probe_unregister``."""
        probes = raw_tp_probes(self.kernel, self.tp_name)
        probes[:] = [link for link in probes if link is not self]

    def show_fdinfo(self) -> str:
        """``bpf_raw_tp_link_show_fdinfo``: tp_name (and cookie, v6.10)."""
        out = f"tp_name:\t{self.tp_name}\n"
        if self.kernel.profile.raw_tp_cookie:
            out += f"cookie:\t{self.cookie}\n"
        return out

    def fill_link_info(self, task: BpfTask, info: bytearray) -> None:
        """``bpf_raw_tp_link_fill_link_info``: ``tp_name`` buffer and its length go
        together (EINVAL); the length is set to the name's size, the name copied
        (ENOSPC, NUL-terminated, when the buffer is short)."""
        ubuf, ulen = struct.unpack_from("<QI", info, 16)
        name = self.tp_name.encode()
        if (ulen == 0) != (ubuf == 0):
            raise kernel_error(errno.EINVAL)
        struct.pack_into("<I", info, 24, len(name) + 1)
        if self.kernel.profile.raw_tp_cookie:
            struct.pack_into("<Q", info, 32, self.cookie)
        if ubuf:
            bpf_copy_to_user(task, ubuf, name, ulen)

    def attached_to(self) -> str:
        return f"tracepoint {self.tp_name}"


def bpf_copy_to_user(task: BpfTask, ubuf: int, data: bytes, ulen: int) -> None:
    """``bpf_copy_to_user``: the string and its NUL, or as much as fits and ENOSPC."""
    if ulen >= len(data) + 1:
        task.mem.write(ubuf, data + b"\0")
        return
    task.mem.write(ubuf, data[: ulen - 1] + b"\0")
    raise kernel_error(errno.ENOSPC)


def raw_tp_probes(kernel: BpfKernel, name: str) -> list[Any]:
    """The links attached to a raw tracepoint (its probe list)."""
    return kernel.raw_tp_probes.setdefault(name, [])
