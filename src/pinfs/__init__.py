"""pinfs: a pure-Python, in-memory reference model of the Linux bpf filesystem (bpffs)
and eBPF object pinning, as at Linux commit b2197755 (2015).

>>> import pinfs
>>> k = pinfs.Kernel()
>>> t = k.init_task
>>> t.mount("bpf", "/sys/fs/bpf", "bpf")
>>> fd = t.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 8, 1)
>>> t.obj_pin(fd, "/sys/fs/bpf/m")
>>> [(o.kind, o.refcnt) for o in k.objects()]
[('map', 2)]
"""

from __future__ import annotations

from pinfs.base import cred, profiles
from pinfs.base.errors import KernelError, Refusal, errno_name, kernel_error
from pinfs.base.profiles import SEED, Profile
from pinfs.ebpf.attr import (
    BPF_ANY,
    BPF_EXIST,
    BPF_FS_MAGIC,
    BPF_MAP_CREATE,
    BPF_MAP_DELETE_ELEM,
    BPF_MAP_GET_NEXT_KEY,
    BPF_MAP_LOOKUP_ELEM,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAP_TYPE_UNSPEC,
    BPF_MAP_UPDATE_ELEM,
    BPF_NOEXIST,
    BPF_OBJ_GET,
    BPF_OBJ_PIN,
    BPF_PROG_LOAD,
    BPF_PROG_TYPE_KPROBE,
    BPF_PROG_TYPE_SCHED_ACT,
    BPF_PROG_TYPE_SCHED_CLS,
    BPF_PROG_TYPE_SOCKET_FILTER,
    BPF_PROG_TYPE_UNSPEC,
    BPF_PSEUDO_MAP_FD,
)
from pinfs.ebpf.objects import BpfMap, BpfProg
from pinfs.fs.namei import O_PATH, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT
from pinfs.machine.invariants import InvariantError
from pinfs.machine.kernel import Kernel
from pinfs.machine.task import (
    CLONE_NEWNS,
    CLONE_NEWUSER,
    RLIM_INFINITY,
    RLIMIT_MEMLOCK,
    RLIMIT_NOFILE,
    Task,
)
from pinfs.mountns import MNT_DETACH, MNT_EXPIRE, MNT_FORCE
from pinfs.vfs import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT

__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_FS_MAGIC",
    "BPF_MAP_CREATE",
    "BPF_MAP_DELETE_ELEM",
    "BPF_MAP_GET_NEXT_KEY",
    "BPF_MAP_LOOKUP_ELEM",
    "BPF_MAP_TYPE_ARRAY",
    "BPF_MAP_TYPE_HASH",
    "BPF_MAP_TYPE_PERF_EVENT_ARRAY",
    "BPF_MAP_TYPE_PROG_ARRAY",
    "BPF_MAP_TYPE_UNSPEC",
    "BPF_MAP_UPDATE_ELEM",
    "BPF_NOEXIST",
    "BPF_OBJ_GET",
    "BPF_OBJ_PIN",
    "BPF_PROG_LOAD",
    "BPF_PROG_TYPE_KPROBE",
    "BPF_PROG_TYPE_SCHED_ACT",
    "BPF_PROG_TYPE_SCHED_CLS",
    "BPF_PROG_TYPE_SOCKET_FILTER",
    "BPF_PROG_TYPE_UNSPEC",
    "BPF_PSEUDO_MAP_FD",
    "CLONE_NEWNS",
    "CLONE_NEWUSER",
    "MNT_DETACH",
    "MNT_EXPIRE",
    "MNT_FORCE",
    "MS_BIND",
    "MS_NODEV",
    "MS_NOEXEC",
    "MS_NOSUID",
    "MS_RDONLY",
    "MS_REC",
    "MS_REMOUNT",
    "O_PATH",
    "RENAME_EXCHANGE",
    "RENAME_NOREPLACE",
    "RENAME_WHITEOUT",
    "RLIMIT_MEMLOCK",
    "RLIMIT_NOFILE",
    "RLIM_INFINITY",
    "SEED",
    "BpfMap",
    "BpfProg",
    "InvariantError",
    "Kernel",
    "KernelError",
    "Profile",
    "Refusal",
    "Task",
    "errno_name",
    "cred",
    "profiles",
    "kernel_error",
]
