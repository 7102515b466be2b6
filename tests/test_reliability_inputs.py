"""Issue 11, defects 3 and 5-13: nothing half-changed, no wrong exception.

Every failed call here raises the kernel's errno (an ``OSError``) where a syscall is
modelled, or a ``TypeError``/``ValueError`` whose message names the argument, and the
deep :func:`snapshot` of the machine after the call equals the one before it.
"""

from __future__ import annotations

import errno
import math
import os
import re
import stat
import tracemalloc
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pinfs
from pinfs.base import profiles
from pinfs.base.profiles import LATEST, LINUX_5_10, SEED, Profile
from pinfs.base.usermem import UserMemory
from pinfs.ebpf.attr import BPF_MAP_TYPE_ARRAY, BPF_PROG_LOAD, pack_attr
from pinfs.ebpf.prog import BPF_EXIT_INSN, BPF_LD_MAP_FD, BPF_MOV64_IMM, RETURN_ZERO, bpf_insn
from pinfs.fs.ramfs import ramfs_symlink
from pinfs.machine.render import dentry_tree
from pinfs.machine.task import CLONE_NEWNS, CLONE_NEWUSER, RLIM_INFINITY, Task
from pinfs.svg import kernel_svg
from pinfs.vfs import d_alloc
from snapshot import snapshot
from support import err

SOCKET_FILTER = pinfs.BPF_PROG_TYPE_SOCKET_FILTER
BPF = "/sys/fs/bpf"


def boot(profile: Profile = SEED) -> pinfs.Kernel:
    k = pinfs.Kernel(profile)
    k.init_task.mount("bpf", BPF, "bpf")
    return k


def refused(
    k: pinfs.Kernel, kind: type[BaseException], call: Callable[[], object], match: str | None = None
) -> BaseException:
    """``call`` raises ``kind`` (message matching ``match``) and changes nothing."""
    before = snapshot(k)
    with pytest.raises(kind, match=match) as info:
        call()
    assert snapshot(k) == before
    return info.value


def fails_with(k: pinfs.Kernel, code: int, call: Callable[[], object]) -> OSError:
    """``call`` is a simulated syscall failing with ``code``; nothing changes."""
    exc = refused(k, pinfs.KernelError, call)
    assert isinstance(exc, OSError) and exc.errno == code, exc
    return exc


# ---------------------------------------------------------------------------------------
# 3. A failing symlink leaves no orphan inode


@pytest.mark.parametrize("profile", [SEED, LATEST], ids=["seed", "latest"])
def test_3_failing_symlinks_leave_no_inode_behind_symlinkat(profile: Profile) -> None:
    k = boot(profile)
    t = k.init_task
    t.mkdir("/tmp/ro", 0o555)
    u = k.spawn(uid=1000)
    refused(k, UnicodeEncodeError, lambda: t.symlink("\ud800", "/tmp/l"), "target")
    refused(k, UnicodeEncodeError, lambda: t.symlink("x", "/tmp/\udfff"), "linkpath")
    fails_with(k, errno.ENOENT, lambda: t.symlink("", "/tmp/l"))
    fails_with(k, errno.ENAMETOOLONG, lambda: t.symlink("x" * 4096, "/tmp/l"))
    fails_with(k, errno.EEXIST, lambda: t.symlink("x", "/tmp"))
    fails_with(k, errno.EACCES, lambda: u.symlink("x", "/tmp/ro/l"))
    t.mkdir(f"{BPF}/d")
    fails_with(k, errno.EEXIST, lambda: t.symlink("x", f"{BPF}/d"))
    if not profile.symlinks:  # the seed's bpffs has no ->symlink
        fails_with(k, errno.EPERM, lambda: t.symlink("x", f"{BPF}/l"))


def test_3_ramfs_symlink_checks_the_target_before_it_allocates_ramfs_symlink() -> None:
    k = pinfs.Kernel()
    t = k.init_task
    t.mkdir("/tmp/d")
    d = t.fs.root.dentry.d_subdirs["tmp"].d_subdirs["d"]
    assert d.d_inode is not None and d.d_inode.i_ino == t.stat("/tmp/d").st_ino
    dentry = d_alloc(d, "l")
    before = set(d.d_sb.s_inodes), k._last_ino
    with pytest.raises(UnicodeEncodeError, match="target"):
        ramfs_symlink(t.cred, d.d_inode, dentry, "\ud800")
    assert (set(d.d_sb.s_inodes), k._last_ino) == before
    assert dentry.d_inode is None


# ---------------------------------------------------------------------------------------
# 5. prog_load's log is checked before anything is allocated for it


