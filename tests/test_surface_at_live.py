"""The *at calls against the live kernel (issue 13 item 3): the same script, step by
step, on pinfs under LINUX_6_18 and on the live 6.18 kernel.

Each task works in a private mount namespace on a scratch tmpfs with a scratch bpffs
under it (never the host's mounts).  A step records "ok", the errno name or a
normalised value (file type and mode, link count, owner; statx's mask and attribute
bits; no inode numbers, devices, times or mount ids).  The script covers, for every
*at call: AT_FDCWD, a directory fd, an O_PATH directory fd, a non-directory dirfd
(ENOTDIR), a closed one (EBADF), an absolute name (the dirfd ignored), empty names
with and without AT_EMPTY_PATH, the flags each call refuses, and the order of those
checks.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from typing import Any

import pytest

import pinfs
from pinfs.base.profiles import LINUX_6_18
from pinfs.fs.readdir import parse_dirents

pytestmark = pytest.mark.live

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_EACCESS = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000
AT_STATX_SYNC_TYPE = 0x6000
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
O_PATH = 0o10000000
CLONE_NEWNS = 0x20000
MS_BIND, MS_REMOUNT, MS_RDONLY = 4096, 32, 1
BAD = 0x8000  # a flag bit none of these calls knows
CLOSED = 99


def norm(value: Any) -> Any:
    if value is None:
        return "ok"
    if hasattr(value, "stx_mask"):
        return (
            hex(value.stx_mask),
            hex(value.stx_attributes),
            hex(value.stx_attributes_mask),
            stat.filemode(value.stx_mode),
            value.stx_nlink,
            value.stx_uid,
            value.stx_gid,
            value.stx_mnt_id > 0 if stat.S_IFMT(value.stx_mode) else None,  # anon: pinfs has 0
            value.stx_btime_ns > 0,
        )
    if hasattr(value, "st_mode"):
        out = (stat.filemode(value.st_mode), value.st_nlink, value.st_uid, value.st_gid)
        return out if stat.S_ISDIR(value.st_mode) else (*out, value.st_size)
    return value


def script(t: Any, base: str) -> list[Any]:
    out: list[Any] = []

    def step(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            value = fn(*args)
        except OSError as e:
            out.append(errno.errorcode[e.errno or 0])
            return None
        out.append(norm(value))
        return value

    t.unshare(CLONE_NEWNS)
    t.mount("none", "/", None, 1 << 18 | 1 << 14)  # MS_PRIVATE | MS_REC: nothing leaks
    t.mkdir(base)
    t.mount("tmpfs", base, "tmpfs")
    t.mkdir(f"{base}/d")
    t.mkdir(f"{base}/d/sub")
    t.close(t.open(f"{base}/d/f", os.O_CREAT | os.O_WRONLY, 0o600))
    t.symlink("f", f"{base}/d/l")
    t.symlink("nope", f"{base}/d/dl")
    t.mkdir(f"{base}/bpf")
    t.mount("bpf", f"{base}/bpf", "bpf")
    d = t.open(f"{base}/d", os.O_RDONLY | os.O_DIRECTORY)
    p = t.open(f"{base}/d", O_PATH)
    f = t.open(f"{base}/d/f", os.O_RDONLY)
    lp = t.open(f"{base}/d/l", O_PATH | os.O_NOFOLLOW)
    m = t.map_create(1, 4, 8, 16)
    t.obj_pin(m, f"{base}/bpf/m")
    b = t.open(f"{base}/bpf", os.O_RDONLY | os.O_DIRECTORY)

    # openat: the dirfd only matters for a relative, non-empty name
    for dirfd, name, flags in [
        (d, "f", os.O_RDONLY), (p, "f", os.O_RDONLY), (CLOSED, "f", 0), (-5, "f", 0),
        (f, "f", 0), (m, "f", 0), (CLOSED, f"{base}/d/f", 0), (CLOSED, "", 0), (d, "", 0),
        (d, "nope", 0), (d, "sub", os.O_WRONLY), (d, "f/", 0), (AT_FDCWD, f"{base}/d", 0),
        (d, "l", os.O_NOFOLLOW), (d, "dl", os.O_CREAT | os.O_EXCL | os.O_WRONLY),
    ]:  # fmt: skip
        fd = step(t.openat, dirfd, name, flags, 0o644)
        out[-1] = "fd" if isinstance(fd, int) else out[-1]
        if isinstance(fd, int):
            t.close(fd)
    step(t.fstatat, d, "nope", 0)  # the dangling link's target was created above

    # mkdirat
    for dirfd, name in [
        (d, "new"), (d, "new"), (p, "viapath"), (CLOSED, "x"), (-5, "x"), (f, "x"), (m, "x"),
        (CLOSED, f"{base}/abs"), (CLOSED, ""), (AT_FDCWD, ""), (d, "f/x"), (d, "."),
        (b, "dir"),
    ]:  # fmt: skip
        step(t.mkdirat, dirfd, name, 0o755)
    step(t.mknodat, d, "fifo", stat.S_IFIFO | 0o600, 0)
    step(t.mknodat, CLOSED, "fifo2", stat.S_IFIFO | 0o600, 0)
    step(t.mknodat, f, "fifo2", stat.S_IFDIR | 0o600, 0)  # may_mknod before the dirfd

    # unlinkat: flags, then the name, then the dirfd
    for dirfd, name, flags in [
        (CLOSED, "x", BAD), (CLOSED, "", 0), (CLOSED, "x", 0), (f, "x", 0), (m, "x", 0),
        (d, "sub", 0), (d, "f", AT_REMOVEDIR), (d, "new", AT_REMOVEDIR), (d, ".", AT_REMOVEDIR),
        (d, "..", AT_REMOVEDIR), (d, ".", 0), (d, "", 0), (d, "nope", 0), (d, "f/", 0),
        (p, "viapath", AT_REMOVEDIR), (CLOSED, f"{base}/abs", AT_REMOVEDIR), (d, "fifo", 0),
        (b, "m", AT_REMOVEDIR), (d, "sub", AT_REMOVEDIR | 1),
    ]:  # fmt: skip
        step(t.unlinkat, dirfd, name, flags)

    # renameat2: flags, both names, then both walks (old first)
    t.close(t.openat(d, "g", os.O_CREAT | os.O_WRONLY, 0o600))
    for olddirfd, old, newdirfd, new, flags in [
        (CLOSED, "g", CLOSED, "h", 8), (CLOSED, "g", CLOSED, "h", 3), (CLOSED, "g", CLOSED, "h", 0),
        (d, "g", CLOSED, "h", 0), (d, "nope", CLOSED, "h", 0), (f, "g", d, "h", 0),
        (d, "g", f, "h", 0), (d, "", d, "h", 0), (d, "g", d, "f", RENAME_NOREPLACE),
        (d, "g", p, "h", RENAME_NOREPLACE), (p, "h", d, "f", RENAME_EXCHANGE),
        (d, "h", d, "nope", RENAME_EXCHANGE), (CLOSED, f"{base}/d/h", CLOSED, f"{base}/d/g", 0),
        (d, "g", b, "g", 0), (b, "m", b, "m2", 0), (b, "m2", d, "m", 0),
    ]:  # fmt: skip
        step(t.renameat2, olddirfd, old, newdirfd, new, flags)
    step(t.renameat, d, "g", d, "g2")
    step(t.renameat, CLOSED, "g2", d, "g")

    # linkat
    for olddirfd, old, newdirfd, new, flags in [
        (CLOSED, "g2", CLOSED, "x", BAD), (CLOSED, "g2", d, "x", 0), (d, "g2", CLOSED, "x", 0),
        (d, "g2", d, "hard", 0), (d, "l", d, "lnk", 0), (d, "l", d, "followed", AT_SYMLINK_FOLLOW),
        (d, "dl", d, "x", AT_SYMLINK_FOLLOW), (f, "", d, "fromfd", AT_EMPTY_PATH),
        (d, "", d, "x", AT_EMPTY_PATH), (d, "", d, "x", 0), (p, "", d, "x", AT_EMPTY_PATH),
        (d, "g2", b, "x", 0), (d, "sub", d, "x", 0),
    ]:  # fmt: skip
        step(t.linkat, olddirfd, old, newdirfd, new, flags)
    for name in ("lnk", "followed", "fromfd"):
        step(t.fstatat, d, name, AT_SYMLINK_NOFOLLOW)

    # symlinkat, readlinkat
    step(t.symlinkat, "target", d, "s")
    step(t.symlinkat, "target", CLOSED, "s2")
    step(t.symlinkat, "", d, "s3")
    step(t.symlinkat, "target", f, "s4")
    step(t.symlinkat, "target", d, "s")
    for dirfd, name in [
        (d, "l"), (d, "s"), (d, "f"), (d, ""), (lp, ""), (p, ""), (f, ""), (CLOSED, "l"),
        (f, "l"), (CLOSED, f"{base}/d/l"), (AT_FDCWD, f"{base}/d/dl"),
    ]:  # fmt: skip
        step(t.readlinkat, dirfd, name)

    # newfstatat
    for dirfd, name, flags in [
        (d, "f", 0), (d, "l", 0), (d, "l", AT_SYMLINK_NOFOLLOW), (d, "dl", 0),
        (d, "dl", AT_SYMLINK_NOFOLLOW), (f, "", AT_EMPTY_PATH), (p, "", AT_EMPTY_PATH),
        (lp, "", AT_EMPTY_PATH), (lp, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW),
        (d, "f", BAD), (CLOSED, "f", BAD), (CLOSED, "", 0), (CLOSED, "", AT_EMPTY_PATH),
        (d, "", 0), (f, "x", 0), (AT_FDCWD, "", AT_EMPTY_PATH), (b, "m", 0), (d, "f/", 0),
        (CLOSED, f"{base}/d", 0), (d, "", AT_EMPTY_PATH | BAD),
    ]:  # fmt: skip
        step(t.fstatat, dirfd, name, flags)

    # statx
    t.chdir(base)  # the cwd is the scratch tmpfs (the sandbox's / is not pinfs's rootfs)
    for dirfd, name, flags, mask in [
        (d, "f", 0, 0xFFF), (d, "f", 0, 0), (d, "f", 0, 0x7FF), (d, "l", AT_SYMLINK_NOFOLLOW, 0xFFF),
        (AT_FDCWD, base, 0, 0xFFF), (AT_FDCWD, f"{base}/bpf", 0, 0xFFF), (b, "m", 0, 0xFFF),
        (d, "f", 0, 0x80000000), (d, "f", AT_STATX_SYNC_TYPE, 0x7FF), (d, "f", 0x2000, 0x7FF),
        (d, "f", BAD, 0x7FF), (CLOSED, "f", 0, 0x7FF), (f, "x", 0, 0x7FF), (d, "", 0, 0x7FF),
        (f, "", AT_EMPTY_PATH, 0xFFF), (p, "", AT_EMPTY_PATH, 0x7FF), (CLOSED, "", AT_EMPTY_PATH, 1),
        (CLOSED, "f", BAD, 0x80000000), (f, "", AT_EMPTY_PATH | BAD, 0x7FF),
        (f, "", AT_EMPTY_PATH | AT_STATX_SYNC_TYPE, 0x7FF), (m, "", AT_EMPTY_PATH, 0x7FF),
        (AT_FDCWD, "", AT_EMPTY_PATH, 0x7FF),
    ]:  # fmt: skip
        step(t.statx, dirfd, name, flags, mask)

    # faccessat, faccessat2
    for dirfd, name, mode in [
        (d, "f", os.R_OK), (d, "f", os.X_OK), (d, "f", 8), (CLOSED, "f", 8), (CLOSED, "f", 0),
        (f, "f", 0), (d, "dl", 0), (d, "", 0), (p, "sub", os.W_OK | os.X_OK),
    ]:  # fmt: skip
        step(t.faccessat, dirfd, name, mode)
    for dirfd, name, mode, flags in [
        (d, "dl", 0, AT_SYMLINK_NOFOLLOW), (d, "dl", 0, 0), (d, "f", 0, BAD), (d, "f", 8, BAD),
        (f, "", os.R_OK, AT_EMPTY_PATH), (f, "", os.R_OK, 0), (d, "f", os.R_OK, AT_EACCESS),
    ]:  # fmt: skip
        step(t.faccessat2, dirfd, name, mode, flags)

    # fchmodat, fchmod, fchownat, fchown
    step(t.fchmodat, d, "f", 0o640)
    step(t.fchmodat, CLOSED, "f", 0o640)
    step(t.fchmodat, d, "l", 0o604)  # follows to f
    step(t.fchmodat, p, "", 0o700)
    step(t.fstatat, d, "f", 0)
    step(t.fchmod, f, 0o600)
    step(t.fchmod, p, 0o700)
    step(t.fchmod, CLOSED, 0o700)
    for dirfd, name, flags in [
        (d, "f", BAD), (CLOSED, "f", BAD), (d, "l", AT_SYMLINK_NOFOLLOW), (f, "", AT_EMPTY_PATH),
        (f, "", 0), (CLOSED, "f", 0), (p, "sub", 0),
    ]:  # fmt: skip
        step(t.fchownat, dirfd, name, 5, 6, flags)
    step(t.fstatat, d, "l", AT_SYMLINK_NOFOLLOW)
    step(t.fstatat, d, "f", 0)
    step(t.fchown, f, 7, -1)
    step(t.fchown, p, 7, 7)
    step(t.fstatat, d, "f", 0)
    step(t.lchown, f"{base}/d/dl", 9, 9)
    step(t.fstatat, d, "dl", AT_SYMLINK_NOFOLLOW)

    # the real ids for access, the effective ones with AT_EACCESS; EROFS
    t.mkdir(f"{base}/ro")
    t.mount(f"{base}/d", f"{base}/ro", None, MS_BIND)
    t.mount(None, f"{base}/ro", None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    step(t.faccessat, AT_FDCWD, f"{base}/ro/f", os.W_OK)
    step(t.faccessat, AT_FDCWD, f"{base}/ro/fifo2", os.W_OK)
    step(t.faccessat, AT_FDCWD, f"{base}/ro/nope", os.W_OK)
    step(t.unlinkat, AT_FDCWD, f"{base}/ro/f", 0)
    step(t.mkdirat, AT_FDCWD, f"{base}/ro/x", 0o700)
    t.mkdir(f"{base}/pub")
    t.chmod(f"{base}/pub", 0o777)
    t.setresuid(1000, 0, 0)
    step(t.faccessat, d, "f", os.R_OK)
    step(t.faccessat2, d, "f", os.R_OK, AT_EACCESS)
    step(t.faccessat, d, "sub", os.X_OK)

    # linkat's AT_EMPTY_PATH without CAP_DAC_READ_SEARCH: only an fd we opened ourselves
    t.setresuid(1000, 1000, 1000)
    pub = t.open(f"{base}/pub", O_PATH)
    mine = t.openat(pub, "mine", os.O_CREAT | os.O_WRONLY, 0o600)
    step(t.linkat, mine, "", pub, "mine2", AT_EMPTY_PATH)
    step(t.linkat, f, "", pub, "x", AT_EMPTY_PATH)  # opened with root's credentials
    step(t.linkat, AT_FDCWD, "", pub, "y", AT_EMPTY_PATH)
    step(t.linkat, CLOSED, "", pub, "z", AT_EMPTY_PATH)
    step(t.linkat, mine, "", pub, "mine2", AT_EMPTY_PATH)
    step(t.fstatat, pub, "mine2", 0)
    return out


def dents_script(t: Any, base: str) -> list[Any]:
    """getdents64 with a small buffer: records per call, EINVAL, the cursor, lseek."""
    out: list[Any] = []
    t.unshare(CLONE_NEWNS)
    t.mount("none", "/", None, 1 << 18 | 1 << 14)
    t.mkdir(base)
    t.mount("tmpfs", base, "tmpfs")
    for name in ("a1", "a2", "a3", "a4", "a5"):
        t.mkdir(f"{base}/{name}")
    d = t.open(base, os.O_RDONLY | os.O_DIRECTORY)
    p = t.open(base, O_PATH)
    f = t.open(f"{base}/a1", os.O_RDONLY)

    def dents(fd: int, count: int) -> Any:
        try:
            return [(e.d_name, e.d_type) for e in parse_dirents(t.getdents64(fd, count))]
        except OSError as e:
            return errno.errorcode[e.errno or 0]

    out.append(dents(d, 10))  # smaller than one 24-byte record
    out.append(dents(d, 23))
    seen: list[Any] = []
    sizes = []
    while True:
        chunk = dents(d, 50)
        if not chunk:
            break
        sizes.append(len(chunk))
        seen += chunk
    out.append(sizes)
    out.append(sorted(seen))
    out.append(dents(d, 50))  # at the end: nothing
    out.append(t.lseek(d, 0, os.SEEK_SET))
    out.append(sorted(dents(d, 4096)) == sorted(seen))
    out.append(dents(p, 4096))
    out.append(dents(f, 4096))
    out.append(dents(CLOSED, 4096))
    t.rmdir(f"{base}/a5")
    t.lseek(d, 0, os.SEEK_SET)
    out.append(len(dents(d, 4096)))
    return out


RESOLVE_NO_XDEV, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS = 0x01, 0x02, 0x04
RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_CACHED = 0x08, 0x10, 0x20


def openat2_script(t: Any, base: str) -> list[Any]:
    """openat2's argument checks and each RESOLVE_* restriction of the walk."""
    out: list[Any] = []
    t.unshare(CLONE_NEWNS)
    t.mount("none", "/", None, 1 << 18 | 1 << 14)
    t.mkdir(base)
    t.mount("tmpfs", base, "tmpfs")
    for d in ("top", "top/in", "top/mnt", "proc"):
        t.mkdir(f"{base}/{d}")
    t.mount("tmpfs", f"{base}/top/mnt", "tmpfs")
    t.mount("proc", f"{base}/proc", "proc")
    t.close(t.open(f"{base}/top/in/f", os.O_CREAT | os.O_WRONLY, 0o600))
    t.close(t.open(f"{base}/outside", os.O_CREAT | os.O_WRONLY, 0o600))
    t.close(t.open(f"{base}/top/mnt/g", os.O_CREAT | os.O_WRONLY, 0o600))
    t.symlink("in/f", f"{base}/top/rel")
    t.symlink(f"{base}/top/in/f", f"{base}/top/abs")
    t.symlink("../outside", f"{base}/top/up")
    t.symlink("/in/f", f"{base}/top/rootabs")  # inside the dirfd only with RESOLVE_IN_ROOT
    t.symlink("mnt/g", f"{base}/top/tomnt")
    top = t.open(f"{base}/top", os.O_RDONLY | os.O_DIRECTORY)
    ptop = t.open(f"{base}/top", O_PATH)
    f = t.open(f"{base}/top/in/f", os.O_RDONLY)
    magic = f"{base}/proc/self/fd/{f}"

    def step(dirfd: int, name: str, flags: int = 0, mode: int = 0, resolve: int = 0) -> None:
        try:
            fd = t.openat2(dirfd, name, flags, mode, resolve)
        except OSError as e:
            out.append(errno.errorcode[e.errno or 0])
            return
        out.append(("fd", t.fcntl(fd, 3)))  # F_GETFL
        t.close(fd)

    # the arguments, checked before the name
    step(CLOSED, "", 1 << 40)
    step(CLOSED, "", 0, 0, 0x40)
    step(CLOSED, "", 0, 0, RESOLVE_BENEATH | RESOLVE_IN_ROOT)
    step(CLOSED, "", 0, 0o644)
    step(CLOSED, "", os.O_CREAT | os.O_WRONLY, 0o10000)
    step(CLOSED, "", os.O_CREAT | os.O_DIRECTORY, 0o600)
    step(CLOSED, "", O_PATH | os.O_RDWR)
    step(CLOSED, "", os.O_CREAT | os.O_WRONLY, 0o600, RESOLVE_CACHED)
    step(CLOSED, "", os.O_TRUNC | os.O_WRONLY, 0, RESOLVE_CACHED)
    step(CLOSED, "x")
    step(top, "")
    # plain opens, O_PATH, O_CLOEXEC, O_CREAT with a mode
    step(top, "in/f")
    step(ptop, "in/f", O_PATH | os.O_NOFOLLOW)
    step(top, "in/f", os.O_RDONLY | os.O_CLOEXEC)
    step(top, "in/new", os.O_CREAT | os.O_WRONLY, 0o640)
    step(AT_FDCWD, f"{base}/top/in/f")
    # RESOLVE_NO_SYMLINKS, RESOLVE_NO_MAGICLINKS
    for name, flags in (("rel", 0), ("abs", 0), ("rel", O_PATH | os.O_NOFOLLOW), ("in/f", 0)):
        step(top, name, flags, 0, RESOLVE_NO_SYMLINKS)
    step(AT_FDCWD, magic, 0, 0, 0)
    step(AT_FDCWD, magic, 0, 0, RESOLVE_NO_MAGICLINKS)
    step(AT_FDCWD, magic, 0, 0, RESOLVE_NO_SYMLINKS)
    step(AT_FDCWD, f"{base}/proc/self/fd", os.O_DIRECTORY, 0, RESOLVE_NO_MAGICLINKS)
    # RESOLVE_NO_XDEV
    for name in ("mnt/g", "tomnt", "in/f", "abs", "mnt/..", "rel"):
        step(top, name, 0, 0, RESOLVE_NO_XDEV)
    step(AT_FDCWD, f"{base}/top/in/f", 0, 0, RESOLVE_NO_XDEV)
    step(AT_FDCWD, magic, 0, 0, RESOLVE_NO_XDEV)
    # RESOLVE_BENEATH and RESOLVE_IN_ROOT
    for resolve in (RESOLVE_BENEATH, RESOLVE_IN_ROOT):
        for name in ("in/f", "rel", "abs", "up", "..", "in/../in/f", "in/../../outside",
                     f"{base}/top/in/f", "/in/f", "rootabs", "mnt/g", "tomnt"):  # fmt: skip
            step(top, name, 0, 0, resolve)
        step(AT_FDCWD, magic, 0, 0, resolve)
    step(f, "x", 0, 0, RESOLVE_BENEATH)
    step(f, "", 0, 0, RESOLVE_BENEATH)
    return out


