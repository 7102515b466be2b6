"""Path walk and the namespace operations of fs/namei.c (Linux 4.3/4.4).

The walk mirrors ``link_path_walk`` / ``walk_component`` / ``lookup_last``: search
permission on every directory, ``.`` and ``..`` (``follow_dotdot``, which climbs out of
mounts and stops at the task's root), mounts followed downward, symlinks always
followed in the middle of a path and at the end only with ``LOOKUP_FOLLOW`` (40 links per
walk, then ELOOP), and a trailing slash that demands a directory.

The ``vfs_*`` functions are the generic halves of each operation; a filesystem's
``InodeOperations`` do the rest.  ``do_*`` functions are the syscalls' bodies, each
running its checks in the kernel's order.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Mapping
from typing import Protocol, TypeAlias

import attrs

from pinfs.base import uapi
from pinfs.base.cred import CAP_MKNOD, Cred, UserNamespace, capable
from pinfs.base.cstring import c_string
from pinfs.base.errors import KernelError, call_naming, kernel_error, naming, refuse, refused
from pinfs.base.usermem import UserMemory
from pinfs.fs.attr import (
    ATTR_CTIME,
    ATTR_MTIME,
    do_truncate,
    inode_owner_or_capable,
)
from pinfs.fs.permission import inode_permission, may_create, may_delete
from pinfs.mountns import (
    MNT_NOATIME,
    MNT_NODIRATIME,
    MNT_RELATIME,
    Mount,
    MountNamespace,
    Path,
    detach_mounts,
    follow_mount,
    mnt_want_write,
    path_get,
)
from pinfs.vfs import (
    MAY_APPEND,
    MAY_EXEC,
    MAY_OPEN,
    MAY_READ,
    MAY_WRITE,
    PATH_MAX,
    S_APPEND,
    S_DEAD,
    S_IALLUGO,
    S_IMMUTABLE,
    S_IRWXUGO,
    S_NOATIME,
    Dentry,
    File,
    Inode,
    KernelServices,
    d_alloc,
    d_delete,
    d_exchange,
    d_lookup_valid,
    d_move,
    dput,
    ihold,
    iput,
)

# Their home is pinfs.base.uapi; the names stay importable from here.
AT_FDCWD = uapi.AT_FDCWD
O_ACCMODE = uapi.O_ACCMODE
O_PATH = uapi.O_PATH
O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_NOCTTY = (
    os.O_WRONLY,
    os.O_RDWR,
    os.O_CREAT,
    os.O_EXCL,
    os.O_NOCTTY,
)
O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW = os.O_TRUNC, os.O_APPEND, os.O_DIRECTORY, os.O_NOFOLLOW
O_NOATIME = os.O_NOATIME
_OPEN_WRITE_INTENT = O_CREAT | O_TRUNC | O_WRONLY | O_RDWR  # open_to_namei_flags' writers
_OPEN_ONLY_FLAGS = O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC  # do_dentry_open drops them
RENAME_EXCHANGE = uapi.RENAME_EXCHANGE
RENAME_NOREPLACE = uapi.RENAME_NOREPLACE
RENAME_WHITEOUT = uapi.RENAME_WHITEOUT

MAXSYMLINKS = 40
S_IFMT = 0o170000
S_IFDIR = stat.S_IFDIR
S_IFLNK = stat.S_IFLNK
S_IFREG = stat.S_IFREG

#: ``Path(mnt, dentry)`` without the namedtuple's Python-level ``__new__``: the very same
#: tuple, built by one C call (the walk builds one per step it leaves its fast loop at).
_new_path: Callable[[type[Path], tuple[Mount, Dentry]], Path] = tuple.__new__

#: openat2's restrictions as lookup flags (include/linux/namei.h)
LOOKUP_NO_SYMLINKS = 0x010000
LOOKUP_NO_MAGICLINKS = 0x020000
LOOKUP_NO_XDEV = 0x040000
LOOKUP_BENEATH = 0x080000
LOOKUP_IN_ROOT = 0x100000
LOOKUP_IS_SCOPED = LOOKUP_BENEATH | LOOKUP_IN_ROOT

LAST_NORM = 0
LAST_ROOT = 1
LAST_DOT = 2
LAST_DOTDOT = 3


ACC_MODE = (MAY_READ, MAY_WRITE, MAY_READ | MAY_WRITE, MAY_READ | MAY_WRITE)


@attrs.define(eq=False)
class FsStruct:
    """``struct fs_struct``: root, cwd and umask (copied, not shared, by fork)."""

    root: Path
    pwd: Path
    umask: int = 0o022

    def copy(self) -> FsStruct:
        return FsStruct(root=path_get(self.root), pwd=path_get(self.pwd), umask=self.umask)


class FileLookup(Protocol):
    """What the walk needs of an fd table: the file at a directory fd (``fcheck``)."""

    def lookup(self, fd: int) -> File | None: ...


class Current(Protocol):
    """``current`` as the fs layer sees it: the caller's credentials, fs context, fd
    table and mount namespace, and the kernel it runs on.  Read-only properties, so
    :class:`pinfs.machine.task.Task` (and the layers above, with wider protocols)
    fit."""

    @property
    def cred(self) -> Cred: ...

    @property
    def fs(self) -> FsStruct: ...

    @property
    def files(self) -> FileLookup: ...

    @property
    def mnt_ns(self) -> MountNamespace: ...

    @property
    def kernel(self) -> KernelServices: ...


@attrs.define(eq=False)
class Nameidata:
    """``struct nameidata``: where the walk is and what its last component is."""

    path: Path
    root: Path
    cred: Cred
    sysctl: Mapping[str, int]
    last: str = ""
    last_type: int = LAST_ROOT
    trailing: bool = False
    need_dir: bool = False
    total_link_count: int = 0
    flags: int = 0  # the LOOKUP_* scoping and restriction bits of openat2's RESOLVE_*


#: A path argument: str, bytes (a C string) or an :class:`os.PathLike` of either.
PathArg: TypeAlias = str | bytes | os.PathLike[str] | os.PathLike[bytes]


def path_arg(value: object, what: str = "path") -> str:
    """A path argument as a C string can carry it (:mod:`pinfs.base.cstring`): ``str``
    encoded as :func:`os.fsencode` does, ``bytes``, or an :class:`os.PathLike` (its
    :func:`os.fspath`); no NUL.  Anything else is a TypeError naming the argument.
    Checked before the syscall runs; the kernel's own checks are :func:`getname`."""
    if not isinstance(value, str | bytes):
        value = fspath_arg(value, what)
    return c_string(value, what)


