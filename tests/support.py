"""Helpers shared by the test modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import settings

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


#: Under ``--hypothesis-profile=nightly`` every explicit example budget is this much larger.
NIGHTLY_FACTOR = 10


def budget(examples: int) -> int:
    """A test's explicit Hypothesis example budget: as written under the default
    ``suite`` profile, ``NIGHTLY_FACTOR`` times that under ``nightly`` (conftest.py)."""
    if settings.get_current_profile_name() == "nightly":
        return examples * NIGHTLY_FACTOR
    return examples


#: The fds every task starts with: the console init opened at boot (``console_on_rootfs``).
#: A test of "no fd was left behind" compares with this; a new fd is never assumed to
#: have a number, only compared with the one a call returned.
CONSOLE_FDS = [0, 1, 2]
