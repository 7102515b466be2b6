"""Object ids (kernel/bpf/syscall.c, v4.13): ``map_idr`` and ``prog_idr``, two
``idr_alloc_cyclic`` spaces, and the commands that walk them; and BPF_MAP_FREEZE.

Ids are handed out cyclically in [1, INT_MAX): the lowest free id at or after the one
following the last allocation, wrapping to 1, so an id is not reused until the space
has gone round.  An object leaves its idr when its refcount reaches zero.  Every map
and program gets an id in every profile (the seed simply has no command that shows
it).  BTF objects have their own ``btf_idr`` (:mod:`pinfs.ebpf.btf`); links are not
modelled here.
"""

from __future__ import annotations

import errno
from bisect import bisect_left, insort
from typing import Any

from pinfs.base.cred import CAP_BPF, CAP_SYS_ADMIN, capable
from pinfs.base.errors import kernel_error
from pinfs.ebpf.attr import BPF_F_RDONLY, BPF_F_WRONLY
from pinfs.ebpf.context import BpfTask, IdSpace
from pinfs.ebpf.mapcreate import bpf_get_file_flag
from pinfs.ebpf.objects import (
    FMODE_WRITE,
    BpfMap,
    BpfProg,
    bpf_map_fdget,
    bpf_map_inc,
    bpf_map_new_fd,
    bpf_map_put_with_uref,
    bpf_prog_inc,
    bpf_prog_new_fd,
    bpf_prog_put,
)

INT_MAX = (1 << 31) - 1
BPF_OBJ_FLAG_MASK = BPF_F_RDONLY | BPF_F_WRONLY


class Idr:
    """``struct idr`` used through ``idr_alloc_cyclic(idr, ptr, 1, INT_MAX)``,
    ``idr_find``, ``idr_get_next`` and ``idr_remove``."""

    def __init__(self, end: int = INT_MAX) -> None:
        self.end = end  # exclusive
        self.next = 1  # idr_next: where the cyclic search starts
        self._objects: dict[int, Any] = {}
        self._ids: list[int] = []  # sorted

    def alloc_cyclic(self, obj: object) -> int:
        """The lowest free id >= ``next`` (else >= 1); ENOSPC when the space is full."""
        for start in (max(self.next, 1), 1):
            candidate = self._lowest_free(start)
            if candidate is not None:
                self._objects[candidate] = obj
                insort(self._ids, candidate)
                self.next = candidate + 1
                return candidate
        raise kernel_error(errno.ENOSPC)

    def _lowest_free(self, start: int) -> int | None:
        candidate = start
        i = bisect_left(self._ids, candidate)
        while i < len(self._ids) and self._ids[i] == candidate:
            candidate += 1
            i += 1
        return candidate if candidate < self.end else None

    def find(self, id: int) -> Any:
        return self._objects.get(id)

    def get_next(self, id: int) -> int | None:
        """``idr_get_next``: the lowest id >= ``id`` in use, or None."""
        i = bisect_left(self._ids, id)
        return self._ids[i] if i < len(self._ids) else None

    def remove(self, id: int) -> None:
        if self._objects.pop(id, None) is not None:
            del self._ids[bisect_left(self._ids, id)]

    def __len__(self) -> int:
        return len(self._ids)


def bpf_map_alloc_id(map: BpfMap) -> None:
    """``bpf_map_alloc_id`` (the free side is ``objects.bpf_obj_free_id``)."""
    map.idr_id = map.kernel.map_idr.alloc_cyclic(map)


def bpf_prog_alloc_id(prog: BpfProg) -> None:
    """``bpf_prog_alloc_id``."""
    prog.idr_id = prog.kernel.prog_idr.alloc_cyclic(prog)


def _require_sys_admin(task: BpfTask) -> None:
    if not capable(task.cred, task.kernel.init_user_ns, CAP_SYS_ADMIN):
        raise kernel_error(errno.EPERM)