def fspath_arg(value: object, what: str = "path") -> str | bytes:
    """``value`` as :func:`os.fspath` gives it (str or bytes), else TypeError
    naming the argument the way :mod:`os` does."""
    if isinstance(value, str | bytes):
        return value
    if not isinstance(value, os.PathLike):
        kind = type(value).__name__
        raise TypeError(f"{what} should be string, bytes or os.PathLike, not {kind}")
    path = os.fspath(value)
    if not isinstance(path, str | bytes):  # pragma: no cover - os.fspath checks it
        raise TypeError(f"{what}: __fspath__ returned {type(path).__name__}")
    return path


def getname(name: str) -> str:
    """``getname`` of a name the caller passed as a Python string: ENAMETOOLONG at
    PATH_MAX bytes (with the NUL), ENOENT for ""."""
    # fewer than PATH_MAX // 4 characters cannot be PATH_MAX bytes: skip the encoding
    size = len(name)
    if size >= PATH_MAX // 4:
        size = len(os.fsencode(name))
    if not 0 < size < PATH_MAX:
        _getname_checks(size, name)
    return name


def getname_user(mem: UserMemory, address: int) -> str:
    """``getname`` of a user pointer: ``strncpy_from_user`` (EFAULT), then the same
    checks as :func:`getname` on the bytes copied."""
    return getname_copied(mem.strncpy_from_user(address, PATH_MAX))


def getname_copied(raw: bytes) -> str:
    """The checks of :func:`getname_user` on a name already in the kernel's hands:
    ``raw`` is what ``strncpy_from_user`` gives for a NUL-terminated buffer holding
    it (the typed bpf helpers pass their C string this way instead of through user
    memory; a name of PATH_MAX bytes or more comes out truncated, so ENAMETOOLONG)."""
    _getname_checks(len(raw), None)
    return raw.decode("utf-8", "surrogateescape")


def _getname_checks(size: int, name: str | None) -> None:
    """``getname_flags``: a name of PATH_MAX bytes or more is ENAMETOOLONG; an empty
    one is ENOENT (no LOOKUP_EMPTY here)."""
    if size >= PATH_MAX:
        raise refuse(errno.ENAMETOOLONG, "getname", "the path is PATH_MAX bytes or more", path=name)
    if not size:
        raise refuse(errno.ENOENT, "getname", "the path is empty", path=name)


def _last_type(component: str) -> int:
    if component == ".":
        return LAST_DOT
    if component == "..":
        return LAST_DOTDOT
    return LAST_NORM


# ---------------------------------------------------------------------------------------
# The walk


def path_init(nd: Nameidata, name: str, start: Path) -> str:
    """``path_init``: absolute names start at the task's root, others at ``start``."""
    if name.startswith("/"):
        nd.path = nd.root
        return name.lstrip("/")
    nd.path = start
    return name


def may_lookup(nd: Nameidata) -> None:
    """``may_lookup``: search (exec) permission on the directory being walked."""
    inode = nd.path.dentry.d_inode
    assert inode is not None
    if _owner_may_search(nd.cred, inode):
        return
    err = inode_permission(nd.cred, inode, MAY_EXEC)
    if err:
        raise kernel_error(err)


def _owner_may_search(cred: Cred, dir: Inode) -> bool:
    """The common case of ``inode_permission(cred, dir, MAY_EXEC)`` answered without
    the calls: no ``->permission`` of the filesystem's own, the caller owns the
    directory and its owner x bit is set, so ``acl_permission_check`` grants.  False
    means "ask :func:`inode_permission`", never "denied"."""
    iops = dir.i_op
    return (
        cred.fsuid == dir.i_uid
        and dir.i_mode & 0o100 != 0
        and (iops is None or iops.permission is None)
    )


def link_path_walk(nd: Nameidata, name: str) -> None:
    """``link_path_walk``: walk every component but the last, which is recorded.

    The common step stays in this loop, on local variables: search permission the
    owner has (:func:`_owner_may_search`), a hashed positive child without
    ``d_revalidate``, a directory or a mountpoint whose top root is one.  Anything
    else (dots, a miss, a symlink, a refusal to explain) goes through
    ``inode_permission`` / ``walk_component`` with ``nd.path`` brought up to date.
    """
    components = name.split("/")
    if "" in components:  # "//", a trailing "/" or nothing: drop the empty ones
        components = [c for c in components if c]
    if not components:
        nd.last_type = LAST_ROOT
        return
    cred = nd.cred
    fsuid = cred.fsuid
    crossing_checked = nd.flags & LOOKUP_NO_XDEV  # walk_component checks each crossing
    start = nd.path
    mnt, dentry = start
    for component in components[:-1]:
        dir = dentry.d_inode
        assert dir is not None  # the walk only stands on positive dentries
        iops = dir.i_op
        if not (
            fsuid == dir.i_uid and dir.i_mode & 0o100 and (iops is None or iops.permission is None)
        ):
            err = inode_permission(cred, dir, MAY_EXEC)
            if err:
                raise kernel_error(err)
        child = dentry.d_subdirs.get(component)  # d_lookup_valid, when nothing revalidates
        if child is not None and child.d_op is not None and child.d_op.d_revalidate is not None:
            child = d_lookup_valid(dentry, component)
        inode = child.d_inode if child is not None else None
        if child is not None and inode is not None:
            if child.d_mounted:
                if not crossing_checked:
                    below = follow_mount(_new_path(Path, (mnt, child)))
                    root = below.dentry.d_inode
                    if root is not None and root.i_mode & S_IFMT == S_IFDIR:
                        mnt, dentry = below
                        continue
            elif inode.i_mode & S_IFMT == S_IFDIR:
                dentry = child
                continue
            elif inode.i_mode & S_IFMT != S_IFLNK:
                raise _not_a_dir(component)
        nd.path = start = _new_path(Path, (mnt, dentry))
        link = walk_component(nd, component, follow=True)
        if link is not None:
            nested_symlink(nd, link)
        inode = nd.path.dentry.d_inode
        assert inode is not None
        if not inode.is_dir:
            raise _not_a_dir(component)
        start = nd.path
        mnt, dentry = start
    if dentry is not start.dentry or mnt is not start.mnt:
        nd.path = _new_path(Path, (mnt, dentry))
    dir = dentry.d_inode
    assert dir is not None
    iops = dir.i_op  # may_lookup of the last directory: the owner's grant inline, as above
    if not (
        fsuid == dir.i_uid and dir.i_mode & 0o100 and (iops is None or iops.permission is None)
    ):
        may_lookup(nd)
    last = nd.last = components[-1]
    nd.last_type = _last_type(last) if last[0] == "." else LAST_NORM
    nd.trailing = name.endswith("/")


