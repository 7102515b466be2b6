"""Deletion: unlink(2), rmdir(2), may_delete and the sticky bit.

Seed semantics 8.6; outcome analogues S75-S78 (on ramfs/tmpfs).  Kernel functions
modelled: ``do_unlinkat``, ``vfs_unlink``, ``do_rmdir``, ``vfs_rmdir``, ``may_delete``,
``check_sticky``/``__check_sticky``, ``is_local_mountpoint``, ``simple_unlink``,
``simple_rmdir``, ``d_delete``, ``iput_final``/``evict``.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import pytest

import pinfs
from pinfs.base.cred import CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_SYS_ADMIN
from pinfs.machine.task import CLONE_NEWNS, CLONE_NEWUSER, Task
from support import err

MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
O_PATH = 0o10000000


def inode_of(t: Task, path: str) -> Any:
    """The inode behind ``path`` (introspection through an O_PATH fd)."""
    fd = t.open(path, O_PATH | os.O_NOFOLLOW)
    inode = t.fd_file(fd).f_inode
    t.close(fd)
    return inode


@pytest.fixture
def tree(t: Task) -> Task:
    """/tmp/p (0755) holding d/ (empty), full/ (with x), f, and l -> d."""
    t.mkdir("/tmp/p")
    t.mkdir("/tmp/p/d")
    t.mkdir("/tmp/p/full")
    t.mknod("/tmp/p/full/x", stat.S_IFREG)
    t.mknod("/tmp/p/f", stat.S_IFREG | 0o666)
    t.symlink("d", "/tmp/p/l")
    return t


# ---------------------------------------------------------------------------------------
# unlink (S75, S76)


@pytest.mark.parametrize("name", [".", "..", "/", "/tmp/p/.", "/tmp/p/..", "/tmp/p/d/."])
def test_s76_unlink_of_dots_or_root_is_eisdir_do_unlinkat(tree: Task, name: str) -> None:
    assert err(tree.unlink, name) == errno.EISDIR


def test_s76_unlink_error_order_do_unlinkat(tree: Task, k: pinfs.Kernel) -> None:
    """ENOENT for missing names; with a trailing slash: EISDIR for dirs, ENOTDIR for
    anything else (even a link to a dir), ENOENT when missing; without one, a dir is
    EISDIR from may_delete."""
    t = tree
    assert err(t.unlink, "/tmp/p/missing") == errno.ENOENT
    assert err(t.unlink, "/tmp/p/missing/") == errno.ENOENT
    assert err(t.unlink, "/tmp/p/d/") == errno.EISDIR
    assert err(t.unlink, "/tmp/p/f/") == errno.ENOTDIR
    assert err(t.unlink, "/tmp/p/l/") == errno.ENOTDIR
    assert err(t.unlink, "/tmp/p/d") == errno.EISDIR
    assert err(t.unlink, "/tmp/p/full/x/y") == errno.ENOTDIR
    t.unlink("/tmp/p/l")  # the link, not its target
    assert stat.S_ISDIR(t.stat("/tmp/p/d").st_mode)


def test_s76_unlink_permission_order_may_delete(tree: Task, k: pinfs.Kernel) -> None:
    """may_delete: missing is ENOENT before EACCES; EACCES comes before EISDIR."""
    u = k.spawn(uid=1000)
    assert err(u.unlink, "/tmp/p/missing") == errno.ENOENT
    assert err(u.unlink, "/tmp/p/f") == errno.EACCES  # file mode 0666 is irrelevant
    assert err(u.unlink, "/tmp/p/d") == errno.EACCES
    assert err(u.unlink, "/sys") == errno.EACCES
    assert err(tree.unlink, "/sys") == errno.EISDIR


def test_s76_unlink_on_a_read_only_mount_is_erofs_before_lookup_do_unlinkat(t: Task) -> None:
    """mnt_want_write comes before the lookup: EROFS even for missing names, but the
    dots are EISDIR first."""
    t.mkdir("/mnt")
    t.mount("none", "/mnt", "tmpfs")
    t.mknod("/mnt/f", stat.S_IFREG)
    t.mount(None, "/mnt", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    assert err(t.unlink, "/mnt/.") == errno.EISDIR
    assert err(t.unlink, "/mnt/missing") == errno.EROFS
    assert err(t.unlink, "/mnt/f/") == errno.EROFS
    assert err(t.unlink, "/mnt/f") == errno.EROFS
    assert err(t.unlink, "/mnt/missing/x") == errno.ENOENT  # the parent walk comes first


def test_s76_unlink_of_a_mountpoint_is_ebusy_vfs_unlink(t: Task) -> None:
    """A file with something bind-mounted on it: EBUSY (after may_delete)."""
    t.mknod("/tmp/src", stat.S_IFREG | 0o644)
    t.mknod("/tmp/target", stat.S_IFREG | 0o644)
    t.mount("/tmp/src", "/tmp/target", None, MS_BIND)
    assert err(t.unlink, "/tmp/target") == errno.EBUSY
    t.mkdir("/tmp/dmp")
    t.mount("none", "/tmp/dmp", "tmpfs")
    assert err(t.unlink, "/tmp/dmp") == errno.EISDIR  # may_delete's EISDIR comes first
    t.umount("/tmp/target")
    t.unlink("/tmp/target")


def test_s75_unlink_success_nlink_and_times_simple_unlink(t: Task, k: pinfs.Kernel) -> None:
    """simple_unlink: the victim's ctime and the dir's ctime and mtime are now; nlink
    drops; the name disappears."""
    t.mkdir("/tmp/p")
    t.mknod("/tmp/p/f", stat.S_IFREG)
    t.link("/tmp/p/f", "/tmp/p/g")
    k.advance_clock(5)
    t.unlink("/tmp/p/f")
    now = k.current_time()
    st_dir, st_g = t.stat("/tmp/p"), t.stat("/tmp/p/g")
    assert st_dir.st_mtime_ns == st_dir.st_ctime_ns == now
    assert st_g.st_ctime_ns == now
    assert st_g.st_nlink == 1
    assert t.listdir("/tmp/p") == ["g"]


def test_s75_unlinked_inode_is_evicted_at_once_if_unused_iput_final(t: Task) -> None:
    """Nothing else holds the inode: it is evicted inside unlink."""
    t.mknod("/tmp/f", stat.S_IFREG)
    inode = inode_of(t, "/tmp/f")
    sb = inode.i_sb
    assert inode in sb.s_inodes and not inode.freed
    t.unlink("/tmp/f")
    assert inode.freed
    assert inode not in sb.s_inodes


def test_s75_open_file_keeps_the_inode_until_closed_iput_final(t: Task) -> None:
    """An open fd (O_PATH included) delays eviction; fstat shows nlink 0 meanwhile; the
    last close evicts."""
    t.mknod("/tmp/f", stat.S_IFREG)
    fd = t.open("/tmp/f")
    pfd = t.open("/tmp/f", O_PATH)
    inode = t.fd_file(fd).f_inode
    t.unlink("/tmp/f")
    assert not inode.freed
    assert t.fstat(fd).st_nlink == 0
    assert t.fstat(pfd).st_nlink == 0
    assert err(t.stat, "/tmp/f") == errno.ENOENT
    t.mknod("/tmp/f", stat.S_IFREG)  # the name is free again; a new inode
    assert t.stat("/tmp/f").st_ino != inode.i_ino
    t.close(fd)
    assert not inode.freed
    t.close(pfd)
    assert inode.freed


def test_s75_hard_link_keeps_the_inode_generic_drop_inode(t: Task) -> None:
    t.mknod("/tmp/f", stat.S_IFREG)
    t.link("/tmp/f", "/tmp/g")
    inode = inode_of(t, "/tmp/f")
    t.unlink("/tmp/f")
    assert not inode.freed
    assert t.stat("/tmp/g").st_nlink == 1
    t.unlink("/tmp/g")
    assert inode.freed


# ---------------------------------------------------------------------------------------
# rmdir (S78)


def test_s78_rmdir_of_dots_and_root_do_rmdir(tree: Task) -> None:
    """ ".." is ENOTEMPTY, "." is EINVAL, "/" (LAST_ROOT) is EBUSY."""
    t = tree
    assert err(t.rmdir, "/tmp/p/d/..") == errno.ENOTEMPTY
    assert err(t.rmdir, "..") == errno.ENOTEMPTY
    assert err(t.rmdir, "/tmp/p/d/.") == errno.EINVAL
    assert err(t.rmdir, ".") == errno.EINVAL
    assert err(t.rmdir, "/") == errno.EBUSY
    assert err(t.rmdir, "//") == errno.EBUSY


def test_s78_rmdir_error_order_do_rmdir(tree: Task, k: pinfs.Kernel) -> None:
    """missing ENOENT; then may_delete: EACCES, ENOTDIR; then simple_rmdir ENOTEMPTY;
    a trailing slash is fine."""
    t = tree
    u = k.spawn(uid=1000)
    assert err(t.rmdir, "/tmp/p/missing") == errno.ENOENT
    assert err(u.rmdir, "/tmp/p/missing") == errno.ENOENT
    assert err(u.rmdir, "/tmp/p/f") == errno.EACCES  # EACCES before ENOTDIR
    assert err(u.rmdir, "/tmp/p/full") == errno.EACCES  # EACCES before ENOTEMPTY
    assert err(t.rmdir, "/tmp/p/f") == errno.ENOTDIR
    assert err(t.rmdir, "/tmp/p/f/") == errno.ENOTDIR
    assert err(t.rmdir, "/tmp/p/l") == errno.ENOTDIR  # the link is not followed
    assert err(t.rmdir, "/tmp/p/l/") == errno.ENOTDIR
    assert err(t.rmdir, "/tmp/p/full") == errno.ENOTEMPTY
    t.rmdir("/tmp/p/d//")
    assert err(t.rmdir, "/tmp/p/d") == errno.ENOENT


def test_s78_rmdir_on_a_read_only_mount_do_rmdir(t: Task) -> None:
    """The dots are checked before mnt_want_write; EROFS comes before the lookup."""
    t.mkdir("/mnt")
    t.mount("none", "/mnt", "tmpfs")
    t.mkdir("/mnt/d")
    t.mount(None, "/mnt", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    assert err(t.rmdir, "/mnt/d/..") == errno.ENOTEMPTY
    assert err(t.rmdir, "/mnt/d/.") == errno.EINVAL
    assert err(t.rmdir, "/mnt/missing") == errno.EROFS
    assert err(t.rmdir, "/mnt/d") == errno.EROFS


def test_s78_rmdir_of_a_mountpoint_is_ebusy_before_enotempty_vfs_rmdir(t: Task) -> None:
    """A mountpoint in the caller's namespace: EBUSY, checked before ->rmdir."""
    t.mkdir("/tmp/m")
    t.mkdir("/tmp/m/under")
    t.mount("none", "/tmp/m", "tmpfs")
    assert err(t.rmdir, "/tmp/m") == errno.EBUSY
    t.umount("/tmp/m")
    assert err(t.rmdir, "/tmp/m") == errno.ENOTEMPTY
    t.rmdir("/tmp/m/under")
    t.rmdir("/tmp/m")