def _load(t: Task, level: int, size: int, buf: int) -> int:
    attr = pack_attr(
        BPF_PROG_LOAD,
        t.kernel.profile.bpf_attr_size,
        prog_type=SOCKET_FILTER,
        insn_cnt=2,
        insns=t.mem.alloc(RETURN_ZERO),
        license=t.mem.alloc(b"GPL\0"),
        log_level=level,
        log_size=size,
        log_buf=buf,
    )
    return t.bpf(BPF_PROG_LOAD, t.mem.alloc(attr), len(attr))


@pytest.mark.parametrize("profile", [SEED, LINUX_5_10, LATEST], ids=lambda p: p.name)
@pytest.mark.parametrize("log_size", [2**31 - 1, -1])
def test_5_a_huge_log_size_is_einval_without_allocating_it_bpf_check(
    profile: Profile, log_size: int
) -> None:
    k = boot(profile)
    t = k.init_task
    tracemalloc.start()
    try:
        exc = fails_with(
            k, errno.EINVAL, lambda: t.prog_load(SOCKET_FILTER, RETURN_ZERO, "GPL", 1, log_size)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exc.errno == errno.EINVAL
    assert peak < 16 * 2**20  # a 2-4 GiB buffer was never materialised


def test_5_the_checks_before_the_log_keep_their_order_bpf_prog_load() -> None:
    k = boot(SEED)
    u = k.spawn(uid=1000)
    huge = 2**31 - 1
    kprobe = pinfs.BPF_PROG_TYPE_KPROBE
    # CAP_SYS_ADMIN (bpf_prog_load) and the length (bpf_check) come before the log.
    fails_with(k, errno.EPERM, lambda: u.prog_load(kprobe, RETURN_ZERO, "GPL", 1, huge, 0x040300))
    fails_with(k, errno.E2BIG, lambda: k.init_task.prog_load(SOCKET_FILTER, b"", "GPL", 1, huge))


#: (log_level, log_size, log buffer?) -> errno on the live 6.18 kernel (0: loaded).
#: Measured with bpf(BPF_PROG_LOAD) of ``r0 = 0; exit`` and a 4 KiB buffer.
LIVE_6_18_LOG_RULES = [
    ((1, 0, False), 0),
    ((0, 100, True), errno.EINVAL),
    ((1, 100, True), 0),
    ((1, 2**31 - 1, True), errno.EINVAL),
    ((1, 2**30 - 1, True), 0),
    ((1, 2**30, True), errno.EINVAL),
    ((16, 4096, True), errno.EINVAL),  # BPF_LOG_KERNEL is the kernel's own
    ((15, 4096, True), 0),
    ((0, 0, True), errno.EINVAL),
    ((0, 4096, False), errno.EINVAL),
    ((1, 4096, False), errno.EINVAL),
    ((1, 2**32 - 1, True), errno.EINVAL),
    ((2**31, 4096, True), errno.EINVAL),
]


@pytest.mark.parametrize(("case", "expected"), LIVE_6_18_LOG_RULES)
def test_5_latest_log_rules_match_the_live_kernel_bpf_vlog_init(
    case: tuple[int, int, bool], expected: int
) -> None:
    k = boot(LATEST)
    t = k.init_task
    level, size, has_buf = case
    buf = t.mem.alloc(4096) if has_buf else 0
    assert err(_load, t, level, size, buf) == expected


def test_5_seed_log_rules_bpf_check() -> None:
    k = boot(SEED)
    t = k.init_task
    buf = t.mem.alloc(4096)
    assert err(_load, t, 1, 0, 0) == errno.EINVAL  # a level needs a buffer of >= 128
    assert err(_load, t, 1, 127, buf) == errno.EINVAL
    assert err(_load, t, 1, 128, buf) == 0
    assert err(_load, t, 1, 2**24 - 1, buf) == 0  # UINT_MAX >> 8
    assert err(_load, t, 1, 2**24, buf) == errno.EINVAL
    assert err(_load, t, 255, 4096, buf) == 0  # no level mask at the seed


def test_5_user_memory_is_lazy_and_bounded_by_the_address_space() -> None:
    mem = UserMemory()
    tracemalloc.start()
    try:
        address = mem.alloc(2**40)
        mem.write(address + 2**40 - 1, b"x")
        assert mem.read(address + 2**40 - 2, 2) == b"\0x"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    with pytest.raises(OSError) as info:
        mem.alloc(2**64)
    assert info.value.errno == errno.ENOMEM  # what mmap(2) says
    assert mem.strncpy_from_user(address, 10) == b""
    mem.free(address)
    assert mem.image() == {}


# ---------------------------------------------------------------------------------------
# 6. One rule for str paths and strings: os.fsencode's


def _os_error_for(path: str) -> type[BaseException]:
    try:
        os.fsencode(path)
    except Exception as exc:  # what os.mkdir would raise before any syscall
        return type(exc)
    raise AssertionError("encodable")


@pytest.mark.parametrize("name", ["\ud800", "\udc41", "a\udfffb", "\ud800" * 300])
def test_6_lone_surrogates_are_refused_like_os_does_at_any_length(name: str) -> None:
    k = boot(LATEST)
    t = k.init_task
    kind = _os_error_for(f"/tmp/{name}")
    assert kind is UnicodeEncodeError and issubclass(kind, ValueError)
    fd = t.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    t.mkdir("/tmp/m")
    calls: list[tuple[str, Callable[[], object]]] = [
        ("path", lambda: t.mkdir(f"/tmp/{name}")),
        ("path", lambda: t.open(f"/tmp/{name}", os.O_CREAT | os.O_WRONLY)),
        ("path", lambda: t.stat(f"/tmp/{name}")),
        ("old", lambda: t.rename(f"/tmp/{name}", "/tmp/x")),
        ("new", lambda: t.link("/tmp/m", f"/tmp/{name}")),
        ("target", lambda: t.symlink(name, "/tmp/l")),
        ("path", lambda: t.obj_pin(fd, f"{BPF}/{name}")),
        ("path", lambda: t.obj_get(f"{BPF}/{name}")),
        ("license", lambda: t.prog_load(SOCKET_FILTER, RETURN_ZERO, name)),
        ("source", lambda: t.mount(name, "/tmp/m", "tmpfs")),
        ("data", lambda: t.mount("none", "/tmp/m", "tmpfs", 0, f"mode={name}")),
        ("fstype", lambda: t.mount("none", "/tmp/m", name)),
        ("target", lambda: t.umount(f"/tmp/{name}")),
    ]
    for what, call in calls:
        exc = refused(k, UnicodeEncodeError, call, what)
        assert isinstance(exc, ValueError)


def test_6_escaped_bytes_are_the_same_name_as_the_bytes_os_fsdecode() -> None:
    k = boot(LATEST)
    t = k.init_task
    t.mkdir("/tmp/\udcff")  # os.fsdecode(b"\xff")
    assert t.stat(b"/tmp/\xff").st_ino == t.stat("/tmp/\udcff").st_ino
    assert "\udcff" in t.listdir("/tmp")
    t.mkdir("/tmp/\udcc3\udca9")  # the escaped bytes of a valid UTF-8 "é"
    assert t.stat("/tmp/é").st_ino == t.stat(b"/tmp/\xc3\xa9").st_ino
    assert err(t.mkdir, "/tmp/é") == errno.EEXIST
    fd = t.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    t.obj_pin(fd, f"{BPF}/\udcfe")
    assert t.obj_get(os.fsencode(f"{BPF}/\udcfe")) >= 0
    t.symlink("\udcfe", "/tmp/l")
    assert t.readlink("/tmp/l") == "\udcfe" and t.lstat("/tmp/l").st_size == 1


# ---------------------------------------------------------------------------------------
# 7. A legal 1000-deep tree draws without recursion


def test_7_a_1000_deep_tree_renders_as_text_and_svg() -> None:
    k = boot(SEED)
    t = k.init_task
    fd = t.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    t.chdir(BPF)
    for _ in range(1000):
        t.mkdir("d")
        t.chdir("d")
    t.obj_pin(fd, "m")
    text = k.tree()
    assert text.count("`-- d  ") == 1000 and "    " * 1000 + "`-- m  " in text
    picture = kernel_svg(k)
    assert picture.startswith("<svg") and "ino-" in picture
    k.check_invariants()


def test_7_dentry_tree_walks_in_drawing_order() -> None:
    k = boot(SEED)
    t = k.init_task
    for path in ("a", "a/x", "b", "a/y"):
        t.mkdir(f"{BPF}/{path}")
    (sb,) = k.filesystems["bpf"].fs_supers
    assert sb.s_root is not None
    rows = [(d.d_name, branch) for d, branch in dentry_tree(sb.s_root)]
    assert rows == [("b", "|-- "), ("a", "`-- "), ("y", "    |-- "), ("x", "    `-- ")]


# ---------------------------------------------------------------------------------------
# 8. The wrong exception types


@pytest.mark.parametrize("seconds", [math.inf, 1e300, math.nan, -1, 2**63])
def test_8_advance_clock_refuses_what_ktime_cannot_hold(seconds: float) -> None:
    k = pinfs.Kernel()
    clock = k.current_time()
    with pytest.raises(ValueError, match="seconds"):
        k.advance_clock(seconds)
    assert k.current_time() == clock
    with pytest.raises(TypeError, match="seconds"):
        k.advance_clock("1")  # type: ignore[arg-type]
    k.advance_clock(86400.5)
    assert k.current_time() == clock + 86400_500_000_000


def test_8_kernel_and_task_introspection_raise_value_errors_or_errnos() -> None:
    k = boot(SEED)
    t = k.init_task
    refused(k, TypeError, lambda: k.mounts("x"), "ns")  # type: ignore[arg-type]
    fails_with(k, errno.EBADF, lambda: t.fd_file(55))
    fails_with(k, errno.EBADF, lambda: t.fd_object(55))
    assert t.rlimit(0) == RLIM_INFINITY  # RLIMIT_CPU: never set, so unlimited
    refused(k, ValueError, lambda: t.rlimit(16), "resource")
    refused(k, TypeError, lambda: t.rlimit("7"), "resource")  # type: ignore[arg-type]
    refused(k, ValueError, lambda: t.exit(), "init")
    refused(k, TypeError, lambda: t.sysctl_write(["x"], 1), "name")  # type: ignore[arg-type]
    refused(k, TypeError, lambda: k.user_struct(t), "uid")  # type: ignore[arg-type]
    refused(k, ValueError, lambda: k.spawn(uid=-1), "uid")
    refused(k, TypeError, lambda: k.spawn(groups=5), "groups")  # type: ignore[arg-type]
    refused(k, ValueError, lambda: k.spawn(caps=[64]), "caps")
    refused(k, TypeError, lambda: k.put_mnt_ns(None), "ns")  # type: ignore[arg-type]
    refused(k, TypeError, lambda: k.create_user_ns(None), "cred")  # type: ignore[arg-type]
    refused(k, TypeError, lambda: k.register_filesystem(None), "fs_type")  # type: ignore[arg-type]
    refused(k, TypeError, lambda: k.write_id_map(None, [], False), "task")  # type: ignore[arg-type]
    refused(k, TypeError, lambda: k.write_id_map(t, [(0, 0, 1)], 1), "is_gid")  # type: ignore[arg-type]


def test_8_put_mnt_ns_of_a_dead_namespace_is_refused_put_mnt_ns() -> None:
    k = pinfs.Kernel()
    c = k.init_task.fork()
    c.unshare(CLONE_NEWNS)
    ns = c.mnt_ns
    c.exit()
    assert not ns.alive
    refused(k, ValueError, lambda: k.put_mnt_ns(ns), "live mount namespace")
    # A live namespace: the caller must hold a reference beyond its tasks' own.
    refused(k, ValueError, lambda: k.put_mnt_ns(k.init_task.mnt_ns), "no reference")


def test_8_an_exited_task_has_no_syscalls_esrch() -> None:
    k = boot(SEED)
    c = k.init_task.fork()
    fd = c.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    c.exit(3)
    for call in (
        lambda: c.mkdir("/tmp/x"),
        lambda: c.open("/tmp"),
        lambda: c.close(fd),
        lambda: c.fork(),
        lambda: c.exit(0),
        lambda: c.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1),
        lambda: c.map_lookup_elem(fd, b"\0" * 4),
        lambda: c.obj_get(f"{BPF}/m"),
        lambda: c.setresuid(0, 0, 0),
        lambda: c.unshare(CLONE_NEWNS),
    ):
        exc = fails_with(k, errno.ESRCH, call)
        assert isinstance(exc, ProcessLookupError)
    assert c.exit_status == 3


