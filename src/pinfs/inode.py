"""kernel/bpf/inode.c at b2197755: the bpf filesystem, function for function.

bpffs supplies only what differs from libfs: a directory ``inode_operations`` table
(``simple_lookup``, ``bpf_mkobj`` as ``->mknod``, ``bpf_mkdir``, ``simple_rmdir``,
``simple_unlink``), super operations whose ``evict_inode`` releases the pinned object,
and a mount that keys one superblock per mount namespace (``mount_ns``).

An object inode holds one reference on its map or program from pin to eviction.  The
reference travels into the new inode through ``dentry.d_fsdata`` (set around
``vfs_mknod``), exactly as the C smuggles it.  The object inodes' operation tables are
empty and serve only as type tags (``bpf_inode_type`` compares them by identity).
"""

from __future__ import annotations

import enum
import errno
import os
import stat

from pinfs.base.cred import CAP_SYS_ADMIN, Cred, capable
from pinfs.base.errors import KernelError, Refusal, kernel_error, naming
from pinfs.base.profiles import Profile
from pinfs.ebpf.attr import BPF_F_RDONLY, BPF_F_WRONLY, BPF_FS_MAGIC
from pinfs.ebpf.context import BpfTask
from pinfs.ebpf.objects import (
    BpfMap,
    BpfObject,
    BpfProg,
    bpf_map_get,
    bpf_map_inc,
    bpf_map_new_fd,
    bpf_map_put_with_uref,
    bpf_prog_get,
    bpf_prog_inc,
    bpf_prog_new_fd,
    bpf_prog_put,
)
from pinfs.fs.libfs import (
    kill_litter_super,
    simple_dir_operations,
    simple_fill_super,
    simple_link,
    simple_lookup,
    simple_rename,
    simple_rename_exchange,
    simple_rmdir,
    simple_statfs,
    simple_unlink,
)
from pinfs.fs.namei import (
    ACC_MODE,
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    dfd_start,
    done_path_create,
    filename_create,
    getname_copied,
    getname_user,
    path_lookupat,
    touch_atime,
    vfs_mknod,
)
from pinfs.fs.parser import fs_param_is_u32, match_octal
from pinfs.fs.permission import inode_permission
from pinfs.mountns import MountContext, mount_nodev, mount_ns
from pinfs.vfs import (
    FS_USERNS_MOUNT,
    MAY_WRITE,
    PATH_MAX,
    S_IALLUGO,
    Dentry,
    FileOperations,
    FileSystemType,
    Inode,
    InodeOperations,
    KernelServices,
    SuperBlock,
    SuperOperations,
    d_alloc,
    d_instantiate,
    dget,
    generic_delete_inode,
    inc_nlink,
    inode_init_owner,
    new_inode,
)

UNNAMED_MAJOR = 0


class BpfType(enum.IntEnum):
    """``enum bpf_type``: travels as the minor number of a fake ``dev_t``."""

    BPF_TYPE_UNSPEC = 0
    BPF_TYPE_PROG = 1
    BPF_TYPE_MAP = 2


BPF_TYPE_UNSPEC = BpfType.BPF_TYPE_UNSPEC
BPF_TYPE_PROG = BpfType.BPF_TYPE_PROG
BPF_TYPE_MAP = BpfType.BPF_TYPE_MAP


def bpf_any_get(raw: BpfObject, type: BpfType) -> BpfObject:
    """``bpf_any_get``: +1 on the object (a user reference for maps)."""
    if type == BPF_TYPE_PROG:
        assert isinstance(raw, BpfProg)
        bpf_prog_inc(raw)
    else:
        assert isinstance(raw, BpfMap)
        bpf_map_inc(raw, raw.kernel.profile.prog_array_flush_on_last_uref)
    return raw


def bpf_any_put(raw: BpfObject, type: BpfType) -> None:
    """``bpf_any_put``: -1 (``bpf_prog_put`` / ``bpf_map_put`` at the seed)."""
    if type == BPF_TYPE_PROG:
        assert isinstance(raw, BpfProg)
        bpf_prog_put(raw)
    else:
        assert isinstance(raw, BpfMap)
        bpf_map_put_with_uref(raw)


