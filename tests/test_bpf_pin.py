"""BPF_OBJ_PIN and BPF_OBJ_GET on bpffs (spec rows S42-S66): kernel/bpf/inode.c at
b2197755 (bpf_obj_pin_user, bpf_fd_probe_obj, bpf_obj_do_pin, bpf_obj_do_get,
bpf_obj_get_user) and the fs/namei.c helpers it rides on (getname, link_path_walk,
filename_create, may_create, inode_permission)."""

from __future__ import annotations

import errno
import os
import stat
from fractions import Fraction

import pytest

import pinfs
from pinfs.base.cred import CAP_DAC_OVERRIDE
from pinfs.ebpf.attr import BPF_MAP_TYPE_ARRAY, BPF_OBJ_GET, BPF_OBJ_PIN, pack_attr
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from pinfs.machine.task import CLONE_NEWNS, RLIMIT_NOFILE
from pinfs.vfs import MS_BIND, MS_NOATIME, MS_RDONLY, MS_REMOUNT
from support import CONSOLE_FDS, err

BPFFS = "/sys/fs/bpf"
O_PATH = 0o10000000
KERNEL_ADDR = 0xFFFF880000000000
ARRAY = BPF_MAP_TYPE_ARRAY
SOCKET_FILTER = 1
DAY = 24 * 3600


#: conftest.k mounts bpffs at /sys/fs/bpf for this module.
MOUNT_BPFFS = True


@pytest.fixture
def m(t: pinfs.Task) -> int:
    """A map fd (fd 0)."""
    return t.map_create(ARRAY, 4, 4, 1)


@pytest.fixture
def p(t: pinfs.Task, m: int) -> int:
    """A program fd (fd 1) using the map."""
    return t.prog_load(SOCKET_FILTER, BPF_LD_MAP_FD(1, m) + RETURN_ZERO)


def raw(t: pinfs.Task, cmd: int, attr: bytes) -> int:
    return t.bpf(cmd, t.mem.alloc(attr), len(attr))


def raw_err(t: pinfs.Task, cmd: int, attr: bytes) -> int | None:
    return err(raw, t, cmd, attr)


def cstr(t: pinfs.Task, s: str | bytes) -> int:
    data = s.encode() if isinstance(s, str) else s
    return t.mem.alloc(data + b"\0")


def refcnts(k: pinfs.Kernel) -> dict[int, int]:
    return {o.id: o.refcnt for o in k.objects()}


def ro_view(t: pinfs.Task, path: str = "/tmp/ro") -> str:
    """A second, read-only mount of the same bpffs instance (MNT_READONLY only)."""
    t.mkdir(path)
    t.mount("bpf", path, "bpf", MS_RDONLY)
    return path


# ---------------------------------------------------------------------------------------
# S42-S45: attr, pathname and fd


def test_s42_obj_pin_nonzero_bytes_after_bpf_fd_are_einval_check_attr(
    k: pinfs.Kernel, t: pinfs.Task, m: int
) -> None:
    """bpf_obj_pin / CHECK_ATTR(BPF_OBJ): any non-zero byte in 12..47 is EINVAL (the
    padding after bpf_fd included); nothing is pinned, no reference taken."""
    before = refcnts(k)
    for pos in (12, 15, 16, 47):
        buf = bytearray(pack_attr(BPF_OBJ_PIN, pathname=cstr(t, BPFFS + "/x"), bpf_fd=m))
        buf[pos] = 1
        assert raw_err(t, BPF_OBJ_PIN, bytes(buf)) == errno.EINVAL
    assert t.listdir(BPFFS) == []
    assert refcnts(k) == before
    raw(t, BPF_OBJ_PIN, pack_attr(BPF_OBJ_PIN, pathname=cstr(t, BPFFS + "/x"), bpf_fd=m))
    assert t.listdir(BPFFS) == ["x"]
    k.check_invariants()


