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

import importlib
from typing import TYPE_CHECKING, Any

from pinfs.base import cred, profiles
from pinfs.base.errors import KernelError, Refusal, errno_name, kernel_error
from pinfs.base.profiles import SEED, Profile
from pinfs.base.uapi import (
    AT_FDCWD,
    CLONE_FILES,
    CLONE_FS,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    CLONE_SIGHAND,
    CLONE_SYSVSEM,
    CLONE_THREAD,
    CLONE_VM,
    MNT_DETACH,
    MNT_EXPIRE,
    MNT_FORCE,
    MS_BIND,
    MS_MOVE,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_SHARED,
    MS_SILENT,
    MS_SLAVE,
    MS_STRICTATIME,
    MS_UNBINDABLE,
    O_CLOEXEC,
    O_PATH,
    PR_SET_KEEPCAPS,
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    RENAME_WHITEOUT,
    RLIMIT_MEMLOCK,
    RLIMIT_NOFILE,
    UMOUNT_NOFOLLOW,
)
from pinfs.base.uapi import RESOURCE_RLIM_INFINITY as RLIM_INFINITY

if TYPE_CHECKING:
    from pinfs.ebpf.attr import (
        BPF_ANY,
        BPF_EXIST,
        BPF_F_NO_PREALLOC,
        BPF_F_PATH_FD,
        BPF_F_RDONLY,
        BPF_F_WRONLY,
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
    from pinfs.machine.invariants import InvariantError
    from pinfs.machine.kernel import Kernel
    from pinfs.machine.task import (
        F_DUPFD,
        F_DUPFD_CLOEXEC,
        F_GETFD,
        F_GETFL,
        F_SETFD,
        FD_CLOEXEC,
        Task,
    )

# The machine is loaded on first use, so that ``import pinfs.vfs`` (or any lower layer)
# loads that layer alone.  Loading it also loads :mod:`pinfs.svg`, which registers the
# notebook pictures with :mod:`pinfs.base.display`.
_LAZY: dict[str, str] = {
    "BpfMap": "pinfs.ebpf.objects",
    "BpfProg": "pinfs.ebpf.objects",
    "InvariantError": "pinfs.machine.invariants",
    "Kernel": "pinfs.machine.kernel",
    "Task": "pinfs.machine.task",
    **dict.fromkeys(
        ("F_DUPFD", "F_DUPFD_CLOEXEC", "F_GETFD", "F_GETFL", "F_SETFD", "FD_CLOEXEC"),
        "pinfs.machine.task",
    ),
}


def __getattr__(name: str) -> Any:
    """PEP 562: the machine's names and the bpf uapi constants, imported on first use;
    the capability numbers (``CAP_NET_ADMIN``, ``CAP_BPF``, ...) by name."""
    if name in cred.CAP_NAMES:
        return cred.CAP_NAMES.index(name)
    module = _LAZY.get(name)
    if module is None and name.startswith("BPF_") and name in __all__:
        module = "pinfs.ebpf.attr"
    if module is None:
        raise AttributeError(f"module 'pinfs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    if module.startswith("pinfs.machine."):
        importlib.import_module("pinfs.svg")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_F_NO_PREALLOC",
    "BPF_F_PATH_FD",
    "BPF_F_RDONLY",
    "BPF_F_WRONLY",
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
    "AT_FDCWD",
    "CLONE_FILES",
    "CLONE_FS",
    "CLONE_NEWIPC",
    "CLONE_NEWNET",
    "CLONE_NEWNS",
    "CLONE_NEWPID",
    "CLONE_NEWUSER",
    "CLONE_NEWUTS",
    "CLONE_SIGHAND",
    "CLONE_SYSVSEM",
    "CLONE_THREAD",
    "CLONE_VM",
    "FD_CLOEXEC",
    "F_DUPFD",
    "F_DUPFD_CLOEXEC",
    "F_GETFD",
    "F_GETFL",
    "F_SETFD",
    "MNT_DETACH",
    "MNT_EXPIRE",
    "MNT_FORCE",
    "MS_BIND",
    "MS_MOVE",
    "MS_NOATIME",
    "MS_NODEV",
    "MS_NODIRATIME",
    "MS_NOEXEC",
    "MS_NOSUID",
    "MS_PRIVATE",
    "MS_RDONLY",
    "MS_REC",
    "MS_RELATIME",
    "MS_REMOUNT",
    "MS_SHARED",
    "MS_SILENT",
    "MS_SLAVE",
    "MS_STRICTATIME",
    "MS_UNBINDABLE",
    "O_CLOEXEC",
    "O_PATH",
    "PR_SET_KEEPCAPS",
    "RENAME_EXCHANGE",
    "RENAME_NOREPLACE",
    "RENAME_WHITEOUT",
    "RLIMIT_MEMLOCK",
    "RLIMIT_NOFILE",
    "RLIM_INFINITY",
    "UMOUNT_NOFOLLOW",
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
    *cred.CAP_NAMES,  # capability numbers, for spawn(caps=...)
]
