"""``kernel.unprivileged_bpf_disabled``: the gate in front of bpf(2) (kernel/bpf/syscall.c).

It lives in the ebpf layer because both the dispatcher (:mod:`pinfs.bpf`, at entry: for
every command until v5.18, for MAP_CREATE and PROG_LOAD in v5.19-v6.4) and program
loading (:mod:`pinfs.ebpf.prog`, in ``bpf_prog_load`` since v6.5) ask it.
"""

from __future__ import annotations

import errno

from pinfs.base.cred import CAP_BPF, CAP_SYS_ADMIN, capable
from pinfs.base.errors import refuse
from pinfs.ebpf.context import BpfTask

__all__ = ["unprivileged_gate"]


def unprivileged_gate(task: BpfTask) -> None:
    """``kernel.unprivileged_bpf_disabled``: callers without CAP_SYS_ADMIN (or, since
    v5.8, CAP_BPF) get EPERM -- at bpf(2) entry for every command until v5.18, for
    MAP_CREATE and PROG_LOAD only from v5.19 (c8644cd0efe7), and inside those two
    commands from v6.5 (``Profile.unpriv_gate_commands``)."""
    kernel = task.kernel
    if not kernel.sysctl["kernel.unprivileged_bpf_disabled"]:
        return
    ns = kernel.init_user_ns
    if capable(task.cred, ns, CAP_SYS_ADMIN):
        return
    if kernel.profile.unpriv_gate_caps != "CAP_SYS_ADMIN" and capable(task.cred, ns, CAP_BPF):
        return
    raise refuse(
        errno.EPERM,
        "sys_bpf",
        "kernel.unprivileged_bpf_disabled is {value} and the caller lacks CAP_SYS_ADMIN",
        value=kernel.sysctl["kernel.unprivileged_bpf_disabled"],
    )