def test_s43_pathname_errors_come_before_the_fd_getname(t: pinfs.Task, m: int) -> None:
    """bpf_obj_pin_user -> getname: a faulting pathname (NULL too) is EFAULT, "" is
    ENOENT, 4096 bytes without a NUL ENAMETOOLONG; all before bpf_fd is looked at (a
    closed fd).  4095 characters pass getname."""
    closed = 99
    for fd in (m, closed):
        assert raw_err(t, BPF_OBJ_PIN, pack_attr(BPF_OBJ_PIN, bpf_fd=fd)) == errno.EFAULT
        attr = pack_attr(BPF_OBJ_PIN, pathname=KERNEL_ADDR, bpf_fd=fd)
        assert raw_err(t, BPF_OBJ_PIN, attr) == errno.EFAULT
        attr = pack_attr(BPF_OBJ_PIN, pathname=cstr(t, ""), bpf_fd=fd)
        assert raw_err(t, BPF_OBJ_PIN, attr) == errno.ENOENT
        attr = pack_attr(BPF_OBJ_PIN, pathname=t.mem.alloc(b"/" * 4096), bpf_fd=fd)
        assert raw_err(t, BPF_OBJ_PIN, attr) == errno.ENAMETOOLONG
        # an unterminated string running off its mapping
        attr = pack_attr(BPF_OBJ_PIN, pathname=t.mem.alloc(b"/sys/fs/bpf/x"), bpf_fd=fd)
        assert raw_err(t, BPF_OBJ_PIN, attr) == errno.EFAULT
    assert err(t.obj_pin, closed, "") == errno.ENOENT
    assert err(t.obj_pin, closed, "/" * 4096) == errno.ENAMETOOLONG
    assert err(t.obj_pin, closed, "/" * 4095) == errno.EBADF
    long_path = BPFFS + "/" + "/".join(["d" * 200] * 20)
    long_path = long_path[:4095]
    assert err(t.obj_pin, closed, long_path) == errno.EBADF


def test_s44_closed_or_o_path_fd_is_ebadf_bpf_fd_probe_obj(
    k: pinfs.Kernel, t: pinfs.Task, m: int
) -> None:
    """bpf_fd_probe_obj -> __bpf_prog_get: the error is the prog getter's; no file at
    the fd (or an O_PATH file, which fdget treats as absent) is EBADF at the seed
    (6.18 says EINVAL)."""
    t.obj_pin(m, BPFFS + "/m")
    before = refcnts(k)
    opath = t.open(BPFFS + "/m", O_PATH)
    opath_tmp = t.open("/tmp", O_PATH)
    for fd in (42, opath, opath_tmp, 0xFFFFFFFF, -1):
        assert err(t.obj_pin, fd, BPFFS + "/x") == errno.EBADF
    assert refcnts(k) == before
    assert t.listdir(BPFFS) == ["m"]
    k.check_invariants()


def test_s45_non_bpf_fd_is_einval_bpf_fd_probe_obj(k: pinfs.Kernel, t: pinfs.Task) -> None:
    """bpf_fd_probe_obj: an open file that is neither map nor prog (a directory, a
    regular file) is EINVAL from bpf_prog_get."""
    d = t.open("/tmp", os.O_RDONLY)
    f = t.open("/tmp/file", os.O_CREAT | os.O_RDWR, 0o600)
    for fd in (d, f):
        assert err(t.obj_pin, fd, BPFFS + "/x") == errno.EINVAL
    assert t.listdir(BPFFS) == []
    k.check_invariants()


# ---------------------------------------------------------------------------------------
# S46-S54: the path


def test_s46_path_walk_errors_for_pin_and_get_link_path_walk(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task, m: int
) -> None:
    """link_path_walk / walk_component / simple_lookup: a missing intermediate is
    ENOENT, a non-directory intermediate ENOTDIR, no search permission EACCES, more
    than 40 symlinks ELOOP, a component over 255 bytes ENAMETOOLONG; for OBJ_PIN and
    OBJ_GET alike, and without leaking the pin's probe reference."""
    t.obj_pin(m, BPFFS + "/m")
    t.mkdir(BPFFS + "/priv", 0o700)
    t.obj_pin(m, BPFFS + "/priv/m")
    before = refcnts(k)
    um = u.map_create(ARRAY, 4, 4, 1)
    cases = [
        (t, BPFFS + "/nodir/x", errno.ENOENT),
        (t, BPFFS + "/m/x", errno.ENOTDIR),
        (u, BPFFS + "/priv/x", errno.EACCES),
        (t, BPFFS + "/" + "a" * 256 + "/x", errno.ENAMETOOLONG),
        (t, BPFFS + "/" + "a" * 256, errno.ENAMETOOLONG),
    ]
    for task, path, expected in cases:
        fd = m if task is t else um
        assert err(task.obj_pin, fd, path) == expected, path
        assert err(task.obj_get, path) == expected, path
    assert err(u.obj_get, BPFFS + "/priv/m") == errno.EACCES
    assert refcnts(k) == {**before, u.fd_object(um).id: 1}
    k.check_invariants()


