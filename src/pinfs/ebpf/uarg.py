"""``bpf_check_uarg_tail_zero`` (kernel/bpf/syscall.c): how bpf(2) accepts a user
struct longer than the kernel's, shared by the info commands of maps, programs and
BTF objects."""

from __future__ import annotations

import errno

from pinfs.base.errors import kernel_error
from pinfs.base.usermem import PAGE_SIZE, TASK_SIZE_MAX
from pinfs.ebpf.context import BpfTask

__all__ = ["bpf_check_uarg_tail_zero"]


def bpf_check_uarg_tail_zero(task: BpfTask, uaddr: int, expected: int, actual: int) -> None:
    """``bpf_check_uarg_tail_zero``: not beyond a page (E2BIG), readable (EFAULT),
    and zero past what the kernel knows (E2BIG)."""
    if actual > PAGE_SIZE:
        raise kernel_error(errno.E2BIG)
    if uaddr + actual > TASK_SIZE_MAX:  # access_ok
        raise kernel_error(errno.EFAULT)
    for address in range(uaddr + expected, uaddr + actual):  # get_user, byte by byte
        if task.mem.read(address, 1) != b"\0":
            raise kernel_error(errno.E2BIG)
