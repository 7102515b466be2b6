"""mount(2), umount(2), mount namespaces and superblock lifetime.

Seed semantics 9.1-9.3; outcome analogues S85-S92 with tmpfs/ramfs standing in for
bpffs (both are FS_USERNS_MOUNT and use kill_litter_super, but mount_nodev instead
of mount_ns, so every mount is a new superblock).  Kernel functions modelled:
``do_mount``, ``may_mount``, ``do_new_mount``, ``do_add_mount``, ``do_remount``,
``do_loopback``, ``sys_umount``, ``do_umount``, ``umount_tree``, ``copy_mnt_ns``,
``put_mnt_ns``, ``deactivate_super``, ``kill_litter_super``.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import pytest

import pinfs
from pinfs.base.cred import CAP_SYS_ADMIN
from pinfs.machine.task import CLONE_NEWNS, CLONE_NEWUSER, Task
from support import err

MS_RDONLY = 1
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MNT_FORCE, MNT_DETACH, MNT_EXPIRE, UMOUNT_NOFOLLOW = 1, 2, 4, 8
ST_NODEV = 4
O_PATH = 0o10000000
TMPFS_MAGIC = 0x01021994


def sb_of(t: Task, path: str) -> Any:
    fd = t.open(path, O_PATH)
    sb = t.fd_file(fd).f_inode.i_sb
    t.close(fd)
    return sb


def tmpfs_supers(k: pinfs.Kernel) -> list[Any]:
    return list(k.filesystems["tmpfs"].fs_supers)


def assert_dead(k: pinfs.Kernel, sb: Any, inodes: list[Any]) -> None:
    assert sb.s_active == 0
    assert sb not in k.filesystems[sb.s_type.name].fs_supers
    assert all(i.freed for i in inodes)
    assert not sb.s_inodes


@pytest.fixture
def mnt(t: Task) -> str:
    t.mkdir("/mnt")
    t.mount("none", "/mnt", "tmpfs")
    return "/mnt"


# ---------------------------------------------------------------------------------------
# mount(2) (S85-S89 analogues)


def test_s85_mount_without_cap_sys_admin_is_eperm_may_mount(t: Task, k: pinfs.Kernel) -> None:
    t.mkdir("/m")
    u = k.spawn(uid=1000)
    assert err(u.mount, "none", "/m", "tmpfs") == errno.EPERM
    assert err(u.mount, "none", "/m", "nosuchfs") == errno.EPERM  # before ENODEV
    assert err(u.mount, None, "/m", None, MS_REMOUNT | MS_RDONLY) == errno.EPERM
    assert err(u.mount, "/tmp", "/m", None, MS_BIND) == errno.EPERM
    assert len(k.mounts()) == 1


def test_s85_mount_target_is_resolved_before_may_mount_do_mount(t: Task, k: pinfs.Kernel) -> None:
    """user_path(dir_name) comes first: an unprivileged caller sees ENOENT, ENOTDIR,
    EACCES or ELOOP from the walk before EPERM."""
    t.mknod("/tmp/f", stat.S_IFREG)
    t.mkdir("/tmp/closed", 0o700)
    t.symlink("loop", "/tmp/loop")
    u = k.spawn(uid=1000)
    assert err(u.mount, "none", "/tmp/missing", "tmpfs") == errno.ENOENT
    assert err(u.mount, "none", "/tmp/f/x", "tmpfs") == errno.ENOTDIR
    assert err(u.mount, "none", "/tmp/closed/x", "tmpfs") == errno.EACCES
    assert err(u.mount, "none", "/tmp/loop", "tmpfs") == errno.ELOOP
    assert err(u.mount, "none", "", "tmpfs") == errno.ENOENT


def test_mount_unknown_type_is_enodev_do_new_mount(t: Task) -> None:
    """S87 analogue: an unregistered type is ENODEV, a NULL type EINVAL."""
    t.mkdir("/m")
    assert err(t.mount, "none", "/m", "nosuchfs") == errno.ENODEV
    assert err(t.mount, "none", "/m", None) == errno.EINVAL


def test_mount_follows_symlinks_and_needs_a_directory_do_add_mount(t: Task) -> None:
    """S87 analogue: the target is resolved with LOOKUP_FOLLOW; a directory tree cannot cover a
    file (ENOTDIR)."""
    t.mkdir("/tmp/d")
    t.symlink("d", "/tmp/l")
    t.mknod("/tmp/f", stat.S_IFREG)
    t.mount("none", "/tmp/l", "tmpfs")
    assert t.statfs("/tmp/d").f_type == TMPFS_MAGIC
    assert err(t.mount, "none", "/tmp/f", "tmpfs") == errno.ENOTDIR


def test_s88_each_tmpfs_mount_is_a_new_superblock_mount_nodev(t: Task, k: pinfs.Kernel) -> None:
    """tmpfs uses mount_nodev: a second mount at the same place stacks a new, empty
    instance (bpffs at the seed would share one sb per namespace and say EBUSY)."""
    t.mkdir("/m")
    t.mount("none", "/m", "tmpfs")
    t.mknod("/m/lower", stat.S_IFREG)
    first = sb_of(t, "/m")
    t.mount("none", "/m", "tmpfs")
    assert sb_of(t, "/m") is not first
    assert t.listdir("/m") == []
    assert len(tmpfs_supers(k)) == 2
    t.umount("/m")
    assert t.listdir("/m") == ["lower"]


def test_s88_mount_flags_apply_per_mount_do_new_mount(t: Task) -> None:
    """ro/nodev/noexec/nosuid are reported by statfs for that mount."""
    t.mkdir("/m")
    t.mount("none", "/m", "tmpfs", MS_NODEV | MS_RDONLY | 2 | 8)
    flags = t.statfs("/m").f_flags
    assert flags & (1 | 2 | 4 | 8) == 1 | 2 | 4 | 8


def test_s89_bind_mounts_share_the_superblock_do_loopback(t: Task, mnt: str) -> None:
    """A bind mount shows the same tree; MS_REC also copies submounts."""
    t.mkdir(f"{mnt}/sub")
    t.mount("none", f"{mnt}/sub", "ramfs")
    t.mknod(f"{mnt}/sub/inner", stat.S_IFREG)
    t.mkdir("/b1")
    t.mkdir("/b2")
    t.mount(mnt, "/b1", None, MS_BIND)
    t.mount(mnt, "/b2", None, MS_BIND | MS_REC)
    assert sb_of(t, "/b1") is sb_of(t, mnt)
    t.mknod("/b1/via_b1", stat.S_IFREG)
    assert "via_b1" in t.listdir(mnt)
    assert t.listdir("/b1/sub") == []  # the submount was not copied
    assert t.listdir("/b2/sub") == ["inner"]
    assert err(t.mount, "/missing", "/b1", None, MS_BIND) == errno.ENOENT


# ---------------------------------------------------------------------------------------
# umount(2) (S91)


def test_s91_umount_of_a_non_mountpoint_is_einval_sys_umount(t: Task, mnt: str) -> None:
    t.mkdir(f"{mnt}/sub")
    assert err(t.umount, "/tmp") == errno.EINVAL
    assert err(t.umount, f"{mnt}/sub") == errno.EINVAL
    assert err(t.umount, "/tmp/missing") == errno.ENOENT
    assert err(t.umount, mnt, 0x100) == errno.EINVAL


def test_s91_umount_needs_cap_sys_admin_before_the_lookup_sys_umount(
    t: Task, k: pinfs.Kernel, mnt: str
) -> None:
    """v4.4 sys_umount: flag check, then may_mount, then the path (since 5.9 the path
    comes first)."""
    u = k.spawn(uid=1000)
    assert err(u.umount, mnt) == errno.EPERM
    assert err(u.umount, "/tmp/missing") == errno.EPERM
    assert err(u.umount, mnt, 0x100) == errno.EINVAL


def test_s91_umount_is_ebusy_while_in_use_do_umount(t: Task, k: pinfs.Kernel, mnt: str) -> None:
    """Open files (O_PATH too), a cwd inside, or a submount make the mount busy."""
    t.mknod(f"{mnt}/f", stat.S_IFREG)
    t.mkdir(f"{mnt}/sub")
    for flags in (os.O_RDONLY, O_PATH):
        fd = t.open(f"{mnt}/f", flags)
        assert err(t.umount, mnt) == errno.EBUSY
        t.close(fd)
    w = k.spawn(uid=0)
    w.chdir(f"{mnt}/sub")
    assert err(t.umount, mnt) == errno.EBUSY
    w.chdir("/")
    t.mount("none", f"{mnt}/sub", "tmpfs")
    assert err(t.umount, mnt) == errno.EBUSY
    t.umount(f"{mnt}/sub")
    fd = t.open(mnt)
    assert err(t.umount, mnt) == errno.EBUSY  # the root dir itself open
    t.close(fd)
    t.umount(mnt)
    assert t.statfs(mnt).f_type != TMPFS_MAGIC


def test_s91_umount_of_the_root_remounts_it_read_only_do_umount(t: Task, k: pinfs.Kernel) -> None:
    """do_umount's special case for the caller's root: instead of unmounting, the sb
    is remounted read-only (do_remount_sb), which is EBUSY while a file is open for
    writing; it needs CAP_SYS_ADMIN.  Confirmed on the live kernel too."""
    fd = t.open("/tmp/x", os.O_CREAT | os.O_WRONLY)
    assert err(t.umount, "/") == errno.EBUSY
    t.close(fd)
    u = k.spawn(uid=0, caps=())
    assert err(u.umount, "/") == errno.EPERM
    t.umount("/")
    assert err(t.mkdir, "/tmp/y") == errno.EROFS
    assert t.statfs("/").f_flags & 1
    assert len(k.mounts()) == 1  # still mounted
    t.mount(None, "/", None, MS_REMOUNT)
    t.mkdir("/tmp/y")


def test_s91_umount_through_a_symlink_and_nofollow_sys_umount(t: Task, mnt: str) -> None:
    t.symlink(mnt, "/tmp/l")
    assert err(t.umount, "/tmp/l", UMOUNT_NOFOLLOW) == errno.EINVAL
    t.umount("/tmp/l")
    assert err(t.umount, mnt) == errno.EINVAL


def test_s91_mnt_detach_keeps_open_files_working_umount_tree(
    t: Task, k: pinfs.Kernel, mnt: str
) -> None:
    """MNT_DETACH succeeds while busy; the open file and dir keep working; the sb
    dies (kill_litter_super evicting everything) when the last user goes."""
    t.mkdir(f"{mnt}/d")
    t.mknod(f"{mnt}/d/f", stat.S_IFREG | 0o644)
    sb = sb_of(t, mnt)
    inodes = list(sb.s_inodes)
    fd = t.open(f"{mnt}/d/f")
    dfd = t.open(f"{mnt}/d")
    t.umount(mnt, MNT_DETACH)
    assert err(t.stat, f"{mnt}/d") == errno.ENOENT
    assert t.fstat(fd).st_mode == stat.S_IFREG | 0o644
    assert [e.d_name for e in t.getdents(dfd)] == [".", "..", "f"]
    assert sb.s_active == 1 and sb in tmpfs_supers(k)
    t.close(dfd)
    assert sb.s_active == 1
    t.close(fd)
    assert_dead(k, sb, inodes)


def test_s91_mnt_expire_marks_then_unmounts_do_umount(t: Task, mnt: str) -> None:
    assert err(t.umount, mnt, MNT_EXPIRE) == errno.EAGAIN
    t.umount(mnt, MNT_EXPIRE)
    assert err(t.umount, mnt, MNT_EXPIRE | MNT_DETACH) == errno.EINVAL


def test_s92_umount_kills_the_superblock_and_every_inode_kill_litter_super(
    t: Task, k: pinfs.Kernel, mnt: str
) -> None:
    t.mkdir(f"{mnt}/a")
    t.mkdir(f"{mnt}/a/b")
    t.mknod(f"{mnt}/a/b/f", stat.S_IFREG)
    t.symlink("x", f"{mnt}/l")
    t.link(f"{mnt}/a/b/f", f"{mnt}/hard")
    sb = sb_of(t, mnt)
    inodes = list(sb.s_inodes)
    assert len(inodes) == 5  # root, a, b, f, l
    t.umount(mnt)
    assert_dead(k, sb, inodes)
    t.mount("none", mnt, "tmpfs")
    assert t.listdir(mnt) == []  # a fresh, empty instance


# ---------------------------------------------------------------------------------------
# Mount namespaces (S90, S92)


def test_s90_unshare_newns_needs_cap_sys_admin_copy_mnt_ns(k: pinfs.Kernel) -> None:
    u = k.spawn(uid=1000)
    ns = u.mnt_ns
    assert err(u.unshare, CLONE_NEWNS) == errno.EPERM
    assert u.mnt_ns is ns
    assert err(u.unshare, 1) == errno.EINVAL  # not an unshare flag


def test_s90_copied_mounts_share_superblocks_copy_tree(t: Task, k: pinfs.Kernel, mnt: str) -> None:
    """Every mount is copied onto the same sb (s_active+1): files made on either side
    show on both; a new mount in the child is invisible to the parent."""
    sb = sb_of(t, mnt)
    c = k.spawn(uid=0)
    c.unshare(CLONE_NEWNS)
    assert c.mnt_ns is not t.mnt_ns
    assert sb.s_active == 2
    assert len(k.mounts(c.mnt_ns)) == len(k.mounts(t.mnt_ns))
    c.mknod(f"{mnt}/from_child", stat.S_IFREG)
    t.mknod(f"{mnt}/from_parent", stat.S_IFREG)
    assert sorted(t.listdir(mnt)) == sorted(c.listdir(mnt)) == ["from_child", "from_parent"]
    t.mkdir("/tmp/private")
    c.mount("none", "/tmp/private", "tmpfs")
    c.mknod("/tmp/private/p", stat.S_IFREG)
    assert t.listdir("/tmp/private") == []
    assert c.listdir("/tmp/private") == ["p"]
    c.umount(mnt)  # only the child's copy goes
    assert c.listdir(mnt) == []
    assert sorted(t.listdir(mnt)) == ["from_child", "from_parent"]
    assert sb.s_active == 1


def test_s90_unshare_keeps_cwd_and_root_copy_mnt_ns(t: Task, k: pinfs.Kernel, mnt: str) -> None:
    t.mkdir(f"{mnt}/d")
    c = k.spawn(uid=0)
    c.chdir(f"{mnt}/d")
    c.unshare(CLONE_NEWNS)
    assert c.getcwd() == f"{mnt}/d"
    assert c.fs.pwd.mnt.mnt_ns is c.mnt_ns  # moved to the copy
    assert c.fs.root.mnt.mnt_ns is c.mnt_ns
    assert err(t.umount, mnt) == 0  # the parent's copy is not busy


def test_s92_namespace_death_kills_its_private_superblocks_put_mnt_ns(
    t: Task, k: pinfs.Kernel
) -> None:
    """The last task of a namespace exits: its mounts go, and superblocks only it
    used die (kill_litter_super); shared ones survive."""
    t.mkdir("/tmp/shared")
    t.mount("none", "/tmp/shared", "tmpfs")
    shared = sb_of(t, "/tmp/shared")
    t.mkdir("/tmp/private")
    c = k.spawn(uid=0)
    c.unshare(CLONE_NEWNS)
    c.mount("none", "/tmp/private", "tmpfs")
    c.mknod("/tmp/private/f", stat.S_IFREG)
    private = sb_of(c, "/tmp/private")
    inodes = list(private.s_inodes)
    helper = c.fork()  # a second task in the namespace
    ns = c.mnt_ns
    c.exit(0)
    assert ns in k.namespaces and private.s_active == 1
    helper.exit(0)
    assert ns not in k.namespaces
    assert_dead(k, private, inodes)
    assert shared.s_active == 1 and shared in tmpfs_supers(k)


def test_s92_open_file_keeps_a_dead_namespaces_mount_alive_put_mnt_ns(
    t: Task, k: pinfs.Kernel
) -> None:
    """umount_tree detaches lazily: a file opened in the dying namespace and passed
    on through fork keeps the sb until it is closed."""
    t.mkdir("/tmp/private")
    c = k.spawn(uid=0)
    c.unshare(CLONE_NEWNS)
    c.mount("none", "/tmp/private", "tmpfs")
    c.mknod("/tmp/private/f", stat.S_IFREG)
    fd = c.open("/tmp/private/f")
    sb = sb_of(c, "/tmp/private")
    inodes = list(sb.s_inodes)
    c.unshare(CLONE_NEWNS)  # c moves on; the old namespace has no task left
    assert c.fstat(fd).st_nlink == 1
    assert sb.s_active == 2  # the old namespace's mount (detached) and c's copy
    c.umount("/tmp/private")
    assert sb.s_active == 1 and not any(i.freed for i in inodes)
    c.close(fd)
    assert_dead(k, sb, inodes)


def test_s86_userns_mount_is_allowed_and_forced_nodev_do_new_mount(
    t: Task, k: pinfs.Kernel
) -> None:
    """unshare(CLONE_NEWUSER|CLONE_NEWNS) by uid 1000: tmpfs and ramfs mount
    (FS_USERNS_MOUNT) with nodev forced; the inherited mounts are locked."""
    t.mkdir("/tmp/m")
    t.mkdir("/tmp/r")
    u = k.spawn(uid=1000, gid=1000)
    u.unshare(CLONE_NEWUSER | CLONE_NEWNS)
    assert u.mnt_ns.user_ns is u.cred.user_ns
    u.mount("none", "/tmp/m", "tmpfs")
    u.mount("none", "/tmp/r", "ramfs")
    assert u.statfs("/tmp/m").f_flags & ST_NODEV
    assert u.statfs("/tmp/r").f_flags & ST_NODEV
    u.mknod("/tmp/m/f", stat.S_IFREG)
    st = u.stat("/tmp/m/f")
    assert (st.st_uid, st.st_gid) == (65534, 65534)  # no id map written yet
    assert t.listdir("/tmp/m") == []
    assert err(u.umount, "/tmp") == errno.EINVAL  # /tmp is not a mount
    u.umount("/tmp/m")
    assert err(u.mount, "none", "/tmp/m", "nosuchfs") == errno.ENODEV


def test_s86_userns_without_a_new_mount_namespace_cannot_mount_may_mount(
    t: Task, k: pinfs.Kernel
) -> None:
    """CAP_SYS_ADMIN must be held over the user ns owning the *mount* namespace."""
    t.mkdir("/tmp/m")
    u = k.spawn(uid=1000)
    u.unshare(CLONE_NEWUSER)
    assert u.cred.cap_effective >> CAP_SYS_ADMIN & 1
    assert err(u.mount, "none", "/tmp/m", "tmpfs") == errno.EPERM
    u.unshare(CLONE_NEWNS)
    u.mount("none", "/tmp/m", "tmpfs")


def test_s86_copied_mounts_are_locked_in_a_less_privileged_namespace_do_umount(
    t: Task, k: pinfs.Kernel, mnt: str
) -> None:
    """MNT_LOCKED: a mount inherited into a user-owned namespace cannot be umounted
    from there (EINVAL), so what it covers stays hidden."""
    u = k.spawn(uid=1000)
    u.unshare(CLONE_NEWUSER | CLONE_NEWNS)
    assert err(u.umount, mnt) == errno.EINVAL
    assert err(u.umount, mnt, MNT_DETACH) == errno.EINVAL
