"""Permission checks and attribute changes.

Seed semantics 8.7 and 8.9; outcome analogues S61-S63 (read-only superblock vs
read-only mount, MAY_WRITE) and S82 (chmod/chown/truncate) on ramfs and tmpfs.
Kernel functions modelled: ``acl_permission_check``, ``generic_permission``,
``capable_wrt_inode_uidgid``, ``sb_permission``, ``inode_permission``, ``may_open``,
``chmod_common``, ``chown_common``, ``notify_change``, ``inode_change_ok``,
``setattr_copy``, ``simple_setattr``, ``shmem_setattr``, ``vfs_truncate``,
``do_truncate``, ``handle_truncate``.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import pytest

import pinfs
from pinfs.base.cred import CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID
from pinfs.fs.namei import path_lookupat
from pinfs.fs.permission import generic_permission
from pinfs.machine.task import CLONE_NEWUSER, Task
from pinfs.vfs import MAY_EXEC, MAY_READ, MAY_WRITE
from support import err

MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
O_PATH = 0o10000000


def can_open(task: Task, path: str, flags: int) -> int:
    """0 if ``open(path, flags)`` works (the fd is closed again), else the errno."""
    try:
        fd = task.open(path, flags)
    except OSError as e:
        return e.errno or 0
    task.close(fd)
    return 0


def inode(t: Task, path: str) -> Any:
    found = path_lookupat(t, path, follow=False)
    return found.dentry.d_inode


# ---------------------------------------------------------------------------------------
# acl_permission_check / generic_permission


def test_owner_bits_apply_to_the_owner_even_if_group_allows_acl_permission_check(
    t: Task, k: pinfs.Kernel
) -> None:
    """S53/S63 analogue. The owner gets the owner bits only; group members the group bits;
    others the other bits, in that order (no fallthrough)."""
    t.mknod("/tmp/f", stat.S_IFREG)
    t.chown("/tmp/f", 1000, 3000)
    t.chmod("/tmp/f", 0o404)
    owner = k.spawn(uid=1000, gid=3000)
    member = k.spawn(uid=1001, gid=1001, groups=(3000,))
    fsgid_member = k.spawn(uid=1002, gid=3000)
    other = k.spawn(uid=1003)
    assert can_open(owner, "/tmp/f", os.O_RDONLY) == 0
    assert can_open(owner, "/tmp/f", os.O_WRONLY) == errno.EACCES
    t.chmod("/tmp/f", 0o064)
    assert can_open(owner, "/tmp/f", os.O_RDONLY) == errno.EACCES
    assert can_open(member, "/tmp/f", os.O_RDWR) == 0
    assert can_open(fsgid_member, "/tmp/f", os.O_RDWR) == 0
    assert can_open(other, "/tmp/f", os.O_RDONLY) == 0
    assert can_open(other, "/tmp/f", os.O_WRONLY) == errno.EACCES
    t.chmod("/tmp/f", 0o460)
    assert can_open(other, "/tmp/f", os.O_RDONLY) == errno.EACCES


def test_root_without_capabilities_is_an_ordinary_owner_generic_permission(
    t: Task, k: pinfs.Kernel
) -> None:
    """S63 analogue. uid 0 with an empty capability set gets no DAC override."""
    t.mknod("/tmp/f", stat.S_IFREG | 0o000)
    t.chown("/tmp/f", 1000, 1000)
    t.mkdir("/tmp/d", 0o700)
    t.chown("/tmp/d", 1000, 1000)
    bare = k.spawn(uid=0, caps=())
    assert can_open(bare, "/tmp/f", os.O_RDONLY) == errno.EACCES
    assert err(bare.stat, "/tmp/d/x") == errno.EACCES
    assert can_open(t, "/tmp/f", os.O_RDWR) == 0  # init has every capability


def test_cap_dac_override_on_files_and_dirs_generic_permission(t: Task, k: pinfs.Kernel) -> None:
    """S53/S63 analogue. CAP_DAC_OVERRIDE: read and write any file; everything on directories."""
    t.mknod("/tmp/f", stat.S_IFREG | 0o000)
    t.mkdir("/tmp/d", 0o000)
    w = k.spawn(uid=1000, caps=[CAP_DAC_OVERRIDE])
    assert can_open(w, "/tmp/f", os.O_RDWR) == 0
    assert w.listdir("/tmp/d") == []
    w.mkdir("/tmp/d/x")
    assert err(w.stat, "/tmp/d/x/missing") == errno.ENOENT


def test_cap_dac_read_search_reads_but_never_writes_generic_permission(
    t: Task, k: pinfs.Kernel
) -> None:
    """S63 analogue. CAP_DAC_READ_SEARCH: read files, read and search directories; no writing."""
    t.mknod("/tmp/f", stat.S_IFREG | 0o000)
    t.mkdir("/tmp/d", 0o000)
    t.mknod("/tmp/d/inner", stat.S_IFREG | 0o000)
    w = k.spawn(uid=1000, caps=[CAP_DAC_READ_SEARCH])
    assert can_open(w, "/tmp/f", os.O_RDONLY) == 0
    assert can_open(w, "/tmp/f", os.O_WRONLY) == errno.EACCES
    assert can_open(w, "/tmp/f", os.O_RDONLY | os.O_TRUNC) == errno.EACCES
    assert w.listdir("/tmp/d") == ["inner"]
    assert stat.S_ISREG(w.stat("/tmp/d/inner").st_mode)
    assert err(w.mkdir, "/tmp/d/x") == errno.EACCES
    assert err(w.unlink, "/tmp/d/inner") == errno.EACCES


@pytest.mark.parametrize(
    ("mode", "allowed"), [(0o000, False), (0o644, False), (0o100, True), (0o001, True)]
)
def test_dac_override_grants_exec_only_if_some_x_bit_is_set_generic_permission(
    t: Task, k: pinfs.Kernel, mode: int, allowed: bool
) -> None:
    """S46/S63 analogue. Files: CAP_DAC_OVERRIDE overrides MAY_EXEC only when some x bit is set;
    CAP_DAC_READ_SEARCH never grants exec."""
    t.mknod("/tmp/f", stat.S_IFREG | mode)
    t.chown("/tmp/f", 1000, 1000)
    w = k.spawn(uid=2000, caps=[CAP_DAC_OVERRIDE])
    rs = k.spawn(uid=2001, caps=[CAP_DAC_READ_SEARCH])
    ino = inode(t, "/tmp/f")
    assert (generic_permission(w.cred, ino, MAY_EXEC) == 0) is allowed
    assert generic_permission(w.cred, ino, MAY_READ | MAY_WRITE) == 0
    expected_rs = 0 if mode & 0o001 else errno.EACCES
    assert generic_permission(rs.cred, ino, MAY_EXEC) == expected_rs
    assert generic_permission(rs.cred, ino, MAY_READ) == 0


def test_directory_search_override_generic_permission(t: Task, k: pinfs.Kernel) -> None:
    """S46/S53 analogue. Directories: DAC_OVERRIDE allows everything, READ_SEARCH all but
    MAY_WRITE."""
    t.mkdir("/tmp/d", 0o000)
    d = inode(t, "/tmp/d")
    w = k.spawn(uid=1000, caps=[CAP_DAC_OVERRIDE])
    rs = k.spawn(uid=1001, caps=[CAP_DAC_READ_SEARCH])
    plain = k.spawn(uid=1002)
    for mask in (MAY_EXEC, MAY_READ, MAY_WRITE, MAY_WRITE | MAY_EXEC):
        assert generic_permission(w.cred, d, mask) == 0
        assert generic_permission(rs.cred, d, mask) == (errno.EACCES if mask & MAY_WRITE else 0)
        assert generic_permission(plain.cred, d, mask) == errno.EACCES


def test_capabilities_need_the_inode_ids_mapped_capable_wrt_inode_uidgid(
    t: Task, k: pinfs.Kernel
) -> None:
    """S63/S86 analogue. After unshare(CLONE_NEWUSER) the task has every capability in its new
    namespace, but root's inodes are not mapped there: no DAC override on them."""
    t.mknod("/tmp/f", stat.S_IFREG | 0o600)
    u = k.spawn(uid=1000, gid=1000)
    u.mknod("/tmp/mine", stat.S_IFREG | 0o000)
    u.unshare(CLONE_NEWUSER)
    assert can_open(u, "/tmp/f", os.O_RDONLY) == errno.EACCES
    u.write_uid_map([(0, 1000, 1)])
    assert can_open(u, "/tmp/mine", os.O_RDONLY) == errno.EACCES  # gid still unmapped
    u.write_gid_map([(0, 1000, 1)])
    assert can_open(u, "/tmp/mine", os.O_RDWR) == 0  # now mapped: the override applies
    assert can_open(u, "/tmp/f", os.O_RDONLY) == errno.EACCES
    st = u.stat("/tmp/f")
    assert (st.st_uid, st.st_gid) == (65534, 65534)  # overflow ids
    assert (u.stat("/tmp/mine").st_uid, u.stat("/tmp/mine").st_gid) == (0, 0)


