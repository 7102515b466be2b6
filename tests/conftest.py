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
def k() -> pinfs.Kernel:
    """A freshly booted kernel (modules that need bpffs mounted override this)."""
    return pinfs.Kernel()


@pytest.fixture
def t(k: pinfs.Kernel) -> pinfs.Task:
    """The kernel's init task: pid 1, root, every capability."""
    return k.init_task
