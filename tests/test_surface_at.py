"""The *at surface and the os-like API, on pinfs alone (issue 13 item 3, issue 16 items
1 and 3): paths named in errors exactly as :mod:`os` names them (checked against the
real ``os`` on a tmpdir), os.PathLike paths, ``Kstat`` like ``os.stat_result``, dirfds
(AT_FDCWD, O_PATH, EBADF, ENOTDIR), getdents64's buffer and cursor, access with the
real ids, the profile's ENOSYS, and failed calls that change nothing.  The errno orders
against the live kernel are in test_surface_at_live.py.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import stat
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pinfs
from pinfs.base.profiles import LINUX_5_10, LINUX_6_18, SEED
from pinfs.base.uapi import (
    AT_EACCESS,
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_REMOVEDIR,
    AT_SYMLINK_FOLLOW,
    AT_SYMLINK_NOFOLLOW,
    STATX_BASIC_STATS,
    STATX_BTIME,
    STATX_MNT_ID,
)
from pinfs.fs.readdir import parse_dirents
from pinfs.machine.task import Task
from snapshot import snapshot
from support import budget

O_PATH = 0o10000000


@pytest.fixture
def t() -> Task:
    k = pinfs.Kernel(LINUX_6_18)
    task = k.init_task
    task.mkdir("/tmp/w")
    task.mount("tmpfs", "/tmp/w", "tmpfs")
    task.mkdir("/tmp/w/d")
    task.close(task.open("/tmp/w/d/f", os.O_CREAT | os.O_WRONLY, 0o644))
    task.symlink("f", "/tmp/w/d/l")
    return task


# ---------------------------------------------------------------------------------------
# Errors name the paths the way os does (compared with the real os module)


def _tree(root: str, mkdir: Callable[[str], Any], touch: Callable[[str], Any]) -> None:
    mkdir(f"{root}/d")
    mkdir(f"{root}/full")
    touch(f"{root}/full/x")
    touch(f"{root}/f")


def _failures(root: str) -> list[tuple[str, Callable[[Any], Any]]]:
    """Failing calls, each as ``(label, fn(api))`` for ``os`` and for a pinfs task."""
    r = root
    return [
        ("mkdir EEXIST", lambda a: a.mkdir(f"{r}/d")),
        ("mkdir ENOENT", lambda a: a.mkdir(f"{r}/nope/x")),
        ("mkdir bytes", lambda a: a.mkdir(os.fsencode(f"{r}/d"))),
        ("mkdir Path", lambda a: a.mkdir(pathlib.Path(f"{r}/d"))),
        ("stat ENOENT", lambda a: a.stat(f"{r}/nope")),
        ("stat ENOTDIR", lambda a: a.stat(f"{r}/f/x")),
        ("stat bytes", lambda a: a.stat(os.fsencode(f"{r}/nope"))),
        ("lstat Path", lambda a: a.lstat(pathlib.PurePosixPath(f"{r}/nope"))),
        ("chmod ENOENT", lambda a: a.chmod(f"{r}/nope", 0o600)),
        ("chown ENOENT", lambda a: a.chown(f"{r}/nope", 0, 0)),
        ("open ENOENT", lambda a: a.open(f"{r}/nope", os.O_RDONLY)),
        ("open EISDIR", lambda a: a.open(f"{r}/d", os.O_WRONLY)),
        ("open EEXIST", lambda a: a.open(f"{r}/f", os.O_CREAT | os.O_EXCL | os.O_WRONLY)),
        ("unlink EISDIR", lambda a: a.unlink(f"{r}/d")),
        ("unlink ENOENT", lambda a: a.unlink(f"{r}/nope")),
        ("rmdir ENOTEMPTY", lambda a: a.rmdir(f"{r}/full")),
        ("rmdir ENOTDIR", lambda a: a.rmdir(f"{r}/f")),
        ("rename ENOENT", lambda a: a.rename(f"{r}/nope", f"{r}/other")),
        ("rename EISDIR", lambda a: a.rename(f"{r}/f", f"{r}/d")),
        ("rename ENOTEMPTY", lambda a: a.rename(f"{r}/d", f"{r}/full")),
        ("rename bytes", lambda a: a.rename(os.fsencode(f"{r}/nope"), os.fsencode(f"{r}/o"))),
        ("link EEXIST", lambda a: a.link(f"{r}/f", f"{r}/d")),
        ("link ENOENT", lambda a: a.link(f"{r}/nope", f"{r}/new")),
        ("symlink EEXIST", lambda a: a.symlink("target", f"{r}/d")),
        ("readlink EINVAL", lambda a: a.readlink(f"{r}/f")),
        ("readlink ENOENT", lambda a: a.readlink(f"{r}/nope")),
        ("chdir ENOTDIR", lambda a: a.chdir(f"{r}/f")),
        ("chdir ENOENT", lambda a: a.chdir(pathlib.Path(f"{r}/nope"))),
        ("listdir ENOENT", lambda a: a.listdir(f"{r}/nope")),
        ("listdir ENOTDIR", lambda a: a.listdir(f"{r}/f")),
        ("truncate EISDIR", lambda a: a.truncate(f"{r}/d", 0)),
        ("mknod EEXIST", lambda a: a.mknod(f"{r}/f", stat.S_IFIFO | 0o600)),  # os: no path
    ]


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        call()
    except OSError as e:
        return (e.errno, e.filename, e.filename2, str(e).split(" [")[0])
    return "ok"


def test_errors_name_the_paths_exactly_as_os_does(tmp_path: pathlib.Path) -> None:
    root = str(tmp_path)
    _tree(root, os.mkdir, lambda p: open(p, "w").close())
    k = pinfs.Kernel(LINUX_6_18)
    t = k.init_task
    parts = root.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/" + "/".join(parts[:i])
        with contextlib.suppress(FileExistsError):
            t.mkdir(prefix)
    _tree(root, t.mkdir, lambda p: t.close(t.open(p, os.O_CREAT | os.O_WRONLY)))
    compared = 0
    for label, fn in _failures(root):
        on_os = _outcome(lambda fn=fn: fn(os))
        on_pinfs = _outcome(lambda fn=fn: fn(t))
        assert on_os != "ok", label
        assert on_pinfs == on_os, label
        compared += 1
    assert compared == 32


def test_the_explanation_follows_the_os_style_first_part(t: Task) -> None:
    with pytest.raises(FileNotFoundError) as info:
        t.rename("/tmp/w/nope/x", b"/tmp/w/d/g")
    err = info.value
    assert (err.filename, err.filename2) == ("/tmp/w/nope/x", b"/tmp/w/d/g")
    assert str(err).startswith("[Errno 2] No such file or directory: '/tmp/w/nope/x' -> ")
    assert isinstance(err, pinfs.KernelError) and err.function is not None


# ---------------------------------------------------------------------------------------
# os.PathLike paths; TypeError naming the argument otherwise


def test_pathlike_paths_are_accepted_everywhere(t: Task) -> None:
    d = pathlib.Path("/tmp/w/d")
    t.mkdir(d / "p")
    fd = t.open(d / "p" / "file", os.O_CREAT | os.O_WRONLY, 0o600)
    t.close(fd)
    t.rename(d / "p" / "file", d / "p" / "moved")
    t.link(d / "p" / "moved", d / "p" / "hard")
    t.symlink(pathlib.PurePosixPath("moved"), d / "p" / "sym")
    assert t.readlink(d / "p" / "sym") == "moved"
    assert t.stat(d / "p" / "hard").st_nlink == 2
    t.chmod(d / "p" / "hard", 0o640)
    t.truncate(d / "p" / "hard", 3)
    assert t.listdir(d / "p") == t.listdir("/tmp/w/d/p")
    t.mkdir("/tmp/w/bpf")
    t.mount("bpf", pathlib.Path("/tmp/w/bpf"), "bpf")
    m = t.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 4, 1)
    t.obj_pin(m, pathlib.Path("/tmp/w/bpf/m"))
    t.close(t.obj_get(pathlib.Path("/tmp/w/bpf/m")))
    dfd = t.open(d)
    assert t.fstatat(dfd, pathlib.Path("p/moved")).st_size == 3
    t.unlinkat(dfd, pathlib.Path("p/sym"))
    t.umount(pathlib.Path("/tmp/w/bpf"))
    t.chdir(d)
    assert t.getcwd() == "/tmp/w/d"


@pytest.mark.parametrize("bad", [3, 3.5, None, ["/tmp"], bytearray(b"/tmp"), object()])
def test_other_path_values_are_typeerror_naming_the_argument(t: Task, bad: Any) -> None:
    before = snapshot(t.kernel)
    with pytest.raises(TypeError, match=r"path should be string, bytes or os\.PathLike"):
        t.stat(bad)
    with pytest.raises(TypeError, match=r"^new should be"):
        t.rename("/tmp/w/d/f", bad)
    with pytest.raises(TypeError, match=r"^linkpath should be"):
        t.symlinkat("x", AT_FDCWD, bad)
    with pytest.raises(TypeError, match="dirfd must be int"):
        t.openat("3", "f")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="olddirfd must be int"):
        t.renameat2(1.0, "a", AT_FDCWD, "b")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fstype must be str or bytes"):
        t.mount("none", "/tmp/w/d", pathlib.Path("tmpfs"))  # type: ignore[arg-type]
    assert snapshot(t.kernel) == before


# ---------------------------------------------------------------------------------------
# Kstat behaves like os.stat_result


def test_kstat_is_indexable_like_os_stat_result(t: Task, tmp_path: pathlib.Path) -> None:
    st = t.stat("/tmp/w/d/f")
    real = os.stat(tmp_path)
    assert len(st) == len(real) == 10
    assert tuple(st) == (
        st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
        st.st_atime_ns // 10**9, st.st_mtime_ns // 10**9, st.st_ctime_ns // 10**9,
    )  # fmt: skip
    assert st[stat.ST_MODE] == st.st_mode and st[stat.ST_SIZE] == st.st_size
    assert st[-1] == st[stat.ST_CTIME] and st[:2] == (st.st_mode, st.st_ino)
    assert all(type(v) is int for v in st) and all(type(v) is int for v in real)
    for name in ("st_atime", "st_mtime", "st_ctime"):
        assert isinstance(getattr(st, name), float) and isinstance(getattr(real, name), float)
        assert getattr(st, name) == getattr(st, name + "_ns") / 1e9
    assert stat.S_ISREG(st[0]) and stat.filemode(st.st_mode) == "-rw-r--r--"


# ---------------------------------------------------------------------------------------
# dirfds


def test_dirfds_at_fdcwd_o_path_absolute_names_and_their_errnos(t: Task) -> None:
    d = t.open("/tmp/w/d", os.O_RDONLY | os.O_DIRECTORY)
    p = t.open("/tmp/w/d", O_PATH)
    f = t.open("/tmp/w/d/f")
    t.chdir("/tmp/w")
    t.mkdirat(AT_FDCWD, "viacwd")
    t.mkdirat(p, "viapath")
    t.mkdirat(999, "/tmp/w/abs")  # an absolute name never looks at the dirfd
    assert {"viacwd", "abs"} <= set(t.listdir("/tmp/w"))
    assert "viapath" in t.listdir("/tmp/w/d")
    for dirfd, err in ((999, errno.EBADF), (-7, errno.EBADF), (f, errno.ENOTDIR)):
        with pytest.raises(OSError) as info:
            t.openat(dirfd, "f")
        assert info.value.errno == err and info.value.filename == "f"
        assert info.value.function == "path_init"  # type: ignore[attr-defined]
    with pytest.raises(FileNotFoundError):
        t.mkdirat(999, "")  # getname's ENOENT comes before the dirfd
    assert t.fstatat(f, "", AT_EMPTY_PATH).st_ino == t.stat("/tmp/w/d/f").st_ino
    assert t.readlinkat(t.open("/tmp/w/d/l", O_PATH | os.O_NOFOLLOW), "") == "f"
    with pytest.raises(FileNotFoundError):
        t.readlinkat(d, "")  # the dirfd itself is not a symlink: ENOENT, not EINVAL
    assert t.openat(d, "f", os.O_RDONLY | os.O_CLOEXEC) != f


def test_unlinkat_renameat2_and_linkat_flags(t: Task) -> None:
    d = t.open("/tmp/w/d", os.O_RDONLY | os.O_DIRECTORY)
    t.mkdirat(d, "sub")
    with pytest.raises(IsADirectoryError):
        t.unlinkat(d, "sub")
    t.unlinkat(d, "sub", AT_REMOVEDIR)
    with pytest.raises(OSError) as info:
        t.unlinkat(999, "nope", 1)
    assert info.value.errno == errno.EINVAL  # the flags before the name and the dirfd
    t.linkat(d, "l", d, "followed", AT_SYMLINK_FOLLOW)
    t.linkat(d, "l", d, "itself", 0)
    assert stat.S_ISREG(t.lstat("/tmp/w/d/followed").st_mode)
    assert stat.S_ISLNK(t.lstat("/tmp/w/d/itself").st_mode)
    f = t.open("/tmp/w/d/f")
    t.linkat(f, "", d, "fromfd", AT_EMPTY_PATH)
    assert t.stat("/tmp/w/d/fromfd").st_ino == t.stat("/tmp/w/d/f").st_ino
    t.renameat2(d, "fromfd", AT_FDCWD, "/tmp/w/moved", 1)  # RENAME_NOREPLACE
    t.renameat(AT_FDCWD, "/tmp/w/moved", d, "back")
    assert "back" in t.listdir("/tmp/w/d")


def test_statx_fills_what_its_mask_says(t: Task) -> None:
    d = t.open("/tmp/w/d", O_PATH)
    sx = t.statx(d, "f", 0, STATX_BASIC_STATS | STATX_BTIME)
    st = t.stat("/tmp/w/d/f")
    assert sx.stx_mask & (STATX_BASIC_STATS | STATX_BTIME | STATX_MNT_ID) == 0x1FFF
    assert (sx.stx_mode, sx.stx_ino, sx.stx_nlink, sx.stx_size) == (
        st.st_mode, st.st_ino, st.st_nlink, st.st_size,
    )  # fmt: skip
    assert sx.stx_btime_ns > 0 and sx.stx_mtime_ns == st.st_mtime_ns
    root = t.statx(AT_FDCWD, "/tmp/w", 0)
    assert root.stx_attributes & 0x2000 and not sx.stx_attributes & 0x2000  # MOUNT_ROOT
    mounts = {m.mnt_id for m in t.mnt_ns.mounts}
    assert root.stx_mnt_id == sx.stx_mnt_id and root.stx_mnt_id in mounts
    old = pinfs.Kernel(LINUX_5_10).init_task.statx(AT_FDCWD, "/", 0)
    assert old.stx_mask == STATX_BASIC_STATS | STATX_MNT_ID
    with pytest.raises(OSError) as info:
        pinfs.Kernel(SEED).init_task.statx(AT_FDCWD, "/", 0)
    assert info.value.errno == errno.ENOSYS


def test_access_checks_the_real_ids_unless_at_eaccess(t: Task) -> None:
    t.chmod("/tmp/w/d/f", 0o600)
    t.setresuid(1000, 0, 0)  # real uid 1000, effective root
    with pytest.raises(PermissionError) as info:
        t.access("/tmp/w/d/f", os.R_OK)
    assert info.value.filename == "/tmp/w/d/f"
    t.faccessat2(AT_FDCWD, "/tmp/w/d/f", os.R_OK, AT_EACCESS)
    t.faccessat2(AT_FDCWD, "/tmp/w/d/l", os.F_OK, AT_SYMLINK_NOFOLLOW)
    with pytest.raises(OSError) as bad_mode:
        t.access("/tmp/w/d/f", 8)
    assert bad_mode.value.errno == errno.EINVAL
    with pytest.raises(OSError) as nosys:
        pinfs.Kernel(SEED).init_task.faccessat2(AT_FDCWD, "/", 0, 0)
    assert nosys.value.errno == errno.ENOSYS


def test_fchmod_fchown_and_fstatfs(t: Task) -> None:
    f = t.open("/tmp/w/d/f")
    p = t.open("/tmp/w/d/f", O_PATH)
    t.fchmod(f, 0o604)
    t.fchown(f, 5, -1)
    st = t.stat("/tmp/w/d/f")
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o604, 5, 0)
    for call in (lambda: t.fchmod(p, 0o600), lambda: t.fchown(p, 1, 1)):
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == errno.EBADF
    assert t.fstatfs(p).f_type == t.statfs("/tmp/w").f_type == 0x01021994  # TMPFS_MAGIC
    m = t.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 4, 1)
    assert t.fstatfs(m).f_type == 0x09041934  # ANON_INODE_FS_MAGIC
    assert t.fstatat(m, "", AT_EMPTY_PATH).st_mode == t.fstat(m).st_mode
    for call in (lambda: t.fchmod(m, 0o644), lambda: t.fchown(m, 1, 1)):  # anon_inode_setattr
        with pytest.raises(OSError) as blocked:
            call()
        assert blocked.value.errno == errno.EOPNOTSUPP


# ---------------------------------------------------------------------------------------
# getdents64: a caller's buffer, the file position as the cursor


def _names(data: bytes) -> list[str]:
    return [e.d_name for e in parse_dirents(data)]


def test_getdents64_continues_where_the_buffer_ended(t: Task) -> None:
    for name in ("a1", "a2", "a3"):
        t.mkdir(f"/tmp/w/d/{name}")
    d = t.open("/tmp/w/d", os.O_RDONLY | os.O_DIRECTORY)
    everything = _names(t.getdents64(d, 4096))
    assert everything[:2] == [".", ".."] and set(everything[2:]) == {"a1", "a2", "a3", "f", "l"}
    assert t.getdents64(d, 4096) == b""
    assert t.lseek(d, 0) == 0
    with pytest.raises(OSError) as info:
        t.getdents64(d, 8)
    assert info.value.errno == errno.EINVAL
    chunks = []
    while data := t.getdents64(d, 48):  # two 24-byte records a call
        chunks.append(_names(data))
    assert [len(c) for c in chunks] == [2, 2, 2, 1]
    assert [n for c in chunks for n in c] == everything
    offsets = [e.d_off for e in parse_dirents(t.getdents64(t.open("/tmp/w/d"), 4096))]
    assert offsets == list(range(1, len(everything) + 1))


def test_getdents64_errnos_change_nothing(t: Task) -> None:
    p = t.open("/tmp/w/d", O_PATH)
    f = t.open("/tmp/w/d/f")
    d = t.open("/tmp/w/d")
    before = snapshot(t.kernel)
    for fd, count, err in ((p, 4096, errno.EBADF), (f, 4096, errno.ENOTDIR), (d, 1, errno.EINVAL)):
        with pytest.raises(OSError) as info:
            t.getdents64(fd, count)
        assert info.value.errno == err
    after = snapshot(t.kernel)
    for key in before:  # only atime may move (iterate_dir touches it even on EINVAL)
        if key != "superblocks":
            assert before[key] == after[key], key


# ---------------------------------------------------------------------------------------
# Failed *at calls change nothing


def _failing_at_calls(t: Task, d: int, f: int) -> Iterator[Callable[[], Any]]:
    yield lambda: t.mkdirat(f, "x")
    yield lambda: t.mknodat(999, "x", stat.S_IFIFO | 0o600)
    yield lambda: t.unlinkat(d, "nope", 0)
    yield lambda: t.unlinkat(d, "f", 0x8000)
    yield lambda: t.renameat2(d, "f", 999, "g")
    yield lambda: t.renameat2(d, "f", d, "l", 1)
    yield lambda: t.linkat(d, "f", d, "l")
    yield lambda: t.symlinkat("t", f, "x")
    yield lambda: t.fchmodat(999, "f", 0o777)
    yield lambda: t.fchownat(d, "f", 1, 1, 0x8000)
    yield lambda: t.openat(d, "new", os.O_CREAT | os.O_DIRECTORY)
    yield lambda: t.statx(d, "f", 0x6000)
    yield lambda: t.faccessat2(d, "f", 0, 0x8000)


def test_failed_at_calls_change_nothing(t: Task) -> None:
    d = t.open("/tmp/w/d", os.O_RDONLY | os.O_DIRECTORY)
    f = t.open("/tmp/w/d/f")
    calls = list(_failing_at_calls(t, d, f))
    for call in calls:
        before = snapshot(t.kernel)
        with pytest.raises(pinfs.KernelError):
            call()
        assert snapshot(t.kernel) == before
    assert len(calls) == 13
    t.kernel.check_invariants()


def test_path_calls_are_their_at_forms_in_a_trace(t: Task) -> None:
    trace = t.kernel.start_trace()
    t.mkdir("/tmp/w/x")
    t.unlinkat(AT_FDCWD, "/tmp/w/x", AT_REMOVEDIR)
    t.fstatat(AT_FDCWD, "/tmp/w/d/l", AT_SYMLINK_NOFOLLOW)
    t.kernel.stop_trace()
    assert [e.name for e in trace.events] == ["mkdir", "unlinkat", "fstatat"]


def test_openat2_restrictions_and_failures_change_nothing(t: Task) -> None:
    t.mkdir("/tmp/w/d/mnt")
    t.mount("tmpfs", "/tmp/w/d/mnt", "tmpfs")
    t.symlink("/tmp/w/d/f", "/tmp/w/d/abs")
    d = t.open("/tmp/w/d", O_PATH)
    fd = t.openat2(d, "l", os.O_RDONLY | os.O_CLOEXEC, 0, 0)
    assert t.fcntl(fd, 1) == 1  # F_GETFD: FD_CLOEXEC
    cases = [
        (dict(flags=1 << 40), errno.EINVAL, "build_open_flags"),
        (dict(mode=0o600), errno.EINVAL, "build_open_flags"),
        (dict(resolve=0x18), errno.EINVAL, "build_open_flags"),
        (dict(flags=os.O_CREAT | os.O_WRONLY, mode=0o600, resolve=0x20), errno.EAGAIN, None),
        (dict(resolve=0x04), errno.ELOOP, "pick_link"),  # RESOLVE_NO_SYMLINKS on "l"
    ]
    for kwargs, err, function in cases:
        before = snapshot(t.kernel)
        with pytest.raises(OSError) as info:
            t.openat2(d, "l", **kwargs)
        assert info.value.errno == err and info.value.filename == "l"
        assert function is None or info.value.function == function  # type: ignore[attr-defined]
        assert snapshot(t.kernel) == before
    for name, resolve in (("mnt", 0x01), ("abs", 0x08), ("..", 0x08), ("/tmp", 0x08)):
        with pytest.raises(OSError) as info:
            t.openat2(d, name, O_PATH, 0, resolve)
        assert info.value.errno == errno.EXDEV, name
    t.close(t.openat2(d, "/f", os.O_RDONLY, 0, 0x10))  # RESOLVE_IN_ROOT: "/" is the dirfd
    with pytest.raises(OSError) as nosys:
        pinfs.Kernel(SEED).init_task.openat2(AT_FDCWD, "/")
    assert nosys.value.errno == errno.ENOSYS


def test_the_testing_kits_task_passes_the_read_only_at_calls_through() -> None:
    from pinfs.testing.runner import Driver

    driver = Driver.boot(LINUX_6_18)
    task = driver.as_task(1)
    assert task.statx(AT_FDCWD, "/tmp", 0).stx_mode == task.stat("/tmp").st_mode
    assert task.fstatat(AT_FDCWD, "/tmp", 0).st_ino == task.stat("/tmp").st_ino
    task.faccessat2(AT_FDCWD, "/tmp", os.W_OK, AT_EACCESS)
    driver.check()


# ---------------------------------------------------------------------------------------
# Property: a dirfd-relative call is the same call as its absolute form


NAMES = st.sampled_from(["a", "b", "a/b", "b/a", "a/..", "nope/x", ".", "a/", "l", "l/b"])
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["mkdir", "unlink", "rmdir", "creat", "rename", "link", "symlink",
                         "stat", "lstat", "chmod", "access", "readlink"]),
        NAMES,
        NAMES,
    ),
    max_size=12,
)  # fmt: skip


def _run(t: Task, steps: list[tuple[str, str, str]], relative: bool) -> list[Any]:
    base = "/tmp/w/d"
    dfd = t.open(base, O_PATH) if relative else AT_FDCWD

    def at(name: str) -> str:
        return name if relative else f"{base}/{name}"

    calls: dict[str, Callable[[str, str], Any]] = {
        "mkdir": lambda a, b: t.mkdirat(dfd, at(a), 0o755),
        "unlink": lambda a, b: t.unlinkat(dfd, at(a), 0),
        "rmdir": lambda a, b: t.unlinkat(dfd, at(a), AT_REMOVEDIR),
        "creat": lambda a, b: t.close(t.openat(dfd, at(a), os.O_CREAT | os.O_WRONLY, 0o600)),
        "rename": lambda a, b: t.renameat2(dfd, at(a), dfd, at(b), 0),
        "link": lambda a, b: t.linkat(dfd, at(a), dfd, at(b), 0),
        "symlink": lambda a, b: t.symlinkat(a, dfd, at(b)),
        "stat": lambda a, b: t.fstatat(dfd, at(a), 0).st_mode,
        "lstat": lambda a, b: t.fstatat(dfd, at(a), AT_SYMLINK_NOFOLLOW).st_nlink,
        "chmod": lambda a, b: t.fchmodat(dfd, at(a), 0o700),
        "access": lambda a, b: t.faccessat2(dfd, at(a), os.R_OK, AT_EACCESS),
        "readlink": lambda a, b: t.readlinkat(dfd, at(a)),
    }
    out: list[Any] = []
    for op, a, b in steps:
        try:
            out.append(calls[op](a, b))
        except OSError as e:
            out.append(errno.errorcode[e.errno or 0])
    out.append(sorted(t.listdir(base)))
    return out


@settings(max_examples=budget(60), deadline=None)
@given(STEPS)
def test_a_dirfd_relative_call_does_what_its_absolute_form_does(
    steps: list[tuple[str, str, str]],
) -> None:
    def fresh() -> Task:
        k = pinfs.Kernel(LINUX_6_18)
        task = k.init_task
        task.mkdir("/tmp/w")
        task.mkdir("/tmp/w/d")
        return task

    absolute, relative = fresh(), fresh()
    assert _run(absolute, steps, relative=False) == _run(relative, steps, relative=True)
    relative.kernel.check_invariants()


def test_a_trace_of_at_calls_replays_as_a_scenario() -> None:
    from pinfs import scenario

    k = pinfs.Kernel(LINUX_6_18)
    t = k.init_task
    trace = k.start_trace()
    t.mkdirat(AT_FDCWD, "/tmp/s", 0o755)
    d = t.openat(AT_FDCWD, "/tmp/s", os.O_RDONLY | os.O_DIRECTORY)
    t.close(t.openat(d, "f", os.O_CREAT | os.O_WRONLY, 0o600))
    t.fstatat(d, "f", 0)
    with pytest.raises(OSError):
        t.unlinkat(d, "f", AT_REMOVEDIR)
    t.renameat2(d, "f", d, "g", 0)
    t.fchmodat(d, "g", 0o640)
    k.stop_trace()
    text = scenario.from_trace(trace)
    assert "openat $f1 f" in text and "renameat2 $f1 f $f1 g" in text, text
    run = scenario.run_scenario(scenario.loads(text), scenario.PinfsBackend())
    assert all(r.matches for r in run) and len(list(run)) == 8
