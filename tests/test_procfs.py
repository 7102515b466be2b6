"""procfs as a filesystem of the VFS: /proc/self, fd/N, fdinfo/N, mounts, mountinfo,
/proc/sys; revalidation when a task exits or an fd closes; ptrace-style access."""

from __future__ import annotations

import errno
import os
import stat

import pytest

import pinfs
from pinfs.base.profiles import LINUX_4_7, LINUX_5_10, LINUX_6_18, SEED, Profile
from pinfs.ebpf.attr import BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PROG_ARRAY
from pinfs.ebpf.prog import RETURN_ZERO
from pinfs.machine.task import CLONE_NEWNS
from support import err

SOCKET_FILTER = pinfs.BPF_PROG_TYPE_SOCKET_FILTER
O_PATH = 0o10000000


def boot(profile: Profile = LINUX_6_18, unprivileged_bpf: bool = False) -> pinfs.Kernel:
    disabled = 0 if unprivileged_bpf else None
    return pinfs.Kernel(profile, mount_proc=True, unprivileged_bpf_disabled=disabled)


def cat(t: pinfs.Task, path: str) -> str:
    fd = t.open(path)
    try:
        return t.read(fd, 1 << 16).decode()
    finally:
        t.close(fd)


def fields(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines())


# -- mounting ---------------------------------------------------------------------------


def test_proc_is_mountable_and_the_seed_layout_has_none() -> None:
    k = pinfs.Kernel()
    t = k.init_task
    assert err(t.stat, "/proc") == errno.ENOENT
    t.mkdir("/tmp/p")
    t.mount("proc", "/tmp/p", "proc")
    assert t.readlink("/tmp/p/self") == "1"
    assert t.statfs("/tmp/p").f_type == 0x9FA0
    t.umount("/tmp/p")
    k.check_invariants()


def test_mount_proc_option_boots_with_proc() -> None:
    k = boot()
    assert k.init_task.stat("/proc").st_mode == stat.S_IFDIR | 0o555
    assert cat(k.init_task, "/proc/mounts").splitlines()[-1] == "proc /proc proc rw,relatime 0 0"


def test_second_mount_shares_the_superblock() -> None:
    k = boot()
    t = k.init_task
    t.mkdir("/tmp/p")
    t.mount("proc", "/tmp/p", "proc")
    assert t.stat("/tmp/p").st_dev == t.stat("/proc").st_dev


def test_umount_frees_every_proc_inode() -> None:
    k = boot()
    t = k.init_task
    fd = t.map_create(BPF_MAP_TYPE_HASH, 4, 4, 1)
    cat(t, f"/proc/self/fdinfo/{fd}")
    t.readlink(f"/proc/self/fd/{fd}")
    sb = next(m.mnt_sb for m in k.mounts() if m.mnt_sb.s_type.name == "proc")
    t.umount("/proc")
    assert not sb.s_inodes
    k.check_invariants()


# -- /proc/self and /proc/<pid> -----------------------------------------------------------


def test_self_resolves_per_caller() -> None:
    k = boot()
    t = k.init_task
    child = t.fork()
    assert t.readlink("/proc/self") == "1"
    assert child.readlink("/proc/self") == str(child.pid)
    assert child.stat("/proc/self").st_ino == child.stat(f"/proc/{child.pid}").st_ino


def test_pid_directory_goes_with_the_task() -> None:
    k = boot()
    t = k.init_task
    child = t.fork()
    pid = child.pid
    assert str(pid) in t.listdir("/proc")
    assert t.listdir(f"/proc/{pid}") == ["fd", "fdinfo", "mounts", "mountinfo"]
    child.exit()
    assert err(t.stat, f"/proc/{pid}") == errno.ENOENT
    assert err(t.stat, f"/proc/{pid}/fd") == errno.ENOENT
    assert str(pid) not in t.listdir("/proc")
    k.check_invariants()


def test_names_that_are_not_pids() -> None:
    t = boot().init_task
    for name in ("01", "+1", "99", "1x", "٣"):
        assert err(t.stat, f"/proc/{name}") == errno.ENOENT, name


def test_proc_root_listing_order() -> None:
    t = boot().init_task
    child = t.fork()
    assert t.listdir("/proc") == ["sys", "mounts", "self", "1", str(child.pid)]


