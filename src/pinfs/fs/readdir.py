"""The body of getdents64(2) (fs/readdir.c)."""

from __future__ import annotations

import errno

from pinfs.base.errors import kernel_error
from pinfs.fs.libfs import DirEntry
from pinfs.fs.namei import touch_atime
from pinfs.vfs import File


def iterate_dir(file: File) -> list[DirEntry]:
    """``iterate_dir``: ENOTDIR without ``->iterate``, ENOENT in a removed directory;
    every remaining entry, then atime is touched."""
    if file.f_op is None or file.f_op.iterate is None:
        raise kernel_error(errno.ENOTDIR)
    if file.f_path is not None and file.f_path.dentry.d_inode.is_dead_dir:
        raise kernel_error(errno.ENOENT)
    entries: list[DirEntry] = file.f_op.iterate(file)
    touch_atime(file.f_path)
    return entries
