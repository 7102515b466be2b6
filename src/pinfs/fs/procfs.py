"""procfs (fs/proc/): the process filesystem, as far as bpf users read it.

Mounted with ``mount("proc", "/proc", "proc")``.  What it holds:

* ``/proc/self`` -- a symlink to the calling task's pid (``proc_self_get_link``);
  ``/proc/mounts`` -- a symlink to ``self/mounts``;
* ``/proc/<pid>/`` for every live task (``proc_pid_lookup``), holding
  ``fd/N`` (magic links: ``readlink`` prints ``anon_inode:bpf-map`` or the file's
  path, with `` (deleted)`` once unlinked; following one lands on the open file's
  path, an anonymous file's being its anon_inodefs dentry), ``fdinfo/N`` (``pos``,
  ``flags``, ``mnt_id``, ``ino``, then the file's own ``show_fdinfo`` lines),
  ``mounts`` and ``mountinfo`` (``show_vfsmnt`` / ``show_mountinfo`` of the task's
  mount namespace, seen from the task's root);
* ``/proc/sys/kernel/...`` and ``/proc/sys/fs/...`` -- the sysctls the machine
  models, read as ``"%d\\n"`` and written through the machine's own handler.

procfs knows the machine only through :class:`ProcServices` (tasks, the current task,
the sysctl table) and the tasks through :class:`ProcTask`; it imports nothing above
the VFS.  Dentries of tasks and fds carry ``d_revalidate`` (``pid_revalidate``,
``tid_fd_revalidate``): an exited task or a closed fd makes its name disappear.

Access to another task's entries follows ``ptrace_may_access`` in its simplest form:
allowed to the task itself, to a caller whose fsuid/fsgid equal the task's real, saved
and effective ids, and to a caller with CAP_SYS_PTRACE in the task's user namespace
(no dumpable flag, no LSM).  A refused ``readlink`` or follow of ``fd/N`` is EACCES.
Not modelled: pid namespaces (every task is visible), ``thread-self``, the other
``/proc/<pid>`` files.
"""

from __future__ import annotations

import errno
import stat
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

import attrs

from pinfs.base.cred import CAP_SYS_PTRACE, Cred, UserNamespace, ns_capable
from pinfs.base.errors import kernel_error
from pinfs.base.profiles import Profile
from pinfs.fs.fdtable import FdTable
from pinfs.fs.libfs import (
    DT_DIR,
    DT_LNK,
    DT_REG,
    SEEK_CUR,
    SEEK_SET,
    DirEntry,
    d_genocide,
    generic_file_llseek,
    generic_shutdown_super,
    simple_statfs,
)
from pinfs.fs.namei import FsStruct
from pinfs.fs.permission import generic_permission
from pinfs.fs.pnode import get_dominating_id
from pinfs.mountns import (
    MNT_NOATIME,
    MNT_NODEV,
    MNT_NODIRATIME,
    MNT_NOEXEC,
    MNT_NOSUID,
    MNT_RELATIME,
    Mount,
    MountNamespace,
    Path,
    is_mnt_shared,
    is_mnt_unbindable,
    mount_ns,
)
from pinfs.vfs import (
    FS_USERNS_MOUNT,
    Dentry,
    DentryOperations,
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
    d_lookup_valid,
    d_make_root,
    d_path_name,
    dget,
    dput,
    generic_delete_inode,
    new_inode,
)

PROC_SUPER_MAGIC = 0x9FA0
PROC_ROOT_INO = 1
O_CLOEXEC = 0o2000000
FMODE_READ = 1
FMODE_WRITE = 2


class ProcTask(Protocol):
    """What procfs reads of a task (``struct task_struct``)."""

    @property
    def pid(self) -> int: ...
    @property
    def alive(self) -> bool: ...
    @property
    def cred(self) -> Cred: ...
    @property
    def files(self) -> FdTable: ...
    @property
    def fs(self) -> FsStruct: ...
    @property
    def mnt_ns(self) -> MountNamespace: ...


class ProcServices(KernelServices, Protocol):
    """What procfs needs from the machine besides the VFS services."""

    @property
    def profile(self) -> Profile: ...
    @property
    def tasks(self) -> Mapping[int, ProcTask]: ...
    @property
    def sysctl(self) -> Mapping[str, int]: ...

    def current_task(self) -> ProcTask:
        """``current``: the task making the syscall."""
        ...

    def anon_inode_path(self, name: str) -> Path:
        """Where an anon_inode file called ``name`` lives (anon_inode_mnt)."""
        ...

    def sysctl_mode(self, name: str) -> int:
        """The permission bits of /proc/sys/<name> (its ``ctl_table`` entry)."""
        ...

    def sysctl_store(self, cred: Cred, name: str, value: int) -> None:
        """The sysctl's ``proc_handler`` for a write of ``value`` (raises on refusal)."""
        ...