def bpf_fd_probe_obj(task: BpfTask, ufd: int) -> tuple[BpfObject, BpfType]:
    """``bpf_fd_probe_obj``: try the fd as a map, then as a program.  At the seed the
    error is the program getter's (EBADF: nothing open; EINVAL: not a program); since
    70ed506c3bbc every failure is EINVAL (``probe_bad_fd_errno``)."""
    try:
        return bpf_map_get(task, ufd, uref=True), BPF_TYPE_MAP
    except KernelError:
        pass
    try:
        return bpf_prog_get(task, ufd), BPF_TYPE_PROG
    except KernelError:
        if task.kernel.profile.probe_bad_fd_errno == "EINVAL":
            raise kernel_error(errno.EINVAL) from None
        raise


def _no_ops(name: str) -> InodeOperations:
    return InodeOperations(name=name)


bpf_prog_iops = _no_ops("bpf_prog_iops")
bpf_map_iops = _no_ops("bpf_map_iops")


def bpf_get_inode(sb: SuperBlock, dir: Inode | None, mode: int, cred: Cred) -> Inode:
    """``bpf_get_inode``: directories and regular files (and symlinks where the profile
    has them); owner per ``inode_init_owner``; times now; a ``get_next_ino`` number."""
    allowed = (stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK)
    if stat.S_IFMT(mode) not in allowed[: 3 if sb.kernel.profile.symlinks else 2]:
        raise kernel_error(errno.EINVAL)
    inode = new_inode(sb)
    inode.i_ino = sb.kernel.get_next_ino()
    now = sb.kernel.current_time()
    inode.i_atime = inode.i_mtime = inode.i_ctime = now
    inode_init_owner(inode, dir, mode, cred.fsuid, cred.fsgid)
    return inode


def bpf_inode_type(inode: Inode) -> BpfType:
    """``bpf_inode_type``: PROG or MAP by the inode's ops table; anything else EACCES."""
    if inode.i_op is bpf_prog_iops:
        return BPF_TYPE_PROG
    if inode.i_op is bpf_map_iops:
        return BPF_TYPE_MAP
    raise kernel_error(errno.EACCES)


def bpf_dname_reserved(dentry: Dentry) -> bool:
    """``bpf_dname_reserved``: a '.' anywhere in the name is reserved."""
    return "." in dentry.d_name


def bpf_dentry_finalize(dentry: Dentry, inode: Inode, dir: Inode) -> None:
    """``d_instantiate`` + ``dget`` (the tree's own reference); since 0f98621bef5d
    the parent's mtime and ctime move too (``dir_times_on_create``)."""
    d_instantiate(dentry, inode)
    dget(dentry)
    if dir.i_sb.kernel.profile.dir_times_on_create:
        dir.i_mtime = dir.i_ctime = dir.i_sb.kernel.current_time()


def _dotted(dentry: Dentry, where: str) -> KernelError:
    """EPERM from ``bpf_dname_reserved``, naming the name and who checked it."""
    return kernel_error(
        errno.EPERM,
        refusal=Refusal(
            "bpf_dname_reserved",
            "{name!r} contains a '.', reserved in bpffs ({where})",
            {"name": dentry.d_name, "where": where},
        ),
    )


def _reserved_at_create(dir: Inode, dentry: Dentry) -> bool:
    """The seed's create-time dot check (later kernels check at lookup instead)."""
    return not dir.i_sb.kernel.profile.dot_check_at_lookup and bpf_dname_reserved(dentry)


def bpf_mkdir(cred: Cred, dir: Inode, dentry: Dentry, mode: int) -> None:
    """``bpf_mkdir``: EPERM for reserved names; nlink 2 and parent +1; the parent's
    times are *not* touched at the seed; ``dget`` keeps the dentry in the tree."""
    if _reserved_at_create(dir, dentry):
        raise _dotted(dentry, "bpf_mkdir")
    inode = bpf_get_inode(dir.i_sb, dir, mode | stat.S_IFDIR, cred)
    inode.i_op = bpf_dir_iops_for(dir.i_sb.kernel.profile)
    inode.i_fop = simple_dir_operations
    inc_nlink(inode)
    inc_nlink(dir)
    bpf_dentry_finalize(dentry, inode, dir)


