"""open, rename, link, readdir, link counts, stat and statfs.

Seed semantics 8.5, 8.8 and 8.9; outcome analogues S71-S74, S79, S80, S83, S84 (on
ramfs and tmpfs, where bpffs' EPERM/ENXIO become the generic behaviour).  Kernel
functions modelled: ``build_open_flags``, ``do_last``, ``may_open``,
``do_dentry_open``, ``__alloc_fd``, ``renameat2``, ``vfs_rename``,
``simple_rename``, ``shmem_rename2``/``shmem_exchange``, ``d_move``/``d_exchange``,
``linkat``, ``vfs_link``, ``may_linkat``, ``dcache_readdir``, ``simple_statfs``,
``generic_fillattr``.
"""

from __future__ import annotations

import errno
import os
import stat

import pytest

import pinfs
from pinfs.machine.task import RLIMIT_NOFILE, Task
from support import err

O_PATH = 0o10000000
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RENAME_WHITEOUT = 4
MS_BIND = 4096
DT_DIR, DT_REG, DT_LNK, DT_FIFO, DT_CHR, DT_SOCK = 4, 8, 10, 1, 2, 12
RAMFS_MAGIC = 0x858458F6
TMPFS_MAGIC = 0x01021994


@pytest.fixture
def tmpfs(t: Task) -> str:
    t.mkdir("/mnt")
    t.mount("none", "/mnt", "tmpfs")
    return "/mnt"


@pytest.fixture
def files(t: Task) -> Task:
    """/tmp/d/, /tmp/f (0644), /tmp/secret (0600), /tmp/lf -> f, /tmp/ld -> d."""
    t.mkdir("/tmp/d")
    t.mknod("/tmp/f", stat.S_IFREG | 0o644)
    t.mknod("/tmp/secret", stat.S_IFREG | 0o600)
    t.symlink("f", "/tmp/lf")
    t.symlink("d", "/tmp/ld")
    return t


# ---------------------------------------------------------------------------------------
# open (S71-S73)


def test_s71_open_creat_excl_on_an_existing_name_is_eexist_do_last(files: Task) -> None:
    t = files
    for p in ("/tmp/f", "/tmp/d", "/tmp/lf", "/tmp/ld"):
        assert err(t.open, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST, p


def test_s71_o_directory_on_a_non_directory_is_enotdir_do_last(files: Task) -> None:
    t = files
    assert err(t.open, "/tmp/f", os.O_DIRECTORY) == errno.ENOTDIR
    assert err(t.open, "/tmp/lf", os.O_DIRECTORY) == errno.ENOTDIR
    t.close(t.open("/tmp/ld", os.O_DIRECTORY))


def test_s71_o_nofollow_o_directory_on_a_symlink_is_eloop_do_last(files: Task) -> None:
    """v4.4 do_last: an unfollowed final symlink without O_PATH is ELOOP right after
    should_follow_link, before the O_DIRECTORY check (later kernels say ENOTDIR)."""
    assert err(files.open, "/tmp/ld", os.O_NOFOLLOW | os.O_DIRECTORY) == errno.ELOOP


def test_s73_directories_open_read_only_write_is_eisdir_may_open(files: Task) -> None:
    t = files
    t.close(t.open("/tmp/d"))
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC, os.O_CREAT | os.O_RDONLY):
        assert err(t.open, "/tmp/d", flags) == errno.EISDIR, flags
    assert err(t.open, "/tmp/ld", os.O_WRONLY) == errno.EISDIR


def test_s71_o_nofollow_on_a_symlink_is_eloop_may_open(files: Task) -> None:
    t = files
    assert err(t.open, "/tmp/lf", os.O_NOFOLLOW) == errno.ELOOP
    assert err(t.open, "/tmp/lf", os.O_NOFOLLOW | os.O_CREAT | os.O_WRONLY) == errno.ELOOP
    t.close(t.open("/tmp/d/../lf"))  # followed without O_NOFOLLOW
    t.close(t.open("/tmp/ld/", os.O_NOFOLLOW))  # a trailing slash forces following


def test_s72_o_path_on_a_symlink_opens_the_link_do_dentry_open(files: Task) -> None:
    """O_PATH|O_NOFOLLOW gives an fd for the link itself; O_PATH alone follows it;
    no permission is needed and the fd holds the inode."""
    t = files
    fd = t.open("/tmp/lf", O_PATH | os.O_NOFOLLOW)
    assert stat.S_ISLNK(t.fstat(fd).st_mode)
    fd2 = t.open("/tmp/lf", O_PATH)
    assert t.fstat(fd2).st_ino == t.stat("/tmp/f").st_ino
    assert err(t.getdents, fd) == errno.EBADF  # O_PATH fds are not "open" for I/O
    fd3 = t.dup(fd)
    assert stat.S_ISLNK(t.fstat(fd3).st_mode)
    for x in (fd, fd2, fd3):
        t.close(x)