@attrs.define(eq=False)
class ProcEntry:
    """``struct proc_inode``'s identity: which task, fd or sysctl an inode shows."""

    kind: str
    pid: int = 0
    fd: int = -1
    name: str = ""


def _services(sb: SuperBlock) -> ProcServices:
    return cast(ProcServices, sb.kernel)


def _entry(inode: Inode) -> ProcEntry:
    entry = inode.i_private
    assert isinstance(entry, ProcEntry)
    return entry


def _task_of(inode: Inode) -> ProcTask | None:
    """``get_proc_task``: the live task an inode belongs to, or None."""
    task = _services(inode.i_sb).tasks.get(_entry(inode).pid)
    return task if task is not None and task.alive else None


def _proc_inode(sb: SuperBlock, mode: int, entry: ProcEntry, uid: int = 0, gid: int = 0) -> Inode:
    """``proc_pid_make_inode`` / ``proc_get_inode``: a fresh inode, the next ino."""
    inode = new_inode(sb)
    inode.i_ino = sb.kernel.get_next_ino()
    inode.i_mode = mode
    inode.i_uid, inode.i_gid = uid, gid
    inode.i_atime = inode.i_mtime = inode.i_ctime = sb.kernel.current_time()
    inode.i_private = entry
    return inode


def _instantiate(dentry: Dentry, inode: Inode, dops: DentryOperations | None) -> None:
    """``d_add`` with procfs's pin: the dentry lives until revalidation drops it."""
    d_instantiate(dentry, inode)
    dget(dentry)
    dentry.d_op = dops


def _static_child(parent: Dentry, name: str, inode: Inode) -> Dentry:
    dentry = d_alloc(parent, name)
    _instantiate(dentry, inode, None)
    dput(dentry)
    return dentry


def _name_to_int(name: str) -> int | None:
    """``name_to_int``: decimal digits, no leading zero (but "0"), fits in an int."""
    if not name.isascii() or not name.isdigit() or (len(name) > 1 and name[0] == "0"):
        return None
    value = int(name)
    return value if value < 1 << 31 else None


# ---------------------------------------------------------------------------------------
# Access to another task (kernel/ptrace.c)


def ptrace_may_access(cred: Cred, current: ProcTask, task: ProcTask) -> bool:
    """``__ptrace_may_access`` with PTRACE_MODE_FSCREDS, simplest form: the task
    itself, the same ids, or CAP_SYS_PTRACE over the task's user namespace."""
    if current is task:
        return True
    tcred = task.cred
    same_uids = cred.fsuid == tcred.uid == tcred.euid == tcred.suid
    same_gids = cred.fsgid == tcred.gid == tcred.egid == tcred.sgid
    if same_uids and same_gids:
        return True
    user_ns: UserNamespace = tcred.user_ns
    return ns_capable(cred, user_ns, CAP_SYS_PTRACE)


def _may_see(inode: Inode, task: ProcTask) -> bool:
    services = _services(inode.i_sb)
    current = services.current_task()
    return ptrace_may_access(current.cred, current, task)


# ---------------------------------------------------------------------------------------
# Revalidation


def pid_revalidate(dentry: Dentry) -> bool:
    """``pid_revalidate``: valid while the task lives."""
    inode = dentry.d_inode
    return inode is not None and _task_of(inode) is not None


def tid_fd_revalidate(dentry: Dentry) -> bool:
    """``tid_fd_revalidate``: valid while the task lives and the fd is open; the
    link's mode follows the file's f_mode."""
    inode = dentry.d_inode
    if inode is None:
        return False
    task = _task_of(inode)
    file = task.files.lookup(_entry(inode).fd) if task is not None else None
    if file is None:
        return False
    if stat.S_ISLNK(inode.i_mode):
        inode.i_mode = stat.S_IFLNK | _fd_link_mode(file)
    return True


pid_dentry_operations = DentryOperations(name="pid_dentry_operations", d_revalidate=pid_revalidate)
tid_fd_dentry_operations = DentryOperations(
    name="tid_fd_dentry_operations", d_revalidate=tid_fd_revalidate
)


# ---------------------------------------------------------------------------------------
# Paths as text (fs/d_path.c, fs/seq_file.c)


