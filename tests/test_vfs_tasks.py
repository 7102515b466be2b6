"""Tasks: fd tables across fork/exit/execve/dup, fd argument rules, and credentials.

Outcome analogue S100 (dup/fork share files, exec closes O_CLOEXEC fds, the file is
released with its last fd) with ordinary files instead of bpf objects, plus the
credential changes of 9.1/10.  Kernel functions modelled: ``dup_fd``, ``__close_fd``,
``fput``/``__fput``, ``exit_files``, ``do_close_on_exec``, ``sys_dup``, ``fdget``,
``sys_setresuid``/``cap_emulate_setxuid``, ``sys_setresgid``, ``sys_setgroups``,
``cap_capset``, ``prctl(PR_SET_KEEPCAPS)``, ``cap_bprm_set_creds``.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import pytest

import pinfs
from pinfs.base.cred import CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FULL_SET, CAP_SETGID, CAP_SETUID
from pinfs.machine.task import PR_SET_KEEPCAPS, Task
from support import err

O_PATH = 0o10000000


@pytest.fixture
def t(k: pinfs.Kernel) -> Task:
    t = k.init_task
    t.mknod("/tmp/f", stat.S_IFREG | 0o644)
    t.mkdir("/tmp/d")
    return t


def dentry(t: Task, path: str) -> Any:
    from pinfs.fs.namei import path_lookupat

    return path_lookupat(t, path, follow=False).dentry


# ---------------------------------------------------------------------------------------
# Files across fork, exit, dup and execve (S100)


def test_s100_fork_shares_open_files_dup_fd(t: Task, k: pinfs.Kernel) -> None:
    """The child gets the same file objects; closing in the child leaves the parent's
    fd open; the file is released only when the last fd goes."""
    p = k.spawn(uid=0)
    d = dentry(t, "/tmp/f")
    base = d.d_count
    fd = p.open("/tmp/f")
    file = p.fd_file(fd)
    assert d.d_count == base + 1
    c = p.fork()
    assert c.fd_file(fd) is file and file.f_count == 2
    c.close(fd)
    assert p.fstat(fd).st_ino == t.stat("/tmp/f").st_ino
    assert err(c.fstat, fd) == errno.EBADF
    assert file.f_count == 1 and file.f_path is not None
    p.close(fd)
    assert file.f_count == 0 and file.f_path is None
    assert d.d_count == base
    c.exit(0)
    p.exit(0)


def test_s100_fork_copies_the_fd_table_not_shares_it_dup_fd(t: Task, k: pinfs.Kernel) -> None:
    p = k.spawn(uid=0)
    fd = p.open("/tmp/f")
    c = p.fork()
    assert c.open("/tmp/d") == fd + 1
    assert p.open("/tmp/d") == fd + 1  # the same number, a different table
    assert p.fd_file(fd + 1) is not c.fd_file(fd + 1)


def test_s100_exit_closes_every_fd_exit_files(t: Task, k: pinfs.Kernel) -> None:
    p = k.spawn(uid=0)
    d = dentry(t, "/tmp/f")
    base = d.d_count
    files = [p.fd_file(p.open("/tmp/f", flags)) for flags in (os.O_RDONLY, O_PATH, os.O_WRONLY)]
    c = p.fork()
    p.exit(3)
    assert all(f.f_count == 1 for f in files)
    assert p.exit_status == 3 and not p.alive and p.pid not in k.tasks
    c.exit(0)
    assert all(f.f_count == 0 and f.f_path is None for f in files)
    assert d.d_count == base
    with pytest.raises(ProcessLookupError):  # an exited task has no syscalls: ESRCH
        c.stat("/")


def test_s100_execve_closes_only_cloexec_fds_do_close_on_exec(t: Task, k: pinfs.Kernel) -> None:
    p = k.spawn(uid=0)
    a = p.open("/tmp/f")
    b = p.open("/tmp/f", os.O_RDONLY | os.O_CLOEXEC)
    c = p.open("/tmp/d", os.O_RDONLY | os.O_CLOEXEC)
    d = p.dup(b)  # dup never copies close-on-exec
    file_b = p.fd_file(b)
    p.execve()
    assert p.fstat(a).st_ino == t.stat("/tmp/f").st_ino
    assert err(p.fstat, b) == errno.EBADF
    assert err(p.fstat, c) == errno.EBADF
    assert p.fd_file(d) is file_b and file_b.f_count == 1
    assert p.open("/tmp/f") == b  # the lowest free number again


def test_s100_dup_gives_the_lowest_free_fd_sys_dup(t: Task) -> None:
    fds = [t.open("/tmp/f") for _ in range(4)]
    t.close(fds[1])
    assert t.dup(fds[3]) == fds[1]
    assert t.dup(fds[3]) == fds[3] + 1
    assert t.fd_file(fds[3] + 1) is t.fd_file(fds[3])
    assert t.fd_file(fds[3]).f_count == 3
    fd = t.open("/tmp/f", O_PATH)
    assert t.fstat(t.dup(fd)).st_ino == t.stat("/tmp/f").st_ino  # O_PATH fds dup too


@pytest.mark.parametrize("fd", [3, 100, 1023, 2**31 - 1, 2**32 - 1, -1, -100, -(2**31)])
def test_closed_and_negative_fds_are_ebadf_fdget(t: Task, fd: int) -> None:
    """S20/S44 analogue. Any value a C int/unsigned int can hold: EBADF when nothing is open
    there."""
    for call in (t.close, t.dup, t.fstat, t.getdents):
        assert err(call, fd) == errno.EBADF, call


@pytest.mark.parametrize("fd", [2**40, 2**32, -(2**31) - 1, -(2**63)])
def test_fds_beyond_32_bits_are_valueerror_check_fd(t: Task, fd: int) -> None:
    """S20 analogue: values no C int can hold are the caller's bug (ValueError)."""
    for call in (t.close, t.dup, t.fstat, t.getdents):
        with pytest.raises(ValueError):
            call(fd)


