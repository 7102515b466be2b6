"""fs/namespace.c failure paths: a failed mount(2), umount2(2) or unshare(2) changes
nothing, and ``check_invariants()`` sees a mount tree or superblock count gone wrong.

Kernel functions: ``do_loopback`` / ``graft_tree`` (a failed graft umounts the copied
tree: ``umount_tree``), ``copy_tree`` (``is_subdir``), ``copy_mnt_ns``, ``ksys_unshare``.

The snapshots are compared without the mount-id counter: pinfs hands out mount ids from
a counter that a failed call advances (documented as deliberate: Linux's ``mnt_alloc_id``
is an IDA that gives a freed id back, so the next ids there differ too).
"""

from __future__ import annotations

import errno
import os
from typing import Any

import pytest

import pinfs
from pinfs.base import profiles
from pinfs.machine.task import CLONE_NEWNS, CLONE_NEWUSER
from pinfs.mountns import cleanup_mnt, copy_tree, subtree, umount_tree
from pinfs.vfs import MS_BIND, MS_REC
from snapshot import snapshot
from support import err


def state(k: pinfs.Kernel) -> dict[str, Any]:
    """``snapshot(k)`` without the mount-id counter (see the module docstring)."""
    snap = snapshot(k)
    last_ino, pid, _mnt_id, ns_id = snap["counters"]
    snap["counters"] = (last_ino, pid, ns_id)
    return snap


def drop_counters(snap: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in snap.items() if key != "counters"}


def after_counters(snap: dict[str, Any]) -> tuple[int, ...]:
    """The counters once one inode number more was handed out."""
    last_ino, *rest = snap["counters"]
    return (last_ino + 1, *rest)


def bind_world(t: pinfs.Task) -> None:
    """Issue 11 defect 1's set-up: a tmpfs at /tmp/mp, bound again at /tmp/b, and a
    regular file /tmp/f."""
    for path in ("/tmp/mp", "/tmp/b"):
        t.mkdir(path)
    t.mount("none", "/tmp/mp", "tmpfs")
    t.mount("/tmp/mp", "/tmp/b", None, MS_BIND)
    t.close(t.open("/tmp/f", os.O_CREAT | os.O_WRONLY))


# -- check_invariants sees mount and superblock damage ------------------------------


