"""fs/libfs.c: the ``simple_*`` helpers a small in-memory filesystem is built from.

ramfs and bpffs supply only what differs from these (see ``ramfs.py`` and ``inode.py``).
"""

from __future__ import annotations

import errno
import stat

import attrs

from pinfs.base.errors import kernel_error, refuse
from pinfs.vfs import (
    NAME_MAX,
    Dentry,
    File,
    FileOperations,
    Inode,
    SuperBlock,
    d_instantiate,
    d_make_root,
    dget,
    dput,
    drop_nlink,
    ihold,
    inc_nlink,
    iput,
    new_inode,
    simple_positive,
    walk_tree,
)

# d_type values of getdents (include/linux/fs.h DT_*)
DT_UNKNOWN = 0
DT_FIFO = 1
DT_CHR = 2
DT_DIR = 4
DT_BLK = 6
DT_REG = 8
DT_LNK = 10
DT_SOCK = 12


class WouldBlockForever(RuntimeError):
    """A blocking call (a FIFO open, a console read) that only another thread could
    complete: the simulation has no concurrency, so it refuses instead of hanging."""


@attrs.frozen
class KStatFs:
    """``struct kstatfs``."""

    f_type: int
    f_bsize: int
    f_blocks: int = 0
    f_bfree: int = 0
    f_bavail: int = 0
    f_files: int = 0
    f_ffree: int = 0
    f_fsid: int = 0
    f_namelen: int = NAME_MAX
    f_frsize: int = 0
    f_flags: int = 0


@attrs.frozen
class DirEntry:
    """One ``linux_dirent64`` of getdents: inode number, d_type and name."""

    d_ino: int
    d_type: int
    d_name: str
    d_off: int = attrs.field(default=0, eq=False)
    """The directory position after this entry (``ctx->pos``, linux_dirent64's d_off)."""
    f_cursor: Dentry | None = attrs.field(default=None, eq=False, repr=False)
    """``dcache_readdir``'s cursor after this entry (the next one to list), so a short
    buffer can stop here."""


def simple_lookup(dir: Inode, dentry: Dentry) -> Dentry | None:
    """``simple_lookup``: names longer than NAME_MAX fail; otherwise stay negative."""
    name = dentry.d_name
    if len(name) > NAME_MAX // 4 and len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise refuse(errno.ENAMETOOLONG, "simple_lookup", "a name is longer than NAME_MAX (255)")
    return None


def simple_empty(dentry: Dentry) -> bool:
    """``simple_empty``: no positive child."""
    for child in dentry.d_subdirs.values():  # noqa: SIM110 - a generator costs two calls
        if simple_positive(child):
            return False
    return True


def simple_unlink(dir: Inode, dentry: Dentry) -> None:
    """``simple_unlink``: times, nlink-1, and drop the reference taken at creation."""
    inode = dentry.d_inode
    assert inode is not None
    now = dir.i_sb.kernel.current_time()
    inode.i_ctime = dir.i_ctime = dir.i_mtime = now
    drop_nlink(inode)
    dput(dentry)


def simple_rmdir(dir: Inode, dentry: Dentry) -> None:
    """``simple_rmdir``: ENOTEMPTY, else unlink and fix both link counts."""
    if not simple_empty(dentry):
        raise refuse(errno.ENOTEMPTY, "simple_rmdir", "{name!r} is not empty", name=dentry.d_name)
    inode = dentry.d_inode
    assert inode is not None
    drop_nlink(inode)
    simple_unlink(dir, dentry)
    drop_nlink(dir)


def simple_link(old_dentry: Dentry, dir: Inode, dentry: Dentry) -> None:
    """``simple_link``: a second name for the same inode."""
    inode = old_dentry.d_inode
    assert inode is not None
    now = dir.i_sb.kernel.current_time()
    inode.i_ctime = dir.i_ctime = dir.i_mtime = now
    inc_nlink(inode)
    ihold(inode)
    dget(dentry)
    d_instantiate(dentry, inode)


