"""Path walk and getname (seed semantics 8.1, 8.2; outcomes S43, S46, S52, S59, S60 analogues).

The generic behaviour is tested on the root ramfs and on tmpfs mounts, since bpffs
does not exist yet.  Kernel functions modelled: ``getname_flags``, ``path_init``,
``link_path_walk``, ``walk_component``, ``may_lookup``, ``follow_dotdot``,
``follow_managed``, ``pick_link``/``get_link``, ``lookup_last``, ``simple_lookup``,
``lookup_real``.
"""

from __future__ import annotations

import errno
import os
import stat

import pytest

import pinfs
from pinfs.machine.task import Task
from support import err


def ino(t: Task, path: str) -> int:
    return t.stat(path).st_ino


@pytest.fixture
def tree(t: Task) -> Task:
    """/tmp/d/e/f (file), /tmp/g (file), /tmp/ld -> d, /tmp/lf -> g."""
    t.mkdir("/tmp/d")
    t.mkdir("/tmp/d/e")
    t.mknod("/tmp/d/e/f", stat.S_IFREG | 0o644)
    t.mknod("/tmp/g", stat.S_IFREG | 0o644)
    t.symlink("d", "/tmp/ld")
    t.symlink("g", "/tmp/lf")
    return t


# ---------------------------------------------------------------------------------------
# getname (8.1, S43)


def test_s43_empty_path_is_enoent_getname(t: Task) -> None:
    """getname_flags without LOOKUP_EMPTY: "" is ENOENT for every path syscall."""
    for call in (t.stat, t.lstat, t.mkdir, t.rmdir, t.unlink, t.open, t.chdir, t.readlink):
        assert err(call, "") == errno.ENOENT, call
    assert err(t.mknod, "", stat.S_IFREG) == errno.ENOENT
    assert err(t.symlink, "x", "") == errno.ENOENT
    assert err(t.rename, "", "/tmp/x") == errno.ENOENT
    assert err(t.link, "/tmp", "") == errno.ENOENT


def test_s43_symlink_with_empty_target_is_enoent_getname(t: Task) -> None:
    """sys_symlinkat copies the target with getname: "" gives ENOENT, nothing is made."""
    assert err(t.symlink, "", "/tmp/s") == errno.ENOENT
    assert t.listdir("/tmp") == []


def test_s43_path_of_4095_bytes_works_4096_is_enametoolong_getname(t: Task) -> None:
    """PATH_MAX counts the NUL: 4095 characters are accepted, 4096 are ENAMETOOLONG."""
    assert stat.S_ISDIR(t.stat("/tmp" + "/" * 4091).st_mode)  # 4095 bytes
    assert err(t.stat, "/tmp" + "/" * 4092) == errno.ENAMETOOLONG  # 4096 bytes
    assert err(t.stat, "/" * 5000) == errno.ENAMETOOLONG
    assert err(t.mkdir, "/tmp/" + "x/" * 2046) == errno.ENAMETOOLONG  # 4097
    assert err(t.mkdir, "./" * 2048) == errno.ENAMETOOLONG  # relative, 4096


def test_s43_path_limit_counts_bytes_not_characters_getname(t: Task) -> None:
    """The limit is in bytes of the encoded name: 2048 two-byte characters are 4096."""
    assert err(t.stat, "é" * 2048) == errno.ENAMETOOLONG
    assert err(t.stat, "é" * 2047 + "a") == errno.ENAMETOOLONG  # 4095 bytes: walked
    assert err(t.stat, "/" * 4094 + "é") == errno.ENAMETOOLONG  # 4096 bytes


def test_s43_enametoolong_comes_before_the_walk_getname(t: Task) -> None:
    """getname fails before any lookup: a too long name under a missing dir is not ENOENT."""
    assert err(t.stat, "/missing/" + "a" * 4100) == errno.ENAMETOOLONG
    assert err(t.mkdir, "/missing/" + "a" * 4100) == errno.ENAMETOOLONG


