"""Boot opens the console as fds 0, 1 and 2 (init/main.c ``console_on_rootfs``,
init/noinitramfs.c ``default_rootfs``), every task inherits them, and
``Kernel(console=False)`` / ``spawn(close_fds=True)`` give an empty table."""

from __future__ import annotations

import errno
import os
import stat

import pytest

import pinfs
from pinfs import scenario
from pinfs.base.profiles import LINUX_4_4, LINUX_5_10, LINUX_6_18, PRESETS, SEED
from pinfs.fs.char_dev import CONSOLE_DEV
from pinfs.fs.libfs import WouldBlockForever
from pinfs.machine.task import F_GETFD, F_GETFL, RLIMIT_NOFILE
from snapshot import snapshot
from support import CONSOLE_FDS, err

O_LARGEFILE = 0o100000
MS_REMOUNT, MS_RDONLY = 32, 1


def test_init_holds_one_console_file_at_fds_0_1_2_console_on_rootfs() -> None:
    k = pinfs.Kernel()
    t = k.init_task
    assert t.files.open_fds() == CONSOLE_FDS
    console = t.fd_file(0)
    assert t.fd_file(1) is console and t.fd_file(2) is console  # init_dup: one file
    assert console.f_count == 3
    assert [t.fcntl(fd, F_GETFD) for fd in CONSOLE_FDS] == [0, 0, 0]  # no close-on-exec
    st = t.fstat(0)
    assert (st.st_mode, st.st_rdev, st.st_uid, st.st_gid) == (stat.S_IFCHR | 0o600, 0x501, 0, 0)
    assert st.st_ino == t.stat("/dev/console").st_ino
    assert os.makedev(5, 1) == CONSOLE_DEV
    assert t.stat("/dev").st_mode == stat.S_IFDIR | 0o755
    assert k.dmesg == []
    k.check_invariants()


@pytest.mark.parametrize("profile", list(PRESETS.values()), ids=lambda p: p.name)
def test_the_console_flags_follow_the_profile_sys_open_then_filp_open(
    profile: pinfs.Profile,
) -> None:
    """sys_open forced O_LARGEFILE (the seed to v5.4); filp_open does not (v5.5)."""
    k = pinfs.Kernel(profile, mount_proc=True)
    t = k.init_task
    expected = os.O_RDWR if profile.console_f_flags == os.O_RDWR else os.O_RDWR | O_LARGEFILE
    assert t.fcntl(0, F_GETFL) == expected
    assert (profile in (LINUX_5_10, LINUX_6_18)) == (expected == os.O_RDWR)
    info = t.open("/proc/self/fdinfo/1")
    assert t.read(info, 100).split(b"\n")[1] == f"flags:\t0{expected:o}".encode()  # "0%o"
    assert t.readlink("/proc/1/fd/2") == "/dev/console"


def test_children_inherit_the_console_and_the_first_new_fd_is_3() -> None:
    k = pinfs.Kernel()
    user = k.spawn(uid=1000)
    assert user.files.open_fds() == CONSOLE_FDS
    assert user.fd_file(0) is k.init_task.fd_file(0)
    assert user.fd_file(0).f_count == 6
    fd = user.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    assert fd == 3
    assert user.fork().files.open_fds() == [*CONSOLE_FDS, fd]
    user.execve()  # the console is not close-on-exec; the map fd is
    assert user.files.open_fds() == CONSOLE_FDS
    k.check_invariants()


def test_writes_reach_the_console_and_reads_take_its_input_tty_read() -> None:
    k = pinfs.Kernel()
    t = k.spawn(uid=1000)
    assert t.write(1, b"hello\n") == 6
    assert t.write(2, b"oops\n") == 5
    assert bytes(k.console.output) == b"hello\noops\n"
    with pytest.raises(WouldBlockForever):
        t.read(0, 10)  # nobody typed anything: a real read would wait
    k.console.input += b"yes\nno\n"
    assert t.read(0, 4) == b"yes\n"
    assert t.read(0, 100) == b"no\n"
    assert t.read(0, 0) == b""
    assert err(t.lseek, 0, 0) == errno.ESPIPE  # nonseekable_open