def test_8_a_uid_option_of_5000_digits_is_einval_fs_param_is_u32() -> None:
    k = pinfs.Kernel(LATEST)
    t = k.init_task
    t.mkdir("/tmp/b")
    fails_with(k, errno.EINVAL, lambda: t.mount("bpf", "/tmp/b", "bpf", 0, "uid=" + "1" * 5000))
    fails_with(k, errno.EINVAL, lambda: t.mount("bpf", "/tmp/b", "bpf", 0, "gid=" + "9" * 5000))
    # fsparam_u32 is base 0: 0x.. hex and 0.. octal, as the live kernel takes them.
    t.mount("bpf", "/tmp/b", "bpf", 0, "uid=0x10,gid=010")
    assert (t.stat("/tmp/b").st_uid, t.stat("/tmp/b").st_gid) == (16, 8)


def test_8_bpf_insn_fields_wrap_like_c_or_name_the_field() -> None:
    assert BPF_LD_MAP_FD(1, 0xFFFFFFFF)[4:8] == b"\xff\xff\xff\xff"
    assert bpf_insn(0x95, off=0xFFFF) == bpf_insn(0x95, off=-1)
    for kwargs, what in (
        ({"imm": 1 << 32}, "imm"),
        ({"imm": -(1 << 31) - 1}, "imm"),
        ({"off": 1 << 16}, "off"),
        ({"dst": 16}, "dst"),
        ({"src": -1}, "src"),
    ):
        with pytest.raises(ValueError, match=what):
            bpf_insn(0x95, **kwargs)
    with pytest.raises(TypeError, match="code"):
        bpf_insn(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="code"):
        bpf_insn(256)
    k = boot(SEED)
    t = k.init_task
    code = BPF_LD_MAP_FD(1, 0xFFFFFFFF) + BPF_MOV64_IMM(0, 0) + BPF_EXIT_INSN()
    fails_with(k, errno.EBADF, lambda: t.prog_load(SOCKET_FILTER, code))