def test_s43_bytes_paths_are_accepted_getname(t: Task) -> None:
    """bytes paths work like their os.fsdecode form (surrogateescape round trip)."""
    t.mkdir(b"/tmp/raw\xff")
    assert t.listdir("/tmp") == ["raw\udcff"]
    assert stat.S_ISDIR(t.stat(b"/tmp/raw\xff").st_mode)
    assert t.stat("/tmp/raw\udcff").st_ino == t.stat(b"/tmp/raw\xff").st_ino


def test_s69_mknod_checks_the_type_before_copying_the_path_mknodat(t: Task) -> None:
    """sys_mknodat runs may_mknod before user_path_create (which copies the name):
    S_IFDIR is EPERM and a bad type EINVAL even for "" or a 4096-byte path."""
    assert err(t.mknod, "", stat.S_IFDIR) == errno.EPERM
    assert err(t.mknod, "/tmp/" + "a" * 4100, stat.S_IFDIR) == errno.EPERM
    assert err(t.mknod, "", 0o170000) == errno.EINVAL
    assert err(t.mknod, "", stat.S_IFLNK) == errno.EINVAL


def test_flag_checks_come_before_copying_the_path_renameat2_truncate_umount(
    t: Task, k: pinfs.Kernel
) -> None:
    """S43 analogue (what is checked before getname). Checks made before getname: renameat2's
    flag checks (EINVAL), do_sys_truncate's negative length (EINVAL), sys_umount's flag
    check and may_mount (EINVAL, EPERM)."""
    assert err(t.rename, "", "", 1 << 7) == errno.EINVAL
    assert err(t.rename, "", "/tmp/x", 3) == errno.EINVAL  # NOREPLACE|EXCHANGE
    assert err(t.truncate, "", -1) == errno.EINVAL
    assert err(t.truncate, "/tmp/" + "a" * 4100, -1) == errno.EINVAL
    assert err(t.umount, "", 1 << 8) == errno.EINVAL
    u = k.spawn(uid=1000)
    assert err(u.umount, "") == errno.EPERM
    assert err(u.umount, "/tmp/" + "a" * 4100) == errno.EPERM


def test_the_old_name_is_resolved_before_the_new_one_is_copied_linkat_renameat2(
    t: Task,
) -> None:
    """S43/S46 analogue. linkat resolves the old name (user_path_at) before copying the new one, and
    renameat2 walks the old parent before copying the new name: ENOENT, not
    ENAMETOOLONG, when the old name is missing."""
    long = "/tmp/" + "n" * 4100
    assert err(t.link, "/tmp/missing", long) == errno.ENOENT
    assert err(t.rename, "/tmp/missing/x", long) == errno.ENOENT
    assert err(t.link, long, "/tmp/x") == errno.ENAMETOOLONG


# ---------------------------------------------------------------------------------------
# Where the walk starts, ".", ".." and repeated slashes (8.2)


def test_s46_absolute_and_relative_paths_path_init(tree: Task) -> None:
    """path_init: "/..." starts at the task's root, anything else at the cwd."""
    t = tree
    f = ino(t, "/tmp/d/e/f")
    t.chdir("/tmp/d")
    assert ino(t, "e/f") == f
    assert ino(t, "./e/./f") == f
    assert ino(t, "/tmp/d/e/f") == f
    assert t.getcwd() == "/tmp/d"
    t.chdir("e")
    assert t.getcwd() == "/tmp/d/e"
    assert ino(t, "f") == f


def test_s46_repeated_slashes_collapse_link_path_walk(tree: Task) -> None:
    """Repeated slashes are skipped between components."""
    t = tree
    f = ino(t, "/tmp/d/e/f")
    assert ino(t, "//tmp///d////e/f") == f
    assert ino(t, "/tmp/d/./e/.//f") == f
    assert ino(t, "///") == ino(t, "/")