def mangle(text: str, escape: str = " \t\n\\") -> str:
    """``seq_escape`` / ``mangle_path``: the characters in ``escape`` as ``\\ooo``."""
    return "".join(f"\\{ord(c):03o}" if c in escape else c for c in text)


def path_from_root(path: Path, root: Path) -> tuple[str, bool]:
    """``prepend_path``: ``path`` as text from ``root``; the flag is False when the
    walk reached the top of the mount tree without meeting ``root``."""
    mnt, dentry = path
    parts: list[str] = []
    while not (mnt is root.mnt and dentry is root.dentry):
        if dentry is mnt.mnt_root or dentry.is_root:
            if mnt.mnt_parent is None or mnt.mnt_mountpoint is None:
                return "/" + "/".join(reversed(parts)), False
            dentry, mnt = mnt.mnt_mountpoint, mnt.mnt_parent
            continue
        parts.append(dentry.d_name)
        assert dentry.d_parent is not None
        dentry = dentry.d_parent
    return "/" + "/".join(reversed(parts)), True


def d_path(path: Path, root: Path) -> str:
    """``d_path``: a pseudo dentry's ``d_dname``, else the path from ``root``, with
    `` (deleted)`` appended once unlinked."""
    dops = path.dentry.d_op
    if dops is not None and dops.d_dname is not None:
        return dops.d_dname(path.dentry)
    text, _ = path_from_root(path, root)
    dentry = path.dentry
    if not dentry.hashed and not dentry.is_root:
        text += " (deleted)"
    return text


# ---------------------------------------------------------------------------------------
# /proc/<pid>/fd and fdinfo (fs/proc/fd.c)


def _fd_link_mode(file: File) -> int:
    """``tid_fd_update_inode``: r-x for a readable file, -wx for a writable one."""
    mode = 0
    if file.f_mode & FMODE_READ:
        mode |= stat.S_IRUSR | stat.S_IXUSR
    if file.f_mode & FMODE_WRITE:
        mode |= stat.S_IWUSR | stat.S_IXUSR
    return mode


def _fd_file(inode: Inode) -> tuple[ProcTask, File]:
    """The task and the open file behind an fd or fdinfo inode, else ENOENT."""
    task = _task_of(inode)
    file = task.files.lookup(_entry(inode).fd) if task is not None else None
    if task is None or file is None:
        raise kernel_error(errno.ENOENT)
    return task, file


def proc_fd_link_text(inode: Inode) -> str:
    """``proc_fd_link`` + ``d_path``: what ``readlink`` of ``fd/N`` prints."""
    _, file = _fd_file(inode)
    if file.f_path is None:  # anon_inodefs_dname
        return f"anon_inode:{file.anon_name}"
    current = _services(inode.i_sb).current_task()
    return d_path(file.f_path, current.fs.root)


def proc_pid_readlink(dentry: Dentry) -> str:
    """``proc_pid_readlink``: EACCES unless ``ptrace_may_access``."""
    inode = dentry.d_inode
    assert inode is not None
    task, _ = _fd_file(inode)
    if not _may_see(inode, task):
        raise kernel_error(errno.EACCES)
    return proc_fd_link_text(inode)


def proc_pid_get_link(dentry: Dentry, inode: Inode) -> Path:
    """``proc_pid_get_link``: jump to the open file's path (``nd_jump_link``); for an
    anonymous file, its anon_inodefs dentry (which only O_PATH can open: ENXIO)."""
    task, file = _fd_file(inode)
    if not _may_see(inode, task):
        raise kernel_error(errno.EACCES)
    if file.f_path is None:
        return _services(inode.i_sb).anon_inode_path(file.anon_name or "")
    path: Path = file.f_path
    return path


proc_fd_link_iops = InodeOperations(
    name="proc_pid_link_inode_operations",
    readlink=proc_pid_readlink,
    get_link=proc_pid_get_link,
)


def fdinfo_text(inode: Inode) -> str:
    """``seq_show``: pos, flags (octal, O_CLOEXEC added for a close-on-exec fd),
    mnt_id, ino (v5.14), then the file's ``show_fdinfo``."""
    task, file = _fd_file(inode)
    fd = _entry(inode).fd
    flags = file.f_flags | (O_CLOEXEC if fd in task.files.cloexec else 0)
    mnt_id = file.f_path.mnt.mnt_id if file.f_path is not None else ANON_INODE_MNT_ID
    file_inode = file.f_inode
    lines = f"pos:\t{file.f_pos}\nflags:\t0{flags:o}\nmnt_id:\t{mnt_id}\n"
    if inode.i_sb.kernel.profile.fdinfo_ino and file_inode is not None:
        lines += f"ino:\t{file_inode.i_ino}\n"
    if file.f_op is not None and file.f_op.show_fdinfo is not None:
        lines += file.f_op.show_fdinfo(file)
    return lines