def test_s78_only_mountpoints_in_this_namespace_are_busy_is_local_mountpoint(
    t: Task, k: pinfs.Kernel
) -> None:
    """is_local_mountpoint looks at the caller's namespace only: a directory that is a
    mountpoint in another namespace can be removed, and vfs_rmdir then detaches that
    mount (detach_mounts)."""
    t.mkdir("/tmp/m")
    c = k.spawn(uid=0)
    c.unshare(CLONE_NEWNS)
    c.mount("none", "/tmp/m", "tmpfs")
    c.mknod("/tmp/m/inside", stat.S_IFREG)
    t.rmdir("/tmp/m")
    assert err(c.stat, "/tmp/m") == errno.ENOENT
    assert "m" not in c.listdir("/tmp")


def test_s78_rmdir_success_nlink_times_and_dead_dir_simple_rmdir(t: Task, k: pinfs.Kernel) -> None:
    """simple_rmdir: the parent loses a link and gets new times; a task whose cwd it
    was sees nlink 0 and cannot create there (S_DEAD)."""
    t.mkdir("/tmp/d")
    nlink = t.stat("/tmp").st_nlink
    w = k.spawn(uid=0)
    w.chdir("/tmp/d")
    k.advance_clock(3)
    t.rmdir("/tmp/d")  # being somebody's cwd is not EBUSY
    now = k.current_time()
    st = t.stat("/tmp")
    assert st.st_nlink == nlink - 1
    assert st.st_mtime_ns == st.st_ctime_ns == now
    assert w.stat(".").st_nlink == 0
    assert err(w.mkdir, "x") == errno.ENOENT


