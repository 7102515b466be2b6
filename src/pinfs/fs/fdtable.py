"""File descriptor tables and file release (fs/file.c, fs/file_table.c).

An fd is a number in one task's table pointing at a :class:`~pinfs.vfs.File`; ``dup``
and ``fork`` make more fds for the same file.  A file is released (its ``->release``
runs, its path is put) when its last fd is closed.
"""

from __future__ import annotations

import errno

import attrs

from pinfs.base.errors import kernel_error, refuse
from pinfs.fs.namei import FMODE_WRITER, O_PATH
from pinfs.mountns import mntput
from pinfs.vfs import File, dput

INT_MAX = 0x7FFFFFFF


def check_fd(fd: object) -> int:
    """An fd argument must be an int the C ``int``/``unsigned int`` can hold."""
    if not isinstance(fd, int) or isinstance(fd, bool):
        raise TypeError(f"fd must be int, not {type(fd).__name__}")
    if not -(1 << 31) <= fd < 1 << 32:
        raise ValueError(f"fd out of range for a C int: {fd}")
    return fd


def fget(file: File) -> File:
    file.f_count += 1
    return file


def fput(file: File) -> None:
    """``fput``: the last reference runs ``__fput``: the file's ``->release``, then
    the VFS half (drop write access and the path)."""
    file.f_count -= 1
    if file.f_count:
        return
    fop = file.f_op
    if fop is not None and fop.release is not None:
        fop.release(file)
    path = file.f_path
    if path is None:  # anonymous-inode files hold no path
        return
    if file.f_mode & FMODE_WRITER:
        path.mnt.mnt_writers -= 1
    file.f_path = None
    dput(path.dentry)
    mntput(path.mnt)


@attrs.define(eq=False)
class FdTable:
    """``struct files_struct``: fd -> file, plus the close-on-exec set."""

    fds: list[File | None] = attrs.field(factory=list)
    cloexec: set[int] = attrs.field(factory=set)
    next_fd: int = 0

    def __repr__(self) -> str:
        return f"<FdTable {sorted(self.open_fds())}>"

    def open_fds(self) -> list[int]:
        return [fd for fd, f in enumerate(self.fds) if f is not None]

    def lookup(self, fd: int) -> File | None:
        """``fcheck``: the file at ``fd`` or None."""
        if 0 <= fd < len(self.fds):
            return self.fds[fd]
        return None

    def fdget(self, fd: int, allow_path: bool = False) -> File:
        """``fdget`` (``fdget_raw`` with ``allow_path``): EBADF if not open (O_PATH
        files count as not open unless ``allow_path``)."""
        file = self.lookup(fd)
        if file is None or (file.f_flags & O_PATH and not allow_path):
            raise kernel_error(errno.EBADF)
        return file

    def reserve_fd(self, nofile: int) -> None:
        """``get_unused_fd_flags`` before the work: EMFILE if no fd below ``nofile``
        (RLIMIT_NOFILE) is free.  Nothing is taken; :meth:`install` takes it."""
        fd = self.next_fd
        while fd < len(self.fds) and self.fds[fd] is not None:
            fd += 1
        if fd >= nofile:
            check = "no free fd below RLIMIT_NOFILE {limit}"
            raise refuse(errno.EMFILE, "get_unused_fd_flags", check, limit=nofile)

    def install(self, file: File, cloexec: bool, nofile: int) -> int:
        """``fd_install`` of a new file reference; on EMFILE the reference is put."""
        try:
            return self.alloc_fd(file, cloexec, nofile)
        except OSError:
            fput(file)
            raise

    def alloc_fd(self, file: File, cloexec: bool, nofile: int) -> int:
        """``__alloc_fd`` + ``fd_install``: the lowest free fd below RLIMIT_NOFILE."""
        fd = self.next_fd
        fds = self.fds
        while fd < len(fds) and fds[fd] is not None:
            fd += 1
        if fd >= nofile:
            raise refuse(
                errno.EMFILE, "__alloc_fd", "no free fd below RLIMIT_NOFILE {limit}", limit=nofile
            )
        if fd == len(fds):
            fds.append(file)
        else:
            fds[fd] = file
        self.next_fd = fd + 1
        if cloexec:
            self.cloexec.add(fd)
        else:
            self.cloexec.discard(fd)
        return fd

    def install_at(self, fd: int, file: File, cloexec: bool) -> File | None:
        """``do_dup2``'s install: ``file`` at ``fd`` (the table grows as needed);
        returns the file that was there, for the caller to close."""
        fds = self.fds
        if fd >= len(fds):
            fds.extend([None] * (fd + 1 - len(fds)))
        old, fds[fd] = fds[fd], file
        if cloexec:
            self.cloexec.add(fd)
        else:
            self.cloexec.discard(fd)
        return old

    def alloc_fd_from(self, start: int, file: File, cloexec: bool, nofile: int) -> int:
        """``alloc_fd(start, flags)`` + ``fd_install``: the lowest free fd >= start."""
        fd = max(start, self.next_fd)
        while fd < len(self.fds) and self.fds[fd] is not None:
            fd += 1
        if fd >= nofile:
            raise kernel_error(errno.EMFILE)
        self.install_at(fd, file, cloexec)
        if start <= self.next_fd:
            self.next_fd = fd + 1
        return fd

    def remove(self, fd: int) -> File:
        """``__close_fd`` minus the ``fput``: EBADF if nothing is open there."""
        file = self.lookup(fd)
        if file is None:
            raise kernel_error(errno.EBADF)
        self.fds[fd] = None
        self.cloexec.discard(fd)
        if fd < self.next_fd:
            self.next_fd = fd
        while self.fds and self.fds[-1] is None:
            self.fds.pop()
        return file

    def copy(self) -> FdTable:
        """``dup_fd`` (fork): the same files, one more reference each."""
        clone = FdTable(fds=list(self.fds), cloexec=set(self.cloexec), next_fd=self.next_fd)
        for file in clone.fds:
            if file is not None:
                fget(file)
        return clone