def test_s46_forty_symlinks_resolve_and_the_41st_is_eloop_pick_link(
    k: pinfs.Kernel, t: pinfs.Task, m: int
) -> None:
    """pick_link: MAXSYMLINKS = 40 per walk.  A chain of 40 links from /tmp to the
    bpffs works for OBJ_PIN and OBJ_GET; 41 is ELOOP; a self-loop is ELOOP."""
    t.symlink(BPFFS, "/tmp/l0")
    for i in range(1, 41):
        t.symlink(f"/tmp/l{i - 1}", f"/tmp/l{i}")
    t.obj_pin(m, "/tmp/l39/viachain")
    assert t.listdir(BPFFS) == ["viachain"]
    fd = t.obj_get("/tmp/l39/viachain")
    assert t.fd_object(fd) is t.fd_object(m)
    assert err(t.obj_pin, m, "/tmp/l40/x") == errno.ELOOP
    assert err(t.obj_get, "/tmp/l40/viachain") == errno.ELOOP
    t.symlink("/tmp/loop", "/tmp/loop")
    assert err(t.obj_pin, m, "/tmp/loop/x") == errno.ELOOP
    assert err(t.obj_get, "/tmp/loop") == errno.ELOOP
    assert t.fd_object(m).refcnt == 3
    k.check_invariants()


def test_s46_name_of_255_bytes_pins_simple_lookup(t: pinfs.Task, m: int) -> None:
    """simple_lookup: NAME_MAX is 255; a 255-byte name is fine."""
    t.obj_pin(m, BPFFS + "/" + "n" * 255)
    assert t.obj_get(BPFFS + "/" + "n" * 255) >= 0


@pytest.mark.parametrize("path", [BPFFS + "/.", BPFFS + "/..", "/", BPFFS + "/d/..", "//", "."])
def test_s47_dot_dotdot_and_root_are_eexist_filename_create(
    k: pinfs.Kernel, t: pinfs.Task, m: int, path: str
) -> None:
    """filename_create: a final component that is not LAST_NORM (".", "..", "/") is
    EEXIST, before the EROFS check; the probe reference is dropped."""
    t.mkdir(BPFFS + "/d")
    t.chdir(BPFFS)
    assert err(t.obj_pin, m, path) == errno.EEXIST
    ro = ro_view(t)
    assert err(t.obj_pin, m, ro + "/.") == errno.EEXIST
    assert t.fd_object(m).refcnt == 1
    k.check_invariants()


def test_s48_existing_name_is_eexist_before_erofs_and_eperm_filename_create(
    k: pinfs.Kernel, t: pinfs.Task, m: int, p: int
) -> None:
    """filename_create: an existing final name (pinned file, directory, dangling
    symlink; the final component is not followed) is EEXIST, before EROFS (ro mount)
    and before the not-bpffs EPERM."""
    t.obj_pin(m, BPFFS + "/m")
    t.mkdir(BPFFS + "/d")
    t.symlink("/nowhere", "/tmp/dangling")
    before = refcnts(k)
    ro = ro_view(t)
    for path in (
        BPFFS + "/m",
        BPFFS + "/d",
        BPFFS + "/m/",  # exists: EEXIST wins over the trailing slash
        ro + "/m",
        "/tmp",
        "/tmp/dangling",
        "/sys/fs/bpf",
    ):
        assert err(t.obj_pin, m, path) == errno.EEXIST, path
        assert err(t.obj_pin, p, path) == errno.EEXIST, path
    assert refcnts(k) == before
    k.check_invariants()


def test_s49_trailing_slash_on_a_new_name_is_enoent_filename_create(
    k: pinfs.Kernel, t: pinfs.Task, m: int
) -> None:
    """filename_create: a trailing slash on a free name (OBJ_PIN passes no
    LOOKUP_DIRECTORY) is ENOENT, before EROFS and the not-bpffs EPERM."""
    ro = ro_view(t)
    for path in (BPFFS + "/new/", BPFFS + "/new//", ro + "/new/", "/tmp/new/"):
        assert err(t.obj_pin, m, path) == errno.ENOENT, path
    assert t.fd_object(m).refcnt == 1
    k.check_invariants()


def test_s50_read_only_mount_or_superblock_is_erofs_mnt_want_write(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task, m: int
) -> None:
    """filename_create -> mnt_want_write: a read-only mount or superblock is EROFS for a
    free name, after EEXIST/ENOENT and before may_create's EACCES and the dot EPERM."""
    t.mkdir(BPFFS + "/closed", 0o755)
    ro = ro_view(t)
    um = u.map_create(ARRAY, 4, 4, 1)
    assert err(t.obj_pin, m, ro + "/x") == errno.EROFS
    assert err(t.obj_pin, m, ro + "/x.y") == errno.EROFS
    assert err(u.obj_pin, um, ro + "/closed/x.y") == errno.EROFS
    t.obj_pin(m, BPFFS + "/x")  # the rw view still works
    t.mount(None, BPFFS, None, MS_REMOUNT | MS_RDONLY)  # now the superblock is ro
    assert err(t.obj_pin, m, BPFFS + "/y") == errno.EROFS
    assert err(t.obj_pin, m, BPFFS + "/x") == errno.EEXIST
    assert t.fd_object(m).refcnt == 2
    k.check_invariants()


