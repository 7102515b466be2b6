"""dup2, dup3, fcntl (F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL), lseek,
uname and getpid: unit tests on pinfs, then one script run on pinfs and on the live
kernel (LINUX_6_18) step by step, the errno of every failure compared."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

import pytest

import pinfs
from pinfs.base.profiles import LINUX_6_18, SEED
from pinfs.ebpf.attr import BPF_MAP_TYPE_HASH
from pinfs.machine.task import F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_GETFL, F_SETFD
from support import CONSOLE_FDS, err

CLONE_NEWNS = 0x00020000
O_PATH = 0o10000000
RLIMIT_NOFILE = 7


@pytest.fixture
def t() -> pinfs.Task:
    return pinfs.Kernel(LINUX_6_18, mount_proc=True).init_task


def test_dup2_replaces_and_closes(t: pinfs.Task) -> None:
    t.mkdir("/tmp/a")
    f = t.open("/tmp/a/x", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC)
    d = t.open("/tmp/a", os.O_RDONLY)
    assert t.dup2(d, f) == f
    assert t.readlink(f"/proc/self/fd/{f}") == "/tmp/a"
    assert t.fcntl(f, F_GETFD) == 0  # dup2 clears close-on-exec
    mnt = t.mnt_ns.root
    assert mnt is not None and mnt.mnt_writers == 0  # the writer was closed
    assert t.dup2(d, d) == d
    t.kernel.check_invariants()


def test_dup2_far_fd_grows_the_table(t: pinfs.Task) -> None:
    d = t.open("/tmp")
    assert t.dup2(d, 700) == 700
    assert t.open("/tmp") == d + 1  # the lowest free fd is still found
    t.close(700)
    assert t.files.open_fds() == [*CONSOLE_FDS, d, d + 1]


def test_dup3_errno_order(t: pinfs.Task) -> None:
    d = t.open("/tmp")
    assert err(t.dup3, 99, 1 << 20, 1) == errno.EINVAL  # flags first
    assert err(t.dup3, d, d, 0) == errno.EINVAL
    assert err(t.dup3, 99, 1 << 20, 0) == errno.EBADF
    assert err(t.dup3, 99, 5, 0) == errno.EBADF
    assert err(t.dup3, d, -1, 0) == errno.EBADF
    assert t.dup3(d, 5, os.O_CLOEXEC) == 5
    assert t.fcntl(5, F_GETFD) == 1


def test_dup_of_o_path_works_but_lseek_does_not(t: pinfs.Task) -> None:
    p = t.open("/tmp", O_PATH)
    assert t.dup3(p, 9) == 9
    assert t.fcntl(9, F_GETFL) == O_PATH
    assert t.fcntl(p, F_SETFD, 1) == 0
    assert err(t.lseek, p, 0) == errno.EBADF


def test_fcntl_dupfd(t: pinfs.Task) -> None:
    d = t.open("/tmp")
    assert t.fcntl(d, F_DUPFD, 10) == 10
    assert t.fcntl(d, F_DUPFD, 10) == 11
    assert t.fcntl(d, F_DUPFD, 0) == d + 1  # the lowest free (0-2 are the console)
    assert t.fcntl(d, F_DUPFD_CLOEXEC, d) == d + 2
    assert t.fcntl(d + 2, F_GETFD) == 1
    assert err(t.fcntl, d, F_DUPFD, 1024) == errno.EINVAL
    assert err(t.fcntl, d, F_DUPFD, -1) == errno.EINVAL
    t.setrlimit(RLIMIT_NOFILE, 13, 4096)
    assert t.fcntl(d, F_DUPFD, 12) == 12
    assert err(t.fcntl, d, F_DUPFD, 12) == errno.EMFILE
    assert err(t.fcntl, 99, F_GETFD) == errno.EBADF
    with pytest.raises(ValueError, match="not modelled"):
        t.fcntl(d, 4)  # F_SETFL


def test_fcntl_getfl_and_setfd(t: pinfs.Task) -> None:
    m = t.map_create(BPF_MAP_TYPE_HASH, 4, 4, 1)
    assert t.fcntl(m, F_GETFL) == os.O_RDWR
    assert t.fcntl(m, F_GETFD) == 1
    assert t.fcntl(m, F_SETFD, 0) == 0
    assert t.fcntl(m, F_GETFD) == 0
    info = t.open(f"/proc/self/fdinfo/{m}")
    assert t.read(info, 100).split(b"\n")[1] == b"flags:\t02"
    t.execve()
    assert t.fcntl(m, F_GETFL) == os.O_RDWR  # survived exec


def test_lseek_regular_files(t: pinfs.Task) -> None:
    t.mkdir("/tmp/a")
    f = t.open("/tmp/a/x", os.O_CREAT | os.O_RDWR)
    t.truncate("/tmp/a/x", 100)
    assert t.lseek(f, 0, os.SEEK_END) == 100
    assert t.lseek(f, -10, os.SEEK_CUR) == 90
    assert t.read(f, 50) == bytes(10)
    assert err(t.lseek, f, -1) == errno.EINVAL
    assert t.lseek(f, 5, os.SEEK_DATA) == 5  # ramfs: all data
    assert t.lseek(f, 5, os.SEEK_HOLE) == 100
    assert err(t.lseek, f, 100, os.SEEK_DATA) == errno.ENXIO
    assert err(t.lseek, f, 0, 5) == errno.EINVAL


def test_lseek_tmpfs_files_are_holes(t: pinfs.Task) -> None:
    t.mkdir("/tmp/s")
    t.mount("tmpfs", "/tmp/s", "tmpfs")
    f = t.open("/tmp/s/x", os.O_CREAT | os.O_RDWR)
    t.truncate("/tmp/s/x", 100)
    assert err(t.lseek, f, 0, os.SEEK_DATA) == errno.ENXIO
    assert t.lseek(f, 5, os.SEEK_HOLE) == 5


def test_lseek_of_a_directory_moves_the_readdir_cursor(t: pinfs.Task) -> None:
    t.mkdir("/tmp/a")
    for name in "xyz":
        t.mkdir(f"/tmp/a/{name}")
    d = t.open("/tmp/a", os.O_RDONLY | os.O_DIRECTORY)
    everything = [e.d_name for e in t.getdents(d)]
    assert t.lseek(d, 0) == 0
    assert [e.d_name for e in t.getdents(d)] == everything
    assert t.lseek(d, 3) == 3
    assert [e.d_name for e in t.getdents(d)] == everything[3:]
    assert err(t.lseek, d, 0, os.SEEK_END) == errno.EINVAL


def test_lseek_errnos(t: pinfs.Task) -> None:
    m = t.map_create(BPF_MAP_TYPE_HASH, 4, 4, 1)
    assert err(t.lseek, m, 0) == errno.ESPIPE
    assert err(t.lseek, m, 0, 9) == errno.EINVAL  # whence before ESPIPE
    assert err(t.lseek, 99, 0) == errno.EBADF
    info = t.open(f"/proc/self/fdinfo/{m}")
    assert t.lseek(info, 3) == 3
    assert t.read(info, 4) == b":\t0\n"
    assert err(t.lseek, info, 0, os.SEEK_END) == errno.EINVAL


def test_uname_and_getpid_follow_the_profile() -> None:
    assert pinfs.Kernel(SEED).init_task.uname().release == "4.3.0"
    k = pinfs.Kernel(LINUX_6_18)
    child = k.init_task.fork()
    assert child.getpid() == child.pid == 2
    name = child.uname()
    assert (name.sysname, name.release, name.machine) == ("Linux", "6.18.0", "x86_64")


def test_bad_python_arguments_change_nothing(t: pinfs.Task) -> None:
    d = t.open("/tmp")
    before = t.files.open_fds()
    with pytest.raises(TypeError):
        t.dup2(d, "1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        t.lseek(d, 1 << 63)
    with pytest.raises(TypeError):
        t.fcntl(d, F_GETFD, 1.5)  # type: ignore[arg-type]
    assert t.files.open_fds() == before


# ---------------------------------------------------------------------------------------
# The same script on the live kernel


#: conftest's ``live`` fixture mounts the twin's own /proc for this module.
LIVE_MOUNTS_PROC = True


def script(t: Any, base: str) -> list[Any]:
    out: list[Any] = []

    def step(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            value = fn(*args)
        except OSError as e:
            out.append(errno.errorcode[e.errno or 0])
            return None
        out.append(value)
        return value

    create = getattr(t, "bpf_map_create", None) or t.map_create
    t.unshare(CLONE_NEWNS)
    t.mkdir(base)
    t.mount("tmpfs", base, "tmpfs")  # pinfs's /tmp is ramfs, the sandbox's tmpfs
    d = step(t.open, base, os.O_RDONLY | os.O_DIRECTORY)
    f = step(t.open, f"{base}/f", os.O_CREAT | os.O_RDWR, 0o600)
    m = step(create, int(BPF_MAP_TYPE_HASH), 4, 8, 16)
    p = step(t.open, base, O_PATH)
    step(t.dup2, d, d)
    step(t.dup2, 99, 99)
    step(t.dup2, 99, 50)
    step(t.dup2, d, 1 << 20)
    step(t.dup2, d, -1)
    step(t.dup2, d, 40)
    step(t.fcntl, 40, F_GETFD)
    step(t.dup2, f, 40)
    out.append(t.readlink("/proc/self/fd/40").replace(base, "BASE"))
    step(t.dup3, d, d, 0)
    step(t.dup3, d, 41, 1)
    step(t.dup3, 99, 41, 1)
    step(t.dup3, 99, 1 << 20, 0)
    step(t.dup3, d, 41, os.O_CLOEXEC)
    step(t.fcntl, 41, F_GETFD)
    step(t.dup3, p, 42, 0)
    for fd in (d, f, m, p, 42):
        step(t.fcntl, fd, F_GETFL)
    step(t.fcntl, m, F_GETFD)
    step(t.fcntl, m, F_SETFD, 0)
    step(t.fcntl, m, F_GETFD)
    step(t.fcntl, p, F_SETFD, 1)
    step(t.fcntl, p, F_GETFD)
    step(t.fcntl, d, F_DUPFD, 100)
    step(t.fcntl, d, F_DUPFD, 100)
    step(t.fcntl, d, F_DUPFD, 1 << 20)
    step(t.fcntl, d, F_DUPFD, -1)
    step(t.fcntl, d, F_DUPFD_CLOEXEC, 50)
    step(t.fcntl, 50, F_GETFD)
    step(t.fcntl, d, F_DUPFD, 0)
    step(t.fcntl, 999, F_GETFD)
    t.truncate(f"{base}/f", 100)
    step(t.lseek, m, 0, os.SEEK_SET)
    step(t.lseek, p, 0, os.SEEK_SET)
    step(t.lseek, m, 0, 9)
    step(t.lseek, f, 0, 5)
    step(t.lseek, f, 0, os.SEEK_END)
    step(t.lseek, f, -1, os.SEEK_SET)
    step(t.lseek, f, 10, os.SEEK_CUR)
    step(t.lseek, f, 0, os.SEEK_CUR)
    step(t.lseek, f, 0, os.SEEK_DATA)
    step(t.lseek, f, 5, os.SEEK_HOLE)
    step(t.lseek, f, 200, os.SEEK_HOLE)
    step(t.read, f, 10)
    step(t.lseek, d, 5, os.SEEK_SET)
    step(t.lseek, d, -1, os.SEEK_SET)
    step(t.lseek, d, 0, os.SEEK_END)
    info = t.open(f"/proc/self/fdinfo/{m}", os.O_RDONLY)
    step(t.lseek, info, 3, os.SEEK_SET)
    step(t.read, info, 8)
    step(t.lseek, info, 0, os.SEEK_END)
    t.setrlimit(RLIMIT_NOFILE, 64, 4096)
    step(t.fcntl, d, F_DUPFD, 63)
    step(t.fcntl, d, F_DUPFD, 63)
    step(t.fcntl, d, F_DUPFD, 64)
    step(t.dup3, d, 64, 0)
    name = t.uname()
    out.append((name.sysname, name.release.split(".")[:2], name.machine))
    out.append(t.readlink("/proc/self") == str(t.getpid()))
    return out


@pytest.mark.live
def test_fd_calls_agree_with_the_live_kernel(live: Any) -> None:
    k = pinfs.Kernel(LINUX_6_18, mount_proc=True)
    on_pinfs = script(k.init_task.fork(), "/tmp/fdcalls")
    child = live.init_task.fork()
    try:
        on_live = script(child, "/tmp/fdcalls")
    finally:
        child.exit(0)
    assert len(on_pinfs) == len(on_live)
    for i, (a, b) in enumerate(zip(on_pinfs, on_live, strict=True)):
        assert a == b, f"step {i}: pinfs {a!r}, live {b!r}"
    assert on_pinfs.count("EBADF") >= 6 and on_pinfs.count("EINVAL") >= 8


def test_the_reference_model_follows_dup2_dup3_and_fcntl() -> None:
    from pinfs.testing.runner import run_script

    hash_map = {"pid": 1, "map_type": 1, "key_size": 4, "value_size": 4, "max_entries": 1}
    script = [
        ("map_create", hash_map),
        ("map_create", hash_map),
        ("dup2", {"pid": 1, "fd": 3, "new_fd": 4}),  # the second map's last fd closes
        ("dup2", {"pid": 1, "fd": 4, "new_fd": 4}),
        ("dup3", {"pid": 1, "fd": 3, "new_fd": 7, "flags": os.O_CLOEXEC}),
        ("fcntl", {"pid": 1, "fd": 7, "cmd": F_DUPFD, "arg": 3}),
        ("fcntl", {"pid": 1, "fd": 5, "cmd": F_SETFD, "arg": 1}),
        ("execve", {"pid": 1}),
    ]
    outcomes = run_script(script, profile=LINUX_6_18)
    assert [o.errno for o in outcomes] == [None] * len(script)
    assert [o.result for o in outcomes[2:6]] == [4, 4, 7, 5]  # the maps are fds 3 and 4
