"""Shared test settings and fixtures.

Hypothesis runs under one of two settings profiles (docs/testing.md, "Deterministic
suite, opt-in long runs"):

* ``suite``, the default, with or without ``CI`` set: derandomised (every run draws the
  same examples, a pure function of the code and the Hypothesis version), no example
  database, so nothing a local ``.hypothesis/`` directory holds is replayed and a
  newcomer's run is the run everybody else gets;
* ``nightly``, opt-in with ``--hypothesis-profile=nightly``: random examples, ten times
  the budgets (``support.budget``), and the default ``.hypothesis/`` database, so a
  failure found one night is replayed first the next.

Neither has a deadline or the timing health check: the suite must not depend on how
busy the machine is.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

import pinfs
from pinfs.live.kernel import LiveKernel, live_unavailable_reason

settings.register_profile(
    "suite",
    derandomize=True,
    database=None,
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "nightly",
    derandomize=False,
    max_examples=1000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# Hypothesis's own --hypothesis-profile option, applied after this file, overrides it.
settings.load_profile("suite")


@pytest.fixture
def k(request: pytest.FixtureRequest) -> pinfs.Kernel:
    """A freshly booted kernel; with bpffs at /sys/fs/bpf if the test module sets
    ``MOUNT_BPFFS = True``."""
    kernel = pinfs.Kernel()
    if getattr(request.module, "MOUNT_BPFFS", False):
        kernel.init_task.mount("bpf", "/sys/fs/bpf", "bpf")
    return kernel


@pytest.fixture
def t(k: pinfs.Kernel) -> pinfs.Task:
    """The kernel's init task: pid 1, root, every capability."""
    return k.init_task


@pytest.fixture
def u(k: pinfs.Kernel) -> pinfs.Task:
    """A task of uid/gid 1000 with no capabilities."""
    return k.spawn(uid=1000, gid=1000)


@pytest.fixture(scope="module")
def live(request: pytest.FixtureRequest) -> Iterator[LiveKernel]:
    """One live twin per test module (a sandbox in private namespaces of the real
    kernel), or a skip naming why this machine has none (not root, no bpf(2), ...).
    A module that sets ``LIVE_MOUNTS_PROC = True`` gets its own /proc mounted in it."""
    reason = live_unavailable_reason()
    if reason is not None:
        pytest.skip(f"live kernel unavailable: {reason}")
    with LiveKernel() as kernel:
        if getattr(request.module, "LIVE_MOUNTS_PROC", False):
            kernel.init_task.mkdir("/proc", 0o555)
            kernel.init_task.mount("proc", "/proc", "proc")
        yield kernel
