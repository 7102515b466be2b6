"""The modern half of ``map_create`` (kernel/bpf/syscall.c): what it checks about the
fields after ``max_entries`` before and after the type's ``map_alloc``.

Each check runs only where the profile's layout has the field (a missing field reads
as 0), so the seed's path is unchanged.  Order at v6.18 (:func:`map_create_precheck`):
BPF_F_TOKEN_FD is stripped; ``btf_vmlinux_value_type_id`` (STRUCT_OPS only) and a key
type id without a value type id; ``map_extra``; ``bpf_get_file_flag``; the NUMA node;
the type; the type's ``map_alloc_check`` (flags and sizes); ``map_ifindex``.  After
the allocation (:func:`map_create_postcheck`): ``bpf_obj_name_cpy``, the BTF fd,
``excl_prog_hash``.

BTF fds are resolved by :mod:`pinfs.ebpf.btf` in kernels that have BTF objects (older
ones say "not a BTF": EBADF or EINVAL).  Not modelled: BPF tokens (any fd given as one
is EBADF or EINVAL), offload devices (``lo`` is ifindex 1 and cannot offload), NUMA (one node).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from pinfs.base.cred import CAP_BPF, CAP_SYS_ADMIN, capable
from pinfs.base.errors import ENOTSUPP, kernel_error
from pinfs.ebpf.attr import (
    BPF_F_ACCESS_MASK,
    BPF_F_INNER_MAP,
    BPF_F_MMAPABLE,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_NUMA_NODE,
    BPF_F_PRESERVE_ELEMS,
    BPF_F_RDONLY,
    BPF_F_RDONLY_PROG,
    BPF_F_TOKEN_FD,
    BPF_F_WRONLY,
    BPF_F_WRONLY_PROG,
    BPF_F_ZERO_SEED,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_HASH_OF_MAPS,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_LRU_PERCPU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAP_TYPE_RINGBUF,
    name_bytes,
)
from pinfs.ebpf.context import BpfTask
from pinfs.ebpf.percpu import check_percpu_value_size
from pinfs.fs.fdtable import check_fd

HASH_TYPES = (
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERCPU_HASH,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_LRU_PERCPU_HASH,
)
LRU_TYPES = (BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH)
FD_ARRAY_TYPES = (
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
)

#: ``HTAB_CREATE_FLAG_MASK`` and ``ARRAY_CREATE_FLAG_MASK`` at v6.18; a profile's
#: ``map_create_flags`` narrows them to the bits its kernel knew.
HTAB_CREATE_FLAG_MASK = (
    BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED
)
ARRAY_CREATE_FLAG_MASK = (
    BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_ACCESS_MASK | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP
)

NUMA_NO_NODE = -1
NR_NODE_IDS = 1  # one NUMA node, as on the reference machine
LOOPBACK_IFINDEX = 1
INT_MAX = (1 << 31) - 1
#: KMALLOC_MAX_SIZE (SLUB, x86_64) and sizeof(struct htab_elem) at v6.18.
KMALLOC_MAX_SIZE = 1 << 22
HTAB_ELEM_SIZE_6_18 = 48
SHA256_DIGEST_SIZE = 32


def _s32(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def bpf_get_file_flag(flags: int) -> int:
    """``bpf_get_file_flag``: the fd's O_* mode from BPF_F_RDONLY/WRONLY (both: EINVAL)."""
    if flags & BPF_F_RDONLY and flags & BPF_F_WRONLY:
        raise kernel_error(errno.EINVAL)
    if flags & BPF_F_RDONLY:
        return os.O_RDONLY
    if flags & BPF_F_WRONLY:
        return os.O_WRONLY
    return os.O_RDWR


def bpf_map_attr_numa_node(attr: dict[str, int]) -> int:
    """``bpf_map_attr_numa_node``: the node only with BPF_F_NUMA_NODE."""
    if attr.get("map_flags", 0) & BPF_F_NUMA_NODE:
        return _s32(attr.get("numa_node", 0))
    return NUMA_NO_NODE


def bpf_map_flags_access_ok(flags: int) -> bool:
    """``bpf_map_flags_access_ok``: not both RDONLY_PROG and WRONLY_PROG."""
    return (flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) != (
        BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG
    )


def bpf_obj_name_cpy(raw: int) -> bytes:
    """``bpf_obj_name_cpy``: alnum (the kernel's Latin-1 ctype), '_' and '.' up to a NUL
    within the 16 bytes; anything else, or no NUL, is EINVAL.  Returns the name."""
    data = name_bytes(raw)
    end = data.find(b"\0")
    if end < 0:
        raise kernel_error(errno.EINVAL)
    name = data[:end]
    if not all(_kernel_isalnum(c) or c in b"_." for c in name):
        raise kernel_error(errno.EINVAL)
    return name


def _kernel_isalnum(c: int) -> bool:
    """lib/ctype.c: ASCII letters and digits, and Latin-1 letters (0xC0-0xFF but
    0xD7 and 0xF7)."""
    if c < 0x80:
        return chr(c).isalnum()
    return c >= 0xC0 and c not in (0xD7, 0xF7)


