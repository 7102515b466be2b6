"""Every integer name a trace prints and a scenario may use, by name.

One table, gathered from the modules that own the values (the uapi constants of the
VFS, the mount code, namei, the task, the bpf uapi and the capabilities) and from
:mod:`os`/:mod:`stat`; a few uapi values that pinfs does not model come from
:data:`UNMODELLED`.  pinfs's own values win.
"""

from __future__ import annotations

import os
import stat
from types import ModuleType

from pinfs import mountns, vfs
from pinfs.base import cred
from pinfs.ebpf import attr
from pinfs.fs import namei
from pinfs.machine import task

__all__ = ["PREFIXES", "UNMODELLED", "constants"]

#: uapi values for names that pinfs may not define (pinfs's own values win).
UNMODELLED: dict[str, int] = {
    "AT_FDCWD": -100,
    "O_PATH": 0o10000000,
    "MS_RDONLY": 1, "MS_NOSUID": 2, "MS_NODEV": 4, "MS_NOEXEC": 8, "MS_REMOUNT": 32,
    "MS_NOATIME": 1024, "MS_NODIRATIME": 2048, "MS_BIND": 4096, "MS_MOVE": 8192,
    "MS_REC": 16384, "MS_SILENT": 32768, "MS_PRIVATE": 1 << 18, "MS_SHARED": 1 << 20,
    "MS_RELATIME": 1 << 21, "MS_STRICTATIME": 1 << 24,
    "MNT_FORCE": 1, "MNT_DETACH": 2, "MNT_EXPIRE": 4, "UMOUNT_NOFOLLOW": 8,
    "CLONE_FS": 0x200, "CLONE_FILES": 0x400, "CLONE_NEWNS": 0x20000,
    "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
    "RENAME_NOREPLACE": 1, "RENAME_EXCHANGE": 2, "RENAME_WHITEOUT": 4,
    "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIM_INFINITY": (1 << 64) - 1,
    "BPF_MAP_CREATE": 0, "BPF_MAP_LOOKUP_ELEM": 1, "BPF_MAP_UPDATE_ELEM": 2,
    "BPF_MAP_DELETE_ELEM": 3, "BPF_MAP_GET_NEXT_KEY": 4, "BPF_PROG_LOAD": 5,
    "BPF_OBJ_PIN": 6, "BPF_OBJ_GET": 7, "BPF_OBJ_GET_INFO_BY_FD": 15,
    "BPF_MAP_TYPE_UNSPEC": 0, "BPF_MAP_TYPE_HASH": 1, "BPF_MAP_TYPE_ARRAY": 2,
    "BPF_MAP_TYPE_PROG_ARRAY": 3, "BPF_MAP_TYPE_PERF_EVENT_ARRAY": 4,
    "BPF_PROG_TYPE_UNSPEC": 0, "BPF_PROG_TYPE_SOCKET_FILTER": 1, "BPF_PROG_TYPE_KPROBE": 2,
    "BPF_PROG_TYPE_SCHED_CLS": 3, "BPF_PROG_TYPE_SCHED_ACT": 4,
    "BPF_ANY": 0, "BPF_NOEXIST": 1, "BPF_EXIST": 2,
    "BPF_F_RDONLY": 1 << 3, "BPF_F_WRONLY": 1 << 4, "BPF_F_PATH_FD": 1 << 14,
    "BPF_PSEUDO_MAP_FD": 1,
}  # fmt: skip

#: The name prefixes taken from pinfs's modules.
PREFIXES = (
    "O_", "MS_", "MNT_", "UMOUNT_", "CLONE_", "BPF_", "RENAME_", "S_I", "AT_", "RLIMIT_",
    "RLIM_", "PR_", "CAP_",
)  # fmt: skip

_OWNERS: tuple[ModuleType, ...] = (vfs, mountns, namei, task, attr, cred)
_TABLE: dict[str, int] = {}


def constants() -> dict[str, int]:
    """Every name an integer argument may use (built once, then shared)."""
    if not _TABLE:
        table: dict[str, int] = dict(UNMODELLED)
        for module in (os, stat):
            for name in dir(module):
                value = getattr(module, name)
                if name.startswith(("O_", "S_I")) and isinstance(value, int):
                    table[name] = value
        for module in _OWNERS:
            for name, value in vars(module).items():
                if name.startswith(PREFIXES) and isinstance(value, int) and name.isupper():
                    table[name] = int(value)
        for number, name in enumerate(cred.CAP_NAMES):
            table[name] = number
        _TABLE.update(table)
    return _TABLE