#: pinfs does not number the kernel-internal anon_inodefs mount (Linux gives it an id
#: from the same allocator at boot); fdinfo of an anonymous file shows this instead.
ANON_INODE_MNT_ID = 0


def proc_fd_permission(cred: Cred, inode: Inode, mask: int) -> int:
    """``proc_fd_permission``: the mode bits, or the task looking at itself."""
    err = generic_permission(cred, inode, mask)
    if err == 0:
        return 0
    task = _task_of(inode)
    if task is not None and task is _services(inode.i_sb).current_task():
        return 0
    return err


def proc_fdinfo_permission(cred: Cred, inode: Inode, mask: int) -> int:
    """``proc_fdinfo_permission`` (world-readable fdinfo): the mode bits, then
    ``ptrace_may_access`` (EACCES)."""
    err = generic_permission(cred, inode, mask)
    if err:
        return err
    task = _task_of(inode)
    if task is None or not _may_see(inode, task):
        return errno.EACCES
    return 0


def _fd_lookup(kind: str) -> Callable[[Inode, Dentry], None]:
    def lookup(dir: Inode, dentry: Dentry) -> None:
        """``proc_lookupfd_common``: an fd that is open now, else negative."""
        task = _task_of(dir)
        fd = _name_to_int(dentry.d_name)
        file = task.files.lookup(fd) if task is not None and fd is not None else None
        if task is None or file is None or fd is None:
            return
        uid, gid = task.cred.euid, task.cred.egid
        entry = ProcEntry(kind, pid=task.pid, fd=fd)
        if kind == "fd":
            inode = _proc_inode(dir.i_sb, stat.S_IFLNK | _fd_link_mode(file), entry, uid, gid)
            inode.i_op = proc_fd_link_iops
            inode.i_size = 64
        else:
            world = dir.i_sb.kernel.profile.fdinfo_world_readable
            mode = stat.S_IFREG | (0o444 if world else 0o400)
            inode = _proc_inode(dir.i_sb, mode, entry, uid, gid)
            inode.i_fop = proc_seq_fops
        _instantiate(dentry, inode, tid_fd_dentry_operations)

    return lookup


def _fd_readdir(file: File) -> list[DirEntry]:
    """``proc_readfd_common``: the open fds, ascending."""
    inode = file.f_inode
    assert inode is not None
    task = _task_of(inode)
    if task is None:
        raise kernel_error(errno.ENOENT)
    d_type = DT_LNK if _entry(inode).kind == "fd_dir" else DT_REG
    names = [str(fd) for fd in task.files.open_fds()]
    dentry = file.f_path.dentry
    return _listing(file, [(name, d_type, proc_fill_cache(dentry, name)) for name in names])


# ---------------------------------------------------------------------------------------
# /proc/<pid>/mounts and mountinfo (fs/proc_namespace.c)


def _mnt_opts(mnt: Mount) -> str:
    """``show_mnt_opts``: the per-mount flags, in the kernel's order."""
    names = (
        (MNT_NOSUID, ",nosuid"),
        (MNT_NODEV, ",nodev"),
        (MNT_NOEXEC, ",noexec"),
        (MNT_NOATIME, ",noatime"),
        (MNT_NODIRATIME, ",nodiratime"),
        (MNT_RELATIME, ",relatime"),
    )
    return "".join(text for bit, text in names if mnt.mnt_flags & bit)


def _sb_show_options(mnt: Mount) -> str:
    """``->show_options`` of the filesystem (",mode=..." and the like)."""
    sops = mnt.mnt_sb.s_op
    if sops is None or sops.show_options is None:
        return ""
    return sops.show_options(mnt.mnt_root)


def _visible_mounts(task: ProcTask) -> list[tuple[Mount, str]]:
    """The task's namespace in mount order, each with its mount point as the task
    sees it; mounts outside the task's root are skipped (``SEQ_SKIP``)."""
    root = task.fs.root
    out = []
    for mnt in task.mnt_ns.mounts:
        if mnt.mnt_parent is None or mnt.mnt_mountpoint is None:
            where = Path(mnt, mnt.mnt_root)
        else:
            where = Path(mnt.mnt_parent, mnt.mnt_mountpoint)
        text, reachable = path_from_root(where, root)
        if reachable or (mnt is root.mnt and mnt.mnt_root is root.dentry):
            out.append((mnt, text))
    return out


