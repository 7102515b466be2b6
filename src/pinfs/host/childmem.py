"""A hosted process's memory as pinfs user memory.

:class:`ChildMemory` is a :class:`~pinfs.base.usermem.UserMemory` whose reads and
writes go to the real process with ``process_vm_readv``/``process_vm_writev``, so
``copy_from_user``/``copy_to_user`` in the model touch the child's own buffers.  The
supervisor can lay *overlays* over it: private buffers at addresses of its choosing
(a rewritten attr, a path made absolute) that the model reads instead.

Reads go through the process's ``/proc/TGID/mem``, opened once (``pread`` costs half
what a ctypes ``process_vm_readv`` does): a read of a page the process cannot read
itself (``PROT_NONE``) succeeds there, where ``copy_from_user`` would fault.  Writes
stay with ``process_vm_writev``, which honours the page protections as
``copy_to_user`` does (``/proc/PID/mem`` would write through a read-only mapping).
After an ``execve`` the open file still names the old address space: the supervisor
calls :meth:`ChildMemory.forget` when it sees one, and an empty read (an address space
that is gone) reopens once.
"""

from __future__ import annotations

import errno
import os

import attrs

from pinfs.base.errors import kernel_error
from pinfs.base.usermem import PAGE_SIZE, UserMemory
from pinfs.host.seccomp import read_child, write_child


@attrs.define(eq=False)
class ChildMemory(UserMemory):
    """The address space of process ``pid``, plus supervisor overlays."""

    pid: int = 0
    overlays: dict[int, bytes] = attrs.field(factory=dict)
    tgid: int = 0  #: whose /proc/TGID/mem is read (0: ``pid``'s)
    _mem_fd: int = -1

    def forget(self) -> None:
        """Close the open ``/proc/TGID/mem`` (an exec, or the process is gone)."""
        if self._mem_fd >= 0:
            os.close(self._mem_fd)
            self._mem_fd = -1

    def _pread(self, address: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``address`` (fewer at the end of a mapping, none
        where nothing is mapped)."""
        for attempt in range(2):
            if self._mem_fd < 0:
                try:
                    path = f"/proc/{self.tgid or self.pid}/mem"
                    self._mem_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    return read_child(self.pid, address, n)
            try:
                data = os.pread(self._mem_fd, n, address)
            except (OSError, OverflowError):  # EIO: nothing mapped there
                return b""
            if data or attempt:
                return data
            self.forget()  # an address space that is gone: the process has exec'd
        return b""

    def __repr__(self) -> str:
        return f"<ChildMemory pid={self.pid}>"

    def _overlay(self, address: int, n: int) -> bytes | None:
        for start, data in self.overlays.items():
            if start <= address and address + n <= start + len(data):
                return data[address - start : address - start + n]
        return None

    def read(self, address: int, n: int) -> bytes:
        """``copy_from_user``: all ``n`` bytes or EFAULT."""
        if n == 0:
            return b""
        if address < 0 or n < 0:
            raise kernel_error(errno.EFAULT)
        data = self._overlay(address, n) if self.overlays else None
        if data is None:
            data = self._pread(address, n)
        if len(data) != n:
            raise kernel_error(errno.EFAULT)
        return data

    def write(self, address: int, data: bytes) -> None:
        """``copy_to_user``: all of ``data`` or EFAULT."""
        if not data:
            return
        if address < 0 or write_child(self.pid, address, bytes(data)) != len(data):
            raise kernel_error(errno.EFAULT)

    def strncpy_from_user(self, address: int, limit: int) -> bytes:
        """Bytes up to the first NUL, at most ``limit``, read a page at a time."""
        overlay = self._overlay(address, 1)
        if overlay is not None:
            start = next(s for s, d in self.overlays.items() if s <= address < s + len(d))
            tail = self.overlays[start][address - start :]
            end = tail.find(0)
            return tail[: end if end >= 0 else limit][:limit]
        out = b""
        while len(out) < limit:
            here = address + len(out)
            chunk = min(PAGE_SIZE - here % PAGE_SIZE, limit - len(out))
            data = self._pread(here, chunk)
            end = data.find(0)
            if end >= 0:
                return out + data[:end]
            out += data
            if len(data) < chunk:
                raise kernel_error(errno.EFAULT)
        return out

    def alloc(self, data: bytes | bytearray | int) -> int:
        raise TypeError("a hosted process's memory is its own: the supervisor cannot alloc")