def not_a_btf_or_token(task: BpfTask, ufd: int) -> None:
    """``btf_get_by_fd`` / ``bpf_token_get_from_fd`` with neither modelled: EBADF for
    a closed fd, EINVAL for any open one."""
    file = task.files.lookup(check_fd(ufd) & 0xFFFFFFFF)
    raise kernel_error(errno.EBADF if file is None else errno.EINVAL)


def map_create_precheck(task: BpfTask, attr: dict[str, int]) -> int:
    """``map_create`` from after CHECK_ATTR up to the allocation (v6.18 order).
    Returns the new fd's O_* flags.  The unprivileged gate and ``map_alloc`` follow."""
    flags = attr.get("map_flags", 0)
    token_flag = False
    if task.kernel.profile.map_create_map_token_fd:
        token_flag = bool(flags & BPF_F_TOKEN_FD)
        flags &= ~BPF_F_TOKEN_FD
        attr["map_flags"] = flags
    if attr.get("btf_vmlinux_value_type_id", 0):
        raise kernel_error(errno.EINVAL)  # STRUCT_OPS is not a modelled type
    if attr.get("btf_key_type_id", 0) and not attr.get("btf_value_type_id", 0):
        raise kernel_error(errno.EINVAL)
    if attr.get("map_extra", 0):
        raise kernel_error(errno.EINVAL)  # only BLOOM_FILTER and ARENA take it
    f_flags = bpf_get_file_flag(flags) if task.kernel.profile.map_fd_mode_from_flags else os.O_RDWR
    numa_node = bpf_map_attr_numa_node(attr)
    if numa_node != NUMA_NO_NODE and not 0 <= numa_node < NR_NODE_IDS:
        raise kernel_error(errno.EINVAL)
    if task.kernel.profile.map_create_map_flags:
        map_alloc_check(task, attr)
    if token_flag:
        not_a_btf_or_token(task, attr.get("map_token_fd", 0))
    return f_flags


def map_alloc_check(task: BpfTask, attr: dict[str, int]) -> None:
    """The type's ``map_alloc_check`` (an unknown type: EINVAL, as ``find_and_alloc_map``;
    a ring buffer has none: ``ringbuf_map_alloc`` checks everything)."""
    map_type = attr["map_type"]
    if map_type not in task.kernel.profile.map_types:
        raise kernel_error(errno.EINVAL)
    if map_type in HASH_TYPES:
        htab_map_alloc_check(task, attr)
    elif map_type == BPF_MAP_TYPE_HASH_OF_MAPS:
        fd_htab_map_alloc_check(task, attr)
    elif map_type in (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY):
        array_map_alloc_check(task, attr)
    elif map_type in FD_ARRAY_TYPES:
        fd_array_map_alloc_check(task, attr)
    elif map_type != BPF_MAP_TYPE_RINGBUF:
        raise kernel_error(errno.EINVAL)


def bpf_capable(task: BpfTask) -> bool:
    """``bpf_capable``: CAP_BPF or CAP_SYS_ADMIN (CAP_SYS_ADMIN only before v5.8)."""
    ns = task.kernel.init_user_ns
    if capable(task.cred, ns, CAP_SYS_ADMIN):
        return True
    return task.kernel.profile.unpriv_gate_caps != "CAP_SYS_ADMIN" and capable(
        task.cred, ns, CAP_BPF
    )


def map_type_capable(task: BpfTask, attr: dict[str, int]) -> None:
    """``map_create``'s "check privileged map type permissions" (6c3eba1c5e28,
    v6.5): of the modelled types only the LRU ones need CAP_BPF (EPERM), after the
    ``unprivileged_bpf_disabled`` gate."""
    if task.kernel.profile.lru_map_cap_check != "map_create":
        return
    if attr["map_type"] in LRU_TYPES and not bpf_capable(task):
        raise kernel_error(errno.EPERM)


def _known(task: BpfTask, mask: int) -> int:
    return mask & task.kernel.profile.map_create_flags