def bpf_obj_get_next_id(task: BpfTask, attr: dict[str, int], idr: IdSpace) -> int:
    """``bpf_obj_get_next_id``: start_id below INT_MAX (EINVAL), CAP_SYS_ADMIN
    (EPERM), the next id in use after it (ENOENT), written to ``next_id``."""
    start = attr["start_id"]
    if start >= INT_MAX:
        raise kernel_error(errno.EINVAL)
    _require_sys_admin(task)
    next_id = idr.get_next(start + 1)
    if next_id is None:
        raise kernel_error(errno.ENOENT)
    task.mem.write(attr["<uattr>"] + 4, next_id.to_bytes(4, "little"))  # put_user
    return 0


def map_get_next_id(task: BpfTask, attr: dict[str, int]) -> int:
    """BPF_MAP_GET_NEXT_ID."""
    return bpf_obj_get_next_id(task, attr, task.kernel.map_idr)


def prog_get_next_id(task: BpfTask, attr: dict[str, int]) -> int:
    """BPF_PROG_GET_NEXT_ID."""
    return bpf_obj_get_next_id(task, attr, task.kernel.prog_idr)


def bpf_map_get_fd_by_id(task: BpfTask, attr: dict[str, int]) -> int:
    """``bpf_map_get_fd_by_id``: ``open_flags`` only RDONLY/WRONLY (EINVAL),
    CAP_SYS_ADMIN (EPERM), the file mode, the map (ENOENT), a new fd with a user
    reference."""
    open_flags = attr.get("open_flags", 0)
    if open_flags & ~BPF_OBJ_FLAG_MASK:
        raise kernel_error(errno.EINVAL)
    _require_sys_admin(task)
    f_flags = bpf_get_file_flag(open_flags)
    map: BpfMap | None = task.kernel.map_idr.find(attr["start_id"])
    if map is None or map.refcnt == 0:
        raise kernel_error(errno.ENOENT)
    bpf_map_inc(map, task.kernel.profile.prog_array_flush_on_last_uref)
    try:
        return bpf_map_new_fd(task, map, f_flags)
    except BaseException:
        bpf_map_put_with_uref(map)
        raise


def bpf_prog_get_fd_by_id(task: BpfTask, attr: dict[str, int]) -> int:
    """``bpf_prog_get_fd_by_id``: CAP_SYS_ADMIN (EPERM), the program (ENOENT; id 0
    too), a new fd."""
    _require_sys_admin(task)
    prog: BpfProg | None = task.kernel.prog_idr.find(attr["start_id"])
    if prog is None or prog.refcnt == 0:
        raise kernel_error(errno.ENOENT)
    bpf_prog_inc(prog)
    try:
        return bpf_prog_new_fd(task, prog)
    except BaseException:
        bpf_prog_put(prog)
        raise


def map_freeze(task: BpfTask, attr: dict[str, int]) -> int:
    """``map_freeze`` (87df15de441b, v5.2): the map (EBADF/EINVAL), already frozen
    (EBUSY), then CAP_BPF / CAP_SYS_ADMIN (EPERM).  On v6.18 the capability check is
    gone: the fd must allow writing (``map_get_sys_perms``, EPERM), so a frozen map is
    EPERM too.  pinfs has no writable mmap and no update in flight, so
    ``bpf_map_write_active`` is never the EBUSY."""
    need = FMODE_WRITE if task.kernel.profile.map_freeze_needs_write_fd else 0
    map = bpf_map_fdget(task, attr["map_fd"], need)
    if map.frozen:
        raise kernel_error(errno.EBUSY)
    if not task.kernel.profile.map_freeze_needs_write_fd:
        ns = task.kernel.init_user_ns
        cap_bpf = task.kernel.profile.unpriv_gate_caps != "CAP_SYS_ADMIN" and capable(
            task.cred, ns, CAP_BPF
        )
        if not (capable(task.cred, ns, CAP_SYS_ADMIN) or cap_bpf):
            raise kernel_error(errno.EPERM)
    map.frozen = True
    return 0