def walk_component(nd: Nameidata, component: str, follow: bool) -> Path | None:
    """``walk_component``: one step; dots, dcache/->lookup, mounts.  A symlink to
    follow is returned, not entered: the caller walks its body (``link_path_walk``
    for a link met mid-path, ``trailing_symlink`` for the last component)."""
    if component == ".":
        return None
    if component == "..":
        follow_dotdot(nd)
        return None
    dentry = lookup_walk(nd.path.dentry, component)
    path = follow_mount(Path(nd.path.mnt, dentry))
    if nd.flags & LOOKUP_NO_XDEV:
        restrict_mount_crossing(nd, path)
    inode = path.dentry.d_inode
    assert inode is not None
    if follow and stat.S_ISLNK(inode.i_mode):
        return path
    nd.path = path
    return None


def get_link(nd: Nameidata, link: Path) -> str:
    """``pick_link`` + ``get_link``: count the link (ELOOP past 40) and jump to the
    root for "/..."; openat2's restrictions (:func:`restrict_link`) first."""
    if nd.flags:
        restrict_link(nd)
    nd.total_link_count += 1
    if nd.total_link_count > MAXSYMLINKS:
        raise kernel_error(errno.ELOOP)
    inode = link.dentry.d_inode
    assert inode is not None
    if inode.i_link is not None:
        if nd.flags and inode.i_link.startswith("/"):
            restrict_jump_root(nd)
        return path_init(nd, inode.i_link, nd.path)
    assert inode.i_op is not None and inode.i_op.get_link is not None
    target = inode.i_op.get_link(link.dentry, inode)
    if isinstance(target, str):
        if nd.flags and target.startswith("/"):
            restrict_jump_root(nd)
        return path_init(nd, target, nd.path)
    if nd.flags:
        restrict_magic_link(nd, target)
    nd.path = target  # nd_jump_link: a magic link (procfs fd) lands on a path
    return ""


def restrict_link(nd: Nameidata) -> None:
    """``pick_link`` with RESOLVE_NO_SYMLINKS: every symlink is ELOOP."""
    if nd.flags & LOOKUP_NO_SYMLINKS:
        raise refuse(errno.ELOOP, "pick_link", "a symlink, with RESOLVE_NO_SYMLINKS")


def restrict_jump_root(nd: Nameidata) -> None:
    """``nd_jump_root`` for an absolute symlink body: EXDEV with RESOLVE_BENEATH, and
    with RESOLVE_NO_XDEV if the root is on another mount (RESOLVE_IN_ROOT jumps to
    the dirfd, which is ``nd.root``)."""
    if nd.flags & LOOKUP_BENEATH:
        raise refuse(errno.EXDEV, "nd_jump_root", "an absolute symlink, with RESOLVE_BENEATH")
    if nd.flags & LOOKUP_NO_XDEV and nd.path.mnt is not nd.root.mnt:
        raise refuse(errno.EXDEV, "nd_jump_root", "the jump crosses a mount (RESOLVE_NO_XDEV)")


def restrict_magic_link(nd: Nameidata, target: Path) -> None:
    """``nd_jump_link``: ELOOP with RESOLVE_NO_MAGICLINKS; EXDEV onto another mount
    with RESOLVE_NO_XDEV, and always in a scoped lookup (BENEATH, IN_ROOT)."""
    if nd.flags & LOOKUP_NO_MAGICLINKS:
        raise refuse(errno.ELOOP, "nd_jump_link", "a magic link, with RESOLVE_NO_MAGICLINKS")
    if nd.flags & LOOKUP_NO_XDEV and nd.path.mnt is not target.mnt:
        raise refuse(errno.EXDEV, "nd_jump_link", "the magic link crosses a mount")
    if nd.flags & LOOKUP_IS_SCOPED:
        raise refuse(errno.EXDEV, "nd_jump_link", "a magic link in a scoped lookup")


def restrict_mount_crossing(nd: Nameidata, path: Path) -> None:
    """``traverse_mounts`` / ``follow_dotdot`` with RESOLVE_NO_XDEV: EXDEV when the
    walk moves onto another mount."""
    if path.mnt is not nd.path.mnt:
        check = "the walk crosses a mount (RESOLVE_NO_XDEV)"
        raise refuse(errno.EXDEV, "traverse_mounts", check)


def vfs_readlink(dentry: Dentry) -> str:
    """``vfs_readlink``: the body, or the filesystem's ``->readlink`` (procfs's fd
    links print a path); EINVAL if it is not a symlink."""
    inode = dentry.d_inode
    assert inode is not None
    if inode.i_link is not None:
        return inode.i_link
    iops = inode.i_op
    if iops is not None and iops.readlink is not None:
        return iops.readlink(dentry)
    if iops is not None and iops.get_link is not None:
        target = iops.get_link(dentry, inode)
        if isinstance(target, str):
            return target
    raise kernel_error(errno.EINVAL)


def nested_symlink(nd: Nameidata, link: Path) -> None:
    """A symlink met mid-path, as ``link_path_walk`` walks it: the body in place, its
    last component by ``walk_component`` ("last component of nested symlink"), always
    followed.  A trailing slash in the body demands nothing: the walk goes on through
    the result, which must be a directory anyway."""
    body = get_link(nd, link)
    saved_last, saved_type, saved_trailing = nd.last, nd.last_type, nd.trailing
    link_path_walk(nd, body)
    if nd.last_type != LAST_ROOT:
        inner = walk_component(nd, nd.last, follow=True)
        if inner is not None:
            nested_symlink(nd, inner)
    nd.last, nd.last_type, nd.trailing = saved_last, saved_type, saved_trailing


def trailing_symlink(nd: Nameidata, link: Path) -> None:
    """``trailing_symlink``: a followed last component; its body's last component is
    the walk's last, so ``lookup_last`` sees the body's trailing slash and demands a
    directory.  ``may_follow_link`` runs for every trailing link (nd.path is still
    the link's directory, nd.last its name)."""
    trailing_symlink_check(nd)
    link_path_walk(nd, get_link(nd, link))
    lookup_last(nd, follow=True)


def lookup_last(nd: Nameidata, follow: bool) -> None:
    """``lookup_last``: the final component; a trailing slash means follow + directory."""
    if nd.last_type == LAST_ROOT:
        return
    if nd.last_type == LAST_NORM and nd.trailing:
        follow = True
        nd.need_dir = True
    link = walk_component(nd, nd.last, follow)
    if link is not None:
        trailing_symlink(nd, link)