# ---------------------------------------------------------------------------------------
# 9. uid_map/gid_map ids are u32s, and map_write's own checks


def _in_new_userns(k: pinfs.Kernel) -> Task:
    u = k.spawn(uid=1000)
    u.unshare(CLONE_NEWUSER)
    return u


@pytest.mark.parametrize("bad", [0.5, math.nan, True, None, "0"])
def test_9_ids_that_are_not_ints_are_type_errors(bad: Any) -> None:
    k = pinfs.Kernel()
    u = _in_new_userns(k)
    for extent in ((bad, 1000, 1), (0, bad, 1), (0, 1000, bad)):
        refused(k, TypeError, lambda: u.write_uid_map([extent]), "extent")
        refused(k, TypeError, lambda: u.write_gid_map([extent]), "extent")
    assert u.cred.user_ns.uid_map == () and u.cred.user_ns.gid_map == ()


def test_9_extents_beyond_u32_are_value_errors_and_u32_minus_1_is_einval_map_write() -> None:
    k = pinfs.Kernel()
    u = _in_new_userns(k)
    for extent in ((2**64, 1000, 1), (0, -1, 1), (0, 1000, 2**32)):
        refused(k, ValueError, lambda: u.write_uid_map([extent]), "extent")
    refused(k, TypeError, lambda: u.write_uid_map([(0, 1000)]), "extent")  # type: ignore[list-item]
    refused(k, TypeError, lambda: u.write_uid_map(5), "extents")  # type: ignore[arg-type]
    refused(k, TypeError, lambda: u.write_uid_map("0 1000 1"), "extents")  # type: ignore[arg-type]
    for extents in (
        [(0xFFFFFFFF, 1000, 1)],  # (u32)-1 as the first id
        [(0, 0xFFFFFFFF, 1)],  # ... or the lower one
        [(0, 1000, 0)],  # a count of 0
        [(0xFFFFFFFE, 1000, 2)],  # first + count wraps
        [],  # nothing at all
        [(0, 1000, 1), (0, 1001, 1)],  # the upper ranges overlap
    ):
        fails_with(k, errno.EINVAL, lambda: u.write_uid_map(extents))
    assert u.cred.user_ns.uid_map == ()
    u.write_uid_map([(0, 1000, 1)])
    assert u.cred.user_ns.uid_map == ((0, 1000, 1),)


