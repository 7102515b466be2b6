"""BPF iterators (kernel/bpf/bpf_iter.c, v5.8): iter links, BPF_ITER_CREATE, and the
files whose read(2) runs the iterator (``bpf_iter_fops``).

pinfs runs no program, so what an iterator prints is what its program would print:
the kernel's own ``bpf_preload`` programs (``dump_bpf_map``, ``dump_bpf_prog`` of
kernel/bpf/preload/iterators/iterators.bpf.c) print the live map and program listings
in their format; any other program is taken to print nothing (read gives b"", as a
``r0 = 0; exit`` program does on Linux).  An iterator file holds the program, not the
link (``prepare_seq_file``); the listing is made at the first read, from the objects
alive then.
"""

from __future__ import annotations

import errno
import struct

import attrs

from pinfs.base.errors import kernel_error
from pinfs.base.uapi import PAGE_SIZE, RLIMIT_NOFILE
from pinfs.ebpf.context import BpfKernel, BpfTask
from pinfs.ebpf.hashtab import HashTab
from pinfs.ebpf.iterids import BPF_LINK_TYPE_ITER, iter_target_of
from pinfs.ebpf.link import (
    BpfLink,
    bpf_link_cleanup,
    bpf_link_get_from_fd,
    bpf_link_prime,
    bpf_link_put,
    bpf_link_settle,
)
from pinfs.ebpf.objects import BpfMap, BpfProg, bpf_prog_inc, bpf_prog_put
from pinfs.vfs import File, FileOperations, Inode

#: sizeof(union bpf_iter_link_info): map_fd only (v5.9), + cgroup and task (v6.1).
_TASK_TYPES = ("ALL", "TID", "PID")


@attrs.define(eq=False, repr=False)
class IterLink(BpfLink):
    """``struct bpf_iter_link``: the target and its ``bpf_iter_aux_info``."""

    target: str = ""
    task_type: int = 0  # BPF_TASK_ITER_ALL / _TID / _TGID
    task_pid: int = 0

    link_type = BPF_LINK_TYPE_ITER

    def update_prog(self, new_prog: BpfProg, old_prog: BpfProg | None) -> None:
        """``bpf_iter_link_replace``: EPERM for a wrong ``old_prog``, EINVAL unless the
        new program has the same type, attach type and target."""
        current = self.prog
        assert current is not None
        if old_prog is not None and current is not old_prog:
            raise kernel_error(errno.EPERM)
        if (
            current.prog_type != new_prog.prog_type
            or current.expected_attach_type != new_prog.expected_attach_type
            or current.attach_btf_id != new_prog.attach_btf_id
        ):
            raise kernel_error(errno.EINVAL)
        self.prog = new_prog
        bpf_prog_put(current)

    def show_fdinfo(self) -> str:
        """``bpf_iter_link_show_fdinfo`` (+ the task target's lines, v6.1)."""
        out = f"target_name:\t{self.target}\n"
        if self.target == "task" and self.kernel.profile.iter_task_params:
            out += f"task_type:\t{_TASK_TYPES[self.task_type]}\n"
            if self.task_type:
                out += f"{'tid' if self.task_type == 1 else 'pid'}:\t{self.task_pid}\n"
        return out

    def fill_link_info(self, task: BpfTask, info: bytearray) -> None:
        """``bpf_iter_link_fill_link_info``: target name and length (buffer and length
        together, EINVAL; short buffer ENOSPC), then the task target's tid/pid."""
        ubuf, ulen = struct.unpack_from("<QI", info, 16)
        if (ulen == 0) != (ubuf == 0):
            raise kernel_error(errno.EINVAL)
        name = self.target.encode()
        struct.pack_into("<I", info, 24, len(name) + 1)
        if ubuf:
            if ulen >= len(name) + 1:
                task.mem.write(ubuf, name + b"\0")
            else:
                task.mem.write(ubuf, name[: ulen - 1] + b"\0")
                raise kernel_error(errno.ENOSPC)
        if self.target == "task" and self.kernel.profile.iter_task_params and self.task_type:
            struct.pack_into("<I", info, 32 if self.task_type == 1 else 36, self.task_pid)

    def attached_to(self) -> str:
        return f"iter {self.target}"


