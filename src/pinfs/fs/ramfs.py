"""fs/ramfs/inode.c: the in-memory filesystem the kernel boots with (and ``tmpfs``).

Everything a small filesystem needs beyond libfs: inodes for files, directories,
symlinks and special files, each pinned in the dcache by a creation reference.
``tmpfs`` is the same filesystem with its own magic number and ``rename2`` (NOREPLACE
and EXCHANGE), as shmem had in v4.4; sizes and block counts are not modelled.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

import attrs

from pinfs.base.cred import Cred
from pinfs.base.cstring import c_string_bytes
from pinfs.base.errors import kernel_error
from pinfs.base.uapi import STATX_BTIME, STATX_CTIME, STATX_MTIME
from pinfs.fs.attr import ATTR_SIZE, IAttr, simple_setattr
from pinfs.fs.char_dev import def_chr_fops
from pinfs.fs.libfs import (
    MAX_LFS_FILESIZE,
    SEEK_DATA,
    SEEK_HOLE,
    generic_file_llseek,
    kill_litter_super,
    simple_dir_operations,
    simple_empty,
    simple_link,
    simple_lookup,
    simple_rename,
    simple_rename_exchange,
    simple_rmdir,
    simple_statfs,
    simple_unlink,
    vfs_setpos,
)
from pinfs.fs.libfs import WouldBlockForever as WouldBlockForever  # its old home
from pinfs.fs.namei import RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT
from pinfs.fs.parser import fs_param_is_u32, match_octal, simple_strtoul
from pinfs.mountns import FillSuper, MountContext, mount_nodev
from pinfs.vfs import (
    FS_USERNS_MOUNT,
    S_IALLUGO,
    Dentry,
    File,
    FileOperations,
    FileSystemType,
    Inode,
    InodeOperations,
    KernelServices,
    SuperBlock,
    SuperOperations,
    d_alloc,
    d_instantiate,
    d_make_root,
    d_unlink,
    dget,
    dput,
    generic_delete_inode,
    inc_nlink,
    inode_init_owner,
    new_inode,
)

S_IFMT = 0o170000
RAMFS_MAGIC = 0x858458F6
TMPFS_MAGIC = 0x01021994


def _open_device(inode: Inode, file: File) -> None:
    """Block devices (``blkdev_open``: no disk) and sockets (``sock_no_open``): ENXIO."""
    raise kernel_error(errno.ENXIO)


def fifo_open(inode: Inode, file: File) -> None:
    """``fifo_open`` (fs/pipe.c): readers and writers meet.  O_NONBLOCK readers and
    O_RDWR always open; an O_NONBLOCK writer with no reader is ENXIO."""
    counts = inode.i_private if isinstance(inode.i_private, dict) else {"r": 0, "w": 0}
    accmode, nonblock = file.f_flags & os.O_ACCMODE, file.f_flags & os.O_NONBLOCK
    if accmode == os.O_RDONLY and not counts["w"] and not nonblock:
        raise WouldBlockForever("open(O_RDONLY) of a FIFO with no writer blocks")
    if accmode == os.O_WRONLY and not counts["r"]:
        if nonblock:
            raise kernel_error(errno.ENXIO)
        raise WouldBlockForever("open(O_WRONLY) of a FIFO with no reader blocks")
    counts["r"] += accmode != os.O_WRONLY
    counts["w"] += accmode != os.O_RDONLY
    inode.i_private = counts


def fifo_release(file: File) -> None:
    """``pipe_release``: one reader or writer fewer."""
    inode = file.f_inode
    assert inode is not None and isinstance(inode.i_private, dict)
    accmode = file.f_flags & os.O_ACCMODE
    inode.i_private["r"] -= accmode != os.O_WRONLY
    inode.i_private["w"] -= accmode != os.O_RDONLY


def _read_regular(file: File, count: int) -> bytes:
    """``generic_file_read_iter``: nothing writes contents here, so a file holds
    the zeros truncate(2) gave it."""
    inode = file.f_inode
    assert inode is not None
    n = max(0, min(count, inode.i_size - file.f_pos))
    file.f_pos += n
    return bytes(n)


def _llseek_regular(file: File, offset: int, whence: int) -> int:
    """ramfs: ``generic_file_llseek``.  tmpfs: ``shmem_file_llseek``, where
    SEEK_DATA/SEEK_HOLE look at pages -- and nothing ever writes one here, so the
    whole file is a hole (SEEK_DATA is ENXIO, SEEK_HOLE stays put)."""
    inode = file.f_inode
    assert inode is not None
    if inode.i_sb.s_magic != TMPFS_MAGIC or whence not in (SEEK_DATA, SEEK_HOLE):
        return generic_file_llseek(file, offset, whence)
    if offset < 0 or offset >= inode.i_size or whence == SEEK_DATA:
        raise kernel_error(errno.ENXIO)
    return vfs_setpos(file, offset, MAX_LFS_FILESIZE)


# No ->open, as in the kernel's ramfs_file_operations: do_dentry_open has nothing to call.
ramfs_file_operations = FileOperations(
    name="ramfs_file_operations", read=_read_regular, llseek=_llseek_regular
)
device_file_operations = FileOperations(name="def_blk_fops", open=_open_device)
pipefifo_fops = FileOperations(name="pipefifo_fops", open=fifo_open, release=fifo_release)
_SPECIAL_FOPS = {stat.S_IFIFO: pipefifo_fops, stat.S_IFCHR: def_chr_fops}


def ramfs_get_inode(sb: SuperBlock, dir: Inode | None, mode: int, dev: int, cred: Cred) -> Inode:
    """``ramfs_get_inode``: a new inode of any type, owned per ``inode_init_owner``."""
    inode = new_inode(sb)
    kernel = sb.kernel
    inode.i_ino = kernel.get_next_ino()
    inode_init_owner(inode, dir, mode, cred.fsuid, cred.fsgid)
    now = kernel.current_time()
    inode.i_atime = inode.i_mtime = inode.i_ctime = inode.i_crtime = now
    fmt = mode & S_IFMT
    if fmt == stat.S_IFREG:
        inode.i_fop = ramfs_file_operations
        inode.i_op = sb.s_fs_info.get("file_iops")
    elif fmt == stat.S_IFDIR:
        inode.i_op = sb.s_fs_info["dir_iops"]
        inode.i_fop = simple_dir_operations
        inc_nlink(inode)  # "." in the new directory
    elif fmt == stat.S_IFLNK:
        inode.i_op = sb.s_fs_info.get("other_iops")
    else:  # init_special_inode: FIFOs open as pipes, character devices by driver
        inode.i_fop = _SPECIAL_FOPS.get(fmt, device_file_operations)
        inode.i_rdev = dev
        inode.i_op = sb.s_fs_info.get("other_iops")
    return inode


def ramfs_mknod(cred: Cred, dir: Inode, dentry: Dentry, mode: int, dev: int) -> None:
    """``ramfs_mknod``: instantiate, pin the dentry, and touch the parent's times."""
    inode = ramfs_get_inode(dir.i_sb, dir, mode, dev, cred)
    d_instantiate(dentry, inode)
    dget(dentry)
    dir.i_mtime = dir.i_ctime = dir.i_sb.kernel.current_time()