def test_double_close_is_ebadf___close_fd(t: Task) -> None:
    """S20/S100 analogue."""
    fd = t.open("/tmp/f")
    t.close(fd)
    assert err(t.close, fd) == errno.EBADF


def test_fork_copies_cwd_umask_and_credentials_copy_fs_struct(t: Task, k: pinfs.Kernel) -> None:
    """S100 context: fork copies the fs context, shares the credentials and the mount namespace."""
    p = k.spawn(uid=1000, gid=1000)
    p.chdir("/tmp")
    p.umask(0o077)
    c = p.fork()
    assert c.getcwd() == "/tmp"
    assert c.umask(0o022) == 0o077
    c.chdir("/tmp/d")
    assert p.getcwd() == "/tmp"
    assert c.cred is p.cred
    assert c.mnt_ns is p.mnt_ns


def test_init_cannot_exit_do_exit(t: Task) -> None:
    """S92 context: init's namespace never dies (the kernel panics on init's exit)."""
    with pytest.raises(ValueError, match="init"):
        t.exit(0)


# ---------------------------------------------------------------------------------------
# Credentials


def test_setresuid_from_root_clears_capabilities_cap_emulate_setxuid(
    t: Task, k: pinfs.Kernel
) -> None:
    """S85/S1 context (capabilities of the caller)."""
    r = k.spawn(uid=0)
    assert r.cred.cap_effective == r.cred.cap_permitted == CAP_FULL_SET
    r.setresuid(1000, 1000, 1000)
    assert (r.cred.cap_effective, r.cred.cap_permitted) == (0, 0)
    assert (r.cred.uid, r.cred.euid, r.cred.suid, r.cred.fsuid) == (1000,) * 4
    assert err(r.mkdir, "/x") == errno.EACCES
    assert err(r.setresuid, 0, 0, 0) == errno.EPERM