def show_vfsmnt(mnt: Mount, mount_point: str) -> str:
    """``show_vfsmnt``: one line of /proc/mounts."""
    ro = "ro" if mnt.read_only else "rw"
    fstype = mnt.mnt_sb.s_type.name
    source = mangle(mnt.source or "none")
    options = ro + _mnt_opts(mnt) + _sb_show_options(mnt)
    return f"{source} {mangle(mount_point)} {mangle(fstype)} {options} 0 0\n"


def show_mountinfo(mnt: Mount, mount_point: str, root: Path) -> str:
    """``show_mountinfo``: ids, dev, root, mount point, mount options, the tagged
    propagation fields, ``-``, type, source, super options."""
    sb = mnt.mnt_sb
    parent_id = mnt.mnt_parent.mnt_id if mnt.mnt_parent is not None else mnt.mnt_id
    dev = f"{sb.s_dev >> 20}:{sb.s_dev & 0xFFFFF}"
    mnt_root = mangle(d_path_name(mnt.mnt_root))
    mnt_ro = "ro" if mnt.mnt_flags & 0x40 else "rw"
    sb_ro = "ro" if sb.read_only else "rw"
    fstype = mangle(sb.s_type.name)
    source = mangle(mnt.source or "none")
    return (
        f"{mnt.mnt_id} {parent_id} {dev} {mnt_root} {mangle(mount_point)} "
        f"{mnt_ro}{_mnt_opts(mnt)}{propagation_fields(mnt, root)}"
        f" - {fstype} {source} {sb_ro}{_sb_show_options(mnt)}\n"
    )


def propagation_fields(mnt: Mount, root: Path) -> str:
    """mountinfo's tagged fields: `` shared:N``, `` master:N`` with
    `` propagate_from:N`` when the nearest master group we can see
    (``get_dominating_id``) is another one, and `` unbindable``."""
    out = ""
    if is_mnt_shared(mnt):
        out += f" shared:{mnt.mnt_group_id}"
    master = mnt.mnt_master
    if master is not None:
        dom = get_dominating_id(mnt, root)
        out += f" master:{master.mnt_group_id}"
        if dom and dom != master.mnt_group_id:
            out += f" propagate_from:{dom}"
    if is_mnt_unbindable(mnt):
        out += " unbindable"
    return out


def mounts_text(inode: Inode) -> str:
    task = _task_of(inode)
    if task is None:
        raise kernel_error(errno.ENOENT)
    visible = _visible_mounts(task)
    if _entry(inode).kind == "mountinfo":
        return "".join(show_mountinfo(mnt, where, task.fs.root) for mnt, where in visible)
    return "".join(show_vfsmnt(mnt, where) for mnt, where in visible)


# ---------------------------------------------------------------------------------------
# /proc/sys (fs/proc/proc_sysctl.c)


def sysctl_text(inode: Inode) -> str:
    """``proc_dointvec``: the value and a newline."""
    return f"{_services(inode.i_sb).sysctl[_entry(inode).name]}\n"


def parse_dointvec(data: bytes) -> int:
    """``proc_dointvec``'s parser, for one value: blanks, an optional sign, digits,
    then only blanks; anything else is EINVAL."""
    text = data.decode("latin-1").strip(" \t\n")
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not digits.isascii() or not digits.isdigit():
        raise kernel_error(errno.EINVAL)
    value = int(text)
    if not -(1 << 31) <= value < 1 << 31:
        raise kernel_error(errno.EINVAL)
    return value


def proc_sys_write(file: File, data: bytes) -> int:
    """``proc_sys_write``: parse, then the machine's handler decides."""
    inode = file.f_inode
    assert inode is not None
    services = _services(inode.i_sb)
    value = parse_dointvec(data)
    services.sysctl_store(services.current_task().cred, _entry(inode).name, value)
    return len(data)


def proc_sys_permission(cred: Cred, inode: Inode, mask: int) -> int:
    """``proc_sys_permission`` / ``test_perm``: the mode bits for root (euid 0) or
    others; no capability overrides them."""
    mode = inode.i_mode
    if cred.euid == 0:
        mode >>= 6
    if mask & ~mode & 0o7:
        return errno.EACCES
    return 0


proc_sys_iops = InodeOperations(name="proc_sys_inode_operations", permission=proc_sys_permission)


# ---------------------------------------------------------------------------------------
# Text files (fs/seq_file.c)


_TEXT: dict[str, Callable[[Inode], str]] = {
    "fdinfo": fdinfo_text,
    "mounts": mounts_text,
    "mountinfo": mounts_text,
    "sysctl": sysctl_text,
}


