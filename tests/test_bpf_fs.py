"""The generic VFS operations as seen on bpffs at the seed (spec rows S67-S84):
mkdir, mknod, open, getdents, unlink, rmdir, rename, link, symlink, setattr, statfs
and stat of the root.  bpffs supplies only bpf_dir_iops (simple_lookup, bpf_mkobj,
bpf_mkdir, simple_rmdir, simple_unlink) and bpf_super_ops, so everything else is the
VFS's default answer (fs/namei.c, fs/open.c, fs/libfs.c, fs/attr.c)."""

from __future__ import annotations

import errno
import os
import stat

import pytest

import pinfs
from pinfs.base.cred import CAP_FOWNER
from pinfs.ebpf.attr import BPF_MAP_TYPE_ARRAY
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from pinfs.fs.libfs import DT_DIR, DT_REG
from pinfs.machine.task import CLONE_NEWNS, CLONE_NEWUSER
from pinfs.vfs import MS_BIND, MS_RDONLY, MS_REMOUNT
from support import CONSOLE_FDS, err

BPFFS = "/sys/fs/bpf"
O_PATH = 0o10000000
ARRAY = BPF_MAP_TYPE_ARRAY
SOCKET_FILTER = 1


#: conftest.k mounts bpffs at /sys/fs/bpf for this module.
MOUNT_BPFFS = True


@pytest.fixture
def m(t: pinfs.Task) -> int:
    """A map pinned at /sys/fs/bpf/m (fd 0 stays open)."""
    fd = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(fd, BPFFS + "/m")
    return fd


def ro_view(t: pinfs.Task, path: str = "/tmp/ro") -> str:
    t.mkdir(path)
    t.mount("bpf", path, "bpf", MS_RDONLY)
    return path


def closed_dir(t: pinfs.Task, name: str = "closed") -> str:
    """A root-owned 0755 bpffs directory (uid 1000 may search it but not write)."""
    path = f"{BPFFS}/{name}"
    t.mkdir(path, 0o755)
    return path


# ---------------------------------------------------------------------------------------
# S67-S68: mkdir


def test_s67_mkdir_error_order_on_bpffs_bpf_mkdir(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task, m: int
) -> None:
    """filename_create / vfs_mkdir (may_create) / bpf_mkdir: an existing name is EEXIST,
    then a read-only mount EROFS, then no w+x on the parent EACCES, then a '.' in the
    name EPERM (bpf_dname_reserved)."""
    d = closed_dir(t)
    ro = ro_view(t)
    for name in ("a.b", ".x", "x.", "..x"):
        assert err(t.mkdir, BPFFS + "/" + name) == errno.EPERM
    assert err(t.mkdir, BPFFS + "/m") == errno.EEXIST
    assert err(t.mkdir, d) == errno.EEXIST
    assert err(t.mkdir, ro + "/m") == errno.EEXIST  # EEXIST before EROFS
    assert err(t.mkdir, ro + "/new") == errno.EROFS
    assert err(t.mkdir, ro + "/a.b") == errno.EROFS  # EROFS before EPERM
    assert err(u.mkdir, ro + "/closed/x") == errno.EROFS  # EROFS before EACCES
    assert err(u.mkdir, d + "/x") == errno.EACCES
    assert err(u.mkdir, d + "/x.y") == errno.EACCES  # EACCES before EPERM
    assert err(u.mkdir, d + "/..") == errno.EEXIST
    assert t.listdir(BPFFS) == ["closed", "m"]
    k.check_invariants()


