"""Errors: every failed simulated syscall raises one of these.

The kernel reports failure as ``-errno``; pinfs raises :class:`KernelError`, an
:class:`OSError` whose ``errno`` is exactly the kernel's.  Each errno gets a class
that also derives from the builtin ``OSError`` subclass Python would pick for it
(``ENOENT`` -> :class:`FileNotFoundError`, ``EPERM``/``EACCES`` ->
:class:`PermissionError`, ...), so ``except FileNotFoundError`` works as it does
with :mod:`os`, while ``except pinfs.KernelError`` catches only simulated errors.

An error also says *why*: the kernel function and check that refused the call and the
values it compared (:class:`Refusal`, on ``err.refusal`` and as ``err.function``,
``err.check`` and ``err.values``), printed after the :mod:`os`-style first part::

    [Errno 13] Permission denied: '/sys/fs/bpf/counters' [inode_permission: MAY_READ|MAY_WRITE
    denied: mode 0600, owner 0:0, for uid 1000 without CAP_DAC_OVERRIDE]

Predicates that return an errno (``inode_permission``, ``may_create``, ...) return an
:class:`Errno`, an ``int`` that carries its refusal to the place that raises it.

Values that the C prototype cannot carry at all (a ``str`` where an ``int`` fd is
expected, a path with a NUL byte, an fd beyond 32 bits) are a mistake of the
caller, not a syscall outcome: they raise ``TypeError``/``ValueError`` before any
kernel state is touched.
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Callable, Mapping

import attrs

__all__ = [
    "ENOTSUPP",
    "KERNEL_ERRNOS",
    "Errno",
    "KernelError",
    "Refusal",
    "as_os_reports",
    "call_naming",
    "errno_name",
    "kernel_error",
    "naming",
    "refuse",
    "refused",
]

#: Kernel-internal errnos (include/linux/errno.h) that a syscall can leak to user space.
KERNEL_ERRNOS: dict[int, str] = {
    512: "ERESTARTSYS", 513: "ERESTARTNOINTR", 514: "ERESTARTNOHAND", 515: "ENOIOCTLCMD",
    516: "ERESTART_RESTARTBLOCK", 517: "EPROBE_DEFER", 518: "EOPENSTALE", 519: "ENOPARAM",
    521: "EBADHANDLE", 522: "ENOTSYNC", 523: "EBADCOOKIE", 524: "ENOTSUPP", 525: "ETOOSMALL",
    526: "ESERVERFAULT", 527: "EBADTYPE", 528: "EJUKEBOX", 529: "EIOCBQUEUED",
    530: "ERECALLCONFLICT",
}  # fmt: skip
#: ``-ENOTSUPP`` (not ``EOPNOTSUPP``): bpf(2) returns it for a lookup in a map of fds.
ENOTSUPP = 524


@attrs.frozen
class Refusal:
    """Which kernel check refused a call, and the values it compared.

    ``check`` is a sentence with ``{name}`` fields filled from ``values`` when printed,
    so the explanation costs nothing until someone reads it.
    """

    function: str
    check: str
    values: Mapping[str, object] = attrs.field(factory=dict)

    def __str__(self) -> str:
        return f"{self.function}: {self.check.format_map(self.values)}"


class Errno(int):
    """An errno (an ``int``) returned by a predicate, with the :class:`Refusal` behind it."""

    refusal: Refusal

    def __new__(cls, err: int, refusal: Refusal) -> Errno:
        value = super().__new__(cls, err)
        value.refusal = refusal
        return value


def refused(err: int, function: str, check: str, **values: object) -> Errno:
    """``err`` as returned by ``function`` because ``check`` failed on ``values``."""
    return Errno(err, Refusal(function, check, values))


class KernelError(OSError):
    """A simulated syscall failed; ``.errno`` is the kernel's errno, ``.refusal`` why."""

    refusal: Refusal | None = None

    @property
    def errno_name(self) -> str:
        return errno_name(self.errno or 0)

    @property
    def function(self) -> str | None:
        """The kernel function whose check refused the call (None where not recorded)."""
        return None if self.refusal is None else self.refusal.function

    @property
    def check(self) -> str | None:
        """What that function checked, in words, with the values filled in."""
        return None if self.refusal is None else self.refusal.check.format_map(self.refusal.values)

    @property
    def values(self) -> Mapping[str, object]:
        """The values the check compared."""
        return {} if self.refusal is None else self.refusal.values

    def __str__(self) -> str:
        text = super().__str__()
        return text if self.refusal is None else f"{text} [{self.refusal}]"