# -- fd/N ------------------------------------------------------------------------------


def test_fd_links_print_as_linux() -> None:
    k = boot()
    t = k.init_task
    m = t.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
    p = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    d = t.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
    t.mkdir("/tmp/a")
    f = t.open("/tmp/a/x", os.O_CREAT | os.O_WRONLY)
    assert t.readlink(f"/proc/self/fd/{m}") == "anon_inode:bpf-map"
    assert t.readlink(f"/proc/self/fd/{p}") == "anon_inode:bpf-prog"
    assert t.readlink(f"/proc/self/fd/{d}") == "/tmp"
    assert t.readlink(f"/proc/self/fd/{f}") == "/tmp/a/x"
    t.unlink("/tmp/a/x")
    assert t.readlink(f"/proc/self/fd/{f}") == "/tmp/a/x (deleted)"
    fds = (0, 1, 2, m, p, d, f, f + 1)  # the console, ours, and the listdir's own
    assert t.listdir("/proc/self/fd") == [str(fd) for fd in fds]
    assert t.readlink("/proc/self/fd/0") == "/dev/console"


def test_fd_link_mode_follows_the_open_mode() -> None:
    t = boot().init_task
    t.mkdir("/tmp/a")
    r = t.open("/tmp/a/x", os.O_CREAT | os.O_RDONLY)
    w = t.open("/tmp/a/x", os.O_WRONLY)
    rw = t.open("/tmp/a/x", os.O_RDWR)
    modes = [stat.S_IMODE(t.lstat(f"/proc/self/fd/{fd}").st_mode) for fd in (r, w, rw)]
    assert modes == [0o500, 0o300, 0o700]


def test_following_an_fd_link_lands_on_the_file() -> None:
    t = boot().init_task
    t.mkdir("/tmp/a")
    fd = t.open("/tmp/a/x", os.O_CREAT | os.O_WRONLY)
    ino = t.stat("/tmp/a/x").st_ino
    t.unlink("/tmp/a/x")
    assert t.stat(f"/proc/self/fd/{fd}").st_ino == ino  # even once deleted
    again = t.open(f"/proc/self/fd/{fd}", os.O_RDONLY)
    assert t.fstat(again).st_ino == ino
    d = t.open("/tmp/a", os.O_RDONLY)
    assert t.stat(f"/proc/self/fd/{d}/.").st_ino == t.stat("/tmp/a").st_ino


def test_following_an_anonymous_fd_link_lands_on_the_anon_inode() -> None:
    k = boot()
    t = k.init_task
    m = t.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
    assert err(t.open, f"/proc/self/fd/{m}") == errno.ENXIO  # no_open
    assert t.stat(f"/proc/self/fd/{m}") == t.fstat(m)
    p = t.open(f"/proc/self/fd/{m}", O_PATH)
    assert t.readlink(f"/proc/self/fd/{p}") == "anon_inode:bpf-map"
    assert fields(cat(t, f"/proc/self/fdinfo/{p}"))["flags"] == "010000000"
    t.close(p)
    k.check_invariants()


def test_closed_fd_disappears() -> None:
    k = boot()
    t = k.init_task
    fd = t.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
    assert t.readlink(f"/proc/self/fd/{fd}") == "anon_inode:bpf-map"
    t.close(fd)
    assert err(t.readlink, f"/proc/self/fd/{fd}") == errno.ENOENT
    assert err(t.open, f"/proc/self/fdinfo/{fd}") == errno.ENOENT
    k.check_invariants()


def test_reused_fd_shows_the_new_file() -> None:
    t = boot().init_task
    fd = t.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
    t.readlink(f"/proc/self/fd/{fd}")
    t.close(fd)
    assert t.prog_load(SOCKET_FILTER, RETURN_ZERO) == fd
    assert t.readlink(f"/proc/self/fd/{fd}") == "anon_inode:bpf-prog"


def test_fd_readlink_text_is_relative_to_the_reader_root() -> None:
    t = boot().init_task
    t.mkdir("/tmp/a")
    fd = t.open("/tmp/a", os.O_RDONLY)
    child = t.fork()
    assert child.readlink(f"/proc/1/fd/{fd}") == "/tmp/a"