def test_s68_mkdir_success_mode_nlink_and_untouched_parent_times_bpf_mkdir(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task
) -> None:
    """vfs_mkdir / bpf_mkdir / inode_init_owner: mode = requested & ~umask & 01777 (the
    set-id bits dropped, sticky kept), S_ISGID and the gid inherited from a setgid
    parent; nlink 2, the parent's nlink +1, the parent's m/ctime NOT updated at the
    seed; a trailing slash is fine; never EMLINK (s_max_links is 0)."""
    root0 = t.stat(BPFFS)
    t.mkdir(BPFFS + "/d/", 0o7777)
    st = t.stat(BPFFS + "/d")
    assert st.st_mode == stat.S_IFDIR | 0o1755
    assert (st.st_nlink, st.st_uid, st.st_gid) == (2, 0, 0)
    root1 = t.stat(BPFFS)
    assert root1.st_nlink == root0.st_nlink + 1 == 3
    assert (root1.st_mtime_ns, root1.st_ctime_ns) == (root0.st_mtime_ns, root0.st_ctime_ns)
    t.chmod(BPFFS + "/d", 0o2777)
    t.chown(BPFFS + "/d", 0, 500)
    u.umask(0o027)
    u.mkdir(BPFFS + "/d/sub", 0o777)
    sub = t.stat(BPFFS + "/d/sub")
    assert sub.st_mode == stat.S_IFDIR | stat.S_ISGID | 0o750
    assert (sub.st_uid, sub.st_gid) == (1000, 500)
    assert t.stat(BPFFS + "/d").st_nlink == 3
    for i in range(300):
        t.mkdir(f"{BPFFS}/many{i}")
    assert t.stat(BPFFS).st_nlink == 303
    k.check_invariants()


# ---------------------------------------------------------------------------------------
# S69-S73: mknod and open


def test_s69_mknod_on_bpffs_never_creates_an_object_vfs_mknod(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task
) -> None:
    """may_mknod / vfs_create / vfs_mknod / bpf_mkobj: S_IFREG or 0 is EACCES (no
    ->create); FIFO, SOCK, CHR and BLK are EPERM (bpf_mkobj refuses non-REG, or
    CAP_MKNOD); S_IFDIR is EPERM and an invalid type EINVAL, both before the path is
    even looked up."""
    for mode in (stat.S_IFREG | 0o600, 0o600, 0):
        assert err(t.mknod, BPFFS + "/f", mode) == errno.EACCES
        assert err(u.mknod, BPFFS + "/f", mode) == errno.EACCES
    for fmt in (stat.S_IFIFO, stat.S_IFSOCK, stat.S_IFCHR, stat.S_IFBLK):
        assert err(t.mknod, BPFFS + "/f", fmt | 0o600, (0 << 8) | 2) == errno.EPERM
        assert err(u.mknod, BPFFS + "/f", fmt | 0o600) == errno.EPERM
    assert err(t.mknod, "/no/such/dir/f", stat.S_IFDIR | 0o755) == errno.EPERM
    for bad in (0o030000, 0o050000, stat.S_IFLNK, 0o170000):
        assert err(t.mknod, "/no/such/dir/f", bad | 0o600) == errno.EINVAL
    # a FIFO would be fine on the ramfs /tmp: the refusal is bpffs's
    t.mknod("/tmp/fifo", stat.S_IFIFO | 0o600)
    assert t.listdir(BPFFS) == []
    d = closed_dir(t)
    assert err(u.mknod, d + "/f", stat.S_IFIFO | 0o600) == errno.EACCES  # may_create first
    assert err(t.mknod, BPFFS + "/closed", stat.S_IFREG) == errno.EEXIST
    ro = ro_view(t)
    assert err(t.mknod, ro + "/f", stat.S_IFREG) == errno.EROFS
    k.check_invariants()


def test_s70_open_o_creat_of_a_new_name_is_eacces_vfs_create(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task, m: int
) -> None:
    """lookup_open -> vfs_create: bpf_dir_iops has no ->create, so open(O_CREAT) of a
    new name is EACCES (EROFS on a read-only mount); O_CREAT|O_EXCL of an existing name
    is EEXIST."""
    for flags in (os.O_CREAT | os.O_WRONLY, os.O_CREAT | os.O_RDONLY, os.O_CREAT | os.O_EXCL):
        assert err(t.open, BPFFS + "/new", flags, 0o600) == errno.EACCES
        assert err(u.open, BPFFS + "/new", flags, 0o600) == errno.EACCES
    assert err(t.open, BPFFS + "/m", os.O_CREAT | os.O_EXCL | os.O_RDWR) == errno.EEXIST
    ro = ro_view(t)
    assert err(t.open, ro + "/new", os.O_CREAT | os.O_RDWR) == errno.EROFS
    assert err(t.open, BPFFS + "/new/", os.O_CREAT | os.O_RDWR) == errno.EISDIR
    assert t.listdir(BPFFS) == ["m"]
    assert t.files.open_fds() == [*CONSOLE_FDS, m]
    k.check_invariants()


