"""The body of statfs(2) (fs/statfs.c): the filesystem's ``->statfs`` plus the mount's
flags as ST_* bits."""

from __future__ import annotations

import errno

import attrs

from pinfs.base.errors import kernel_error
from pinfs.fs.libfs import KStatFs
from pinfs.fs.namei import Current, path_lookupat
from pinfs.mountns import (
    MNT_NOATIME,
    MNT_NODEV,
    MNT_NODIRATIME,
    MNT_NOEXEC,
    MNT_NOSUID,
    MNT_RELATIME,
    Mount,
    Path,
)


def user_statfs(current: Current, name: str) -> KStatFs:
    """``user_statfs`` + ``vfs_statfs``: ENOSYS without ``->statfs``; ``f_flags``
    from :func:`calculate_f_flags`."""
    found = path_lookupat(current, name, follow=True)
    return vfs_statfs(found, name)


def vfs_statfs(path: Path, name: str | None = None) -> KStatFs:
    """``vfs_statfs`` (also fstatfs's): ENOSYS without ``->statfs``, then the
    filesystem's answer with ``f_flags`` from :func:`calculate_f_flags`."""
    sops = path.dentry.d_sb.s_op
    if sops is None or sops.statfs is None:
        raise kernel_error(errno.ENOSYS, name)
    result: KStatFs = sops.statfs(path.dentry)
    return attrs.evolve(result, f_flags=calculate_f_flags(path.mnt))


def calculate_f_flags(mnt: Mount) -> int:
    """``calculate_f_flags``: ST_* bits from the mount and superblock flags."""
    flags = 0x20  # ST_VALID: f_flags is filled in (since 2.6.36)
    if mnt.read_only:
        flags |= 1  # ST_RDONLY
    for mnt_bit, st_bit in ((MNT_NOSUID, 2), (MNT_NODEV, 4), (MNT_NOEXEC, 8)):
        if mnt.mnt_flags & mnt_bit:
            flags |= st_bit
    if mnt.mnt_flags & MNT_NOATIME:
        flags |= 1024
    if mnt.mnt_flags & MNT_NODIRATIME:
        flags |= 2048
    if mnt.mnt_flags & MNT_RELATIME:
        flags |= 4096
    return flags
