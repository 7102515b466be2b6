"""Mounting bpffs, mount namespaces and superblock lifetime at the seed (spec rows
S85-S94): bpf_mount -> mount_ns (one instance per mount namespace, keyed by the
namespace pointer), FS_USERNS_MOUNT, kill_litter_super, do_mount/do_add_mount/
do_umount/copy_mnt_ns."""

from __future__ import annotations

import errno
import os
from typing import Any

import pinfs
from pinfs.base.cred import CAP_SYS_ADMIN
from pinfs.ebpf.attr import BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PROG_ARRAY
from pinfs.ebpf.prog import RETURN_ZERO
from pinfs.machine.task import CLONE_NEWNS, CLONE_NEWUSER
from pinfs.mountns import MNT_DETACH
from pinfs.vfs import MS_RDONLY
from support import err

BPFFS = "/sys/fs/bpf"
ARRAY = BPF_MAP_TYPE_ARRAY
ST_NODEV = 4


def bpf_supers(k: pinfs.Kernel) -> list[Any]:
    return list(k.filesystems["bpf"].fs_supers)


def test_s85_mount_without_cap_sys_admin_over_the_mount_ns_is_eperm_may_mount(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """do_mount -> may_mount: CAP_SYS_ADMIN in the user namespace owning the caller's
    mount namespace; uid 1000, capless root, and a new user namespace without a new
    mount namespace all get EPERM."""
    u = k.spawn(uid=1000)
    assert err(u.mount, "bpf", BPFFS, "bpf") == errno.EPERM
    assert err(k.spawn(uid=0, caps=[]).mount, "bpf", BPFFS, "bpf") == errno.EPERM
    u.unshare(CLONE_NEWUSER)  # caps in the new userns, but the mount ns is init's
    assert err(u.mount, "bpf", BPFFS, "bpf") == errno.EPERM
    k.spawn(uid=1000, caps=[CAP_SYS_ADMIN]).mount("bpf", BPFFS, "bpf")
    assert len(bpf_supers(k)) == 1
    k.check_invariants()


def test_s86_user_namespace_mount_is_allowed_with_nodev_do_new_mount(
    k: pinfs.Kernel,
) -> None:
    """do_new_mount: bpffs has FS_USERNS_MOUNT at the seed, so after
    unshare(CLONE_NEWUSER|CLONE_NEWNS) an unprivileged user mounts a private bpffs
    (nodev forced) and, with the sysctl at 0, pins maps in it."""
    u = k.spawn(uid=1000, gid=1000)
    u.unshare(CLONE_NEWUSER | CLONE_NEWNS)
    u.mount("bpf", BPFFS, "bpf")
    assert u.statfs(BPFFS).f_type == pinfs.BPF_FS_MAGIC
    assert u.statfs(BPFFS).f_flags & ST_NODEV
    fd = u.map_create(ARRAY, 4, 4, 1)
    u.obj_pin(fd, BPFFS + "/mine")
    assert u.listdir(BPFFS) == ["mine"]
    # invisible from init's namespace, where /sys/fs/bpf is still the plain directory
    assert k.init_task.listdir(BPFFS) == []
    assert k.init_task.statfs(BPFFS).f_type != pinfs.BPF_FS_MAGIC
    k.check_invariants()


def test_s87_first_mount_in_a_namespace_is_a_new_empty_instance_mount_ns(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """mount_ns / bpf_fill_super: the first bpf mount in a mount namespace creates an
    empty superblock keyed by that namespace; the source and options are ignored."""
    t.mount("whatever", BPFFS, "bpf", 0, "mode=0700,uid=5")
    assert t.listdir(BPFFS) == []
    assert t.stat(BPFFS).st_mode == 0o41777
    (sb,) = bpf_supers(k)
    assert sb.s_fs_info is t.mnt_ns
    other = t.fork()
    other.unshare(CLONE_NEWNS)
    other.mkdir("/tmp/b")
    other.mount("bpf", "/tmp/b", "bpf")
    assert other.stat("/tmp/b").st_dev != t.stat(BPFFS).st_dev
    assert len(bpf_supers(k)) == 2
    k.check_invariants()


def test_s88_later_mounts_in_the_namespace_share_the_instance_mount_ns(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """mount_ns: a later bpf mount in the same namespace at another path gets the same
    superblock (same pins, same st_dev); flags are not reconciled: ``-o ro`` there is a
    read-only view (GET works, PIN is EROFS) of a read-write instance."""
    t.mount("bpf", BPFFS, "bpf")
    fd = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(fd, BPFFS + "/m")
    t.mkdir("/tmp/again")
    t.mkdir("/tmp/rov")
    t.mount("bpf", "/tmp/again", "bpf")
    t.mount("bpf", "/tmp/rov", "bpf", MS_RDONLY)
    assert len(bpf_supers(k)) == 1
    assert t.stat("/tmp/again").st_dev == t.stat(BPFFS).st_dev == t.stat("/tmp/rov").st_dev
    assert t.listdir("/tmp/again") == t.listdir("/tmp/rov") == ["m"]
    t.obj_pin(fd, "/tmp/again/n")
    assert t.listdir(BPFFS) == ["n", "m"]
    assert t.fd_object(t.obj_get("/tmp/rov/m")) is t.fd_object(fd)
    assert err(t.obj_pin, fd, "/tmp/rov/o") == errno.EROFS
    k.check_invariants()


def test_s88_first_mount_read_only_makes_the_shared_instance_read_only_mount_ns(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """mount_ns: a first mount with -o ro makes the superblock MS_RDONLY; a later rw
    mount in the namespace shares that read-only superblock (PIN and GET are EROFS)."""
    t.mkdir("/tmp/first")
    t.mount("bpf", "/tmp/first", "bpf", MS_RDONLY)
    t.mount("bpf", BPFFS, "bpf")
    fd = t.map_create(ARRAY, 4, 4, 1)
    assert err(t.obj_pin, fd, BPFFS + "/m") == errno.EROFS
    assert err(t.mkdir, BPFFS + "/d") == errno.EROFS
    assert err(t.obj_get, BPFFS) == errno.EROFS
    k.check_invariants()


def test_s89_mounting_again_on_the_instance_root_is_ebusy_do_add_mount(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """do_add_mount: the mountpoint is already the root of a mount of the same
    superblock -> EBUSY (so ``mount -t bpf bpf /sys/fs/bpf`` twice fails at the seed);
    a subdirectory of the instance is a fine mountpoint (the tree appears in itself)."""
    t.mount("bpf", BPFFS, "bpf")
    assert err(t.mount, "bpf", BPFFS, "bpf") == errno.EBUSY
    assert err(t.mount, "bpf", BPFFS, "bpf", MS_RDONLY) == errno.EBUSY
    t.mkdir(BPFFS + "/inner")
    t.mount("bpf", BPFFS + "/inner", "bpf")
    fd = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(fd, BPFFS + "/m")
    assert t.listdir(BPFFS + "/inner") == ["m", "inner"]
    k.check_invariants()


def test_s90_unshare_copies_mounts_with_the_same_instances_copy_mnt_ns(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """copy_mnt_ns / copy_tree: the copied /sys/fs/bpf is the same superblock, so pins
    made in either namespace show in both; a fresh bpf mount in the new namespace (even
    on top of the copy: no EBUSY, the superblocks differ) is a new, empty instance."""
    t.mount("bpf", BPFFS, "bpf")
    fd = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(fd, BPFFS + "/parent")
    c = t.fork()
    c.unshare(CLONE_NEWNS)
    assert c.listdir(BPFFS) == ["parent"]
    c.obj_pin(fd, BPFFS + "/child")
    assert t.listdir(BPFFS) == ["child", "parent"]
    c.mount("bpf", BPFFS, "bpf")  # stacked on the copy
    assert c.listdir(BPFFS) == []
    c.obj_pin(fd, BPFFS + "/private")
    assert t.listdir(BPFFS) == ["child", "parent"]
    assert len(bpf_supers(k)) == 2
    assert t.fd_object(fd).refcnt == 4
    c.umount(BPFFS)  # uncovers the copy again
    assert c.listdir(BPFFS) == ["child", "parent"]
    assert t.fd_object(fd).refcnt == 3  # the private instance died with its pin
    k.check_invariants()


def test_s91_pins_do_not_make_the_mount_busy_do_umount(k: pinfs.Kernel, t: pinfs.Task) -> None:
    """do_umount: pins (and fds from OBJ_GET, which are anonymous files) do not hold the
    vfsmount; only open files, a cwd or a submount inside make it EBUSY; MNT_DETACH
    avoids that."""
    t.mount("bpf", BPFFS, "bpf")
    t.mkdir("/tmp/second")
    t.mount("bpf", "/tmp/second", "bpf")  # keeps the instance alive across umounts
    fd = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(fd, BPFFS + "/m")
    t.obj_get(BPFFS + "/m")
    t.umount(BPFFS)
    assert t.listdir("/tmp/second") == ["m"]
    t.mount("bpf", BPFFS, "bpf")
    assert t.listdir(BPFFS) == ["m"]
    d = t.open(BPFFS, os.O_RDONLY)
    assert err(t.umount, BPFFS) == errno.EBUSY
    t.close(d)
    c = t.fork()
    c.chdir(BPFFS)
    assert err(t.umount, BPFFS) == errno.EBUSY
    c.exit()
    t.mkdir(BPFFS + "/sub")
    t.mount("/tmp", BPFFS + "/sub", None, 4096)  # MS_BIND
    assert err(t.umount, BPFFS) == errno.EBUSY
    t.umount(BPFFS + "/sub")
    opath = t.open(BPFFS + "/m", 0o10000000)
    assert err(t.umount, BPFFS) == errno.EBUSY  # an O_PATH file holds the mount too
    t.umount(BPFFS, MNT_DETACH)
    t.close(opath)
    assert t.listdir("/tmp/second") == ["sub", "m"]
    k.check_invariants()


def test_s92_last_mount_gone_puts_every_pin_kill_litter_super(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """kill_litter_super / d_genocide / bpf_evict_inode: when the last mount of the
    instance goes, every pinned object is put (pin-only objects are freed and
    uncharged); a remount gives an empty instance.  A lazy unmount waits for the last
    open file; a dying namespace unmounts its instances too."""
    t.mount("bpf", BPFFS, "bpf")
    keep = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(keep, BPFFS + "/keep")
    gone = t.map_create(ARRAY, 4, 4, 1)
    t.mkdir(BPFFS + "/d")
    t.obj_pin(gone, BPFFS + "/d/gone")
    prog = t.prog_load(1, RETURN_ZERO)
    t.obj_pin(prog, BPFFS + "/p")
    t.close(gone)
    t.close(prog)
    assert k.users[0].locked_vm == 3
    t.umount(BPFFS)
    assert [o.refcnt for o in k.objects()] == [1]
    assert k.users[0].locked_vm == 1
    assert bpf_supers(k) == []
    t.mount("bpf", BPFFS, "bpf")
    assert t.listdir(BPFFS) == []
    # lazy unmount with an open directory: the instance lives until the close
    t.obj_pin(keep, BPFFS + "/again")
    d = t.open(BPFFS, os.O_RDONLY)
    t.umount(BPFFS, MNT_DETACH)
    assert t.fd_object(keep).refcnt == 2
    assert [e.d_name for e in t.getdents(d)][2:] == ["again"]
    t.close(d)
    assert t.fd_object(keep).refcnt == 1
    # a namespace that dies takes its private instance with it
    c = t.fork()
    c.unshare(CLONE_NEWNS)
    c.mount("bpf", BPFFS, "bpf")
    c.obj_pin(keep, BPFFS + "/in_child")
    assert t.fd_object(keep).refcnt == 2
    c.exit()
    assert t.fd_object(keep).refcnt == 1
    assert bpf_supers(k) == []
    k.check_invariants()


def test_s92_instance_survives_while_a_copy_is_mounted_elsewhere_kill_litter_super(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """deactivate_super: umount in one namespace keeps the instance (and its pins) while
    a copy is still mounted in another; the last umount puts the pins."""
    t.mount("bpf", BPFFS, "bpf")
    fd = t.map_create(ARRAY, 4, 4, 1)
    t.obj_pin(fd, BPFFS + "/m")
    c = t.fork()
    c.unshare(CLONE_NEWNS)
    t.umount(BPFFS)
    assert c.listdir(BPFFS) == ["m"]
    assert t.fd_object(fd).refcnt == 2
    c.umount(BPFFS)
    assert t.fd_object(fd).refcnt == 1
    k.check_invariants()


def test_s93_namespace_address_reuse_is_not_modelled_fresh_sb_per_new_ns_mount_ns() -> None:
    """mount_ns / ns_test_super (confidence L in the spec): the kernel keys the instance
    by the raw mnt_namespace pointer without holding a reference, so if the creating
    namespace is freed while its superblock lives on through a copy and a new namespace
    is later allocated at the same address, ``mount -t bpf`` there would silently get
    the old instance with all its pins.  That depends on allocator timing and is NOT
    modelled: pinfs compares the namespace object by identity and the superblock keeps
    the (dead) namespace object alive, so an address can never be reused.  Asserted:
    after the creating namespace died, every fresh mount in a new namespace gets a
    fresh, empty instance, and the old instance survives only through its copy."""
    k = pinfs.Kernel()
    t = k.init_task
    a = t.fork()
    a.unshare(CLONE_NEWNS)
    ns1 = a.mnt_ns
    a.mkdir("/tmp/b1")
    a.mount("bpf", "/tmp/b1", "bpf")
    fd = a.map_create(ARRAY, 4, 4, 1)
    a.obj_pin(fd, "/tmp/b1/old")
    a.unshare(CLONE_NEWNS)  # ns1's only task leaves: ns1 dies, its copy lives in ns2
    assert not ns1.alive
    (old_sb,) = bpf_supers(k)
    assert old_sb.s_fs_info is ns1
    assert a.listdir("/tmp/b1") == ["old"]
    for i in range(5):
        b = t.fork()
        b.unshare(CLONE_NEWNS)
        b.mkdir(f"/tmp/fresh{i}")
        b.mount("bpf", f"/tmp/fresh{i}", "bpf")
        assert b.listdir(f"/tmp/fresh{i}") == []
        assert b.stat(f"/tmp/fresh{i}").st_dev != old_sb.s_dev
        b.exit()
    a.mkdir("/tmp/b2")
    a.mount("bpf", "/tmp/b2", "bpf")  # ns2 has no instance of its own yet
    assert a.listdir("/tmp/b2") == []
    assert a.stat("/tmp/b2").st_dev != a.stat("/tmp/b1").st_dev
    a.exit()
    assert bpf_supers(k) == []
    assert k.objects() == []
    k.check_invariants()


def test_s94_boot_has_an_empty_sys_fs_bpf_and_no_bpffs_mounted_bpf_init(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """bpf_init: /sys/fs/bpf exists as an empty directory (sysfs_create_mount_point) and
    the bpf filesystem is registered, but the kernel never mounts it itself."""
    st = t.stat(BPFFS)
    assert st.st_mode & 0o170000 == 0o040000
    assert t.listdir(BPFFS) == []
    assert t.statfs(BPFFS).f_type != pinfs.BPF_FS_MAGIC
    assert "bpf" in k.filesystems
    assert bpf_supers(k) == []
    assert k.objects() == []
    fd = t.map_create(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1)
    assert err(t.obj_pin, fd, BPFFS + "/m") == errno.EPERM  # not bpffs until mounted
    k.check_invariants()
