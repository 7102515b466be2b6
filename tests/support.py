"""Helpers shared by the test modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pinfs


def err(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """The errno a simulated syscall fails with, or 0 if it succeeds.

    A failure must be a :class:`pinfs.KernelError` (an ``OSError`` with the errno)."""
    try:
        fn(*args, **kwargs)
    except OSError as exc:
        assert isinstance(exc, pinfs.KernelError), exc
        return exc.errno or 0
    return 0
