"""Shared test settings: Hypothesis is derandomised in CI, random locally."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import pinfs

settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


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