def simple_rename(old_dir: Inode, old_dentry: Dentry, new_dir: Inode, new_dentry: Dentry) -> None:
    """``simple_rename`` (no flags, as at v4.4): replace the target, fix dir link counts."""
    inode = old_dentry.d_inode
    assert inode is not None
    they_are_dirs = inode.is_dir
    if not simple_empty(new_dentry):
        raise kernel_error(errno.ENOTEMPTY)
    target = new_dentry.d_inode
    if target is not None:
        simple_unlink(new_dir, new_dentry)
        if they_are_dirs:
            drop_nlink(target)
            drop_nlink(old_dir)
    elif they_are_dirs:
        drop_nlink(old_dir)
        inc_nlink(new_dir)
    now = old_dir.i_sb.kernel.current_time()
    old_dir.i_ctime = old_dir.i_mtime = new_dir.i_ctime = new_dir.i_mtime = now
    inode.i_ctime = now


def simple_rename_exchange(
    old_dir: Inode, old_dentry: Dentry, new_dir: Inode, new_dentry: Dentry
) -> None:
    """``simple_rename_exchange`` (later libfs): swap; fix nlink if one is a dir."""
    old_inode, new_inode_ = old_dentry.d_inode, new_dentry.d_inode
    assert old_inode is not None and new_inode_ is not None
    if old_dir is not new_dir and old_inode.is_dir != new_inode_.is_dir:
        if old_inode.is_dir:
            drop_nlink(old_dir)
            inc_nlink(new_dir)
        else:
            drop_nlink(new_dir)
            inc_nlink(old_dir)
    now = old_dir.i_sb.kernel.current_time()
    old_dir.i_ctime = old_dir.i_mtime = new_dir.i_ctime = new_dir.i_mtime = now
    old_inode.i_ctime = new_inode_.i_ctime = now


def simple_statfs(dentry: Dentry) -> KStatFs:
    """``simple_statfs``: the magic, PAGE_SIZE blocks, NAME_MAX; all counts zero."""
    sb = dentry.d_sb
    return KStatFs(f_type=sb.s_magic, f_bsize=4096, f_frsize=4096, f_namelen=NAME_MAX)


def dcache_readdir(file: File) -> list[DirEntry]:
    """``dcache_readdir``: ".", "..", then positive children newest first: from the
    head of d_subdirs at position 2, else from the file's cursor.  Entries linked at
    the head after the cursor (new names, renames) are not returned by this open file,
    removed ones are skipped; the cursor ends up at the end."""
    dentry = file.f_path.dentry
    inode = dentry.d_inode
    assert inode is not None and dentry.d_parent is not None
    out: list[DirEntry] = []
    cursor = file.f_cursor
    if file.f_pos == 0:
        out.append(DirEntry(inode.i_ino, DT_DIR, ".", 1, cursor))
        file.f_pos = 1
    if file.f_pos == 1:
        parent_inode = dentry.d_parent.d_inode
        parent_ino = parent_inode.i_ino if parent_inode else inode.i_ino
        out.append(DirEntry(parent_ino, DT_DIR, "..", 2, cursor))
        file.f_pos = 2
    unread = _unread(dentry, cursor, from_head=file.f_pos == 2)
    for i, child in enumerate(unread, 1):
        after = unread[i] if i < len(unread) else None  # where a stop here leaves it
        assert child.d_inode is not None
        file.f_pos += 1
        d_type = dt_type(child.d_inode.i_mode)
        out.append(DirEntry(child.d_inode.i_ino, d_type, child.d_name, file.f_pos, after))
    file.f_cursor = None
    return out


def _unread(dentry: Dentry, cursor: Dentry | None, from_head: bool) -> list[Dentry]:
    """``scan_positives`` to the end: the positive children from the head, or from
    the one the cursor sits before (none if it is at the end), newest first."""
    children = list(reversed(dentry.d_subdirs.values()))
    if from_head:
        start = 0
    elif cursor is None:
        start = len(children)
    else:
        start = children.index(cursor)
    return [child for child in children[start:] if child.d_inode is not None]


def dt_type(mode: int) -> int:
    """``S_DT``: the getdents d_type for a mode."""
    return stat.S_IFMT(mode) >> 12


SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE = 0, 1, 2, 3, 4
MAX_LFS_FILESIZE = (1 << 63) - 1


def vfs_setpos(file: File, offset: int, maxsize: int) -> int:
    """``vfs_setpos``: EINVAL below 0 or past ``maxsize``."""
    if offset < 0 or offset > maxsize:
        raise kernel_error(errno.EINVAL)
    file.f_pos = offset
    return offset


