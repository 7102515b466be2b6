"""The os-like surface (issue 16 item 3): setrlimit/getrlimit in :mod:`resource`'s
conventions, the constants users pass exported at the top level, and context managers
on Kernel and Task."""

from __future__ import annotations

import errno
import fcntl
import os
import resource

import pytest

import pinfs
from pinfs import scenario
from pinfs.base import uapi
from pinfs.base.cred import CAP_NAMES
from snapshot import snapshot
from support import CONSOLE_FDS, err

NOFILE = pinfs.RLIMIT_NOFILE


# --------------------------------------------------------------------------- rlimits


def test_setrlimit_takes_a_soft_hard_pair_like_resource_setrlimit() -> None:
    t = pinfs.Kernel().spawn(uid=1000)
    t.setrlimit(NOFILE, (10, 100))
    assert t.getrlimit(NOFILE) == (10, 100)
    t.setrlimit(NOFILE, [5, 50])  # resource.setrlimit takes any pair
    assert t.getrlimit(NOFILE) == (5, 50)
    t.setrlimit(NOFILE, 4, 40)  # the struct rlimit form stays
    assert t.getrlimit(NOFILE) == (4, 40)
    assert err(t.setrlimit, NOFILE, (10, 5)) == errno.EINVAL  # soft > hard
    assert err(t.setrlimit, NOFILE, (10, 4096)) == errno.EPERM  # raising hard: CAP_SYS_RESOURCE


def test_rlim_infinity_is_minus_one_as_in_resource_do_prlimit() -> None:
    assert pinfs.RLIM_INFINITY == resource.RLIM_INFINITY == -1
    t = pinfs.Kernel().init_task
    memlock = pinfs.RLIMIT_MEMLOCK
    t.setrlimit(memlock, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert t.getrlimit(memlock) == (-1, -1)  # what resource.getrlimit shows
    assert t.rlimit(memlock) == uapi.RLIM_INFINITY  # the kernel's own ~0UL
    t.setrlimit(memlock, uapi.RLIM_INFINITY, uapi.RLIM_INFINITY)  # the kernel's value too
    assert t.getrlimit(memlock) == (-1, -1)
    assert t.getrlimit(0) == (-1, -1)  # RLIMIT_CPU: never set
    assert err(t.setrlimit, NOFILE, (-1, 4096)) == errno.EINVAL  # infinite soft > hard
    # Unlimited memlock: a map far over the 64 KiB boot limit is charged and made.
    assert t.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 1 << 16, 16) >= 0


@pytest.mark.parametrize(
    ("args", "kind", "message"),
    [
        (((1, 2, 3),), ValueError, "pair, not 3 values"),
        ((5,), TypeError, "must be a \\(soft, hard\\) pair"),
        (("5",), TypeError, "must be a \\(soft, hard\\) pair"),
        (((1, "2"),), TypeError, "hard must be int"),
        (((-2, 5),), ValueError, "soft out of range"),
        ((1, 1 << 64), ValueError, "hard out of range"),
        (((1, 2), 3), TypeError, "soft must be int"),
    ],
)
def test_bad_limits_are_refused_before_the_syscall(
    args: tuple[object, ...], kind: type[Exception], message: str
) -> None:
    k = pinfs.Kernel()
    before = snapshot(k)
    with pytest.raises(kind, match=message):
        k.init_task.setrlimit(NOFILE, *args)  # type: ignore[arg-type]
    assert snapshot(k) == before


def test_a_traced_pair_form_exports_as_soft_and_hard_and_replays() -> None:
    k = pinfs.Kernel(trace=True)
    t = k.init_task
    t.setrlimit(NOFILE, (5, 5))
    t.setrlimit(0, (pinfs.RLIM_INFINITY, pinfs.RLIM_INFINITY))
    assert [err(t.open, "/tmp") for _ in range(3)] == [0, 0, errno.EMFILE]  # 0-2: the console
    trace = k.stop_trace()
    assert trace is not None
    assert "setrlimit(RLIMIT_NOFILE, (5, 5)) = 0" in str(trace)
    text = scenario.from_trace(trace)
    assert "init setrlimit RLIMIT_NOFILE 5 5 -> ok" in " ".join(text.split())
    parsed = scenario.loads(text)
    run = scenario.run_scenario(parsed, scenario.PinfsBackend())
    assert all(r.matches for r in run)


# --------------------------------------------------------------------------- constants