# ---------------------------------------------------------------------------------------
# The sticky bit (S77)


@pytest.fixture
def sticky(t: Task, k: pinfs.Kernel) -> tuple[Task, Task]:
    """/tmp/s 01777: a (uid 1000) owns file fa and dir da in it; returns (a, b)."""
    a = k.spawn(uid=1000, gid=1000)
    b = k.spawn(uid=1001, gid=1001)
    t.mkdir("/tmp/s")
    t.chmod("/tmp/s", 0o1777)
    a.mknod("/tmp/s/fa", stat.S_IFREG | 0o666)
    a.mkdir("/tmp/s/da")
    a.chmod("/tmp/s/da", 0o777)
    return a, b


def test_s77_strangers_cannot_delete_in_a_sticky_dir_check_sticky(
    sticky: tuple[Task, Task],
) -> None:
    """Neither the file's nor the dir's owner and no CAP_FOWNER: EPERM for unlink,
    rmdir and rename (source or target), though the dir is writable."""
    a, b = sticky
    assert err(b.unlink, "/tmp/s/fa") == errno.EPERM
    assert err(b.rmdir, "/tmp/s/da") == errno.EPERM
    assert err(b.unlink, "/tmp/s/da") == errno.EPERM  # EPERM before EISDIR
    assert err(b.rmdir, "/tmp/s/fa") == errno.EPERM  # EPERM before ENOTDIR
    assert err(b.rename, "/tmp/s/fa", "/tmp/s/x") == errno.EPERM
    b.mknod("/tmp/s/fb", stat.S_IFREG | 0o666)
    assert err(b.rename, "/tmp/s/fb", "/tmp/s/fa") == errno.EPERM
    assert err(b.unlink, "/tmp/s/missing") == errno.ENOENT
    b.mknod("/tmp/s/da/inner", stat.S_IFREG)  # da itself is not sticky
    a.unlink("/tmp/s/da/inner")