# ---------------------------------------------------------------------------------------
# sb_permission vs mnt_want_write (S61, S62)


def _tmpfs_with_nodes(t: Task) -> None:
    t.mkdir("/mnt")
    t.mount("none", "/mnt", "tmpfs")
    t.mknod("/mnt/f", stat.S_IFREG | 0o666)
    t.mkdir("/mnt/d")
    t.mknod("/mnt/c", stat.S_IFCHR | 0o666, os.makedev(240, 1))


def test_s61_read_only_superblock_refuses_may_write_sb_permission(t: Task) -> None:
    """remount,ro makes the sb read-only: inode_permission(MAY_WRITE) on files, dirs
    and links is EROFS; device nodes are exempt (their open then fails with ENXIO)."""
    _tmpfs_with_nodes(t)
    t.mount(None, "/mnt", None, MS_REMOUNT | MS_RDONLY)
    assert can_open(t, "/mnt/f", os.O_WRONLY) == errno.EROFS
    assert can_open(t, "/mnt/f", os.O_RDONLY | os.O_TRUNC) == errno.EROFS
    assert can_open(t, "/mnt/f", os.O_RDONLY) == 0
    assert can_open(t, "/mnt/c", os.O_RDWR) == errno.ENXIO
    assert err(t.truncate, "/mnt/f", 0) == errno.EROFS
    assert t.statfs("/mnt").f_flags & 1


