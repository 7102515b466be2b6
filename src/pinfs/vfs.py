"""The generic VFS objects: file-system types, superblocks, inodes, dentries and files.

This is the part of fs/ that every filesystem shares (fs/super.c, fs/inode.c, fs/dcache.c,
fs/file_table.c).  A filesystem plugs in through three operation tables, exactly as in
Linux: :class:`SuperOperations`, :class:`InodeOperations` and :class:`FileOperations`.
The VFS knows nothing of bpf.

Lifetime is reference counted as in the kernel, because bpffs releases pinned objects
from ``evict_inode``:

* a dentry holds one reference on its inode and one on its parent dentry;
* ``dput`` of the last reference kills the dentry (libfs's ``always_delete_dentry``
  policy, used by every filesystem here), which ``iput``\\ s its inode;
* ``iput`` of the last inode reference asks ``drop_inode`` and then ``evict``\\ s;
* filesystems without backing store (ramfs, bpffs) keep their tree alive by taking one
  extra dentry reference at creation (``dget`` after ``d_instantiate``), dropped by
  ``simple_unlink`` / ``kill_litter_super``.

Predicates that the kernel writes as ``int f(...)`` returning ``-errno`` (permission
checks) return an errno number here (0 = allowed); everything else raises
:class:`~pinfs.base.errors.KernelError`.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import attrs

from pinfs.base import uapi
from pinfs.base.cred import UserNamespace
from pinfs.base.display import repr_mimebundle
from pinfs.base.profiles import Profile

# Their home is pinfs.base.uapi; the names stay importable from here.
MS_BIND = uapi.MS_BIND
MS_NOATIME = uapi.MS_NOATIME
MS_NODEV = uapi.MS_NODEV
MS_NODIRATIME = uapi.MS_NODIRATIME
MS_NOEXEC = uapi.MS_NOEXEC
MS_NOSUID = uapi.MS_NOSUID
MS_PRIVATE = uapi.MS_PRIVATE
MS_RDONLY = uapi.MS_RDONLY
MS_REC = uapi.MS_REC
MS_RELATIME = uapi.MS_RELATIME
MS_REMOUNT = uapi.MS_REMOUNT
MS_SILENT = uapi.MS_SILENT
MS_STRICTATIME = uapi.MS_STRICTATIME
NAME_MAX = uapi.NAME_MAX
PATH_MAX = uapi.PATH_MAX

# i_flags (include/linux/fs.h)
S_IMMUTABLE = 8
S_APPEND = 4
S_NOATIME = 2
S_DEAD = 16

# s_flags: the mount flags (pinfs.base.uapi) and the kernel-internal SB_ACTIVE
MS_ACTIVE = 1 << 30

# file_system_type.fs_flags
FS_REQUIRES_DEV = 1
FS_USERNS_MOUNT = 8

S_IALLUGO = 0o7777
S_IRWXUGO = 0o777


# May-masks (include/linux/fs.h)
MAY_EXEC = 1
MAY_WRITE = 2
MAY_READ = 4
MAY_APPEND = 8
MAY_ACCESS = 16
MAY_OPEN = 32


class KernelServices(Protocol):
    """What the VFS and the filesystems need from the running kernel: which kernel it
    imitates (``profile``, read as ``kernel.profile.<switch>``), the sysctls, the
    initial user namespace, a clock and the id allocators.  Every superblock holds
    one as ``sb.kernel``; :class:`pinfs.machine.kernel.Kernel` is the real one."""

    @property
    def profile(self) -> Profile: ...

    @property
    def sysctl(self) -> Mapping[str, int]: ...

    @property
    def init_user_ns(self) -> UserNamespace: ...

    def current_time(self) -> int: ...

    def get_next_ino(self) -> int: ...

    def alloc_anon_dev(self) -> int: ...


# Operation tables.  Each slot is None (the VFS default) or a callable; comparing
# tables by identity is how a filesystem recognises its own inodes (bpf_inode_type).
@attrs.frozen(eq=False)
class InodeOperations:
    """``struct inode_operations``."""

    name: str
    lookup: Callable[..., Any] | None = None
    create: Callable[..., Any] | None = None
    link: Callable[..., Any] | None = None
    unlink: Callable[..., Any] | None = None
    symlink: Callable[..., Any] | None = None
    mkdir: Callable[..., Any] | None = None
    rmdir: Callable[..., Any] | None = None
    mknod: Callable[..., Any] | None = None
    rename: Callable[..., Any] | None = None
    rename2: Callable[..., Any] | None = None
    setattr: Callable[..., Any] | None = None
    permission: Callable[..., int] | None = None  # (cred, inode, mask) -> errno
    get_link: Callable[..., Any] | None = None  # (dentry, inode) -> str body, or a Path to jump to
    readlink: Callable[..., str] | None = None  # (dentry) -> text, when it differs from get_link
    getattr: Callable[..., tuple[int, int, int]] | None = None  # (inode, request_mask) ->
    # statx result_mask bits to set and to clear, and the attributes_mask bits it reports

    def __repr__(self) -> str:
        return f"<iops {self.name}>"


@attrs.frozen(eq=False)
class SuperOperations:
    """``struct super_operations``."""

    name: str
    statfs: Callable[..., Any] | None = None
    drop_inode: Callable[[Inode], bool] | None = None
    evict_inode: Callable[[Inode], None] | None = None
    show_options: Callable[[Dentry], str] | None = None  # ",opt=val..." for /proc/mounts

    def __repr__(self) -> str:
        return f"<sops {self.name}>"


@attrs.frozen(eq=False)
class FileOperations:
    """``struct file_operations`` (only what pinfs needs)."""

    name: str
    open: Callable[..., Any] | None = None
    release: Callable[[File], None] | None = None
    iterate: Callable[..., Any] | None = None
    read: Callable[[File, int], bytes] | None = None
    llseek: Callable[[File, int, int], int] | None = None  # None: no_llseek (ESPIPE)
    write: Callable[[File, bytes], int] | None = None
    show_fdinfo: Callable[[File], str] | None = None  # extra /proc/<pid>/fdinfo lines

    def __repr__(self) -> str:
        return f"<fops {self.name}>"


@attrs.frozen(eq=False)
class DentryOperations:
    """``struct dentry_operations``: ``d_revalidate`` says whether a cached dentry
    still names what it named (procfs: the task or fd may be gone); ``d_dname`` names
    a pseudo dentry (``anon_inode:bpf-map``)."""

    name: str
    d_revalidate: Callable[[Dentry], bool] | None = None
    d_dname: Callable[[Dentry], str] | None = None  # the name d_path prints instead

    def __repr__(self) -> str:
        return f"<dops {self.name}>"


@attrs.define(eq=False)
class FileSystemType:
    """``struct file_system_type``: ``mount`` returns the root dentry of a superblock."""

    name: str
    mount: Callable[..., Dentry]
    kill_sb: Callable[[SuperBlock], None]
    fs_flags: int = 0
    fs_supers: list[SuperBlock] = attrs.field(factory=list)  # live superblocks of this type

    def __repr__(self) -> str:
        return f"<file_system_type {self.name}>"


class InodeList:
    """``sb->s_inodes``: the superblock's inodes, oldest first.  As in the kernel the
    links are in the inodes (``i_sb_list``), a circle through this head, so the list
    costs no table however many inodes there are.  Like ``list_for_each_entry_safe``,
    iteration survives the eviction of the inode it is at; evicting the next one is
    a RuntimeError (copy first, ``list(sb.s_inodes)``, as for a dict)."""

    __slots__ = ("i_sb_next", "i_sb_prev")

    def __init__(self) -> None:
        self.i_sb_next: Inode | InodeList = self
        self.i_sb_prev: Inode | InodeList = self

    def __iter__(self) -> Iterator[Inode]:
        node: Inode | InodeList | None = self.i_sb_next
        while isinstance(node, Inode):  # back at this head: the end
            after = node.i_sb_next
            yield node
            if isinstance(after, Inode) and after.i_sb_next is None:
                raise RuntimeError("s_inodes: the next inode was evicted during iteration")
            node = after

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:
        return self.i_sb_next is not self

    def __contains__(self, inode: object) -> bool:
        return isinstance(inode, Inode) and not inode.freed and inode.i_sb.s_inodes is self

    def __repr__(self) -> str:
        return f"<s_inodes {len(self)}>"

    # Pickled (pinfs.host.state) as its inodes in order and linked again on load:
    # following the links would recurse once per inode.
    def __getstate__(self) -> list[Inode]:
        return list(self)

    def __setstate__(self, inodes: list[Inode]) -> None:
        self.i_sb_next = self.i_sb_prev = self
        for inode in inodes:
            tail = self.i_sb_prev
            inode.i_sb_prev, inode.i_sb_next = tail, self
            tail.i_sb_next = self.i_sb_prev = inode


@attrs.define(eq=False)
class SuperBlock:
    """``struct super_block``."""

    s_type: FileSystemType
    kernel: KernelServices
    s_dev: int
    s_flags: int = 0
    s_magic: int = 0
    s_op: SuperOperations | None = None
    s_root: Dentry | None = None
    s_fs_info: Any = None
    s_blocksize: int = 4096
    s_time_gran: int = 1
    s_active: int = 0  # live mounts of this superblock
    s_inodes: InodeList = attrs.field(factory=InodeList)
    # the open directories' readdir cursors (dcache_dir_open): a file's f_cursor is
    # the entry it sits just before, which d_unlink moves on when that entry goes
    s_cursors: dict[File, None] = attrs.field(factory=dict)

    def __repr__(self) -> str:
        return f"<super_block {self.s_type.name} dev={self.s_dev:#x}>"

    @property
    def read_only(self) -> bool:
        return bool(self.s_flags & MS_RDONLY)

    _repr_mimebundle_ = repr_mimebundle


@attrs.define(eq=False, weakref_slot=False)
class Inode:
    """``struct inode``.  Times are integer nanoseconds of the simulated clock.  No
    ``__weakref__`` slot (attrs adds one unless told; nothing takes weak references
    to inodes), so the two ``i_sb_list`` links fit in the same 192 bytes."""

    i_sb: SuperBlock
    i_ino: int = 0
    i_mode: int = 0
    i_uid: int = 0
    i_gid: int = 0
    i_nlink: int = 1
    i_size: int = 0
    i_rdev: int = 0
    i_atime: int = 0
    i_mtime: int = 0
    i_ctime: int = 0
    i_crtime: int = 0  # birth time, where a filesystem keeps one (tmpfs: statx's btime)
    i_flags: int = 0
    i_count: int = 1
    i_op: InodeOperations | None = None
    i_fop: FileOperations | None = None
    i_private: Any = None
    i_link: str | None = None  # symlink body
    # i_sb_list: the neighbours on sb.s_inodes (None once evict took it off)
    i_sb_prev: Inode | InodeList | None = attrs.field(default=None, repr=False)
    i_sb_next: Inode | InodeList | None = attrs.field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"<inode {self.i_ino} {stat.filemode(self.i_mode)} uid={self.i_uid}>"

    def __getstate__(self) -> dict[str, Any]:
        """Without the ``i_sb_list`` links, which ``InodeList`` pickles by itself."""
        return {name: getattr(self, name) for name in _INODE_STATE}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        if not hasattr(self, "i_sb_next"):  # evicted, or its list links it later
            self.i_sb_prev = self.i_sb_next = None

    @property
    def freed(self) -> bool:
        """``evict`` has run (``I_FREEING | I_CLEAR``): the inode is off its
        superblock's list, where ``new_inode`` put it."""
        return self.i_sb_next is None

    @property
    def is_dir(self) -> bool:
        return self.i_mode & 0o170000 == stat.S_IFDIR

    @property
    def is_dead_dir(self) -> bool:
        """``IS_DEADDIR``: removed by rmdir while something still held it."""
        return bool(self.i_flags & S_DEAD)


