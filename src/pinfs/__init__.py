"""pinfs: a pure-Python, in-memory reference model of the Linux bpf filesystem (bpffs)
and eBPF object pinning, as at Linux commit b2197755 (2015)."""

from __future__ import annotations

from .errors import KernelError, errno_name, kernel_error
from .kernel import Kernel
from .task import Task

__all__ = ["Kernel", "KernelError", "Task", "errno_name", "kernel_error"]