def ramfs_mkdir(cred: Cred, dir: Inode, dentry: Dentry, mode: int) -> None:
    ramfs_mknod(cred, dir, dentry, mode | stat.S_IFDIR, 0)
    inc_nlink(dir)


def ramfs_create(cred: Cred, dir: Inode, dentry: Dentry, mode: int) -> None:
    ramfs_mknod(cred, dir, dentry, mode | stat.S_IFREG, 0)


def ramfs_symlink(cred: Cred, dir: Inode, dentry: Dentry, target: str) -> None:
    """``ramfs_symlink``: an lrwxrwxrwx inode holding its target.  Everything that can
    fail comes before ``ramfs_get_inode``, so a failure leaves no orphan inode."""
    size = len(c_string_bytes(target, "target"))
    inode = ramfs_get_inode(dir.i_sb, dir, stat.S_IFLNK | 0o777, 0, cred)
    inode.i_link = target
    inode.i_size = size
    d_instantiate(dentry, inode)
    dget(dentry)
    dir.i_mtime = dir.i_ctime = dir.i_sb.kernel.current_time()


def shmem_rename2(
    cred: Cred, old_dir: Inode, old_dentry: Dentry, new_dir: Inode, new_dentry: Dentry, flags: int
) -> None:
    """``shmem_rename2``: NOREPLACE, EXCHANGE and WHITEOUT around ``simple_rename``."""
    if flags & RENAME_EXCHANGE:
        simple_rename_exchange(old_dir, old_dentry, new_dir, new_dentry)
        return
    if flags & RENAME_NOREPLACE and new_dentry.d_inode is not None:
        raise kernel_error(errno.EEXIST)
    if not simple_empty(new_dentry):
        raise kernel_error(errno.ENOTEMPTY)
    if flags & RENAME_WHITEOUT:
        shmem_whiteout(cred, old_dir, old_dentry)
    simple_rename(old_dir, old_dentry, new_dir, new_dentry)