def test_keepcaps_keeps_the_permitted_set_prctl_pr_set_keepcaps(k: pinfs.Kernel) -> None:
    """S85/S1 context."""
    r = k.spawn(uid=0)
    r.prctl(PR_SET_KEEPCAPS, 1)
    r.setresuid(1000, 1000, 1000)
    assert r.cred.cap_permitted == CAP_FULL_SET
    assert r.cred.cap_effective == 0  # euid left 0
    mask = 1 << CAP_DAC_OVERRIDE
    r.capset(mask, mask, 0)
    r.mkdir("/as_1000")
    assert r.stat("/as_1000").st_uid == 1000
    assert err(r.capset, 1 << CAP_CHOWN, mask, 0) == errno.EPERM  # effective > permitted
    assert err(r.capset, mask, mask | 1 << CAP_CHOWN, 0) == errno.EPERM  # raise permitted
    assert err(r.prctl, 999, 1) == errno.EINVAL
    assert err(r.prctl, PR_SET_KEEPCAPS, 2) == errno.EINVAL


def test_euid_change_drops_and_restores_effective_cap_emulate_setxuid(k: pinfs.Kernel) -> None:
    """S85/S1 context."""
    r = k.spawn(uid=0)
    r.setresuid(-1, 1000, -1)  # euid 1000, ruid and suid stay 0
    assert r.cred.cap_effective == 0 and r.cred.cap_permitted == CAP_FULL_SET
    assert r.cred.fsuid == 1000
    r.setresuid(-1, 0, -1)
    assert r.cred.cap_effective == CAP_FULL_SET


def test_unprivileged_setresuid_to_a_foreign_id_is_eperm_sys_setresuid(k: pinfs.Kernel) -> None:
    """S85/S1 context."""
    u = k.spawn(uid=1000, gid=1000)
    assert err(u.setresuid, 1001, 1001, 1001) == errno.EPERM
    assert err(u.setresuid, -1, 0, -1) == errno.EPERM
    u.setresuid(1000, 1000, 1000)
    u.setresuid(-1, -1, -1)
    assert err(u.setresgid, 0, 0, 0) == errno.EPERM
    assert err(u.setgroups, [5]) == errno.EPERM
    assert u.cred.uid == 1000


def test_cap_setuid_lets_a_non_root_switch_ids_sys_setresuid(k: pinfs.Kernel) -> None:
    """S85/S1 context."""
    w = k.spawn(uid=1000, caps=[CAP_SETUID, CAP_SETGID])
    w.setresgid(5, 5, 5)
    w.setgroups([7, 8])
    w.setresuid(2000, 2000, 2000)
    assert (w.cred.uid, w.cred.gid, w.cred.groups) == (2000, 5, frozenset({7, 8}))
    assert w.cred.cap_permitted == 1 << CAP_SETUID | 1 << CAP_SETGID  # not from root


def test_execve_recomputes_capabilities_cap_bprm_set_creds(k: pinfs.Kernel) -> None:
    """S100 context: exec also recomputes capabilities. No file capabilities: root gets the
    bounding set, others nothing."""
    w = k.spawn(uid=1000, caps=[CAP_DAC_OVERRIDE])
    w.execve()
    assert (w.cred.cap_effective, w.cred.cap_permitted) == (0, 0)
    r = k.spawn(uid=0, caps=())
    r.execve()
    assert r.cred.cap_effective == r.cred.cap_permitted == CAP_FULL_SET


def test_spawn_sets_ids_groups_and_caps(k: pinfs.Kernel) -> None:
    """Harness check for Kernel.spawn (setgroups, setresgid, setresuid, capset)."""
    w = k.spawn(uid=1000, gid=2000, groups=(3, 4), caps=[CAP_CHOWN])
    c = w.cred
    assert (c.uid, c.euid, c.suid, c.fsuid) == (1000,) * 4
    assert (c.gid, c.egid, c.sgid, c.fsgid) == (2000,) * 4
    assert c.groups == frozenset({3, 4})
    assert c.cap_effective == c.cap_permitted == 1 << CAP_CHOWN
    assert not c.keep_caps
    assert w.pid in k.tasks and w.pid != 1
