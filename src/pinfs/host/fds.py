"""Simulated files as real fds in the hosted process.

Every pinfs file handed to the child (a map, a program, a bpffs directory opened with
open(2)) is installed there as the write end of a fresh pipe, a *placeholder*; the
supervisor keeps only the read end.  The pipe's inode number (``pipe:[INO]`` from
``readlink /proc/PID/fd/N``) names the pinfs file, so dup, fork, exec, SCM_RIGHTS and
threads need no interception.  When the child's last copy of the write end closes,
the read end reports POLLHUP and the pinfs file is released: exactly the kernel's
"last reference" moment, observed without polling.

Before each served call the simulated task's fd table is made a mirror of the child's
(:meth:`Placeholders.sync`): the same fd numbers, placeholders as their pinfs files and
every other (real) fd as one stand-in file that is neither a map nor a program, so an
fd the model is given means what it means in the child.
"""

from __future__ import annotations

import os
import select

import attrs

from pinfs.fs.fdtable import fget, fput
from pinfs.machine.task import Task
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

    def sync(self, task: Task, pid: int) -> None:
        """Make ``task``'s fd table the mirror of process ``pid``'s."""
        proc = f"/proc/{pid}/fd/"
        fds: list[File | None] = []
        cloexec: set[int] = set()
        for name in os.listdir(proc):
            fd = int(name)
            try:
                link = os.readlink(proc + name)
            except OSError:
                continue  # closed meanwhile
            file = self.file_of(link)
            if file is None:
                file = self.host_file
            elif self.by_ino[int(link[6:-1])].cloexec:
                cloexec.add(fd)
            if fd >= len(fds):
                fds.extend([None] * (fd + 1 - len(fds)))
            fds[fd] = file
        set_table(task, fds, cloexec)

    def released(self, timeout_ms: int = 0) -> list[File]:
        """Files whose last placeholder copy has closed (their pipes hung up)."""
        gone = []
        for read_end, _event in self.poller.poll(timeout_ms):
            ino = self.by_read_end.pop(read_end)
            self.poller.unregister(read_end)
            os.close(read_end)
            gone.append(self.by_ino.pop(ino).file)
        return gone


def set_table(task: Task, fds: list[File | None], cloexec: set[int]) -> None:
    """Replace ``task``'s fds: new references first, so nothing both old and new is
    released on the way."""
    for file in fds:
        if file is not None:
            fget(file)
    old = task.files.fds
    task.files.fds = fds
    task.files.cloexec = cloexec
    task.files.next_fd = 0
    for file in old:
        if file is not None:
            fput(file)


def drop_file(task: Task, file: File) -> None:
    """Remove every fd of ``task`` that points at ``file`` (its placeholder is gone)."""
    fds = [None if f is file else f for f in task.files.fds]
    if fds != task.files.fds:
        set_table(task, fds, task.files.cloexec)


def move_fd(task: Task, old: int, new: int) -> None:
    """The model installed a file at ``old``; the child got it at ``new``."""
    fds = list(task.files.fds)
    file = fds[old]
    fds[old] = None
    if new >= len(fds):
        fds.extend([None] * (new + 1 - len(fds)))
    fds[new] = file
    cloexec = {fd for fd in task.files.cloexec if fd != old}
    if old in task.files.cloexec:
        cloexec.add(new)
    set_table(task, fds, cloexec)