def test_s71_open_of_a_pinned_object_is_enxio_no_open(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task, m: int
) -> None:
    """may_open then do_dentry_open with no_open_fops: without permission EACCES, write
    on a read-only superblock EROFS (and on a read-only mount, from __mnt_want_write),
    O_DIRECTORY ENOTDIR, O_CREAT|O_EXCL EEXIST, otherwise ENXIO.  No fd, no ref."""
    path = BPFFS + "/m"
    for flags in (os.O_RDONLY, os.O_WRONLY, os.O_RDWR, os.O_RDWR | os.O_TRUNC, os.O_CREAT):
        assert err(t.open, path, flags) == errno.ENXIO
    assert err(t.open, path, os.O_RDONLY | os.O_DIRECTORY) == errno.ENOTDIR
    assert err(u.open, path, os.O_RDONLY) == errno.EACCES
    assert err(u.open, path, os.O_RDONLY | os.O_DIRECTORY) == errno.ENOTDIR  # do_last first
    t.chmod(path, 0o604)
    assert err(u.open, path, os.O_RDONLY) == errno.ENXIO
    assert err(u.open, path, os.O_WRONLY) == errno.EACCES
    ro = ro_view(t)
    assert err(t.open, ro + "/m", os.O_RDWR) == errno.EROFS
    assert err(t.open, ro + "/m", os.O_RDONLY) == errno.ENXIO
    t.mount(None, BPFFS, None, MS_REMOUNT | MS_RDONLY)
    assert err(t.open, path, os.O_WRONLY) == errno.EROFS
    assert err(t.open, path, os.O_RDONLY) == errno.ENXIO
    assert t.files.open_fds() == [*CONSOLE_FDS, m]
    assert t.stat(path).st_size == 0
    assert t.fd_object(m).refcnt == 2
    k.check_invariants()


def test_s72_o_path_open_holds_the_inode_and_delays_eviction_do_dentry_open(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task
) -> None:
    """do_dentry_open (O_PATH returns early): the open succeeds (only search permission
    on the path is needed) and holds the dentry and inode, so an unlink does not evict
    the inode: the object keeps its pin reference until the O_PATH fd is closed.
    (OBJ_GET through /proc/self/fd/N is not modelled: pinfs has no procfs.)"""
    fd = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(fd, BPFFS + "/m")
    prog = t.prog_load(SOCKET_FILTER, BPF_LD_MAP_FD(1, fd) + RETURN_ZERO)
    t.obj_pin(prog, BPFFS + "/p")
    t.close(prog)
    t.close(fd)
    opath = t.open(BPFFS + "/m", O_PATH)
    uopath = u.open(BPFFS + "/p", O_PATH)  # root's 0600 inode, no permission needed
    assert [o.refcnt for o in k.objects()] == [2, 1]  # O_PATH adds no object ref
    t.unlink(BPFFS + "/m")
    t.unlink(BPFFS + "/p")
    assert t.listdir(BPFFS) == []
    objs = k.objects()
    assert [o.refcnt for o in objs] == [2, 1]
    assert all(any(h.kind == "pin" and "(unlinked)" in h.detail for h in o.holders) for o in objs)
    assert t.fstat(opath).st_nlink == 0
    k.check_invariants()
    # the name is free again while the old inode lingers
    fresh = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(fresh, BPFFS + "/m")
    assert t.listdir(BPFFS) == ["m"]
    assert t.fd_object(t.obj_get(BPFFS + "/m")) is t.fd_object(fresh)
    for fd in t.files.open_fds():
        if fd != opath:
            t.close(fd)
    t.unlink(BPFFS + "/m")
    assert [o.refcnt for o in k.objects()] == [2, 1]
    t.close(opath)
    assert [o.refcnt for o in k.objects()] == [1, 1]  # the map is still used by the prog
    u.close(uopath)  # evicts the prog, which puts the map: all gone
    assert k.objects() == []
    assert k.users[0].locked_vm == 0
    k.check_invariants()