def test_s72_o_path_needs_no_permission_on_the_file_do_dentry_open(
    files: Task, k: pinfs.Kernel
) -> None:
    u = k.spawn(uid=1000)
    assert err(u.open, "/tmp/secret") == errno.EACCES
    fd = u.open("/tmp/secret", O_PATH)
    assert u.fstat(fd).st_mode == stat.S_IFREG | 0o600
    u.close(fd)
    t = files
    t.chmod("/tmp/d", 0o700)
    t.mknod("/tmp/d/x", stat.S_IFREG)
    assert err(u.open, "/tmp/d/x", O_PATH) == errno.EACCES  # the walk still needs search


def test_s72_o_path_ignores_creat_trunc_and_the_access_mode_build_open_flags(
    files: Task,
) -> None:
    """build_open_flags: with O_PATH only O_DIRECTORY|O_NOFOLLOW|O_PATH are kept, so
    O_CREAT creates nothing (ENOENT), O_TRUNC truncates nothing and O_WRONLY on a
    directory is fine."""
    t = files
    assert err(t.open, "/tmp/new", O_PATH | os.O_CREAT | os.O_WRONLY) == errno.ENOENT
    assert "new" not in t.listdir("/tmp")
    t.truncate("/tmp/f", 10)
    t.close(t.open("/tmp/f", O_PATH | os.O_TRUNC | os.O_RDWR))
    assert t.stat("/tmp/f").st_size == 10
    t.close(t.open("/tmp/d", O_PATH | os.O_WRONLY))
    assert err(t.open, "/tmp/f", O_PATH | os.O_DIRECTORY) == errno.ENOTDIR


def test_s71_o_creat_o_directory_makes_a_regular_file_in_4_4_do_last(t: Task) -> None:
    """v4.4 do_last jumps to finish_open_created after creating, skipping the
    LOOKUP_DIRECTORY check: a regular file is created and opened (since 6.4 this is
    EINVAL).  An existing file is still ENOTDIR."""
    fd = t.open("/tmp/new", os.O_CREAT | os.O_DIRECTORY | os.O_RDONLY)
    assert stat.S_ISREG(t.fstat(fd).st_mode)
    assert err(t.open, "/tmp/new", os.O_CREAT | os.O_DIRECTORY | os.O_RDONLY) == errno.ENOTDIR


def test_s71_o_noatime_needs_ownership_may_open(files: Task, k: pinfs.Kernel) -> None:
    u = k.spawn(uid=1000)
    assert err(u.open, "/tmp/f", os.O_RDONLY | os.O_NOATIME) == errno.EPERM
    u.mknod("/tmp/mine", stat.S_IFREG | 0o644)
    u.close(u.open("/tmp/mine", os.O_RDONLY | os.O_NOATIME))
    files.close(files.open("/tmp/f", os.O_RDONLY | os.O_NOATIME))  # CAP_FOWNER


