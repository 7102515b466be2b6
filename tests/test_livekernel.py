"""The live-kernel twin: a private sandbox that behaves like a freshly booted pinfs."""

from __future__ import annotations

import errno
import os
import select
import stat
import struct
from collections.abc import Iterator

import pytest

from pinfs.live.kernel import LiveKernel, LiveTask, live_unavailable_reason

pytestmark = pytest.mark.live

BPF_FS_MAGIC = 0xCAFE4A11
TMPFS_MAGIC = 0x01021994
BPF_MAP_TYPE_ARRAY = 2
RLIMIT_NOFILE = 7


@pytest.fixture
def live() -> Iterator[LiveKernel]:
    reason = live_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with LiveKernel() as k:
        yield k


def _mountinfo() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


def test_boot_tree(live: LiveKernel) -> None:
    t = live.init_task
    assert t.pid == 1
    assert t.getcwd() == "/"
    assert sorted(t.listdir("/")) == ["dev", "sys", "tmp"]
    assert t.listdir("/dev") == ["console"]
    console = t.fstat(0)  # fds 0, 1, 2: the console, opened before the first task
    assert (stat.S_IFMT(console.st_mode), stat.S_IMODE(console.st_mode)) == (stat.S_IFCHR, 0o600)
    assert t.fstat(1).st_ino == t.fstat(2).st_ino == console.st_ino == t.stat("/dev/console").st_ino
    assert t.listdir("/sys") == ["fs"]
    assert t.listdir("/sys/fs") == ["bpf"]
    assert t.listdir("/sys/fs/bpf") == []
    for path, mode in [("/", 0o755), ("/tmp", 0o1777), ("/sys", 0o755), ("/sys/fs", 0o755)]:
        st = t.stat(path)
        assert stat.S_ISDIR(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == mode, path
        assert (st.st_uid, st.st_gid) == (0, 0)
    assert stat.S_IMODE(t.stat("/sys/fs/bpf").st_mode) == 0o755
    assert t.statfs("/sys/fs/bpf").f_type == TMPFS_MAGIC  # not mounted yet
    assert t.umask(0o022) == 0o022
    assert t.getresuid() == (0, 0, 0)
    effective, permitted, _ = t.capget()
    assert effective == permitted != 0


def test_fd_numbers_start_after_the_console_and_harness_fds_are_hidden(live: LiveKernel) -> None:
    t = live.init_task
    first = t.open("/tmp/a", os.O_CREAT | os.O_WRONLY, 0o644)
    assert first == 3  # 0, 1 and 2 are the console
    assert t.open("/tmp/a") == first + 1
    assert t.dup(first) == first + 2
    t.close(first + 1)
    assert t.dup(first) == first + 1
    for fd in (900, 901, 1000):
        with pytest.raises(OSError) as e:
            t.close(fd)
        assert e.value.errno == errno.EBADF


def test_spawned_user_needs_write_permission(live: LiveKernel) -> None:
    u = live.spawn(uid=1000, gid=1000, groups=(1000,))
    assert u.getresuid() == (1000, 1000, 1000)
    assert u.getresgid() == (1000, 1000, 1000)
    assert u.capget() == (0, 0, 0)
    with pytest.raises(PermissionError) as e:
        u.mkdir("/nope")
    assert e.value.errno == errno.EACCES
    assert e.value.filename == "/nope"
    u.mkdir("/tmp/mine")
    st = u.stat("/tmp/mine")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o755)


def test_spawn_with_capabilities(live: LiveKernel) -> None:
    u = live.spawn(uid=1000, gid=1000, caps=("CAP_DAC_OVERRIDE",))
    assert u.capget() == (1 << 1, 1 << 1, 0)
    u.mkdir("/allowed")  # CAP_DAC_OVERRIDE beats the 0755 root-owned "/"
    assert live.init_task.stat("/allowed").st_uid == 1000


def test_sticky_tmp(live: LiveKernel) -> None:
    a = live.spawn(uid=1000, gid=1000, groups=(1000,))
    b = live.spawn(uid=1001, gid=1001, groups=(1001,))
    a.close(a.open("/tmp/f", os.O_CREAT | os.O_WRONLY, 0o666))
    with pytest.raises(PermissionError) as e:
        b.unlink("/tmp/f")
    assert e.value.errno == errno.EPERM
    a.unlink("/tmp/f")