def test_s46_dot_and_dotdot_walk_component(tree: Task) -> None:
    """ "." stays, ".." goes to the parent (physically, not lexically)."""
    t = tree
    assert ino(t, "/tmp/d/e/..") == ino(t, "/tmp/d")
    assert ino(t, "/tmp/d/e/../../g") == ino(t, "/tmp/g")
    assert ino(t, "/tmp/d/.") == ino(t, "/tmp/d")
    # ".." after a symlink is the parent of the link's target, not of the link.
    t.symlink("d/e", "/tmp/le")
    assert ino(t, "/tmp/le/..") == ino(t, "/tmp/d")


def test_s46_dotdot_at_the_root_stays_follow_dotdot(t: Task) -> None:
    """follow_dotdot never climbs above the task's root."""
    root = ino(t, "/")
    assert ino(t, "/..") == root
    assert ino(t, "/../../..") == root
    assert ino(t, "/../tmp/../..") == root
    t.chdir("/")
    assert ino(t, "..") == root
    assert ino(t, "../tmp") == ino(t, "/tmp")


def test_s46_dotdot_at_a_mount_root_crosses_to_the_parent_mount_follow_dotdot(t: Task) -> None:
    """follow_dotdot: at a mount's root ".." continues from the mountpoint upward."""
    t.mkdir("/mnt")
    t.mkdir("/mnt/under")  # hidden by the mount
    t.mount("none", "/mnt", "tmpfs")
    t.mkdir("/mnt/sub")
    st_root, st_mnt = t.stat("/"), t.stat("/mnt")
    assert st_mnt.st_dev != st_root.st_dev
    assert t.stat("/mnt/..").st_ino == st_root.st_ino
    assert t.stat("/mnt/..").st_dev == st_root.st_dev
    assert ino(t, "/mnt/sub/../../tmp") == ino(t, "/tmp")
    t.chdir("/mnt/sub")
    assert t.getcwd() == "/mnt/sub"
    assert ino(t, "../..") == st_root.st_ino
    t.chdir("..")
    assert (t.stat(".").st_dev, t.getcwd()) == (st_mnt.st_dev, "/mnt")
    t.chdir("..")
    assert t.getcwd() == "/"


def test_s46_dotdot_through_stacked_mounts_follow_dotdot(t: Task) -> None:
    """Two mounts stacked on one mountpoint: ".." from the top one lands in the parent
    of the mountpoint, not in the lower mount."""
    t.mkdir("/mnt")
    t.mount("none", "/mnt", "tmpfs")
    lower = t.stat("/mnt").st_dev
    t.mount("none", "/mnt", "tmpfs")
    upper = t.stat("/mnt").st_dev
    assert upper != lower
    assert t.stat("/mnt/..").st_dev == t.stat("/").st_dev


def test_s46_mounts_are_followed_downward_follow_managed(t: Task) -> None:
    """A mounted directory shows the mounted tree, with the top-most mount winning."""
    t.mkdir("/mnt")
    t.mknod("/mnt/under", stat.S_IFREG)
    t.mount("none", "/mnt", "tmpfs")
    assert t.listdir("/mnt") == []
    assert err(t.stat, "/mnt/under") == errno.ENOENT
    t.mknod("/mnt/over", stat.S_IFREG)
    assert t.statfs("/mnt/over").f_type == 0x01021994
    t.umount("/mnt")
    assert t.listdir("/mnt") == ["under"]


def test_s46_missing_intermediate_is_enoent_link_path_walk(tree: Task) -> None:
    """A missing component in the middle gives ENOENT, even before ".."."""
    t = tree
    assert err(t.stat, "/tmp/missing/f") == errno.ENOENT
    assert err(t.stat, "/tmp/missing/..") == errno.ENOENT
    assert err(t.mkdir, "/tmp/missing/x") == errno.ENOENT
    assert err(t.open, "/tmp/missing/x", os.O_CREAT | os.O_WRONLY) == errno.ENOENT
    assert err(t.unlink, "/tmp/missing/x") == errno.ENOENT
    assert err(t.stat, "/tmp/d/missing") == errno.ENOENT