def follow_dotdot(nd: Nameidata) -> None:
    """``follow_dotdot``: up one level, out of mounts, never above the task's root."""
    mnt, dentry = nd.path
    while True:
        if mnt is nd.root.mnt and dentry is nd.root.dentry:
            if nd.flags & LOOKUP_BENEATH:  # follow_dotdot's in_root
                check = "'..' above the dirfd (RESOLVE_BENEATH)"
                raise refuse(errno.EXDEV, "follow_dotdot", check)
            break
        if dentry is not mnt.mnt_root:
            assert dentry.d_parent is not None
            dentry = dentry.d_parent
            break
        if mnt.mnt_parent is None or mnt.mnt_mountpoint is None:
            break
        dentry = mnt.mnt_mountpoint
        mnt = mnt.mnt_parent
    path = follow_mount(Path(mnt, dentry))
    if nd.flags & LOOKUP_NO_XDEV:
        restrict_mount_crossing(nd, path)
    nd.path = path


def _not_a_dir(component: str) -> KernelError:
    return refuse(errno.ENOTDIR, "link_path_walk", "{name!r} is not a directory", name=component)


def _no_entry(name: str) -> KernelError:
    return refuse(errno.ENOENT, "walk_component", "no entry {name!r}", name=name)


def lookup_walk(parent: Dentry, name: str) -> Dentry:
    """A positive child for the walk (no reference kept), else ENOENT."""
    dentry = d_lookup_valid(parent, name)
    if dentry is None:
        dentry = lookup_real(parent, name)
        if dentry.d_inode is None:
            dput(dentry)
            raise _no_entry(name)
        dentry.d_count -= 1  # the walk keeps no reference; the filesystem's pin holds it
        return dentry
    if dentry.d_inode is None:
        raise _no_entry(name)
    return dentry


def lookup_real(parent: Dentry, name: str) -> Dentry:
    """``lookup_real``: a new dentry asked of the filesystem; dead directories: ENOENT."""
    dir = parent.d_inode
    assert dir is not None
    dentry = d_alloc(parent, name)
    if dir.i_flags & S_DEAD:  # IS_DEADDIR
        dput(dentry)
        raise kernel_error(errno.ENOENT)
    iops = dir.i_op
    try:
        if iops is None or iops.lookup is None:
            raise kernel_error(errno.ENOTDIR)
        iops.lookup(dir, dentry)
    except BaseException:
        dput(dentry)
        raise
    return dentry


def lookup_hash(parent: Dentry, name: str) -> Dentry:
    """``__lookup_hash``: the child (positive or negative) with a reference."""
    dentry = parent.d_subdirs.get(name)  # d_lookup_valid, when nothing revalidates
    if dentry is not None and dentry.d_op is not None and dentry.d_op.d_revalidate is not None:
        dentry = d_lookup_valid(parent, name)
    if dentry is not None:
        dentry.d_count += 1
        return dentry
    return lookup_real(parent, name)


def new_nameidata(current: Current) -> Nameidata:
    fs: FsStruct = current.fs
    return Nameidata(fs.pwd, fs.root, current.cred, current.kernel.sysctl)


def path_lookupat(
    current: Current, name: str, follow: bool, start: Path | None = None, dfd: int = AT_FDCWD
) -> Path:
    """``kern_path`` / ``user_path_at``: resolve ``name`` entirely (no reference taken),
    relative names from ``start`` or the directory fd ``dfd`` (``path_init``)."""
    if start is None and dfd != AT_FDCWD:
        start = dfd_start(current, dfd, name)
    nd = new_nameidata(current)
    rest = path_init(nd, name, start or nd.path)
    link_path_walk(nd, rest)
    lookup_last(nd, follow)
    if nd.need_dir:
        inode = nd.path.dentry.d_inode
        assert inode is not None
        if not inode.is_dir:
            raise kernel_error(errno.ENOTDIR)
    return nd.path


def trailing_symlink_check(nd: Nameidata) -> None:
    """``may_follow_link`` (fs.protected_symlinks): no following others' links in
    sticky world-writable directories.  Off (0) in a vanilla 4.4 kernel."""
    if not nd.sysctl.get("fs.protected_symlinks", 0):
        return
    child = nd.path.dentry.d_subdirs.get(nd.last)
    if child is None or child.d_inode is None or not stat.S_ISLNK(child.d_inode.i_mode):
        return
    parent = nd.path.dentry.d_inode
    assert parent is not None
    if (parent.i_mode & (stat.S_ISVTX | stat.S_IWOTH)) != (stat.S_ISVTX | stat.S_IWOTH):
        return
    link = child.d_inode
    if nd.cred.fsuid == link.i_uid or parent.i_uid == link.i_uid:
        return
    raise kernel_error(errno.EACCES)


def dfd_start(current: Current, dfd: int | None, name: str, in_root: bool = False) -> Path | None:
    """``path_init`` with a directory fd: None for AT_FDCWD or an absolute name;
    EBADF if nothing is open at ``dfd`` (``fdget_raw``: O_PATH fds count), ENOTDIR if
    it is not a directory and there is a name to walk (an empty one, AT_EMPTY_PATH,
    means the fd's own file)."""
    if dfd is None or dfd == AT_FDCWD or (name.startswith("/") and not in_root):
        return None
    file = current.files.lookup(dfd) if dfd >= 0 else None
    if file is None:
        raise refuse(errno.EBADF, "path_init", "no file is open at dirfd {dfd}", dfd=dfd)
    path = file.f_path
    if path is None or (name and not path.dentry.d_inode.is_dir):
        check = "dirfd {dfd} is not a directory"
        raise refuse(errno.ENOTDIR, "path_init", check, dfd=dfd)
    start: Path = path
    return start


def filename_parentat(
    current: Current, name: str, start: Path | None = None, dfd: int = AT_FDCWD, flags: int = 0
) -> Nameidata:
    """``filename_parentat``: walk to the parent; the last component is not looked up.
    ``flags``: openat2's LOOKUP_* restrictions; a scoped lookup (BENEATH, IN_ROOT)
    takes the dirfd as its root, and IN_ROOT walks absolute names from it too."""
    scoped = flags & LOOKUP_IS_SCOPED
    if start is None and (dfd != AT_FDCWD or scoped):
        in_root = flags & LOOKUP_IN_ROOT and name.startswith("/")
        start = dfd_start(current, dfd, name, bool(in_root))
    fs: FsStruct = current.fs  # new_nameidata, without the call
    nd = Nameidata(fs.pwd, fs.root, current.cred, current.kernel.sysctl)
    if flags:
        nd.flags = flags
        if scoped:
            nd.root = start or nd.path
        if name.startswith("/") and flags & LOOKUP_BENEATH:
            raise refuse(errno.EXDEV, "nd_jump_root", "an absolute name, with RESOLVE_BENEATH")
    rest = path_init(nd, name, start or nd.path)
    link_path_walk(nd, rest)
    return nd


# ---------------------------------------------------------------------------------------
# Creation