def test_s71_devices_on_a_nodev_mount_are_eacces_may_open(t: Task) -> None:
    t.mkdir("/m")
    t.mount("none", "/m", "tmpfs", 4)  # MS_NODEV
    t.mknod("/m/c", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    assert err(t.open, "/m/c", os.O_RDWR) == errno.EACCES
    t.close(t.open("/m/c", O_PATH))


def test_s71_open_without_permission_is_eacces_may_open(files: Task, k: pinfs.Kernel) -> None:
    u = k.spawn(uid=1000)
    assert err(u.open, "/tmp/secret") == errno.EACCES
    assert err(u.open, "/tmp/f", os.O_WRONLY) == errno.EACCES
    assert err(u.open, "/tmp/f", os.O_RDONLY | os.O_TRUNC) == errno.EACCES
    assert err(u.open, "/tmp/f", os.O_WRONLY | os.O_APPEND) == errno.EACCES
    u.close(u.open("/tmp/f"))
    files.chmod("/tmp/d", 0o711)
    assert err(u.open, "/tmp/d") == errno.EACCES  # reading a dir needs r
    assert err(u.open, "/tmp/d", os.O_RDONLY | os.O_DIRECTORY) == errno.EACCES


def test_s71_newly_created_file_opens_without_a_permission_check_do_last(
    t: Task, k: pinfs.Kernel
) -> None:
    """FILE_CREATED: acc_mode becomes MAY_OPEN, so O_CREAT|O_RDWR with mode 0 works
    the first time and fails the second."""
    u = k.spawn(uid=1000)
    fd = u.open("/tmp/new", os.O_CREAT | os.O_RDWR, 0)
    assert u.fstat(fd).st_mode == stat.S_IFREG
    u.close(fd)
    assert err(u.open, "/tmp/new", os.O_CREAT | os.O_RDWR, 0) == errno.EACCES


def test_open_missing_is_enoent_and_file_slash_is_enotdir_do_last(files: Task) -> None:
    """S59/S60 analogue for open(2)."""
    t = files
    assert err(t.open, "/tmp/missing") == errno.ENOENT
    assert err(t.open, "/tmp/f/") == errno.ENOTDIR
    assert err(t.open, "/tmp/f/x") == errno.ENOTDIR


def test_fds_are_allocated_lowest_first___alloc_fd(files: Task) -> None:
    """S18/S65 analogue: new fds take the lowest free number."""
    t = files
    first = t.open("/tmp/f")  # 0, 1 and 2 are the console
    fds = [first, *(t.open("/tmp/f") for _ in range(4))]
    assert fds == list(range(first, first + 5))
    t.close(fds[1])
    t.close(fds[3])
    assert t.open("/tmp/f") == fds[1]
    assert t.dup(fds[0]) == fds[3]
    assert t.open("/tmp/d") == first + 5
    t.close(0)
    assert t.open("/tmp/f", O_PATH) == 0  # a console fd closed is the lowest free


def test_rlimit_nofile_gives_emfile_before_the_path_is_looked_up_do_sys_open(
    files: Task,
) -> None:
    """S19/S66 analogue. get_unused_fd_flags runs before do_filp_open: EMFILE even for missing
    paths, and dup is limited too."""
    t = files
    t.setrlimit(RLIMIT_NOFILE, 6, 4096)  # the console's 0, 1, 2 count too
    fds = [t.open("/tmp/f") for _ in range(3)]
    assert err(t.open, "/tmp/f") == errno.EMFILE
    assert err(t.open, "/tmp/missing") == errno.EMFILE
    assert err(t.open, "/tmp/new", os.O_CREAT | os.O_WRONLY) == errno.EMFILE
    assert err(t.dup, fds[0]) == errno.EMFILE
    t.close(fds[2])
    assert err(t.listdir, "/tmp") == 0
    assert "new" not in t.listdir("/tmp")
    assert t.getrlimit(RLIMIT_NOFILE) == (6, 4096)


def test_setrlimit_rules_sys_setrlimit(t: Task, k: pinfs.Kernel) -> None:
    """S19/S66 context: RLIMIT_NOFILE limits; raising the hard limit needs CAP_SYS_RESOURCE,
    and nr_open caps it."""
    u = k.spawn(uid=1000)
    assert err(u.setrlimit, RLIMIT_NOFILE, 10, 5) == errno.EINVAL
    assert err(u.setrlimit, RLIMIT_NOFILE, 10, 8192) == errno.EPERM
    u.setrlimit(RLIMIT_NOFILE, 10, 100)
    assert err(u.setrlimit, RLIMIT_NOFILE, 10, 200) == errno.EPERM
    assert err(t.setrlimit, RLIMIT_NOFILE, 10, (1 << 20) + 1) == errno.EPERM  # nr_open


def test_fds_share_the_file_across_dup_fd_install(files: Task) -> None:
    """S100 analogue: dup shares the open file description (and its position)."""
    t = files
    fd = t.open("/tmp")
    fd2 = t.dup(fd)
    assert t.fd_file(fd) is t.fd_file(fd2)
    names = [e.d_name for e in t.getdents(fd)]
    assert names == [".", "..", "ld", "lf", "secret", "f", "d"]
    assert t.getdents(fd2) == []  # the position is shared
    t.close(fd)
    t.close(fd2)


# ---------------------------------------------------------------------------------------
# rename (S79)


def test_s79_rename_onto_the_same_inode_is_a_no_op_vfs_rename(t: Task) -> None:
    """source == target (hard links, or the very same name) returns 0 and keeps both."""
    t.mknod("/tmp/a", stat.S_IFREG)
    t.link("/tmp/a", "/tmp/b")
    t.rename("/tmp/a", "/tmp/b")
    assert sorted(t.listdir("/tmp")) == ["a", "b"]
    assert t.stat("/tmp/a").st_nlink == 2
    t.rename("/tmp/a", "/tmp/a")
    t.mkdir("/tmp/d")
    t.rename("/tmp/d", "/tmp/d")
    t.rename("/tmp/d", "/tmp/d/")


def test_s79_rename_across_mounts_is_exdev_renameat2(t: Task, tmpfs: str) -> None:
    t.mknod("/tmp/f", stat.S_IFREG)
    t.mkdir(f"{tmpfs}/d")
    assert err(t.rename, "/tmp/f", f"{tmpfs}/f") == errno.EXDEV
    assert err(t.rename, f"{tmpfs}/d", "/tmp/d") == errno.EXDEV
    assert err(t.rename, "/tmp/missing", f"{tmpfs}/x") == errno.EXDEV  # before ENOENT
    t.mkdir("/tmp/b")
    t.mount(tmpfs, "/tmp/b", None, MS_BIND)  # same sb, different mount: still EXDEV
    assert err(t.rename, f"{tmpfs}/d", "/tmp/b/d2") == errno.EXDEV


def test_s79_rename_into_own_subtree_is_einval_lock_rename(t: Task) -> None:
    t.mkdir("/tmp/a")
    t.mkdir("/tmp/a/b")
    t.mkdir("/tmp/a/b/c")
    assert err(t.rename, "/tmp/a", "/tmp/a/x") == errno.EINVAL
    assert err(t.rename, "/tmp/a", "/tmp/a/b/c/x") == errno.EINVAL
    assert err(t.rename, "/tmp/a", "/tmp/a/b") == errno.EINVAL
    assert err(t.rename, "/tmp/a/b/c", "/tmp/a") == errno.ENOTEMPTY  # target is an ancestor
    assert err(t.rename, "/tmp/a/b", "/tmp") == errno.ENOTEMPTY  # /tmp is b's ancestor
    t.rename("/tmp/a/b/c", "/tmp/c")


def test_s79_directory_replacement_rules_vfs_rename(t: Task) -> None:
    """may_delete on the target: dir over file ENOTDIR, file over dir EISDIR; a
    non-empty target dir is ENOTEMPTY; an empty one is replaced."""
    t.mkdir("/tmp/a")
    t.mkdir("/tmp/empty")
    t.mkdir("/tmp/full")
    t.mknod("/tmp/full/x", stat.S_IFREG)
    t.mknod("/tmp/f", stat.S_IFREG)
    assert err(t.rename, "/tmp/a", "/tmp/f") == errno.ENOTDIR
    assert err(t.rename, "/tmp/f", "/tmp/a") == errno.EISDIR
    assert err(t.rename, "/tmp/a", "/tmp/full") == errno.ENOTEMPTY
    nlink = t.stat("/tmp").st_nlink
    t.rename("/tmp/a", "/tmp/empty")
    assert sorted(t.listdir("/tmp")) == ["empty", "f", "full"]
    assert t.stat("/tmp").st_nlink == nlink - 1


def test_s79_rename_dots_and_missing_renameat2(t: Task) -> None:
    t.mkdir("/tmp/d")
    t.mknod("/tmp/f", stat.S_IFREG)
    assert err(t.rename, "/tmp/d/.", "/tmp/x") == errno.EBUSY
    assert err(t.rename, "/tmp/d/..", "/tmp/x") == errno.EBUSY
    assert err(t.rename, "/tmp/f", "/tmp/d/.") == errno.EBUSY
    assert err(t.rename, "/tmp/f", "/tmp/d/..", RENAME_NOREPLACE) == errno.EEXIST
    assert err(t.rename, "/", "/tmp/x") == errno.EBUSY
    assert err(t.rename, "/tmp/missing", "/tmp/x") == errno.ENOENT
    assert err(t.rename, "/tmp/f", "/tmp/missing/x") == errno.ENOENT
    assert err(t.rename, "/tmp/f/", "/tmp/x") == errno.ENOTDIR
    assert err(t.rename, "/tmp/f", "/tmp/x/") == errno.ENOTDIR
    t.rename("/tmp/d/", "/tmp/e/")


def test_s79_rename_flags_renameat2(t: Task, tmpfs: str) -> None:
    """Unknown flags and NOREPLACE|EXCHANGE are EINVAL; NOREPLACE on an existing target
    is EEXIST; ramfs in 4.4 has no rename2, so any flag reaching vfs_rename is EINVAL."""
    t.mknod("/tmp/a", stat.S_IFREG)
    t.mknod("/tmp/b", stat.S_IFREG)
    assert err(t.rename, "/tmp/a", "/tmp/b", 8) == errno.EINVAL
    assert err(t.rename, "/tmp/a", "/tmp/b", RENAME_NOREPLACE | RENAME_EXCHANGE) == errno.EINVAL
    assert err(t.rename, "/tmp/a", "/tmp/b", RENAME_NOREPLACE) == errno.EEXIST
    assert err(t.rename, "/tmp/a", "/tmp/c", RENAME_NOREPLACE) == errno.EINVAL  # ramfs
    assert err(t.rename, "/tmp/a", "/tmp/b", RENAME_EXCHANGE) == errno.EINVAL  # ramfs
    m = tmpfs
    t.mknod(f"{m}/a", stat.S_IFREG)
    t.mkdir(f"{m}/d")
    t.rename(f"{m}/a", f"{m}/c", RENAME_NOREPLACE)
    assert err(t.rename, f"{m}/c", f"{m}/d", RENAME_NOREPLACE) == errno.EEXIST
    assert err(t.rename, f"{m}/c", f"{m}/zz", RENAME_EXCHANGE) == errno.ENOENT
    t.rename(f"{m}/c", f"{m}/d", RENAME_EXCHANGE)
    assert stat.S_ISDIR(t.stat(f"{m}/c").st_mode)
    assert stat.S_ISREG(t.stat(f"{m}/d").st_mode)


def test_s79_exchange_across_directories_fixes_link_counts_shmem_exchange(
    t: Task, tmpfs: str
) -> None:
    m = tmpfs
    t.mkdir(f"{m}/p")
    t.mkdir(f"{m}/q")
    t.mkdir(f"{m}/p/dir")
    t.mknod(f"{m}/q/file", stat.S_IFREG)
    assert (t.stat(f"{m}/p").st_nlink, t.stat(f"{m}/q").st_nlink) == (3, 2)
    t.rename(f"{m}/p/dir", f"{m}/q/file", RENAME_EXCHANGE)
    assert (t.stat(f"{m}/p").st_nlink, t.stat(f"{m}/q").st_nlink) == (2, 3)
    assert stat.S_ISDIR(t.stat(f"{m}/q/file").st_mode)
    assert t.stat(f"{m}/q/file/..").st_ino == t.stat(f"{m}/q").st_ino


def test_s79_exchange_stamps_both_inodes_ctime_shmem_exchange(
    t: Task, k: pinfs.Kernel, tmpfs: str
) -> None:
    m = tmpfs
    t.mknod(f"{m}/a", stat.S_IFREG)
    t.mknod(f"{m}/b", stat.S_IFREG)
    before = t.stat(f"{m}/a").st_ctime_ns
    k.advance_clock(1)
    t.rename(f"{m}/a", f"{m}/b", RENAME_EXCHANGE)
    assert t.stat(f"{m}/a").st_ctime_ns > before
    assert t.stat(f"{m}/b").st_ctime_ns > before


def test_s79_whiteout_needs_cap_mknod_and_leaves_a_whiteout_shmem_whiteout(
    t: Task, k: pinfs.Kernel, tmpfs: str
) -> None:
    """RENAME_WHITEOUT (4.4: CAP_MKNOD in the init namespace, tmpfs supports it):
    the old name becomes a 0:0 character device."""
    m = tmpfs
    t.chmod(m, 0o777)
    u = k.spawn(uid=1000)
    u.mknod(f"{m}/uf", stat.S_IFREG)
    assert err(u.rename, f"{m}/uf", f"{m}/ug", RENAME_WHITEOUT) == errno.EPERM
    assert err(t.rename, f"{m}/uf", f"{m}/ug", RENAME_WHITEOUT | RENAME_EXCHANGE) == errno.EINVAL
    t.rename(f"{m}/uf", f"{m}/ug", RENAME_WHITEOUT)
    st = t.lstat(f"{m}/uf")
    assert (st.st_mode, st.st_rdev) == (stat.S_IFCHR, 0)
    assert stat.S_ISREG(t.stat(f"{m}/ug").st_mode)


def test_s79_rename_of_a_mountpoint_is_ebusy_vfs_rename(t: Task) -> None:
    t.mkdir("/tmp/mp")
    t.mkdir("/tmp/other")
    t.mount("none", "/tmp/mp", "tmpfs")
    assert err(t.rename, "/tmp/mp", "/tmp/mp2") == errno.EBUSY
    assert err(t.rename, "/tmp/other", "/tmp/mp") == errno.EBUSY


def test_s79_moving_a_directory_updates_link_counts_simple_rename(t: Task) -> None:
    t.mkdir("/tmp/p")
    t.mkdir("/tmp/q")
    t.mkdir("/tmp/p/d")
    assert (t.stat("/tmp/p").st_nlink, t.stat("/tmp/q").st_nlink) == (3, 2)
    t.rename("/tmp/p/d", "/tmp/q/d")
    assert (t.stat("/tmp/p").st_nlink, t.stat("/tmp/q").st_nlink) == (2, 3)
    t.mkdir("/tmp/p/e")
    t.rename("/tmp/p/e", "/tmp/q/d")  # replaces an empty dir: q keeps 3
    assert (t.stat("/tmp/p").st_nlink, t.stat("/tmp/q").st_nlink) == (2, 3)
    assert t.stat("/tmp/q/d/..").st_ino == t.stat("/tmp/q").st_ino


def test_s79_moving_a_directory_needs_write_on_it_vfs_rename(t: Task, k: pinfs.Kernel) -> None:
    """Changing a directory's parent rewrites its "..": MAY_WRITE on the directory."""
    t.mkdir("/tmp/w")
    t.chmod("/tmp/w", 0o777)
    t.mkdir("/tmp/w/rootdir", 0o755)
    t.mkdir("/tmp/w/other")
    t.chmod("/tmp/w/other", 0o777)
    u = k.spawn(uid=1000)
    u.rename("/tmp/w/rootdir", "/tmp/w/renamed")  # same parent: fine
    assert err(u.rename, "/tmp/w/renamed", "/tmp/w/other/x") == errno.EACCES


# ---------------------------------------------------------------------------------------
# link (S80)


def test_s80_link_rules_vfs_link(files: Task, tmpfs: str) -> None:
    t = files
    assert err(t.link, "/tmp/f", f"{tmpfs}/f") == errno.EXDEV
    assert err(t.link, "/tmp/d", "/tmp/d2") == errno.EPERM
    assert err(t.link, "/tmp/ld/", "/tmp/d2") == errno.EPERM  # followed by the slash
    assert err(t.link, "/tmp/f", "/tmp/lf") == errno.EEXIST
    assert err(t.link, "/tmp/f", "/tmp/d") == errno.EEXIST
    assert err(t.link, "/tmp/missing", "/tmp/x") == errno.ENOENT
    assert err(t.link, "/tmp/f/", "/tmp/x") == errno.ENOTDIR
    t.link("/tmp/f", "/tmp/d/f2")
    assert t.stat("/tmp/f").st_nlink == 2
    assert t.stat("/tmp/d/f2").st_ino == t.stat("/tmp/f").st_ino
    t.link("/tmp/lf", "/tmp/lf2")  # a hard link to the symlink itself
    assert stat.S_ISLNK(t.lstat("/tmp/lf2").st_mode)
    assert t.lstat("/tmp/lf").st_nlink == 2


def test_s80_link_exdev_comes_after_eexist_linkat(files: Task, tmpfs: str) -> None:
    """user_path_create (EEXIST) runs before the vfsmount comparison (EXDEV)."""
    t = files
    t.mknod(f"{tmpfs}/x", stat.S_IFREG)
    assert err(t.link, "/tmp/f", f"{tmpfs}/x") == errno.EEXIST


def test_s80_link_without_write_permission_is_eacces_may_create(
    files: Task, k: pinfs.Kernel
) -> None:
    u = k.spawn(uid=1000)
    assert err(u.link, "/tmp/f", "/sys/f") == errno.EACCES
    assert err(u.link, "/tmp/d", "/sys/d") == errno.EACCES  # may_create before EPERM


@pytest.mark.parametrize("protected", [0, 1])
def test_s80_protected_hardlinks_may_linkat(k: pinfs.Kernel, protected: int) -> None:
    """fs.protected_hardlinks=1: only owners (or CAP_FOWNER) may link files that are
    not "safe" (regular, no setuid, no group-exec setgid, readable and writable)."""
    k.sysctl["fs.protected_hardlinks"] = protected
    t = k.init_task
    t.mknod("/tmp/rootfile", stat.S_IFREG | 0o644)
    t.mknod("/tmp/open", stat.S_IFREG)
    t.chmod("/tmp/open", 0o666)
    t.mknod("/tmp/suid", stat.S_IFREG)
    t.chmod("/tmp/suid", 0o4777)
    u = k.spawn(uid=1000)
    expected = errno.EPERM if protected else 0
    assert err(u.link, "/tmp/rootfile", "/tmp/l1") == expected
    assert err(u.link, "/tmp/suid", "/tmp/l2") == expected
    assert err(u.link, "/tmp/open", "/tmp/l3") == 0  # a safe source
    u.mknod("/tmp/mine", stat.S_IFREG | 0o600)
    assert err(u.link, "/tmp/mine", "/tmp/l4") == 0


# ---------------------------------------------------------------------------------------
# readdir (S74)


def test_s74_readdir_lists_dots_then_newest_first_dcache_readdir(t: Task) -> None:
    t.mkdir("/tmp/p")
    for n in "abc":
        t.mknod(f"/tmp/p/{n}", stat.S_IFREG)
    fd = t.open("/tmp/p", os.O_RDONLY | os.O_DIRECTORY)
    entries = t.getdents(fd)
    assert [e.d_name for e in entries] == [".", "..", "c", "b", "a"]
    assert entries[0].d_ino == t.stat("/tmp/p").st_ino
    assert entries[1].d_ino == t.stat("/tmp").st_ino
    assert t.getdents(fd) == []  # then the end
    t.close(fd)


def test_s74_recreated_and_renamed_names_go_first_again_d_alloc_d_move(t: Task) -> None:
    t.mkdir("/tmp/p")
    for n in "abcd":
        t.mknod(f"/tmp/p/{n}", stat.S_IFREG)
    t.unlink("/tmp/p/b")
    t.mknod("/tmp/p/b", stat.S_IFREG)
    assert t.listdir("/tmp/p") == ["b", "d", "c", "a"]
    t.rename("/tmp/p/c", "/tmp/p/c2")
    assert t.listdir("/tmp/p") == ["c2", "b", "d", "a"]
    t.rename("/tmp/p/a", "/tmp/p/d")  # over an existing name: the moved one goes first
    assert t.listdir("/tmp/p") == ["d", "c2", "b"]
    t.mkdir("/tmp/q")
    t.rename("/tmp/p/b", "/tmp/q/b")
    assert t.listdir("/tmp/p") == ["d", "c2"]


def test_s74_exchange_puts_both_names_first_d_exchange(t: Task, tmpfs: str) -> None:
    """__d_move(exchange): the target is moved to the head of its new parent's list,
    then the source, so the source's dentry (now under the target's name) is first."""
    m = tmpfs
    for n in "abcd":
        t.mknod(f"{m}/{n}", stat.S_IFREG)
    t.rename(f"{m}/a", f"{m}/c", RENAME_EXCHANGE)
    assert t.listdir(m) == ["c", "a", "d", "b"]


def test_s74_getdents_continues_from_its_cursor_dcache_readdir(t: Task) -> None:
    """dcache_readdir keeps a cursor dentry in d_subdirs: after the first full read
    it sits at the tail, so names created later (at the head) are not returned and
    nothing is returned twice; a fresh open sees them."""
    t.mkdir("/tmp/p")
    for n in "abc":
        t.mknod(f"/tmp/p/{n}", stat.S_IFREG)
    fd = t.open("/tmp/p")
    assert [e.d_name for e in t.getdents(fd)] == [".", "..", "c", "b", "a"]
    t.mknod("/tmp/p/new", stat.S_IFREG)
    assert t.getdents(fd) == []
    t.unlink("/tmp/p/c")
    t.unlink("/tmp/p/new")
    assert t.getdents(fd) == []
    t.close(fd)
    assert t.listdir("/tmp/p") == ["b", "a"]


def test_s74_readdir_d_types_and_negative_dentries_dcache_readdir(t: Task) -> None:
    t.mkdir("/tmp/p")
    t.mkdir("/tmp/p/dir")
    t.mknod("/tmp/p/reg", stat.S_IFREG)
    t.symlink("x", "/tmp/p/lnk")
    t.mknod("/tmp/p/fifo", stat.S_IFIFO)
    t.mknod("/tmp/p/chr", stat.S_IFCHR, os.makedev(1, 3))
    t.mknod("/tmp/p/sock", stat.S_IFSOCK)
    assert err(t.stat, "/tmp/p/missing") == errno.ENOENT  # leaves no entry behind
    fd = t.open("/tmp/p")
    types = {e.d_name: e.d_type for e in t.getdents(fd)}
    t.close(fd)
    assert types == {
        ".": DT_DIR, "..": DT_DIR, "dir": DT_DIR, "reg": DT_REG, "lnk": DT_LNK,
        "fifo": DT_FIFO, "chr": DT_CHR, "sock": DT_SOCK,
    }  # fmt: skip


def test_s74_dotdot_of_a_mount_root_is_itself_dcache_readdir(t: Task, tmpfs: str) -> None:
    """dir_emit_dots uses the dentry's own parent: a superblock root reports itself,
    also the boot root."""
    fd = t.open(tmpfs)
    dots = t.getdents(fd)[:2]
    t.close(fd)
    assert dots[0].d_ino == dots[1].d_ino == t.stat(tmpfs).st_ino
    fd = t.open("/")
    dots = t.getdents(fd)[:2]
    assert dots[0].d_ino == dots[1].d_ino == t.stat("/").st_ino


def test_s74_getdents_on_a_file_is_enotdir_and_bad_fds_ebadf_iterate_dir(files: Task) -> None:
    t = files
    fd = t.open("/tmp/f")
    assert err(t.getdents, fd) == errno.ENOTDIR
    assert err(t.getdents, 77) == errno.EBADF
    t.close(fd)
    assert err(t.getdents, fd) == errno.EBADF


# ---------------------------------------------------------------------------------------
# stat and statfs (S83, S84)


def test_s84_boot_tree_stat_generic_fillattr(t: Task) -> None:
    """The boot tree: "/" 0755 with /dev, /tmp and /sys (nlink 5), /tmp 01777,
    /sys/fs/bpf 0755, /dev/console crw------- (5:1), all root-owned, st_blksize 4096,
    st_blocks 0."""
    expected = {
        "/": 0o755, "/dev": 0o755, "/tmp": 0o1777, "/sys": 0o755, "/sys/fs": 0o755,
        "/sys/fs/bpf": 0o755,
    }  # fmt: skip
    for path, mode in expected.items():
        st = t.stat(path)
        assert st.st_mode == stat.S_IFDIR | mode, path
        assert (st.st_uid, st.st_gid, st.st_blksize, st.st_blocks) == (0, 0, 4096, 0)
    assert t.stat("/").st_nlink == 5
    assert t.stat("/sys/fs/bpf").st_nlink == 2
    assert sorted(t.listdir("/")) == ["dev", "sys", "tmp"]
    console = t.stat("/dev/console")
    assert (console.st_mode, console.st_rdev, console.st_uid) == (stat.S_IFCHR | 0o600, 0x501, 0)
    assert t.stat("/").st_dev == t.stat("/sys/fs/bpf").st_dev


def test_s84_tmpfs_root_mode_and_owner_shmem_fill_super(t: Task, k: pinfs.Kernel) -> None:
    """tmpfs's root defaults to 01777 owned by the mounter; mode= overrides it."""
    t.mkdir("/a")
    t.mkdir("/b")
    t.mount("none", "/a", "tmpfs")
    t.mount("none", "/b", "tmpfs", 0, "mode=0700")
    assert t.stat("/a").st_mode == stat.S_IFDIR | 0o1777
    assert t.stat("/b").st_mode == stat.S_IFDIR | 0o700
    assert t.stat("/a").st_nlink == 2


def test_s84_ramfs_root_mode_ramfs_fill_super(t: Task) -> None:
    t.mkdir("/a")
    t.mount("none", "/a", "ramfs")
    assert t.stat("/a").st_mode == stat.S_IFDIR | 0o755
    t.mkdir("/b")
    t.mount("none", "/b", "ramfs", 0, "mode=1777")
    assert t.stat("/b").st_mode == stat.S_IFDIR | 0o1777


def test_s83_statfs_magic_numbers_simple_statfs(t: Task, tmpfs: str) -> None:
    """ramfs 0x858458f6, tmpfs 0x01021994; bsize 4096, namelen 255; ST_RELATIME set."""
    for path, magic in (("/", RAMFS_MAGIC), ("/tmp", RAMFS_MAGIC), (tmpfs, TMPFS_MAGIC)):
        sf = t.statfs(path)
        assert (sf.f_type, sf.f_bsize, sf.f_namelen) == (magic, 4096, 255), path
        assert sf.f_flags & 4096  # ST_RELATIME
    assert err(t.statfs, "/missing") == errno.ENOENT
    t.mknod(f"{tmpfs}/f", stat.S_IFREG)
    assert t.statfs(f"{tmpfs}/f").f_type == TMPFS_MAGIC


def test_fstat_of_o_path_and_closed_fds_vfs_fstat(files: Task) -> None:
    """S20/S72 analogue: fstat works on O_PATH fds, EBADF on closed or negative ones."""
    t = files
    fd = t.open("/tmp/d", O_PATH)
    assert stat.S_ISDIR(t.fstat(fd).st_mode)
    t.close(fd)
    assert err(t.fstat, fd) == errno.EBADF
    assert err(t.fstat, -1) == errno.EBADF