def _linfo_size(kernel: BpfKernel) -> int:
    return 24 if kernel.profile.iter_task_params else 4


def bpf_iter_link_attach(task: BpfTask, attr: dict[str, int], prog: BpfProg) -> int:
    """``bpf_iter_link_attach``: no target_fd or flags (EINVAL); ``iter_info`` and its
    length together (EINVAL), tail-zero (E2BIG) and readable (EFAULT); the target of
    the program's BTF id (ENOENT); prime; the target's ``attach_target``; settle."""
    if attr["target_fd"] or attr["flags"]:
        raise kernel_error(errno.EINVAL)
    uinfo, ulen = attr.get("iter_info", 0), attr.get("iter_info_len", 0)
    if (uinfo == 0) != (ulen == 0):
        raise kernel_error(errno.EINVAL)
    linfo = b""
    if uinfo:
        size = _linfo_size(task.kernel)
        if ulen > PAGE_SIZE:
            raise kernel_error(errno.E2BIG)
        if any(task.mem.read(uinfo + size, ulen - size)) if ulen > size else False:
            raise kernel_error(errno.E2BIG)
        linfo = task.mem.read(uinfo, min(ulen, size))
    linfo = linfo.ljust(24, b"\0")
    target = iter_target_of(task.kernel, prog.attach_btf_id)
    if target is None:
        raise kernel_error(errno.ENOENT)
    link = IterLink(task.kernel, prog, attr["attach_type"], target=target)
    primer = bpf_link_prime(task, link)
    try:
        if target == "task" and task.kernel.profile.iter_task_params:
            bpf_iter_attach_task(task, link, linfo)
    except BaseException:
        bpf_link_cleanup(primer)
        raise
    return bpf_link_settle(primer)


def bpf_iter_attach_task(task: BpfTask, link: IterLink, linfo: bytes) -> None:
    """``bpf_iter_attach_task``: at most one of tid, pid, pid_fd (EINVAL); a pid_fd
    must be a pidfd (pinfs has none: EBADF if not open, else EINVAL)."""
    tid, pid, pid_fd = struct.unpack_from("<III", linfo)
    if (tid != 0) + (pid != 0) + (pid_fd != 0) > 1:
        raise kernel_error(errno.EINVAL)
    if tid:
        link.task_type, link.task_pid = 1, tid
    if pid:
        link.task_type, link.task_pid = 2, pid
    if pid_fd:
        if task.files.lookup(pid_fd) is None:
            raise kernel_error(errno.EBADF)
        raise kernel_error(errno.EINVAL)


# ---------------------------------------------------------------------------------------
# Iterator files


@attrs.define(eq=False)
class IterSession:
    """``struct bpf_iter_priv_data``: the program (held) and the output so far."""

    prog: BpfProg
    target: str
    output: bytes | None = None


def iter_read(file: File, count: int) -> bytes:
    """``bpf_seq_read``: the listing from the file position on."""
    session: IterSession = file.private_data
    if session.output is None:
        session.output = iter_output(session.prog, session.target)
    data = session.output[file.f_pos : file.f_pos + count]
    file.f_pos += len(data)
    return data


def iter_release(file: File) -> None:
    """``iter_release``: the program's reference."""
    bpf_prog_put(file.private_data.prog)


def iter_open(inode: Inode, file: File) -> None:
    """``iter_open`` of a pinned iter link: ``prepare_seq_file`` (+1 on the program)."""
    link: IterLink = inode.i_private
    assert link.prog is not None
    bpf_prog_inc(link.prog)
    file.private_data = IterSession(link.prog, link.target)