def seq_read(file: File, count: int) -> bytes:
    """``seq_read``: the text is made at the first read (and again after a seek to
    0), then handed out from the file position."""
    inode = file.f_inode
    assert inode is not None
    if file.f_pos == 0 or not isinstance(file.private_data, bytes):
        file.private_data = _TEXT[_entry(inode).kind](inode).encode()
    text: bytes = file.private_data
    chunk = text[file.f_pos : file.f_pos + count]
    file.f_pos += len(chunk)
    return chunk


def seq_lseek(file: File, offset: int, whence: int) -> int:
    """``seq_lseek``: SEEK_SET or SEEK_CUR to a position >= 0; anything else EINVAL."""
    if whence == SEEK_CUR:
        offset += file.f_pos
    elif whence != SEEK_SET:
        raise kernel_error(errno.EINVAL)
    if offset < 0:
        raise kernel_error(errno.EINVAL)
    if offset != file.f_pos:
        file.f_pos = 0
        seq_read(file, offset)  # the text again, up to the new position
        file.f_pos = offset
    return offset


def _seq_open(inode: Inode, file: File) -> None:
    """``single_open``: fdinfo of a task or fd that is gone is ENOENT already here."""
    if _entry(inode).kind == "fdinfo":
        _fd_file(inode)
    elif _entry(inode).kind in ("mounts", "mountinfo") and _task_of(inode) is None:
        raise kernel_error(errno.ENOENT)


proc_seq_fops = FileOperations(
    name="proc_seq_fops", open=_seq_open, read=seq_read, llseek=seq_lseek
)
proc_sys_fops = FileOperations(
    name="proc_sys_file_operations",
    open=_seq_open,
    read=seq_read,
    write=proc_sys_write,
    llseek=seq_lseek,
)


# ---------------------------------------------------------------------------------------
# Directories


def proc_fill_cache(dir: Dentry, name: str) -> int:
    """``proc_fill_cache``: the entry's inode number, instantiating it by lookup as
    the kernel does, so getdents and stat agree (1 if it vanished meanwhile)."""
    child = d_lookup_valid(dir, name)
    if child is None:
        dir_inode = dir.d_inode
        assert dir_inode is not None and dir_inode.i_op is not None
        assert dir_inode.i_op.lookup is not None
        child = d_alloc(dir, name)
        dir_inode.i_op.lookup(dir_inode, child)
        ino = child.d_inode.i_ino if child.d_inode is not None else 1
        dput(child)  # a positive one stays, pinned by _instantiate
        return ino
    return child.d_inode.i_ino if child.d_inode is not None else 1


def _listing(file: File, entries: list[tuple[str, int, int]]) -> list[DirEntry]:
    """A directory's listing (".", ".." and ``entries``) from the file position on,
    the position counting entries (procfs numbers fd and pid entries by their
    number instead: not modelled)."""
    dentry = file.f_path.dentry
    parent = dentry.d_parent.d_inode if dentry.d_parent is not None else None
    inode = dentry.d_inode
    listing = [(".", DT_DIR, inode.i_ino), ("..", DT_DIR, (parent or inode).i_ino), *entries]
    start = file.f_pos
    out = [
        DirEntry(ino, d_type, name, index + 1)
        for index, (name, d_type, ino) in enumerate(listing)
        if index >= start
    ]
    file.f_pos = max(start, len(listing))
    return out


def _dir_open(inode: Inode, file: File) -> None:
    """Directories open normally."""


_PID_ENTRIES = ("fd", "fdinfo", "mounts", "mountinfo")  # tgid_base_stuff order


def _pid_entry_inode(dir: Inode, task: ProcTask, name: str) -> Inode:
    sb = dir.i_sb
    uid, gid = task.cred.euid, task.cred.egid
    if name in ("mounts", "mountinfo"):
        inode = _proc_inode(sb, stat.S_IFREG | 0o444, ProcEntry(name, task.pid), uid, gid)
        inode.i_fop = proc_seq_fops
        return inode
    if name == "fd":
        inode = _proc_inode(sb, stat.S_IFDIR | 0o500, ProcEntry("fd_dir", task.pid), uid, gid)
        inode.i_op = proc_fd_iops
    else:
        world = sb.kernel.profile.fdinfo_world_readable
        mode = stat.S_IFDIR | (0o555 if world else 0o500)
        inode = _proc_inode(sb, mode, ProcEntry("fdinfo_dir", task.pid), uid, gid)
        inode.i_op = proc_fdinfo_iops if world else proc_fdinfo_old_iops
    inode.i_fop = proc_fd_fops
    inode.i_nlink = 2
    return inode