def shmem_whiteout(cred: Cred, old_dir: Inode, old_dentry: Dentry) -> None:
    """``shmem_whiteout``: a 0:0 character device takes the old name (hashed while the
    old dentry is still in place; ``d_move`` then takes only the old dentry away)."""
    parent = old_dentry.d_parent
    assert parent is not None
    d_unlink(parent, old_dentry)
    whiteout = d_alloc(parent, old_dentry.d_name)
    ramfs_mknod(cred, old_dir, whiteout, stat.S_IFCHR, 0)
    dput(whiteout)


def shmem_setattr(cred: Cred, inode: Inode, attr: IAttr) -> None:
    """``shmem_setattr``: a size change also moves mtime and ctime."""
    if attr.ia_valid & ATTR_SIZE and attr.ia_size != inode.i_size:
        inode.i_mtime = inode.i_ctime = inode.i_sb.kernel.current_time()
    simple_setattr(cred, inode, attr)


#: STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND | STATX_ATTR_NODUMP
SHMEM_ATTRIBUTES = 0x10 | 0x20 | 0x40


def shmem_getattr(inode: Inode, request_mask: int) -> tuple[int, int, int]:
    """``shmem_getattr``: the birth time when asked for it, and the three attribute
    bits tmpfs can report; with multigrain timestamps (``fill_mg_cmtime``, v6.13)
    mtime and ctime are reported only when asked for."""
    add = STATX_BTIME if request_mask & STATX_BTIME else 0
    drop = 0
    if inode.i_sb.kernel.profile.statx_mgtime and not request_mask & (STATX_MTIME | STATX_CTIME):
        drop = STATX_MTIME | STATX_CTIME
    return add, drop, SHMEM_ATTRIBUTES


shmem_file_inode_operations = InodeOperations(
    name="shmem_inode_operations", setattr=shmem_setattr, getattr=shmem_getattr
)
#: tmpfs symlinks and special files (``shmem_symlink_inode_operations``,
#: ``shmem_special_inode_operations``): only their ``->getattr`` differs from ramfs's.
shmem_special_inode_operations = InodeOperations(
    name="shmem_special_inode_operations", getattr=shmem_getattr
)

ramfs_dir_inode_operations = InodeOperations(
    name="ramfs_dir_inode_operations",
    lookup=simple_lookup,
    create=ramfs_create,
    link=simple_link,
    unlink=simple_unlink,
    symlink=ramfs_symlink,
    mkdir=ramfs_mkdir,
    rmdir=simple_rmdir,
    mknod=ramfs_mknod,
    rename=simple_rename,
)

shmem_dir_inode_operations = attrs.evolve(
    ramfs_dir_inode_operations,
    name="shmem_dir_inode_operations",
    rename=None,
    rename2=shmem_rename2,
    setattr=shmem_setattr,
    getattr=shmem_getattr,
)


def ramfs_show_options(root: Dentry) -> str:
    """``ramfs_show_options``: ``mode=`` unless the default 0755; tmpfs's
    ``shmem_show_options`` likewise (default 01777) plus ``uid=``/``gid=``.  Read from
    the root inode; tmpfs's size options and v6.x's ``inode64`` are not modelled."""
    inode = root.d_inode
    assert inode is not None
    mode = inode.i_mode & 0o7777
    if root.d_sb.s_magic == RAMFS_MAGIC:
        return f",mode={mode:o}" if mode != 0o755 else ""
    out = f",mode={mode:03o}" if mode != 0o1777 else ""
    out += f",uid={inode.i_uid}" if inode.i_uid else ""
    return out + (f",gid={inode.i_gid}" if inode.i_gid else "")