def test_s51_parent_not_on_bpffs_is_eperm_bpf_obj_do_pin(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task, m: int, p: int
) -> None:
    """bpf_obj_do_pin: the parent's i_op is not bpf_dir_iops -> EPERM, after
    kern_path_create and before vfs_mknod (so even a caller who could not write the
    directory gets EPERM, not EACCES)."""
    um = u.map_create(ARRAY, 4, 4, 1)
    for path in ("/tmp/x", "/x", "/sys/fs/x", "/tmp/x.y"):
        assert err(t.obj_pin, m, path) == errno.EPERM, path
        assert err(t.obj_pin, p, path) == errno.EPERM, path
        assert err(u.obj_pin, um, path) == errno.EPERM, path
    assert t.listdir("/tmp") == []
    assert [o.refcnt for o in k.objects()] == [2, 1, 1]
    k.check_invariants()


def test_s52_pin_relative_to_a_removed_cwd_in_bpffs_is_enoent_lookup_real(
    k: pinfs.Kernel, t: pinfs.Task, m: int
) -> None:
    """lookup_real / may_create: the parent is on bpffs but dead (rmdir'ed while it is
    the cwd): looking up a name in it is ENOENT; no reference leaks."""
    t.obj_pin(m, BPFFS + "/m")
    t.mkdir(BPFFS + "/d")
    t.chdir(BPFFS + "/d")
    t.rmdir(BPFFS + "/d")
    for path in ("x", "./x", "x.y"):
        assert err(t.obj_pin, m, path) == errno.ENOENT
    assert err(t.obj_get, "x") == errno.ENOENT
    assert err(t.mkdir, "sub") == errno.ENOENT
    # ".." from the dead directory still reaches the live tree
    assert t.fd_object(t.obj_get("../m")) is t.fd_object(m)
    assert t.fd_object(m).refcnt == 3
    k.check_invariants()


def test_s53_no_write_search_permission_on_bpffs_parent_is_eacces_may_create(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task
) -> None:
    """may_create (inside vfs_mknod): without write+search on the bpffs parent it is
    EACCES, even for a dotted name (EACCES comes before bpf_mkobj's EPERM).  The root
    is 01777 so anyone may pin there; subdirectories follow their own mode."""
    um = u.map_create(ARRAY, 4, 4, 1)
    t.umask(0)
    t.mkdir(BPFFS + "/d", 0o755)
    t.mkdir(BPFFS + "/w", 0o777)
    t.mkdir(BPFFS + "/g", 0o770)
    t.chown(BPFFS + "/g", 0, 1000)
    t.mkdir(BPFFS + "/x_only", 0o733)  # write without read is enough: w+x
    for name in ("x", "x.y", ".hidden"):
        assert err(u.obj_pin, um, BPFFS + "/d/" + name) == errno.EACCES, name
    u.obj_pin(um, BPFFS + "/top")
    u.obj_pin(um, BPFFS + "/w/x")
    u.obj_pin(um, BPFFS + "/g/x")
    u.obj_pin(um, BPFFS + "/x_only/x")
    other = k.spawn(uid=1001, gid=1001)
    om = other.map_create(ARRAY, 4, 4, 1)
    assert err(other.obj_pin, om, BPFFS + "/g/y") == errno.EACCES
    grouped = k.spawn(uid=1002, gid=1002, groups=(1000,))
    grouped.obj_pin(grouped.map_create(ARRAY, 4, 4, 1), BPFFS + "/g/y")
    assert u.fd_object(um).refcnt == 5
    k.check_invariants()


@pytest.mark.parametrize("name", [".x", "x.", "a.b", "..x", "a..", "...", "a.b.c"])
def test_s54_dotted_final_name_is_eperm_bpf_dname_reserved(
    k: pinfs.Kernel, t: pinfs.Task, m: int, p: int, name: str
) -> None:
    """bpf_mkobj_ops -> bpf_dname_reserved: a '.' anywhere in the final name is EPERM
    (for maps and progs); the probe reference is dropped; dots elsewhere in the path
    ("." and ".." components) are fine."""
    before = refcnts(k)
    assert err(t.obj_pin, m, BPFFS + "/" + name) == errno.EPERM
    assert err(t.obj_pin, p, BPFFS + "/" + name) == errno.EPERM
    assert refcnts(k) == before
    assert t.listdir(BPFFS) == []
    t.mkdir(BPFFS + "/d")
    t.obj_pin(m, BPFFS + "/./d/../d/ok")
    assert t.listdir(BPFFS + "/d") == ["ok"]
    k.check_invariants()


# ---------------------------------------------------------------------------------------
# S55-S57: successful pins