# -- fdinfo ----------------------------------------------------------------------------


def test_fdinfo_of_a_hash_map_on_6_18() -> None:
    t = boot(LINUX_6_18).init_task
    fd = t.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
    info = fields(cat(t, f"/proc/self/fdinfo/{fd}"))
    assert list(info) == [
        "pos", "flags", "mnt_id", "ino", "map_type", "key_size", "value_size",
        "max_entries", "map_flags", "map_extra", "memlock", "map_id", "frozen",
    ]  # fmt: skip
    assert info["flags"] == "02000002"  # O_RDWR | O_CLOEXEC
    assert info["ino"] == str(t.fstat(fd).st_ino)
    map_id = t.fd_object(fd).id  # type: ignore[attr-defined]
    assert (info["map_type"], info["key_size"], info["map_id"]) == ("1", "4", str(map_id))


def test_fdinfo_of_a_program_on_6_18() -> None:
    t = boot(LINUX_6_18).init_task
    fd = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    info = fields(cat(t, f"/proc/self/fdinfo/{fd}"))
    assert info["prog_type"] == "1"
    assert info["prog_tag"] == "59f4a931744dcdc6"  # what Linux 6.18 prints for it
    assert info["memlock"] == "4096"
    assert "verified_insns" not in info  # the verifier's analysis is not modelled


@pytest.mark.parametrize(
    ("profile", "bpf_lines"),
    [(SEED, 0), (LINUX_4_7, 5), (LINUX_5_10, 8), (LINUX_6_18, 9)],
)
def test_fdinfo_map_lines_per_profile(profile: Profile, bpf_lines: int) -> None:
    t = boot(profile).init_task
    fd = t.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
    lines = cat(t, f"/proc/self/fdinfo/{fd}").splitlines()
    common = 4 if profile.fdinfo_ino else 3
    assert len(lines) == common + bpf_lines


def test_fdinfo_owner_of_a_prog_array() -> None:
    t = boot(LINUX_6_18).init_task
    array = t.map_create(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 2)
    assert "owner_prog_type" not in cat(t, f"/proc/self/fdinfo/{array}")
    prog = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    t.map_update_elem(array, b"\0" * 4, prog.to_bytes(4, "little"))
    info = fields(cat(t, f"/proc/self/fdinfo/{array}"))
    assert (info["owner_prog_type"], info["owner_jited"]) == ("1", "0")
    assert list(info)[-2:] == ["owner_prog_type", "owner_jited"]