def test_the_console_opened_again_is_the_same_device_chrdev_open() -> None:
    k = pinfs.Kernel()
    t = k.init_task
    fd = t.open("/dev/console", os.O_RDONLY | os.O_NONBLOCK)
    assert t.fd_file(fd) is not t.fd_file(0)  # a new open file, the same device
    assert err(t.read, fd, 1) == errno.EAGAIN  # O_NONBLOCK: no input yet
    assert err(t.write, fd, b"x") == errno.EBADF  # opened read-only
    t.mknod("/tmp/tty", stat.S_IFCHR | 0o600, CONSOLE_DEV)  # another node, same number
    other = t.open("/tmp/tty", os.O_WRONLY)
    t.write(other, b"via /tmp/tty")
    assert bytes(k.console.output) == b"via /tmp/tty"


def test_a_character_device_without_a_driver_is_enxio_chrdev_open() -> None:
    t = pinfs.Kernel().init_task
    t.mknod("/tmp/c", stat.S_IFCHR | 0o600, os.makedev(42, 7))
    assert err(t.open, "/tmp/c", os.O_RDWR) == errno.ENXIO
    t.mknod("/tmp/b", stat.S_IFBLK | 0o600, os.makedev(8, 0))
    assert err(t.open, "/tmp/b", os.O_RDONLY) == errno.ENXIO
    assert t.files.open_fds() == CONSOLE_FDS


def test_console_false_boots_without_a_console_and_fds_start_at_0() -> None:
    k = pinfs.Kernel(console=False)
    t = k.init_task
    assert t.files.open_fds() == []
    assert k.dmesg == ["Warning: unable to open an initial console."]
    assert sorted(t.listdir("/")) == ["sys", "tmp"]
    assert t.open("/tmp") == 0
    assert k.spawn(uid=1000).files.open_fds() == [0]
    k.check_invariants()
    with pytest.raises(TypeError, match="console must be bool"):
        pinfs.Kernel(console=1)  # type: ignore[arg-type]


def test_spawn_close_fds_gives_an_empty_table() -> None:
    k = pinfs.Kernel()
    child = k.spawn(uid=1000, close_fds=True)
    assert child.files.open_fds() == []
    assert child.open("/tmp") == 0
    assert k.init_task.fd_file(0).f_count == 3  # init's own are untouched
    k.check_invariants()
    before = snapshot(k)
    with pytest.raises(TypeError, match="close_fds must be bool"):
        k.spawn(uid=1000, close_fds="yes")  # type: ignore[arg-type]
    assert snapshot(k) == before  # junk costs no pid


def test_rlimit_nofile_counts_the_console_fds_alloc_fd() -> None:
    t = pinfs.Kernel().spawn(uid=0)
    t.setrlimit(RLIMIT_NOFILE, 3, 3)  # exactly the console's three
    assert err(t.open, "/tmp") == errno.EMFILE
    assert err(t.map_create, pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1) == errno.EMFILE
    t.close(2)
    assert t.open("/tmp") == 2


@pytest.mark.parametrize("profile", [SEED, LINUX_4_4, LINUX_6_18], ids=lambda p: p.name)
def test_a_device_open_for_writing_does_not_hold_the_mount_writable_do_dentry_open(
    profile: pinfs.Profile,
) -> None:
    """Special files take no ``mnt_want_write`` (``FMODE_WRITER`` is for regular files
    and directories only): the console, open read-write by everyone, does not stop
    "/" going read-only; a regular file open for writing does (EBUSY)."""
    k = pinfs.Kernel(profile)
    t = k.init_task
    root = k.mounts()[0]
    assert root.mnt_writers == 0
    fifo_path = "/tmp/fifo"
    t.mknod(fifo_path, stat.S_IFIFO | 0o600)
    fifo = t.open(fifo_path, os.O_RDWR)
    assert root.mnt_writers == 0
    f = t.open("/tmp/f", os.O_CREAT | os.O_WRONLY, 0o600)
    assert root.mnt_writers == 1
    assert err(t.mount, None, "/", None, MS_REMOUNT | MS_RDONLY) == errno.EBUSY
    t.close(f)
    t.mount(None, "/", None, MS_REMOUNT | MS_RDONLY)
    assert t.write(1, b"still writable\n") == 15  # the console does not care
    t.close(fifo)
    k.check_invariants()


def test_a_traced_spawn_with_close_fds_replays_with_the_closes() -> None:
    k = pinfs.Kernel(trace=True)
    child = k.spawn(uid=1000, close_fds=True)
    assert child.open("/tmp") == 0
    trace = k.stop_trace()
    assert trace is not None
    assert [e.name for e in trace] == ["close", "close", "close", "open"]
    run = scenario.run_scenario(scenario.loads(scenario.from_trace(trace)), "pinfs")
    assert all(r.matches for r in run)
