"""Simulated files as real fds in the hosted process.

Every pinfs file handed to the child (a map, a program, a bpffs directory opened with
open(2)) is installed there as the write end of a fresh pipe, a *placeholder*; the
supervisor keeps only the read end.  The pipe's inode number (``pipe:[INO]`` from
``readlink /proc/PID/fd/N``) names the pinfs file, so dup, fork, exec, SCM_RIGHTS and
threads need no interception.  When the child's last copy of the write end closes,
the read end reports POLLHUP and the pinfs file is released: exactly the kernel's
"last reference" moment, observed without polling.

References: all the child's copies of one placeholder together hold one reference to
the pinfs file, kept as an fd of the *holder*, a simulated task that stands for "open
in the hosted processes" (so ``f_count`` stays the number of fds, as the invariants
check).  A hosted process's own simulated task has a :class:`MirrorFdTable`: each
``lookup`` the model makes (``fdget``) asks the child what that fd number is now, one
``readlink``: a placeholder is its pinfs file, any other open fd is one stand-in file
that is neither a map nor a program (so a real fd gets the kernel's EINVAL, not
EBADF), a closed fd is nothing.  Only files the model installs during the current
call live in the mirror itself, until they are handed to the child.
"""

from __future__ import annotations

import os
import select

import attrs

from pinfs.fs.fdtable import FdTable, fput
from pinfs.machine.task import Task
from pinfs.vfs import File

#: What a real (non-simulated) fd looks like to the model.
HOST_FILE_NAME = "[host fd]"


@attrs.define(eq=False)
class Placeholder:
    file: File
    read_end: int
    cloexec: bool
    holder_fd: int


@attrs.define(eq=False)
class Placeholders:
    """The pinfs files living in hosted processes, by placeholder inode."""

    by_ino: dict[int, Placeholder] = attrs.field(factory=dict)
    by_read_end: dict[int, int] = attrs.field(factory=dict)  # read fd -> ino
    poller: select.poll = attrs.field(factory=select.poll)
    host_file: File = attrs.field(
        factory=lambda: File(None, os.O_RDWR, 0, anon_name=HOST_FILE_NAME, f_count=1)
    )
    holder: Task | None = None
    listener_fd: int = -1

    def make(self, file: File, cloexec: bool) -> int:
        """A new placeholder for ``file``, which the holder now holds (the caller
        passes its reference on); returns the write end to install (the caller
        closes it once it is in the child)."""
        assert self.holder is not None
        read_end, write_end = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        ino = os.fstat(write_end).st_ino
        holder_fd = self.holder.files.alloc_fd(file, False, 1 << 30)
        self.by_ino[ino] = Placeholder(file, read_end, cloexec, holder_fd)
        self.by_read_end[read_end] = ino
        self.poller.register(read_end, 0)  # POLLHUP is always reported
        return write_end

    def file_of(self, link: str) -> File | None:
        """The pinfs file behind ``/proc/PID/fd/N``'s link text, if a placeholder."""
        if link.startswith("pipe:["):
            placeholder = self.by_ino.get(int(link[6:-1]))
            if placeholder is not None:
                return placeholder.file
        return None

    def holder_fd_of(self, file: File) -> int:
        """The holder task's fd for a placeholder's pinfs file."""
        return next(p.holder_fd for p in self.by_ino.values() if p.file is file)

    def child_fd(self, pid: int, fd: int) -> File | None:
        """What fd ``fd`` of process ``pid`` is to the model, now (None: closed)."""
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            return None
        file = self.file_of(link)
        return self.host_file if file is None else file

    def listen(self, fd: int) -> None:
        """Poll the seccomp listener together with the placeholders' read ends: one
        poll per notification sees both what was closed and what is asked."""
        self.listener_fd = fd
        self.poller.register(fd, select.POLLIN)

    def poll(self, timeout_ms: int) -> tuple[bool, bool]:
        """Release the files whose last placeholder copy has closed (their pipes hung
        up); returns whether a notification is waiting and whether the listener is
        gone (no filtered task is left)."""
        ready = gone = False
        for fd, mask in self.poller.poll(timeout_ms):
            if fd == self.listener_fd:
                ready = bool(mask & select.POLLIN)
                gone = not ready and bool(mask & (select.POLLHUP | select.POLLERR))
            else:
                self._release(self.by_read_end.pop(fd))
        return ready, gone

    def _release(self, ino: int) -> None:
        placeholder = self.by_ino.pop(ino)
        self.poller.unregister(placeholder.read_end)
        os.close(placeholder.read_end)
        assert self.holder is not None
        fput(self.holder.files.remove(placeholder.holder_fd))

    def release_all(self) -> None:
        """The run is over: every placeholder goes."""
        for ino in list(self.by_ino):
            self.by_read_end.pop(self.by_ino[ino].read_end)
            self._release(ino)


@attrs.define(eq=False)
class MirrorFdTable(FdTable):
    """The fd table of a hosted process: the child's own, read on every lookup.

    Files the model installs during the current call (``fresh``) are the model's
    until the supervisor has given the child their placeholders."""

    pid: int = 0
    placeholders: Placeholders | None = None
    fresh: set[int] = attrs.field(factory=set)
    _fd_dir: int = -1  # /proc/PID/fd, opened once: readlinkat skips the pid lookup

    def link(self, fd: int) -> str | None:
        """``readlink /proc/PID/fd/FD`` of the child, now (None: not open)."""
        if self._fd_dir < 0:
            try:
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
                self._fd_dir = os.open(f"/proc/{self.pid}/fd", flags)
            except OSError:
                return None
        try:
            return os.readlink(str(fd), dir_fd=self._fd_dir)
        except OSError:
            return None

    def forget(self) -> None:
        """The process is gone: close what was kept open for it."""
        if self._fd_dir >= 0:
            os.close(self._fd_dir)
            self._fd_dir = -1

    def lookup(self, fd: int) -> File | None:
        if fd < 0 or fd in self.fresh or self.placeholders is None:
            return super().lookup(fd)
        link = self.link(fd)
        if link is None:
            return None
        file = self.placeholders.file_of(link)
        return self.placeholders.host_file if file is None else file

    def alloc_fd(self, file: File, cloexec: bool, nofile: int) -> int:
        fd = super().alloc_fd(file, cloexec, nofile)
        self.fresh.add(fd)
        return fd

    def take(self, fd: int) -> File:
        """The model's new file at ``fd`` leaves the mirror, reference and all."""
        file = self.remove(fd)  # remove() looks up: while fresh, the model's own entry
        self.fresh.discard(fd)
        return file

    def drop_fresh(self) -> None:
        """Files installed by a call that then failed: closed again."""
        for fd in sorted(self.fresh):
            fput(self.take(fd))