bpf_iter_fops = FileOperations(
    name="bpf_iter_fops", open=iter_open, read=iter_read, release=iter_release
)


def bpf_iter_create(task: BpfTask, attr: dict[str, int]) -> int:
    """``bpf_iter_create``: no flags (EINVAL), the link (EBADF/EINVAL), an iter link
    (EINVAL), ``bpf_iter_new_fd``: an O_RDONLY close-on-exec ``bpf_iter`` file."""
    if attr.get("flags", 0):
        raise kernel_error(errno.EINVAL)
    link = bpf_link_get_from_fd(task, attr["link_fd"])
    try:
        if not isinstance(link, IterLink):
            raise kernel_error(errno.EINVAL)
        nofile = task.rlimit(RLIMIT_NOFILE)
        task.files.reserve_fd(nofile)
        assert link.prog is not None
        bpf_prog_inc(link.prog)
        file = File(
            f_op=bpf_iter_fops,
            f_flags=0,
            f_mode=1,
            private_data=IterSession(link.prog, link.target),
            anon_name="bpf_iter",
        )
        file.f_inode = task.kernel.anon_inode
        return task.files.alloc_fd(file, cloexec=True, nofile=nofile)
    finally:
        bpf_link_put(link)


def is_iter_file(file: File) -> bool:
    return file.f_op is bpf_iter_fops


# ---------------------------------------------------------------------------------------
# What the preloaded programs print


def iter_output(prog: BpfProg, target: str) -> bytes:
    """The program's output over its target: the preload listings, else nothing."""
    preload = prog.kernel.bpf_preload
    if preload is not None and prog is preload.maps_prog and target == "bpf_map":
        return dump_bpf_map(prog.kernel).encode()
    if preload is not None and prog is preload.progs_prog and target == "bpf_prog":
        return dump_bpf_prog(prog.kernel).encode()
    return b""


def _live(kernel: BpfKernel, kind: str) -> list[BpfMap | BpfProg]:
    """Every object of the kind with an id, in id order (``bpf_map_seq_next`` etc.)."""
    objs: list[BpfMap | BpfProg] = [
        o
        for o in kernel.bpf_objects.values()
        if isinstance(o, BpfMap | BpfProg) and o.kind == kind and o.idr_id and not o.freed
    ]
    return sorted(objs, key=lambda o: o.idr_id)


def _name(raw: bytes) -> str:
    return raw.split(b"\0")[0].decode("latin-1")


def dump_bpf_map(kernel: BpfKernel) -> str:
    """``dump_bpf_map``: a header, then ``%4u %-16s%6d`` (v5.10) or, with the element
    count, ``%4u %-16s  %10d   %10lld`` (``bpf_map_sum_elem_count``: hash maps count
    their elements, other types 0)."""
    maps = _live(kernel, "map")
    if not maps:
        return ""
    if kernel.profile.preload_maps_cur_entries:
        out = "  id name             max_entries  cur_entries\n"
        for m in maps:
            assert isinstance(m, BpfMap)
            count = m.storage.elem_count if isinstance(m.storage, HashTab) else 0
            out += f"{m.idr_id:4d} {_name(m.name):<16s}  {_s32(m.max_entries):10d}   {count:10d}\n"
        return out
    out = "  id name             max_entries\n"
    for m in maps:
        assert isinstance(m, BpfMap)
        out += f"{m.idr_id:4d} {_name(m.name):<16s}{_s32(m.max_entries):6d}\n"
    return out


def dump_bpf_prog(kernel: BpfKernel) -> str:
    """``dump_bpf_prog``: ``%4u %-16s %s %s`` -- id, name, the attach function, the
    target program's name (none here: empty)."""
    progs = _live(kernel, "prog")
    if not progs:
        return ""
    out = "  id name             attached\n"
    for p in progs:
        assert isinstance(p, BpfProg)
        out += f"{p.idr_id:4d} {_name(p.name):<16s} {p.attach_func_name} \n"
    return out


def _s32(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value