def test_s55_pinned_inode_attributes_bpf_mkobj_ops(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task, m: int
) -> None:
    """bpf_obj_do_pin / bpf_mkobj_ops / bpf_get_inode / inode_init_owner: a regular
    inode S_IFREG | (0600 & ~umask), owned by fsuid/fsgid, nlink 1, size 0, rdev 0, a
    fresh non-zero ino, a/m/ctime equal; the parent's times are not updated; ref+1."""
    root_before = t.stat(BPFFS)
    t.obj_pin(m, BPFFS + "/m")
    st = t.stat(BPFFS + "/m")
    assert st.st_mode == stat.S_IFREG | 0o600
    assert (st.st_uid, st.st_gid, st.st_nlink, st.st_size, st.st_rdev) == (0, 0, 1, 0, 0)
    assert st.st_ino not in (0, 1)
    assert st.st_dev == root_before.st_dev
    assert st.st_atime_ns == st.st_mtime_ns == st.st_ctime_ns > root_before.st_mtime_ns
    root_after = t.stat(BPFFS)
    assert (root_after.st_mtime_ns, root_after.st_ctime_ns) == (
        root_before.st_mtime_ns,
        root_before.st_ctime_ns,
    )
    assert t.fd_object(m).refcnt == 2
    um = u.map_create(ARRAY, 4, 4, 1)
    u.umask(0o277)
    u.obj_pin(um, BPFFS + "/u")
    st_u = t.stat(BPFFS + "/u")
    assert st_u.st_mode == stat.S_IFREG | 0o400
    assert (st_u.st_uid, st_u.st_gid) == (1000, 1000)
    assert st_u.st_ino != st.st_ino
    u.umask(0o077)
    u.obj_pin(um, BPFFS + "/u2")
    assert t.stat(BPFFS + "/u2").st_mode == stat.S_IFREG | 0o600
    u.umask(0)
    u.obj_pin(um, BPFFS + "/u3")
    assert t.stat(BPFFS + "/u3").st_mode == stat.S_IFREG | 0o600
    k.check_invariants()


def test_s55_setgid_parent_gives_its_gid_inode_init_owner(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task
) -> None:
    """inode_init_owner: in a setgid directory the new inode takes the directory's
    gid; at v4.4 a non-directory keeps no S_ISGID of its own."""
    t.mkdir(BPFFS + "/sg", 0o777)
    t.chown(BPFFS + "/sg", 0, 500)
    t.chmod(BPFFS + "/sg", 0o2777)
    um = u.map_create(ARRAY, 4, 4, 1)
    u.obj_pin(um, BPFFS + "/sg/x")
    st = t.stat(BPFFS + "/sg/x")
    assert (st.st_uid, st.st_gid, st.st_mode) == (1000, 500, stat.S_IFREG | 0o600)
    k.check_invariants()


def test_s55_relative_pin_resolves_from_cwd_bpf_obj_do_pin(
    k: pinfs.Kernel, t: pinfs.Task, m: int, p: int
) -> None:
    """bpf_obj_do_pin -> kern_path_create(AT_FDCWD, ...): relative paths start at the
    caller's cwd, for OBJ_GET too."""
    t.mkdir(BPFFS + "/d")
    t.chdir(BPFFS + "/d")
    t.obj_pin(m, "map")
    t.obj_pin(p, "../prog")
    assert t.listdir(BPFFS + "/d") == ["map"]
    assert t.listdir(BPFFS) == ["prog", "d"]
    assert t.fd_file(t.obj_get("../prog")).anon_name == "bpf-prog"
    assert t.fd_file(t.obj_get("map")).anon_name == "bpf-map"
    k.check_invariants()


def test_s56_every_failure_after_the_probe_drops_its_reference_bpf_obj_pin_user(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task, m: int, p: int
) -> None:
    """bpf_obj_pin_user: any error from bpf_obj_do_pin puts the probe's +1 again
    (bpf_any_put), for maps and programs: EEXIST, ENOENT, ENOTDIR, EROFS, EPERM
    (dot, not bpffs), EACCES, ENAMETOOLONG."""
    t.obj_pin(m, BPFFS + "/m")
    t.mkdir(BPFFS + "/closed", 0o700)
    ro = ro_view(t)
    um = u.map_create(ARRAY, 4, 4, 1)
    before = refcnts(k)
    expected = {
        BPFFS + "/m": errno.EEXIST,  # filename_create
        BPFFS + "/new/": errno.ENOENT,  # a trailing slash, not a directory
        BPFFS + "/m/x": errno.ENOTDIR,  # link_path_walk
        ro + "/x": errno.EROFS,  # mnt_want_write
        BPFFS + "/a.b": errno.EPERM,  # bpf_dname_reserved
        "/tmp/x": errno.EPERM,  # not bpf_dir_iops
        BPFFS + "/" + "z" * 300: errno.ENAMETOOLONG,  # simple_lookup
    }
    for fd in (m, p):
        for path, code in expected.items():
            assert err(t.obj_pin, fd, path) == code, path
    assert err(u.obj_pin, um, BPFFS + "/closed/x") == errno.EACCES
    assert refcnts(k) == before
    assert k.users[0].locked_vm == 2
    k.check_invariants()


