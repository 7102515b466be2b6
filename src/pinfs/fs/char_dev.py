"""Character devices (fs/char_dev.c) and the one driver pinfs has: the console.

A character-device inode opens through ``def_chr_fops``: ``chrdev_open`` finds the
driver registered for the inode's device number (``kobj_lookup`` in ``cdev_map``) and
hands the file over to the driver's operations, or fails with ENXIO when no driver has
that number.  The machine registers one device, the console (5:1, ``TTYAUX_MAJOR``),
whose node ``/dev/console`` init opens at boot as fds 0, 1 and 2.

The console is ``console_fops`` of drivers/tty/tty_io.c cut down to what a test can
observe: writes are kept in :attr:`Console.output`; a read takes what a test put in
:attr:`Console.input` and, with nothing there, would block (:class:`WouldBlockForever`;
EAGAIN with O_NONBLOCK); it cannot seek (``nonseekable_open``: ESPIPE).  Line
discipline, job control and termios are not modelled.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from typing import Protocol, cast

import attrs

from pinfs.base.errors import kernel_error
from pinfs.fs.libfs import WouldBlockForever
from pinfs.vfs import File, FileOperations, Inode, KernelServices

TTYAUX_MAJOR = 5
#: ``MKDEV(TTYAUX_MAJOR, 1)`` as mknod(2) takes it and stat(2) reports it.
CONSOLE_DEV = os.makedev(TTYAUX_MAJOR, 1)


@attrs.define(eq=False)
class Cdev:
    """``struct cdev``: a driver's file operations for one device number, and the
    device they drive (what the driver finds through ``inode->i_cdev``)."""

    ops: FileOperations
    device: object


class CharDevServices(KernelServices, Protocol):
    """The machine's registered character devices (``cdev_map``)."""

    @property
    def cdev_map(self) -> Mapping[int, Cdev]: ...


def chrdev_open(inode: Inode, file: File) -> None:
    """``chrdev_open``: the driver registered for ``i_rdev`` takes the file over
    (``replace_fops``, then its ``->open``); ENXIO if there is none."""
    kernel = cast(CharDevServices, inode.i_sb.kernel)
    cdev = kernel.cdev_map.get(inode.i_rdev)
    if cdev is None:
        raise kernel_error(errno.ENXIO)
    file.f_op = cdev.ops
    file.private_data = cdev.device
    if cdev.ops.open is not None:
        cdev.ops.open(inode, file)


def_chr_fops = FileOperations(name="def_chr_fops", open=chrdev_open)


@attrs.define(eq=False)
class Console:
    """The system console: what was written to it, and what is waiting to be read."""

    output: bytearray = attrs.field(factory=bytearray)
    input: bytearray = attrs.field(factory=bytearray)

    def __repr__(self) -> str:
        return f"<Console {len(self.output)} bytes written, {len(self.input)} to read>"


def _console_of(file: File) -> Console:
    console = file.private_data
    assert isinstance(console, Console)
    return console


def tty_read(file: File, count: int) -> bytes:
    """``tty_read``: the waiting input, up to ``count`` bytes; none waiting blocks
    (EAGAIN for an O_NONBLOCK file)."""
    console = _console_of(file)
    if count == 0:
        return b""
    if not console.input:
        if file.f_flags & os.O_NONBLOCK:
            raise kernel_error(errno.EAGAIN)
        raise WouldBlockForever("read(2) of the console with no input waiting blocks")
    data = bytes(console.input[:count])
    del console.input[:count]
    return data


def redirected_tty_write(file: File, data: bytes) -> int:
    """``redirected_tty_write``: everything is taken, and kept as console output."""
    _console_of(file).output += data
    return len(data)


console_fops = FileOperations(name="console_fops", read=tty_read, write=redirected_tty_write)
