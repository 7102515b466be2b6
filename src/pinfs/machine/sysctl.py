"""The writable sysctls (/proc/sys) the machine models, and their ranges."""

from __future__ import annotations

__all__ = ["SYSCTL_RANGES"]

#: Writable sysctls: name -> (min, max) of ``proc_dointvec_minmax``.  The range of
#: ``kernel.unprivileged_bpf_disabled`` comes from the profile (only 1 at the seed).
SYSCTL_RANGES: dict[str, tuple[int, int]] = {
    "kernel.unprivileged_bpf_disabled": (1, 1),
    "fs.protected_symlinks": (0, 1),
    "fs.protected_hardlinks": (0, 1),
    "net.core.bpf_jit_enable": (-(1 << 31), (1 << 31) - 1),  # proc_dointvec at the seed
}
