"""Tasks: a process's credentials, fs context, fd table, mount namespace and memory,
and the syscalls it can make (kernel/fork.c, kernel/exit.c, kernel/sys.c, fs/open.c,
fs/stat.c, fs/namespace.c entry points).

Every syscall method reads like the kernel's ``SYSCALL_DEFINE``: it validates its Python
arguments first (wrong types and values no C prototype can carry raise
``TypeError``/``ValueError`` and change nothing), enters the syscall, then calls the body
in the fs layer with itself as ``current`` (``pinfs.fs.namei`` for names,
``pinfs.fs.open``, ``pinfs.fs.stat``, ``pinfs.fs.statfs``, ``pinfs.fs.readdir``,
``pinfs.fs.d_path``), which runs the kernel's checks in order and raises
:class:`~pinfs.base.errors.KernelError` on failure.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from pinfs.base import cred as credmod
from pinfs.base.errors import kernel_error
from pinfs.base.usermem import UserMemory
from pinfs.bpf import BpfSyscalls
from pinfs.fs.attr import (
    Kstat,
    generic_fillattr,
)
from pinfs.fs.d_path import getcwd
from pinfs.fs.fdtable import FdTable, check_fd, fget, fput
from pinfs.fs.libfs import DirEntry, KStatFs
from pinfs.fs.namei import (
    FsStruct,
    do_linkat,
    do_mkdirat,
    do_mknodat,
    do_renameat2,
    do_rmdir,
    do_symlinkat,
    do_unlinkat,
    getname,
    path_arg,
    path_lookupat,
)
from pinfs.fs.open import (
    RLIMIT_NOFILE,
    do_chdir,
    do_fchmodat,
    do_fchownat,
    do_sys_open,
    do_sys_truncate,
)
from pinfs.fs.readdir import iterate_dir
from pinfs.fs.stat import do_readlinkat, vfs_fstatat
from pinfs.fs.statfs import user_statfs
from pinfs.machine.trace import syscall
from pinfs.mountns import (
    MNT_DETACH,
    MNT_EXPIRE,
    MNT_FORCE,
    MNT_LOCK_NODEV,
    MNT_LOCKED,
    MNT_NOATIME,
    MNT_NODEV,
    MNT_NODIRATIME,
    MNT_NOEXEC,
    MNT_NOSUID,
    MNT_READONLY,
    MNT_RELATIME,
    UMOUNT_NOFOLLOW,
    Mount,
    MountContext,
    MountNamespace,
    Path,
    add_to_namespace,
    attach_mnt,
    check_mnt,
    cleanup_mnt,
    clone_mnt,
    copy_tree,
    new_mount,
    path_get,
    path_put,
    subtree,
    umount_tree,
)
from pinfs.vfs import (
    FS_USERNS_MOUNT,
    MS_BIND,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    MS_STRICTATIME,
    File,
)

if TYPE_CHECKING:
    from pinfs.machine.kernel import Kernel

# clone/unshare flags (include/uapi/linux/sched.h)
CLONE_VM = 0x100
CLONE_FS = 0x200
CLONE_FILES = 0x400
CLONE_SIGHAND = 0x800
CLONE_THREAD = 0x10000
CLONE_NEWNS = 0x20000
CLONE_SYSVSEM = 0x40000
CLONE_NEWUTS = 0x4000000
CLONE_NEWIPC = 0x8000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
_UNSHARE_FLAGS = (
    CLONE_THREAD | CLONE_FS | CLONE_NEWNS | CLONE_SIGHAND | CLONE_VM | CLONE_FILES
    | CLONE_SYSVSEM | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUSER | CLONE_NEWPID
)  # fmt: skip

RLIMIT_MEMLOCK = 8
RLIM_INFINITY = (1 << 64) - 1

PR_SET_KEEPCAPS = 8
_MNT_USER_SETTABLE = (
    MNT_NOSUID | MNT_NODEV | MNT_NOEXEC | MNT_NOATIME | MNT_NODIRATIME | MNT_RELATIME | MNT_READONLY
)
_MS_KNOWN_DROPPED = 0x1 | 0x2 | 0x4 | 0x8 | 0x400 | 0x800 | (1 << 21) | (1 << 24)


def _int_arg(value: object, what: str, lo: int = -(1 << 63), hi: int = 1 << 64) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be int, not {type(value).__name__}")
    if not lo <= value < hi:
        raise ValueError(f"{what} out of range: {value}")
    return value


def _mode_arg(mode: object) -> int:
    return _int_arg(mode, "mode", 0, 1 << 32)


@attrs.define(eq=False, repr=False)
class Task(BpfSyscalls):
    """``struct task_struct``: one process (its syscalls are its methods)."""

    kernel: Kernel
    pid: int
    cred: credmod.Cred
    fs: FsStruct
    files: FdTable
    mnt_ns: MountNamespace
    mem: UserMemory = attrs.field(factory=UserMemory)
    rlimits: dict[int, tuple[int, int]] = attrs.field(factory=dict)
    alive: bool = True
    exit_status: int | None = None

    def __repr__(self) -> str:
        state = "" if self.alive else " exited"
        return f"<Task pid={self.pid} uid={self.cred.uid}{state}>"

    # -- plumbing ---------------------------------------------------------------------

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        """A picture (SVG) and the text tree, for notebooks."""
        from pinfs.svg import mimebundle

        return mimebundle(self)

    def _enter(self) -> None:
        if not self.alive:
            raise RuntimeError(f"task {self.pid} has exited")
        self.kernel.tick()

    def _enter_path(self, path: object) -> str:
        """The common prologue of a path syscall: the Python value is checked
        (``path_arg``), the syscall is entered, then the kernel's ``getname``."""
        name = path_arg(path)
        self._enter()
        return getname(name)

    def rlimit(self, resource: int) -> int:
        """``rlimit(resource)``: the soft limit (a kernel helper, not a syscall)."""
        return self.rlimits[resource][0]

    def fd_file(self, fd: int) -> File:
        """The open file behind ``fd`` (introspection; no syscall)."""
        file = self.files.lookup(check_fd(fd))
        if file is None:
            raise KeyError(fd)
        return file

    # -- files and directories --------------------------------------------------------

    @syscall
    def mkdir(self, path: str | bytes, mode: int = 0o777) -> None:
        """mkdir(2)."""
        mode = _mode_arg(mode)
        name = self._enter_path(path)
        do_mkdirat(self, name, mode)

    @syscall
    def rmdir(self, path: str | bytes) -> None:
        """rmdir(2)."""
        name = self._enter_path(path)
        do_rmdir(self, name)

    @syscall
    def unlink(self, path: str | bytes) -> None:
        """unlink(2)."""
        name = self._enter_path(path)
        do_unlinkat(self, name)

    @syscall
    def rename(self, old: str | bytes, new: str | bytes, flags: int = 0) -> None:
        """renameat2(2) with AT_FDCWD for both names."""
        flags = _int_arg(flags, "flags", 0, 1 << 32)
        old_name, new_name = path_arg(old), path_arg(new)
        self._enter()
        do_renameat2(self, old_name, new_name, flags)

    @syscall
    def link(self, old: str | bytes, new: str | bytes) -> None:
        """link(2): the old name's final symlink is not followed."""
        old_name, new_name = path_arg(old), path_arg(new)
        self._enter()
        do_linkat(self, old_name, new_name)

    @syscall
    def symlink(self, target: str | bytes, linkpath: str | bytes) -> None:
        """symlink(2)."""
        body, name = path_arg(target), path_arg(linkpath)
        self._enter()
        getname(body)
        getname(name)
        do_symlinkat(self, body, name)

    @syscall
    def readlink(self, path: str | bytes) -> str:
        """readlink(2): EINVAL if not a symlink."""
        name = self._enter_path(path)
        return do_readlinkat(self, name)

    @syscall
    def mknod(self, path: str | bytes, mode: int, dev: int = 0) -> None:
        """mknod(2)."""
        mode = _mode_arg(mode)
        dev = _int_arg(dev, "dev", 0, 1 << 32)
        name = path_arg(path)
        self._enter()
        do_mknodat(self, name, mode, dev)  # may_mknod comes before getname

    @syscall
    def open(self, path: str | bytes, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
        """open(2): returns the lowest free fd.  O_CLOEXEC sets close-on-exec."""
        flags = _int_arg(flags, "flags", -(1 << 31), 1 << 32)
        mode = _mode_arg(mode)
        name = path_arg(path)
        self._enter()
        return do_sys_open(self, name, flags, mode)

    @syscall
    def close(self, fd: int) -> None:
        """close(2)."""
        check_fd(fd)
        self._enter()
        fput(self.files.remove(fd))

    @syscall
    def dup(self, fd: int) -> int:
        """dup(2): the same file at the lowest free fd, without close-on-exec."""
        check_fd(fd)
        self._enter()
        file = self.files.fdget(fd, allow_path=True)
        return self.files.install(fget(file), False, self.rlimit(RLIMIT_NOFILE))

    @syscall
    def stat(self, path: str | bytes) -> Kstat:
        """stat(2)."""
        name = self._enter_path(path)
        return vfs_fstatat(self, name, follow=True)

    @syscall
    def lstat(self, path: str | bytes) -> Kstat:
        """lstat(2)."""
        name = self._enter_path(path)
        return vfs_fstatat(self, name, follow=False)

    @syscall
    def fstat(self, fd: int) -> Kstat:
        """fstat(2) (O_PATH fds allowed)."""
        check_fd(fd)
        self._enter()
        file = self.files.fdget(fd, allow_path=True)
        inode = file.f_inode if file.f_inode is not None else self.kernel.anon_inode
        return generic_fillattr(inode, self.cred)

    @syscall
    def statfs(self, path: str | bytes) -> KStatFs:
        """statfs(2)."""
        name = self._enter_path(path)
        return user_statfs(self, name)

    @syscall
    def getdents(self, fd: int) -> list[DirEntry]:
        """getdents64(2): every remaining entry of an open directory (then [])."""
        check_fd(fd)
        self._enter()
        return iterate_dir(self.files.fdget(fd))

    @syscall
    def listdir(self, path: str | bytes = ".") -> list[str]:
        """open(O_RDONLY|O_DIRECTORY) + getdents + close: names in getdents order,
        without "." and ".." (like :func:`os.listdir`)."""
        fd = self.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return [e.d_name for e in self.getdents(fd) if e.d_name not in (".", "..")]
        finally:
            self.close(fd)

    @syscall
    def chmod(self, path: str | bytes, mode: int) -> None:
        """chmod(2)."""
        mode = _mode_arg(mode)
        name = self._enter_path(path)
        do_fchmodat(self, name, mode)

    @syscall
    def chown(self, path: str | bytes, uid: int, gid: int) -> None:
        """chown(2); -1 leaves an id unchanged."""
        uid = _int_arg(uid, "uid", -1, 1 << 32)
        gid = _int_arg(gid, "gid", -1, 1 << 32)
        name = self._enter_path(path)
        do_fchownat(self, name, uid, gid)

    @syscall
    def truncate(self, path: str | bytes, length: int) -> None:
        """truncate(2): only the size changes (contents are not modelled)."""
        length = _int_arg(length, "length", -(1 << 63), 1 << 63)  # loff_t
        name = path_arg(path)
        self._enter()
        do_sys_truncate(self, name, length)

    @syscall
    def chdir(self, path: str | bytes) -> None:
        """chdir(2): a directory we may search."""
        name = self._enter_path(path)
        do_chdir(self, name)

    @syscall
    def getcwd(self) -> str:
        """getcwd(2): ENOENT if the cwd was removed."""
        self._enter()
        return getcwd(self.fs)

    @syscall
    def umask(self, mask: int) -> int:
        """umask(2): returns the old mask."""
        mask = _int_arg(mask, "mask", 0, 1 << 32)
        self._enter()
        old, self.fs.umask = self.fs.umask, mask & 0o777
        return old

    # -- mounts and namespaces --------------------------------------------------------

    @syscall
    def mount(
        self,
        source: str | bytes | None,
        target: str | bytes,
        fstype: str | bytes | None,
        flags: int = 0,
        data: str | bytes | None = None,
    ) -> None:
        """mount(2): new mounts, bind mounts (MS_BIND) and remounts (MS_REMOUNT)."""
        flags = _int_arg(flags, "flags", 0, 1 << 64)
        type_name = None if fstype is None else path_arg(fstype)
        dir_name = path_arg(target)
        dev_name = None if source is None else path_arg(source)
        options = None if data is None else path_arg(data)
        self._enter()
        getname(dir_name)
        path = path_lookupat(self, dir_name, follow=True)
        if not credmod.ns_capable(self.cred, self.mnt_ns.user_ns, credmod.CAP_SYS_ADMIN):
            raise kernel_error(errno.EPERM, dir_name)  # may_mount
        mnt_flags = 0 if flags & MS_NOATIME else MNT_RELATIME
        for ms, mnt in (
            (MS_NOSUID, MNT_NOSUID),
            (MS_NODEV, MNT_NODEV),
            (MS_NOEXEC, MNT_NOEXEC),
            (MS_NOATIME, MNT_NOATIME),
            (MS_NODIRATIME, MNT_NODIRATIME),
            (MS_RDONLY, MNT_READONLY),
        ):
            if flags & ms:
                mnt_flags |= mnt
        if flags & MS_STRICTATIME:
            mnt_flags &= ~(MNT_RELATIME | MNT_NOATIME)
        flags &= ~_MS_KNOWN_DROPPED | MS_RDONLY
        if flags & MS_REMOUNT:
            self._do_remount(path, flags, mnt_flags, options)
        elif flags & MS_BIND:
            self._do_loopback(path, dev_name, bool(flags & MS_REC))
        elif flags & (MS_PRIVATE | (1 << 19) | (1 << 20) | (1 << 17)):
            if path.dentry is not path.mnt.mnt_root:
                raise kernel_error(errno.EINVAL, dir_name)  # do_change_type: no-op here
        else:
            self._do_new_mount(path, type_name, flags, mnt_flags, dev_name, options)

    def _do_new_mount(
        self,
        path: Path,
        type_name: str | None,
        flags: int,
        mnt_flags: int,
        dev_name: str | None,
        options: str | None,
    ) -> None:
        """``do_new_mount`` + ``do_add_mount``."""
        if type_name is None:
            raise kernel_error(errno.EINVAL)
        fs_type = self.kernel.filesystems.get(type_name)
        if fs_type is None:
            raise kernel_error(errno.ENODEV)
        if self.mnt_ns.user_ns is not self.kernel.init_user_ns:
            if not fs_type.fs_flags & FS_USERNS_MOUNT:
                raise kernel_error(errno.EPERM)
            flags |= MS_NODEV
            mnt_flags |= MNT_NODEV | MNT_LOCK_NODEV
        ctx = MountContext(options=options, cred=self.cred, mnt_ns=self.mnt_ns)
        root = fs_type.mount(fs_type, self.kernel, flags, dev_name or "none", ctx)
        mnt = new_mount(root.d_sb, root, mnt_flags, dev_name or "none", self.kernel.next_mnt_id())
        mnt.attached = False
        try:
            self._graft(mnt, path, check_busy=True)
        except BaseException:
            cleanup_mnt(mnt)
            raise

    def _graft(self, mnt: Mount, path: Path, check_busy: bool) -> None:
        """``do_add_mount``/``graft_tree``: same-fs EBUSY, unlinked ENOENT, ENOTDIR."""
        parent = path.mnt
        if not check_mnt(self.mnt_ns, parent):
            raise kernel_error(errno.EINVAL)
        if check_busy and parent.mnt_sb is mnt.mnt_sb and path.dentry is parent.mnt_root:
            raise kernel_error(errno.EBUSY)
        if not path.dentry.hashed and not path.dentry.is_root:
            raise kernel_error(errno.ENOENT)
        mp_inode, root_inode = path.dentry.d_inode, mnt.mnt_root.d_inode
        assert mp_inode is not None and root_inode is not None
        if mp_inode.is_dir != root_inode.is_dir:
            raise kernel_error(errno.ENOTDIR)
        mnts = subtree(mnt)
        for m in mnts:
            m.attached = True
        attach_mnt(mnt, parent, path.dentry)
        add_to_namespace(self.mnt_ns, mnts)

    def _do_loopback(self, path: Path, old_name: str | None, recurse: bool) -> None:
        """``do_loopback``: a bind mount of ``old_name`` (with MS_REC, its submounts)."""
        if not old_name:
            raise kernel_error(errno.EINVAL)
        old_path = path_lookupat(self, old_name, follow=True)
        if not check_mnt(self.mnt_ns, path.mnt) or not check_mnt(self.mnt_ns, old_path.mnt):
            raise kernel_error(errno.EINVAL)
        if recurse:
            mnt, _ = copy_tree(old_path.mnt, old_path.dentry, self.kernel.next_mnt_id)
        else:
            mnt = clone_mnt(old_path.mnt, old_path.dentry, self.kernel.next_mnt_id())
        for m in subtree(mnt):
            m.attached = False
        try:
            self._graft(mnt, path, check_busy=False)
        except BaseException:
            for m in reversed(subtree(mnt)):
                cleanup_mnt(m)
            raise

    def _do_remount(self, path: Path, flags: int, mnt_flags: int, options: str | None) -> None:
        """``do_remount``: per-mount flags (MS_BIND) or the superblock's."""
        mnt = path.mnt
        if not check_mnt(self.mnt_ns, mnt) or path.dentry is not mnt.mnt_root:
            raise kernel_error(errno.EINVAL)
        sb = mnt.mnt_sb
        if flags & MS_BIND:
            if mnt_flags & MNT_READONLY and not mnt.mnt_flags & MNT_READONLY and mnt.mnt_writers:
                raise kernel_error(errno.EBUSY)
        elif not credmod.capable(self.cred, self.kernel.init_user_ns, credmod.CAP_SYS_ADMIN):
            raise kernel_error(errno.EPERM)
        else:
            if flags & MS_RDONLY and not sb.read_only:
                if any(m.mnt_writers for m in self.kernel.mounts_of(sb)):
                    raise kernel_error(errno.EBUSY)
            sb.s_flags = (sb.s_flags & ~MS_RDONLY) | (flags & MS_RDONLY)
        mnt.mnt_flags = mnt_flags | (mnt.mnt_flags & ~_MNT_USER_SETTABLE)

    @syscall
    def umount(self, target: str | bytes, flags: int = 0) -> None:
        """umount2(2)."""
        flags = _int_arg(flags, "flags", 0, 1 << 32)
        name = path_arg(target)
        self._enter()
        if flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW):
            raise kernel_error(errno.EINVAL)
        lookup_first = self.kernel.profile.umount_lookup_first
        if lookup_first:
            path = path_lookupat(self, getname(name), follow=not flags & UMOUNT_NOFOLLOW)
        if not credmod.ns_capable(self.cred, self.mnt_ns.user_ns, credmod.CAP_SYS_ADMIN):
            raise kernel_error(errno.EPERM)  # may_mount
        if not lookup_first:
            path = path_lookupat(self, getname(name), follow=not flags & UMOUNT_NOFOLLOW)
        mnt = path.mnt
        if path.dentry is not mnt.mnt_root or not check_mnt(self.mnt_ns, mnt):
            raise kernel_error(errno.EINVAL, name)
        if mnt.mnt_flags & MNT_LOCKED:
            raise kernel_error(errno.EINVAL, name)
        if flags & MNT_FORCE and not credmod.capable(
            self.cred, self.kernel.init_user_ns, credmod.CAP_SYS_ADMIN
        ):
            raise kernel_error(errno.EPERM, name)
        self._do_umount(mnt, flags, name)

    def _do_umount(self, mnt: Mount, flags: int, name: str) -> None:
        """``do_umount``: EBUSY while in use (files, cwds, submounts) unless MNT_DETACH."""
        if flags & MNT_EXPIRE:
            if mnt is self.fs.root.mnt or flags & (MNT_FORCE | MNT_DETACH):
                raise kernel_error(errno.EINVAL, name)
            if mnt.mnt_count or any(True for _ in mnt.children()):
                raise kernel_error(errno.EBUSY, name)
            if not mnt.expiry_mark:
                mnt.expiry_mark = True
                raise kernel_error(errno.EAGAIN, name)
        if mnt is self.fs.root.mnt and not flags & MNT_DETACH:
            # "Unmounting" our own root remounts it read-only.
            if not credmod.capable(self.cred, self.kernel.init_user_ns, credmod.CAP_SYS_ADMIN):
                raise kernel_error(errno.EPERM, name)
            sb = mnt.mnt_sb
            if not sb.read_only:
                if any(m.mnt_writers for m in self.kernel.mounts_of(sb)):
                    raise kernel_error(errno.EBUSY, name)
                sb.s_flags |= MS_RDONLY
            return
        if not flags & MNT_DETACH:
            busy = mnt.mnt_count > 0 or (
                mnt.mnt_parent is not None and any(True for _ in mnt.children())
            )
            if busy:
                raise kernel_error(errno.EBUSY, name)
        umount_tree(mnt)

    @syscall
    def unshare(self, flags: int) -> None:
        """unshare(2): CLONE_NEWNS copies the mount tree (same superblocks);
        CLONE_NEWUSER makes a user namespace owned by us, where we have every
        capability.  Other namespace kinds are accepted and not modelled."""
        flags = _int_arg(flags, "flags", 0, 1 << 64)
        self._enter()
        if flags & ~_UNSHARE_FLAGS:
            raise kernel_error(errno.EINVAL)
        new_cred = self.cred
        if flags & CLONE_NEWUSER:
            new_cred = self.kernel.create_user_ns(self.cred)
        namespaces = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID
        if flags & namespaces and not credmod.ns_capable(
            new_cred, new_cred.user_ns, credmod.CAP_SYS_ADMIN
        ):
            raise kernel_error(errno.EPERM)
        self.cred = new_cred
        if flags & CLONE_NEWNS:
            self._copy_mnt_ns(new_cred.user_ns)

    def _copy_mnt_ns(self, user_ns: credmod.UserNamespace) -> None:
        """``copy_mnt_ns``: a new namespace with a copy of every mount; our root and
        cwd move to the copies.  Copies made for another user ns are locked."""
        old = self.mnt_ns
        assert old.root is not None
        new = self.kernel.new_mnt_ns(user_ns)
        top, copies = copy_tree(old.root, old.root.mnt_root, self.kernel.next_mnt_id)
        if user_ns is not old.user_ns:
            for copy in copies.values():
                if copy is not top:
                    copy.mnt_flags |= MNT_LOCKED
        new.root = top
        add_to_namespace(new, subtree(top))
        for attr in ("root", "pwd"):
            path: Path = getattr(self.fs, attr)
            mnt = copies.get(path.mnt, path.mnt)
            setattr(self.fs, attr, path_get(Path(mnt, path.dentry)))
            path_put(path)
        new.count += 1
        self.mnt_ns = new
        self.kernel.put_mnt_ns(old)

    # -- processes ----------------------------------------------------------------------

    @syscall
    def fork(self) -> Task:
        """fork(2): a child sharing our open files (not the fd table), with copies of
        our fs context and memory, in our mount namespace."""
        self._enter()
        child = Task(
            kernel=self.kernel,
            pid=self.kernel.next_pid(),
            cred=self.cred,
            fs=self.fs.copy(),
            files=self.files.copy(),
            mnt_ns=self.mnt_ns,
            mem=self.mem.copy(),
            rlimits=dict(self.rlimits),
        )
        self.mnt_ns.count += 1
        self.kernel.tasks[child.pid] = child
        return child

    @syscall
    def exit(self, status: int = 0) -> None:
        """exit(2): close every fd, drop the fs context and the mount namespace."""
        status = _int_arg(status, "status")
        if self.pid == 1:
            raise RuntimeError("Attempted to kill init!")
        self._enter()
        for fd in self.files.open_fds():
            fput(self.files.remove(fd))
        path_put(self.fs.root)
        path_put(self.fs.pwd)
        self.alive = False
        self.exit_status = status & 0xFF
        del self.kernel.tasks[self.pid]
        self.kernel.put_mnt_ns(self.mnt_ns)

    @syscall
    def execve(self) -> None:
        """execve(2)'s effect on kernel state: close-on-exec fds are closed, and the
        capabilities are recomputed for a binary with no file capabilities."""
        self._enter()
        for fd in sorted(self.files.cloexec):
            fput(self.files.remove(fd))
        c = self.cred
        root = c.user_ns.make_kuid(0)
        if root in (c.uid, c.euid):
            permitted = c.cap_bset
            effective = permitted if c.euid == root else 0
        else:
            permitted = effective = 0
        self.cred = attrs.evolve(
            c, cap_permitted=permitted, cap_effective=effective, keep_caps=False, suid=c.euid,
            fsuid=c.euid, sgid=c.egid, fsgid=c.egid,
        )  # fmt: skip

    # -- credentials --------------------------------------------------------------------

    @syscall
    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        """setresuid(2); -1 leaves an id unchanged."""
        for value in (ruid, euid, suid):
            credmod.check_c_id(value)
        self._enter()
        self.cred = credmod.sys_setresuid(self.cred, ruid, euid, suid)

    @syscall
    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        """setresgid(2)."""
        for value in (rgid, egid, sgid):
            credmod.check_c_id(value)
        self._enter()
        self.cred = credmod.sys_setresgid(self.cred, rgid, egid, sgid)

    @syscall
    def setgroups(self, groups: Iterable[int]) -> None:
        """setgroups(2)."""
        values = list(groups)
        for value in values:
            credmod.check_c_id(value)
        self._enter()
        self.cred = credmod.sys_setgroups(self.cred, values)

    @syscall
    def capset(self, effective: int, permitted: int, inheritable: int = 0) -> None:
        """capset(2) on ourselves, with bit masks of capability numbers."""
        credmod.check_cap_masks(effective, permitted, inheritable)
        self._enter()
        self.cred = credmod.cap_capset(self.cred, effective, permitted, inheritable)

    @syscall
    def prctl(self, option: int, arg2: int = 0) -> int:
        """prctl(2): PR_SET_KEEPCAPS only (keep capabilities across setuid from root)."""
        option = _int_arg(option, "option")
        arg2 = _int_arg(arg2, "arg2")
        self._enter()
        if option != PR_SET_KEEPCAPS or arg2 not in (0, 1):
            raise kernel_error(errno.EINVAL)
        self.cred = attrs.evolve(self.cred, keep_caps=bool(arg2))
        return 0

    @syscall
    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        """setrlimit(2): raising the hard limit needs CAP_SYS_RESOURCE."""
        resource = _int_arg(resource, "resource", 0, 16)
        soft = _int_arg(soft, "soft", 0, RLIM_INFINITY + 1)
        hard = _int_arg(hard, "hard", 0, RLIM_INFINITY + 1)
        self._enter()
        if soft > hard:
            raise kernel_error(errno.EINVAL)
        old = self.rlimits.get(resource, (RLIM_INFINITY, RLIM_INFINITY))
        if hard > old[1] and not credmod.capable(
            self.cred, self.kernel.init_user_ns, credmod.CAP_SYS_RESOURCE
        ):
            raise kernel_error(errno.EPERM)
        if resource == RLIMIT_NOFILE and hard > self.kernel.nr_open:
            raise kernel_error(errno.EPERM)
        self.rlimits[resource] = (soft, hard)

    @syscall
    def getrlimit(self, resource: int) -> tuple[int, int]:
        """getrlimit(2)."""
        resource = _int_arg(resource, "resource", 0, 16)
        self._enter()
        return self.rlimits.get(resource, (RLIM_INFINITY, RLIM_INFINITY))

    @syscall
    def sysctl_write(self, name: str, value: int) -> None:
        """Write ``value`` to /proc/sys/<name with / for .>: the file is 0644 root's
        (``test_perm`` checks the euid, no capability overrides), then the handler's
        ``proc_dointvec_minmax`` range gives EINVAL."""
        from pinfs.machine.kernel import SYSCTL_RANGES

        if name not in SYSCTL_RANGES:
            raise ValueError(f"unknown or read-only sysctl: {name!r}")
        value = _int_arg(value, "value", -(1 << 31), 1 << 31)
        self._enter()
        path = "/proc/sys/" + name.replace(".", "/")
        if self.cred.euid != 0:
            raise kernel_error(errno.EACCES, path)
        low, high = SYSCTL_RANGES[name]
        if name == "kernel.unprivileged_bpf_disabled":
            values = self.kernel.profile.unpriv_sysctl_values
            low, high = min(values), max(values)
            if len(values) > 1:  # bpf_unpriv_handler (v5.13)
                if not credmod.capable(self.cred, self.kernel.init_user_ns, credmod.CAP_SYS_ADMIN):
                    raise kernel_error(errno.EPERM, path)
                if low <= value <= high and self.kernel.sysctl[name] == 1 and value != 1:
                    raise kernel_error(errno.EPERM, path)  # 1 is locked
        if not low <= value <= high:
            raise kernel_error(errno.EINVAL, path)
        self.kernel.sysctl[name] = value

    @syscall
    def write_uid_map(self, extents: Iterable[tuple[int, int, int]]) -> None:
        """Write /proc/self/uid_map of our own user namespace (once)."""
        self._enter()
        self.kernel.write_id_map(self, list(extents), is_gid=False)

    @syscall
    def write_gid_map(self, extents: Iterable[tuple[int, int, int]]) -> None:
        """Write /proc/self/gid_map of our own user namespace (once)."""
        self._enter()
        self.kernel.write_id_map(self, list(extents), is_gid=True)