def test_s73_bpffs_directories_open_read_only_only_may_open(t: pinfs.Task, u: pinfs.Task) -> None:
    """may_open: a bpffs directory opens O_RDONLY (simple_dir_operations); asking for
    write access is EISDIR; DAC applies (EACCES for a 0700 dir of someone else)."""
    t.mkdir(BPFFS + "/d", 0o700)
    for path in (BPFFS, BPFFS + "/d"):
        fd = t.open(path, os.O_RDONLY | os.O_DIRECTORY)
        t.close(fd)
        assert err(t.open, path, os.O_WRONLY) == errno.EISDIR
        assert err(t.open, path, os.O_RDWR) == errno.EISDIR
    u.close(u.open(BPFFS, os.O_RDONLY))
    assert err(u.open, BPFFS + "/d", os.O_RDONLY) == errno.EACCES


def test_s74_getdents_dots_then_newest_first_dcache_readdir(k: pinfs.Kernel, t: pinfs.Task) -> None:
    """dcache_readdir: ".", ".." then the positive children newest first (d_subdirs
    head insertion), DT_DIR/DT_REG, d_ino = i_ino; the root's ".." is the root (ino 1);
    re-creating a name puts it first again."""
    fd = t.map_create(ARRAY, 4, 4, 1)
    for name in ("a", "b"):
        t.obj_pin(fd, f"{BPFFS}/{name}")
    t.mkdir(BPFFS + "/dir")
    t.obj_pin(fd, BPFFS + "/c")
    d = t.open(BPFFS, os.O_RDONLY | os.O_DIRECTORY)
    entries = t.getdents(d)
    assert [(e.d_name, e.d_type) for e in entries] == [
        (".", DT_DIR),
        ("..", DT_DIR),
        ("c", DT_REG),
        ("dir", DT_DIR),
        ("b", DT_REG),
        ("a", DT_REG),
    ]
    assert entries[0].d_ino == entries[1].d_ino == 1
    assert entries[2].d_ino == t.stat(BPFFS + "/c").st_ino
    assert t.getdents(d) == []
    t.close(d)
    t.unlink(BPFFS + "/a")
    t.obj_pin(fd, BPFFS + "/a")
    assert t.listdir(BPFFS) == ["a", "c", "dir", "b"]
    t.unlink(BPFFS + "/c")
    assert t.listdir(BPFFS) == ["a", "dir", "b"]
    sub = t.open(BPFFS + "/dir", os.O_RDONLY)
    dots = t.getdents(sub)
    assert [(e.d_name, e.d_ino) for e in dots] == [
        (".", t.stat(BPFFS + "/dir").st_ino),
        ("..", 1),
    ]
    k.check_invariants()


# ---------------------------------------------------------------------------------------
# S75-S78: unlink and rmdir