def filename_create(
    current: Current, name: str, is_dir: bool, start: Path | None = None, dfd: int = AT_FDCWD
) -> tuple[Path, Dentry]:
    """``filename_create``: EEXIST for dots/root, remember EROFS, look up, EEXIST if
    present, ENOENT for a trailing slash on a non-directory, then the EROFS."""
    nd = filename_parentat(current, name, start, dfd)
    if nd.last_type != LAST_NORM:
        raise kernel_error(errno.EEXIST, name)
    err2 = mnt_want_write(nd.path.mnt)
    dentry = lookup_hash(nd.path.dentry, nd.last)
    err = 0
    if dentry.d_inode is not None:
        err = refused(errno.EEXIST, "filename_create", "the name {name!r} exists", name=nd.last)
    elif nd.trailing and not is_dir:
        err = refused(errno.ENOENT, "filename_create", "a trailing '/' on a non-directory")
    elif err2:
        err = err2
    if err:
        dput(dentry)
        raise kernel_error(err, name)
    return nd.path, dentry


def done_path_create(path: Path, dentry: Dentry) -> None:
    dput(dentry)


def vfs_create(cred: Cred, dir: Inode, dentry: Dentry, mode: int) -> None:
    """``vfs_create``: may_create, then no ``->create`` is EACCES."""
    err = may_create(cred, dir, dentry)
    if err:
        raise kernel_error(err)
    iops = dir.i_op
    if iops is None or iops.create is None:
        raise kernel_error(errno.EACCES)
    iops.create(cred, dir, dentry, (mode & S_IALLUGO) | S_IFREG)


def vfs_mkdir(cred: Cred, dir: Inode, dentry: Dentry, mode: int) -> None:
    """``vfs_mkdir``: may_create, no ``->mkdir`` EPERM, mode masked to 01777."""
    err = may_create(cred, dir, dentry)
    if err:
        raise kernel_error(err)
    iops = dir.i_op
    if iops is None or iops.mkdir is None:
        raise kernel_error(errno.EPERM)
    iops.mkdir(cred, dir, dentry, mode & (S_IRWXUGO | stat.S_ISVTX))


def vfs_mknod(
    cred: Cred, init_ns: UserNamespace, dir: Inode, dentry: Dentry, mode: int, dev: int
) -> None:
    """``vfs_mknod``: may_create, CAP_MKNOD for devices, no ``->mknod`` EPERM."""
    err = may_create(cred, dir, dentry)
    if err:
        raise kernel_error(err)
    if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and not capable(cred, init_ns, CAP_MKNOD):
        raise kernel_error(errno.EPERM)
    if dir.i_op is None or dir.i_op.mknod is None:
        raise kernel_error(errno.EPERM)
    dir.i_op.mknod(cred, dir, dentry, mode, dev)


def vfs_symlink(cred: Cred, dir: Inode, dentry: Dentry, target: str) -> None:
    """``vfs_symlink``: may_create, no ``->symlink`` EPERM."""
    err = may_create(cred, dir, dentry)
    if err:
        raise kernel_error(err)
    if dir.i_op is None or dir.i_op.symlink is None:
        raise kernel_error(errno.EPERM)
    dir.i_op.symlink(cred, dir, dentry, target)


def vfs_link(cred: Cred, old_dentry: Dentry, dir: Inode, new_dentry: Dentry) -> None:
    """``vfs_link``: may_create, EXDEV across superblocks, EPERM for append-only,
    immutable, no ``->link`` or a directory, ENOENT for an unlinked source."""
    inode = old_dentry.d_inode
    if inode is None:
        raise kernel_error(errno.ENOENT)
    err = may_create(cred, dir, new_dentry)
    if err:
        raise kernel_error(err)
    if dir.i_sb is not inode.i_sb:
        raise kernel_error(errno.EXDEV)
    if inode.i_flags & (S_APPEND | S_IMMUTABLE):
        raise kernel_error(errno.EPERM)
    if dir.i_op is None or dir.i_op.link is None:
        raise kernel_error(errno.EPERM)
    if inode.is_dir:
        raise kernel_error(errno.EPERM)
    if inode.i_nlink == 0:
        raise kernel_error(errno.ENOENT)
    dir.i_op.link(old_dentry, dir, new_dentry)