def bpf_mkobj_ops(cred: Cred, dir: Inode, dentry: Dentry, mode: int, iops: InodeOperations) -> None:
    """``bpf_mkobj_ops``: EPERM for reserved names; a regular inode tagged with
    ``iops`` whose ``i_private`` takes the object reference from ``d_fsdata``.  Its
    open is ENXIO at the seed (``no_open``), EIO later (``bpffs_obj_fops``)."""
    if _reserved_at_create(dir, dentry):
        raise _dotted(dentry, "bpf_mkobj_ops")
    inode = bpf_get_inode(dir.i_sb, dir, mode | stat.S_IFREG, cred)
    inode.i_op = iops
    inode.i_private = dentry.d_fsdata
    if dir.i_sb.kernel.profile.open_pinned_errno == "EIO":
        inode.i_fop = bpffs_obj_fops
    bpf_dentry_finalize(dentry, inode, dir)


def _open_eio(inode: Inode, file: object) -> None:
    raise kernel_error(errno.EIO)


bpffs_obj_fops = FileOperations(name="bpffs_obj_fops", open=_open_eio)


def bpf_mkobj(cred: Cred, dir: Inode, dentry: Dentry, mode: int, devt: int) -> None:
    """``bpf_mkobj`` (the ``->mknod`` op): only the kernel's own call gets through;
    mknod(2) from user space always ends in EPERM here."""
    major, minor = devt >> 20, devt & 0xFFFFF
    if major != UNNAMED_MAJOR or not stat.S_ISREG(mode) or dentry.d_fsdata is None:
        raise kernel_error(errno.EPERM)
    if minor == BPF_TYPE_PROG:
        bpf_mkobj_ops(cred, dir, dentry, mode, bpf_prog_iops)
    elif minor == BPF_TYPE_MAP:
        bpf_mkobj_ops(cred, dir, dentry, mode, bpf_map_iops)
    else:
        raise kernel_error(errno.EPERM)


def bpf_lookup(dir: Inode, dentry: Dentry) -> None:
    """``bpf_lookup`` (<= v4.9): names with a dot are EPERM at lookup; since
    d71fa5c9763c not in a directory of mode 000 (how the kernel makes maps.debug)."""
    if bpf_dname_reserved(dentry) and (
        not dir.i_sb.kernel.profile.dot_check_skips_mode0_dir or dir.i_mode & S_IALLUGO
    ):
        raise _dotted(dentry, "bpf_lookup")
    simple_lookup(dir, dentry)


def bpf_link(old_dentry: Dentry, dir: Inode, new_dentry: Dentry) -> None:
    """``bpf_link`` (bb35a6ef7da4): a dot check where lookup does not do it."""
    if _reserved_at_create(dir, new_dentry):
        raise _dotted(new_dentry, "bpf_link")
    simple_link(old_dentry, dir, new_dentry)


def bpf_rename(
    cred: Cred, old_dir: Inode, old_dentry: Dentry, new_dir: Inode, new_dentry: Dentry, flags: int
) -> None:
    """``bpf_rename`` / ``simple_rename``: the flags this profile's bpffs takes
    (``rename_flags``), the dot check where lookup does not do it."""
    allowed = {"none": 0, "noreplace": RENAME_NOREPLACE}.get(
        old_dir.i_sb.kernel.profile.rename_flags, RENAME_NOREPLACE | RENAME_EXCHANGE
    )
    if flags & ~allowed:
        raise kernel_error(errno.EINVAL)
    if _reserved_at_create(new_dir, new_dentry):
        raise _dotted(new_dentry, "bpf_rename")
    if flags & RENAME_EXCHANGE:
        simple_rename_exchange(old_dir, old_dentry, new_dir, new_dentry)
    else:
        simple_rename(old_dir, old_dentry, new_dir, new_dentry)


def bpf_symlink(cred: Cred, dir: Inode, dentry: Dentry, target: str) -> None:
    """``bpf_symlink`` (0f98621bef5d): an lrwxrwxrwx inode holding its target."""
    inode = bpf_get_inode(
        dir.i_sb, dir, stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO | stat.S_IFLNK, cred
    )
    inode.i_link = target
    bpf_dentry_finalize(dentry, inode, dir)


_DIR_IOPS: dict[tuple[bool, bool, bool], InodeOperations] = {}


