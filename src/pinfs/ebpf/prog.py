"""BPF_PROG_LOAD at the seed: ``bpf_prog_load`` (syscall.c), the parts of ``bpf_check``
(verifier.c) that decide errnos before any program analysis, and the instruction
encoding helpers a caller needs.

**The verifier's analysis is out of scope**: a program that passes the structural
checks below is accepted whatever its instructions do (the live kernel would also run
``check_cfg``/``do_check`` and may reject it with EINVAL or EACCES).  The verifier log,
when asked for, is returned empty.
"""

from __future__ import annotations

import errno
import struct

from pinfs.base.cred import CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, capable
from pinfs.base.errors import KernelError, kernel_error, refuse
from pinfs.base.profiles import Profile
from pinfs.base.usermem import PAGE_SIZE
from pinfs.ebpf.attr import (
    BPF_F_TOKEN_FD,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAXINSNS,
    BPF_PROG_TYPE_KPROBE,
    BPF_PROG_TYPE_SOCKET_FILTER,
    BPF_PROG_TYPE_TRACING,
    BPF_PSEUDO_MAP_FD,
    BpfProgType,
)
from pinfs.ebpf.context import BpfTask
from pinfs.ebpf.gate import unprivileged_gate
from pinfs.ebpf.ids import bpf_prog_alloc_id
from pinfs.ebpf.iterids import BPF_TRACE_ITER, iter_target_of
from pinfs.ebpf.mapcreate import bpf_obj_name_cpy, not_a_btf_or_token
from pinfs.ebpf.objects import (
    BpfMap,
    BpfProg,
    bpf_charge_memlock,
    bpf_map_fdget,
    bpf_map_inc,
    bpf_map_put,
    bpf_obj_free_id,
    bpf_prog_array_compatible,
    bpf_prog_new_fd,
    bpf_uncharge_memlock,
)

MAX_USED_MAPS = 64
CAP_NET_ADMIN = 12  # include/uapi/linux/capability.h
#: offsetof(struct bpf_prog, insns) on x86_64 at the seed.
BPF_PROG_HEADER = 40
_INSN = struct.Struct("<BBhi")

GPL_COMPATIBLE_LICENSES = frozenset(
    {
        "GPL",
        "GPL v2",
        "GPL and additional rights",
        "Dual BSD/GPL",
        "Dual MIT/GPL",
        "Dual MPL/GPL",
    }
)

# Instruction classes and fields (include/uapi/linux/bpf_common.h, bpf.h)
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_STX = 0x03
BPF_ALU64 = 0x07
BPF_JMP = 0x05
BPF_IMM = 0x00
BPF_DW = 0x18
BPF_MEM = 0x60
BPF_XADD = 0xC0
BPF_MOV = 0xB0
BPF_K = 0x00
BPF_EXIT = 0x90