_BUILTIN_FOR_ERRNO: dict[int, type[OSError]] = {
    _errno.EPERM: PermissionError,
    _errno.EACCES: PermissionError,
    _errno.ENOENT: FileNotFoundError,
    _errno.EEXIST: FileExistsError,
    _errno.ENOTDIR: NotADirectoryError,
    _errno.EISDIR: IsADirectoryError,
    _errno.EINTR: InterruptedError,
    _errno.ECHILD: ChildProcessError,
    _errno.ESRCH: ProcessLookupError,
}

_CLASS_CACHE: dict[int, type[KernelError]] = {}


def _class_for(err: int) -> type[KernelError]:
    cls = _CLASS_CACHE.get(err)
    if cls is None:
        builtin = _BUILTIN_FOR_ERRNO.get(err)
        name = "Kernel" + (builtin.__name__ if builtin else errno_name(err))
        bases: tuple[type, ...] = (KernelError, builtin) if builtin else (KernelError,)
        cls = type(name, bases, {"__module__": __name__})
        _CLASS_CACHE[err] = cls
    return cls


def kernel_error(err: int, path: str | None = None, refusal: Refusal | None = None) -> KernelError:
    """Build the exception for ``-err``, naming ``path`` where Linux would, and saying
    why (``refusal``, or the one an :class:`Errno` carries)."""
    if refusal is None and isinstance(err, Errno):
        refusal = err.refusal
    err = int(err)
    if path is None:
        exc = _class_for(err)(err, os.strerror(err))
    else:
        exc = _class_for(err)(err, os.strerror(err), path)
    exc.refusal = refusal
    return exc


def refuse(
    err: int, function: str, check: str, *, path: str | None = None, **values: object
) -> KernelError:
    """The exception for ``-err`` from ``function`` because ``check`` failed on ``values``."""
    return kernel_error(err, path, Refusal(function, check, values))


def naming(exc: OSError, path: str) -> OSError:
    """``exc``, naming ``path`` if it names none yet (the errno and refusal unchanged)."""
    if exc.filename is None and isinstance(exc, KernelError):
        return kernel_error(exc.errno or 0, path, exc.refusal)
    return exc


def as_os_reports(
    exc: KernelError, filename: str | bytes, filename2: str | bytes | None = None
) -> KernelError:
    """``exc`` with the path(s) :mod:`os` puts in ``filename``/``filename2`` for the same
    call (the argument as :func:`os.fspath` gave it), errno and refusal unchanged."""
    err = exc.errno or 0
    if filename2 is None:
        new = _class_for(err)(err, os.strerror(err), filename)
    else:
        new = _class_for(err)(err, os.strerror(err), filename, None, filename2)
    new.refusal = exc.refusal
    return new


def call_naming(path: str, fn: Callable[..., object], *args: object) -> None:
    """Run a kernel step; a failure it raises names ``path``, as :mod:`os` does."""
    try:
        fn(*args)
    except KernelError as exc:
        raise naming(exc, path) from None


def errno_name(err: int) -> str:
    """The canonical name of an errno: ``2`` -> ``"ENOENT"``, kernel-internal ones by
    their kernel name (``524`` -> ``"ENOTSUPP"``), else ``E<n>``."""
    return _errno.errorcode.get(err) or KERNEL_ERRNOS.get(err) or f"E{err}"