def test_s46_file_in_the_middle_is_enotdir_link_path_walk(tree: Task) -> None:
    """A non-directory in the middle of a path gives ENOTDIR (link_path_walk)."""
    t = tree
    assert err(t.stat, "/tmp/g/x") == errno.ENOTDIR
    assert err(t.stat, "/tmp/g/.") == errno.ENOTDIR
    assert err(t.stat, "/tmp/g/..") == errno.ENOTDIR
    assert err(t.mkdir, "/tmp/g/x") == errno.ENOTDIR
    assert err(t.stat, "/tmp/lf/x") == errno.ENOTDIR  # a link to a file, followed
    assert err(t.unlink, "/tmp/d/e/f/x") == errno.ENOTDIR


def test_s46_component_of_255_bytes_works_256_is_enametoolong_simple_lookup(t: Task) -> None:
    """NAME_MAX: ->lookup (simple_lookup) refuses names over 255 bytes."""
    t.mkdir("/tmp/" + "a" * 255)
    t.mknod("/tmp/" + "a" * 255 + "/" + "b" * 255, stat.S_IFREG)
    assert err(t.mkdir, "/tmp/" + "a" * 256) == errno.ENAMETOOLONG
    assert err(t.stat, "/tmp/" + "a" * 256) == errno.ENAMETOOLONG
    assert err(t.stat, "/tmp/" + "a" * 256 + "/x") == errno.ENAMETOOLONG
    assert err(t.unlink, "/tmp/" + "a" * 256) == errno.ENAMETOOLONG
    assert err(t.open, "/tmp/" + "z" * 256, os.O_CREAT | os.O_WRONLY) == errno.ENAMETOOLONG
    assert t.listdir("/tmp") == ["a" * 255]


def test_s46_name_max_counts_bytes_simple_lookup(t: Task) -> None:
    """NAME_MAX is 255 *bytes*: 127 two-byte characters and one ASCII byte (255) fit,
    128 two-byte characters (256 bytes) do not."""
    t.mkdir("/tmp/" + "é" * 127 + "a")
    assert err(t.mkdir, "/tmp/" + "é" * 128) == errno.ENAMETOOLONG
    assert err(t.mkdir, b"/tmp/" + b"\xff" * 256) == errno.ENAMETOOLONG
    assert t.listdir("/tmp") == ["é" * 127 + "a"]


def test_s46_search_permission_on_every_directory_may_lookup(t: Task, k: pinfs.Kernel) -> None:
    """may_lookup: each directory walked through needs MAY_EXEC; the final component's
    own mode does not matter for stat, and "d/." needs search permission on d."""
    t.mkdir("/tmp/a", 0o755)
    t.mkdir("/tmp/a/b", 0o755)
    t.mkdir("/tmp/a/b/c", 0o755)
    t.mknod("/tmp/a/b/c/f", stat.S_IFREG | 0o644)
    u = k.spawn(uid=1000)
    assert stat.S_ISREG(u.stat("/tmp/a/b/c/f").st_mode)
    for d in ("/tmp/a", "/tmp/a/b", "/tmp/a/b/c"):
        t.chmod(d, 0o744)  # read but no search
        assert err(u.stat, "/tmp/a/b/c/f") == errno.EACCES, d
        assert err(u.stat, "/tmp/a/b/c/missing") == errno.EACCES, d
        assert err(u.stat, d + "/.") == errno.EACCES
        assert err(u.stat, d + "/..") == errno.EACCES
        assert stat.S_ISDIR(u.stat(d).st_mode)
        assert stat.S_ISDIR(u.stat(d + "/").st_mode)
        t.chmod(d, 0o711)  # search only: walking works
        assert stat.S_ISREG(u.stat("/tmp/a/b/c/f").st_mode)
        assert err(u.listdir, d) == errno.EACCES
        t.chmod(d, 0o755)