def test_fdinfo_flags_pos_and_mnt_id_of_an_ordinary_file() -> None:
    k = boot()
    t = k.init_task
    t.mount("bpf", "/sys/fs/bpf", "bpf")
    d = t.open("/sys/fs/bpf", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    plain = t.dup(d)
    bpf_mnt = next(m for m in k.mounts() if m.mnt_sb.s_type.name == "bpf")
    info = fields(cat(t, f"/proc/self/fdinfo/{d}"))
    assert info["flags"] == "02300000"  # O_LARGEFILE | O_DIRECTORY | O_CLOEXEC
    assert info["mnt_id"] == str(bpf_mnt.mnt_id)
    assert fields(cat(t, f"/proc/self/fdinfo/{plain}"))["flags"] == "0300000"
    t.getdents(d)
    assert fields(cat(t, f"/proc/self/fdinfo/{d}"))["pos"] != "0"


def test_fdinfo_is_read_from_its_position() -> None:
    t = boot().init_task
    fd = t.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
    info = t.open(f"/proc/self/fdinfo/{fd}")
    whole = cat(t, f"/proc/self/fdinfo/{fd}").encode()
    parts = [t.read(info, 7) for _ in range(len(whole) // 7 + 2)]
    assert b"".join(parts) == whole
    assert parts[-1] == b""


# -- mounts and mountinfo --------------------------------------------------------------


def test_mountinfo_of_a_bpffs_in_a_private_namespace() -> None:
    k = boot(LINUX_6_18)
    t = k.init_task
    t.unshare(CLONE_NEWNS)
    t.mkdir("/tmp/b")
    t.mount("bpf", "/tmp/b", "bpf", pinfs.vfs.MS_NOSUID | pinfs.vfs.MS_NODEV, "mode=0700")
    lines = cat(t, "/proc/self/mountinfo").splitlines()
    root, *_, bpf = (line.split(" ") for line in lines)
    bpf_mnt = t.mnt_ns.mounts[-1]
    assert bpf[0] == str(bpf_mnt.mnt_id)
    assert bpf[1] == root[0]  # hangs on the namespace's root
    assert bpf[2] == f"0:{bpf_mnt.mnt_sb.s_dev}"
    assert bpf[3:] == ["/", "/tmp/b", "rw,nosuid,nodev,relatime", "-", "bpf", "bpf", "rw,mode=700"]
    assert root[0] == root[1]  # the namespace root is its own parent
    assert cat(t, "/proc/self/mounts").splitlines()[-1] == (
        "bpf /tmp/b bpf rw,nosuid,nodev,relatime,mode=700 0 0"
    )


def test_mountinfo_of_a_bind_mount_names_its_root() -> None:
    t = boot().init_task
    t.mkdir("/tmp/src")
    t.mkdir("/tmp/src/sub")
    t.mkdir("/tmp/dst")
    t.mount("tmpfs", "/tmp/src", "tmpfs", 0, "mode=0755")
    t.mkdir("/tmp/src/sub")
    t.mount("/tmp/src/sub", "/tmp/dst", None, pinfs.vfs.MS_BIND)
    last = cat(t, "/proc/self/mountinfo").splitlines()[-1].split(" ")
    assert last[3:5] == ["/sub", "/tmp/dst"]
    assert last[-1] == "rw,mode=755"


def test_mounts_escape_spaces() -> None:
    t = boot().init_task
    t.mkdir("/tmp/a b")
    t.mount("my src", "/tmp/a b", "tmpfs")
    assert cat(t, "/proc/mounts").splitlines()[-1].startswith("my\\040src /tmp/a\\040b tmpfs ")


def test_mounts_of_another_namespace_are_the_tasks_own() -> None:
    t = boot().init_task
    child = t.fork()
    child.unshare(CLONE_NEWNS)
    child.mkdir("/tmp/b")
    child.mount("bpf", "/tmp/b", "bpf")
    assert "/tmp/b" in cat(t, f"/proc/{child.pid}/mounts")
    assert "/tmp/b" not in cat(t, "/proc/self/mounts")


# -- /proc/sys -------------------------------------------------------------------------


def test_sysctl_reads_and_writes_through_the_same_rules() -> None:
    k = boot(LINUX_6_18)
    t = k.init_task
    path = "/proc/sys/kernel/unprivileged_bpf_disabled"
    assert cat(t, path) == "2\n"
    fd = t.open(path, os.O_WRONLY)
    assert err(t.write, fd, b"7\n") == errno.EINVAL
    assert err(t.write, fd, b"x") == errno.EINVAL
    assert t.write(fd, b"1\n") == 2
    assert k.sysctl["kernel.unprivileged_bpf_disabled"] == 1
    assert err(t.write, fd, b"0") == errno.EPERM  # 1 is locked (bpf_unpriv_handler)
    assert cat(t, path) == "1\n"


def test_sysctl_at_the_seed_accepts_only_1() -> None:
    k = boot(SEED)
    t = k.init_task
    fd = t.open("/proc/sys/kernel/unprivileged_bpf_disabled", os.O_WRONLY)
    assert err(t.write, fd, b"0") == errno.EINVAL
    assert t.write(fd, b" 1\n") == 3
    assert k.sysctl["kernel.unprivileged_bpf_disabled"] == 1


def test_sysctl_write_needs_euid_0_whatever_the_capabilities() -> None:
    k = boot()
    u = k.spawn(uid=1000, caps=[pinfs.cred.CAP_DAC_OVERRIDE, pinfs.cred.CAP_SYS_ADMIN])
    path = "/proc/sys/fs/protected_symlinks"
    assert cat(u, path) == "0\n"
    assert err(u.open, path, os.O_WRONLY) == errno.EACCES
    t = k.init_task
    fd = t.open(path, os.O_WRONLY)
    t.write(fd, b"1")
    assert k.sysctl["fs.protected_symlinks"] == 1
    assert sorted(t.listdir("/proc/sys/fs")) == ["protected_hardlinks", "protected_symlinks"]


# -- reading and writing fds -------------------------------------------------------------


def test_read_and_write_errnos() -> None:
    t = boot().init_task
    m = t.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
    assert err(t.read, m, 8) == errno.EINVAL  # bpf_dummy_read
    d = t.open("/tmp", os.O_RDONLY)
    assert err(t.read, d, 8) == errno.EISDIR
    assert err(t.write, d, b"x") == errno.EBADF
    assert err(t.read, 99, 8) == errno.EBADF
    info = t.open("/proc/self/mounts")
    assert err(t.write, info, b"x") == errno.EBADF


# -- access to other tasks ----------------------------------------------------------------


def test_another_users_fds_are_hidden() -> None:
    k = boot(LINUX_6_18, unprivileged_bpf=True)
    t = k.init_task
    u = k.spawn(uid=1000)
    other = k.spawn(uid=2000)
    fd = u.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
    assert u.readlink(f"/proc/{u.pid}/fd/{fd}") == "anon_inode:bpf-map"
    assert err(other.listdir, f"/proc/{u.pid}/fd") == errno.EACCES
    assert err(other.open, f"/proc/{u.pid}/fdinfo/{fd}") == errno.EACCES
    assert t.readlink(f"/proc/{u.pid}/fd/{fd}") == "anon_inode:bpf-map"  # CAP_SYS_PTRACE
    same_uid = k.spawn(uid=1000)
    assert same_uid.readlink(f"/proc/{u.pid}/fd/{fd}") == "anon_inode:bpf-map"
    assert cat(other, f"/proc/{u.pid}/mountinfo")  # world-readable


def test_root_without_cap_sys_ptrace_may_not_readlink() -> None:
    k = boot(LINUX_6_18, unprivileged_bpf=True)
    u = k.spawn(uid=1000)
    fd = u.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
    root = k.spawn(uid=0, caps=[pinfs.cred.CAP_DAC_OVERRIDE])
    assert err(root.readlink, f"/proc/{u.pid}/fd/{fd}") == errno.EACCES
    assert err(root.open, f"/proc/{u.pid}/fdinfo/{fd}") == errno.EACCES


def test_seed_fdinfo_is_owner_only() -> None:
    k = boot(SEED)
    u = k.spawn(uid=1000)
    fd = u.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    assert stat.S_IMODE(u.stat(f"/proc/{u.pid}/fdinfo/{fd}").st_mode) == 0o400
    other = k.spawn(uid=2000)
    assert err(other.open, f"/proc/{u.pid}/fdinfo/{fd}") == errno.EACCES


def test_invariants_hold_after_a_procfs_session() -> None:
    k = boot()
    t = k.init_task
    for _ in range(3):
        child = t.fork()
        fd = child.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
        cat(t, f"/proc/{child.pid}/fdinfo/{fd}")
        t.readlink(f"/proc/{child.pid}/fd/{fd}")
        child.exit()
    assert t.listdir("/proc") == ["sys", "mounts", "self", "1"]
    k.check_invariants()


def test_protected_sysctls_are_root_only_at_the_seed() -> None:
    k = boot(SEED)
    u = k.spawn(uid=1000, caps=[pinfs.cred.CAP_DAC_OVERRIDE])
    assert err(u.open, "/proc/sys/fs/protected_hardlinks") == errno.EACCES
    assert cat(u, "/proc/sys/kernel/unprivileged_bpf_disabled") == "0\n"
    assert cat(k.init_task, "/proc/sys/fs/protected_hardlinks") == "0\n"


def test_getdents_inode_numbers_match_stat() -> None:
    t = boot().init_task
    t.map_create(BPF_MAP_TYPE_HASH, 4, 8, 16)
    for path in ("/proc", "/proc/1", "/proc/1/fd", "/proc/1/fdinfo"):
        fd = t.open(path, os.O_RDONLY | os.O_DIRECTORY)
        entries = [e for e in t.getdents(fd) if e.d_name not in (".", "..")]
        t.close(fd)
        for e in entries:
            if path.startswith("/proc/1/fd") and e.d_name == str(fd):
                continue  # the listing's own fd, closed since
            assert e.d_ino == t.lstat(f"{path}/{e.d_name}").st_ino, (path, e.d_name)