def proc_pident_lookup(dir: Inode, dentry: Dentry) -> None:
    """``proc_pident_lookup``: one of the pid directory's fixed entries."""
    task = _task_of(dir)
    if task is None or dentry.d_name not in _PID_ENTRIES:
        return
    _instantiate(dentry, _pid_entry_inode(dir, task, dentry.d_name), pid_dentry_operations)


def _pid_readdir(file: File) -> list[DirEntry]:
    inode = file.f_inode
    assert inode is not None
    if _task_of(inode) is None:
        raise kernel_error(errno.ENOENT)
    types = {"fd": DT_DIR, "fdinfo": DT_DIR, "mounts": DT_REG, "mountinfo": DT_REG}
    dentry = file.f_path.dentry
    entries = [(name, types[name], proc_fill_cache(dentry, name)) for name in _PID_ENTRIES]
    return _listing(file, entries)


def proc_root_lookup(dir: Inode, dentry: Dentry) -> None:
    """``proc_root_lookup`` -> ``proc_pid_lookup``: a live task's directory."""
    pid = _name_to_int(dentry.d_name)
    task = _services(dir.i_sb).tasks.get(pid) if pid is not None else None
    if task is None or not task.alive:
        return
    mode = stat.S_IFDIR | 0o555
    inode = _proc_inode(dir.i_sb, mode, ProcEntry("pid", task.pid), task.cred.euid, task.cred.egid)
    inode.i_op = proc_tgid_base_iops
    inode.i_fop = proc_tgid_base_fops
    inode.i_nlink = 2 + 2  # fd, fdinfo
    _instantiate(dentry, inode, pid_dentry_operations)


def _root_readdir(file: File) -> list[DirEntry]:
    """``proc_root_readdir``: the fixed entries (by length, then name), "self",
    then every live task's pid, ascending."""
    root = file.f_path.dentry
    fixed = sorted(
        (c for c in root.d_subdirs.values() if _is_fixed(c) and c.d_name != "self"),
        key=lambda c: (len(c.d_name), c.d_name),
    )
    entries = [(c.d_name, _dtype(c.d_inode), c.d_inode.i_ino) for c in fixed]
    self_dentry = root.d_subdirs.get("self")
    if self_dentry is not None and self_dentry.d_inode is not None:
        entries.append(("self", DT_LNK, self_dentry.d_inode.i_ino))
    tasks = _services(root.d_sb).tasks
    pids = [str(pid) for pid in sorted(tasks) if tasks[pid].alive]
    entries += [(pid, DT_DIR, proc_fill_cache(root, pid)) for pid in pids]
    return _listing(file, entries)


def _is_fixed(dentry: Dentry) -> bool:
    """A positive entry made at mount time (task directories revalidate)."""
    return dentry.hashed and dentry.d_inode is not None and dentry.d_op is None


def _dtype(inode: Inode | None) -> int:
    assert inode is not None
    return stat.S_IFMT(inode.i_mode) >> 12


def _static_readdir(file: File) -> list[DirEntry]:
    dentry = file.f_path.dentry
    children = [c for c in dentry.children() if c.d_inode is not None]
    return _listing(file, [(c.d_name, _dtype(c.d_inode), c.d_inode.i_ino) for c in children])


def proc_self_get_link(dentry: Dentry, inode: Inode) -> str:
    """``proc_self_get_link``: the caller's pid."""
    return str(_services(inode.i_sb).current_task().pid)


proc_root_iops = InodeOperations(name="proc_root_inode_operations", lookup=proc_root_lookup)
proc_root_fops = FileOperations(
    name="proc_root_operations", open=_dir_open, iterate=_root_readdir, llseek=generic_file_llseek
)
proc_tgid_base_iops = InodeOperations(
    name="proc_tgid_base_inode_operations", lookup=proc_pident_lookup
)
proc_tgid_base_fops = FileOperations(
    name="proc_tgid_base_operations",
    open=_dir_open,
    iterate=_pid_readdir,
    llseek=generic_file_llseek,
)
proc_fd_iops = InodeOperations(
    name="proc_fd_inode_operations", lookup=_fd_lookup("fd"), permission=proc_fd_permission
)
proc_fdinfo_iops = InodeOperations(
    name="proc_fdinfo_inode_operations",
    lookup=_fd_lookup("fdinfo"),
    permission=proc_fdinfo_permission,
)
proc_fdinfo_old_iops = InodeOperations(
    name="proc_fdinfo_inode_operations", lookup=_fd_lookup("fdinfo"), permission=proc_fd_permission
)
proc_fd_fops = FileOperations(
    name="proc_fd_operations", open=_dir_open, iterate=_fd_readdir, llseek=generic_file_llseek
)
proc_dir_fops = FileOperations(
    name="proc_dir_operations", open=_dir_open, iterate=_static_readdir, llseek=generic_file_llseek
)
proc_self_iops = InodeOperations(name="proc_self_inode_operations", get_link=proc_self_get_link)