def test_9_the_lower_id_must_be_mapped_in_the_parent_new_idmap_permitted() -> None:
    k = pinfs.Kernel()
    t = k.init_task.fork()
    t.unshare(CLONE_NEWUSER)
    t.write_uid_map([(0, 0, 1)])
    c = t.fork()
    c.unshare(CLONE_NEWUSER)
    fails_with(k, errno.EPERM, lambda: c.write_uid_map([(0, 5, 1)]))  # 5 is not in t's map
    assert c.cred.user_ns.uid_map == ()
    c.write_uid_map([(7, 0, 1)])
    assert c.cred.user_ns.uid_map == ((7, 0, 1),)


# ---------------------------------------------------------------------------------------
# 10. Kernel(unprivileged_bpf_disabled=...)


UNPRIV_BAD: list[tuple[Any, type]] = [
    (7, ValueError),
    (-1, ValueError),
    (2, ValueError),  # the seed's sysctl has only 0 and 1
    (0.5, TypeError),
    (1j, TypeError),
    ("yes", TypeError),
    (object(), TypeError),
    (True, TypeError),
]


@pytest.mark.parametrize(("value", "kind"), UNPRIV_BAD)
def test_10_unprivileged_bpf_disabled_must_be_a_value_of_the_sysctl(value: Any, kind: type) -> None:
    with pytest.raises(kind, match="unprivileged_bpf_disabled"):
        pinfs.Kernel(unprivileged_bpf_disabled=value)
    assert pinfs.Kernel(unprivileged_bpf_disabled=1).sysctl["kernel.unprivileged_bpf_disabled"] == 1
    assert (
        pinfs.Kernel(LATEST, unprivileged_bpf_disabled=0).sysctl["kernel.unprivileged_bpf_disabled"]
        == 0
    )
    with pytest.raises(TypeError, match="trace"):
        pinfs.Kernel(trace="yes")  # type: ignore[arg-type]


