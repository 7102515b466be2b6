"""The bodies of the fs/stat.c syscalls: stat, lstat and readlink.

``fstat`` needs only :func:`~pinfs.fs.attr.generic_fillattr` of the open file's inode
and stays with the task.
"""

from __future__ import annotations

from pinfs.base.errors import KernelError, naming
from pinfs.fs.attr import Kstat, generic_fillattr
from pinfs.fs.namei import Current, path_lookupat, touch_atime, vfs_readlink


def vfs_fstatat(current: Current, name: str, follow: bool) -> Kstat:
    """``vfs_fstatat``: resolve (following a final symlink for stat, not for lstat),
    then ``generic_fillattr`` with ids as the caller's namespace sees them."""
    found = path_lookupat(current, name, follow=follow)
    assert found.dentry.d_inode is not None
    return generic_fillattr(found.dentry.d_inode, current.cred)


def do_readlinkat(current: Current, name: str) -> str:
    """``do_readlinkat``: EINVAL if not a symlink; reading the body touches atime."""
    found = path_lookupat(current, name, follow=False)
    try:
        text = vfs_readlink(found.dentry)  # EINVAL if not a symlink; procfs's ->readlink
    except KernelError as exc:
        raise naming(exc, name) from None
    touch_atime(found)
    return text