def _compare(on_pinfs: list[Any], on_live: list[Any]) -> None:
    assert len(on_pinfs) == len(on_live)
    bad = [
        f"step {i}: pinfs {a!r}, live {b!r}"
        for i, (a, b) in enumerate(zip(on_pinfs, on_live, strict=True))
        if a != b
    ]
    assert not bad, "\n".join(bad)


def _both(live: Any, fn: Callable[[Any, str], list[Any]], base: str) -> tuple[list[Any], list[Any]]:
    k = pinfs.Kernel(LINUX_6_18)
    on_pinfs = fn(k.init_task.fork(), base)
    child = live.init_task.fork()
    try:
        on_live = fn(child, base)
    finally:
        child.exit(0)
    return on_pinfs, on_live


def test_every_at_call_agrees_with_the_live_kernel(live: Any) -> None:
    on_pinfs, on_live = _both(live, script, "/tmp/surface-at")
    _compare(on_pinfs, on_live)
    names = [v for v in on_pinfs if isinstance(v, str)]
    for err in ("EBADF", "ENOTDIR", "EINVAL", "ENOENT", "EEXIST", "EROFS", "EACCES"):
        assert err in names, err


def test_openat2_and_resolve_flags_agree_with_the_live_kernel(live: Any) -> None:
    on_pinfs, on_live = _both(live, openat2_script, "/tmp/surface-openat2")
    _compare(on_pinfs, on_live)
    for err in ("EINVAL", "EAGAIN", "ELOOP", "EXDEV"):
        assert err in on_pinfs, err


def test_getdents64_with_a_small_buffer_agrees_with_the_live_kernel(live: Any) -> None:
    on_pinfs, on_live = _both(live, dents_script, "/tmp/surface-dents")
    _compare(on_pinfs, on_live)
    assert on_pinfs[0] == "EINVAL" and on_pinfs[2] == [2, 2, 2, 1]