def test_10_latest_boots_with_two_config_bpf_unpriv_default_off() -> None:
    assert (
        pinfs.Kernel(LATEST, unprivileged_bpf_disabled=2).sysctl["kernel.unprivileged_bpf_disabled"]
        == 2
    )


# ---------------------------------------------------------------------------------------
# 11. tmpfs/ramfs mode= as the kernel's option parsers read it

#: value -> the root's mode bits, or an errno.  LATEST was measured with mount(2) on
#: the live 6.18 kernel (fs_parse / kstrtouint, identical for tmpfs and ramfs).
MODE_LATEST: dict[str, int] = {
    "-1": -errno.EINVAL,
    "7_7": -errno.EINVAL,
    "0o17": -errno.EINVAL,
    "0777": 0o777,
    "": -errno.EINVAL,
    " 7": -errno.EINVAL,
    "7 ": -errno.EINVAL,
    "8": -errno.EINVAL,
    "0x7": -errno.EINVAL,
    "+7": 0o7,
    "7\n": 0o7,
    "+-7": -errno.EINVAL,
    "37777777777": 0o7777,
    "40000000000": -errno.EINVAL,
    "0" * 40 + "17": 0o17,
}
#: The seed from the v4.4 sources.  tmpfs (shmem_parse_options): simple_strtoul, and
#: nothing may be left; "mode=" alone is 0.  ramfs (match_token "mode=%o"): a value that
#: is not all octal digits matches no token and the option is ignored (0755 stays).
MODE_SEED_TMPFS = {**{v: -errno.EINVAL for v in MODE_LATEST}, "0777": 0o777, "": 0}
MODE_SEED_TMPFS.update({"37777777777": 0o7777, "40000000000": 0, "0" * 40 + "17": 0o17})
MODE_SEED_RAMFS = {v: 0o755 for v in MODE_LATEST}
MODE_SEED_RAMFS.update({"0777": 0o777, "37777777777": 0o7777, "40000000000": 0})
MODE_SEED_RAMFS["0" * 40 + "17"] = 0o17


def _mount_mode(k: pinfs.Kernel, fstype: str, data: str) -> int:
    t = k.init_task
    try:
        t.mount("none", "/tmp/m", fstype, 0, data)
    except OSError as exc:
        return -(exc.errno or 0)
    mode = stat.S_IMODE(t.stat("/tmp/m").st_mode)
    t.umount("/tmp/m")
    return mode


@pytest.mark.parametrize(
    ("profile", "fstype", "table"),
    [
        (LATEST, "tmpfs", MODE_LATEST),
        (LATEST, "ramfs", MODE_LATEST),
        (SEED, "tmpfs", MODE_SEED_TMPFS),
        (SEED, "ramfs", MODE_SEED_RAMFS),
    ],
    ids=["latest-tmpfs", "latest-ramfs", "seed-tmpfs", "seed-ramfs"],
)
def test_11_mode_option_parses_as_the_kernel_does(
    profile: Profile, fstype: str, table: dict[str, int]
) -> None:
    k = pinfs.Kernel(profile)
    k.init_task.mkdir("/tmp/m")
    seen = {}
    for value in table:
        before = snapshot(k)
        seen[value] = _mount_mode(k, fstype, f"mode={value}")
        if seen[value] < 0:
            assert snapshot(k) == before, value
    assert seen == table


def test_11_mode_without_a_value_and_comma_digits() -> None:
    latest, seed = pinfs.Kernel(LATEST), pinfs.Kernel(SEED)
    for k in (latest, seed):
        k.init_task.mkdir("/tmp/m")
    assert _mount_mode(latest, "tmpfs", "mode") == -errno.EINVAL
    assert _mount_mode(latest, "ramfs", "mode") == -errno.EINVAL
    assert _mount_mode(latest, "ramfs", "mode=7,mode=5") == 0o5
    assert _mount_mode(seed, "tmpfs", "mode") == -errno.EINVAL  # "No value for mount option"
    assert _mount_mode(seed, "ramfs", "mode") == 0o755
    assert _mount_mode(seed, "tmpfs", "mode=7,5") == -errno.EINVAL  # ",5" belongs to mode
    assert _mount_mode(seed, "ramfs", "mode=7,5") == 0o7


# ---------------------------------------------------------------------------------------
# 12. A Profile is validated when it is made