def test_invariants_see_a_copied_tree_left_stacked_on_the_mountpoints(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """Defect 1's broken state, driven directly: a recursive copy of / whose clones
    were let go the way the unfixed ``do_loopback`` did (each one's references dropped,
    none taken off its mountpoint) is still stacked on /tmp/mp and /tmp/b."""
    bind_world(t)
    k.check_invariants()
    root = t.mnt_ns.root
    top, _ = copy_tree(root, root.mnt_root, k.next_mnt_id)
    with pytest.raises(pinfs.InvariantError, match=r"stacked on /tmp/mp .* but is not mounted"):
        k.check_invariants()  # cloned, not grafted: already inconsistent
    for mnt in reversed(subtree(top)):
        mnt.attached = False
        cleanup_mnt(mnt)  # the unfixed error path
    with pytest.raises(pinfs.InvariantError) as info:
        k.check_invariants()
    assert "stacked on /tmp/mp" in str(info.value)
    assert "stacked on /tmp/b" in str(info.value)


def test_invariants_pass_once_the_copied_tree_is_umounted(k: pinfs.Kernel, t: pinfs.Task) -> None:
    """The same copy let go with ``umount_tree`` (the kernel's error path) leaves the
    kernel as it was."""
    bind_world(t)
    before = state(k)
    root = t.mnt_ns.root
    top, _ = copy_tree(root, root.mnt_root, k.next_mnt_id)
    for mnt in subtree(top):
        mnt.attached = False
    umount_tree(top)
    k.check_invariants()
    assert state(k) == before


def test_invariants_see_a_superblock_count_that_disagrees(k: pinfs.Kernel, t: pinfs.Task) -> None:
    bind_world(t)
    sb = t.mnt_ns.mounts[-1].mnt_sb
    sb.s_active -= 1
    with pytest.raises(pinfs.InvariantError, match="s_active 1 but 2 live mounts"):
        k.check_invariants()
    sb.s_active += 1
    k.check_invariants()


def test_invariants_see_a_dead_superblock_still_mounted(k: pinfs.Kernel, t: pinfs.Task) -> None:
    bind_world(t)
    sb = t.mnt_ns.mounts[-1].mnt_sb
    sb.s_active = 0
    sb.s_type.fs_supers.remove(sb)
    with pytest.raises(pinfs.InvariantError, match=r"tmpfs sb dev .* is dead \(s_active 0\)"):
        k.check_invariants()


def test_invariants_see_a_mount_missing_from_its_namespace(k: pinfs.Kernel, t: pinfs.Task) -> None:
    bind_world(t)
    bind = t.mnt_ns.mounts.pop()
    with pytest.raises(pinfs.InvariantError, match="not the tree below its root"):
        k.check_invariants()
    t.mnt_ns.mounts.append(bind)
    k.check_invariants()


def test_invariants_see_mount_counts_that_disagree(k: pinfs.Kernel, t: pinfs.Task) -> None:
    bind_world(t)
    fd = t.open("/tmp/b", os.O_RDONLY | os.O_DIRECTORY)
    bind = t.fd_file(fd).f_path.mnt
    bind.mnt_count += 1
    with pytest.raises(pinfs.InvariantError, match="mnt_count 2 but 1 paths"):
        k.check_invariants()
    bind.mnt_count -= 1
    bind.mnt_writers += 1
    with pytest.raises(pinfs.InvariantError, match="mnt_writers 1 but 0 writers"):
        k.check_invariants()
    bind.mnt_writers -= 1
    t.close(fd)
    k.check_invariants()


# -- issue 11 defect 1: a failed recursive bind mount --------------------------------


def test_failed_recursive_bind_changes_nothing_do_loopback(k: pinfs.Kernel, t: pinfs.Task) -> None:
    """``graft_tree`` refuses a directory tree on a file (ENOTDIR) after ``copy_tree``
    cloned / with its submounts; ``do_loopback`` then umounts the copy."""
    bind_world(t)
    before = state(k)
    assert err(t.mount, "/tmp", "/tmp/f", None, MS_BIND | MS_REC) == errno.ENOTDIR
    k.check_invariants()
    assert state(k) == before
    t.umount("/tmp/mp")
    t.rmdir("/tmp/mp")
    k.check_invariants()
    assert t.listdir("/tmp/b") == []
    t.umount("/tmp/b")
    assert not k.filesystems["tmpfs"].fs_supers


@pytest.mark.parametrize("flags", [MS_BIND, MS_BIND | MS_REC])
def test_bind_onto_a_removed_cwd_is_enoent_and_changes_nothing_graft_tree(
    k: pinfs.Kernel, t: pinfs.Task, flags: int
) -> None:
    """``graft_tree``'s unlinked-mountpoint check (ENOENT) comes after the copy too."""
    bind_world(t)
    t.mkdir("/tmp/gone")
    t.chdir("/tmp/gone")
    t.rmdir("/tmp/gone")
    before = state(k)
    assert err(t.mount, "/tmp", ".", None, flags) == errno.ENOENT
    k.check_invariants()
    assert state(k) == before


def test_failed_plain_bind_changes_nothing_do_loopback(k: pinfs.Kernel, t: pinfs.Task) -> None:
    bind_world(t)
    before = state(k)
    assert err(t.mount, "/tmp/mp", "/tmp/f", None, MS_BIND) == errno.ENOTDIR
    k.check_invariants()
    assert state(k) == before


# -- issue 11 defect 2: unshare after the namespace root was lazily unmounted -------

MNT_DETACH = 2


def test_unshare_userns_after_umount_of_root_is_eperm_and_changes_nothing_create_user_ns(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """Measured on Linux 6.18 (inside ``unshare -m --propagation private``): after
    ``umount -l /`` our root is no longer the namespace's root, so
    ``create_user_ns``'s ``current_chrooted()`` check is EPERM, before the new
    credentials or mount namespace exist (``ksys_unshare`` commits last)."""
    t.umount("/", MNT_DETACH)
    before = state(k)
    assert err(t.unshare, CLONE_NEWUSER | CLONE_NEWNS) == errno.EPERM
    assert err(t.unshare, CLONE_NEWUSER) == errno.EPERM
    k.check_invariants()
    assert state(k) == before


def test_unshare_newns_after_umount_of_root_gives_an_empty_namespace_copy_mnt_ns(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """Linux 6.18: unshare(CLONE_NEWNS) still works; the detached root is not in the
    copy, so a mount under it is refused and the root is not ours to umount."""
    t.mkdir("/srv")
    t.umount("/", MNT_DETACH)
    old_ns = t.mnt_ns
    t.unshare(CLONE_NEWNS)
    assert t.mnt_ns is not old_ns and not t.mnt_ns.mounts
    assert not old_ns.alive
    assert sorted(t.listdir("/")) == ["dev", "srv", "sys", "tmp"]
    assert err(t.mount, "none", "/srv", "tmpfs") == errno.EINVAL  # check_mnt (the seed)
    assert err(t.umount, "/", MNT_DETACH) == errno.EINVAL
    k.check_invariants()


def test_mount_on_a_lazily_unmounted_tree_is_enoent_on_6_18_lock_mount() -> None:
    """Measured on Linux 6.18: after ``umount -l /`` (and after unshare(CLONE_NEWNS)
    too) a mount or bind onto a directory of the detached root is ENOENT, from
    ``do_lock_mount``'s ``!is_mounted``; no superblock is left behind."""
    k = pinfs.Kernel(profiles.LINUX_6_18)
    t = k.init_task
    t.mkdir("/srv")
    t.umount("/", MNT_DETACH)
    before = state(k)
    assert err(t.mount, "/tmp", "/srv", None, MS_BIND) == errno.ENOENT
    assert state(k) == before
    # A new mount makes (and kills) its superblock first, as vfs_get_tree runs
    # before lock_mount: only the inode-number counter moves.
    assert err(t.mount, "none", "/srv", "tmpfs") == errno.ENOENT
    assert not k.filesystems["tmpfs"].fs_supers
    after = state(k)
    assert (after.pop("counters"), after) == (after_counters(before), drop_counters(before))
    t.unshare(CLONE_NEWNS)
    assert err(t.mount, "none", "/srv", "tmpfs") == errno.ENOENT
    k.check_invariants()


def test_unshare_userns_under_a_mount_over_root_is_eperm_current_chrooted(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """Measured on Linux 6.18: a tmpfs mounted over "/" hides our root below the
    namespace's visible root: ``current_chrooted()``, EPERM."""
    t.mount("none", "/", "tmpfs")
    before = state(k)
    assert err(t.unshare, CLONE_NEWUSER | CLONE_NEWNS) == errno.EPERM
    assert state(k) == before
    k.check_invariants()


def test_unshare_userns_from_the_namespace_root_works_current_chrooted(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    t.mkdir("/mnt")
    t.mount("none", "/mnt", "tmpfs")  # a mount below the root does not count
    t.unshare(CLONE_NEWUSER | CLONE_NEWNS)
    assert t.cred.user_ns is not k.init_user_ns
    k.check_invariants()


def test_unshare_eperm_for_namespaces_changes_nothing_ksys_unshare(k: pinfs.Kernel) -> None:
    """CLONE_NEWNS without CAP_SYS_ADMIN: EPERM before any namespace is made."""
    u = k.spawn(uid=1000, gid=1000)
    before = state(k)
    assert err(u.unshare, CLONE_NEWNS) == errno.EPERM
    assert state(k) == before


# -- issue 11 defect 4: copy_tree's is_subdir filter ---------------------------------


def test_rbind_of_a_subdirectory_copies_only_the_submounts_under_it_copy_tree(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """``copy_tree`` skips a submount of the source mount whose mountpoint is not
    under the bound directory (``is_subdir``), with everything below it; the bind
    then unmounts like any leaf (Linux 6.18 agrees:
    tests/scenarios/mounts/rbind_of_a_subdirectory.scn)."""
    for path in ("/mnt", "/view"):
        t.mkdir(path)
    t.mount("none", "/mnt", "tmpfs")
    for path in ("/mnt/sub", "/mnt/sub/in", "/mnt/other"):
        t.mkdir(path)
    t.mount("none", "/mnt/other", "tmpfs")
    t.mkdir("/mnt/other/deeper")
    t.mount("none", "/mnt/other/deeper", "tmpfs")
    before = state(k)
    t.mount("/mnt/sub", "/view", None, MS_BIND | MS_REC)
    assert len(t.mnt_ns.mounts) == len(before["namespaces"][0]["mounts"]) + 1
    k.check_invariants()
    t.umount("/view")
    k.check_invariants()
    assert state(k) == before


def test_rbind_copies_a_submount_on_the_bound_directory_itself_copy_tree(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """``is_subdir`` is true for the directory itself: binding the directory under a
    mount (reached as "." from a cwd taken before the mount) copies that mount too.
    Measured on Linux 6.18 with mount(2) itself (mount(8) would canonicalise ".")."""
    for path in ("/mnt", "/view"):
        t.mkdir(path)
    t.mount("none", "/mnt", "tmpfs")
    t.mkdir("/mnt/sub")
    t.chdir("/mnt/sub")
    t.mount("none", "/mnt/sub", "tmpfs")
    t.mkdir("/mnt/sub/on_top")
    assert t.listdir(".") == []  # the cwd is the directory under the mount
    t.mount(".", "/view", None, MS_BIND | MS_REC)
    assert t.listdir("/view") == ["on_top"]
    t.mount(".", "/tmp", None, MS_BIND)  # without MS_REC: the directory alone
    assert t.listdir("/tmp") == []
    k.check_invariants()


# -- locked mounts and flags in a less privileged namespace --------------------------
# Each step below was measured on Linux 6.18: a tmpfs tree made by root in a private
# mount namespace, then unshare(CLONE_NEWUSER|CLONE_NEWNS) with a root mapping.

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT = 1, 2, 4, 32
ST_NODEV = 4


def locked_world(k: pinfs.Kernel, t: pinfs.Task) -> pinfs.Task:
    """/srv (tmpfs) with a tmpfs on /srv/a and a read-only nosuid tmpfs on /srv/r, as
    seen from a task that then made its own user and mount namespaces."""
    t.mkdir("/srv")
    t.mount("none", "/srv", "tmpfs")
    for path in ("/srv/a", "/srv/r", "/srv/v", "/srv/w"):
        t.mkdir(path)
    t.mount("none", "/srv/a", "tmpfs")
    t.mkdir("/srv/a/in")
    t.mount("none", "/srv/r", "tmpfs", MS_RDONLY | MS_NOSUID)
    u = k.spawn(uid=1000, gid=1000)
    u.unshare(CLONE_NEWUSER | CLONE_NEWNS)
    return u


def test_a_plain_bind_that_would_uncover_a_locked_mount_is_einval_has_locked_children(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    u = locked_world(k, t)
    before = state(k)
    assert err(u.mount, "/srv", "/srv/v", None, MS_BIND) == errno.EINVAL
    assert state(k) == before
    u.mount("/srv/a/in", "/srv/v", None, MS_BIND)  # nothing locked below it
    k.check_invariants()


def test_a_recursive_bind_keeps_the_copies_below_locked_clone_mnt(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """``clone_mnt`` keeps MNT_LOCKED; ``do_loopback`` unlocks only the new top."""
    u = locked_world(k, t)
    u.mount("/srv", "/srv/w", None, MS_BIND | MS_REC)
    assert err(u.umount, "/srv/w/a") == errno.EINVAL
    u.umount("/srv/w", MNT_DETACH)
    k.check_invariants()


def test_a_remount_keeps_the_flags_locked_by_the_namespace_copy_can_change_locked_flags(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    u = locked_world(k, t)
    before = state(k)
    remount = MS_REMOUNT | MS_BIND
    assert err(u.mount, None, "/srv/r", None, remount | MS_NOSUID) == errno.EPERM  # rw
    assert err(u.mount, None, "/srv/r", None, remount | MS_RDONLY) == errno.EPERM  # suid
    assert state(k) == before
    u.mount(None, "/srv/r", None, remount | MS_RDONLY | MS_NOSUID)
    k.check_invariants()


@pytest.mark.parametrize(
    ("profile", "forced"), [(profiles.SEED, True), (profiles.LINUX_6_18, False)]
)
def test_a_mount_made_in_a_user_namespace_is_forced_nodev_until_v4_18_do_new_mount(
    profile: pinfs.Profile, forced: bool
) -> None:
    """Until 55956b59df33 (v4.18) ``do_new_mount`` forced MNT_NODEV|MNT_LOCK_NODEV on
    a mount made from a user namespace; on 6.18 statfs shows no ST_NODEV and a bind
    remount without MS_NODEV works."""
    k = pinfs.Kernel(profile)
    t = k.init_task
    t.mkdir("/srv")
    u = k.spawn(uid=1000, gid=1000)
    u.unshare(CLONE_NEWUSER | CLONE_NEWNS)
    u.mount("none", "/srv", "tmpfs")
    assert bool(u.statfs("/srv").f_flags & ST_NODEV) == forced
    remount = err(u.mount, None, "/srv", None, MS_REMOUNT | MS_BIND)
    assert remount == (errno.EPERM if forced else 0)
    u.mount(None, "/srv", None, MS_REMOUNT | MS_BIND | MS_NODEV)
    k.check_invariants()


def test_unshare_below_33_user_namespaces_fails_and_changes_nothing_create_user_ns() -> None:
    """Measured on Linux 6.18: 33 nested user namespaces, the 34th is ENOSPC
    (``parent_ns->level > 32``); the mount namespace asked for with it is not made."""
    k = pinfs.Kernel(profiles.LINUX_6_18)
    t = k.init_task
    for _ in range(33):
        t.unshare(CLONE_NEWUSER)
    before = state(k)
    assert err(t.unshare, CLONE_NEWUSER | CLONE_NEWNS) == errno.ENOSPC
    assert state(k) == before