def bpf_dir_iops_for(profile: Profile) -> InodeOperations:
    """``bpf_dir_iops`` as this profile's kernel had it.  At the seed: lookup, mknod,
    mkdir, rmdir, unlink (no rename, link or symlink: those are EPERM)."""
    key = (profile.dot_check_at_lookup, profile.rename_link_ops, profile.symlinks)
    iops = _DIR_IOPS.get(key)
    if iops is None:
        iops = _DIR_IOPS[key] = InodeOperations(
            name="bpf_dir_iops",
            lookup=bpf_lookup if profile.dot_check_at_lookup else simple_lookup,
            mknod=bpf_mkobj,
            mkdir=bpf_mkdir,
            rmdir=simple_rmdir,
            unlink=simple_unlink,
            link=bpf_link if profile.rename_link_ops else None,
            rename2=bpf_rename if profile.rename_link_ops else None,
            symlink=bpf_symlink if profile.symlinks else None,
        )
    return iops


def MKDEV(major: int, minor: int) -> int:
    return major << 20 | minor


def bpf_obj_do_pin(
    task: BpfTask, pathname: str, raw: BpfObject, type: BpfType, path_fd: int | None = None
) -> None:
    """``bpf_obj_do_pin``: ``kern_path_create``, then "is the parent on bpffs?" (EPERM),
    then ``vfs_mknod`` with the object in ``d_fsdata``."""
    start = dfd_start(task, path_fd, pathname)
    parent, dentry = filename_create(task, pathname, is_dir=False, start=start)
    try:
        mode = stat.S_IFREG | (0o600 & ~task.fs.umask)
        devt = MKDEV(UNNAMED_MAJOR, type)
        # security_path_mknod: no LSM is modelled
        dir = parent.dentry.d_inode
        assert dir is not None
        if dir.i_op is not bpf_dir_iops_for(dir.i_sb.kernel.profile):  # the table, not its name
            refusal = Refusal(
                "bpf_obj_do_pin",
                "the parent directory is on {fstype}, not on a bpf filesystem",
                {"fstype": dir.i_sb.s_type.name},
            )
            raise kernel_error(errno.EPERM, pathname, refusal)
        dentry.d_fsdata = raw
        try:
            vfs_mknod(task.cred, task.kernel.init_user_ns, dir, dentry, mode, devt)
        except KernelError as exc:
            raise naming(exc, pathname) from None
        finally:
            dentry.d_fsdata = None
    finally:
        done_path_create(parent, dentry)


def _getname(task: BpfTask, pathname_ptr: int, copied: bytes | None) -> str:
    """``getname`` of the attr's ``pathname``: from user memory, or the bytes a typed
    helper already holds (:func:`~pinfs.fs.namei.getname_copied`, the same checks)."""
    if copied is not None:
        return getname_copied(copied[:PATH_MAX])
    return getname_user(task.mem, pathname_ptr)


def bpf_obj_pin_user(
    task: BpfTask,
    ufd: int,
    pathname_ptr: int,
    path_fd: int | None = None,
    copied: bytes | None = None,
) -> int:
    """``bpf_obj_pin_user`` (BPF_OBJ_PIN): at the seed the path is read first, then the
    fd probed (since v5.6 the other way round); any failure after the probe drops the
    probe's reference (S43-S57).  ``copied``: the name's bytes, if a typed helper
    passes them instead of ``pathname_ptr`` (:func:`_getname`)."""
    if task.kernel.profile.pin_reads_path_first:
        pname = _getname(task, pathname_ptr, copied)
        raw, type = bpf_fd_probe_obj(task, ufd)
    else:
        raw, type = bpf_fd_probe_obj(task, ufd)
        try:
            pname = _getname(task, pathname_ptr, copied)
        except BaseException:
            bpf_any_put(raw, type)
            raise
    try:
        bpf_obj_do_pin(task, pname, raw, type, path_fd)
    except BaseException:
        bpf_any_put(raw, type)
        raise
    return 0


def bpf_get_file_flag(flags: int) -> int:
    """``bpf_get_file_flag``: BPF_F_RDONLY/BPF_F_WRONLY -> O_RDONLY/O_WRONLY (both at
    once: EINVAL), else O_RDWR."""
    if flags & BPF_F_RDONLY and flags & BPF_F_WRONLY:
        raise kernel_error(errno.EINVAL)
    if flags & BPF_F_RDONLY:
        return os.O_RDONLY
    if flags & BPF_F_WRONLY:
        return os.O_WRONLY
    return os.O_RDWR