def test_s46_search_permission_on_the_starting_directory_may_lookup(
    t: Task, k: pinfs.Kernel
) -> None:
    """A relative walk checks search permission on the cwd itself (may_lookup runs
    before the first component), even after the cwd lost its x bit."""
    t.mkdir("/tmp/w", 0o755)
    t.mknod("/tmp/w/f", stat.S_IFREG | 0o644)
    u = k.spawn(uid=1000)
    u.chdir("/tmp/w")
    t.chmod("/tmp/w", 0o644)
    assert err(u.stat, "f") == errno.EACCES
    assert err(u.stat, "./f") == errno.EACCES
    assert stat.S_ISDIR(u.stat("/tmp/w").st_mode)


def test_s46_search_permission_checked_before_enametoolong_may_lookup(
    t: Task, k: pinfs.Kernel
) -> None:
    """may_lookup comes before ->lookup, so EACCES wins over ENAMETOOLONG."""
    t.mkdir("/tmp/closed", 0o700)
    u = k.spawn(uid=1000)
    assert err(u.stat, "/tmp/closed/" + "n" * 256) == errno.EACCES
    assert err(u.mkdir, "/tmp/closed/" + "n" * 256) == errno.EACCES


# ---------------------------------------------------------------------------------------
# Symlinks (8.2)


def test_s46_symlinks_in_the_middle_are_always_followed_walk_component(tree: Task) -> None:
    """Intermediate symlinks are followed, including for lstat/unlink/mkdir."""
    t = tree
    assert ino(t, "/tmp/ld/e/f") == ino(t, "/tmp/d/e/f")
    assert stat.S_ISREG(t.lstat("/tmp/ld/e/f").st_mode)
    t.mkdir("/tmp/ld/new")
    assert "new" in t.listdir("/tmp/d")
    t.unlink("/tmp/ld/e/f")
    assert t.listdir("/tmp/d/e") == []


def test_s59_final_symlink_follow_vs_nofollow_lookup_last(tree: Task) -> None:
    """The last component is followed only with LOOKUP_FOLLOW (stat, open, chdir) and
    not by lstat, readlink, unlink, rename, link."""
    t = tree
    assert stat.S_ISLNK(t.lstat("/tmp/lf").st_mode)
    assert t.stat("/tmp/lf").st_ino == ino(t, "/tmp/g")
    assert t.readlink("/tmp/lf") == "g"
    t.chdir("/tmp/ld")
    assert t.getcwd() == "/tmp/d"
    t.chdir("/")
    t.link("/tmp/lf", "/tmp/lf2")  # link(2) does not follow
    assert stat.S_ISLNK(t.lstat("/tmp/lf2").st_mode)
    assert t.lstat("/tmp/lf2").st_nlink == 2
    t.unlink("/tmp/lf")
    assert stat.S_ISREG(t.stat("/tmp/g").st_mode)


def test_s59_relative_symlink_resolves_from_the_links_directory_get_link(tree: Task) -> None:
    """A relative body starts at the directory holding the link, an absolute one at
    the task's root; ".." inside the body is physical."""
    t = tree
    t.symlink("e/f", "/tmp/d/rel")
    t.symlink("/tmp/d/e", "/tmp/d/e/abs")
    t.symlink("../../g", "/tmp/d/e/up")
    f = ino(t, "/tmp/d/e/f")
    assert ino(t, "/tmp/d/rel") == f
    t.chdir("/tmp")
    assert ino(t, "d/rel") == f  # not relative to the cwd
    assert ino(t, "d/e/abs/f") == f
    assert ino(t, "d/e/abs/abs/abs/f") == f
    assert ino(t, "d/e/up") == ino(t, "/tmp/g")