def test_s57_same_object_under_many_names_each_pin_holds_a_ref_bpf_obj_pin_user(
    k: pinfs.Kernel, t: pinfs.Task, m: int, p: int
) -> None:
    """bpf_obj_pin_user: pinning is not exclusive: several names, or a re-pin of an fd
    obtained by OBJ_GET, each hold one reference until unlinked."""
    t.obj_pin(m, BPFFS + "/a")
    t.obj_pin(m, BPFFS + "/b")
    g = t.obj_get(BPFFS + "/a")
    t.obj_pin(g, BPFFS + "/c")
    t.obj_pin(p, BPFFS + "/p1")
    t.obj_pin(p, BPFFS + "/p2")
    M, P = t.fd_object(m), t.fd_object(p)
    assert M.refcnt == 1 + 1 + 3 + 1  # fd, prog's used_map, 3 pins, the GET file
    assert P.refcnt == 3
    pins = sorted(h.detail for o in k.objects() if o.obj is M for h in o.holders if h.kind == "pin")
    assert [d.rsplit(":", 1)[1] for d in pins] == ["/a", "/b", "/c"]
    t.unlink(BPFFS + "/b")
    assert M.refcnt == 5
    k.check_invariants()


# ---------------------------------------------------------------------------------------
# S58-S66: OBJ_GET


def test_s58_obj_get_with_bpf_fd_or_tail_bytes_is_einval_bpf_obj_get(
    k: pinfs.Kernel, t: pinfs.Task, m: int
) -> None:
    """bpf_obj_get: CHECK_ATTR (bytes 12..47) and bpf_fd != 0 are EINVAL, before the
    pathname is read (a NULL pathname does not matter)."""
    t.obj_pin(m, BPFFS + "/m")
    path = cstr(t, BPFFS + "/m")
    for fd in (1, m + 1, 0xFFFFFFFF):
        assert raw_err(t, BPF_OBJ_GET, pack_attr(BPF_OBJ_GET, pathname=path, bpf_fd=fd)) == (
            errno.EINVAL
        )
        assert raw_err(t, BPF_OBJ_GET, pack_attr(BPF_OBJ_GET, bpf_fd=fd)) == errno.EINVAL
    for pos in (12, 30, 47):
        buf = bytearray(pack_attr(BPF_OBJ_GET, pathname=path))
        buf[pos] = 9
        assert raw_err(t, BPF_OBJ_GET, bytes(buf)) == errno.EINVAL
    assert t.fd_object(m).refcnt == 2
    assert raw(t, BPF_OBJ_GET, pack_attr(BPF_OBJ_GET, pathname=path)) >= 0
    k.check_invariants()


def test_s59_obj_get_pathname_errors_and_trailing_symlink_followed_kern_path(
    k: pinfs.Kernel, t: pinfs.Task, m: int, p: int
) -> None:
    """bpf_obj_get_user -> getname / kern_path(LOOKUP_FOLLOW): NULL is EFAULT, "" ENOENT,
    a missing name ENOENT; a trailing symlink is followed, even one living on another
    filesystem or a chain of them."""
    t.obj_pin(m, BPFFS + "/m")
    t.obj_pin(p, BPFFS + "/p")
    assert raw_err(t, BPF_OBJ_GET, pack_attr(BPF_OBJ_GET)) == errno.EFAULT
    assert err(t.obj_get, "") == errno.ENOENT
    assert err(t.obj_get, BPFFS + "/missing") == errno.ENOENT
    assert err(t.obj_get, "/" * 4096) == errno.ENAMETOOLONG
    t.symlink(BPFFS + "/m", "/tmp/link")
    t.symlink("/tmp/link", "/tmp/link2")
    t.symlink("../sys/fs/bpf/p", "/tmp/plink")
    assert t.fd_object(t.obj_get("/tmp/link")) is t.fd_object(m)
    assert t.fd_object(t.obj_get("/tmp/link2")) is t.fd_object(m)
    assert t.fd_object(t.obj_get("/tmp/plink")) is t.fd_object(p)
    t.symlink(BPFFS + "/gone", "/tmp/dangling")
    assert err(t.obj_get, "/tmp/dangling") == errno.ENOENT
    k.check_invariants()


def test_s60_trailing_slash_on_a_pinned_file_is_enotdir_path_lookupat(
    t: pinfs.Task, m: int
) -> None:
    """lookup_last / path_lookupat: "pinned/" demands a directory: ENOTDIR (also through
    a symlink)."""
    t.obj_pin(m, BPFFS + "/m")
    t.symlink(BPFFS + "/m", "/tmp/link")
    assert err(t.obj_get, BPFFS + "/m/") == errno.ENOTDIR
    assert err(t.obj_get, "/tmp/link/") == errno.ENOTDIR
    assert err(t.obj_get, BPFFS + "/m/.") == errno.ENOTDIR
    assert t.fd_object(m).refcnt == 2