def test_s62_read_only_bind_mount_passes_permission_but_not_mnt_want_write(t: Task) -> None:
    """MNT_READONLY is not seen by sb_permission; writers are stopped by
    mnt_want_write (EROFS), other mounts of the same sb stay writable."""
    _tmpfs_with_nodes(t)
    t.mkdir("/view")
    t.mount("/mnt", "/view", None, MS_BIND)
    t.mount(None, "/view", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    assert can_open(t, "/view/f", os.O_WRONLY) == errno.EROFS
    assert can_open(t, "/view/c", os.O_RDWR) == errno.ENXIO  # no EROFS for devices
    assert can_open(t, "/mnt/f", os.O_WRONLY) == 0
    t.mkdir("/mnt/new")
    assert "new" in t.listdir("/view")
    assert err(t.mkdir, "/view/new2") == errno.EROFS
    assert t.statfs("/view").f_flags & 1 and not t.statfs("/mnt").f_flags & 1


def test_s61_remount_read_only_with_a_writer_is_ebusy_do_remount_sb(t: Task) -> None:
    """sb_prepare_remount_readonly: a file open for writing blocks remount,ro."""
    _tmpfs_with_nodes(t)
    fd = t.open("/mnt/f", os.O_WRONLY)
    assert err(t.mount, None, "/mnt", None, MS_REMOUNT | MS_RDONLY) == errno.EBUSY
    assert err(t.mount, None, "/mnt", None, MS_REMOUNT | MS_BIND | MS_RDONLY) == errno.EBUSY
    t.close(fd)
    t.mount(None, "/mnt", None, MS_REMOUNT | MS_RDONLY)
    assert err(t.mkdir, "/mnt/x") == errno.EROFS
    t.mount(None, "/mnt", None, MS_REMOUNT)
    t.mkdir("/mnt/x")


def test_remount_of_a_non_mount_root_is_einval_do_remount(t: Task) -> None:
    """S61 analogue: MS_REMOUNT needs the root of a mount (EINVAL)."""
    t.mkdir("/tmp/d")
    assert err(t.mount, None, "/tmp/d", None, MS_REMOUNT | MS_RDONLY) == errno.EINVAL


# ---------------------------------------------------------------------------------------
# chmod (S82)


def test_s82_chmod_owner_or_cap_fowner_else_eperm_inode_change_ok(t: Task, k: pinfs.Kernel) -> None:
    t.mknod("/tmp/f", stat.S_IFREG | 0o644)
    t.chown("/tmp/f", 1000, 1000)
    owner = k.spawn(uid=1000)
    other = k.spawn(uid=1001)
    fowner = k.spawn(uid=1002, caps=[CAP_FOWNER])
    dac = k.spawn(uid=1003, caps=[CAP_DAC_OVERRIDE])
    owner.chmod("/tmp/f", 0o600)
    assert err(other.chmod, "/tmp/f", 0o777) == errno.EPERM
    assert err(dac.chmod, "/tmp/f", 0o777) == errno.EPERM
    fowner.chmod("/tmp/f", 0o640)
    t.chmod("/tmp/f", 0o4755)
    assert t.stat("/tmp/f").st_mode == stat.S_IFREG | 0o4755
    assert err(other.chmod, "/tmp/missing", 0o600) == errno.ENOENT


def test_s82_chmod_keeps_the_type_and_changes_ctime_only_chmod_common(
    t: Task, k: pinfs.Kernel
) -> None:
    t.mkdir("/tmp/d")
    before = t.stat("/tmp/d")
    k.advance_clock(1)
    t.chmod("/tmp/d", 0o170777)  # type bits in the argument are ignored
    after = t.stat("/tmp/d")
    assert after.st_mode == stat.S_IFDIR | 0o777
    assert after.st_mtime_ns == before.st_mtime_ns
    assert after.st_ctime_ns > before.st_ctime_ns


def test_s82_chmod_follows_symlinks_chmod(t: Task) -> None:
    t.mknod("/tmp/f", stat.S_IFREG | 0o644)
    t.symlink("f", "/tmp/l")
    t.chmod("/tmp/l", 0o600)
    assert stat.S_IMODE(t.stat("/tmp/f").st_mode) == 0o600
    assert stat.S_IMODE(t.lstat("/tmp/l").st_mode) == 0o777


def test_s82_chmod_by_non_member_clears_setgid_setattr_copy(t: Task, k: pinfs.Kernel) -> None:
    """setattr_copy drops S_ISGID when the caller is not in the file's group and has
    no CAP_FSETID."""
    owner = k.spawn(uid=1000, gid=1000)
    owner.mknod("/tmp/f", stat.S_IFREG | 0o644)
    t.chown("/tmp/f", 1000, 2000)
    owner.chmod("/tmp/f", 0o2755)
    assert stat.S_IMODE(t.stat("/tmp/f").st_mode) == 0o755
    member = k.spawn(uid=1000, gid=2000)
    member.chmod("/tmp/f", 0o2755)
    assert stat.S_IMODE(t.stat("/tmp/f").st_mode) == 0o2755
    fsetid = k.spawn(uid=1001, caps=[CAP_FOWNER, CAP_FSETID])
    fsetid.chmod("/tmp/f", 0o2711)
    assert stat.S_IMODE(t.stat("/tmp/f").st_mode) == 0o2711


def test_s82_chmod_on_a_read_only_mount_is_erofs_chmod_common(t: Task) -> None:
    t.mkdir("/mnt")
    t.mount("none", "/mnt", "tmpfs", MS_RDONLY)
    assert err(t.chmod, "/mnt", 0o700) == errno.EROFS


# ---------------------------------------------------------------------------------------
# chown (S82)


def test_s82_chown_needs_cap_chown_inode_change_ok(t: Task, k: pinfs.Kernel) -> None:
    """Changing the owner needs CAP_CHOWN; the owner may "change" it to itself and
    set the group to one of its own groups."""
    owner = k.spawn(uid=1000, gid=1000, groups=(2000,))
    owner.mknod("/tmp/f", stat.S_IFREG | 0o644)
    assert err(owner.chown, "/tmp/f", 1001, -1) == errno.EPERM
    owner.chown("/tmp/f", 1000, -1)
    owner.chown("/tmp/f", -1, 2000)  # supplementary group
    owner.chown("/tmp/f", -1, 1000)  # fsgid
    assert err(owner.chown, "/tmp/f", -1, 3000) == errno.EPERM
    other = k.spawn(uid=1001, gid=1000)
    assert err(other.chown, "/tmp/f", -1, 1000) == errno.EPERM  # not the owner
    ch = k.spawn(uid=1002, caps=[CAP_CHOWN])
    ch.chown("/tmp/f", 1001, 3000)
    st = t.stat("/tmp/f")
    assert (st.st_uid, st.st_gid) == (1001, 3000)
    t.chown("/tmp/f", 0, 0)


def test_s82_chown_minus_one_is_allowed_for_anyone_and_stamps_ctime_chown_common(
    t: Task, k: pinfs.Kernel
) -> None:
    """chown(path, -1, -1) changes nothing but ctime, and needs no rights at all."""
    t.mknod("/tmp/f", stat.S_IFREG | 0o644)
    before = t.stat("/tmp/f")
    stranger = k.spawn(uid=1000)
    k.advance_clock(1)
    stranger.chown("/tmp/f", -1, -1)
    stranger.chown("/tmp/f", 0xFFFFFFFF, 0xFFFFFFFF)
    after = t.stat("/tmp/f")
    assert (after.st_uid, after.st_gid, after.st_mode) == (0, 0, before.st_mode)
    assert after.st_ctime_ns > before.st_ctime_ns


def test_s82_chown_clears_setuid_and_group_exec_setgid_notify_change(t: Task) -> None:
    """chown_common always asks for ATTR_KILL_SUID|ATTR_KILL_SGID on non-directories:
    S_ISUID goes; S_ISGID goes only together with S_IXGRP."""
    t.mknod("/tmp/f", stat.S_IFREG)
    t.chmod("/tmp/f", 0o6755)
    t.chown("/tmp/f", 1000, -1)
    assert stat.S_IMODE(t.stat("/tmp/f").st_mode) == 0o755
    t.chmod("/tmp/f", 0o6745)
    t.chown("/tmp/f", -1, 1000)
    assert stat.S_IMODE(t.stat("/tmp/f").st_mode) == 0o2745
    t.mkdir("/tmp/d")
    t.chmod("/tmp/d", 0o6755)
    t.chown("/tmp/d", 1000, 1000)
    assert stat.S_IMODE(t.stat("/tmp/d").st_mode) == 0o6755  # not for directories


def test_s82_chown_minus_one_also_clears_setuid_notify_change(t: Task) -> None:
    """The kill flags are set even when neither id changes (chown_common sets them
    for every non-directory), so chown(f, -1, -1) strips S_ISUID."""
    t.mknod("/tmp/f", stat.S_IFREG)
    t.chmod("/tmp/f", 0o6755)
    t.chown("/tmp/f", -1, -1)
    assert stat.S_IMODE(t.stat("/tmp/f").st_mode) == 0o755


def test_s82_cap_chown_alone_cannot_chown_a_setuid_file_inode_change_ok(
    t: Task, k: pinfs.Kernel
) -> None:
    """Stripping S_ISUID turns the chown into a mode change too, which needs owner or
    CAP_FOWNER: a CAP_CHOWN-only stranger gets EPERM."""
    t.mknod("/tmp/f", stat.S_IFREG)
    t.chown("/tmp/f", 1000, 1000)
    t.chmod("/tmp/f", 0o4755)
    ch = k.spawn(uid=1002, caps=[CAP_CHOWN])
    assert err(ch.chown, "/tmp/f", 1002, -1) == errno.EPERM
    t.chmod("/tmp/f", 0o755)
    ch.chown("/tmp/f", 1002, -1)


def test_s82_chown_to_an_unmapped_id_is_einval_chown_common(t: Task, k: pinfs.Kernel) -> None:
    u = k.spawn(uid=1000, gid=1000)
    u.mknod("/tmp/f", stat.S_IFREG)
    u.unshare(CLONE_NEWUSER)
    u.write_uid_map([(0, 1000, 1)])
    assert err(u.chown, "/tmp/f", 5, -1) == errno.EINVAL
    assert err(u.chown, "/tmp/f", -1, 5) == errno.EINVAL
    u.chown("/tmp/f", 0, -1)


# ---------------------------------------------------------------------------------------
# truncate (S82)


def test_s82_truncate_rules_vfs_truncate(t: Task, k: pinfs.Kernel) -> None:
    """EINVAL for negative lengths (before the lookup) and non-regular files, EISDIR
    for directories, EACCES without write permission; read permission is not needed."""
    t.mkdir("/tmp/d")
    t.mknod("/tmp/fifo", stat.S_IFIFO | 0o666)
    t.mknod("/tmp/f", stat.S_IFREG)
    t.chmod("/tmp/f", 0o622)
    t.symlink("f", "/tmp/l")
    u = k.spawn(uid=1000)
    assert err(t.truncate, "/tmp/missing", -1) == errno.EINVAL
    assert err(t.truncate, "/tmp/missing", 0) == errno.ENOENT
    assert err(t.truncate, "/tmp/d", 0) == errno.EISDIR
    assert err(u.truncate, "/tmp/d", 0) == errno.EISDIR
    assert err(t.truncate, "/tmp/fifo", 0) == errno.EINVAL
    assert err(u.truncate, "/tmp/f", 5) == 0  # 0622: others may write
    t.chmod("/tmp/f", 0o644)
    assert err(u.truncate, "/tmp/f", 7) == errno.EACCES
    t.truncate("/tmp/l", 1 << 40)  # follows the link; only the size changes
    assert t.stat("/tmp/f").st_size == 1 << 40
    assert t.lstat("/tmp/l").st_size == 1


def test_s82_truncate_on_ramfs_changes_only_the_size_simple_setattr(
    t: Task, k: pinfs.Kernel
) -> None:
    """truncate(2) passes no time attributes (do_truncate(..., 0, NULL)) and ramfs uses
    simple_setattr, so mtime and ctime stay as they were."""
    t.mknod("/tmp/f", stat.S_IFREG | 0o644)
    before = t.stat("/tmp/f")
    k.advance_clock(1)
    t.truncate("/tmp/f", 100)
    after = t.stat("/tmp/f")
    assert after.st_size == 100
    assert (after.st_mtime_ns, after.st_ctime_ns) == (before.st_mtime_ns, before.st_ctime_ns)


def test_s82_truncate_on_tmpfs_stamps_times_when_the_size_changes_shmem_setattr(
    t: Task, k: pinfs.Kernel
) -> None:
    t.mkdir("/mnt")
    t.mount("none", "/mnt", "tmpfs")
    t.mknod("/mnt/f", stat.S_IFREG | 0o644)
    before = t.stat("/mnt/f")
    k.advance_clock(1)
    t.truncate("/mnt/f", 100)
    after = t.stat("/mnt/f")
    assert after.st_mtime_ns > before.st_mtime_ns
    assert after.st_ctime_ns == after.st_mtime_ns
    k.advance_clock(1)
    t.truncate("/mnt/f", 100)  # same size: nothing changes
    assert t.stat("/mnt/f") == after


def test_open_o_trunc_always_stamps_mtime_and_ctime_handle_truncate(
    t: Task, k: pinfs.Kernel
) -> None:
    """S82 analogue. handle_truncate uses ATTR_MTIME|ATTR_CTIME|ATTR_OPEN, even for an empty
    file."""
    t.mknod("/tmp/f", stat.S_IFREG | 0o644)
    before = t.stat("/tmp/f")
    k.advance_clock(1)
    t.close(t.open("/tmp/f", os.O_WRONLY | os.O_TRUNC))
    after = t.stat("/tmp/f")
    assert after.st_mtime_ns > before.st_mtime_ns
    assert after.st_ctime_ns == after.st_mtime_ns


@pytest.mark.parametrize(
    ("mode", "after"), [(0o4755, 0o755), (0o2755, 0o755), (0o6711, 0o711), (0o2745, 0o2745)]
)
def test_s82_truncate_strips_setuid_and_setgid_without_cap_fsetid_should_remove_suid(
    t: Task, k: pinfs.Kernel, mode: int, after: int
) -> None:
    """do_truncate adds should_remove_suid's ATTR_KILL_SUID/ATTR_KILL_SGID (with
    ATTR_FORCE) when the caller lacks CAP_FSETID: S_ISUID always goes, S_ISGID only
    with S_IXGRP.  Both truncate(2) and open(O_TRUNC) (handle_truncate) do it."""
    w = k.spawn(uid=1000, gid=1000)
    for path, do in (
        ("/tmp/a", lambda p: w.truncate(p, 5)),
        ("/tmp/b", lambda p: w.close(w.open(p, os.O_WRONLY | os.O_TRUNC))),
    ):
        w.mknod(path, stat.S_IFREG)
        w.chmod(path, mode)
        do(path)
        assert stat.S_IMODE(t.stat(path).st_mode) == after, path
    t.mknod("/tmp/c", stat.S_IFREG)
    t.chmod("/tmp/c", mode)
    t.truncate("/tmp/c", 5)  # root has CAP_FSETID: kept
    assert stat.S_IMODE(t.stat("/tmp/c").st_mode) == mode


def test_open_o_trunc_empties_the_file_do_last(t: Task) -> None:
    """S82 analogue: O_TRUNC (even with O_RDONLY) empties a regular file."""
    t.mknod("/tmp/f", stat.S_IFREG | 0o644)
    t.truncate("/tmp/f", 50)
    t.close(t.open("/tmp/f", os.O_RDONLY | os.O_TRUNC))  # O_TRUNC implies MAY_WRITE
    assert t.stat("/tmp/f").st_size == 0
