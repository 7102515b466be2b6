"""The numbers bpf links need before any link exists: attach types, link types, and the
vmlinux BTF ids of the iterator targets (``bpf_iter_<target>`` functions).

pinfs has no vmlinux BTF; :data:`ITER_BTF_IDS` stands for it, with the ids this
machine's 6.18 kernel gives those functions (they differ per build, so a loader looks
them up; pinfs's tests do the same on each side).
"""

from __future__ import annotations

from pinfs.ebpf.context import BpfKernel

# enum bpf_attach_type (include/uapi/linux/bpf.h)
BPF_TRACE_RAW_TP = 23
BPF_TRACE_ITER = 28
BPF_XDP = 37
BPF_TCX_INGRESS = 46
BPF_TCX_EGRESS = 47

# enum bpf_link_type, with the names bpf_link_type_strs prints
BPF_LINK_TYPE_RAW_TRACEPOINT = 1
BPF_LINK_TYPE_ITER = 4
BPF_LINK_TYPE_XDP = 6
BPF_LINK_TYPE_TCX = 11
LINK_TYPE_NAMES = {
    BPF_LINK_TYPE_RAW_TRACEPOINT: "raw_tracepoint",
    BPF_LINK_TYPE_ITER: "iter",
    BPF_LINK_TYPE_XDP: "xdp",
    BPF_LINK_TYPE_TCX: "tcx",
}

#: ``bpf_iter_<target>`` -> its BTF id (the iterator targets pinfs models).
ITER_BTF_IDS = {"bpf_map": 64074, "bpf_prog": 64078, "task": 64191}


def iter_target_of(kernel: BpfKernel, btf_id: int) -> str | None:
    """The registered iterator target whose function has ``btf_id`` (None: none)."""
    for target, known in ITER_BTF_IDS.items():
        if known == btf_id and target in kernel.profile.iter_targets:
            return target
    return None