def _no_entry(dir: Inode, dentry: Dentry) -> None:
    """The fixed directories hold only what was made at mount time."""


proc_dir_iops = InodeOperations(name="proc_dir_inode_operations", lookup=_no_entry)

#: Inode numbers of the fixed links (``self_inum``, ``/proc/mounts``), as Linux 6.18
#: numbers them from PROC_DYNAMIC_FIRST.
PROC_SELF_INO = 0xF0000000
PROC_MOUNTS_INO = 0xF0000002


# ---------------------------------------------------------------------------------------
# The filesystem


def _proc_dir(sb: SuperBlock, parent: Dentry, name: str) -> Dentry:
    inode = _proc_inode(sb, stat.S_IFDIR | 0o555, ProcEntry("dir"))
    inode.i_op, inode.i_fop, inode.i_nlink = proc_dir_iops, proc_dir_fops, 2
    return _static_child(parent, name, inode)


def _fill_sysctls(sb: SuperBlock, root: Dentry) -> None:
    """``/proc/sys/<a>/<b>`` for each modelled ``a.b``: root's files, with the
    modes of the machine's ``ctl_table``."""
    sys_dir = _proc_dir(sb, root, "sys")
    for name in _services(sb).sysctl:
        *dirs, leaf = name.split(".")
        parent = sys_dir
        for part in dirs:
            child = parent.d_subdirs.get(part)
            parent = child if child is not None else _proc_dir(sb, parent, part)
        mode = stat.S_IFREG | _services(sb).sysctl_mode(name)
        inode = _proc_inode(sb, mode, ProcEntry("sysctl", name=name))
        inode.i_op, inode.i_fop = proc_sys_iops, proc_sys_fops
        _static_child(parent, leaf, inode)


def proc_fill_super(sb: SuperBlock, data: Any) -> None:
    """``proc_fill_super``: the root (ino 1, 0555), "self", "mounts" and /proc/sys."""
    sb.s_magic = PROC_SUPER_MAGIC
    sb.s_op = proc_sops
    root_inode = new_inode(sb)
    root_inode.i_ino = PROC_ROOT_INO
    root_inode.i_mode = stat.S_IFDIR | 0o555
    root_inode.i_nlink = 2
    root_inode.i_atime = root_inode.i_mtime = root_inode.i_ctime = sb.kernel.current_time()
    root_inode.i_op, root_inode.i_fop = proc_root_iops, proc_root_fops
    root_inode.i_private = ProcEntry("root")
    root = sb.s_root = d_make_root(root_inode)
    self_inode = _proc_inode(sb, stat.S_IFLNK | 0o777, ProcEntry("self"))
    self_inode.i_ino, self_inode.i_op = PROC_SELF_INO, proc_self_iops
    _static_child(root, "self", self_inode)
    mounts = _proc_inode(sb, stat.S_IFLNK | 0o777, ProcEntry("link"))
    mounts.i_ino, mounts.i_link, mounts.i_size = PROC_MOUNTS_INO, "self/mounts", 11
    _static_child(root, "mounts", mounts)
    _fill_sysctls(sb, root)


def proc_mount(
    fs_type: FileSystemType, kernel: KernelServices, flags: int, dev: str, data: Any
) -> Dentry:
    """``proc_mount``: one superblock per pid namespace (pinfs has one: the machine)."""
    return mount_ns(fs_type, kernel, flags, kernel, data, proc_fill_super)


def proc_kill_sb(sb: SuperBlock) -> None:
    """``proc_kill_sb``: every pinned dentry goes with the superblock."""
    if sb.s_root is not None:
        d_genocide(sb.s_root)
    generic_shutdown_super(sb)


proc_sops = SuperOperations(name="proc_sops", statfs=simple_statfs, drop_inode=generic_delete_inode)

proc_fs_type = FileSystemType(
    name="proc", mount=proc_mount, kill_sb=proc_kill_sb, fs_flags=FS_USERNS_MOUNT
)

__all__ = [
    "ProcServices",
    "ProcTask",
    "d_path",
    "proc_fs_type",
    "ptrace_may_access",
    "show_mountinfo",
    "show_vfsmnt",
]