@pytest.mark.parametrize(
    ("changes", "kind", "field"),
    [
        ({"htab_overflow_errno": "EBOGUS"}, ValueError, "htab_overflow_errno"),
        ({"userns_mount": None}, TypeError, "userns_mount"),
        ({"symlinks": 1}, TypeError, "symlinks"),
        ({"symlinks": "yes"}, TypeError, "symlinks"),
        ({"refcnt_bits": 8.0}, TypeError, "refcnt_bits"),
        ({"refcnt_bits": 0}, ValueError, "refcnt_bits"),
        ({"refcnt_bits": 65}, ValueError, "refcnt_bits"),
        ({"refcnt_limit": 0}, ValueError, "refcnt_limit"),
        ({"refcnt_bits": 8, "refcnt_limit": 256}, ValueError, "refcnt_limit"),
        ({"bpf_attr_size": 4097}, ValueError, "bpf_attr_size"),
        ({"bpf_attr_size": 50}, ValueError, "bpf_attr_size"),
        ({"bpf_attr_size": 40}, ValueError, "bpf_attr_size"),
        ({"cap_last_cap": 64}, ValueError, "cap_last_cap"),
        ({"cap_last_cap": -1}, ValueError, "cap_last_cap"),
        ({"unpriv_sysctl_values": ()}, ValueError, "unpriv_sysctl_values"),
        ({"unpriv_sysctl_values": (1, 0)}, ValueError, "unpriv_sysctl_values"),
        ({"unpriv_sysctl_values": (3,)}, ValueError, "unpriv_sysctl_values"),
        ({"unpriv_sysctl_values": [1]}, TypeError, "unpriv_sysctl_values"),
        ({"unpriv_sysctl_default": 2}, ValueError, "unpriv_sysctl_default"),
        ({"htab_key_size_limit": 0}, ValueError, "htab_key_size_limit"),
        ({"htab_value_size_limit": -5}, ValueError, "htab_value_size_limit"),
        ({"linux_version_code": 1 << 32}, ValueError, "linux_version_code"),
        ({"verifier_log_rules": "v6"}, ValueError, "verifier_log_rules"),
        ({"name": ""}, ValueError, "name"),
        ({"name": 7}, TypeError, "name"),
    ],
)
def test_12_nonsense_profiles_are_refused_when_made(
    changes: dict[str, Any], kind: type, field: str
) -> None:
    with pytest.raises(kind, match=re.escape(f"Profile.{field}")):
        attrs.evolve(SEED, **changes)
    with pytest.raises(kind, match=re.escape(f"Profile.{field}")):
        Profile(**changes)


@pytest.mark.parametrize("switch", profiles.switches())
def test_12_every_switch_refuses_a_value_of_the_wrong_type(switch: str) -> None:
    with pytest.raises(TypeError, match=re.escape(f"Profile.{switch}")):
        attrs.evolve(SEED, **{switch: object()})


def test_12_presets_and_documented_variants_are_valid() -> None:
    for preset in profiles.PRESETS.values():
        assert attrs.evolve(preset) == preset
    attrs.evolve(SEED, refcnt_bits=8, refcnt_limit=127)
    attrs.evolve(SEED, prog_array_flush_on_last_uref=True)


# ---------------------------------------------------------------------------------------
# 13. Bad values at the lower-level entry points


def test_13_user_memory_refuses_non_int_sizes_and_non_bytes_data() -> None:
    k = pinfs.Kernel()
    t = k.init_task
    address = t.mem.alloc(8)
    refused(k, TypeError, lambda: t.mem.read(address, 0.0), "n")  # type: ignore[arg-type]
    refused(k, TypeError, lambda: t.mem.read(address, True), "n")
    refused(k, ValueError, lambda: t.mem.read(address, -1), "n")
    refused(k, TypeError, lambda: t.mem.write(address, None), "data")  # type: ignore[arg-type]
    refused(k, TypeError, lambda: t.mem.write(address, [1, 2]), "data")  # type: ignore[arg-type]
    refused(k, TypeError, lambda: t.mem.write(address, "ab"), "data")  # type: ignore[arg-type]
    refused(k, TypeError, lambda: t.mem.alloc(1.5), "alloc")  # type: ignore[arg-type]
    refused(k, ValueError, lambda: t.mem.alloc(-1), "size")
    refused(k, TypeError, lambda: t.mem.free("x"), "address")  # type: ignore[arg-type]
    refused(k, ValueError, lambda: t.mem.free(address + 1), "allocation")
    fails_with(k, errno.EFAULT, lambda: t.mem.read(address, 9))
    t.mem.write(address, bytearray(b"12345678"))
    assert t.mem.read(address, 8) == b"12345678"


