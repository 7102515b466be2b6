"""The :func:`syscall` decorator: the one hook between a syscall entry point and tracing.

Syscall methods live in several layers (the bpf dispatcher's mixin, the task); the
recorder (:class:`pinfs.machine.trace.Trace`) lives in the machine.  The decorator only
needs ``self.kernel.trace``: while it is None the cost is one attribute check, else the
call goes through the trace's ``_call``, which records it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

__all__ = ["Recorder", "syscall"]

F = TypeVar("F", bound=Callable[..., Any])


class Recorder(Protocol):
    """What a running trace offers the decorator."""

    def _call(
        self,
        fn: Callable[..., Any],
        sig: inspect.Signature,
        name: str,
        task: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any: ...


def syscall(fn: F) -> F:
    """Record calls of ``fn`` (a syscall method of a task) in ``self.kernel.trace``."""
    name = fn.__name__
    sig: list[inspect.Signature] = []

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        trace: Recorder | None = self.kernel.trace
        if trace is None:
            return fn(self, *args, **kwargs)
        if not sig:
            sig.append(inspect.signature(fn))
        return trace._call(fn, sig[0], name, self, args, kwargs)

    return cast(F, wrapper)