def test_the_constants_users_pass_are_exported_at_the_top_level() -> None:
    for name in ("CLONE_NEWNS", "CLONE_NEWUSER", "CLONE_NEWPID", "CLONE_NEWNET", "CLONE_FILES"):
        assert getattr(pinfs, name) == getattr(uapi, name)
    assert (pinfs.RLIMIT_NOFILE, pinfs.RLIMIT_MEMLOCK) == (
        resource.RLIMIT_NOFILE,
        resource.RLIMIT_MEMLOCK,
    )
    for name in ("F_DUPFD", "F_GETFD", "F_SETFD", "F_GETFL", "F_DUPFD_CLOEXEC", "FD_CLOEXEC"):
        assert getattr(pinfs, name) == getattr(fcntl, name), name
    assert (pinfs.O_CLOEXEC, pinfs.AT_FDCWD) == (os.O_CLOEXEC, -100)
    assert (pinfs.MS_MOVE, pinfs.MS_PRIVATE, pinfs.UMOUNT_NOFOLLOW) == (8192, 1 << 18, 8)
    assert (pinfs.BPF_F_RDONLY, pinfs.BPF_F_WRONLY, pinfs.BPF_F_PATH_FD) == (8, 16, 1 << 14)
    assert (pinfs.CAP_NET_ADMIN, pinfs.CAP_SYS_ADMIN, pinfs.CAP_BPF) == (12, 21, 39)
    assert set(CAP_NAMES) <= set(pinfs.__all__)
    assert all(hasattr(pinfs, name) for name in pinfs.__all__)
    with pytest.raises(AttributeError):
        pinfs.CAP_NOT_A_CAPABILITY  # noqa: B018


def test_a_loader_written_against_the_top_level_names_runs() -> None:
    k = pinfs.Kernel(pinfs.profiles.LINUX_6_18)
    admin = k.spawn(uid=0, caps=[pinfs.CAP_BPF, pinfs.CAP_NET_ADMIN, pinfs.CAP_SYS_ADMIN])
    admin.unshare(pinfs.CLONE_NEWNS)
    admin.mount("bpf", "/sys/fs/bpf", "bpf")
    fd = admin.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
    assert admin.fcntl(fd, pinfs.F_GETFD) == pinfs.FD_CLOEXEC
    admin.obj_pin(fd, "/sys/fs/bpf/m")
    ro = admin.obj_get("/sys/fs/bpf/m", pinfs.BPF_F_RDONLY)
    assert err(admin.map_update_elem, ro, bytes(4), bytes(8)) == errno.EPERM


# --------------------------------------------------------------------------- with blocks


def test_a_spawned_task_in_a_with_block_exits_on_leaving_it() -> None:
    k = pinfs.Kernel()
    with k.spawn(uid=0) as task:
        fd = task.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1)
        assert k.objects()[0].refcnt == 1
        pid = task.pid
    assert not task.alive and task.exit_status == 0
    assert pid not in k.tasks
    assert k.objects() == []  # its fd was closed: the map went with it
    assert err(task.close, fd) == errno.ESRCH
    k.check_invariants()


def test_a_with_block_left_by_an_exception_still_exits_the_task() -> None:
    k = pinfs.Kernel()
    with pytest.raises(KeyError), k.spawn(uid=1000) as task:
        task.open("/tmp")
        raise KeyError("boom")
    assert not task.alive
    assert k.init_task.fd_file(0).f_count == 3  # the inherited console fds closed too
    with k.spawn(uid=1000) as task:
        task.exit(3)  # exiting inside the block is fine
    assert task.exit_status == 3
    with pytest.raises(ValueError, match="init"), k.init_task:
        pass
    k.check_invariants()


def test_a_kernel_in_a_with_block_shuts_its_processes_down() -> None:
    with pinfs.Kernel(trace=True) as k:
        root = k.init_task
        root.mount("bpf", "/sys/fs/bpf", "bpf")
        loader = k.spawn(uid=0)
        loader.obj_pin(loader.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1), "/sys/fs/bpf/m")
        k.spawn(uid=1000).fork()
    assert list(k.tasks) == [1]
    assert root.files.open_fds() == CONSOLE_FDS
    assert k.trace is None
    (pinned,) = k.objects()  # what outlives processes: the pin
    assert [h.kind for h in pinned.holders] == ["pin"]
    k.check_invariants()
    assert k.spawn(uid=1000).getpid() > 1  # still usable