def test_s61_read_only_superblock_makes_obj_get_erofs_sb_permission(
    k: pinfs.Kernel, t: pinfs.Task, m: int
) -> None:
    """bpf_obj_do_get -> inode_permission(MAY_WRITE) -> sb_permission: an MS_RDONLY
    superblock (remount ro, or a first mount with -o ro) is EROFS for OBJ_GET; rw again
    after remount rw."""
    t.obj_pin(m, BPFFS + "/m")
    t.mount(None, BPFFS, None, MS_REMOUNT | MS_RDONLY)
    assert err(t.obj_get, BPFFS + "/m") == errno.EROFS
    assert err(t.obj_get, BPFFS) == errno.EROFS  # EROFS before the type's EACCES
    t.mount(None, BPFFS, None, MS_REMOUNT)
    assert t.obj_get(BPFFS + "/m") >= 0
    # a first mount with -o ro in a fresh namespace makes a read-only instance
    c = t.fork()
    c.unshare(CLONE_NEWNS)
    c.mkdir("/tmp/fresh")
    c.mount("bpf", "/tmp/fresh", "bpf", MS_RDONLY)
    assert err(c.obj_get, "/tmp/fresh") == errno.EROFS
    assert err(c.obj_pin, m, "/tmp/fresh/x") == errno.EROFS
    c.exit()
    k.check_invariants()


