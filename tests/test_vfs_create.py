"""Creation: filename_create, may_create, mkdir, mknod, open(O_CREAT), symlink, link's
create half, inode_init_owner, the umask and the parent's times.

Seed semantics 8.3-8.5 and 8.9; outcome analogues S47-S53, S67-S70, S81 (on ramfs and
tmpfs, where bpffs-specific EPERMs become successes).  Kernel functions modelled:
``filename_create``, ``may_create``, ``vfs_mkdir``, ``vfs_mknod``, ``vfs_create``,
``vfs_symlink``, ``may_mknod``, ``sys_mknodat``, ``sys_mkdirat``, ``do_last``/
``lookup_open``, ``inode_init_owner``, ``ramfs_mknod``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from typing import Any

import pytest

import pinfs
from pinfs.base.cred import CAP_DAC_OVERRIDE, CAP_MKNOD
from pinfs.machine.task import Task
from support import err

MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
CREAT = os.O_CREAT | os.O_WRONLY


def creators(t: Task, path: str) -> dict[str, Callable[[], Any]]:
    """Every way of creating ``path`` (link's source is /tmp/src, made here if needed)."""
    if "src" not in t.listdir("/tmp"):
        t.mknod("/tmp/src", stat.S_IFREG | 0o644)
    return {
        "mkdir": lambda: t.mkdir(path),
        "mknod": lambda: t.mknod(path, stat.S_IFREG | 0o644),
        "mknod fifo": lambda: t.mknod(path, stat.S_IFIFO | 0o644),
        "symlink": lambda: t.symlink("target", path),
        "link": lambda: t.link("/tmp/src", path),
    }


# ---------------------------------------------------------------------------------------
# filename_create order (S47-S50)


@pytest.mark.parametrize("name", [".", "..", "/", "/tmp/.", "/tmp/..", "/tmp/./.", "//"])
def test_s47_dot_dotdot_and_root_are_eexist_filename_create(t: Task, name: str) -> None:
    """A final component that is not LAST_NORM gives EEXIST for every creation."""
    for what, create in creators(t, name).items():
        assert err(create) == errno.EEXIST, what


def test_s47_eexist_for_dots_comes_before_permission_filename_create(u: Task) -> None:
    """The LAST_NORM check precedes may_create: EEXIST, not EACCES, in "/"."""
    assert err(u.mkdir, "/.") == errno.EEXIST
    assert err(u.mkdir, "/sys/..") == errno.EEXIST
    assert err(u.mknod, "/", stat.S_IFIFO) == errno.EEXIST


def test_s47_open_creat_of_dots_and_root_is_eisdir_do_last(t: Task) -> None:
    """open(O_CREAT) goes through do_last, not filename_create: "." or "/" is a
    directory, so EISDIR."""
    for name in (".", "..", "/", "/tmp/."):
        assert err(t.open, name, os.O_CREAT | os.O_RDONLY) == errno.EISDIR, name


@pytest.mark.parametrize("kind", ["file", "dir", "symlink", "dangling", "fifo"])
def test_s48_existing_name_is_eexist_filename_create(t: Task, kind: str) -> None:
    """Whatever the existing name is (the final symlink is not followed), EEXIST."""
    path = "/tmp/x"
    if kind == "file":
        t.mknod(path, stat.S_IFREG)
    elif kind == "dir":
        t.mkdir(path)
    elif kind == "symlink":
        t.symlink("/tmp", path)
    elif kind == "dangling":
        t.symlink("/nowhere", path)
    else:
        t.mknod(path, stat.S_IFIFO)
    for what, create in creators(t, path).items():
        assert err(create) == errno.EEXIST, what
    assert err(t.open, path, CREAT | os.O_EXCL) == errno.EEXIST


def test_s48_eexist_comes_before_eacces_filename_create(u: Task) -> None:
    """filename_create's EEXIST precedes may_create's permission check."""
    assert err(u.mkdir, "/tmp") == errno.EEXIST
    assert err(u.mkdir, "/sys/fs/bpf") == errno.EEXIST
    assert err(u.symlink, "x", "/sys") == errno.EEXIST
    assert err(u.mkdir, "/newdir") == errno.EACCES


def test_s49_trailing_slash_is_enoent_except_for_mkdir_filename_create(t: Task) -> None:
    """A trailing slash on a new name: ENOENT unless the caller asked for a directory
    (mkdir passes LOOKUP_DIRECTORY)."""
    t.mknod("/tmp/src", stat.S_IFREG)
    assert err(t.mknod, "/tmp/a/", stat.S_IFREG) == errno.ENOENT
    assert err(t.mknod, "/tmp/a/", stat.S_IFIFO) == errno.ENOENT
    assert err(t.symlink, "x", "/tmp/a/") == errno.ENOENT
    assert err(t.link, "/tmp/src", "/tmp/a/") == errno.ENOENT
    assert t.listdir("/tmp") == ["src"]
    t.mkdir("/tmp/a/")
    t.mkdir("/tmp/b//")
    assert sorted(t.listdir("/tmp")) == ["a", "b", "src"]


def test_s49_open_creat_with_trailing_slash_is_eisdir_do_last(t: Task) -> None:
    """do_last: O_CREAT with a trailing slash is EISDIR, for new and existing names."""
    t.mknod("/tmp/f", stat.S_IFREG)
    t.mkdir("/tmp/d")
    assert err(t.open, "/tmp/new/", CREAT) == errno.EISDIR
    assert err(t.open, "/tmp/f/", CREAT) == errno.EISDIR
    assert err(t.open, "/tmp/d/", os.O_CREAT | os.O_RDONLY) == errno.EISDIR
    assert "new" not in t.listdir("/tmp")


def test_s49_trailing_slash_enoent_comes_after_eexist_filename_create(t: Task) -> None:
    """An existing name with a trailing slash is EEXIST, not ENOENT."""
    t.mknod("/tmp/f", stat.S_IFREG)
    assert err(t.mknod, "/tmp/f/", stat.S_IFREG) == errno.EEXIST
    assert err(t.symlink, "x", "/tmp/f/") == errno.EEXIST


def _ro_bind(t: Task) -> str:
    """A tmpfs at /mnt holding d and f, made read-only as a mount (not as a sb)."""
    t.mkdir("/mnt")
    t.mount("none", "/mnt", "tmpfs")
    t.mkdir("/mnt/d")
    t.mknod("/mnt/f", stat.S_IFREG | 0o644)
    t.mount(None, "/mnt", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    return "/mnt"


def test_s50_erofs_is_reported_last_filename_create(t: Task) -> None:
    """On a read-only mount: EEXIST for dots and existing names, lookup errors, ENOENT
    for a trailing slash, and only then the remembered EROFS."""
    m = _ro_bind(t)
    assert err(t.mkdir, f"{m}/.") == errno.EEXIST
    assert err(t.mkdir, f"{m}/d") == errno.EEXIST
    assert err(t.mknod, f"{m}/f", stat.S_IFREG) == errno.EEXIST
    assert err(t.mkdir, f"{m}/" + "x" * 256) == errno.ENAMETOOLONG
    assert err(t.mknod, f"{m}/new/", stat.S_IFREG) == errno.ENOENT
    assert err(t.mkdir, f"{m}/new") == errno.EROFS
    assert err(t.mkdir, f"{m}/new/") == errno.EROFS
    assert err(t.mknod, f"{m}/new", stat.S_IFREG) == errno.EROFS
    assert err(t.symlink, "x", f"{m}/new") == errno.EROFS
    assert err(t.link, f"{m}/f", f"{m}/new") == errno.EROFS
    assert err(t.open, f"{m}/new", CREAT) == errno.EROFS
    assert err(t.open, f"{m}/f", CREAT | os.O_EXCL) == errno.EEXIST
    assert sorted(t.listdir(m)) == ["d", "f"]


def test_s50_erofs_comes_before_may_create_eacces_filename_create(t: Task, u: Task) -> None:
    """EROFS (from filename_create) wins over EACCES (from may_create)."""
    m = _ro_bind(t)
    assert err(u.mkdir, f"{m}/new") == errno.EROFS
    assert err(u.mknod, f"{m}/new", stat.S_IFCHR) == errno.EROFS


def test_s50_read_only_superblock_is_erofs_mnt_want_write(t: Task) -> None:
    """mount -o ro makes the superblock read-only: every creation is EROFS."""
    t.mkdir("/ro")
    t.mount("none", "/ro", "tmpfs", MS_RDONLY)
    assert err(t.mkdir, "/ro/x") == errno.EROFS
    assert err(t.mknod, "/ro/x", stat.S_IFREG) == errno.EROFS
    assert err(t.open, "/ro/x", CREAT) == errno.EROFS
    assert err(t.symlink, "t", "/ro/x") == errno.EROFS
    assert err(t.mkdir, "/ro") == errno.EEXIST  # the mountpoint lives on the rw root
    assert t.statfs("/ro").f_flags & 1  # ST_RDONLY


# ---------------------------------------------------------------------------------------
# may_create (S53)


@pytest.mark.parametrize("mode", [0o755, 0o733 & ~0o003 | 0o002, 0o776, 0o555])
def test_s53_no_write_and_search_permission_is_eacces_may_create(
    t: Task, u: Task, mode: int
) -> None:
    """may_create needs MAY_WRITE|MAY_EXEC on the parent."""
    t.mkdir("/tmp/p")
    t.chmod("/tmp/p", mode)
    for what, create in creators(u, "/tmp/p/x").items():
        assert err(create) == errno.EACCES, (what, oct(mode))
    assert err(u.open, "/tmp/p/x", CREAT) == errno.EACCES
    assert err(u.mknod, "/tmp/p/x", stat.S_IFCHR, os.makedev(1, 3)) == errno.EACCES


def test_s53_group_write_and_search_is_enough_may_create(t: Task, k: pinfs.Kernel) -> None:
    """The group bits apply to supplementary groups too."""
    t.mkdir("/tmp/p")
    t.chown("/tmp/p", 0, 4000)
    t.chmod("/tmp/p", 0o730)
    member = k.spawn(uid=1000, gid=1000, groups=(4000,))
    outsider = k.spawn(uid=1001, gid=1001)
    member.mkdir("/tmp/p/m")
    assert err(outsider.mkdir, "/tmp/p/o") == errno.EACCES


def test_s53_eacces_comes_before_the_cap_mknod_check_vfs_mknod(t: Task, u: Task) -> None:
    """vfs_mknod: may_create first, then CAP_MKNOD for devices."""
    t.mkdir("/tmp/closed")
    assert err(u.mknod, "/tmp/closed/c", stat.S_IFCHR, os.makedev(1, 3)) == errno.EACCES
    assert err(u.mknod, "/tmp/c", stat.S_IFCHR, os.makedev(1, 3)) == errno.EPERM


def test_s53_cap_dac_override_creates_anywhere_generic_permission(k: pinfs.Kernel) -> None:
    """With CAP_DAC_OVERRIDE a non-root user may create in a root-owned 0755 dir, and
    the new inode belongs to the creator."""
    w = k.spawn(uid=1000, gid=1000, caps=[CAP_DAC_OVERRIDE])
    w.mkdir("/owned")
    st = w.stat("/owned")
    assert (st.st_uid, st.st_gid) == (1000, 1000)


# ---------------------------------------------------------------------------------------
# mkdir (S67, S68)


@pytest.mark.parametrize(
    ("mode", "umask", "expected"),
    [
        (0o777, 0o022, 0o755),
        (0o777, 0o077, 0o700),
        (0o1777, 0o022, 0o1755),
        (0o7777, 0o000, 0o1777),  # S_ISUID and S_ISGID are dropped by vfs_mkdir
        (0o2755, 0o000, 0o755),
        (0o4700, 0o022, 0o700),
        (0, 0o022, 0),
        (0o170777, 0o022, 0o755),  # type bits in the argument are ignored
    ],
)
def test_s68_mkdir_mode_is_masked_by_umask_and_01777_vfs_mkdir(
    t: Task, mode: int, umask: int, expected: int
) -> None:
    """mkdirat: mode & ~umask, then vfs_mkdir keeps S_IRWXUGO|S_ISVTX."""
    t.umask(umask)
    t.mkdir("/tmp/d", mode)
    assert t.stat("/tmp/d").st_mode == stat.S_IFDIR | expected


def test_s68_new_directory_nlink_and_parent_nlink_ramfs_mkdir(t: Task) -> None:
    """A new directory has nlink 2 and adds one to its parent; files do not."""
    before = t.stat("/tmp").st_nlink
    t.mkdir("/tmp/a")
    assert t.stat("/tmp/a").st_nlink == 2
    assert t.stat("/tmp").st_nlink == before + 1
    t.mknod("/tmp/f", stat.S_IFREG)
    t.symlink("x", "/tmp/s")
    assert t.stat("/tmp").st_nlink == before + 1
    t.mkdir("/tmp/a/b")
    assert t.stat("/tmp/a").st_nlink == 3
    assert t.stat("/tmp").st_nlink == before + 1


def test_s68_there_is_no_link_limit_vfs_mkdir(t: Task) -> None:
    """s_max_links is 0 for ramfs/tmpfs (and bpffs): never EMLINK."""
    t.mkdir("/tmp/p")
    for i in range(300):
        t.mkdir(f"/tmp/p/{i}")
    assert t.stat("/tmp/p").st_nlink == 302


def test_s67_mkdir_without_permission_is_eacces_may_create(t: Task, u: Task) -> None:
    """mkdir in a directory the caller may not write: EACCES; in 01777 /tmp: fine."""
    assert err(u.mkdir, "/sys/x") == errno.EACCES
    u.mkdir("/tmp/mine")
    st = u.stat("/tmp/mine")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o755)


# ---------------------------------------------------------------------------------------
# mknod (S69)


def test_s69_mknod_s_ifdir_is_eperm_before_the_path_may_mknod(t: Task) -> None:
    """may_mknod runs before path lookup: S_IFDIR is EPERM even under a missing dir."""
    assert err(t.mknod, "/tmp/missing/x", stat.S_IFDIR | 0o755) == errno.EPERM
    assert err(t.mknod, "/tmp", stat.S_IFDIR) == errno.EPERM  # not EEXIST


@pytest.mark.parametrize("fmt", [stat.S_IFLNK, 0o030000, 0o050000, 0o070000, 0o170000])
def test_s69_mknod_bad_type_is_einval_before_the_path_may_mknod(t: Task, fmt: int) -> None:
    """Types other than REG, CHR, BLK, FIFO, SOCK and 0 are EINVAL, before lookup."""
    assert err(t.mknod, "/tmp/missing/x", fmt | 0o644) == errno.EINVAL
    assert err(t.mknod, "/tmp", fmt | 0o644) == errno.EINVAL


def test_s69_mknod_type_zero_makes_a_regular_file_vfs_create(t: Task) -> None:
    """Type 0 means S_IFREG (vfs_create), with the umask applied and setuid kept."""
    t.mknod("/tmp/z", 0o666)
    t.mknod("/tmp/r", stat.S_IFREG | 0o4777)
    assert t.stat("/tmp/z").st_mode == stat.S_IFREG | 0o644
    assert t.stat("/tmp/r").st_mode == stat.S_IFREG | 0o4755


def test_s69_device_nodes_need_cap_mknod_vfs_mknod(t: Task, u: Task, k: pinfs.Kernel) -> None:
    """CHR and BLK without CAP_MKNOD: EPERM; FIFO and SOCK need nothing special."""
    dev = os.makedev(1, 3)
    assert err(u.mknod, "/tmp/c", stat.S_IFCHR | 0o666, dev) == errno.EPERM
    assert err(u.mknod, "/tmp/b", stat.S_IFBLK | 0o666, dev) == errno.EPERM
    u.mknod("/tmp/fifo", stat.S_IFIFO | 0o666)
    u.mknod("/tmp/sock", stat.S_IFSOCK | 0o666)
    assert stat.S_ISFIFO(t.stat("/tmp/fifo").st_mode)
    assert stat.S_ISSOCK(t.stat("/tmp/sock").st_mode)
    mk = k.spawn(uid=1001, caps=[CAP_MKNOD])
    mk.mknod("/tmp/c", stat.S_IFCHR | 0o666, dev)
    st = t.stat("/tmp/c")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == dev
    t.mknod("/tmp/b", stat.S_IFBLK | 0o600, os.makedev(7, 1))
    assert t.stat("/tmp/b").st_rdev == os.makedev(7, 1)
    assert t.stat("/tmp/fifo").st_rdev == 0


def test_s69_opening_a_device_without_a_driver_is_enxio_chrdev_open(t: Task) -> None:
    """No driver behind the node: ENXIO (an O_PATH open works)."""
    t.mknod("/tmp/c", stat.S_IFCHR | 0o666, os.makedev(240, 0))
    assert err(t.open, "/tmp/c", os.O_RDWR) == errno.ENXIO
    t.close(t.open("/tmp/c", 0o10000000))


# ---------------------------------------------------------------------------------------
# open(O_CREAT) (S70) and symlink (S81)


def test_s70_open_creat_makes_a_regular_file_vfs_create(t: Task) -> None:
    """O_CREAT of a new name: S_IFREG | (mode & ~umask), owned by the caller."""
    fd = t.open("/tmp/new", CREAT, 0o777)
    st = t.fstat(fd)
    assert st.st_mode == stat.S_IFREG | 0o755
    assert (st.st_nlink, st.st_size, st.st_uid, st.st_gid) == (1, 0, 0, 0)
    t.close(fd)
    t.umask(0)
    t.close(t.open("/tmp/new2", os.O_CREAT | os.O_RDONLY, 0o7777))
    assert t.stat("/tmp/new2").st_mode == stat.S_IFREG | 0o7777


def test_s70_open_creat_without_permission_is_eacces_may_create(u: Task) -> None:
    assert err(u.open, "/x", CREAT) == errno.EACCES
    assert err(u.open, "/sys/fs/bpf/x", os.O_CREAT | os.O_RDONLY) == errno.EACCES


def test_s70_open_creat_of_an_existing_file_opens_it_do_last(t: Task) -> None:
    """Without O_EXCL an existing file is simply opened (mode argument ignored)."""
    t.mknod("/tmp/f", stat.S_IFREG | 0o600)
    ino = t.stat("/tmp/f").st_ino
    fd = t.open("/tmp/f", CREAT, 0o777)
    assert t.fstat(fd).st_ino == ino
    assert stat.S_IMODE(t.fstat(fd).st_mode) == 0o600


def test_s70_open_creat_through_a_dangling_symlink_creates_the_target_do_last(
    t: Task,
) -> None:
    """O_CREAT follows a final symlink; a dangling one creates its target.  With
    O_EXCL the link itself counts as existing (EEXIST)."""
    t.symlink("made", "/tmp/link")
    assert err(t.open, "/tmp/link", CREAT | os.O_EXCL) == errno.EEXIST
    t.close(t.open("/tmp/link", CREAT, 0o600))
    assert stat.S_ISREG(t.stat("/tmp/made").st_mode)
    assert stat.S_ISLNK(t.lstat("/tmp/link").st_mode)
    t.symlink("missing/made", "/tmp/link2")
    assert err(t.open, "/tmp/link2", CREAT) == errno.ENOENT
    assert err(t.open, "/tmp/link", CREAT | os.O_NOFOLLOW) == errno.ELOOP


def test_s81_symlink_rules_vfs_symlink(t: Task, u: Task) -> None:
    """symlink: EEXIST for existing names, EACCES without permission, else made
    (ramfs has ->symlink; bpffs at the seed would say EPERM)."""
    t.mknod("/tmp/f", stat.S_IFREG)
    assert err(t.symlink, "x", "/tmp/f") == errno.EEXIST
    assert err(u.symlink, "x", "/sys/s") == errno.EACCES
    u.symlink("anything at all", "/tmp/s")
    st = u.lstat("/tmp/s")
    assert (st.st_uid, st.st_mode) == (1000, stat.S_IFLNK | 0o777)


# ---------------------------------------------------------------------------------------
# inode_init_owner and the umask (8.9)


def test_new_inodes_belong_to_fsuid_and_fsgid_inode_init_owner(k: pinfs.Kernel) -> None:
    """S55/S68 analogue: a new inode's uid and gid are the caller's fsuid and fsgid."""
    w = k.spawn(uid=1234, gid=5678, groups=(9,))
    w.mkdir("/tmp/d")
    w.mknod("/tmp/f", stat.S_IFREG)
    w.symlink("x", "/tmp/l")
    for p in ("/tmp/d", "/tmp/f"):
        st = w.stat(p)
        assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert (w.lstat("/tmp/l").st_uid, w.lstat("/tmp/l").st_gid) == (1234, 5678)


def test_setgid_directory_passes_on_its_group_inode_init_owner(t: Task, k: pinfs.Kernel) -> None:
    """S55/S68 analogue. A setgid parent: children get its group; new directories also get S_ISGID;
    files keep their requested mode, S_ISGID included (no stripping in 4.4)."""
    t.mkdir("/tmp/sg")
    t.chown("/tmp/sg", 0, 50)
    t.chmod("/tmp/sg", 0o2777)
    w = k.spawn(uid=1000, gid=1000)
    w.mkdir("/tmp/sg/d", 0o755)
    w.mknod("/tmp/sg/f", stat.S_IFREG | 0o644)
    w.close(w.open("/tmp/sg/g", CREAT, 0o2755))
    w.symlink("x", "/tmp/sg/l")
    assert w.stat("/tmp/sg/d").st_mode == stat.S_IFDIR | 0o2755
    assert w.stat("/tmp/sg/d").st_gid == 50
    assert w.stat("/tmp/sg/f").st_mode == stat.S_IFREG | 0o644
    assert w.stat("/tmp/sg/f").st_gid == 50
    assert w.stat("/tmp/sg/g").st_mode == stat.S_IFREG | 0o2755
    assert w.lstat("/tmp/sg/l").st_gid == 50
    w.mkdir("/tmp/sg/d/dd", 0o700)  # inherited again, one level down
    assert w.stat("/tmp/sg/d/dd").st_mode == stat.S_IFDIR | 0o2700
    assert w.stat("/tmp/sg/d/dd").st_gid == 50
    w.mkdir("/tmp/plain")
    assert w.stat("/tmp/plain").st_gid == 1000


def test_umask_returns_the_old_mask_and_keeps_nine_bits_sys_umask(t: Task) -> None:
    """S55/S68 analogue: umask(2) returns the old mask and keeps S_IRWXUGO."""
    assert t.umask(0o077) == 0o022
    assert t.umask(0o7777) == 0o077
    assert t.umask(0o022) == 0o777
    child = t.fork()
    assert child.umask(0) == 0o022  # copied by fork, not shared
    assert t.umask(0o022) == 0o022


# ---------------------------------------------------------------------------------------
# Times and inode numbers (8.9)


def test_creation_updates_the_parents_mtime_and_ctime_ramfs_mknod(t: Task, k: pinfs.Kernel) -> None:
    """S55/S68 contrast. ramfs/tmpfs stamp the parent on every creation (bpffs at the seed does
    not), and a new inode's atime, mtime and ctime are all "now"."""
    t.mkdir("/tmp/p")
    for create in (
        lambda: t.mkdir("/tmp/p/d"),
        lambda: t.mknod("/tmp/p/f", stat.S_IFREG),
        lambda: t.symlink("x", "/tmp/p/l"),
        lambda: t.close(t.open("/tmp/p/o", CREAT)),
        lambda: t.link("/tmp/p/f", "/tmp/p/f2"),
    ):
        before = t.stat("/tmp/p")
        k.advance_clock(1)
        create()
        after = t.stat("/tmp/p")
        assert after.st_mtime_ns > before.st_mtime_ns
        assert after.st_ctime_ns == after.st_mtime_ns
        assert after.st_atime_ns == before.st_atime_ns
    k.advance_clock(1)
    t.mkdir("/tmp/p/new")
    st = t.stat("/tmp/p/new")
    assert st.st_atime_ns == st.st_mtime_ns == st.st_ctime_ns == t.stat("/tmp/p").st_ctime_ns


def test_failed_creation_leaves_the_parents_times_alone_filename_create(
    t: Task, k: pinfs.Kernel
) -> None:
    """S47-S49 analogue: a failed creation changes nothing, not even the parent's times."""
    t.mkdir("/tmp/p")
    before = t.stat("/tmp/p")
    k.advance_clock(1)
    assert err(t.mkdir, "/tmp/p/.") == errno.EEXIST
    assert err(t.mknod, "/tmp/p/x/", stat.S_IFREG) == errno.ENOENT
    assert t.stat("/tmp/p") == before


def test_inode_numbers_are_unique_and_never_zero_get_next_ino(t: Task) -> None:
    """S55 analogue: st_ino comes from the machine-wide get_next_ino counter."""
    seen = set()
    for i in range(20):
        t.mknod(f"/tmp/f{i}", stat.S_IFREG)
        seen.add(t.stat(f"/tmp/f{i}").st_ino)
    assert len(seen) == 20 and 0 not in seen
    t.mkdir("/mnt")
    t.mount("none", "/mnt", "tmpfs")
    t.mknod("/mnt/f", stat.S_IFREG)
    assert t.stat("/mnt/f").st_ino not in seen  # one counter for the whole machine