def may_mknod(mode: int) -> int:
    """``may_mknod``: which file types mknod(2) accepts (checked before the path)."""
    fmt = stat.S_IFMT(mode)
    if fmt in (stat.S_IFREG, 0, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
        return 0
    if fmt == stat.S_IFDIR:
        return errno.EPERM
    return errno.EINVAL


# ---------------------------------------------------------------------------------------
# Deletion


def is_local_mountpoint(ns: MountNamespace | None, dentry: Dentry) -> bool:
    """``is_local_mountpoint``: something in the caller's namespace is mounted here."""
    if not dentry.d_mounted:
        return False
    return ns is None or any(m.mnt_mountpoint is dentry for m in ns.mounts)


def vfs_unlink(cred: Cred, dir: Inode, dentry: Dentry, ns: MountNamespace | None = None) -> None:
    """``vfs_unlink``: may_delete, no ``->unlink`` EPERM, mountpoint EBUSY, then d_delete."""
    err = may_delete(cred, dir, dentry, False)
    if err:
        raise kernel_error(err)
    iops = dir.i_op
    if iops is None or iops.unlink is None:
        raise kernel_error(errno.EPERM)
    # is_local_mountpoint and detach_mounts begin with d_mountpoint, as the kernel's
    # inline halves do: a dentry nothing is mounted on needs neither call
    if dentry.d_mounted and is_local_mountpoint(ns, dentry):
        raise kernel_error(errno.EBUSY)
    iops.unlink(dir, dentry)
    if dentry.d_mounted:
        detach_mounts(dentry)  # dont_mount + detach_mounts
    d_delete(dentry)


def vfs_rmdir(cred: Cred, dir: Inode, dentry: Dentry, ns: MountNamespace | None = None) -> None:
    """``vfs_rmdir``: may_delete(isdir), no ``->rmdir`` EPERM, mountpoint EBUSY, then
    the filesystem; the victim is marked dead so nothing more is created in it."""
    err = may_delete(cred, dir, dentry, True)
    if err:
        raise kernel_error(err)
    iops = dir.i_op
    if iops is None or iops.rmdir is None:
        raise kernel_error(errno.EPERM)
    if dentry.d_mounted and is_local_mountpoint(ns, dentry):  # as in vfs_unlink
        raise kernel_error(errno.EBUSY)
    inode = dentry.d_inode
    assert inode is not None
    iops.rmdir(dir, dentry)
    inode.i_flags |= S_DEAD
    if dentry.d_mounted:
        detach_mounts(dentry)
    d_delete(dentry)


def do_unlinkat(current: Current, name: str, dfd: int = AT_FDCWD) -> None:
    """``do_unlinkat``: EISDIR for dots/root, EROFS, lookup, trailing-slash rules, then
    ``vfs_unlink``.  The inode is put last, so eviction happens as unlink returns."""
    nd = filename_parentat(current, name, None, dfd)
    if nd.last_type != LAST_NORM:
        raise kernel_error(errno.EISDIR, name)
    err = mnt_want_write(nd.path.mnt)
    if err:
        raise kernel_error(err, name)
    dentry = lookup_hash(nd.path.dentry, nd.last)
    inode = dentry.d_inode
    if nd.trailing or inode is None:
        dput(dentry)
        if inode is None:
            raise kernel_error(errno.ENOENT, name)
        raise kernel_error(errno.EISDIR if inode.is_dir else errno.ENOTDIR, name)
    ihold(inode)
    try:
        parent = nd.path.dentry.d_inode
        assert parent is not None
        vfs_unlink(current.cred, parent, dentry, current.mnt_ns)
    except KernelError as exc:
        raise naming(exc, name) from None
    finally:
        dput(dentry)
        iput(inode)


def do_rmdir(current: Current, name: str, dfd: int = AT_FDCWD) -> None:
    """``do_rmdir``: ENOTEMPTY for "..", EINVAL for ".", EBUSY for "/", EROFS, lookup,
    then ``vfs_rmdir`` (a trailing slash is allowed)."""
    nd = filename_parentat(current, name, None, dfd)
    if nd.last_type == LAST_DOTDOT:
        raise kernel_error(errno.ENOTEMPTY, name)
    if nd.last_type == LAST_DOT:
        raise kernel_error(errno.EINVAL, name)
    if nd.last_type == LAST_ROOT:
        raise kernel_error(errno.EBUSY, name)
    err = mnt_want_write(nd.path.mnt)
    if err:
        raise kernel_error(err, name)
    dentry = lookup_hash(nd.path.dentry, nd.last)
    try:
        if dentry.d_inode is None:
            raise kernel_error(errno.ENOENT, name)
        parent = nd.path.dentry.d_inode
        assert parent is not None
        try:  # call_naming, without the call
            vfs_rmdir(current.cred, parent, dentry, current.mnt_ns)
        except KernelError as exc:
            raise naming(exc, name) from None
    finally:
        dput(dentry)


# ---------------------------------------------------------------------------------------
# Creation syscalls


def do_mkdirat(current: Current, name: str, mode: int, dfd: int = AT_FDCWD) -> None:
    """``do_mkdirat``: create with LOOKUP_DIRECTORY, apply the umask, ``vfs_mkdir``."""
    parent, dentry = filename_create(current, name, True, None, dfd)
    try:
        dir = parent.dentry.d_inode
        assert dir is not None
        vfs_mkdir(current.cred, dir, dentry, mode & ~current.fs.umask)
    except KernelError as exc:
        raise naming(exc, name) from None
    finally:
        done_path_create(parent, dentry)


def do_mknodat(current: Current, name: str, mode: int, dev: int, dfd: int = AT_FDCWD) -> None:
    """``sys_mknodat``: ``may_mknod`` first, then create, umask, and by type
    ``vfs_create`` (regular, 0) or ``vfs_mknod`` (devices, fifos, sockets)."""
    err = may_mknod(mode)
    if err:
        raise kernel_error(err, name)
    parent, dentry = filename_create(current, getname(name), is_dir=False, dfd=dfd)
    try:
        dir = parent.dentry.d_inode
        assert dir is not None
        mode &= ~current.fs.umask
        fmt = stat.S_IFMT(mode)
        if fmt in (0, stat.S_IFREG):
            call_naming(name, vfs_create, current.cred, dir, dentry, mode)
        else:
            rdev = dev if fmt in (stat.S_IFCHR, stat.S_IFBLK) else 0
            call_naming(
                name, vfs_mknod, current.cred, current.kernel.init_user_ns, dir, dentry, mode, rdev
            )
    finally:
        done_path_create(parent, dentry)


def do_symlinkat(current: Current, target: str, name: str, dfd: int = AT_FDCWD) -> None:
    """``do_symlinkat``: the target string is copied first (ENOENT if empty)."""
    parent, dentry = filename_create(current, name, is_dir=False, dfd=dfd)
    try:
        dir = parent.dentry.d_inode
        assert dir is not None
        call_naming(name, vfs_symlink, current.cred, dir, dentry, target)
    finally:
        done_path_create(parent, dentry)


def do_linkat(
    current: Current,
    old: str,
    new: str,
    old_dfd: int = AT_FDCWD,
    new_dfd: int = AT_FDCWD,
    follow: bool = False,
) -> None:
    """``do_linkat``: the old name (followed only with AT_SYMLINK_FOLLOW), then the
    new one is created; EXDEV across mounts, ``may_linkat``, ``vfs_link``."""
    old_path = path_lookupat(current, old, follow=follow, dfd=old_dfd)  # getname'd by the caller
    parent, dentry = filename_create(current, getname(new), is_dir=False, dfd=new_dfd)
    try:
        if parent.mnt is not old_path.mnt:
            raise refuse(
                errno.EXDEV, "do_linkat", "the two names are on different mounts", path=new
            )
        may_linkat(current, old_path)
        dir = parent.dentry.d_inode
        assert dir is not None
        call_naming(new, vfs_link, current.cred, old_path.dentry, dir, dentry)
    finally:
        done_path_create(parent, dentry)


def may_linkat(current: Current, link: Path) -> None:
    """``may_linkat`` (fs.protected_hardlinks): off (0) in a vanilla 4.4 kernel."""
    if not current.kernel.sysctl.get("fs.protected_hardlinks", 0):
        return
    inode = link.dentry.d_inode
    assert inode is not None
    cred = current.cred
    if inode_owner_or_capable(cred, inode):
        return
    safe = (
        stat.S_ISREG(inode.i_mode)
        and not inode.i_mode & stat.S_ISUID
        and (inode.i_mode & (stat.S_ISGID | stat.S_IXGRP)) != (stat.S_ISGID | stat.S_IXGRP)
        and inode_permission(cred, inode, MAY_READ | MAY_WRITE) == 0
    )
    if not safe:
        raise kernel_error(errno.EPERM)


# ---------------------------------------------------------------------------------------
# Rename


def vfs_rename(
    cred: Cred,
    old_dir: Inode,
    old_dentry: Dentry,
    new_dir: Inode,
    new_dentry: Dentry,
    flags: int,
    ns: MountNamespace | None = None,
) -> None:
    """``vfs_rename``: same inode is a no-op; may_delete/may_create; no rename op is
    EPERM, flags without ``rename2`` EINVAL; moving a dir needs write on it; EBUSY for
    mountpoints; then the filesystem and ``d_move``/``d_exchange``."""
    source = old_dentry.d_inode
    target = new_dentry.d_inode
    assert source is not None
    if source is target:
        return
    is_dir = source.is_dir
    new_is_dir = target is not None and target.is_dir
    err = may_delete(cred, old_dir, old_dentry, is_dir)
    if not err and target is None:
        err = may_create(cred, new_dir, new_dentry)
    elif not err:
        err = may_delete(
            cred, new_dir, new_dentry, new_is_dir if flags & RENAME_EXCHANGE else is_dir
        )
    if err:
        raise kernel_error(err)
    iops = old_dir.i_op
    if iops is None or (iops.rename is None and iops.rename2 is None):
        raise kernel_error(errno.EPERM)
    if flags and iops.rename2 is None:
        raise kernel_error(errno.EINVAL)
    if new_dir is not old_dir:
        if is_dir:
            err = inode_permission(cred, source, MAY_WRITE)
            if err:
                raise kernel_error(err)
        if flags & RENAME_EXCHANGE and new_is_dir and target is not None:
            err = inode_permission(cred, target, MAY_WRITE)
            if err:
                raise kernel_error(err)
    if is_local_mountpoint(ns, old_dentry) or is_local_mountpoint(ns, new_dentry):
        raise kernel_error(errno.EBUSY)
    if iops.rename2 is not None:
        iops.rename2(cred, old_dir, old_dentry, new_dir, new_dentry, flags)
    else:
        assert iops.rename is not None
        iops.rename(old_dir, old_dentry, new_dir, new_dentry)
    if flags & RENAME_EXCHANGE:
        d_exchange(old_dentry, new_dentry)
        return
    if target is not None:
        if is_dir:
            target.i_flags |= S_DEAD
        detach_mounts(new_dentry)
    d_move(old_dentry, new_dentry)


def do_renameat2(
    current: Current,
    old: str,
    new: str,
    flags: int,
    old_dfd: int = AT_FDCWD,
    new_dfd: int = AT_FDCWD,
) -> None:
    """``sys_renameat2``: flag sanity, both parents, EXDEV, EBUSY for dots, EROFS,
    lookups and trailing-slash rules, loops (EINVAL/ENOTEMPTY), then ``vfs_rename``."""
    if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT):
        raise kernel_error(errno.EINVAL)
    if flags & (RENAME_NOREPLACE | RENAME_WHITEOUT) and flags & RENAME_EXCHANGE:
        raise kernel_error(errno.EINVAL)
    needs_mknod = current.kernel.profile.rename_whiteout_needs_cap_mknod
    if (
        flags & RENAME_WHITEOUT
        and needs_mknod
        and not capable(current.cred, current.kernel.init_user_ns, CAP_MKNOD)
    ):
        raise kernel_error(errno.EPERM)
    old_nd = filename_parentat(current, getname(old), dfd=old_dfd)
    new_nd = filename_parentat(current, getname(new), dfd=new_dfd)
    if old_nd.path.mnt is not new_nd.path.mnt:
        raise kernel_error(errno.EXDEV, old)
    if old_nd.last_type != LAST_NORM:
        raise kernel_error(errno.EBUSY, old)
    if new_nd.last_type != LAST_NORM:
        raise kernel_error(errno.EEXIST if flags & RENAME_NOREPLACE else errno.EBUSY, new)
    err = mnt_want_write(old_nd.path.mnt)
    if err:
        raise kernel_error(err, old)
    old_dentry = lookup_hash(old_nd.path.dentry, old_nd.last)
    new_dentry: Dentry | None = None
    try:
        if old_dentry.d_inode is None:
            raise kernel_error(errno.ENOENT, old)
        new_dentry = lookup_hash(new_nd.path.dentry, new_nd.last)
        if flags & RENAME_NOREPLACE and new_dentry.d_inode is not None:
            raise kernel_error(errno.EEXIST, new)
        if flags & RENAME_EXCHANGE:
            if new_dentry.d_inode is None:
                raise kernel_error(errno.ENOENT, new)
            if not new_dentry.d_inode.is_dir and new_nd.trailing:
                raise kernel_error(errno.ENOTDIR, new)
        if not old_dentry.d_inode.is_dir:
            if old_nd.trailing:
                raise kernel_error(errno.ENOTDIR, old)
            if new_nd.trailing and not flags & RENAME_EXCHANGE:
                raise kernel_error(errno.ENOTDIR, new)
        if _is_ancestor(old_dentry, new_nd.path.dentry):  # source is an ancestor of target
            raise kernel_error(errno.EINVAL, old)
        if _is_ancestor(new_dentry, old_nd.path.dentry):
            raise kernel_error(errno.ENOTEMPTY if not flags & RENAME_EXCHANGE else errno.EINVAL)
        old_dir, new_dir = old_nd.path.dentry.d_inode, new_nd.path.dentry.d_inode
        assert old_dir is not None and new_dir is not None
        call_naming(
            old,
            vfs_rename,
            current.cred,
            old_dir,
            old_dentry,
            new_dir,
            new_dentry,
            flags,
            current.mnt_ns,
        )
    finally:
        if new_dentry is not None:
            dput(new_dentry)
        dput(old_dentry)