def bpf_insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One ``struct bpf_insn`` (8 bytes).  ``off`` and ``imm`` take signed or unsigned
    values of their width (``0xFFFFFFFF`` is imm -1, as a C cast makes it)."""
    code = _field(code, "code", 0, 0xFF)
    regs = _field(src, "src", 0, 0xF) << 4 | _field(dst, "dst", 0, 0xF)
    off = _signed(_field(off, "off", -(1 << 15), 0xFFFF), 16)
    imm = _signed(_field(imm, "imm", -(1 << 31), 0xFFFFFFFF), 32)
    return _INSN.pack(code, regs, off, imm)


def _field(value: object, what: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{what} out of range [{low}, {high:#x}]: {value}")
    return value


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def BPF_MOV64_IMM(dst: int, imm: int) -> bytes:
    return bpf_insn(BPF_ALU64 | BPF_MOV | BPF_K, dst=dst, imm=imm)


def BPF_EXIT_INSN() -> bytes:
    return bpf_insn(BPF_JMP | BPF_EXIT)


def BPF_LD_MAP_FD(dst: int, fd: int) -> bytes:
    """The two-slot ``BPF_LD_IMM64`` whose immediate names a map fd."""
    return bpf_insn(BPF_LD | BPF_DW | BPF_IMM, dst=dst, src=BPF_PSEUDO_MAP_FD, imm=fd) + bpf_insn(0)


#: ``r0 = 0; exit``: the smallest program every verifier accepts.
RETURN_ZERO = BPF_MOV64_IMM(0, 0) + BPF_EXIT_INSN()


def _prog_type_name(prog_type: int) -> str:
    """``BPF_PROG_TYPE_SCHED_CLS`` for 3, the number itself for a type not modelled."""
    try:
        return BpfProgType(prog_type).name
    except ValueError:
        return str(prog_type)


def license_is_gpl_compatible(license: str) -> bool:
    """``license_is_gpl_compatible`` (include/linux/license.h)."""
    return license in GPL_COMPATIBLE_LICENSES


def bpf_prog_size(insn_cnt: int) -> int:
    return BPF_PROG_HEADER + 8 * insn_cnt


def replace_map_fd_with_map_ptr(task: BpfTask, insns: bytes) -> list[BpfMap]:
    """The verifier pass that resolves ``BPF_LD_IMM64`` map fds: reserved fields
    EINVAL, bad fds EBADF/EINVAL, more than 64 maps E2BIG; each distinct map +1.
    On failure the references already taken are dropped (``release_maps``)."""
    used: list[BpfMap] = []
    try:
        count = len(insns) // 8
        i = 0
        while i < count:
            code, regs, _off, imm = _INSN.unpack_from(insns, i * 8)
            cls, mode = code & 0x07, code & 0xE0
            if cls == BPF_LDX and (mode != BPF_MEM or imm != 0):
                raise kernel_error(errno.EINVAL)
            if cls == BPF_STX and (mode not in (BPF_MEM, BPF_XADD) or imm != 0):
                raise kernel_error(errno.EINVAL)
            if code == BPF_LD | BPF_IMM | BPF_DW:
                if i == count - 1:
                    raise kernel_error(errno.EINVAL)
                code2, regs2, off2, _ = _INSN.unpack_from(insns, (i + 1) * 8)
                if code2 != 0 or regs2 != 0 or off2 != 0:
                    raise kernel_error(errno.EINVAL)
                src = regs >> 4
                if src == BPF_PSEUDO_MAP_FD:
                    _hold_map(task, used, imm)
                elif src != 0:
                    raise kernel_error(errno.EINVAL)
                i += 1
            i += 1
    except BaseException:
        for map in used:
            bpf_map_put(map)
        raise
    return used


def _hold_map(task: BpfTask, used: list[BpfMap], fd: int) -> None:
    map = bpf_map_fdget(task, fd & 0xFFFFFFFF)
    if any(m is map for m in used):
        return
    if len(used) >= MAX_USED_MAPS:
        raise kernel_error(errno.E2BIG)
    bpf_map_inc(map, uref=False)
    used.append(map)


U32_MAX = 0xFFFFFFFF
#: BPF_LOG_LEVEL1 | BPF_LOG_LEVEL2 | BPF_LOG_STATS (v5.2), then | BPF_LOG_FIXED (v6.4).
_LOG_LEVEL_MASK = {"level_mask": 0x7, "vlog_init": 0xF}


def verifier_log_attr_valid(profile: Profile, level: int, size: int, buf: int) -> bool:
    """Whether ``log_level``/``log_size``/``log_buf`` make sense, as this profile's
    ``bpf_check`` decides before it looks at a single instruction (nothing is
    allocated for the log before that).  See ``Profile.verifier_log_rules``."""
    rules = profile.verifier_log_rules
    if rules == "vlog_init":  # bpf_verifier_log_attr_valid (kernel/bpf/log.c)
        return (
            bool(buf) == bool(size)
            and not (buf and level == 0)
            and not level & ~_LOG_LEVEL_MASK[rules]
            and size <= U32_MAX >> 2
        )
    if not (level or size or buf):
        return True
    if rules == "seed":
        return 128 <= size <= U32_MAX >> 8 and level != 0 and buf != 0
    return (
        128 <= size <= U32_MAX >> 2
        and level != 0
        and buf != 0
        and not level & ~_LOG_LEVEL_MASK[rules]
    )


def bpf_check(
    task: BpfTask,
    insns: bytes,
    log_level: int,
    log_size: int,
    log_buf: int,
    max_insns: int = BPF_MAXINSNS,
) -> list[BpfMap]:
    """``bpf_check`` up to the analysis: length (E2BIG), log sanity (EINVAL), map fds;
    the (empty) log is copied out if there is a buffer (EFAULT)."""
    count = len(insns) // 8
    if count <= 0 or count > max_insns:
        raise kernel_error(errno.E2BIG)
    if not verifier_log_attr_valid(task.kernel.profile, log_level, log_size, log_buf):
        raise kernel_error(errno.EINVAL)
    error: KernelError | None = None
    used: list[BpfMap] = []
    try:
        used = replace_map_fd_with_map_ptr(task, insns)
    except KernelError as exc:  # skip_full_check: the log is still copied out
        error = exc
    if log_level and log_buf:
        try:
            task.mem.write(log_buf, b"\0")
        except KernelError as exc:
            error = exc  # a failed copy-out replaces any earlier error
    if error is not None:
        for map in used:
            bpf_map_put(map)
        raise error
    return used


def bpf_prog_load(task: BpfTask, attr: dict[str, int]) -> int:
    """``bpf_prog_load``: license, insn count, kprobe version, CAP_SYS_ADMIN for all
    but socket filters, memlock, copy, type, verifier, tail-call owners, new fd."""
    prog_type, insn_cnt = attr["prog_type"], attr["insn_cnt"]
    prog_load_attr_precheck(task, attr)
    if task.kernel.profile.unpriv_gate_commands == "map_create_prog_load":
        unprivileged_gate(task)
    kernel = task.kernel
    is_gpl = False
    if not kernel.profile.prog_load_license_after_insns:
        is_gpl = _copy_license(task, attr)
    if kernel.profile.prog_load_cap_bpf:
        max_insns = bpf_prog_load_caps(task, prog_type, insn_cnt)
    else:
        max_insns = BPF_MAXINSNS
        if insn_cnt >= BPF_MAXINSNS:
            raise kernel_error(errno.EINVAL)
        if (
            prog_type == BPF_PROG_TYPE_KPROBE
            and kernel.profile.kprobe_version_checked
            and attr["kern_version"] != kernel.profile.linux_version_code
        ):
            raise kernel_error(errno.EINVAL)
        if prog_type != BPF_PROG_TYPE_SOCKET_FILTER and not capable(
            task.cred, kernel.init_user_ns, CAP_SYS_ADMIN
        ):
            raise refuse(
                errno.EPERM,
                "bpf_prog_load",
                "{prog_type} programs need CAP_SYS_ADMIN (only socket filters do not)",
                prog_type=_prog_type_name(prog_type),
            )
    pages = -(-bpf_prog_size(insn_cnt) // PAGE_SIZE)
    prog_load_attach_check(attr)
    prog = BpfProg(kernel, 0, prog_type, insn_cnt, b"", is_gpl, pages)
    prog.expected_attach_type = attr.get("expected_attach_type", 0)
    prog.attach_btf_id = attr.get("attach_btf_id", 0)
    prog.created_by_uid, prog.load_time = task.cred.uid, kernel.current_time()
    bpf_charge_memlock(task, prog)
    try:
        prog.insns = task.mem.read(attr["insns"], insn_cnt * 8)
        if kernel.profile.prog_load_license_after_insns:
            prog.gpl_compatible = _copy_license(task, attr)
        if attr.get("prog_ifindex", 0):
            raise kernel_error(errno.EINVAL)  # bpf_prog_dev_bound_init: no such device
        if prog_type not in kernel.profile.prog_types:  # find_prog_type
            raise kernel_error(errno.EINVAL)
        prog.name = bpf_obj_name_cpy(attr.get("prog_name", 0))
        prog_load_btf_info_check(task, attr)
        prog.used_maps = bpf_check(
            task, prog.insns, attr["log_level"], attr["log_size"], attr["log_buf"], max_insns
        )
        if prog_type == BPF_PROG_TYPE_TRACING:
            _tracing_attach_target(prog)
        try:
            # bpf_prog_select_runtime: the JIT runs when net.core.bpf_jit_enable is on
            # (it always succeeds for what pinfs loads); then the tail-call owners
            prog.jited = kernel.sysctl["net.core.bpf_jit_enable"] != 0
            bpf_check_tail_call(prog)
            prog.id = kernel.register_bpf_object(prog)
            bpf_prog_alloc_id(prog)
            fd = bpf_prog_new_fd(task, prog)
        except BaseException:
            kernel.bpf_objects.pop(prog.id, None)
            bpf_obj_free_id(prog)
            for map in prog.used_maps:
                bpf_map_put(map)
            prog.used_maps = []
            raise
    except BaseException:
        bpf_uncharge_memlock(prog)
        prog.freed = True
        raise
    return fd


def _copy_license(task: BpfTask, attr: dict[str, int]) -> bool:
    """The license string (127 bytes at most, EFAULT) and whether it is GPL-compatible."""
    raw = task.mem.strncpy_from_user(attr["license"], 127)
    return license_is_gpl_compatible(raw.decode("latin-1"))


#: BPF_COMPLEXITY_LIMIT_INSNS: the program size limit for CAP_BPF (v5.2, c04c0d2b968a).
BPF_COMPLEXITY_LIMIT_INSNS = 1_000_000
BPF_PROG_TYPE_CGROUP_SKB = 8
#: ``is_net_admin_prog_type`` (5.10's list; NETFILTER, 32, joined in v6.4).
NET_ADMIN_PROG_TYPES = frozenset(
    {3, 4, 6, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 23, 25, 28, 32}
)
#: ``is_perfmon_prog_type``: kprobe, tracepoint, perf_event, raw tracepoints, tracing,
#: struct_ops, ext, lsm.
PERFMON_PROG_TYPES = frozenset({2, 5, 7, 17, 24, 26, 27, 28, 29})


def bpf_capable(task: BpfTask) -> bool:
    """``bpf_capable``: CAP_BPF or CAP_SYS_ADMIN in the initial user namespace."""
    ns = task.kernel.init_user_ns
    return capable(task.cred, ns, CAP_BPF) or capable(task.cred, ns, CAP_SYS_ADMIN)


def bpf_prog_load_caps(task: BpfTask, prog_type: int, insn_cnt: int) -> int:
    """``bpf_prog_load``'s CAP_BPF checks (2c78ee898d8f, v5.8): the size (E2BIG; 4096
    instructions, a million with CAP_BPF), CAP_BPF for all but socket filters and
    cgroup skb programs, CAP_NET_ADMIN for networking types, CAP_PERFMON for tracing
    types (CAP_SYS_ADMIN stands for each).  Returns the size limit."""
    ns = task.kernel.init_user_ns
    bpf_cap = bpf_capable(task)
    limit = BPF_COMPLEXITY_LIMIT_INSNS if bpf_cap else BPF_MAXINSNS
    if insn_cnt == 0 or insn_cnt > limit:
        raise kernel_error(errno.E2BIG)
    admin = capable(task.cred, ns, CAP_SYS_ADMIN)
    if prog_type not in (BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_CGROUP_SKB) and not bpf_cap:
        raise kernel_error(errno.EPERM)
    if prog_type in NET_ADMIN_PROG_TYPES and not (capable(task.cred, ns, CAP_NET_ADMIN) or admin):
        raise kernel_error(errno.EPERM)
    if prog_type in PERFMON_PROG_TYPES and not (capable(task.cred, ns, CAP_PERFMON) or admin):
        raise kernel_error(errno.EPERM)
    return limit


def bpf_check_tail_call(prog: BpfProg) -> None:
    """``bpf_check_tail_call``: every PROG_ARRAY the program uses must accept its
    type and JIT state (the first user claims an unowned array)."""
    for map in prog.used_maps:
        if map.map_type == BPF_MAP_TYPE_PROG_ARRAY and not bpf_prog_array_compatible(
            map.storage, prog
        ):
            raise kernel_error(errno.EINVAL)


def prog_load_attr_precheck(task: BpfTask, attr: dict[str, int]) -> None:
    """``bpf_prog_load`` right after CHECK_ATTR: unknown ``prog_flags`` bits are
    EINVAL; with BPF_F_TOKEN_FD the token fd is looked up (tokens are not modelled:
    EBADF/EINVAL)."""
    flags = attr.get("prog_flags", 0)
    if flags & ~task.kernel.profile.prog_load_flags:
        raise kernel_error(errno.EINVAL)
    if flags & BPF_F_TOKEN_FD:
        not_a_btf_or_token(task, attr.get("prog_token_fd", 0))


def prog_load_attach_check(attr: dict[str, int]) -> None:
    """``bpf_prog_load_check_attach``: an ``attach_prog_fd`` is EINVAL whatever it names
    (no BPF_PROG_TYPE_EXT here); ``attach_btf_id`` only for TRACING programs, which need
    one."""
    tracing = attr["prog_type"] == BPF_PROG_TYPE_TRACING
    if attr.get("attach_prog_fd", 0) or bool(attr.get("attach_btf_id", 0)) != tracing:
        raise kernel_error(errno.EINVAL)


def _tracing_attach_target(prog: BpfProg) -> None:
    """``check_attach_btf_id``: of the tracing attach types pinfs models only
    BPF_TRACE_ITER, whose ``attach_btf_id`` must name a registered iterator's
    ``bpf_iter_<target>`` function in vmlinux BTF (``bpf_iter_prog_supported``;
    :data:`pinfs.ebpf.iter.ITER_BTF_IDS` stands for vmlinux BTF); else EINVAL."""
    target = iter_target_of(prog.kernel, prog.attach_btf_id)
    if prog.expected_attach_type != BPF_TRACE_ITER or target is None:
        raise kernel_error(errno.EINVAL)
    prog.attach_func_name = f"bpf_iter_{target}"


def prog_load_btf_info_check(task: BpfTask, attr: dict[str, int]) -> None:
    """``check_btf_info_early``: func or line info needs ``prog_btf_fd`` to be a BTF
    (not modelled: EBADF/EINVAL); ``fd_array_cnt`` (v6.14) reads ``fd_array``
    (EFAULT).  The maps such an array names are not bound (not modelled)."""
    if attr.get("func_info_cnt", 0) or attr.get("line_info_cnt", 0):
        not_a_btf_or_token(task, attr.get("prog_btf_fd", 0))
    count = attr.get("fd_array_cnt", 0)
    if count:
        task.mem.read(attr.get("fd_array", 0), 4 * count)
