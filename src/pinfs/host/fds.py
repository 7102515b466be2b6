"""Simulated files as real fds in the hosted process.

Every pinfs file handed to the child (a map, a program, a bpffs directory opened with
open(2)) is installed there as the write end of a fresh pipe, a *placeholder*; the
supervisor keeps only the read end.  The pipe's inode number (``pipe:[INO]`` from
``readlink /proc/PID/fd/N``) names the pinfs file, so dup, fork, exec, SCM_RIGHTS and
threads need no interception.  When the child's last copy of the write end closes,
the read end reports POLLHUP and the pinfs file is released: exactly the kernel's
"last reference" moment, observed without polling.

The simulated task's fd table is a :class:`MirrorFdTable`: the same fd numbers as the
child's, filled in lazily.  Each ``lookup`` the model makes (``fdget``) asks the child
what that fd is now, one ``readlink``: a placeholder is its pinfs file, any other open
fd is one stand-in file that is neither a map nor a program (so a real fd gets the
kernel's EINVAL, not EBADF), a closed fd is nothing.  Entries hold their references as
in any fd table, so ``f_count`` stays the number of fds.
"""

from __future__ import annotations

import os
import select

import attrs

from pinfs.fs.fdtable import FdTable, fget, fput
from pinfs.vfs import File

#: What a real (non-simulated) fd looks like to the model.
HOST_FILE_NAME = "[host fd]"


@attrs.define(eq=False)
class Placeholder:
    file: File
    read_end: int
    cloexec: bool


@attrs.define(eq=False)
class Placeholders:
    """The pinfs files living in hosted processes, by placeholder inode."""

    by_ino: dict[int, Placeholder] = attrs.field(factory=dict)
    by_read_end: dict[int, int] = attrs.field(factory=dict)  # read fd -> ino
    poller: select.poll = attrs.field(factory=select.poll)
    host_file: File = attrs.field(
        factory=lambda: File(None, os.O_RDWR, 0, anon_name=HOST_FILE_NAME, f_count=0)
    )

    def make(self, file: File, cloexec: bool) -> int:
        """A new placeholder for ``file``; returns the write end to install (the
        caller closes it once it is in the child)."""
        read_end, write_end = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        ino = os.fstat(write_end).st_ino
        self.by_ino[ino] = Placeholder(file, read_end, cloexec)
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

    def child_fd(self, pid: int, fd: int) -> File | None:
        """What fd ``fd`` of process ``pid`` is to the model, now (None: closed)."""
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            return None
        file = self.file_of(link)
        return self.host_file if file is None else file

    def released(self, timeout_ms: int = 0) -> list[File]:
        """Files whose last placeholder copy has closed (their pipes hung up)."""
        gone = []
        for read_end, _event in self.poller.poll(timeout_ms):
            ino = self.by_read_end.pop(read_end)
            self.poller.unregister(read_end)
            os.close(read_end)
            gone.append(self.by_ino.pop(ino).file)
        return gone


@attrs.define(eq=False)
class MirrorFdTable(FdTable):
    """The fd table of a hosted process, corrected from the child on every lookup.

    Files the model installs during the current call (``fresh``) are the model's
    until the supervisor has given the child their placeholders."""

    pid: int = 0
    placeholders: Placeholders | None = None
    fresh: set[int] = attrs.field(factory=set)

    def lookup(self, fd: int) -> File | None:
        if fd < 0 or fd in self.fresh or self.placeholders is None:
            return super().lookup(fd)
        file = self.placeholders.child_fd(self.pid, fd)
        self.set(fd, file)
        return file

    def alloc_fd(self, file: File, cloexec: bool, nofile: int) -> int:
        fd = super().alloc_fd(file, cloexec, nofile)
        self.fresh.add(fd)
        return fd

    def set(self, fd: int, file: File | None) -> None:
        """Make ``fd`` point at ``file`` (new reference first, then the old one put)."""
        old = super().lookup(fd)
        if old is file:
            return
        if file is not None:
            fget(file)
            if fd >= len(self.fds):
                self.fds.extend([None] * (fd + 1 - len(self.fds)))
            self.fds[fd] = file
            self.next_fd = 0
        elif fd < len(self.fds):
            self.fds[fd] = None
            while self.fds and self.fds[-1] is None:
                self.fds.pop()
            self.next_fd = 0
        if old is not None:
            fput(old)

    def move(self, old: int, new: int, cloexec: bool) -> None:
        """The model installed a file at ``old``; the child has it at ``new``."""
        file = super().lookup(old)
        assert file is not None
        self.fresh.discard(old)
        self.set(new, file)
        self.set(old, None)
        (self.cloexec.add if cloexec else self.cloexec.discard)(new)
        self.cloexec.discard(old)

    def drop(self, file: File) -> None:
        """Remove every fd that points at ``file`` (its placeholder is gone)."""
        for fd, entry in enumerate(list(self.fds)):
            if entry is file:
                self.set(fd, None)

    def clear(self) -> None:
        for fd in range(len(self.fds) - 1, -1, -1):
            self.set(fd, None)
        self.fresh.clear()