def test_13_install_fd_takes_only_files_and_only_for_live_tasks_fd_install() -> None:
    k = pinfs.Kernel()
    t = k.init_task
    refused(k, TypeError, lambda: t._install_fd(object(), False), "file")  # type: ignore[arg-type]
    fd = t.open("/tmp")
    file = t.fd_file(fd)
    c = t.fork()
    c.exit()
    fails_with(k, errno.ESRCH, lambda: c._install_fd(file, False))
    k.check_invariants()


def test_13_register_bpf_object_takes_only_new_objects_of_this_kernel() -> None:
    k = boot(SEED)
    t = k.init_task
    refused(k, TypeError, lambda: k.register_bpf_object(object()), "obj")
    fd = t.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    map = t.fd_object(fd)
    refused(k, ValueError, lambda: k.register_bpf_object(map), "already registered")
    other = boot(SEED)
    refused(other, TypeError, lambda: other.register_bpf_object(map), "obj")


def test_13_helpers_map_nothing_in_proportion_to_a_size_prog_load() -> None:
    """The typed helpers reserve out-buffers of the size asked for; user memory is
    lazy, so even the largest log the kernel accepts (1 GiB - 1 on 6.18) costs only
    the page it writes."""
    k = boot(LATEST)
    t = k.init_task
    tracemalloc.start()
    try:
        fd = t.prog_load(SOCKET_FILTER, RETURN_ZERO, "GPL", 1, 2**30 - 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fd >= 0 and peak < 2**20
    assert t.mem.image() == {}  # the helper unmapped its buffers again


# ---------------------------------------------------------------------------------------
# A small hostile-input sweep over the public surface (fixed, deterministic settings)

JUNK: list[Any] = [
    *(None, -1, 0, 1, 3, 2**31, 2**32 - 1, 2**64, 1.5, math.nan, True, 1j),
    *("", "/", "/tmp", "/tmp/f", "/tmp/d", "/sys/fs/bpf/m", "\ud800", "/tmp/\udcff"),
    *("x" * 5000, "a\0b", b"", b"/tmp/\xff", b"\0" * 4, RETURN_ZERO, bytearray(b"x")),
    *([], [(0, 0, 1)], (0, 0, 1), {}, object()),
]

#: owner:method:how many arguments
_SURFACE_TABLE = """
    task:mkdir:2 task:rmdir:1 task:unlink:1 task:rename:3 task:link:2 task:symlink:2
    task:readlink:1 task:mknod:3 task:open:3 task:close:1 task:dup:1 task:stat:1
    task:fstat:1 task:statfs:1 task:getdents:1 task:chmod:2 task:chown:3 task:truncate:2
    task:chdir:1 task:umask:1 task:mount:5 task:umount:2 task:unshare:1 task:exit:1
    task:setresuid:3 task:setgroups:1 task:capset:3 task:prctl:2 task:setrlimit:3
    task:sysctl_write:2 task:write_uid_map:1 task:bpf:3 task:map_create:4
    task:map_update_elem:4 task:map_lookup_elem:2 task:prog_load:5 task:obj_pin:2
    task:obj_get:2 task:fd_object:1 task:rlimit:1 mem:alloc:1 mem:read:2 mem:write:2
    kernel:mounts:1 kernel:advance_clock:1 kernel:spawn:4 kernel:put_mnt_ns:1
    kernel:user_struct:1 kernel:write_id_map:3
"""
SURFACE = [
    (owner, name, int(arity))
    for owner, name, arity in (entry.split(":") for entry in _SURFACE_TABLE.split())
]


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    calls=st.lists(
        st.tuples(
            st.sampled_from(SURFACE),
            st.lists(st.sampled_from(JUNK), min_size=0, max_size=5),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_junk_arguments_raise_only_value_errors_and_change_nothing(
    calls: list[tuple[tuple[str, str, int], list[Any], bool]],
) -> None:
    """Junk in any argument of the public surface: only OSError/TypeError/ValueError
    may come out (anything else fails the test), a failed call leaves the snapshot as
    it was, and the invariants hold after every call."""
    k = boot(LATEST)
    t = k.init_task
    t.mkdir("/tmp/d")
    t.mknod("/tmp/f", 0o100644)
    t.obj_pin(t.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1), f"{BPF}/m")
    u = k.spawn(uid=1000)
    for (owner, name, arity), junk, as_user in calls:
        task = u if as_user else t
        target = {"task": task, "mem": task.mem, "kernel": k}[owner]
        args = (junk * arity)[:arity] if junk else []
        before = snapshot(k)
        try:
            getattr(target, name)(*args)
        except (OSError, TypeError, ValueError):
            assert snapshot(k) == before, (name, args)
        k.check_invariants()
