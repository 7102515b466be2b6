"""Arguments no C prototype can carry: TypeError / ValueError, and no state change.

A ``str`` or ``bytes`` path is what a ``const char *`` can carry (no NUL inside);
fds, modes, flags and ids must be ints that fit their C types.  Anything else is a
mistake of the caller: the simulated syscall must raise ``TypeError``/``ValueError``
before touching the kernel, so the clock, the fd tables, the dentry tree with every
reference count, the mounts and the credentials are exactly as before.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any

import pytest

import pinfs
from pinfs.machine.task import Task

BAD_PATHS: list[Any] = [
    None,
    3,
    3.5,
    ["/tmp"],
    ("/tmp",),
    # pathlib paths are os.PathLike: accepted like str (tests/test_surface_at.py)
    bytearray(b"/tmp"),
    memoryview(b"/tmp"),
    object(),
]
NUL_PATHS: list[Any] = ["/tmp/f\0", "/tmp\0/x", b"/tmp/\0", "\0"]
BAD_INTS: list[Any] = [None, "1", b"1", 1.0, 1.5, True, [1], object()]


# ---------------------------------------------------------------------------------------
# A fingerprint of everything a syscall could change


def _dentries(root: Any) -> list[Any]:
    out, stack = [], [root]
    while stack:
        d = stack.pop()
        out.append(d)
        stack.extend(d.d_subdirs.values())
    return out


def fingerprint(k: pinfs.Kernel) -> Any:
    """Everything observable about the machine, as plain data."""
    sbs: dict[int, Any] = {}
    mounts = []
    for ns in k.namespaces:
        for m in k.mounts(ns):
            sbs[id(m.mnt_sb)] = m.mnt_sb
            mounts.append(
                (ns.ns_id, m.mnt_id, m.mnt_flags, m.mnt_count, m.mnt_writers, id(m.mnt_mountpoint))
            )
    extra_dentries = []
    tasks = []
    for pid, task in sorted(k.tasks.items()):
        fds = []
        for fd in task.files.open_fds():
            f = task.fd_file(fd)
            fds.append((fd, id(f), f.f_count, f.f_pos, fd in task.files.cloexec, f.f_mode))
            if f.f_path is not None:
                extra_dentries.append(f.f_path.dentry)
        extra_dentries += [task.fs.pwd.dentry, task.fs.root.dentry]
        tasks.append((pid, task.alive, task.cred, task.fs.umask, id(task.mnt_ns), fds,
                      id(task.fs.pwd.dentry), id(task.fs.root.dentry), dict(task.rlimits)))  # fmt: skip
    dentries = []
    seen: set[int] = set()
    for sb in sbs.values():
        for d in _dentries(sb.s_root):
            seen.add(id(d))
            dentries.append(_dentry_state(d))
    for d in extra_dentries:
        if id(d) not in seen:
            seen.add(id(d))
            dentries.append(_dentry_state(d))
    supers = sorted(
        (sb.s_dev, sb.s_active, sb.s_flags, len(sb.s_inodes), sum(i.freed for i in sb.s_inodes))
        for sb in sbs.values()
    )
    return {
        "clock": k.current_time(),
        "ids": (k._last_ino, k._mnt_id, k._pid, k._ns_id),
        "tasks": tasks,
        "mounts": sorted(mounts),
        "supers": supers,
        "dentries": sorted(dentries, key=repr),
        "namespaces": [(ns.ns_id, ns.count, ns.alive) for ns in k.namespaces],
        "fs_supers": {name: len(fs.fs_supers) for name, fs in k.filesystems.items()},
        "sysctl": dict(k.sysctl),
    }


def _dentry_state(d: Any) -> Any:
    i = d.d_inode
    inode = None
    if i is not None:
        inode = (id(i), i.i_ino, i.i_mode, i.i_uid, i.i_gid, i.i_nlink, i.i_count, i.i_size,
                 i.i_atime, i.i_mtime, i.i_ctime, i.i_flags, i.freed, i.i_link)  # fmt: skip
    parent = d.d_parent
    return (id(d), d.d_name, d.d_count, d.hashed, d.d_mounted, id(parent), inode)


@pytest.fixture
def k() -> pinfs.Kernel:
    """A machine with some state: files, a mount, open fds, a second task."""
    k = pinfs.Kernel()
    t = k.init_task
    t.mknod("/tmp/f", stat.S_IFREG | 0o644)
    t.mkdir("/tmp/d")
    t.symlink("f", "/tmp/l")
    t.mkdir("/mnt")
    t.mount("none", "/mnt", "tmpfs")
    t.mknod("/mnt/g", stat.S_IFREG)
    t.open("/tmp/f")
    t.open("/tmp/d", os.O_RDONLY | os.O_CLOEXEC)
    u = k.spawn(uid=1000, gid=1000)
    u.chdir("/tmp/d")
    u.open("/mnt/g", 0o10000000)
    return k


def unchanged(k: pinfs.Kernel, call: Callable[[], Any], exc: type[Exception]) -> None:
    """``call`` raises ``exc`` (not an OSError) and changes nothing."""
    before = fingerprint(k)
    with pytest.raises(exc) as info:
        call()
    assert not isinstance(info.value, OSError), info.value
    after = fingerprint(k)
    assert after == before, [key for key in before if before[key] != after[key]]


def path_calls(t: Task) -> dict[str, Callable[[Any], Any]]:
    """Every syscall taking a path, with the bad value in each path position."""
    return {
        "mkdir": lambda p: t.mkdir(p),
        "rmdir": lambda p: t.rmdir(p),
        "unlink": lambda p: t.unlink(p),
        "rename old": lambda p: t.rename(p, "/tmp/new"),
        "rename new": lambda p: t.rename("/tmp/f", p),
        "link old": lambda p: t.link(p, "/tmp/new"),
        "link new": lambda p: t.link("/tmp/f", p),
        "symlink target": lambda p: t.symlink(p, "/tmp/new"),
        "symlink linkpath": lambda p: t.symlink("x", p),
        "readlink": lambda p: t.readlink(p),
        "mknod": lambda p: t.mknod(p, stat.S_IFREG),
        "mknod dir": lambda p: t.mknod(p, stat.S_IFDIR),  # even may_mknod must not run
        "open": lambda p: t.open(p),
        "open creat": lambda p: t.open(p, os.O_CREAT | os.O_WRONLY),
        "stat": lambda p: t.stat(p),
        "lstat": lambda p: t.lstat(p),
        "statfs": lambda p: t.statfs(p),
        "listdir": lambda p: t.listdir(p),
        "chmod": lambda p: t.chmod(p, 0o600),
        "chown": lambda p: t.chown(p, 0, 0),
        "truncate": lambda p: t.truncate(p, 0),
        "truncate negative": lambda p: t.truncate(p, -1),
        "chdir": lambda p: t.chdir(p),
        "mount target": lambda p: t.mount("none", p, "tmpfs"),
        "mount source": lambda p: t.mount(p, "/tmp/d", "tmpfs"),
        "mount type": lambda p: t.mount("none", "/tmp/d", p),
        "bind source": lambda p: t.mount(p, "/tmp/d", None, 4096),
        "umount": lambda p: t.umount(p),
    }


# ---------------------------------------------------------------------------------------
# Paths


@pytest.mark.parametrize("bad", BAD_PATHS, ids=lambda v: type(v).__name__)
def test_non_string_paths_are_typeerror_and_change_nothing(k: pinfs.Kernel, bad: Any) -> None:
    t = k.init_task
    for name, call in path_calls(t).items():
        if bad is None and name in ("mount source", "mount type", "bind source"):
            continue  # None is a valid NULL for these
        try:
            unchanged(k, lambda call=call: call(bad), TypeError)
        except AssertionError as e:
            raise AssertionError(f"{name}({bad!r}): {e}") from None


@pytest.mark.parametrize("bad", NUL_PATHS)
def test_paths_with_nul_are_valueerror_and_change_nothing(k: pinfs.Kernel, bad: Any) -> None:
    t = k.init_task
    for name, call in path_calls(t).items():
        try:
            unchanged(k, lambda call=call: call(bad), ValueError)
        except AssertionError as e:
            raise AssertionError(f"{name}({bad!r}): {e}") from None


def test_mount_data_must_be_a_string_too(k: pinfs.Kernel) -> None:
    t = k.init_task
    unchanged(k, lambda: t.mount("none", "/tmp/d", "tmpfs", 0, 7), TypeError)
    unchanged(k, lambda: t.mount("none", "/tmp/d", "tmpfs", 0, "mode=0\0"), ValueError)


# ---------------------------------------------------------------------------------------
# fds


@pytest.mark.parametrize("bad", BAD_INTS, ids=repr)
def test_fd_of_the_wrong_type_is_typeerror_and_changes_nothing(k: pinfs.Kernel, bad: Any) -> None:
    t = k.init_task
    for call in (t.close, t.dup, t.fstat, t.getdents, t.fd_file):
        unchanged(k, lambda call=call: call(bad), TypeError)


@pytest.mark.parametrize("bad", [2**40, 2**32, 2**64, -(2**31) - 1, -(2**100)])
def test_fd_beyond_a_c_int_is_valueerror_and_changes_nothing(k: pinfs.Kernel, bad: int) -> None:
    t = k.init_task
    for call in (t.close, t.dup, t.fstat, t.getdents):
        unchanged(k, lambda call=call: call(bad), ValueError)


# ---------------------------------------------------------------------------------------
# modes, flags, ids, lengths


def int_calls(t: Task) -> dict[str, Callable[[Any], Any]]:
    return {
        "mkdir mode": lambda v: t.mkdir("/tmp/new", v),
        "mknod mode": lambda v: t.mknod("/tmp/new", v),
        "mknod dev": lambda v: t.mknod("/tmp/new", stat.S_IFCHR, v),
        "open flags": lambda v: t.open("/tmp/new", v),
        "open mode": lambda v: t.open("/tmp/new", os.O_CREAT | os.O_WRONLY, v),
        "chmod mode": lambda v: t.chmod("/tmp/f", v),
        "chown uid": lambda v: t.chown("/tmp/f", v, -1),
        "chown gid": lambda v: t.chown("/tmp/f", -1, v),
        "truncate length": lambda v: t.truncate("/tmp/f", v),
        "umask": lambda v: t.umask(v),
        "rename flags": lambda v: t.rename("/tmp/f", "/tmp/new", v),
        "mount flags": lambda v: t.mount("none", "/tmp/d", "tmpfs", v),
        "umount flags": lambda v: t.umount("/mnt", v),
        "unshare flags": lambda v: t.unshare(v),
        "setrlimit resource": lambda v: t.setrlimit(v, 10, 10),
        "setrlimit soft": lambda v: t.setrlimit(7, v, 4096),
        "getrlimit resource": lambda v: t.getrlimit(v),
        "prctl option": lambda v: t.prctl(v, 1),
        "exit status": lambda v: k_child(t).exit(v),
    }


def k_child(t: Task) -> Task:
    """The spawned uid-1000 task of the fixture (exiting it must not happen)."""
    return next(task for task in t.kernel.tasks.values() if task.pid != 1)


@pytest.mark.parametrize("bad", BAD_INTS, ids=repr)
def test_int_arguments_of_the_wrong_type_are_typeerror(k: pinfs.Kernel, bad: Any) -> None:
    t = k.init_task
    for name, call in int_calls(t).items():
        try:
            unchanged(k, lambda call=call: call(bad), TypeError)
        except AssertionError as e:
            raise AssertionError(f"{name}({bad!r}): {e}") from None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("mkdir mode", 2**32),
        ("mkdir mode", -1),
        ("mknod mode", 2**40),
        ("mknod dev", 2**32),
        ("mknod dev", -1),
        ("open flags", 2**32),
        ("open mode", -1),
        ("chmod mode", 2**33),
        ("chown uid", 2**32),
        ("chown gid", -2),
        ("truncate length", 2**64),
        ("umask", -1),
        ("umask", 2**32),
        ("rename flags", 2**32),
        ("rename flags", -1),
        ("mount flags", 2**64),
        ("umount flags", 2**32),
        ("unshare flags", -1),
        ("setrlimit resource", 2**40),
        ("setrlimit soft", -2),  # -1 is RLIM_INFINITY, as in resource
        ("prctl option", 2**70),
    ],
)
def test_ints_beyond_their_c_type_are_valueerror(k: pinfs.Kernel, name: str, value: int) -> None:
    unchanged(k, lambda: int_calls(k.init_task)[name](value), ValueError)


def test_truncate_length_beyond_loff_t_changes_nothing(k: pinfs.Kernel) -> None:
    """loff_t is signed 64-bit: 2**63 cannot be carried (ValueError), or, if passed
    through as the C bit pattern, is negative and EINVAL; the size must not change."""
    t = k.init_task
    before = fingerprint(k)
    with pytest.raises((ValueError, OSError)) as info:
        t.truncate("/tmp/f", 2**63)
    if isinstance(info.value, OSError):
        assert info.value.errno == 22
        before["clock"] = fingerprint(k)["clock"]
    assert fingerprint(k) == before


# ---------------------------------------------------------------------------------------
# Credentials


@pytest.mark.parametrize("bad", [None, "0", 1.0, [0]], ids=repr)
def test_credential_calls_with_bad_types_change_nothing(k: pinfs.Kernel, bad: Any) -> None:
    t = k.init_task
    for call in (
        lambda: t.setresuid(bad, 0, 0),
        lambda: t.setresgid(0, 0, bad),
        lambda: t.setgroups([0, bad]),
        lambda: t.capset(bad, 0, 0),
        lambda: t.capset(0, 0, bad),
    ):
        unchanged(k, call, TypeError)
    unchanged(k, lambda: t.setgroups(5), TypeError)  # not iterable


@pytest.mark.parametrize("bad", [2**32, -2, 2**64])
def test_credential_ids_beyond_uid_t_change_nothing(k: pinfs.Kernel, bad: int) -> None:
    t = k.init_task
    for call in (
        lambda: t.setresuid(bad, -1, -1),
        lambda: t.setresgid(-1, bad, -1),
        lambda: t.setgroups([bad]),
    ):
        unchanged(k, call, ValueError)
    unchanged(k, lambda: t.capset(2**64, 0, 0), ValueError)


def test_spawn_and_mem_reject_bad_values(k: pinfs.Kernel) -> None:
    t = k.init_task
    unchanged(k, lambda: t.mem.alloc(-1), ValueError)
    unchanged(k, lambda: t.mem.alloc("x"), TypeError)


def test_fingerprint_sees_changes(k: pinfs.Kernel) -> None:
    """Sanity check of the helper: real syscalls do change the fingerprint."""
    t = k.init_task
    for call in (
        lambda: t.stat("/tmp"),  # the clock
        lambda: t.open("/tmp/f"),
        lambda: t.mknod("/tmp/x", stat.S_IFREG),
        lambda: t.chmod("/tmp/f", 0o600),
    ):
        before = fingerprint(k)
        call()
        assert fingerprint(k) != before