def test_s46_forty_symlinks_resolve_the_41st_is_eloop_pick_link(t: Task) -> None:
    """MAXSYMLINKS = 40 links per walk (nested or chained): the 41st gives ELOOP."""
    t.mkdir("/tmp/target")
    t.mknod("/tmp/target/f", stat.S_IFREG)
    t.symlink("target", "/tmp/l1")
    for i in range(2, 42):
        t.symlink(f"l{i - 1}", f"/tmp/l{i}")
    assert stat.S_ISDIR(t.stat("/tmp/l40").st_mode)
    assert stat.S_ISREG(t.stat("/tmp/l40/f").st_mode)
    assert err(t.stat, "/tmp/l41") == errno.ELOOP
    assert err(t.stat, "/tmp/l41/f") == errno.ELOOP
    assert err(t.stat, "/tmp/l41/") == errno.ELOOP
    assert err(t.open, "/tmp/l41") == errno.ELOOP
    assert err(t.chdir, "/tmp/l41") == errno.ELOOP
    assert err(t.mkdir, "/tmp/l41/x") == errno.ELOOP
    assert stat.S_ISLNK(t.lstat("/tmp/l41").st_mode)  # not followed
    # The count is per walk: two chains of 20 add up.
    t.symlink("l20/f", "/tmp/m")
    t.symlink("m", "/tmp/n")  # 1 + 1 + 20 = 22 links
    assert stat.S_ISREG(t.stat("/tmp/n").st_mode)
    t.symlink("l39/f", "/tmp/p")
    t.symlink("p", "/tmp/q")  # 1 + 1 + 39 = 41 links
    assert err(t.stat, "/tmp/q") == errno.ELOOP


def test_s46_self_referencing_symlink_is_eloop_pick_link(t: Task) -> None:
    """A link to itself loops until the limit: ELOOP, while lstat/readlink work."""
    t.symlink("loop", "/tmp/loop")
    t.symlink("b", "/tmp/a")
    t.symlink("a", "/tmp/b")
    for p in ("/tmp/loop", "/tmp/a", "/tmp/loop/x", "/tmp/b/"):
        assert err(t.stat, p) == errno.ELOOP, p
    assert err(t.open, "/tmp/loop", os.O_CREAT | os.O_WRONLY) == errno.ELOOP
    assert t.readlink("/tmp/loop") == "loop"
    assert stat.S_ISLNK(t.lstat("/tmp/a").st_mode)


def test_s59_dangling_symlink_lookup_last(t: Task) -> None:
    """A dangling link: ENOENT when followed, visible to lstat and readlink."""
    t.symlink("/tmp/nowhere", "/tmp/dang")
    assert err(t.stat, "/tmp/dang") == errno.ENOENT
    assert err(t.open, "/tmp/dang") == errno.ENOENT
    assert err(t.stat, "/tmp/dang/x") == errno.ENOENT
    assert err(t.chdir, "/tmp/dang") == errno.ENOENT
    st = t.lstat("/tmp/dang")
    assert stat.S_ISLNK(st.st_mode)
    assert st.st_size == len("/tmp/nowhere")
    assert t.readlink("/tmp/dang") == "/tmp/nowhere"
    assert t.listdir("/tmp") == ["dang"]


def test_readlink_of_a_non_symlink_is_einval_readlinkat(tree: Task) -> None:
    """S59 analogue. readlink(2): EINVAL for anything but a symlink; ENOENT when missing."""
    t = tree
    assert err(t.readlink, "/tmp/g") == errno.EINVAL
    assert err(t.readlink, "/tmp/d") == errno.EINVAL
    assert err(t.readlink, "/tmp/nope") == errno.ENOENT
    assert err(t.readlink, "/tmp/ld/") == errno.EINVAL  # the slash follows the link


def test_symlink_mode_is_0777_regardless_of_umask_ramfs_symlink(t: Task) -> None:
    """S81 analogue. ramfs_symlink: S_IFLNK|0777; the body's byte length is the size."""
    t.umask(0o077)
    t.symlink("é", "/tmp/s")
    st = t.lstat("/tmp/s")
    assert st.st_mode == stat.S_IFLNK | 0o777
    assert st.st_size == 2


