"""What the served-call modules (:mod:`~pinfs.host.fileops`, :mod:`~pinfs.host.procview`,
:mod:`~pinfs.host.detour`) see of a call and of the supervisor, so they need not
import :mod:`pinfs.host.serve` (which imports them)."""

from __future__ import annotations

import errno
from typing import Protocol

import attrs

from pinfs.host.childmem import ChildMemory
from pinfs.host.fds import Placeholders
from pinfs.host.seccomp import Notification
from pinfs.machine.kernel import Kernel
from pinfs.machine.task import Task
from pinfs.vfs import PATH_MAX, File


@attrs.define
class Call:
    """One notification being served."""

    notif: Notification
    task: Task
    mem: ChildMemory

    @property
    def pid(self) -> int:
        return self.notif.pid

    def arg(self, index: int) -> int:
        return int(self.notif.args[index])

    def sarg(self, index: int) -> int:
        """An ``int`` argument (dirfds): the low 32 bits, signed."""
        value = self.notif.args[index] & 0xFFFFFFFF
        return value - (1 << 32) if value >= 1 << 31 else value

    def path(self, index: int) -> str:
        """``getname``: the path argument (EFAULT, ENAMETOOLONG, ENOENT for "")."""
        raw = self.mem.strncpy_from_user(self.arg(index), PATH_MAX)
        if len(raw) >= PATH_MAX:
            raise OSError(errno.ENAMETOOLONG, "path too long")
        return raw.decode("utf-8", "surrogateescape")


class Served(Protocol):
    """The supervisor, as the served-call modules use it."""

    kernel: Kernel
    mounts: tuple[str, ...]
    placeholders: Placeholders
    unmodelled: list[str]
    last_host: str | None

    def placeholder_file(self, call: Call, fd: int) -> File | None: ...

    def listener_reply_fd(self, call: Call, fd: int, cloexec: bool) -> int: ...