def _is_ancestor(dentry: Dentry, of: Dentry) -> bool:
    """``lock_rename``'s trap: ``dentry`` is ``of`` or one of its ancestors."""
    node: Dentry | None = of
    while node is not None:
        if node is dentry:
            return True
        if node.d_parent is node:
            return False
        node = node.d_parent
    return False


# ---------------------------------------------------------------------------------------
# Open


def build_acc_mode(flags: int) -> int:
    """``build_open_flags``: the MAY_* mask that opening with ``flags`` needs."""
    if flags & O_PATH:
        return 0
    acc = MAY_OPEN | ACC_MODE[flags & O_ACCMODE]
    if flags & O_TRUNC:
        acc |= MAY_WRITE
    if flags & O_APPEND:
        acc |= MAY_APPEND
    return acc


def may_open(cred: Cred, path: Path, acc_mode: int, flags: int) -> None:
    """``may_open``: ELOOP for links, EISDIR for writing dirs, then permission."""
    inode = path.dentry.d_inode
    if inode is None:
        raise kernel_error(errno.ENOENT)
    fmt = inode.i_mode & S_IFMT
    if fmt == S_IFLNK:
        raise kernel_error(errno.ELOOP)
    if fmt == S_IFDIR and acc_mode & MAY_WRITE:
        raise kernel_error(errno.EISDIR)
    if fmt in (stat.S_IFBLK, stat.S_IFCHR) and path.mnt.mnt_flags & 0x02:
        raise kernel_error(errno.EACCES)
    err = inode_permission(cred, inode, MAY_OPEN | acc_mode)
    if err:
        raise kernel_error(err)
    if inode.i_flags & S_APPEND and acc_mode & MAY_WRITE and not flags & O_APPEND:
        raise kernel_error(errno.EPERM)
    if flags & O_NOATIME and not inode_owner_or_capable(cred, inode):
        raise kernel_error(errno.EPERM)