def generic_file_llseek(file: File, offset: int, whence: int) -> int:
    """``generic_file_llseek``: SEEK_END from i_size, SEEK_CUR from the position,
    SEEK_DATA/SEEK_HOLE treat the whole file as data (ENXIO at or past the end)."""
    inode = file.f_inode
    assert inode is not None
    eof = inode.i_size
    if whence == SEEK_END:
        offset += eof
    elif whence == SEEK_CUR:
        if offset == 0:
            return file.f_pos
        offset += file.f_pos
    elif whence == SEEK_DATA and offset % (1 << 64) >= eof:
        raise kernel_error(errno.ENXIO)
    elif whence == SEEK_HOLE:
        if offset % (1 << 64) >= eof:
            raise kernel_error(errno.ENXIO)
        offset = eof
    return vfs_setpos(file, offset, MAX_LFS_FILESIZE)


def dcache_dir_lseek(file: File, offset: int, whence: int) -> int:
    """``dcache_dir_lseek``: SEEK_SET/SEEK_CUR to a position >= 0 (else EINVAL); the
    cursor moves past that many entries ("." and ".." count two)."""
    if whence == SEEK_CUR:
        offset += file.f_pos
    elif whence != SEEK_SET:
        raise kernel_error(errno.EINVAL)
    if offset < 0:
        raise kernel_error(errno.EINVAL)
    if offset != file.f_pos:
        file.f_pos = offset
        children = list(file.f_path.dentry.children())
        skip = offset - 2  # the cursor goes after that many, before the next one
        file.f_cursor = children[skip] if 0 < skip < len(children) else None
    return offset


def dcache_dir_open(inode: Inode, file: File) -> None:
    """``dcache_dir_open``: the file gets a cursor (``d_alloc_cursor``), which stays
    in place when the entry after it goes (see ``d_unlink``)."""
    inode.i_sb.s_cursors[file] = None


def dcache_dir_close(file: File) -> None:
    """``dcache_dir_close``: the cursor goes with the last reference to the file."""
    assert file.f_inode is not None
    file.f_inode.i_sb.s_cursors.pop(file, None)
    file.f_cursor = None


simple_dir_operations = FileOperations(
    name="simple_dir_operations",
    open=dcache_dir_open,
    release=dcache_dir_close,
    iterate=dcache_readdir,
    llseek=dcache_dir_lseek,
)


def no_open(inode: Inode, file: File) -> None:
    """``no_open``: the default of ``inode_init_always`` for inodes with no file ops."""
    raise kernel_error(errno.ENXIO)


def simple_fill_super(sb: SuperBlock, magic: int) -> Inode:
    """``simple_fill_super`` with an empty file table: root inode 1, mode 0755, nlink 2."""
    sb.s_blocksize = 4096
    sb.s_magic = magic
    sb.s_time_gran = 1
    inode = new_inode(sb)
    inode.i_ino = 1
    inode.i_mode = stat.S_IFDIR | 0o755
    now = sb.kernel.current_time()
    inode.i_atime = inode.i_mtime = inode.i_ctime = now
    inode.i_fop = simple_dir_operations
    inode.i_nlink = 2
    sb.s_root = d_make_root(inode)
    return inode


def d_genocide(root: Dentry) -> None:
    """``d_genocide``: drop the creation reference of every positive dentry below root."""
    for dentry in list(walk_tree(root)):
        if dentry.hashed and dentry.d_inode is not None:
            dentry.d_count -= 1


def generic_shutdown_super(sb: SuperBlock) -> None:
    """``generic_shutdown_super``: kill the whole dentry tree, evicting every inode."""
    root = sb.s_root
    if root is None:
        return
    sb.s_root = None
    # shrink_dcache_for_umount: children before parents, so each parent's count
    # falls as its children die.
    for dentry in reversed(list(walk_tree(root))):
        if dentry.d_count <= 0:
            dentry.d_count = 1
            dput(dentry)
    root.d_count = 1
    dput(root)
    for inode in list(sb.s_inodes):  # evict_inodes: anything left unreferenced
        if inode.i_count <= 0 and not inode.freed:
            inode.i_count = 1
            iput(inode)


def kill_litter_super(sb: SuperBlock) -> None:
    """``kill_litter_super``: ``d_genocide`` then ``kill_anon_super``."""
    if sb.s_root is not None:
        d_genocide(sb.s_root)
    generic_shutdown_super(sb)
