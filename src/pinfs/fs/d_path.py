"""The body of getcwd(2) (fs/d_path.c)."""

from __future__ import annotations

import errno

from pinfs.base.errors import kernel_error
from pinfs.fs.namei import FsStruct


def getcwd(fs: FsStruct) -> str:
    """``SYSCALL_DEFINE2(getcwd)``'s ``prepend_path`` walk from the cwd up to the root,
    crossing mounts at their roots; ENOENT if the cwd was removed."""
    mnt, dentry = fs.pwd
    if not dentry.hashed and not dentry.is_root:
        raise kernel_error(errno.ENOENT)
    root = fs.root
    parts: list[str] = []
    while not (mnt is root.mnt and dentry is root.dentry):
        if dentry is mnt.mnt_root or dentry.is_root:
            if mnt.mnt_parent is None or mnt.mnt_mountpoint is None:
                break
            dentry, mnt = mnt.mnt_mountpoint, mnt.mnt_parent
            continue
        parts.append(dentry.d_name)
        assert dentry.d_parent is not None
        dentry = dentry.d_parent
    return "/" + "/".join(reversed(parts))