def test_s77_owners_and_cap_fowner_may_delete_check_sticky(
    t: Task, k: pinfs.Kernel, sticky: tuple[Task, Task]
) -> None:
    a, b = sticky
    fowner = k.spawn(uid=1002, caps=[CAP_FOWNER])
    a.mknod("/tmp/s/f2", stat.S_IFREG)
    a.mknod("/tmp/s/f3", stat.S_IFREG)
    assert err(fowner.unlink, "/tmp/s/f2") == 0
    assert err(t.unlink, "/tmp/s/f3") == 0  # root
    assert err(a.unlink, "/tmp/s/fa") == 0  # the file's owner
    assert err(a.rmdir, "/tmp/s/da") == 0
    assert t.listdir("/tmp/s") == []
    t.chown("/tmp/s", 1001, 1001)  # now b owns the sticky dir
    a.mknod("/tmp/s/fa", stat.S_IFREG)
    assert err(b.unlink, "/tmp/s/fa") == 0  # the directory's owner
    assert t.listdir("/tmp/s") == []


def test_s77_dac_override_does_not_beat_the_sticky_bit_check_sticky(
    k: pinfs.Kernel, sticky: tuple[Task, Task]
) -> None:
    """CAP_DAC_OVERRIDE passes the permission check but not check_sticky."""
    w = k.spawn(uid=1003, caps=[CAP_DAC_OVERRIDE])
    assert err(w.unlink, "/tmp/s/fa") == errno.EPERM


def test_s77_sticky_eacces_comes_first_may_delete(t: Task, k: pinfs.Kernel) -> None:
    """A sticky dir that is not writable for the caller: EACCES before EPERM."""
    t.mkdir("/tmp/s")
    t.chmod("/tmp/s", 0o1755)
    t.mknod("/tmp/s/f", stat.S_IFREG)
    u = k.spawn(uid=1000)
    assert err(u.unlink, "/tmp/s/f") == errno.EACCES


def test_s77_cap_fowner_needs_the_inode_ids_mapped_capable_wrt_inode_uidgid(
    t: Task, k: pinfs.Kernel
) -> None:
    """In a fresh user namespace the task has CAP_FOWNER there, but root's file has
    no mapping in it, so the sticky check still says EPERM."""
    t.mknod("/tmp/rootfile", stat.S_IFREG | 0o666)
    u = k.spawn(uid=1000, gid=1000)
    u.mknod("/tmp/mine", stat.S_IFREG)
    u.unshare(CLONE_NEWUSER)
    assert err(u.unlink, "/tmp/rootfile") == errno.EPERM
    u.unlink("/tmp/mine")  # still the owner (fsuid is kuid 1000)


def test_s77_sticky_rename_within_dir_by_owner_of_source_but_not_target_vfs_rename(
    sticky: tuple[Task, Task],
) -> None:
    """Renaming over someone else's file in a sticky dir needs may_delete on the
    target: EPERM even for the source's owner."""
    a, b = sticky
    b.mknod("/tmp/s/fb", stat.S_IFREG)
    assert err(a.rename, "/tmp/s/fa", "/tmp/s/fb") == errno.EPERM
    a.rename("/tmp/s/fa", "/tmp/s/fresh")


def test_s85_sticky_checks_use_fsuid_not_capabilities_of_the_namespace_owner(
    t: Task, k: pinfs.Kernel
) -> None:
    """A namespace-root (uid 0 inside a userns mapped to 1000) may delete its own
    (kuid 1000) files in /tmp, not root's."""
    t.mknod("/tmp/rootfile", stat.S_IFREG | 0o666)
    u = k.spawn(uid=1000, gid=1000, caps=())
    u.mknod("/tmp/ufile", stat.S_IFREG)
    u.unshare(CLONE_NEWUSER | CLONE_NEWNS)
    u.write_uid_map([(0, 1000, 1)])
    assert err(u.unlink, "/tmp/rootfile") == errno.EPERM
    u.unlink("/tmp/ufile")
    assert u.cred.cap_effective >> CAP_SYS_ADMIN & 1