def test_fork_shares_open_files(live: LiveKernel) -> None:
    t = live.init_task
    fd = t.open("/tmp/f", os.O_CREAT | os.O_RDWR, 0o600)
    child = t.fork()
    assert child.pid != t.pid
    assert child.dup(fd) == fd + 1
    assert child.fstat(fd).st_ino == t.fstat(fd).st_ino
    child.close(fd)
    assert t.fstat(fd).st_ino == child.fstat(fd + 1).st_ino  # the parent's table is its own
    assert t.dup(fd) == fd + 1


def test_execve_closes_cloexec_fds(live: LiveKernel) -> None:
    t = live.init_task
    keep = t.open("/tmp/k", os.O_CREAT | os.O_RDWR, 0o600)
    drop = t.open("/tmp/k", os.O_RDONLY | os.O_CLOEXEC)
    child = t.fork()
    child.execve()
    child.fstat(keep)
    with pytest.raises(OSError) as e:
        child.fstat(drop)
    assert e.value.errno == errno.EBADF
    t.fstat(drop)


def test_exit_and_rlimit(live: LiveKernel) -> None:
    u = live.spawn(uid=1000, gid=1000)
    u.setrlimit(RLIMIT_NOFILE, (5, 5))  # as resource.setrlimit; the console takes 0, 1, 2
    assert u.getrlimit(RLIMIT_NOFILE) == (5, 5)
    assert [u.open("/"), u.open("/")] == [3, 4]
    with pytest.raises(OSError) as e:
        u.open("/")
    assert e.value.errno == errno.EMFILE
    child = u.fork()  # one fork is still possible with a tiny hard limit
    assert child.getrlimit(RLIMIT_NOFILE) == (5, 5)
    child.exit(3)
    assert not child.alive
    with pytest.raises(RuntimeError):
        child.getpid()


def test_bpffs_pin_and_get(live: LiveKernel) -> None:
    t = live.init_task
    t.mount("bpf", "/sys/fs/bpf", "bpf")
    assert t.statfs("/sys/fs/bpf").f_type == BPF_FS_MAGIC
    # This kernel populates every new bpffs instance (see the module docstring).
    kernel_made = set(t.listdir("/sys/fs/bpf"))
    assert kernel_made <= {"maps.debug", "progs.debug"}
    fd = t.map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 2)
    t.map_update_elem(fd, struct.pack("<I", 1), b"12345678")
    t.obj_pin(fd, "/sys/fs/bpf/m")
    assert set(t.listdir("/sys/fs/bpf")) == kernel_made | {"m"}
    st = t.stat("/sys/fs/bpf/m")
    assert stat.S_ISREG(st.st_mode)
    with pytest.raises(FileExistsError):
        t.obj_pin(fd, "/sys/fs/bpf/m")
    other = t.fork()
    t.close(fd)
    got = other.obj_get("/sys/fs/bpf/m")
    assert other.map_lookup_elem(got, struct.pack("<I", 1)) == b"12345678"
    assert other.bpf_map_info(got).value_size == 8
    u = live.spawn(uid=1000, gid=1000)
    with pytest.raises(PermissionError):
        u.obj_get("/sys/fs/bpf/m")


def test_close_leaves_nothing_behind(live: LiveKernel) -> None:
    before = _mountinfo()
    with LiveKernel() as k:
        t = k.init_task
        t.mount("bpf", "/sys/fs/bpf", "bpf")
        tasks: list[LiveTask] = [t, k.spawn(uid=1000, gid=1000), t.fork()]
        tasks.append(tasks[-1].fork())
        assert _mountinfo() == before  # the sandbox's mounts are private
        pidfds = [os.pidfd_open(task.host_pid) for task in tasks]
        scratch = k._res.scratch
        assert scratch is not None and os.path.isdir(scratch)
    try:
        assert _mountinfo() == before
        for pidfd in pidfds:
            assert select.select([pidfd], [], [], 0)[0], "a sandbox process is still alive"
        assert not os.path.exists(scratch)
        assert not t.alive
        with pytest.raises(RuntimeError):
            t.getpid()
    finally:
        for pidfd in pidfds:
            os.close(pidfd)