ramfs_super_ops = SuperOperations(
    name="ramfs_ops",
    statfs=simple_statfs,
    drop_inode=generic_delete_inode,
    show_options=ramfs_show_options,
)


def ramfs_parse_mode(options: str | None, mode: int, fs_parse: bool) -> int:
    """``ramfs_parse_options`` (seed: ``"mode=%o"`` with ``match_octal``; a value that
    is not all octal digits matches no token and is ignored, like every other option),
    or ``ramfs_parse_param`` (v5.4: ``fsparam_u32oct``, a bad value is EINVAL)."""
    for option in (options or "").split(","):
        key, sep, value = option.partition("=")
        if key != "mode":
            continue
        if fs_parse:
            mode = fs_param_is_u32(value if sep else None, 8) & S_IALLUGO
        elif (number := match_octal(value if sep else None)) is not None:
            mode = number & S_IALLUGO
    return mode


def shmem_parse_mode(options: str | None, mode: int, fs_parse: bool) -> int:
    """``shmem_parse_options`` (seed: a comma followed by a digit belongs to the value;
    ``mode`` without a value, or with anything ``simple_strtoul`` leaves unread, is
    EINVAL; ``mode=`` alone is 0), or ``shmem_parse_one`` (v5.4: ``fsparam_u32oct``).
    Only ``mode=`` is modelled; tmpfs's other options are ignored."""
    if fs_parse:
        return ramfs_parse_mode(options, mode, fs_parse=True)
    for option in _shmem_split(options or ""):
        key, sep, value = option.partition("=")
        if key != "mode":
            continue
        if not sep:
            raise kernel_error(errno.EINVAL)  # "tmpfs: No value for mount option"
        number, rest = simple_strtoul(value, 8)
        if rest:
            raise kernel_error(errno.EINVAL)  # "tmpfs: Bad value"
        mode = number & 0o7777
    return mode


def _shmem_split(options: str) -> list[str]:
    """The seed's tmpfs split: a comma followed by a digit does not end an option
    (``mpol=bind:0,2`` is one option)."""
    pieces: list[str] = []
    for piece in options.split(","):
        if pieces and piece[:1].isdigit():
            pieces[-1] += "," + piece
        else:
            pieces.append(piece)
    return pieces


def _fill_super(
    magic: int, dir_iops: InodeOperations, file_iops: InodeOperations | None, default_mode: int
) -> FillSuper:
    parse_mode = shmem_parse_mode if magic == TMPFS_MAGIC else ramfs_parse_mode

    def fill_super(sb: SuperBlock, data: MountContext) -> None:
        fs_parse = sb.kernel.profile.mount_options_fs_parse
        mode = stat.S_IFDIR | parse_mode(data.options, default_mode, fs_parse)
        sb.s_magic = magic
        sb.s_op = ramfs_super_ops
        other_iops = shmem_special_inode_operations if magic == TMPFS_MAGIC else None
        sb.s_fs_info = {"dir_iops": dir_iops, "file_iops": file_iops, "other_iops": other_iops}
        root = ramfs_get_inode(sb, None, mode, 0, data.cred)
        sb.s_root = d_make_root(root)

    return fill_super


def _mount_fn(
    magic: int, dir_iops: InodeOperations, file_iops: InodeOperations | None, default_mode: int
) -> Callable[..., Dentry]:
    fill = _fill_super(magic, dir_iops, file_iops, default_mode)

    def mount(
        fs_type: FileSystemType, kernel: KernelServices, flags: int, dev: str, data: MountContext
    ) -> Dentry:
        return mount_nodev(fs_type, kernel, flags, data, fill)

    return mount


ramfs_fs_type = FileSystemType(
    name="ramfs",
    mount=_mount_fn(RAMFS_MAGIC, ramfs_dir_inode_operations, None, 0o755),
    kill_sb=kill_litter_super,
    fs_flags=FS_USERNS_MOUNT,
)

tmpfs_fs_type = FileSystemType(
    name="tmpfs",
    mount=_mount_fn(TMPFS_MAGIC, shmem_dir_inode_operations, shmem_file_inode_operations, 0o1777),
    kill_sb=kill_litter_super,
    fs_flags=FS_USERNS_MOUNT,
)