# ---------------------------------------------------------------------------------------
# Trailing slashes (lookup_last, S60)


def test_s60_trailing_slash_on_a_file_is_enotdir_lookup_last(tree: Task) -> None:
    """A trailing "/" requires a directory: ENOTDIR for files, followed links to files
    and (for lstat too) since the slash forces following."""
    t = tree
    for call in (t.stat, t.lstat, t.chdir, t.open, t.readlink):
        assert err(call, "/tmp/g/") == errno.ENOTDIR, call
    assert err(t.stat, "/tmp/lf/") == errno.ENOTDIR
    assert err(t.lstat, "/tmp/lf/") == errno.ENOTDIR
    assert err(t.chmod, "/tmp/g/", 0o600) == errno.ENOTDIR
    assert err(t.truncate, "/tmp/g/", 0) == errno.ENOTDIR


def test_s60_trailing_slash_on_a_directory_or_link_to_one_lookup_last(tree: Task) -> None:
    """ "dir/" and "dir//" are the dir; "link-to-dir/" is followed even by lstat."""
    t = tree
    d = ino(t, "/tmp/d")
    assert ino(t, "/tmp/d/") == d
    assert ino(t, "/tmp/d//") == d
    assert t.lstat("/tmp/ld/").st_ino == d
    assert stat.S_ISLNK(t.lstat("/tmp/ld").st_mode)
    assert err(t.stat, "/tmp/missing/") == errno.ENOENT


# ---------------------------------------------------------------------------------------
# Dead directories (S52)


def test_s52_lookup_in_a_removed_cwd_is_enoent_lookup_real(t: Task, k: pinfs.Kernel) -> None:
    """After rmdir of the cwd, lookups and creation in it give ENOENT, "." still
    works, getcwd fails with ENOENT and getdents gives ENOENT (iterate_dir)."""
    t.mkdir("/tmp/d")
    u = k.spawn(uid=0)
    u.chdir("/tmp/d")
    t.rmdir("/tmp/d")
    assert u.stat(".").st_nlink == 0
    assert err(u.stat, "x") == errno.ENOENT
    assert err(u.mkdir, "x") == errno.ENOENT
    assert err(u.mknod, "x", stat.S_IFREG) == errno.ENOENT
    assert err(u.open, "x", os.O_CREAT | os.O_WRONLY) == errno.ENOENT
    assert err(u.symlink, "t", "x") == errno.ENOENT
    assert err(u.getcwd) == errno.ENOENT
    fd = u.open(".", os.O_RDONLY | os.O_DIRECTORY)
    assert err(u.getdents, fd) == errno.ENOENT
    u.close(fd)
    assert err(u.listdir, ".") == errno.ENOENT
    assert u.stat("..").st_ino == t.stat("/tmp").st_ino
    u.chdir("..")
    assert u.getcwd() == "/tmp"


def test_s52_dead_dir_gives_enoent_before_eacces_may_create(t: Task, k: pinfs.Kernel) -> None:
    """lookup_real's IS_DEADDIR check runs before may_create's permission check."""
    t.mkdir("/tmp/d", 0o700)
    u = k.spawn(uid=1000, caps=[pinfs.base.cred.CAP_DAC_READ_SEARCH])
    u.chdir("/tmp/d")
    t.rmdir("/tmp/d")
    assert err(u.mkdir, "x") == errno.ENOENT


def test_getcwd_follows_renames_and_mounts_d_path(t: Task) -> None:
    """S52 context: getcwd reports the current name of the cwd, across mounts."""
    t.mkdir("/tmp/a")
    t.mkdir("/tmp/a/b")
    t.chdir("/tmp/a/b")
    t.rename("/tmp/a", "/tmp/z")
    assert t.getcwd() == "/tmp/z/b"
    t.mkdir("/tmp/z/b/m")
    t.mount("none", "/tmp/z/b/m", "tmpfs")
    t.chdir("m")
    assert t.getcwd() == "/tmp/z/b/m"