_INODE_STATE = tuple(
    f.name for f in attrs.fields(Inode) if f.name not in ("i_sb_prev", "i_sb_next")
)


class _NoChildren(dict[str, "Dentry"]):
    """The ``d_subdirs`` every dentry starts with: one shared empty dict, so the
    million pins that never get a child carry no dict of their own.  ``d_link`` gives
    a dentry its own dict on the first child; writing into this one is refused
    (TypeError), so a writer that forgets cannot give every dentry a child."""

    def __setitem__(self, key: str, value: Dentry) -> None:
        raise TypeError("d_subdirs of a dentry without children is shared: use d_link")

    def setdefault(self, key: str, default: Dentry) -> Dentry:
        raise TypeError("d_subdirs of a dentry without children is shared: use d_link")

    def update(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("d_subdirs of a dentry without children is shared: use d_link")


NO_CHILDREN: dict[str, Dentry] = _NoChildren()


@attrs.define(eq=False, weakref_slot=False)
class Dentry:
    """``struct dentry``.  ``d_subdirs`` keeps creation order (readdir lists it
    reversed).  No ``__weakref__`` slot, as for :class:`Inode`: 112 bytes, not 128."""

    d_name: str
    d_sb: SuperBlock
    d_parent: Dentry | None = None  # None only while being set up; the root is its own parent
    d_inode: Inode | None = None
    d_count: int = 1
    d_subdirs: dict[str, Dentry] = NO_CHILDREN  # its own dict from the first d_link
    # mounts on this dentry, any namespace: () until the first (attach_mnt makes the
    # list), so the million dentries nothing is mounted on carry no empty list
    d_mounted: list[Any] | tuple[Any, ...] = ()
    d_fsdata: Any = None
    d_op: DentryOperations | None = None
    hashed: bool = True

    def __repr__(self) -> str:
        kind = "negative" if self.d_inode is None else f"ino={self.d_inode.i_ino}"
        return f"<dentry {self.d_name!r} {kind} count={self.d_count}>"

    @property
    def is_root(self) -> bool:
        return self.d_parent is self

    def children(self) -> Iterator[Dentry]:
        """Positive children, newest first (``dcache_readdir`` order)."""
        for child in reversed(self.d_subdirs.values()):
            if child.d_inode is not None:
                yield child


@attrs.define(eq=False)
class File:
    """``struct file``: an open file description, shared by dup'ed fds and across fork."""

    f_op: FileOperations | None
    f_flags: int
    f_mode: int
    f_path: Any = None  # pinfs.mountns.Path, or None for anonymous-inode files
    f_inode: Inode | None = None
    private_data: Any = None
    anon_name: str | None = None  # "bpf-map", ... for anon_inode files
    f_count: int = 1
    f_pos: int = 0
    # dcache_readdir's cursor: the entry it sits just before in d_subdirs, or None at
    # the end (a read at position 2 starts from the head whatever the cursor is)
    f_cursor: Dentry | None = None
    f_cred: Any = None  # the opener's credentials (pinfs.base.cred.Cred), where recorded

    def __repr__(self) -> str:
        if self.anon_name is not None:
            return f"<file anon_inode:{self.anon_name}>"
        return f"<file {self.f_inode!r}>"


# ---------------------------------------------------------------------------------------
# Inodes (fs/inode.c)


def new_inode(sb: SuperBlock) -> Inode:
    """``new_inode``: an inode with one reference, nlink 1, at the tail of ``sb``'s
    list (``inode_sb_list_add``)."""
    head = sb.s_inodes
    tail = head.i_sb_prev
    inode = Inode(i_sb=sb, i_sb_prev=tail, i_sb_next=head)
    tail.i_sb_next = head.i_sb_prev = inode
    return inode


def ihold(inode: Inode) -> None:
    inode.i_count += 1


def generic_delete_inode(inode: Inode) -> bool:
    """``generic_delete_inode``: always evict when the last reference goes."""
    return True


def generic_drop_inode(inode: Inode) -> bool:
    """``generic_drop_inode``: evict once unlinked."""
    return inode.i_nlink == 0


def iput(inode: Inode) -> None:
    """``iput``: drop a reference; the last one evicts if ``drop_inode`` says so."""
    inode.i_count -= 1
    if inode.i_count > 0:
        return
    sops = inode.i_sb.s_op
    drop = sops.drop_inode if sops is not None and sops.drop_inode else generic_drop_inode
    if drop(inode):
        evict(inode)


def evict(inode: Inode) -> None:
    """``evict``: the filesystem's ``evict_inode`` (or ``clear_inode``), then free."""
    sops = inode.i_sb.s_op
    if sops is not None and sops.evict_inode is not None:
        sops.evict_inode(inode)
    before, after = inode.i_sb_prev, inode.i_sb_next
    if before is not None and after is not None:  # inode_sb_list_del: its neighbours close up
        before.i_sb_next, after.i_sb_prev = after, before
        inode.i_sb_prev = inode.i_sb_next = None


def inc_nlink(inode: Inode) -> None:
    inode.i_nlink += 1


def drop_nlink(inode: Inode) -> None:
    inode.i_nlink -= 1


def inode_init_owner(inode: Inode, dir: Inode | None, mode: int, fsuid: int, fsgid: int) -> None:
    """``inode_init_owner``: owner is the fsuid; a setgid parent passes on its group,
    and new directories inherit the setgid bit too (seed: no SGID stripping on files)."""
    inode.i_uid = fsuid
    if dir is not None and dir.i_mode & stat.S_ISGID:
        inode.i_gid = dir.i_gid
        if stat.S_ISDIR(mode):
            mode |= stat.S_ISGID
    else:
        inode.i_gid = fsgid
    inode.i_mode = _MODES.setdefault(mode, mode)


#: One int object per mode value: a mode is a fresh int each time it is computed, and a
#: million inodes with mode 0100600 need not hold a million copies of it (32 B each).
_MODES: dict[int, int] = {}


# ---------------------------------------------------------------------------------------
# Dentries (fs/dcache.c)


def d_link(parent: Dentry, dentry: Dentry) -> None:
    """``list_add(&d_child, &parent->d_subdirs)``: link at the head (newest)."""
    if parent.d_subdirs is NO_CHILDREN:
        parent.d_subdirs = {}
    parent.d_subdirs[dentry.d_name] = dentry


def d_unlink(parent: Dentry, dentry: Dentry) -> None:
    """``list_del(&d_child)``: out of the parent's d_subdirs.  A readdir cursor that
    sat just before it stays in place, so it now sits before the next older entry
    (or at the end): the kernel's cursor is a dentry of its own in that list."""
    if parent.d_sb.s_cursors:
        _move_cursors_past(parent, dentry)
    del parent.d_subdirs[dentry.d_name]


def _move_cursors_past(parent: Dentry, dentry: Dentry) -> None:
    """Every cursor sitting just before ``dentry`` moves on to the next older entry."""
    moving = [file for file in parent.d_sb.s_cursors if file.f_cursor is dentry]
    if not moving:
        return
    siblings = reversed(parent.d_subdirs.values())  # newest first
    for sibling in siblings:
        if sibling is dentry:
            break
    older = next(siblings, None)
    for file in moving:
        file.f_cursor = older


def d_alloc(parent: Dentry, name: str) -> Dentry:
    """``d_alloc``: a negative, hashed child holding a reference on its parent."""
    dentry = Dentry(name, parent.d_sb, parent)  # positional: the hot path's cheaper call
    parent.d_count += 1
    d_link(parent, dentry)
    return dentry


def d_make_root(inode: Inode) -> Dentry:
    """``d_make_root``: the root dentry of a new superblock, its own parent."""
    root = Dentry(d_name="/", d_sb=inode.i_sb, d_inode=inode)
    root.d_parent = root
    return root


def d_lookup(parent: Dentry, name: str) -> Dentry | None:
    """``d_lookup``: the hashed child called ``name``, with a new reference."""
    dentry = parent.d_subdirs.get(name)
    if dentry is not None:
        dentry.d_count += 1
    return dentry


def d_instantiate(dentry: Dentry, inode: Inode) -> None:
    """``d_instantiate``: the dentry takes over the caller's inode reference."""
    dentry.d_inode = inode


def dget(dentry: Dentry) -> Dentry:
    dentry.d_count += 1
    return dentry


def dput(dentry: Dentry | None) -> None:
    """``dput``: the last reference kills the dentry, then walks up to its parent."""
    while dentry is not None:
        dentry.d_count -= 1
        if dentry.d_count > 0:
            return
        dentry = _dentry_kill(dentry)


def _dentry_kill(dentry: Dentry) -> Dentry | None:
    """``dentry_kill``: unhash, release the inode, return the parent to put."""
    parent = dentry.d_parent
    if dentry.hashed and parent is not None and parent is not dentry:
        if parent.d_subdirs.get(dentry.d_name) is dentry:
            d_unlink(parent, dentry)
    dentry.hashed = False
    inode = dentry.d_inode
    if inode is not None:
        dentry.d_inode = None
        iput(inode)
    if parent is None or parent is dentry:
        return None
    return parent


def d_drop(dentry: Dentry) -> None:
    """``d_drop``: unhash, so later lookups no longer find it."""
    parent = dentry.d_parent
    if dentry.hashed and parent is not None and parent.d_subdirs.get(dentry.d_name) is dentry:
        d_unlink(parent, dentry)
    dentry.hashed = False


def d_invalidate(dentry: Dentry) -> None:
    """``d_invalidate``: unhash ``dentry`` and everything below it, dropping the
    creation reference each positive one holds (children first).  Whoever still holds
    a reference keeps an unhashed dentry, as after an unlink."""
    for child in reversed([dentry, *walk_tree(dentry)]):
        pinned = child.hashed and child.d_inode is not None
        d_drop(child)
        if pinned:
            dput(child)


def d_lookup_valid(parent: Dentry, name: str) -> Dentry | None:
    """The hashed child ``name`` (no reference taken), after ``d_revalidate``: a
    stale one is invalidated and the name counts as not cached."""
    dentry = parent.d_subdirs.get(name)
    if dentry is None or dentry.d_op is None or dentry.d_op.d_revalidate is None:
        return dentry
    if dentry.d_op.d_revalidate(dentry):
        return dentry
    d_invalidate(dentry)
    return None


def d_delete(dentry: Dentry) -> None:
    """``d_delete``: turn negative if we are the only user, else just unhash."""
    if dentry.d_count == 1 and dentry.d_inode is not None:
        inode = dentry.d_inode
        dentry.d_inode = None
        iput(inode)
    else:
        d_drop(dentry)


def d_move(dentry: Dentry, target: Dentry) -> None:
    """``d_move``: ``dentry`` takes ``target``'s name and place; ``target`` is unhashed."""
    d_drop(target)
    old_parent = dentry.d_parent
    new_parent = target.d_parent
    assert old_parent is not None and new_parent is not None
    if old_parent.d_subdirs.get(dentry.d_name) is dentry:
        d_unlink(old_parent, dentry)
    dentry.d_name = target.d_name
    if new_parent is not old_parent:
        new_parent.d_count += 1
        dentry.d_parent = new_parent
        dput(old_parent)
    d_link(new_parent, dentry)
    dentry.hashed = True


def d_exchange(a: Dentry, b: Dentry) -> None:
    """``d_exchange``: swap two hashed dentries' names and places."""
    pa, pb = a.d_parent, b.d_parent
    assert pa is not None and pb is not None
    name_a, name_b = a.d_name, b.d_name
    d_unlink(pa, a)
    d_unlink(pb, b)
    a.d_name, b.d_name = name_b, name_a
    a.d_parent, b.d_parent = pb, pa
    d_link(pa, b)  # __d_move: the target is moved first,
    d_link(pb, a)  # then the source, which so lists first


def simple_positive(dentry: Dentry) -> bool:
    return dentry.hashed and dentry.d_inode is not None


def walk_tree(root: Dentry) -> Iterator[Dentry]:
    """Every hashed dentry below ``root`` (not ``root`` itself), parents first."""
    stack = [root]
    while stack:
        dentry = stack.pop()
        for child in dentry.d_subdirs.values():
            yield child
            stack.append(child)


def d_path_name(dentry: Dentry) -> str:
    """The path of ``dentry`` from its superblock's root (for messages and pictures)."""
    parts = []
    while dentry.d_parent is not None and dentry.d_parent is not dentry:
        parts.append(dentry.d_name)
        dentry = dentry.d_parent
    return "/" + "/".join(reversed(parts))