def bpf_obj_do_get(
    task: BpfTask, pathname: str, f_flags: int = os.O_RDWR, path_fd: int | None = None
) -> tuple[BpfObject, BpfType]:
    """``bpf_obj_do_get``: follow the path; need MAY_WRITE at the seed, ACC_MODE of
    the flags since v4.15 (EROFS on a read-only superblock, EACCES); then the type
    check (EACCES), +1, ``touch_atime``."""
    start = dfd_start(task, path_fd, pathname)
    path = path_lookupat(task, pathname, follow=True, start=start)  # kern_path(FOLLOW)
    inode = path.dentry.d_inode
    assert inode is not None
    if task.kernel.profile.obj_get_access_mask == "ACC_MODE":
        mask = ACC_MODE[f_flags & os.O_ACCMODE]
    else:
        mask = MAY_WRITE
    err = inode_permission(task.cred, inode, mask)
    if err:
        raise kernel_error(err, pathname)
    try:
        type = bpf_inode_type(inode)
    except KernelError:
        refusal = Refusal("bpf_inode_type", "the file is not a pinned map or program")
        raise kernel_error(errno.EACCES, pathname, refusal) from None
    raw = bpf_any_get(inode.i_private, type)
    touch_atime(path)
    return raw, type


def bpf_obj_get_user(
    task: BpfTask,
    pathname_ptr: int,
    flags: int = 0,
    path_fd: int | None = None,
    copied: bytes | None = None,
) -> int:
    """``bpf_obj_get_user`` (BPF_OBJ_GET): a new close-on-exec fd on a new file, O_RDWR
    (since v4.15 a map's file takes the flags' mode); if no fd can be had (EMFILE)
    the reference is dropped again.  ``copied`` as for :func:`bpf_obj_pin_user`."""
    f_flags = bpf_get_file_flag(flags)
    pname = _getname(task, pathname_ptr, copied)
    raw, type = bpf_obj_do_get(task, pname, f_flags, path_fd)
    try:
        if type == BPF_TYPE_PROG:
            assert isinstance(raw, BpfProg)
            return bpf_prog_new_fd(task, raw)
        assert isinstance(raw, BpfMap)
        if not task.kernel.profile.map_fd_mode_from_flags:
            f_flags = os.O_RDWR
        return bpf_map_new_fd(task, raw, f_flags)
    except BaseException:
        bpf_any_put(raw, type)
        raise


def bpf_evict_inode(inode: Inode) -> None:
    """``bpf_evict_inode``: an object inode's last reference puts the object."""
    try:
        type = bpf_inode_type(inode)
    except KernelError:
        return
    bpf_any_put(inode.i_private, type)
    inode.i_private = None


def bpf_show_options(root: Dentry) -> str:
    """``bpf_show_options`` (v4.10): ``uid=``/``gid=`` when not global root (v6.8),
    then ``mode=`` unless 0777 (sticky bit aside).  The owner is read from the root
    inode, which equals the mount options unless the root was chown'ed since."""
    inode = root.d_inode
    if not root.d_sb.kernel.profile.mount_mode_option or inode is None:
        return ""
    out = ""
    if root.d_sb.kernel.profile.mount_uid_gid_options:
        out += f",uid={inode.i_uid}" if inode.i_uid else ""
        out += f",gid={inode.i_gid}" if inode.i_gid else ""
    mode = inode.i_mode & S_IALLUGO & ~stat.S_ISVTX
    return out + (f",mode={mode:o}" if mode != 0o777 else "")


bpf_super_ops = SuperOperations(
    name="bpf_super_ops",
    statfs=simple_statfs,
    drop_inode=generic_delete_inode,
    evict_inode=bpf_evict_inode,
    show_options=bpf_show_options,
)


