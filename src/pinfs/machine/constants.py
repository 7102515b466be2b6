"""Every integer name a trace prints and a scenario may use, by name.

One table, gathered from the modules that own the values (:mod:`pinfs.base.uapi`, the
VFS, the mount code, namei, the bpf uapi and the capabilities) and from
:mod:`os`/:mod:`stat`; uapi values that pinfs does not model come from
:data:`UNMODELLED`.  pinfs's own values win.
"""

from __future__ import annotations

import os
import stat
from types import ModuleType

from pinfs import mountns, vfs
from pinfs.base import cred, uapi
from pinfs.ebpf import attr
from pinfs.fs import namei

__all__ = ["PREFIXES", "UNMODELLED", "constants"]

#: uapi values pinfs does not model but scenarios may name (the live kernel knows them):
#: later ``enum bpf_cmd`` members (include/uapi/linux/bpf.h).
UNMODELLED: dict[str, int] = {
    "BPF_PROG_GET_FD_BY_ID": 13,
    "BPF_MAP_GET_FD_BY_ID": 14,
    "BPF_OBJ_GET_INFO_BY_FD": 15,
    "BPF_RAW_TRACEPOINT_OPEN": 17,
    "BPF_BTF_LOAD": 18,
    "BPF_BTF_GET_FD_BY_ID": 19,
    "BPF_LINK_CREATE": 28,
    "BPF_LINK_UPDATE": 29,
    "BPF_LINK_GET_FD_BY_ID": 30,
    "BPF_ENABLE_STATS": 32,
    "BPF_ITER_CREATE": 33,
    "BPF_TOKEN_CREATE": 36,
}

#: The name prefixes taken from pinfs's modules.
PREFIXES = (
    "O_", "MS_", "MNT_", "UMOUNT_", "CLONE_", "BPF_", "RENAME_", "S_I", "AT_", "RLIMIT_",
    "RLIM_", "PR_", "CAP_",
)  # fmt: skip

_OWNERS: tuple[ModuleType, ...] = (uapi, vfs, mountns, namei, attr, cred)
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
