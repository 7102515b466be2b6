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
import stat
from typing import TYPE_CHECKING, Any

from .bpf_attr import BPF_FS_MAGIC
from .bpf_objects import (
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
from .errors import KernelError, kernel_error
from .libfs import (
    kill_litter_super,
    simple_dir_operations,
    simple_fill_super,
    simple_lookup,
    simple_rmdir,
    simple_statfs,
    simple_unlink,
)
from .mountns import MountContext, mount_ns
from .namei import done_path_create, filename_create, path_lookupat, touch_atime, vfs_mknod
from .permission import inode_permission
from .vfs import (
    FS_USERNS_MOUNT,
    MAY_WRITE,
    S_IALLUGO,
    Dentry,
    FileSystemType,
    Inode,
    InodeOperations,
    KernelServices,
    SuperBlock,
    SuperOperations,
    d_instantiate,
    dget,
    generic_delete_inode,
    inc_nlink,
    inode_init_owner,
    new_inode,
)

if TYPE_CHECKING:
    from .cred import Cred
    from .task import Task

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


def bpf_fd_probe_obj(task: Task, ufd: int) -> tuple[BpfObject, BpfType]:
    """``bpf_fd_probe_obj``: try the fd as a map, then as a program; the error is
    always the program getter's (EBADF: nothing open; EINVAL: not a program)."""
    try:
        return bpf_map_get(task, ufd, uref=True), BPF_TYPE_MAP
    except KernelError:
        return bpf_prog_get(task, ufd), BPF_TYPE_PROG


def _no_ops(name: str) -> InodeOperations:
    return InodeOperations(name=name)


bpf_prog_iops = _no_ops("bpf_prog_iops")
bpf_map_iops = _no_ops("bpf_map_iops")


def bpf_get_inode(sb: SuperBlock, dir: Inode | None, mode: int, cred: Cred) -> Inode:
    """``bpf_get_inode``: only directories and regular files; owner per
    ``inode_init_owner``; times now; a number from ``get_next_ino``."""
    if stat.S_IFMT(mode) not in (stat.S_IFDIR, stat.S_IFREG):
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


def bpf_mkdir(cred: Cred, dir: Inode, dentry: Dentry, mode: int) -> None:
    """``bpf_mkdir``: EPERM for reserved names; nlink 2 and parent +1; the parent's
    times are *not* touched at the seed; ``dget`` keeps the dentry in the tree."""
    if bpf_dname_reserved(dentry):
        raise kernel_error(errno.EPERM)
    inode = bpf_get_inode(dir.i_sb, dir, mode | stat.S_IFDIR, cred)
    inode.i_op = bpf_dir_iops
    inode.i_fop = simple_dir_operations
    inc_nlink(inode)
    inc_nlink(dir)
    d_instantiate(dentry, inode)
    dget(dentry)


def bpf_mkobj_ops(cred: Cred, dir: Inode, dentry: Dentry, mode: int, iops: InodeOperations) -> None:
    """``bpf_mkobj_ops``: EPERM for reserved names; a regular inode tagged with
    ``iops`` whose ``i_private`` takes the object reference from ``d_fsdata``."""
    if bpf_dname_reserved(dentry):
        raise kernel_error(errno.EPERM)
    inode = bpf_get_inode(dir.i_sb, dir, mode | stat.S_IFREG, cred)
    inode.i_op = iops
    inode.i_private = dentry.d_fsdata
    d_instantiate(dentry, inode)
    dget(dentry)


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


bpf_dir_iops = InodeOperations(
    name="bpf_dir_iops",
    lookup=simple_lookup,
    mknod=bpf_mkobj,
    mkdir=bpf_mkdir,
    rmdir=simple_rmdir,
    unlink=simple_unlink,
)


def MKDEV(major: int, minor: int) -> int:
    return major << 20 | minor


def bpf_obj_do_pin(task: Task, pathname: str, raw: BpfObject, type: BpfType) -> None:
    """``bpf_obj_do_pin``: ``kern_path_create``, then "is the parent on bpffs?" (EPERM),
    then ``vfs_mknod`` with the object in ``d_fsdata``."""
    parent, dentry = filename_create(task, pathname, is_dir=False)  # kern_path_create
    try:
        mode = stat.S_IFREG | (0o600 & ~task.fs.umask)
        devt = MKDEV(UNNAMED_MAJOR, type)
        # security_path_mknod: no LSM is modelled
        dir = parent.dentry.d_inode
        assert dir is not None
        if dir.i_op is not bpf_dir_iops:
            raise kernel_error(errno.EPERM, pathname)
        dentry.d_fsdata = raw
        try:
            vfs_mknod(task.cred, task.kernel.init_user_ns, dir, dentry, mode, devt)
        except OSError as exc:
            raise kernel_error(exc.errno or 0, pathname) from None
        finally:
            dentry.d_fsdata = None
    finally:
        done_path_create(parent, dentry)


def bpf_obj_pin_user(task: Task, ufd: int, pathname_ptr: int) -> int:
    """``bpf_obj_pin_user`` (BPF_OBJ_PIN): the path is read first, then the fd probed;
    any failure after the probe drops the probe's reference (S43-S57)."""
    pname = task.getname_user(pathname_ptr)
    raw, type = bpf_fd_probe_obj(task, ufd)
    try:
        bpf_obj_do_pin(task, pname, raw, type)
    except BaseException:
        bpf_any_put(raw, type)
        raise
    return 0


def bpf_obj_do_get(task: Task, pathname: str) -> tuple[BpfObject, BpfType]:
    """``bpf_obj_do_get``: follow the path, need MAY_WRITE (EROFS on a read-only
    superblock, EACCES), then the type check (EACCES), +1, ``touch_atime``."""
    path = path_lookupat(task, pathname, follow=True)  # kern_path(LOOKUP_FOLLOW)
    inode = path.dentry.d_inode
    assert inode is not None
    err = inode_permission(task.cred, inode, MAY_WRITE)
    if err:
        raise kernel_error(err, pathname)
    try:
        type = bpf_inode_type(inode)
    except KernelError:
        raise kernel_error(errno.EACCES, pathname) from None
    raw = bpf_any_get(inode.i_private, type)
    touch_atime(path)
    return raw, type


def bpf_obj_get_user(task: Task, pathname_ptr: int) -> int:
    """``bpf_obj_get_user`` (BPF_OBJ_GET): a new O_RDWR, close-on-exec fd on a new
    file; if no fd can be had (EMFILE) the reference is dropped again."""
    pname = task.getname_user(pathname_ptr)
    raw, type = bpf_obj_do_get(task, pname)
    try:
        if type == BPF_TYPE_PROG:
            assert isinstance(raw, BpfProg)
            return bpf_prog_new_fd(task, raw)
        assert isinstance(raw, BpfMap)
        return bpf_map_new_fd(task, raw)
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


bpf_super_ops = SuperOperations(
    name="bpf_super_ops",
    statfs=simple_statfs,
    drop_inode=generic_delete_inode,
    evict_inode=bpf_evict_inode,
)


def bpf_fill_super(sb: SuperBlock, data: Any) -> None:
    """``bpf_fill_super``: libfs root (ino 1), then our ops and mode 01777 (sticky,
    world-writable), owned by global root whoever mounts it."""
    simple_fill_super(sb, BPF_FS_MAGIC)
    sb.s_op = bpf_super_ops
    assert sb.s_root is not None and sb.s_root.d_inode is not None
    inode = sb.s_root.d_inode
    inode.i_op = bpf_dir_iops
    inode.i_mode &= ~S_IALLUGO
    inode.i_mode |= stat.S_ISVTX | 0o777


def bpf_mount(
    fs_type: FileSystemType, kernel: KernelServices, flags: int, dev_name: str, ctx: MountContext
) -> Dentry:
    """``bpf_mount``: one superblock per mount namespace; options are ignored."""
    return mount_ns(fs_type, kernel, flags, ctx.mnt_ns, ctx, bpf_fill_super)


bpf_fs_type = FileSystemType(
    name="bpf",
    mount=bpf_mount,
    kill_sb=kill_litter_super,
    fs_flags=FS_USERNS_MOUNT,
)