def test_s62_read_only_bind_mount_does_not_block_obj_get_sb_permission(
    k: pinfs.Kernel, t: pinfs.Task, m: int
) -> None:
    """sb_permission ignores mount flags: through a read-only bind mount (or a later
    ``-o ro`` mount of the same instance) OBJ_GET works while OBJ_PIN is EROFS."""
    t.obj_pin(m, BPFFS + "/m")
    t.mkdir("/tmp/rob")
    t.mount(BPFFS, "/tmp/rob", None, MS_BIND)
    t.mount(None, "/tmp/rob", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    ro = ro_view(t)
    for view in ("/tmp/rob", ro):
        fd = t.obj_get(view + "/m")
        assert t.fd_object(fd) is t.fd_object(m)
        assert err(t.obj_pin, m, view + "/n") == errno.EROFS
    k.check_invariants()


def test_s63_obj_get_needs_write_permission_only_inode_permission(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task, m: int
) -> None:
    """bpf_obj_do_get -> inode_permission(MAY_WRITE): DAC with owner/group/other bits and
    supplementary groups; read permission is not needed (0200 is enough); CAP_DAC_OVERRIDE
    overrides.  (Immutable inodes are not reachable: pinfs has no chattr.)"""
    t.obj_pin(m, BPFFS + "/m")
    path = BPFFS + "/m"
    assert err(u.obj_get, path) == errno.EACCES  # root's 0600
    t.chmod(path, 0o604)
    assert err(u.obj_get, path) == errno.EACCES  # read is not write
    t.chmod(path, 0o602)
    assert u.obj_get(path) >= 0  # write only is enough
    t.chmod(path, 0o620)
    t.chown(path, 0, 1000)
    assert u.obj_get(path) >= 0
    member = k.spawn(uid=1005, gid=1005, groups=(1000,))
    assert member.obj_get(path) >= 0
    stranger = k.spawn(uid=1006, gid=1006)
    assert err(stranger.obj_get, path) == errno.EACCES
    t.chmod(path, 0o000)
    assert t.obj_get(path) >= 0  # CAP_DAC_OVERRIDE
    capless_root = k.spawn(uid=0, caps=[])
    assert err(capless_root.obj_get, path) == errno.EACCES
    dac = k.spawn(uid=1007, caps=[CAP_DAC_OVERRIDE])
    assert dac.obj_get(path) >= 0
    k.check_invariants()


def test_s64_directories_and_non_bpffs_files_are_eacces_bpf_inode_type(
    k: pinfs.Kernel, t: pinfs.Task, u: pinfs.Task
) -> None:
    """bpf_inode_type: anything whose i_op is not a bpffs object table is EACCES, after
    the write permission check (which is EACCES too when it fails): bpffs directories,
    the bpffs root, files and directories of other filesystems."""
    t.mkdir(BPFFS + "/d")
    f = t.open("/tmp/file", os.O_CREAT | os.O_WRONLY, 0o666)
    t.close(f)
    for path in (BPFFS, BPFFS + "/d", "/tmp", "/tmp/file", "/", BPFFS + "/d/.."):
        assert err(t.obj_get, path) == errno.EACCES, path
        assert err(u.obj_get, path) == errno.EACCES, path
    assert t.files.open_fds() == CONSOLE_FDS
    k.check_invariants()


def test_s65_obj_get_success_new_file_ref_and_relatime_bpf_obj_get_user(
    k: pinfs.Kernel, t: pinfs.Task, m: int, p: int
) -> None:
    """bpf_obj_get_user / bpf_obj_do_get / touch_atime: a new fd on a new O_RDWR,
    close-on-exec file of the right kind (distinct from every other file), ref+1; the
    atime moves on the first GET after the pin or a chmod, not on a second GET within
    24 h, and again after a day (relatime); never on a noatime mount."""
    t.obj_pin(m, BPFFS + "/m")
    t.obj_pin(p, BPFFS + "/p")
    st0 = t.stat(BPFFS + "/m")
    g1 = t.obj_get(BPFFS + "/m")
    f = t.fd_file(g1)
    assert f is not t.fd_file(m)
    assert f.anon_name == "bpf-map"
    assert f.f_flags & os.O_ACCMODE == os.O_RDWR
    assert g1 in t.files.cloexec
    assert t.fd_object(g1).refcnt == 4  # fd, used_map, pin, this file
    st1 = t.stat(BPFFS + "/m")
    assert st1.st_atime_ns > st0.st_atime_ns
    g2 = t.obj_get(BPFFS + "/m")
    assert t.fd_file(g2) is not f
    assert t.stat(BPFFS + "/m").st_atime_ns == st1.st_atime_ns
    k.advance_clock(DAY)
    t.obj_get(BPFFS + "/m")
    st2 = t.stat(BPFFS + "/m")
    assert st2.st_atime_ns > st1.st_atime_ns
    t.chmod(BPFFS + "/m", 0o600)
    t.obj_get(BPFFS + "/m")
    assert t.stat(BPFFS + "/m").st_atime_ns > st2.st_atime_ns
    pg = t.obj_get(BPFFS + "/p")
    assert t.fd_file(pg).anon_name == "bpf-prog"
    assert t.fd_object(pg) is t.fd_object(p)
    # noatime view
    t.mkdir("/tmp/na")
    t.mount("bpf", "/tmp/na", "bpf", MS_NOATIME)
    k.advance_clock(DAY)
    before = t.stat(BPFFS + "/m").st_atime_ns
    t.obj_get("/tmp/na/m")
    assert t.stat(BPFFS + "/m").st_atime_ns == before
    k.check_invariants()


def test_s65_relatime_day_rule_compares_whole_seconds_relatime_need_update(
    k: pinfs.Kernel, t: pinfs.Task, m: int
) -> None:
    """touch_atime -> relatime_need_update (fs/inode.c, v4.4): the 24 h rule is
    ``(long)(now.tv_sec - inode->i_atime.tv_sec) >= 24*60*60``, on whole seconds, so a
    GET whose clock second is 86400 past the atime's second updates the atime even if
    slightly less than 24 h (in nanoseconds) have passed."""
    path = BPFFS + "/m"
    t.obj_pin(m, path)
    t.obj_get(path)  # the first GET after the pin sets atime = A
    a = t.stat(path).st_atime_ns
    assert a % 10**9 != 0  # A has a sub-second part
    target = (a // 10**9 + DAY) * 10**9  # the next GET's "now": same second + 1 day
    # each syscall ticks the clock by 1 ms before it runs
    k.advance_clock(Fraction(target - 10**6 - k.current_time(), 10**9))
    t.obj_get(path)
    assert target - a < DAY * 10**9  # less than a full day in nanoseconds...
    assert t.stat(path).st_atime_ns == target  # ...but tv_sec moved by 86400: update


def test_s66_obj_get_emfile_drops_the_reference_bpf_obj_get_user(
    k: pinfs.Kernel, t: pinfs.Task, m: int, p: int
) -> None:
    """bpf_obj_get_user: when bpf_*_new_fd fails (EMFILE) the reference taken by
    bpf_obj_do_get is put again (touch_atime has already run at the seed)."""
    t.obj_pin(m, BPFFS + "/m")
    t.obj_pin(p, BPFFS + "/p")
    before = refcnts(k)
    assert max(m, p) == 4  # after the console's 0, 1, 2
    t.setrlimit(RLIMIT_NOFILE, 5, 5)
    atime = t.stat(BPFFS + "/m").st_atime_ns
    assert err(t.obj_get, BPFFS + "/m") == errno.EMFILE
    assert err(t.obj_get, BPFFS + "/p") == errno.EMFILE
    assert refcnts(k) == before
    assert t.stat(BPFFS + "/m").st_atime_ns > atime
    t.close(m)
    g = t.obj_get(BPFFS + "/m")
    assert g == m
    k.check_invariants()
