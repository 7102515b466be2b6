"""The body of getdents64(2) (fs/readdir.c)."""

from __future__ import annotations

import errno
import struct

from pinfs.base.errors import kernel_error, refuse
from pinfs.fs.libfs import DirEntry
from pinfs.fs.namei import touch_atime
from pinfs.vfs import File

#: ``struct linux_dirent64`` up to ``d_name``: d_ino, d_off, d_reclen, d_type.
DIRENT64_HEAD = struct.Struct("<QqHB")


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


def linux_dirent64(entry: DirEntry) -> bytes:
    """One record as ``filldir64`` writes it: the head, the name and its NUL, padded
    to 8 bytes (``d_reclen``); ``d_off`` is the position after the entry."""
    name = entry.d_name.encode("utf-8", "surrogateescape") + b"\0"
    reclen = (DIRENT64_HEAD.size + len(name) + 7) & ~7
    head = DIRENT64_HEAD.pack(entry.d_ino, entry.d_off, reclen, entry.d_type)
    return (head + name).ljust(reclen, b"\0")


def getdents64(file: File, count: int) -> bytes:
    """``getdents64`` into a buffer of ``count`` bytes: as many records as fit, from
    the file position on (the position is the cursor: the next call goes on, lseek to
    0 starts again).  If not even the first record fits it is EINVAL and the position
    does not move; at the end of the directory the answer is empty."""
    pos, cursor = file.f_pos, file.f_cursor
    entries = iterate_dir(file)
    out = bytearray()
    taken = 0
    for entry in entries:
        record = linux_dirent64(entry)
        if len(out) + len(record) > count:
            break
        out += record
        taken += 1
    if taken < len(entries):  # the actor said stop: the position is after the last one
        if taken:
            last = entries[taken - 1]
            file.f_pos, file.f_cursor = last.d_off, last.f_cursor
        else:
            file.f_pos, file.f_cursor = pos, cursor
            check = "a {size}-byte record does not fit in {count} bytes"
            size = len(linux_dirent64(entries[0]))
            raise refuse(errno.EINVAL, "filldir64", check, size=size, count=count)
    return bytes(out)


def parse_dirents(data: bytes) -> list[DirEntry]:
    """The records of a getdents64 buffer, as :class:`DirEntry` values (with d_off)."""
    out: list[DirEntry] = []
    offset = 0
    while offset < len(data):
        d_ino, d_off, reclen, d_type = DIRENT64_HEAD.unpack_from(data, offset)
        raw = data[offset + DIRENT64_HEAD.size : offset + reclen]
        name = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        out.append(DirEntry(d_ino, d_type, name, d_off))
        offset += reclen
    return out
