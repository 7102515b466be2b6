"""Differential tests: the same generic-VFS scenarios against pinfs and the live kernel.

Every scenario is a function ``scenario(k, base) -> list`` that takes a kernel-like
object (:class:`pinfs.Kernel` or :class:`pinfs.live.kernel.LiveKernel`) and a fresh,
empty directory ``base`` under ``/tmp``, runs a few syscalls and returns what each
step gave: ``"ok"``, the errno name, or a normalised value (stat results keep only
file type and mode, link count, owner and group; never inode numbers, devices or
times).  The test runs the scenario on a fresh pinfs kernel and on one shared
:class:`LiveKernel` (module-scoped, each scenario in its own directory) and compares.

Only behaviour that did not change between Linux 4.4 and today's kernel is compared
here (see section 11 of the seed semantics); the live machine's ``fs.protected_*``
sysctls are copied into pinfs, and nothing depends on ``fs.protected_regular``
(which 4.4 does not have).  Spawned tasks get explicit capability lists, because a
live root only has the host's bounding set.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable
from typing import Any

import pytest

import pinfs
from pinfs.base.cred import (
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    CAP_MKNOD,
    CAP_SETGID,
    CAP_SETUID,
    CAP_SYS_ADMIN,
)

pytestmark = pytest.mark.live

CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MNT_DETACH = 2
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RLIMIT_NOFILE = 7
O_PATH = 0o10000000

Scenario = Callable[[Any, str], list[Any]]
SCENARIOS: list[Scenario] = []


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS.append(fn)
    return fn


# ---------------------------------------------------------------------------------------
# Fixtures


def _live_sysctls() -> dict[str, int]:
    values = {}
    for name in ("protected_symlinks", "protected_hardlinks"):
        try:
            with open(f"/proc/sys/fs/{name}") as f:
                values[f"fs.{name}"] = int(f.read())
        except OSError:
            values[f"fs.{name}"] = 0
    return values


def fresh_pinfs() -> pinfs.Kernel:
    k = pinfs.Kernel()
    k.sysctl.update(_live_sysctls())
    return k


# ---------------------------------------------------------------------------------------
# Recording helpers


def norm(value: Any) -> Any:
    """Make a syscall result comparable across the two kernels."""
    if value is None:
        return "ok"
    if hasattr(value, "st_mode") and hasattr(value, "st_nlink"):
        mode = value.st_mode
        out = (stat.filemode(mode), oct(mode), value.st_nlink, value.st_uid, value.st_gid)
        if not stat.S_ISDIR(mode):  # tmpfs directory sizes differ between versions
            out += (value.st_size,)
        return out
    if hasattr(value, "f_type"):
        return hex(value.f_type)
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    return value


class Rec:
    """Run steps and record ``(label, outcome)`` pairs."""

    def __init__(self) -> None:
        self.out: list[Any] = []

    def __call__(self, label: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            value = fn(*args, **kw)
        except OSError as e:
            self.out.append((label, errno.errorcode.get(e.errno or 0, e.errno)))
            return None
        is_fd = isinstance(value, int) and not isinstance(value, bool)
        self.out.append((label, "fd" if is_fd else norm(value)))
        return value

    def raw(self, label: str, fn: Callable[..., Any], *args: Any) -> None:
        """Like calling the recorder, but keep an int result as it is."""
        try:
            value = fn(*args)
        except OSError as e:
            self.out.append((label, errno.errorcode.get(e.errno or 0, e.errno)))
            return
        self.out.append((label, norm(value)))

    def val(self, label: str, value: Any) -> None:
        self.out.append((label, norm(value) if not isinstance(value, bool) else value))


def spawn(k: Any, uid: int, gid: int | None = None, groups: tuple[int, ...] = (), caps=()) -> Any:
    return k.spawn(uid=uid, gid=uid if gid is None else gid, groups=groups, caps=list(caps))


def prepare(k: Any, base: str, mode: int = 0o777) -> Any:
    t = k.init_task
    t.mkdir(base, 0o700)
    t.chmod(base, mode)
    return t


# ---------------------------------------------------------------------------------------
# Scenarios


@scenario
def s47_s48_s49_filename_create_order(k: Any, base: str) -> list[Any]:
    """filename_create: EEXIST for dots/root and existing names (dangling symlinks too),
    ENOENT for a trailing slash except for mkdir; open(O_CREAT) of "x/" is EISDIR."""
    t = prepare(k, base)
    r = Rec()
    t.mkdir(f"{base}/d")
    t.mknod(f"{base}/f", stat.S_IFREG | 0o644)
    t.symlink("nowhere", f"{base}/dangling")
    for p in (".", "..", "/", f"{base}/.", f"{base}/..", f"{base}/d/", base + "//"):
        r(f"mkdir {p}", t.mkdir, p)
    for p in ("d", "f", "dangling"):
        r(f"mkdir {p}", t.mkdir, f"{base}/{p}")
        r(f"mknod {p}", t.mknod, f"{base}/{p}", stat.S_IFREG | 0o600)
        r(f"symlink {p}", t.symlink, "x", f"{base}/{p}")
        r(f"link {p}", t.link, f"{base}/f", f"{base}/{p}")
    r("mkdir new/", t.mkdir, f"{base}/new/")
    r("mkdir new2//", t.mkdir, f"{base}/new2//")
    r("mknod x/", t.mknod, f"{base}/x/", stat.S_IFREG | 0o600)
    r("symlink y/", t.symlink, "t", f"{base}/y/")
    r("link z/", t.link, f"{base}/f", f"{base}/z/")
    r("open creat w/", t.open, f"{base}/w/", os.O_CREAT | os.O_WRONLY, 0o600)
    r("mknod missing/x", t.mknod, f"{base}/missing/x", stat.S_IFREG)
    r("mkdir f/x", t.mkdir, f"{base}/f/x")
    r("mkdir ''", t.mkdir, "")
    r("listdir", lambda: sorted(t.listdir(base)))
    return r.out


@scenario
def s50_erofs_comes_last(k: Any, base: str) -> list[Any]:
    """filename_create remembers EROFS and reports it after EEXIST/ENOENT/lookup
    errors; do_unlinkat/do_rmdir report EROFS before the lookup."""
    t = prepare(k, base)
    r = Rec()
    m = f"{base}/m"
    t.mkdir(m)
    t.mount("none", m, "tmpfs")
    t.mkdir(f"{m}/d")
    t.mknod(f"{m}/f", stat.S_IFREG | 0o644)
    r("remount ro", t.mount, None, m, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    r("mkdir existing", t.mkdir, f"{m}/d")
    r("mkdir .", t.mkdir, f"{m}/.")
    r("mkdir new", t.mkdir, f"{m}/new")
    r("mkdir new/", t.mkdir, f"{m}/new/")
    r("mknod new/", t.mknod, f"{m}/new/", stat.S_IFREG)
    r("mknod new", t.mknod, f"{m}/new", stat.S_IFREG)
    r("mkdir 256", t.mkdir, f"{m}/" + "n" * 256)
    r("symlink", t.symlink, "x", f"{m}/s")
    r("open creat", t.open, f"{m}/new", os.O_CREAT | os.O_WRONLY)
    r("open creat existing excl", t.open, f"{m}/f", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    r("open wronly", t.open, f"{m}/f", os.O_WRONLY)
    fd = r("open rdonly", t.open, f"{m}/f", os.O_RDONLY)
    if fd is not None:
        t.close(fd)
    r("unlink missing", t.unlink, f"{m}/missing")
    r("unlink .", t.unlink, f"{m}/.")
    r("rmdir ..", t.rmdir, f"{m}/d/..")
    r("rmdir .", t.rmdir, f"{m}/d/.")
    r("rmdir missing", t.rmdir, f"{m}/missing")
    r("rename", t.rename, f"{m}/f", f"{m}/g")
    r("chmod", t.chmod, f"{m}/f", 0o600)
    r("truncate", t.truncate, f"{m}/f", 0)
    r("remount rw", t.mount, None, m, None, MS_REMOUNT | MS_BIND)
    r("mkdir after rw", t.mkdir, f"{m}/new")
    r("umount", t.umount, m)
    ro = f"{base}/ro"
    t.mkdir(ro)
    r("mount ro", t.mount, "none", ro, "tmpfs", MS_RDONLY)
    r("mkdir in ro sb", t.mkdir, f"{ro}/x")
    r("open dir ro sb", lambda: t.close(t.open(ro, os.O_RDONLY)))
    r.raw("statfs flags", lambda: t.statfs(ro).f_flags & 1)
    r("umount ro", t.umount, ro)
    return r.out


@scenario
def s53_may_create_needs_write_and_search(k: Any, base: str) -> list[Any]:
    """may_create: EACCES without w+x on the parent, for every kind of creation;
    EACCES comes before the CAP_MKNOD check (vfs_mknod)."""
    t = prepare(k, base, 0o755)
    u = spawn(k, 1000)
    r = Rec()
    try:
        for mode in (0o755, 0o733, 0o777 & ~0o001, 0o777):
            d = f"{base}/d{mode:o}"
            t.mkdir(d)
            t.chmod(d, mode)
            r(f"{mode:o} mkdir", u.mkdir, f"{d}/a")
            r(f"{mode:o} mknod", u.mknod, f"{d}/b", stat.S_IFREG | 0o644)
            r(f"{mode:o} mknod fifo", u.mknod, f"{d}/c", stat.S_IFIFO | 0o644)
            r(f"{mode:o} mknod chr", u.mknod, f"{d}/e", stat.S_IFCHR | 0o644, os.makedev(1, 3))
            r(f"{mode:o} symlink", u.symlink, "x", f"{d}/s")
            r(f"{mode:o} open creat", u.open, f"{d}/o", os.O_CREAT | os.O_WRONLY, 0o644)
            r(f"{mode:o} listdir", lambda d=d: sorted(t.listdir(d)))
        r("mkdir in base", u.mkdir, f"{base}/x")
    finally:
        u.exit(0)
    return r.out


@scenario
def s77_sticky_directory(k: Any, base: str) -> list[Any]:
    """check_sticky: in a 01777 dir only the file's owner, the dir's owner or
    CAP_FOWNER may unlink, rmdir or rename."""
    t = prepare(k, base, 0o1777)
    a = spawn(k, 1000)
    b = spawn(k, 1001)
    fowner = spawn(k, 1002, caps=[CAP_FOWNER])
    r = Rec()
    try:
        a.mknod(f"{base}/fa", stat.S_IFREG | 0o666)
        a.mkdir(f"{base}/da")
        a.chmod(f"{base}/da", 0o777)
        a.mknod(f"{base}/fa2", stat.S_IFREG | 0o666)
        a.mknod(f"{base}/fa3", stat.S_IFREG | 0o666)
        r("b unlink", b.unlink, f"{base}/fa")
        r("b rmdir", b.rmdir, f"{base}/da")
        r("b rename away", b.rename, f"{base}/fa", f"{base}/fb")
        b.mknod(f"{base}/fb", stat.S_IFREG | 0o666)
        r("a rename over b's", a.rename, f"{base}/fa2", f"{base}/fb")
        r("b rename own over a's", b.rename, f"{base}/fb", f"{base}/fa2")
        r("b create in a's dir", b.mknod, f"{base}/da/x", stat.S_IFREG | 0o666)
        r("a unlink b's file in a's non-sticky dir", a.unlink, f"{base}/da/x")
        r("fowner unlink", fowner.unlink, f"{base}/fa3")
        r("a unlink own", a.unlink, f"{base}/fa")
        r("a rmdir own", a.rmdir, f"{base}/da")
        # The owner of a sticky directory may delete anything in it.
        sd = f"{base}/sd"
        b.mkdir(sd, 0o777)
        b.chmod(sd, 0o1777)
        a.mknod(f"{sd}/fa", stat.S_IFREG | 0o644)
        r("dir owner unlink", b.unlink, f"{sd}/fa")
        r("root unlink", t.unlink, f"{base}/fa2")
        r("listdir", lambda: sorted(t.listdir(base)))
    finally:
        for task in (a, b, fowner):
            task.exit(0)
    return r.out


@scenario
def s46_search_permission(k: Any, base: str) -> list[Any]:
    """may_lookup on every directory walked: EACCES; stat of the dir itself is fine;
    reading a directory needs r, walking through it needs x."""
    t = prepare(k, base, 0o755)
    u = spawn(k, 1000)
    r = Rec()
    try:
        for mode in (0o700, 0o711, 0o744, 0o755):
            d = f"{base}/d{mode:o}"
            t.mkdir(d)
            t.mkdir(f"{d}/sub")
            t.mknod(f"{d}/f", stat.S_IFREG | 0o644)
            t.chmod(d, mode)
            r(f"{mode:o} stat dir", u.stat, d)
            r(f"{mode:o} stat dir/", u.stat, f"{d}/")
            r(f"{mode:o} stat f", u.stat, f"{d}/f")
            r(f"{mode:o} stat .", u.stat, f"{d}/.")
            r(f"{mode:o} stat sub/..", u.stat, f"{d}/sub/..")
            r(f"{mode:o} stat missing", u.stat, f"{d}/missing")
            r(f"{mode:o} listdir", lambda d=d: sorted(u.listdir(d)))
            r(f"{mode:o} chdir", u.chdir, d)
            r(f"{mode:o} open f", lambda d=d: u.close(u.open(f"{d}/f")))
        u.chdir(f"{base}/d755")
        r("relative", u.stat, "sub/../f")
        t.chmod(f"{base}/d755/sub", 0o700)
        r("relative through 0700", u.stat, "sub/../f")
    finally:
        u.exit(0)
    return r.out


@scenario
def trailing_slashes(k: Any, base: str) -> list[Any]:
    """lookup_last: a trailing slash means "must be a directory" (following a final
    symlink); unlink/rmdir/rename/link apply their own trailing-slash rules."""
    t = prepare(k, base)
    r = Rec()
    t.mkdir(f"{base}/d")
    t.mkdir(f"{base}/d2")
    t.mknod(f"{base}/f", stat.S_IFREG | 0o644)
    t.symlink("d", f"{base}/ld")
    t.symlink("f", f"{base}/lf")
    for p in ("f/", "d/", "d//", "ld/", "lf/", "missing/", "f/.", "d/."):
        r(f"stat {p}", t.stat, f"{base}/{p}")
        r(f"lstat {p}", t.lstat, f"{base}/{p}")
    r("open f/", t.open, f"{base}/f/")
    r("open ld/ O_NOFOLLOW", lambda: t.close(t.open(f"{base}/ld/", os.O_NOFOLLOW)))
    r("unlink f/", t.unlink, f"{base}/f/")
    r("unlink d/", t.unlink, f"{base}/d/")
    r("unlink ld/", t.unlink, f"{base}/ld/")
    r("unlink missing/", t.unlink, f"{base}/missing/")
    r("rmdir f/", t.rmdir, f"{base}/f/")
    r("rmdir ld/", t.rmdir, f"{base}/ld/")
    r("rename f/ g", t.rename, f"{base}/f/", f"{base}/g")
    r("rename f g/", t.rename, f"{base}/f", f"{base}/g/")
    r("rename d/ e/", t.rename, f"{base}/d/", f"{base}/e/")
    r("rename e d2/", t.rename, f"{base}/e", f"{base}/d2/")
    r("link f g/", t.link, f"{base}/f", f"{base}/g/")
    r("link f/ g", t.link, f"{base}/f/", f"{base}/g")
    r("rmdir d2//", t.rmdir, f"{base}/d2//")
    r("chmod lf/", t.chmod, f"{base}/lf/", 0o600)
    r("listdir", lambda: sorted(t.listdir(base)))
    return r.out


@scenario
def s74_readdir_order_ramfs(k: Any, base: str) -> list[Any]:
    """dcache_readdir: newest first; a re-created or renamed name goes first again;
    RENAME_EXCHANGE puts both names at the head (d_exchange/__d_move)."""
    t = prepare(k, base)
    r = Rec()
    m = f"{base}/m"
    t.mkdir(m)
    t.mount("none", m, "ramfs")
    for n in "abcde":
        t.mknod(f"{m}/{n}", stat.S_IFREG | 0o644)
    r("initial", t.listdir, m)
    t.unlink(f"{m}/b")
    t.mknod(f"{m}/b", stat.S_IFREG | 0o644)
    r("recreated", t.listdir, m)
    t.mkdir(f"{m}/dir")
    t.symlink("a", f"{m}/sym")
    r("mixed", t.listdir, m)
    t.rename(f"{m}/c", f"{m}/c2")
    r("renamed", t.listdir, m)
    t.rename(f"{m}/a", f"{m}/e")
    r("renamed over", t.listdir, m)
    t.rename(f"{m}/b", f"{m}/dir/b")
    r("moved out", t.listdir, m)
    r("moved in", t.listdir, f"{m}/dir")
    r("umount", t.umount, m)
    return r.out


@scenario
def s74_readdir_order_tmpfs_exchange(k: Any, base: str) -> list[Any]:
    """RENAME_EXCHANGE (shmem_rename2 + d_exchange): both dentries move to the head
    of their (new) parent's list, the source's dentry last, so it lists first."""
    t = prepare(k, base)
    r = Rec()
    m = f"{base}/m"
    t.mkdir(m)
    t.mount("none", m, "tmpfs")
    for n in "abcd":
        t.mknod(f"{m}/{n}", stat.S_IFREG | 0o644)
    r("initial", t.listdir, m)
    r("exchange a c", t.rename, f"{m}/a", f"{m}/c", RENAME_EXCHANGE)
    r("after exchange", t.listdir, m)
    t.mkdir(f"{m}/sub")
    t.mknod(f"{m}/sub/x", stat.S_IFREG | 0o600)
    t.mknod(f"{m}/sub/y", stat.S_IFREG | 0o600)
    r("exchange b sub/x", t.rename, f"{m}/b", f"{m}/sub/x", RENAME_EXCHANGE)
    r("after cross exchange", t.listdir, m)
    r("sub", t.listdir, f"{m}/sub")
    r("modes", lambda: [t.stat(f"{m}/{n}") for n in ("a", "c", "sub")])
    r("umount", t.umount, m)
    return r.out


@scenario
def s46_eloop_after_40_links(k: Any, base: str) -> list[Any]:
    """MAXSYMLINKS: 40 links in one walk are followed, the 41st gives ELOOP."""
    t = prepare(k, base)
    r = Rec()
    t.mkdir(f"{base}/d")
    t.mknod(f"{base}/d/f", stat.S_IFREG | 0o644)
    t.symlink("d", f"{base}/l1")
    for i in range(2, 42):
        t.symlink(f"l{i - 1}", f"{base}/l{i}")
    for i in (39, 40, 41):
        r(f"stat l{i}", t.stat, f"{base}/l{i}")
        r(f"lstat l{i}", t.lstat, f"{base}/l{i}")
        r(f"stat l{i}/f", t.stat, f"{base}/l{i}/f")
        r(f"stat l{i}/", t.stat, f"{base}/l{i}/")
        r(f"open l{i}", lambda i=i: t.close(t.open(f"{base}/l{i}", os.O_RDONLY)))
        r(f"mkdir l{i}/x", t.mkdir, f"{base}/l{i}/x{i}")
    t.symlink("loop", f"{base}/loop")
    r("self loop stat", t.stat, f"{base}/loop")
    r("self loop lstat", t.lstat, f"{base}/loop")
    r("self loop readlink", t.readlink, f"{base}/loop")
    r("self loop open creat", t.open, f"{base}/loop", os.O_CREAT | os.O_WRONLY)
    t.symlink("l20/f", f"{base}/m20")
    t.symlink("m20", f"{base}/n")
    r("two chains", t.stat, f"{base}/n")
    return r.out


@scenario
def s46_name_and_path_limits(k: Any, base: str) -> list[Any]:
    """NAME_MAX 255 per component (simple_lookup), PATH_MAX 4096 with the NUL
    (getname): 4095 bytes are fine, 4096 give ENAMETOOLONG."""
    t = prepare(k, base)
    r = Rec()
    n255, n256 = "a" * 255, "b" * 256
    r("mkdir 255", t.mkdir, f"{base}/{n255}")
    r("mkdir 256", t.mkdir, f"{base}/{n256}")
    r("stat 256", t.stat, f"{base}/{n256}")
    r("stat 256 intermediate", t.stat, f"{base}/{n256}/x")
    r("mknod 256", t.mknod, f"{base}/{n256}", stat.S_IFREG)
    r("open creat 256", t.open, f"{base}/{n256}", os.O_CREAT | os.O_WRONLY)
    r("symlink 256", t.symlink, "x", f"{base}/{n256}")
    r("symlink target 256", t.symlink, n256, f"{base}/s")
    r("stat via long target", t.stat, f"{base}/s")
    r("unlink 256", t.unlink, f"{base}/{n256}")
    r("rmdir 256", t.rmdir, f"{base}/{n256}")
    r("rename to 256", t.rename, f"{base}/{n255}", f"{base}/{n256}")
    r("mkdir 127 two-byte chars + 1", t.mkdir, f"{base}/" + "é" * 127 + "a")
    r("mkdir 128 two-byte chars", t.mkdir, f"{base}/" + "é" * 128)
    r("stat 2048 two-byte chars", t.stat, "é" * 2048)
    p4095 = base + "/" * (4095 - len(base))
    p4096 = base + "/" * (4096 - len(base))
    r("stat 4095", lambda: oct(t.stat(p4095).st_mode))
    r("stat 4096", t.stat, p4096)
    r("mkdir 4096", t.mkdir, p4096 + "x")
    deep = base + "/./" * ((4095 - len(base)) // 3)
    deep += "/" * (4095 - len(deep))
    r("stat dots 4095", lambda: oct(t.stat(deep).st_mode))
    r("symlink body 4095", t.symlink, "x" * 4095, f"{base}/long")
    r.raw("readlink body", lambda: len(t.readlink(f"{base}/long")))
    r("symlink body 4096", t.symlink, "x" * 4096, f"{base}/long2")
    return r.out


@scenario
def s76_unlink_error_order(k: Any, base: str) -> list[Any]:
    """do_unlinkat + may_delete + vfs_unlink, in order."""
    t = prepare(k, base, 0o755)
    u = spawn(k, 1000)
    r = Rec()
    try:
        t.mkdir(f"{base}/d")
        t.mknod(f"{base}/f", stat.S_IFREG | 0o666)
        t.symlink("d", f"{base}/ld")
        for p in (".", "..", "d/.", "d/..", "missing", "missing/x", "f/x", "d", "d/", "f/"):
            r(f"unlink {p}", t.unlink, f"{base}/{p}")
        r("unlink /", t.unlink, "/")
        r("unlink ''", t.unlink, "")
        r("user unlink f", u.unlink, f"{base}/f")
        r("user unlink missing", u.unlink, f"{base}/missing")
        r("user unlink d", u.unlink, f"{base}/d")
        r("unlink symlink to dir", t.unlink, f"{base}/ld")
        t.mkdir(f"{base}/mp")
        t.mount("none", f"{base}/mp", "tmpfs")
        r("unlink mountpoint dir", t.unlink, f"{base}/mp")
        r("umount", t.umount, f"{base}/mp")
        t.mknod(f"{base}/g", stat.S_IFREG | 0o644)
        r("bind file over file", t.mount, f"{base}/f", f"{base}/g", None, MS_BIND)
        r("unlink bind-mounted file", t.unlink, f"{base}/g")
        r("rename over bind-mounted file", t.rename, f"{base}/f", f"{base}/g")
        r("umount file", t.umount, f"{base}/g")
        r("unlink after umount", t.unlink, f"{base}/g")
        r("unlink f", t.unlink, f"{base}/f")
        r("listdir", lambda: sorted(t.listdir(base)))
    finally:
        u.exit(0)
    return r.out


@scenario
def s78_rmdir_error_order(k: Any, base: str) -> list[Any]:
    """do_rmdir + may_delete + vfs_rmdir + simple_rmdir, in order."""
    t = prepare(k, base, 0o755)
    u = spawn(k, 1000)
    r = Rec()
    try:
        t.mkdir(f"{base}/d")
        t.mkdir(f"{base}/full")
        t.mknod(f"{base}/full/x", stat.S_IFREG | 0o644)
        t.mknod(f"{base}/f", stat.S_IFREG | 0o644)
        t.mkdir(f"{base}/e")
        for p in ("d/..", "d/.", ".", "..", "missing", "f", "f/", "full", "d/missing/x"):
            r(f"rmdir {p}", t.rmdir, f"{base}/{p}")
        r("rmdir /", t.rmdir, "/")
        r("user rmdir d", u.rmdir, f"{base}/d")
        r("user rmdir missing", u.rmdir, f"{base}/missing")
        r("user rmdir ..", u.rmdir, f"{base}/d/..")
        t.mkdir(f"{base}/mp")
        t.mkdir(f"{base}/mp/under")
        t.mount("none", f"{base}/mp", "tmpfs")
        r("rmdir mountpoint (non-empty underneath)", t.rmdir, f"{base}/mp")
        r("rmdir mount root via path", t.rmdir, f"{base}/mp/.")
        r("umount", t.umount, f"{base}/mp")
        r("rmdir d/", t.rmdir, f"{base}/d/")
        r("rmdir e//", t.rmdir, f"{base}/e//")
        r("nlink", t.stat, base)
    finally:
        u.exit(0)
    return r.out


@scenario
def s79_rename_corner_cases(k: Any, base: str) -> list[Any]:
    """renameat2 + vfs_rename + shmem_rename2 on a tmpfs."""
    t = prepare(k, base)
    r = Rec()
    m = f"{base}/m"
    t.mkdir(m)
    t.mount("none", m, "tmpfs")
    t.mkdir(f"{m}/a")
    t.mkdir(f"{m}/a/b")
    t.mkdir(f"{m}/empty")
    t.mkdir(f"{m}/full")
    t.mknod(f"{m}/full/x", stat.S_IFREG | 0o644)
    t.mknod(f"{m}/f", stat.S_IFREG | 0o644)
    t.mknod(f"{m}/g", stat.S_IFREG | 0o644)
    t.link(f"{m}/f", f"{m}/hard")
    r("same inode", t.rename, f"{m}/f", f"{m}/hard")
    r("after same inode", lambda: sorted(t.listdir(m)))
    r("to itself", t.rename, f"{m}/f", f"{m}/f")
    r("dir to itself", t.rename, f"{m}/a", f"{m}/a")
    r("into own subtree", t.rename, f"{m}/a", f"{m}/a/b/c")
    r("into own child", t.rename, f"{m}/a", f"{m}/a/c")
    r("over own ancestor", t.rename, f"{m}/a/b", f"{m}/a")
    r("dir over nonempty", t.rename, f"{m}/a", f"{m}/full")
    r("dir over file", t.rename, f"{m}/a", f"{m}/f")
    r("file over dir", t.rename, f"{m}/f", f"{m}/empty")
    r("missing source", t.rename, f"{m}/nope", f"{m}/x")
    r("missing target dir", t.rename, f"{m}/f", f"{m}/nope/x")
    r("dot source", t.rename, f"{m}/a/.", f"{m}/x")
    r("dotdot source", t.rename, f"{m}/a/..", f"{m}/x")
    r("dot target", t.rename, f"{m}/f", f"{m}/a/.")
    r("dot target noreplace", t.rename, f"{m}/f", f"{m}/a/.", RENAME_NOREPLACE)
    r("root target", t.rename, f"{m}/f", "/")
    r("noreplace existing", t.rename, f"{m}/f", f"{m}/g", RENAME_NOREPLACE)
    r("noreplace new", t.rename, f"{m}/g", f"{m}/g2", RENAME_NOREPLACE)
    r("exchange missing", t.rename, f"{m}/f", f"{m}/zz", RENAME_EXCHANGE)
    r("exchange file dir", t.rename, f"{m}/f", f"{m}/empty", RENAME_EXCHANGE)
    r("after exchange", t.stat, f"{m}/f")
    r("both flags", t.rename, f"{m}/f", f"{m}/empty", RENAME_EXCHANGE | RENAME_NOREPLACE)
    r("bad flags", t.rename, f"{m}/f", f"{m}/x", 8 << 4)
    r("dir over empty dir", t.rename, f"{m}/a", f"{m}/f")
    r("after dir over empty", lambda: sorted(t.listdir(m)))
    r("file over file", t.rename, f"{m}/g2", f"{m}/hard")
    r("nlink f", t.stat, f"{m}/empty")
    r("cross mount", t.rename, f"{m}/hard", f"{base}/hard")
    r("cross mount dir", t.rename, base + "/m", f"{m}/x")
    t.mkdir(f"{m}/mp")
    t.mount("none", f"{m}/mp", "tmpfs")
    r("rename mountpoint", t.rename, f"{m}/mp", f"{m}/mp2")
    r("rename over mountpoint", t.rename, f"{m}/full", f"{m}/mp")
    r("umount mp", t.umount, f"{m}/mp")
    r.raw("nlink root", lambda: t.stat(m).st_nlink)
    r("umount", t.umount, m)
    return r.out


@scenario
def rename_permissions(k: Any, base: str) -> list[Any]:
    """vfs_rename: moving a directory to another parent needs write permission on the
    directory itself (its ".." changes); within one parent it does not."""
    t = prepare(k, base, 0o777)
    u = spawn(k, 1000)
    r = Rec()
    m = f"{base}/m"  # a tmpfs, which has rename2 (EXCHANGE) in 4.4 too
    t.mkdir(m)
    t.mount("none", m, "tmpfs", 0, "mode=0777")
    try:
        t.mkdir(f"{m}/rootdir", 0o755)
        t.mkdir(f"{m}/other")
        t.chmod(f"{m}/other", 0o777)
        t.mknod(f"{m}/rootfile", stat.S_IFREG | 0o600)
        t.mkdir(f"{m}/closed", 0o755)
        r("same parent", u.rename, f"{m}/rootdir", f"{m}/renamed")
        r("other parent", u.rename, f"{m}/renamed", f"{m}/other/x")
        r("file to other parent", u.rename, f"{m}/rootfile", f"{m}/other/f")
        r("into closed parent", u.rename, f"{m}/other/f", f"{m}/closed/f")
        r("closed dir to other parent", u.rename, f"{m}/closed", f"{m}/other/c2")
        t.mknod(f"{m}/closed/g", stat.S_IFREG | 0o666)
        r("from inside closed parent", u.rename, f"{m}/closed/g", f"{m}/g")
        u.mkdir(f"{m}/mine")
        r("own dir to other parent", u.rename, f"{m}/mine", f"{m}/other/mine")
        r("exchange own dir with root's", u.rename, f"{m}/other/mine", f"{m}/renamed", 2)
        r("listdir", lambda: sorted(t.listdir(m)))
        r("listdir other", lambda: sorted(t.listdir(f"{m}/other")))
        r("umount", t.umount, m)
    finally:
        u.exit(0)
    return r.out


@scenario
def rename_whiteout_on_tmpfs(k: Any, base: str) -> list[Any]:
    """RENAME_WHITEOUT (shmem_rename2 + shmem_whiteout, since 4.0) leaves a 0:0
    character device at the old name.  (4.4 also required CAP_MKNOD; since 5.8 it does
    not, so that part is tested against pinfs only.)"""
    t = prepare(k, base)
    u = spawn(k, 1000)
    r = Rec()
    m = f"{base}/m"
    try:
        t.mkdir(m)
        t.mount("none", m, "tmpfs", 0, "mode=0777")
        t.mknod(f"{m}/f", stat.S_IFREG | 0o666)
        u.mknod(f"{m}/uf", stat.S_IFREG | 0o666)
        r("whiteout with exchange", t.rename, f"{m}/f", f"{m}/g", 4 | 2)
        r("whiteout", t.rename, f"{m}/f", f"{m}/g", 4)
        r("old name", t.lstat, f"{m}/f")
        r.raw("old name rdev", lambda: t.lstat(f"{m}/f").st_rdev)
        r("new name", t.lstat, f"{m}/g")
        r("listdir", lambda: sorted(t.listdir(m)))
        r("umount", t.umount, m)
    finally:
        u.exit(0)
    return r.out


@scenario
def devices_and_fifos_on_open(k: Any, base: str) -> list[Any]:
    """may_open: devices on a nodev mount are EACCES; without a driver ENXIO.  FIFOs
    (fifo_open) opened without blocking: O_RDONLY and O_RDWR succeed, O_WRONLY with
    no reader is ENXIO."""
    t = prepare(k, base)
    r = Rec()
    m = f"{base}/m"
    t.mkdir(m)
    t.mount("none", m, "tmpfs", MS_NODEV)
    t.mknod(f"{m}/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    r("chr on nodev", t.open, f"{m}/null", os.O_RDWR)
    r("chr on nodev O_PATH", lambda: t.close(t.open(f"{m}/null", O_PATH)))
    r("umount", t.umount, m)
    t.mknod(f"{base}/fifo", stat.S_IFIFO | 0o666)
    nb = os.O_NONBLOCK
    r("fifo rdonly nonblock", lambda: t.close(t.open(f"{base}/fifo", os.O_RDONLY | nb)))
    r("fifo wronly nonblock", t.open, f"{base}/fifo", os.O_WRONLY | nb)
    r("fifo rdwr", lambda: t.close(t.open(f"{base}/fifo", os.O_RDWR | nb)))
    r("fifo O_PATH", lambda: t.close(t.open(f"{base}/fifo", O_PATH)))
    return r.out


@scenario
def s69_mknod_type_rules(k: Any, base: str) -> list[Any]:
    """may_mknod before the path (EPERM for S_IFDIR, EINVAL for bad types), then
    filename_create, then vfs_mknod's CAP_MKNOD check for devices."""
    t = prepare(k, base, 0o777)
    u = spawn(k, 1000)
    mk = spawn(k, 1001, caps=[CAP_MKNOD])
    r = Rec()
    try:
        r("dir, missing parent", t.mknod, f"{base}/missing/x", stat.S_IFDIR | 0o755)
        r("lnk, missing parent", t.mknod, f"{base}/missing/x", stat.S_IFLNK | 0o755)
        r("0o030000", t.mknod, f"{base}/missing/x", 0o030000 | 0o644)
        r("0o170000", t.mknod, f"{base}/missing/x", 0o170000 | 0o644)
        r("fifo, missing parent", t.mknod, f"{base}/missing/x", stat.S_IFIFO | 0o644)
        r("type 0", t.mknod, f"{base}/zero", 0o644)
        r("type 0 stat", t.stat, f"{base}/zero")
        r("reg", t.mknod, f"{base}/reg", stat.S_IFREG | 0o4755)
        r("reg stat", t.stat, f"{base}/reg")
        r("user fifo", u.mknod, f"{base}/fifo", stat.S_IFIFO | 0o666)
        r("user fifo stat", u.stat, f"{base}/fifo")
        r("user sock", u.mknod, f"{base}/sock", stat.S_IFSOCK | 0o666)
        r("user chr", u.mknod, f"{base}/chr", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        r("user blk", u.mknod, f"{base}/blk", stat.S_IFBLK | 0o666, os.makedev(7, 0))
        r("cap_mknod chr", mk.mknod, f"{base}/chr", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        r.raw("chr rdev", lambda: os.major(t.stat(f"{base}/chr").st_rdev))
        r("root blk", t.mknod, f"{base}/blk", stat.S_IFBLK | 0o600, os.makedev(7, 0))
        r("user dir existing", u.mknod, f"{base}/reg", stat.S_IFDIR)
        r("user reg existing", u.mknod, f"{base}/reg", stat.S_IFREG)
        r("user chr existing", u.mknod, f"{base}/reg", stat.S_IFCHR, os.makedev(1, 3))
        r("listdir", lambda: sorted(t.listdir(base)))
    finally:
        u.exit(0)
        mk.exit(0)
    return r.out


@scenario
def checks_before_getname(k: Any, base: str) -> list[Any]:
    """Checks the kernel makes before it copies (or walks) a path argument: may_mknod,
    renameat2's flags, truncate's length, umount's flags; linkat and renameat2 resolve
    the old name before copying the new one.  (umount's may_mount also came first in
    4.4, but since 5.9 it runs after the lookup, so it is not compared here.)"""
    t = prepare(k, base)
    u = spawn(k, 1000)
    r = Rec()
    long = f"{base}/" + "n" * 4100
    try:
        r("mknod '' S_IFDIR", t.mknod, "", stat.S_IFDIR)
        r("mknod long S_IFDIR", t.mknod, long, stat.S_IFDIR)
        r("mknod '' bad type", t.mknod, "", 0o170000)
        r("mknod '' S_IFREG", t.mknod, "", stat.S_IFREG)
        r("rename '' bad flags", t.rename, "", "", 1 << 7)
        r("rename '' noreplace|exchange", t.rename, "", f"{base}/x", 3)
        r("truncate '' -1", t.truncate, "", -1)
        r("truncate long -1", t.truncate, long, -1)
        r("umount '' bad flags", t.umount, "", 1 << 8)
        r("link missing -> long", t.link, f"{base}/missing", long)
        r("rename missing -> long", t.rename, f"{base}/missing/x", long)
        r("link long -> x", t.link, long, f"{base}/x")
        r("user mount '' target", u.mount, "none", "", "tmpfs")
        r("open long with creat", t.open, long, os.O_CREAT | os.O_WRONLY)
    finally:
        u.exit(0)
    return r.out


@scenario
def s71_s73_open_corner_cases(k: Any, base: str) -> list[Any]:
    """do_last / may_open: EEXIST, ENOTDIR, EISDIR, ELOOP for O_NOFOLLOW, O_PATH,
    creation through a dangling symlink, EACCES; lowest free fd; EMFILE first."""
    t = prepare(k, base)
    u = spawn(k, 1000)
    r = Rec()
    try:
        t.mkdir(f"{base}/d")
        t.mknod(f"{base}/f", stat.S_IFREG | 0o644)
        t.mknod(f"{base}/secret", stat.S_IFREG | 0o600)
        t.symlink("f", f"{base}/lf")
        t.symlink("d", f"{base}/ld")
        t.symlink("created", f"{base}/dangling")
        t.symlink("missing/x", f"{base}/dangling2")
        creat = os.O_CREAT | os.O_WRONLY
        r("creat excl existing", t.open, f"{base}/f", creat | os.O_EXCL)
        r("creat excl dangling", t.open, f"{base}/dangling", creat | os.O_EXCL)
        r("creat excl symlink", t.open, f"{base}/lf", creat | os.O_EXCL)
        r("directory on file", t.open, f"{base}/f", os.O_DIRECTORY)
        r("directory on lf", t.open, f"{base}/lf", os.O_DIRECTORY)
        r("wronly dir", t.open, f"{base}/d", os.O_WRONLY)
        r("rdwr dir", t.open, f"{base}/d", os.O_RDWR)
        r("creat on dir", t.open, f"{base}/d", os.O_CREAT | os.O_RDONLY)
        r("creat on ld", t.open, f"{base}/ld", os.O_CREAT | os.O_RDONLY)
        r("nofollow lf", t.open, f"{base}/lf", os.O_NOFOLLOW)
        r("nofollow|creat lf", t.open, f"{base}/lf", os.O_NOFOLLOW | creat)
        fd = r("path|nofollow lf", t.open, f"{base}/lf", O_PATH | os.O_NOFOLLOW)
        if fd is not None:
            r("fstat O_PATH symlink", t.fstat, fd)
            t.close(fd)
        fd = r("path lf", t.open, f"{base}/lf", O_PATH)
        if fd is not None:
            r("fstat O_PATH followed", t.fstat, fd)
            t.close(fd)
        fd = r("creat through dangling", t.open, f"{base}/dangling", creat, 0o640)
        if fd is not None:
            t.close(fd)
        r("created", t.stat, f"{base}/created")
        r("creat through dangling into missing dir", t.open, f"{base}/dangling2", creat)
        r("user read secret", u.open, f"{base}/secret")
        r("user write f", u.open, f"{base}/f", os.O_WRONLY)
        r("user trunc f", u.open, f"{base}/f", os.O_RDONLY | os.O_TRUNC)
        r("O_PATH|O_CREAT creates nothing", t.open, f"{base}/pathcreat", O_PATH | creat)
        r("after O_PATH|O_CREAT", lambda: "pathcreat" in t.listdir(base))
        t.truncate(f"{base}/secret", 10)
        r("O_PATH|O_TRUNC", lambda: t.close(t.open(f"{base}/secret", O_PATH | os.O_TRUNC)))
        r.raw("size after O_PATH|O_TRUNC", lambda: t.stat(f"{base}/secret").st_size)
        r("O_PATH|O_WRONLY dir", lambda: t.close(t.open(f"{base}/d", O_PATH | os.O_WRONLY)))
        r("user O_NOATIME on root's", u.open, f"{base}/f", os.O_RDONLY | os.O_NOATIME)
        fd = r("user O_PATH secret", u.open, f"{base}/secret", O_PATH)
        if fd is not None:
            r("user fstat O_PATH", u.fstat, fd)
            u.close(fd)
        fd = r("user read f", u.open, f"{base}/f")
        if fd is not None:
            u.close(fd)
        r("user creat 0444 then open excl", u.open, f"{base}/ro", creat | os.O_EXCL, 0o444)
        r("mode of ro", u.stat, f"{base}/ro")
        r("user reopen ro for write", u.open, f"{base}/ro", os.O_WRONLY)
        r("missing", t.open, f"{base}/missing")
        r("missing/x", t.open, f"{base}/missing/x", creat)
        # lowest free fd in a fresh task
        fds = [u.open(f"{base}/f") for _ in range(4)]
        r.val("first fds", fds)
        u.close(fds[1])
        u.close(fds[2])
        r.val("reuse lowest", [u.open(f"{base}/f"), u.open(f"{base}/f"), u.open(f"{base}/f")])
        r.val("dup", u.dup(0))
        u.setrlimit(RLIMIT_NOFILE, 6, 4096)
        r("emfile at limit", u.open, f"{base}/f")
        r("emfile before path", u.open, f"{base}/missing")
        u.close(3)
        r.val("after close", u.open(f"{base}/f"))
        r("close closed", u.close, 100)
        r("close -1", u.close, -1)
    finally:
        u.exit(0)
    return r.out


@scenario
def s91_mount_and_umount_rules(k: Any, base: str) -> list[Any]:
    """may_mount (EPERM after the path), ENODEV, do_umount's EINVAL/EBUSY and
    MNT_DETACH keeping open files usable."""
    t = prepare(k, base)
    u = spawn(k, 1000)
    w = spawn(k, 0, caps=[CAP_SYS_ADMIN])
    r = Rec()
    m = f"{base}/m"
    try:
        t.mkdir(m)
        r("user mount missing target", u.mount, "none", f"{base}/missing", "tmpfs")
        r("user mount", u.mount, "none", m, "tmpfs")
        r("unknown type", t.mount, "none", m, "nosuchfs")
        r("missing target", t.mount, "none", f"{base}/missing", "tmpfs")
        r("mount", t.mount, "none", m, "tmpfs")
        r("statfs", t.statfs, m)
        r("default tmpfs root", t.stat, m)
        r("user umount", u.umount, m)
        r("umount non-mountpoint", t.umount, base)
        r("umount missing", t.umount, f"{base}/missing")
        r("umount bad flags", t.umount, m, 0x100)
        t.mknod(f"{m}/f", stat.S_IFREG | 0o644)
        t.mkdir(f"{m}/sub")
        r("umount sub (not a mount)", t.umount, f"{m}/sub")
        fd = t.open(f"{m}/f")
        r("umount with open file", t.umount, m)
        t.close(fd)
        w.chdir(f"{m}/sub")
        r("umount with cwd inside", t.umount, m)
        w.chdir("/")
        t.mount("none", f"{m}/sub", "tmpfs")
        r("umount with submount", t.umount, m)
        r("umount submount", t.umount, f"{m}/sub")
        fd = t.open(f"{m}/f")
        r("detach with open file", t.umount, m, MNT_DETACH)
        r("fstat after detach", t.fstat, fd)
        r("path gone", t.stat, f"{m}/f")
        t.close(fd)
        r("stacked 1", t.mount, "none", m, "tmpfs")
        t.mknod(f"{m}/lower", stat.S_IFREG | 0o644)
        r("stacked 2", t.mount, "none", m, "tmpfs")
        r("top is empty", t.listdir, m)
        r("umount top", t.umount, m)
        r("lower visible", t.listdir, m)
        r("umount lower", t.umount, m)
        r("base empty again", t.listdir, m)
    finally:
        u.exit(0)
        w.exit(0)
    return r.out


@scenario
def s82_chmod_chown_truncate(k: Any, base: str) -> list[Any]:
    """notify_change/inode_change_ok: chmod owner-or-CAP_FOWNER, chown CAP_CHOWN,
    chgrp to one's own group; vfs_truncate: EISDIR, EINVAL, EACCES."""
    t = prepare(k, base, 0o777)
    u = spawn(k, 1000, groups=(1000, 2000))
    v = spawn(k, 1001)
    ch = spawn(k, 1002, caps=[CAP_CHOWN])
    fo = spawn(k, 1003, caps=[CAP_FOWNER])
    r = Rec()
    try:
        u.mknod(f"{base}/f", stat.S_IFREG | 0o644)
        u.mkdir(f"{base}/d")
        r("owner chmod", u.chmod, f"{base}/f", 0o640)
        r("other chmod", v.chmod, f"{base}/f", 0o777)
        r("fowner chmod", fo.chmod, f"{base}/f", 0o660)
        r("owner chown to other", u.chown, f"{base}/f", 1001, -1)
        r("owner chown to self", u.chown, f"{base}/f", 1000, -1)
        r("owner chgrp own group", u.chown, f"{base}/f", -1, 2000)
        r("owner chgrp foreign", u.chown, f"{base}/f", -1, 3000)
        r("other chgrp", v.chown, f"{base}/f", -1, 1001)
        r("chown noop", v.chown, f"{base}/f", -1, -1)
        r("cap_chown", ch.chown, f"{base}/f", 1001, 1001)
        r("stat", t.stat, f"{base}/f")
        r("new owner chmod", v.chmod, f"{base}/f", 0o600)
        r("old owner chmod", u.chmod, f"{base}/f", 0o600)
        r("root chmod", t.chmod, f"{base}/f", 0o4755)
        r("root chown clears suid", t.chown, f"{base}/f", 1000, -1)
        r("stat2", t.stat, f"{base}/f")
        r("truncate dir", t.truncate, f"{base}/d", 0)
        r("truncate negative", t.truncate, f"{base}/f", -1)
        r("truncate missing", t.truncate, f"{base}/missing", 0)
        r("truncate user no write", v.truncate, f"{base}/f", 10)
        r("truncate owner", u.truncate, f"{base}/f", 10)
        r("size", t.stat, f"{base}/f")
        t.mknod(f"{base}/fifo", stat.S_IFIFO | 0o666)
        r("truncate fifo", t.truncate, f"{base}/fifo", 0)
        t.symlink("f", f"{base}/lf")
        r("truncate through link", u.truncate, f"{base}/lf", 3)
        r("chmod through link", u.chmod, f"{base}/lf", 0o644)
        r("lstat link", t.lstat, f"{base}/lf")
        r("stat target", t.stat, f"{base}/f")
        t.chmod(f"{base}/f", 0o6755)
        r("cap_chown non-owner on setuid file", ch.chown, f"{base}/f", 1002, -1)
        r("chown -1 -1 by root clears setuid", t.chown, f"{base}/f", -1, -1)
        r("after chown -1 -1", t.stat, f"{base}/f")
        t.chmod(f"{base}/f", 0o2745)
        r("chown by root keeps sgid without group x", t.chown, f"{base}/f", 1001, -1)
        r("after chown of 02745", t.stat, f"{base}/f")
        t.chmod(f"{base}/d", 0o6755)
        r("chown dir keeps bits", t.chown, f"{base}/d", 1001, 1001)
        r("dir after chown", t.stat, f"{base}/d")
        r("chown -1 -1 by a stranger", v.chown, f"{base}/lf", -1, -1)
        r("chown to unmapped-looking id", t.chown, f"{base}/lf", 4294967294, -1)
    finally:
        for task in (u, v, ch, fo):
            task.exit(0)
    return r.out


@scenario
def s68_mkdir_mode_umask_nlink(k: Any, base: str) -> list[Any]:
    """vfs_mkdir masks with 01777 after the umask; nlink is 2 + subdirectories and
    follows mkdir, rmdir and rename."""
    t = prepare(k, base, 0o755)
    u = spawn(k, 1000)
    r = Rec()
    try:
        r("umask", t.umask, 0o022)
        for mode in (0o777, 0o1777, 0o7777, 0o2755, 0o700, 0):
            r(f"mkdir {mode:o}", t.mkdir, f"{base}/m{mode:o}", mode)
            r(f"stat {mode:o}", t.stat, f"{base}/m{mode:o}")
        r("umask 0", t.umask, 0)
        r("mkdir umask 0", t.mkdir, f"{base}/z", 0o777)
        r("stat z", t.stat, f"{base}/z")
        r("create umask 0", lambda: t.close(t.open(f"{base}/zf", os.O_CREAT | os.O_RDWR, 0o666)))
        r("stat zf", t.stat, f"{base}/zf")
        r("umask back", t.umask, 0o022)
        r("user umask", u.umask, 0o077)
        r("base nlink", t.stat, base)
        t.mkdir(f"{base}/p")
        t.mkdir(f"{base}/p/a")
        t.mkdir(f"{base}/p/b")
        t.mknod(f"{base}/p/f", stat.S_IFREG)
        r("p", t.stat, f"{base}/p")
        t.rename(f"{base}/p/a", f"{base}/m777/a")
        r("p after move out", t.stat, f"{base}/p")
        r("dest after move in", t.stat, f"{base}/m777")
        t.rename(f"{base}/p/b", f"{base}/m777/a")
        r("p after move over", t.stat, f"{base}/p")
        r("dest after move over", t.stat, f"{base}/m777")
        t.rmdir(f"{base}/m777/a")
        r("dest after rmdir", t.stat, f"{base}/m777")
        r("base", t.stat, base)
        t.umask(0o022)
    finally:
        u.exit(0)
    return r.out


@scenario
def which_times_change(k: Any, base: str) -> list[Any]:
    """Which operations move mtime/ctime of the inode and of its directory, on ramfs
    (simple_* helpers, simple_setattr) and tmpfs (shmem_setattr, shmem_rename2,
    shmem_exchange).  Only "changed or not" is compared."""
    t = prepare(k, base)
    r = Rec()
    live = not isinstance(k, pinfs.Kernel)

    def step(label: str, fn: Callable[[], Any], paths: list[str], after: list[str]) -> None:
        """``after`` names the same inodes as ``paths`` once ``fn`` has run."""
        old = [t.lstat(p) for p in paths]
        if live:
            time.sleep(0.01)  # coarse kernel clock
        r(label, fn)
        new = [t.lstat(p) for p in after]
        r.val(
            label + " m/c",
            [(a.st_mtime_ns != b.st_mtime_ns, a.st_ctime_ns != b.st_ctime_ns)
             for a, b in zip(old, new)],
        )  # fmt: skip

    for fs in ("ramfs", "tmpfs"):
        m = f"{base}/{fs}"
        t.mkdir(m)
        t.mount("none", m, fs)
        d, f = f"{m}/d", f"{m}/d/f"
        t.mkdir(d)
        t.mknod(f, stat.S_IFREG | 0o644)
        trunc = os.O_WRONLY | os.O_TRUNC
        for label, fn, paths, after in [
            ("truncate grow", lambda: t.truncate(f, 10), [f], [f]),
            ("truncate same size", lambda: t.truncate(f, 10), [f], [f]),
            ("O_TRUNC non-empty", lambda: t.close(t.open(f, trunc)), [f], [f]),
            ("O_TRUNC empty", lambda: t.close(t.open(f, trunc)), [f], [f]),
            ("open O_RDWR", lambda: t.close(t.open(f, os.O_RDWR)), [f], [f]),
            ("chmod", lambda: t.chmod(f, 0o600), [f], [f]),
            ("chown -1 -1", lambda: t.chown(f, -1, -1), [f], [f]),
            ("chown", lambda: t.chown(f, 5, 5), [f], [f]),
            ("link", lambda: t.link(f, f"{d}/g"), [f, d], [f, d]),
            ("unlink one link", lambda: t.unlink(f"{d}/g"), [f, d], [f, d]),
            ("symlink", lambda: t.symlink("f", f"{d}/s"), [d], [d]),
            ("mkdir", lambda: t.mkdir(f"{d}/sub"), [d], [d]),
            ("mknod", lambda: t.mknod(f"{d}/n", stat.S_IFIFO), [d], [d]),
            ("rename in dir", lambda: t.rename(f"{d}/n", f"{d}/n2"), [f"{d}/n", d], [f"{d}/n2", d]),
            ("rename up", lambda: t.rename(f"{d}/n2", f"{m}/n3"), [f"{d}/n2", d, m], [f"{m}/n3", d, m]),
            ("rename over", lambda: t.rename(f"{m}/n3", f"{d}/s"), [f"{m}/n3", d, m], [f"{d}/s", d, m]),
            ("rename dir", lambda: t.rename(f"{d}/sub", f"{m}/sub"), [f"{d}/sub", d, m], [f"{m}/sub", d, m]),
            ("rmdir", lambda: t.rmdir(f"{m}/sub"), [m], [m]),
            ("stat", lambda: t.stat(f), [f, d], [f, d]),
            ("listdir", lambda: t.listdir(d), [d], [d]),
        ]:  # fmt: skip
            step(f"{fs} {label}", fn, paths, after)
        if fs == "tmpfs":
            x = f"{d}/x"
            t.mknod(x, stat.S_IFREG)
            step("exchange", lambda x=x, f=f: t.rename(x, f, 2), [f, x, d], [x, f, d])
        r("umount", t.umount, m)
    return r.out


@scenario
def relatime_atime_updates(k: Any, base: str) -> list[Any]:
    """touch_atime under relatime (the default): the first access after a change of
    mtime or ctime moves atime, later ones (within a day) do not.  readlink and
    getdents access; open, stat and O_PATH do not."""
    t = prepare(k, base)
    r = Rec()
    live = not isinstance(k, pinfs.Kernel)
    m = f"{base}/m"
    t.mkdir(m)
    t.mount("none", m, "tmpfs")
    t.mkdir(f"{m}/d")
    t.symlink("target", f"{m}/l")
    t.mknod(f"{m}/f", stat.S_IFREG | 0o644)

    def access(label: str, fn: Callable[[], Any], path: str) -> None:
        before = t.lstat(path).st_atime_ns
        if live:
            time.sleep(0.01)
        r(label, fn)
        r.val(label + " atime moved", t.lstat(path).st_atime_ns != before)

    access("readlink 1", lambda: t.readlink(f"{m}/l"), f"{m}/l")
    access("readlink 2", lambda: t.readlink(f"{m}/l"), f"{m}/l")
    access("listdir 1", lambda: t.listdir(f"{m}/d"), f"{m}/d")
    access("listdir 2", lambda: t.listdir(f"{m}/d"), f"{m}/d")
    t.mknod(f"{m}/d/x", stat.S_IFREG)
    access("listdir after a change", lambda: t.listdir(f"{m}/d"), f"{m}/d")
    access("listdir again", lambda: t.listdir(f"{m}/d"), f"{m}/d")
    t.chmod(f"{m}/d", 0o700)
    access("listdir after chmod", lambda: t.listdir(f"{m}/d"), f"{m}/d")
    access("open file", lambda: t.close(t.open(f"{m}/f")), f"{m}/f")
    access("stat file", lambda: t.stat(f"{m}/f"), f"{m}/f")
    access("open dir", lambda: t.close(t.open(f"{m}/d")), f"{m}/d")
    access("stat through link", lambda: t.stat(f"{m}/d"), f"{m}/d")
    r("umount", t.umount, m)
    t.mount("none", m, "tmpfs", 1024)  # MS_NOATIME
    t.symlink("x", f"{m}/l")
    access("noatime readlink", lambda: t.readlink(f"{m}/l"), f"{m}/l")
    r("umount", t.umount, m)
    return r.out


@scenario
def setgid_directory_inheritance(k: Any, base: str) -> list[Any]:
    """inode_init_owner: a setgid parent passes on its group; new directories also
    get S_ISGID; without it the group is the creator's fsgid."""
    t = prepare(k, base, 0o777)
    u = spawn(k, 1000)
    r = Rec()
    try:
        t.mkdir(f"{base}/sg")
        t.chown(f"{base}/sg", 0, 50)
        t.chmod(f"{base}/sg", 0o2777)
        r("sg", t.stat, f"{base}/sg")
        u.mknod(f"{base}/sg/f", stat.S_IFREG | 0o644)
        u.mkdir(f"{base}/sg/d", 0o755)
        u.symlink("f", f"{base}/sg/l")
        r("file", t.stat, f"{base}/sg/f")
        r("dir", t.stat, f"{base}/sg/d")
        r("link", t.lstat, f"{base}/sg/l")
        u.mkdir(f"{base}/sg/d/dd", 0o700)
        r("grandchild dir", t.stat, f"{base}/sg/d/dd")
        u.mkdir(f"{base}/plain")
        u.mknod(f"{base}/plain/f", stat.S_IFREG | 0o644)
        r("plain file", t.stat, f"{base}/plain/f")
        r("plain dir", t.stat, f"{base}/plain")
    finally:
        u.exit(0)
    return r.out


@scenario
def s80_link_rules(k: Any, base: str) -> list[Any]:
    """linkat/vfs_link: EXDEV across mounts, EPERM for directories, EEXIST, hard links
    to symlinks, nlink; may_linkat under the live fs.protected_hardlinks."""
    t = prepare(k, base, 0o777)
    u = spawn(k, 1000)
    r = Rec()
    try:
        t.mkdir(f"{base}/d")
        t.mknod(f"{base}/f", stat.S_IFREG | 0o644)
        t.mknod(f"{base}/secret", stat.S_IFREG | 0o600)
        t.symlink("f", f"{base}/lf")
        r("link", t.link, f"{base}/f", f"{base}/f2")
        r("nlink", t.stat, f"{base}/f")
        r("link dir", t.link, f"{base}/d", f"{base}/d2")
        r("link existing", t.link, f"{base}/f", f"{base}/lf")
        r("link missing", t.link, f"{base}/missing", f"{base}/x")
        r("link symlink", t.link, f"{base}/lf", f"{base}/lf2")
        r("lstat lf2", t.lstat, f"{base}/lf2")
        r("lstat lf", t.lstat, f"{base}/lf")
        r("link into missing", t.link, f"{base}/f", f"{base}/missing/x")
        r("link dot", t.link, f"{base}/f", f"{base}/d/.")
        t.mkdir(f"{base}/m")
        t.mount("none", f"{base}/m", "tmpfs")
        r("exdev", t.link, f"{base}/f", f"{base}/m/f")
        r("exdev existing", t.link, f"{base}/f", f"{base}/m")
        r("umount", t.umount, f"{base}/m")
        r("user link own-readable", u.link, f"{base}/f", f"{base}/uf")
        r("user link secret", u.link, f"{base}/secret", f"{base}/us")
        u.mknod(f"{base}/mine", stat.S_IFREG | 0o600)
        r("user link own", u.link, f"{base}/mine", f"{base}/mine2")
        r("nlink mine", t.stat, f"{base}/mine")
        t.unlink(f"{base}/f")
        r("nlink after unlink", t.stat, f"{base}/f2")
    finally:
        u.exit(0)
    return r.out


@scenario
def symlinks_and_dangling(k: Any, base: str) -> list[Any]:
    """Symlink bodies resolve relative to the link's directory; dangling links are
    ENOENT through stat but exist for lstat/readlink and for creation (EEXIST)."""
    t = prepare(k, base)
    r = Rec()
    t.mkdir(f"{base}/d")
    t.mkdir(f"{base}/d/e")
    t.mknod(f"{base}/d/e/f", stat.S_IFREG | 0o600)
    r("relative", t.symlink, "e/f", f"{base}/d/rel")
    r("stat relative", t.stat, f"{base}/d/rel")
    r("absolute", t.symlink, f"{base}/d/e", f"{base}/abs")
    r("stat abs/f", t.stat, f"{base}/abs/f")
    r("dotdot in body", t.symlink, "../d/e", f"{base}/d/e/up")
    r("stat up/f", t.stat, f"{base}/d/e/up/f")
    r("up/.. is d (physical)", t.stat, f"{base}/d/e/up/..")
    r("dangling", t.symlink, "nothing", f"{base}/dang")
    r("stat dangling", t.stat, f"{base}/dang")
    r("lstat dangling", t.lstat, f"{base}/dang")
    r("readlink", t.readlink, f"{base}/dang")
    r("readlink file", t.readlink, f"{base}/d/e/f")
    r("readlink missing", t.readlink, f"{base}/nope")
    r("readlink trailing slash", t.readlink, f"{base}/abs/")
    r("mkdir on dangling", t.mkdir, f"{base}/dang")
    r("symlink on dangling", t.symlink, "x", f"{base}/dang")
    r("symlink empty target", t.symlink, "", f"{base}/empty")
    r("stat dangling/", t.stat, f"{base}/dang/")
    r("mkdir through dangling/", t.mkdir, f"{base}/dang/")
    r("rmdir through link", t.rmdir, f"{base}/abs")
    r("unlink link", t.unlink, f"{base}/abs")
    r("target intact", t.stat, f"{base}/d/e")
    r("listdir", lambda: sorted(t.listdir(base)))
    return r.out


@scenario
def dotdot_and_mount_crossing(k: Any, base: str) -> list[Any]:
    """follow_dotdot: ".." climbs out of a mount and stops at the root; a missing
    or non-directory component before ".." still fails (no lexical shortcut)."""
    t = prepare(k, base)
    w = spawn(k, 0, caps=[CAP_SYS_ADMIN, CAP_DAC_OVERRIDE])
    r = Rec()
    try:
        t.mkdir(f"{base}/m")
        t.mknod(f"{base}/f", stat.S_IFREG | 0o644)
        t.mount("none", f"{base}/m", "tmpfs", 0, "mode=0700")
        t.mkdir(f"{base}/m/sub")
        r("mount root", t.stat, f"{base}/m")
        r("m/..", t.stat, f"{base}/m/..")
        r("m/sub/../..", t.stat, f"{base}/m/sub/../..")
        r("m/../f", t.stat, f"{base}/m/../f")
        r("/..", t.stat, "/..")
        r("/../../tmp", lambda: oct(t.stat("/../../tmp").st_mode))
        r("missing/..", t.stat, f"{base}/missing/..")
        r("f/..", t.stat, f"{base}/f/..")
        r("//tmp///", lambda: oct(t.stat("//tmp///").st_mode))
        w.chdir(f"{base}/m/sub")
        r("getcwd", w.getcwd)
        r("rel ..", w.stat, "..")
        r("rel ../..", w.stat, "../..")
        r("rel ../../f", w.stat, "../../f")
        w.chdir("../..")
        r("getcwd after ../..", w.getcwd)
        w.chdir("/")
        r("umount", t.umount, f"{base}/m")
    finally:
        w.exit(0)
    return r.out


@scenario
def s52_dead_directory(k: Any, base: str) -> list[Any]:
    """lookup_real/may_create on a removed cwd: ENOENT for lookups and creation;
    getcwd gives ENOENT.  (Not listdir: glibc's readdir turns getdents' ENOENT into
    end-of-directory, so the live twin lists [] where pinfs raises ENOENT.)"""
    t = prepare(k, base)
    w = spawn(k, 0, caps=[CAP_DAC_OVERRIDE])
    r = Rec()
    try:
        t.mkdir(f"{base}/d")
        w.chdir(f"{base}/d")
        r("rmdir cwd", t.rmdir, f"{base}/d")
        r("stat .", w.stat, ".")
        r("stat x", w.stat, "x")
        r("mkdir x", w.mkdir, "x")
        r("mknod x", w.mknod, "x", stat.S_IFREG)
        r("open creat x", w.open, "x", os.O_CREAT | os.O_WRONLY)
        r("symlink x", w.symlink, "t", "x")
        r("getcwd", w.getcwd)
        r("stat ..", w.stat, "..")
        r("chdir ..", w.chdir, "..")
        r("getcwd after", w.getcwd)
    finally:
        w.exit(0)
    return r.out


@scenario
def generic_permission_capabilities(k: Any, base: str) -> list[Any]:
    """generic_permission: CAP_DAC_OVERRIDE (everything on dirs, read/write on files),
    CAP_DAC_READ_SEARCH (read files, read and search dirs); owner bits only for the
    owner; group bits for fsgid or supplementary groups."""
    t = prepare(k, base, 0o755)
    ov = spawn(k, 1000, caps=[CAP_DAC_OVERRIDE])
    rs = spawn(k, 1001, caps=[CAP_DAC_READ_SEARCH])
    grp = spawn(k, 1002, groups=(3000,))
    owner = spawn(k, 1003, groups=(3000,))
    r = Rec()
    try:
        t.mkdir(f"{base}/closed", 0o000)
        t.mknod(f"{base}/nothing", stat.S_IFREG | 0o000)
        t.mknod(f"{base}/g", stat.S_IFREG | 0o070)
        t.chown(f"{base}/g", 1003, 3000)
        for name, task in (("override", ov), ("readsearch", rs), ("group", grp)):
            r(f"{name} read", lambda task=task: task.close(task.open(f"{base}/nothing")))
            r(f"{name} write", lambda task=task: task.close(task.open(f"{base}/nothing", 1)))
            r(f"{name} list", task.listdir, f"{base}/closed")
            r(f"{name} search", task.stat, f"{base}/closed/x")
            r(f"{name} create", task.mkdir, f"{base}/closed/{name}")
            r(f"{name} create in base", task.mkdir, f"{base}/{name}")
            r(f"{name} group file", lambda task=task: task.close(task.open(f"{base}/g", 2)))
        r("owner denied by owner bits", owner.open, f"{base}/g")
        r("listdir", lambda: sorted(t.listdir(f"{base}/closed")))
    finally:
        for task in (ov, rs, grp, owner):
            task.exit(0)
    return r.out


@scenario
def s90_unshare_mount_namespace(k: Any, base: str) -> list[Any]:
    """copy_mnt_ns: copies share superblocks (a file made in either namespace shows in
    both); a new mount in the child is invisible to the parent; EPERM without
    CAP_SYS_ADMIN."""
    t = prepare(k, base)
    u = spawn(k, 1000)
    c = spawn(k, 0, caps=[CAP_SYS_ADMIN, CAP_DAC_OVERRIDE])
    r = Rec()
    try:
        t.mkdir(f"{base}/shared")
        t.mkdir(f"{base}/private")
        t.mount("none", f"{base}/shared", "tmpfs")
        r("user unshare", u.unshare, CLONE_NEWNS)
        r("unshare", c.unshare, CLONE_NEWNS)
        r("child creates in copy", c.mknod, f"{base}/shared/from_child", stat.S_IFREG)
        r("parent sees it", t.listdir, f"{base}/shared")
        t.mknod(f"{base}/shared/from_parent", stat.S_IFREG)
        r("child sees parent's", lambda: sorted(c.listdir(f"{base}/shared")))
        r("child mounts", c.mount, "none", f"{base}/private", "tmpfs")
        c.mknod(f"{base}/private/p", stat.S_IFREG)
        r("child private", c.listdir, f"{base}/private")
        r("parent private", t.listdir, f"{base}/private")
        r("parent rmdir child's mountpoint", t.rmdir, f"{base}/private")
        r("child's mount is gone", c.stat, f"{base}/private")
        r("child's view of base", lambda: sorted(c.listdir(base)))
        r("child umount copy", c.umount, f"{base}/shared")
        r("child shared now", c.listdir, f"{base}/shared")
        r("parent still mounted", lambda: sorted(t.listdir(f"{base}/shared")))
        r("umount", t.umount, f"{base}/shared")
    finally:
        u.exit(0)
        c.exit(0)
    return r.out


@scenario
def setresuid_drops_capabilities(k: Any, base: str) -> list[Any]:
    """cap_emulate_setxuid: leaving uid 0 clears the capability sets, so DAC checks
    apply afterwards; an unprivileged setresuid to a foreign id is EPERM."""
    t = prepare(k, base, 0o755)
    root = spawn(k, 0, caps=[CAP_SETUID, CAP_SETGID, CAP_DAC_OVERRIDE])
    u = spawn(k, 1000)
    r = Rec()
    try:
        r("root mkdir", root.mkdir, f"{base}/before")
        r("setresgid", root.setresgid, 1000, 1000, 1000)
        r("setresuid", root.setresuid, 1000, 1000, 1000)
        r("mkdir after", root.mkdir, f"{base}/after")
        r("back to root", root.setresuid, 0, 0, 0)
        r("user setresuid foreign", u.setresuid, 1001, 1001, 1001)
        r("user setresuid own", u.setresuid, 1000, 1000, -1)
        r("user setresgid foreign", u.setresgid, 0, 0, 0)
        r("user setgroups", u.setgroups, [5])
        r("stat before", t.stat, f"{base}/before")
    finally:
        root.exit(0)
        u.exit(0)
    return r.out


@scenario
def fork_exit_exec_fd_semantics(k: Any, base: str) -> list[Any]:
    """dup_fd/close/exit/execve: a forked child shares open files; close in the
    child leaves the parent's fd; exec closes only O_CLOEXEC fds."""
    t = prepare(k, base)
    p = spawn(k, 0, caps=[CAP_SYS_ADMIN])
    r = Rec()
    try:
        t.mkdir(f"{base}/m")
        t.mount("none", f"{base}/m", "tmpfs")
        t.mknod(f"{base}/m/f", stat.S_IFREG | 0o644)
        a = p.open(f"{base}/m/f")
        b = p.open(f"{base}/m/f", os.O_RDONLY | os.O_CLOEXEC)
        c = p.fork()
        r("child close", c.close, a)
        r("parent fstat", p.fstat, a)
        r("umount busy (child holds b)", t.umount, f"{base}/m")
        r("child exec", c.execve)
        r("child b closed", c.fstat, b)
        r("dup", p.dup, b)
        r("parent exec", p.execve)
        r("parent b", p.fstat, b)
        r("parent a", p.fstat, a)
        r("parent dup survived", p.fstat, 2)
        p.close(a)
        p.close(2)
        r("umount after the last fds went", t.umount, f"{base}/m")
        c.exit(0)
    finally:
        p.exit(0)
    return r.out


@scenario
def truncate_strips_setuid_bits(k: Any, base: str) -> list[Any]:
    """do_truncate + should_remove_suid: without CAP_FSETID, truncate(2) and O_TRUNC
    clear S_ISUID and (with S_IXGRP) S_ISGID; root keeps them."""
    t = prepare(k, base)
    u = spawn(k, 1000)
    r = Rec()
    try:
        for i, mode in enumerate((0o4755, 0o2755, 0o6711, 0o2745, 0o4700)):
            for how in ("truncate", "O_TRUNC", "root truncate"):
                p = f"{base}/f{i}{how[0]}{len(how)}"
                u.mknod(p, stat.S_IFREG)
                u.chmod(p, mode)
                if how == "truncate":
                    r(f"{mode:o} {how}", u.truncate, p, 3)
                elif how == "O_TRUNC":
                    r(f"{mode:o} {how}", lambda p=p: u.close(u.open(p, os.O_WRONLY | os.O_TRUNC)))
                else:
                    r(f"{mode:o} {how}", t.truncate, p, 3)
                r(f"{mode:o} {how} stat", t.stat, p)
    finally:
        u.exit(0)
    return r.out


@scenario
def zz_umount_of_the_root_remounts_it_read_only(k: Any, base: str) -> list[Any]:
    """do_umount: "unmounting" the caller's root remounts its sb read-only (EBUSY with
    a writer, EPERM without CAP_SYS_ADMIN).  Runs last: it remounts "/" rw at the end."""
    t = prepare(k, base)
    u = spawn(k, 0)
    r = Rec()
    try:
        fd = t.open(f"{base}/f", os.O_CREAT | os.O_WRONLY)
        r("with a writer", t.umount, "/")
        t.close(fd)
        r("without CAP_SYS_ADMIN", u.umount, "/")
        r("umount /", t.umount, "/")
        r("mkdir after", t.mkdir, f"{base}/x")
        r.raw("statfs ro", lambda: t.statfs("/").f_flags & 1)
    finally:
        u.exit(0)
        t.mount(None, "/", None, MS_REMOUNT)
    r("mkdir after remount rw", t.mkdir, f"{base}/x")
    return r.out


# ---------------------------------------------------------------------------------------
# The test


@pytest.mark.parametrize("fn", SCENARIOS, ids=[f.__name__ for f in SCENARIOS])
def test_live_matches_pinfs(fn: Scenario, live: Any) -> None:
    base = f"/tmp/{fn.__name__}"
    expected = fn(live, base)
    got = fn(fresh_pinfs(), base)
    diffs = [(e, g) for e, g in zip(expected, got) if e != g]
    assert got == expected, f"{fn.__doc__}\nfirst differences (live, pinfs): {diffs[:5]}"


def test_live_scenarios_are_self_consistent() -> None:
    """Each scenario gives the same answer twice on pinfs (no hidden global state)."""
    for fn in SCENARIOS:
        base = f"/tmp/{fn.__name__}"
        assert fn(fresh_pinfs(), base) == fn(fresh_pinfs(), base), fn.__name__