def test_s75_unlink_drops_the_pin_reference_synchronously_bpf_evict_inode(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """vfs_unlink / simple_unlink / iput_final / bpf_evict_inode: an unlinked pin whose
    inode nothing else holds puts its object inside unlink(2): a pin-only map is freed
    and uncharged, a pin-only prog freed with its used maps put; the parent's mtime and
    ctime are set (unlike pin and mkdir)."""
    fd = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(fd, BPFFS + "/m")
    prog = t.prog_load(SOCKET_FILTER, BPF_LD_MAP_FD(1, fd) + RETURN_ZERO)
    t.obj_pin(prog, BPFFS + "/p")
    t.close(prog)
    t.close(fd)
    assert [o.refcnt for o in k.objects()] == [2, 1]
    assert k.users[0].locked_vm == 2
    root0 = t.stat(BPFFS)
    t.unlink(BPFFS + "/m")
    assert [o.refcnt for o in k.objects()] == [1, 1]  # the prog still uses the map
    root1 = t.stat(BPFFS)
    assert root1.st_mtime_ns > root0.st_mtime_ns
    assert root1.st_ctime_ns > root0.st_ctime_ns
    t.unlink(BPFFS + "/p")
    assert k.objects() == []
    assert k.users[0].locked_vm == 0
    # with an fd still open only the pin's reference goes
    fd = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(fd, BPFFS + "/m")
    t.unlink(BPFFS + "/m")
    assert t.fd_object(fd).refcnt == 1
    k.check_invariants()


def test_s76_unlink_error_order_on_bpffs_do_unlinkat(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task, m: int
) -> None:
    """do_unlinkat / may_delete / vfs_unlink: ".", ".." and "/" EISDIR; a read-only
    mount EROFS even for a missing name; missing ENOENT; with a trailing slash a dir is
    EISDIR and a file ENOTDIR; no w+x on the parent EACCES; a directory victim EISDIR;
    a mountpoint EBUSY."""
    d = closed_dir(t)
    t.obj_pin(m, d + "/x")
    ro = ro_view(t)
    for path in (BPFFS + "/.", BPFFS + "/..", "/", d + "/.."):
        assert err(t.unlink, path) == errno.EISDIR, path
    assert err(t.unlink, ro + "/m") == errno.EROFS
    assert err(t.unlink, ro + "/missing") == errno.EROFS
    assert err(t.unlink, ro + "/.") == errno.EISDIR
    assert err(t.unlink, BPFFS + "/missing") == errno.ENOENT
    assert err(t.unlink, BPFFS + "/missing/") == errno.ENOENT
    assert err(t.unlink, d + "/") == errno.EISDIR
    assert err(t.unlink, BPFFS + "/m/") == errno.ENOTDIR
    assert err(u.unlink, d + "/x") == errno.EACCES
    assert err(t.unlink, d) == errno.EISDIR
    t.open("/tmp/f", os.O_CREAT | os.O_WRONLY, 0o600)
    t.mount("/tmp/f", BPFFS + "/m", None, MS_BIND)
    assert err(t.unlink, BPFFS + "/m") == errno.EBUSY
    assert t.fd_object(m).refcnt == 3
    k.check_invariants()


def test_s77_sticky_bpffs_root_protects_other_users_pins_check_sticky(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task
) -> None:
    """may_delete -> check_sticky: the bpffs root is 01777, so a user who owns neither
    the victim nor the directory and lacks CAP_FOWNER gets EPERM for unlink and rmdir;
    the owner, the directory's owner and CAP_FOWNER may."""
    assert t.stat(BPFFS).st_mode & stat.S_ISVTX
    um = u.map_create(ARRAY, 4, 4, 1)
    u.obj_pin(um, BPFFS + "/upin")
    u.mkdir(BPFFS + "/udir")
    other = k.spawn(uid=1001, gid=1001)
    assert err(other.unlink, BPFFS + "/upin") == errno.EPERM
    assert err(other.rmdir, BPFFS + "/udir") == errno.EPERM
    fowner = k.spawn(uid=1002, caps=[CAP_FOWNER])
    fowner.unlink(BPFFS + "/upin")
    u.obj_pin(um, BPFFS + "/upin")
    u.unlink(BPFFS + "/upin")
    t.rmdir(BPFFS + "/udir")
    # a sticky subdirectory owned by 1001: its owner may remove 1000's pin
    t.mkdir(BPFFS + "/s")
    t.chown(BPFFS + "/s", 1001, 1001)
    t.chmod(BPFFS + "/s", 0o1777)
    u.obj_pin(um, BPFFS + "/s/x")
    third = k.spawn(uid=1003)
    assert err(third.unlink, BPFFS + "/s/x") == errno.EPERM
    other.unlink(BPFFS + "/s/x")
    assert u.fd_object(um).refcnt == 1
    k.check_invariants()


def test_s78_rmdir_error_order_on_bpffs_do_rmdir(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task, m: int
) -> None:
    """do_rmdir / may_delete / vfs_rmdir / simple_rmdir: ".." ENOTEMPTY, "." EINVAL,
    "/" EBUSY, read-only EROFS, missing ENOENT, no w+x EACCES, sticky EPERM, a file
    ENOTDIR, a mountpoint in this namespace EBUSY, non-empty ENOTEMPTY; a trailing slash
    is allowed and the parent's nlink and times are updated."""
    d = closed_dir(t)
    t.mkdir(d + "/sub")
    t.mkdir(BPFFS + "/full")
    t.obj_pin(m, BPFFS + "/full/x")
    t.mkdir(BPFFS + "/mp")
    ro = ro_view(t)
    assert err(t.rmdir, d + "/..") == errno.ENOTEMPTY
    assert err(t.rmdir, d + "/.") == errno.EINVAL
    assert err(t.rmdir, "/") == errno.EBUSY
    assert err(t.rmdir, ro + "/missing") == errno.EROFS
    assert err(t.rmdir, BPFFS + "/missing") == errno.ENOENT
    assert err(u.rmdir, d + "/sub") == errno.EACCES
    u.mkdir(BPFFS + "/usub")
    assert err(k.spawn(uid=1001).rmdir, BPFFS + "/usub") == errno.EPERM
    assert err(t.rmdir, BPFFS + "/m") == errno.ENOTDIR
    assert err(t.rmdir, BPFFS) == errno.EBUSY  # the bpffs mountpoint itself
    t.mount("/tmp", BPFFS + "/mp", None, MS_BIND)
    assert err(t.rmdir, BPFFS + "/mp") == errno.EBUSY
    assert err(t.rmdir, BPFFS + "/full") == errno.ENOTEMPTY
    nlink0, times0 = t.stat(d).st_nlink, t.stat(d).st_mtime_ns
    t.rmdir(d + "/sub/")
    assert t.stat(d).st_nlink == nlink0 - 1
    assert t.stat(d).st_mtime_ns > times0
    assert t.fd_object(m).refcnt == 3
    k.check_invariants()


# ---------------------------------------------------------------------------------------
# S79-S82: rename, link, symlink, setattr


def test_s79_rename_on_seed_bpffs_is_eperm_vfs_rename(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task, m: int
) -> None:
    """renameat2 / vfs_rename: no ->rename in bpf_dir_iops.  A rename onto the same
    inode is 0; across mounts (even two mounts of one instance) EXDEV; otherwise the
    may_delete/may_create checks (EACCES, sticky EPERM) and then EPERM."""
    t.mkdir(BPFFS + "/d")
    d = closed_dir(t)
    t.obj_pin(m, d + "/x")
    t.rename(BPFFS + "/m", BPFFS + "/m")
    t.rename(BPFFS + "/m", BPFFS + "/./m")
    for old, new in (
        (BPFFS + "/m", BPFFS + "/n"),
        (BPFFS + "/m", BPFFS + "/d/m"),
        (BPFFS + "/m", d + "/x"),
        (BPFFS + "/d", BPFFS + "/e"),
        (BPFFS + "/m", BPFFS + "/m.old"),
    ):
        assert err(t.rename, old, new) == errno.EPERM, (old, new)
    assert err(u.rename, d + "/x", d + "/y") == errno.EACCES
    um = u.map_create(ARRAY, 4, 4, 1)
    u.obj_pin(um, BPFFS + "/u")
    assert err(k.spawn(uid=1001).rename, BPFFS + "/u", BPFFS + "/v") == errno.EPERM
    assert err(t.rename, BPFFS + "/missing", BPFFS + "/n") == errno.ENOENT
    assert err(t.rename, BPFFS + "/m", "/tmp/m") == errno.EXDEV
    ro = ro_view(t)
    assert err(t.rename, BPFFS + "/m", ro + "/n") == errno.EXDEV
    assert sorted(t.listdir(BPFFS)) == ["closed", "d", "m", "u"]
    k.check_invariants()


def test_s80_link_on_seed_bpffs_is_eperm_vfs_link(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task, m: int
) -> None:
    """linkat / vfs_link: an existing target is EEXIST (filename_create first), another
    mount EXDEV, no permission EACCES (may_create), otherwise EPERM (no ->link)."""
    d = closed_dir(t)
    t.mkdir(BPFFS + "/e")
    assert err(t.link, BPFFS + "/m", BPFFS + "/e") == errno.EEXIST
    assert err(t.link, BPFFS + "/m", "/tmp") == errno.EEXIST
    assert err(t.link, BPFFS + "/m", "/tmp/m") == errno.EXDEV
    assert err(t.link, BPFFS + "/m", BPFFS + "/m2") == errno.EPERM
    assert err(t.link, BPFFS + "/m", BPFFS + "/m.2") == errno.EPERM
    assert err(u.link, BPFFS + "/m", d + "/m2") == errno.EACCES
    assert err(t.link, BPFFS + "/missing", BPFFS + "/m2") == errno.ENOENT
    assert t.stat(BPFFS + "/m").st_nlink == 1
    assert t.fd_object(m).refcnt == 2
    k.check_invariants()


def test_s81_symlink_on_seed_bpffs_is_eperm_vfs_symlink(
    t: pinfs.Task, u: pinfs.Task, m: int
) -> None:
    """vfs_symlink: an existing name is EEXIST, no permission EACCES (may_create),
    read-only EROFS, otherwise EPERM (no ->symlink)."""
    d = closed_dir(t)
    assert err(t.symlink, "/tmp", BPFFS + "/m") == errno.EEXIST
    assert err(u.symlink, "/tmp", d + "/l") == errno.EACCES
    assert err(t.symlink, "/tmp", BPFFS + "/l") == errno.EPERM
    assert err(u.symlink, "m", BPFFS + "/l.x") == errno.EPERM
    ro = ro_view(t)
    assert err(t.symlink, "/tmp", ro + "/l") == errno.EROFS
    assert sorted(t.listdir(BPFFS)) == ["closed", "m"]


def test_s82_chmod_chown_truncate_of_pins_simple_setattr(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task
) -> None:
    """notify_change -> simple_setattr (inode_change_ok): chmod by the owner or with
    CAP_FOWNER (else EPERM), chown only with CAP_CHOWN (the owner may change the group
    to one of its own groups), truncate only changes st_size (needs write permission);
    chmod can open OBJ_GET to other users; the object is untouched throughout."""
    um = u.map_create(ARRAY, 4, 4, 1)
    u.map_update_elem(um, (0).to_bytes(4, "little"), b"abcd")
    u.obj_pin(um, BPFFS + "/u")
    path = BPFFS + "/u"
    other = k.spawn(uid=1001, gid=1001)
    assert err(other.obj_get, path) == errno.EACCES
    ctime0 = t.stat(path).st_ctime_ns
    u.chmod(path, 0o666)
    assert t.stat(path).st_mode == stat.S_IFREG | 0o666
    assert t.stat(path).st_ctime_ns > ctime0
    assert other.obj_get(path) >= 0  # now other users may take it
    assert err(other.chmod, path, 0o600) == errno.EPERM
    t.chmod(path, 0o620)  # CAP_FOWNER
    assert err(u.chown, path, 1001, -1) == errno.EPERM
    assert err(u.chown, path, -1, 1001) == errno.EPERM  # not one of u's groups
    member = k.spawn(uid=1000, gid=1000, groups=(2000,))
    member.chown(path, -1, 2000)  # the owner, into one of its groups
    assert t.stat(path).st_gid == 2000
    t.chown(path, 1001, 1001)  # CAP_CHOWN
    assert (t.stat(path).st_uid, t.stat(path).st_gid) == (1001, 1001)
    other.truncate(path, 12345)
    assert t.stat(path).st_size == 12345
    assert err(k.spawn(uid=1002).truncate, path, 0) == errno.EACCES
    t.truncate(path, 0)
    assert t.stat(path).st_size == 0
    assert err(other.chmod, BPFFS, 0o777) == errno.EPERM
    assert u.map_lookup_elem(um, (0).to_bytes(4, "little")) == b"abcd"
    assert u.fd_object(um).refcnt == 3
    k.check_invariants()


# ---------------------------------------------------------------------------------------
# S83-S84: statfs and the root inode


def test_s83_statfs_reports_bpf_fs_magic_simple_statfs(t: pinfs.Task, m: int) -> None:
    """simple_statfs: f_type BPF_FS_MAGIC 0xcafe4a11, f_bsize and f_frsize 4096,
    f_namelen 255, all counts and f_fsid 0, for any path in the instance."""
    t.mkdir(BPFFS + "/d")
    for path in (BPFFS, BPFFS + "/m", BPFFS + "/d"):
        s = t.statfs(path)
        assert s.f_type == 0xCAFE4A11 == pinfs.BPF_FS_MAGIC
        assert (s.f_bsize, s.f_frsize, s.f_namelen) == (4096, 4096, 255)
        assert (s.f_blocks, s.f_bfree, s.f_bavail, s.f_files, s.f_ffree, s.f_fsid) == (0,) * 6
    assert t.statfs("/sys/fs").f_type != 0xCAFE4A11


def test_s84_root_inode_is_01777_ino_1_owned_by_global_root_bpf_fill_super(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """simple_fill_super / bpf_fill_super: the root is S_IFDIR|01777 (041777), ino 1,
    nlink 2 + subdirectories, uid/gid 0 of the initial user namespace whoever mounts it
    (so the overflow id 65534 inside a user namespace that does not map 0)."""
    st = t.stat(BPFFS)
    assert st.st_mode == 0o41777
    assert (st.st_ino, st.st_nlink, st.st_uid, st.st_gid) == (1, 2, 0, 0)
    t.mkdir(BPFFS + "/a")
    t.mkdir(BPFFS + "/b")
    assert t.stat(BPFFS).st_nlink == 4
    u = k.spawn(uid=1000, gid=1000)
    u.unshare(CLONE_NEWUSER | CLONE_NEWNS)
    u.write_uid_map([(0, 1000, 1)])
    u.write_gid_map([(0, 1000, 1)])
    u.mkdir("/tmp/mine")
    u.mount("bpf", "/tmp/mine", "bpf")
    st = u.stat("/tmp/mine")
    assert (st.st_mode, st.st_ino, st.st_nlink) == (0o41777, 1, 2)
    assert (st.st_uid, st.st_gid) == (65534, 65534)
    um = u.map_create(ARRAY, 4, 4, 1)
    u.obj_pin(um, "/tmp/mine/x")
    assert (u.stat("/tmp/mine/x").st_uid, u.stat("/tmp/mine/x").st_gid) == (0, 0)
    k.check_invariants()


def test_s78_mountpoints_of_other_namespaces_do_not_block_removal_is_local_mountpoint(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """vfs_rmdir / vfs_unlink -> is_local_mountpoint (fs/namespace.c, since 3.18): only a
    mount in the caller's own namespace makes the victim EBUSY; a bpffs directory or pin
    covered by a mount in another namespace (which shares the instance through
    copy_mnt_ns) is removed and that mount is detached (detach_mounts)."""
    t.mkdir(BPFFS + "/d")
    fd = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(fd, BPFFS + "/m")
    t.close(t.open("/tmp/f", os.O_CREAT | os.O_WRONLY, 0o600))
    c = t.fork()
    c.unshare(CLONE_NEWNS)
    before = len(k.mounts(c.mnt_ns))
    c.mount("/tmp", BPFFS + "/d", None, MS_BIND)
    c.mount("/tmp/f", BPFFS + "/m", None, MS_BIND)
    assert err(c.rmdir, BPFFS + "/d") == errno.EBUSY
    assert err(c.unlink, BPFFS + "/m") == errno.EBUSY
    assert t.fd_object(fd).refcnt == 2
    t.rmdir(BPFFS + "/d")
    t.unlink(BPFFS + "/m")
    assert c.listdir(BPFFS) == []
    assert err(c.stat, BPFFS + "/d") == errno.ENOENT
    # detach_mounts: both of c's mounts are gone from its namespace, and nothing holds
    # the unlinked pin's dentry any more, so its object reference was put in unlink(2)
    assert len(k.mounts(c.mnt_ns)) == before
    assert t.fd_object(fd).refcnt == 1
    k.check_invariants()