def do_filp_open(
    current: Current, name: str, flags: int, mode: int, dfd: int = AT_FDCWD, lookup: int = 0
) -> File:
    """``path_openat`` + ``do_last`` + ``vfs_open``: returns a new file (count 1).
    ``lookup``: openat2's LOOKUP_* restrictions."""
    acc_mode = build_acc_mode(flags)
    create_mode = (mode & S_IALLUGO) | S_IFREG
    follow = not flags & O_NOFOLLOW
    nd = filename_parentat(current, name, None, dfd, lookup)
    cred = current.cred
    while True:  # each turn handles one final component (a trailing symlink loops)
        if nd.last_type != LAST_NORM:
            lookup_last(nd, follow=False)
            path = nd.path
            break
        if nd.trailing:
            if flags & O_CREAT:
                raise kernel_error(errno.EISDIR, name)
            nd.need_dir = True
        write_err = mnt_want_write(nd.path.mnt) if flags & _OPEN_WRITE_INTENT else 0
        dentry = lookup_hash(nd.path.dentry, nd.last)
        try:
            if dentry.d_inode is None:
                if not flags & O_CREAT:
                    raise kernel_error(errno.ENOENT, name)
                if write_err:
                    raise kernel_error(write_err, name)
                dir = nd.path.dentry.d_inode
                assert dir is not None
                try:  # call_naming, without the call
                    vfs_create(cred, dir, dentry, create_mode & ~current.fs.umask)
                except KernelError as exc:
                    raise naming(exc, name) from None
                created = _new_path(Path, (nd.path.mnt, dentry))
                return _finish_open(current, created, flags, MAY_OPEN, name)
            if flags & O_CREAT and flags & O_EXCL:
                raise kernel_error(errno.EEXIST, name)
            path = follow_mount(_new_path(Path, (nd.path.mnt, dentry)))
            if nd.flags & LOOKUP_NO_XDEV:
                restrict_mount_crossing(nd, path)
        finally:
            dput(dentry)
        inode = path.dentry.d_inode
        assert inode is not None
        if inode.i_mode & S_IFMT == S_IFLNK and (follow or nd.need_dir):
            trailing_symlink_check(nd)
            link_path_walk(nd, get_link(nd, path))  # the body's last is handled next turn
            continue
        if inode.i_mode & S_IFMT == S_IFLNK and not flags & O_PATH:
            raise kernel_error(errno.ELOOP, name)
        break
    inode = path.dentry.d_inode
    assert inode is not None
    if flags & O_CREAT and inode.is_dir:
        raise kernel_error(errno.EISDIR, name)
    if (nd.need_dir or flags & O_DIRECTORY) and not inode.is_dir:
        raise kernel_error(errno.ENOTDIR, name)
    return _finish_open(current, path, flags, acc_mode, name)


def _finish_open(current: Current, path: Path, flags: int, acc_mode: int, name: str) -> File:
    """``finish_open``: may_open (not for O_PATH), then ``vfs_open`` and O_TRUNC."""
    inode = path.dentry.d_inode
    assert inode is not None
    will_truncate = flags & O_TRUNC and inode.i_mode & S_IFMT == S_IFREG
    if will_truncate:
        err = mnt_want_write(path.mnt)
        if err:
            raise kernel_error(err, name)
    cred = current.cred
    try:  # call_naming, without the call
        if not flags & O_PATH:
            may_open(cred, path, acc_mode, flags)
    except KernelError as exc:
        raise naming(exc, name) from None
    file = vfs_open(path, inode, flags, name)
    file.f_cred = cred  # the opener's credentials (linkat's AT_EMPTY_PATH reads them)
    if will_truncate:  # handle_truncate
        init_ns = current.kernel.init_user_ns
        call_naming(name, do_truncate, cred, inode, 0, ATTR_MTIME | ATTR_CTIME, init_ns)
    return file


FMODE_READ = 1
FMODE_WRITE = 2
FMODE_PATH = 0x4000
#: The file holds write access to its mount (``mnt_want_write``); special files do not.
FMODE_WRITER = 0x10000


def vfs_open(path: Path, inode: Inode, flags: int, name: str) -> File:
    """``do_dentry_open``: O_PATH files stop early; writers need a writable mount;
    then the inode's ``->open`` (``no_open`` gives ENXIO)."""
    if flags & O_PATH:
        file = File(None, flags, FMODE_PATH, None, inode)
        file.f_path = path_get(path)
        return file
    f_mode = (flags + 1) & O_ACCMODE  # OPEN_FMODE
    flags &= ~_OPEN_ONLY_FLAGS  # not kept in f_flags
    fmt = inode.i_mode & S_IFMT
    if f_mode & FMODE_WRITE and fmt in (S_IFREG, S_IFDIR):
        err = mnt_want_write(path.mnt)  # !special_file(): devices and FIFOs take none
        if err:
            raise kernel_error(err, name)
        f_mode |= FMODE_WRITER
    fop = inode.i_fop
    if fop is not None and fop.open is not None:
        file = File(fop, flags, f_mode, None, inode)
        try:
            fop.open(inode, file)
        except OSError as exc:
            raise kernel_error(exc.errno or 0, name) from None
    elif fop is None:
        raise kernel_error(errno.ENXIO, name)  # inode_init_always's no_open_fops
    else:
        file = File(fop, flags, f_mode, None, inode)
    file.f_path = path_get(path)
    if f_mode & FMODE_WRITER:
        path.mnt.mnt_writers += 1
    return file


# ---------------------------------------------------------------------------------------
# atime


def touch_atime(path: Path) -> None:
    """``touch_atime`` with relatime: update if atime <= mtime or ctime, or a day old;
    never on noatime inodes or mounts, or a read-only mount or superblock."""
    inode = path.dentry.d_inode
    assert inode is not None
    if inode.i_flags & S_NOATIME or inode.i_sb.read_only:
        return
    mnt = path.mnt
    if mnt.mnt_flags & MNT_NOATIME or (mnt.mnt_flags & MNT_NODIRATIME and inode.is_dir):
        return
    now = inode.i_sb.kernel.current_time()
    if mnt.mnt_flags & MNT_RELATIME and not (
        inode.i_mtime >= inode.i_atime
        or inode.i_ctime >= inode.i_atime
        or now // 10**9 - inode.i_atime // 10**9 >= 24 * 3600  # whole seconds (tv_sec)
    ):
        return
    if inode.i_atime == now or mnt.read_only:
        return
    inode.i_atime = now