def bpf_fill_super(sb: SuperBlock, ctx: MountContext) -> None:
    """``bpf_fill_super``: libfs root (ino 1), then our ops and mode 01777 (sticky,
    world-writable), owned by global root whoever mounts it.  Later kernels: refuse
    unprivileged user-namespace instances (v6.9), take ``mode=`` (v4.10) and
    ``uid=``/``gid=`` (v6.8, default: the mounter) and preload maps.debug/progs.debug."""
    kernel = sb.kernel
    init_ns = kernel.init_user_ns
    if (
        kernel.profile.userns_mount == "privileged_create_only"
        and ctx.cred.user_ns is not init_ns
        and not capable(ctx.cred, init_ns, CAP_SYS_ADMIN)
    ):
        raise kernel_error(errno.EPERM)
    mode, uid, gid = bpf_parse_options(kernel, ctx)
    simple_fill_super(sb, BPF_FS_MAGIC)
    sb.s_op = bpf_super_ops
    assert sb.s_root is not None and sb.s_root.d_inode is not None
    inode = sb.s_root.d_inode
    inode.i_op = bpf_dir_iops_for(kernel.profile)
    inode.i_mode &= ~S_IALLUGO
    inode.i_mode |= stat.S_ISVTX | mode
    inode.i_uid, inode.i_gid = uid, gid
    if kernel.profile.preload_debug_files:
        populate_bpffs(sb, ctx.cred)


def bpf_parse_options(kernel: KernelServices, ctx: MountContext) -> tuple[int, int, int]:
    """``bpf_parse_param``: ``mode=`` (``fsparam_u32oct`` since v5.4, else EINVAL;
    before, ``match_octal``, where a bad value is ignored), ``uid=``/``gid=``
    (``fsparam_u32``: decimal, 0x.. or 0..; ids of the mounter's namespace, EINVAL if
    unmapped); unknown options are ignored."""
    mode, uid, gid = 0o777, 0, 0
    if kernel.profile.mount_uid_gid_options:
        uid, gid = ctx.cred.fsuid, ctx.cred.fsgid
    for option in (ctx.options or "").split(","):
        key, sep, text = option.partition("=")
        value = text if sep else None
        if key == "source" and kernel.profile.mount_options_fs_parse:
            raise kernel_error(errno.EINVAL)  # "VFS: Multiple sources"
        if key == "mode" and kernel.profile.mount_mode_option:
            if kernel.profile.mount_options_fs_parse:
                mode = fs_param_is_u32(value, 8) & S_IALLUGO
            elif (number := match_octal(value)) is not None:
                mode = number & S_IALLUGO
        elif key in ("uid", "gid") and kernel.profile.mount_uid_gid_options:
            ns = ctx.cred.user_ns
            kid = (ns.make_kuid if key == "uid" else ns.make_kgid)(fs_param_is_u32(value, 0))
            if kid is None:
                raise kernel_error(errno.EINVAL)
            uid, gid = (kid, gid) if key == "uid" else (uid, kid)
    return mode, uid, gid


bpf_link_iops = _no_ops("bpf_link_iops")


def populate_bpffs(sb: SuperBlock, cred: Cred) -> None:
    """``populate_bpffs`` (d71fa5c9763c): maps.debug and progs.debug, 0400, the
    mounter's.  They are iterator links, which pinfs does not model: no object is
    held, OBJ_GET gives EACCES and open gives EIO."""
    root = sb.s_root
    assert root is not None and root.d_inode is not None
    for name in ("maps.debug", "progs.debug"):
        dentry = d_alloc(root, name)
        inode = bpf_get_inode(sb, root.d_inode, stat.S_IFREG | stat.S_IRUSR, cred)
        inode.i_op = bpf_link_iops
        inode.i_fop = bpffs_obj_fops
        d_instantiate(dentry, inode)  # the tree keeps d_alloc's reference


def bpf_mount(
    fs_type: FileSystemType, kernel: KernelServices, flags: int, dev_name: str, ctx: MountContext
) -> Dentry:
    """``bpf_mount``: one superblock per mount namespace at the seed (``mount_ns``);
    a new instance per mount since e27f4a942a0e (``mount_nodev``)."""
    if kernel.profile.instance_per_mount:
        return mount_nodev(fs_type, kernel, flags, ctx, bpf_fill_super)
    return mount_ns(fs_type, kernel, flags, ctx.mnt_ns, ctx, bpf_fill_super)


bpf_fs_type = FileSystemType(
    name="bpf",
    mount=bpf_mount,
    kill_sb=kill_litter_super,
    fs_flags=FS_USERNS_MOUNT,
)
