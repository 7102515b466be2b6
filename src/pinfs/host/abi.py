"""x86_64 user-space layouts the served syscalls write: ``struct stat``, ``struct
statx``, ``struct statfs`` and ``linux_dirent64`` (arch/x86/include/uapi/asm/stat.h,
include/uapi/linux/stat.h, asm-generic/statfs.h, include/linux/dirent.h)."""

from __future__ import annotations

import struct

from pinfs.fs.attr import Kstat
from pinfs.fs.libfs import DirEntry, KStatFs

_STAT = struct.Struct("=QQQIIIIQqqqQQQQQQ24x")
_STATFS = struct.Struct("=qqQQQQQiiqqq32x")
_STATX_HEAD = struct.Struct("=IIQIIIHHQQQQ")
_STATX_TS = struct.Struct("=qI4x")
_DIRENT_HEAD = struct.Struct("=QqHB")

STATX_BASIC_STATS = 0x7FF


def _sec_nsec(ns: int) -> tuple[int, int]:
    return ns // 10**9, ns % 10**9


def _major_minor(dev: int) -> tuple[int, int]:
    """``new_encode_dev`` read back: the kernel's dev_t as user space splits it."""
    return (dev >> 20) & 0xFFF, dev & 0xFFFFF


def _huge_dev(dev: int) -> int:
    """``new_encode_dev``: the 32-bit user-space dev_t of a kernel dev."""
    major, minor = _major_minor(dev)
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


def pack_stat(st: Kstat) -> bytes:
    """``cp_new_stat`` (x86_64 ``struct stat``, 144 bytes)."""
    a, an = _sec_nsec(st.st_atime_ns)
    m, mn = _sec_nsec(st.st_mtime_ns)
    c, cn = _sec_nsec(st.st_ctime_ns)
    return _STAT.pack(
        _huge_dev(st.st_dev), st.st_ino, st.st_nlink, st.st_mode, st.st_uid, st.st_gid, 0,
        _huge_dev(st.st_rdev), st.st_size, st.st_blksize, st.st_blocks, a, an, m, mn, c, cn,
    )  # fmt: skip


def pack_statx(st: Kstat) -> bytes:
    """``cp_statx`` for the basic stats (256 bytes)."""
    head = _STATX_HEAD.pack(
        STATX_BASIC_STATS, st.st_blksize, 0, st.st_nlink, st.st_uid, st.st_gid,
        st.st_mode & 0xFFFF, 0, st.st_ino, st.st_size, st.st_blocks, 0,
    )  # fmt: skip
    times = b"".join(
        _STATX_TS.pack(*_sec_nsec(ns))
        for ns in (st.st_atime_ns, 0, st.st_ctime_ns, st.st_mtime_ns)  # atime, btime, ...
    )
    rmaj, rmin = _major_minor(st.st_rdev)
    dmaj, dmin = _major_minor(st.st_dev)
    devs = struct.pack("=IIII", rmaj, rmin, dmaj, dmin)
    return (head + times + devs).ljust(256, b"\0")


def pack_statfs(st: KStatFs) -> bytes:
    """``do_statfs_native`` (x86_64 ``struct statfs``, 120 bytes)."""
    return _STATFS.pack(
        st.f_type, st.f_bsize, st.f_blocks, st.f_bfree, st.f_bavail, st.f_files, st.f_ffree,
        st.f_fsid & 0xFFFFFFFF, st.f_fsid >> 32, st.f_namelen, st.f_frsize, st.f_flags,
    )  # fmt: skip


def dirent_bytes(entry: DirEntry, offset: int) -> bytes:
    """One ``linux_dirent64``, 8-byte aligned."""
    name = entry.d_name.encode("utf-8", "surrogateescape") + b"\0"
    length = (_DIRENT_HEAD.size + len(name) + 7) & ~7
    head = _DIRENT_HEAD.pack(entry.d_ino, offset, length, entry.d_type)
    return (head + name).ljust(length, b"\0")