def htab_map_alloc_check(task: BpfTask, attr: dict[str, int]) -> None:
    """``htab_map_alloc_check``: (before v6.5, LRU types without ``bpf_capable``
    EPERM,) BPF_F_ZERO_SEED without CAP_SYS_ADMIN EPERM, unknown flags EINVAL,
    BPF_F_NO_COMMON_LRU on a map that is no LRU EINVAL, an LRU without preallocation
    ENOTSUPP, a NUMA node for per-CPU storage EINVAL, zero sizes EINVAL, then the size
    bounds (E2BIG)."""
    flags, map_type = attr.get("map_flags", 0), attr["map_type"]
    lru = map_type in LRU_TYPES
    percpu = map_type in (BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH)
    percpu_lru = bool(flags & BPF_F_NO_COMMON_LRU)
    if lru and task.kernel.profile.lru_map_cap_check == "alloc_check" and not bpf_capable(task):
        raise kernel_error(errno.EPERM)  # "LRU implementation is much complicated"
    if flags & BPF_F_ZERO_SEED and not capable(task.cred, task.kernel.init_user_ns, CAP_SYS_ADMIN):
        raise kernel_error(errno.EPERM)  # "guard against local DoS"
    if flags & ~_known(task, HTAB_CREATE_FLAG_MASK) or not bpf_map_flags_access_ok(flags):
        raise kernel_error(errno.EINVAL)
    if not lru and percpu_lru:
        raise kernel_error(errno.EINVAL)  # a per-CPU LRU for a map that is no LRU
    if lru and flags & BPF_F_NO_PREALLOC:
        raise kernel_error(ENOTSUPP)
    if bpf_map_attr_numa_node(attr) != NUMA_NO_NODE and (percpu or percpu_lru):
        raise kernel_error(errno.EINVAL)
    if attr["max_entries"] == 0 or attr["key_size"] == 0 or attr["value_size"] == 0:
        raise kernel_error(errno.EINVAL)
    if task.kernel.profile.htab_key_value_size_check and (
        attr["key_size"] + attr["value_size"] >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE_6_18
    ):
        raise kernel_error(errno.E2BIG)
    if percpu:
        check_percpu_value_size(attr["value_size"])


def fd_htab_map_alloc_check(task: BpfTask, attr: dict[str, int]) -> None:
    """``fd_htab_map_alloc_check``: u32 values (fds), then the hash checks."""
    if attr["value_size"] != 4:
        raise kernel_error(errno.EINVAL)
    htab_map_alloc_check(task, attr)


def array_map_alloc_check(task: BpfTask, attr: dict[str, int]) -> None:
    """``array_map_alloc_check`` (ARRAY, and the fd arrays through
    :func:`fd_array_map_alloc_check`)."""
    flags, map_type = attr.get("map_flags", 0), attr["map_type"]
    percpu = map_type == BPF_MAP_TYPE_PERCPU_ARRAY
    if (
        attr["max_entries"] == 0
        or attr["key_size"] != 4
        or attr["value_size"] == 0
        or flags & ~_known(task, ARRAY_CREATE_FLAG_MASK)
        or not bpf_map_flags_access_ok(flags)
        or (percpu and bpf_map_attr_numa_node(attr) != NUMA_NO_NODE)
    ):
        raise kernel_error(errno.EINVAL)
    if map_type != BPF_MAP_TYPE_ARRAY and flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP):
        raise kernel_error(errno.EINVAL)
    if map_type != BPF_MAP_TYPE_PERF_EVENT_ARRAY and flags & BPF_F_PRESERVE_ELEMS:
        raise kernel_error(errno.EINVAL)
    if task.kernel.profile.array_value_size_check and attr["value_size"] > INT_MAX:
        raise kernel_error(errno.E2BIG)
    if percpu:
        check_percpu_value_size(attr["value_size"])


def fd_array_map_alloc_check(task: BpfTask, attr: dict[str, int]) -> None:
    """``fd_array_map_alloc_check``: u32 values, no program access flags."""
    if attr["value_size"] != 4:
        raise kernel_error(errno.EINVAL)
    if attr.get("map_flags", 0) & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG):
        raise kernel_error(errno.EINVAL)
    array_map_alloc_check(task, attr)


def bpf_map_offload_map_alloc(task: BpfTask, attr: dict[str, int]) -> None:
    """``bpf_map_offload_map_alloc`` (a non-zero ``map_ifindex``): CAP_BPF (EPERM),
    ARRAY or HASH (EINVAL), then the device: ``lo`` cannot offload (EOPNOTSUPP), no
    other device exists (EINVAL).  It never succeeds here."""
    ns = task.kernel.init_user_ns
    if not (capable(task.cred, ns, CAP_BPF) or capable(task.cred, ns, CAP_SYS_ADMIN)):
        raise kernel_error(errno.EPERM)
    if attr["map_type"] not in (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH):
        raise kernel_error(errno.EINVAL)
    if attr["map_ifindex"] == LOOPBACK_IFINDEX:
        raise kernel_error(errno.EOPNOTSUPP)
    raise kernel_error(errno.EINVAL)


def map_create_postcheck(
    task: BpfTask, attr: dict[str, int], attach_btf: Callable[[], None] | None = None
) -> bytes:
    """``map_create`` after ``map_alloc``: the name, the BTF fd (``attach_btf``, in a
    kernel with BTF objects), the exclusive program hash.  Returns the name (the
    caller frees the map on an error)."""
    name = bpf_obj_name_cpy(attr.get("map_name", 0))
    if attr.get("btf_key_type_id", 0) or attr.get("btf_value_type_id", 0):
        if attach_btf is None:
            not_a_btf_or_token(task, attr.get("btf_fd", 0))
        else:
            attach_btf()
    if attr.get("excl_prog_hash", 0):
        if attr.get("excl_prog_hash_size", 0) != SHA256_DIGEST_SIZE:
            raise kernel_error(errno.EINVAL)
        task.mem.read(attr["excl_prog_hash"], SHA256_DIGEST_SIZE)  # copy_from_bpfptr
    elif attr.get("excl_prog_hash_size", 0):
        raise kernel_error(errno.EINVAL)
    return name
