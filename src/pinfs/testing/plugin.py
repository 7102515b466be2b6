"""The pinfs pytest plugin (registered through the ``pytest11`` entry point).

Fixtures:

* ``kernel``: a fresh :class:`pinfs.Kernel` with bpffs mounted at ``/sys/fs/bpf`` by
  init (``kernel.init_task``);
* ``kernel_factory``: a function that boots such a kernel on every call, for
  ``@given`` tests (where one function-scoped kernel would be shared by every example,
  which Hypothesis refuses): ``kernel_factory()``, ``kernel_factory("linux-6.18")``,
  ``kernel_factory(bpffs=False)``;
* ``pinfs_profile``: the :class:`pinfs.Profile` that kernel runs.

``--pinfs-profile`` also reaches :class:`~pinfs.testing.PinningMachine` subclasses that
do not set ``profile`` themselves.

The profile is, in order of precedence: the test's ``@pytest.mark.pinfs_profile(p)``
marker (``p`` a :class:`~pinfs.Profile` or a profile name), the ``--pinfs-profile NAME``
command-line option, and ``"seed"``.  Names are looked up in :mod:`pinfs.base.profiles`: a
module-level :class:`~pinfs.Profile` matches by its ``name`` field or, case-insensitively,
by its variable name (``SEED`` is ``"seed"``).

The plugin needs only pinfs and pytest (not Hypothesis).
"""

from __future__ import annotations

from typing import Protocol

import pytest

from pinfs.base import profiles
from pinfs.base.profiles import Profile
from pinfs.machine.kernel import Kernel
from pinfs.testing import _selection

__all__ = ["KernelFactory", "kernel", "kernel_factory", "pinfs_profile", "resolve_profile"]

BPFFS = "/sys/fs/bpf"


def known_profiles() -> dict[str, Profile]:
    """Every profile :mod:`pinfs.base.profiles` defines, by name."""
    found: dict[str, Profile] = {}
    for attr, value in vars(profiles).items():
        if isinstance(value, Profile):
            found.setdefault(value.name, value)
            found.setdefault(attr.lower(), value)
    return found


def resolve_profile(spec: str | Profile) -> Profile:
    """A :class:`~pinfs.Profile` for a name (see the module docstring) or a profile."""
    if isinstance(spec, Profile):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a pinfs profile is a name or a pinfs.Profile, not {spec!r}")
    table = known_profiles()
    profile = table.get(spec) or table.get(spec.lower())
    if profile is None:
        raise pytest.UsageError(
            f"unknown pinfs profile {spec!r}; known: {', '.join(sorted(table))}"
        )
    return profile


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pinfs")
    group.addoption(
        "--pinfs-profile",
        default="seed",
        metavar="NAME",
        help="kernel profile of the pinfs 'kernel' fixture (a name in pinfs.base.profiles; "
        "default: seed)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "pinfs_profile(profile): run this test's pinfs 'kernel' fixture with this profile "
        "(a pinfs.Profile or a name in pinfs.base.profiles)",
    )
    # Fail early on a bad name; machines without a profile of their own run this one.
    _selection.selected_profile = resolve_profile(config.getoption("--pinfs-profile"))


@pytest.fixture
def pinfs_profile(request: pytest.FixtureRequest) -> Profile:
    """The kernel profile for this test: marker, then ``--pinfs-profile``, then seed."""
    marker = request.node.get_closest_marker("pinfs_profile")
    if marker is not None:
        if len(marker.args) != 1 or marker.kwargs:
            raise pytest.UsageError("use @pytest.mark.pinfs_profile(profile) with one argument")
        return resolve_profile(marker.args[0])
    return resolve_profile(request.config.getoption("--pinfs-profile"))


def boot(profile: Profile, bpffs: bool = True) -> Kernel:
    """A fresh kernel of ``profile``, with bpffs mounted at /sys/fs/bpf by init."""
    k = Kernel(profile)
    if bpffs:
        k.init_task.mount("bpf", BPFFS, "bpf")
    return k


@pytest.fixture
def kernel(pinfs_profile: Profile) -> Kernel:
    """A fresh kernel with bpffs mounted at /sys/fs/bpf."""
    return boot(pinfs_profile)


class KernelFactory(Protocol):
    """``kernel_factory(profile=None, *, bpffs=True) -> Kernel``."""

    def __call__(self, profile: str | Profile | None = None, *, bpffs: bool = True) -> Kernel: ...


@pytest.fixture(scope="session")
def kernel_factory(pytestconfig: pytest.Config) -> KernelFactory:
    """Boots a fresh kernel per call (the ``--pinfs-profile`` one unless given)."""
    default = resolve_profile(pytestconfig.getoption("--pinfs-profile"))

    def new_kernel(profile: str | Profile | None = None, *, bpffs: bool = True) -> Kernel:
        return boot(default if profile is None else resolve_profile(profile), bpffs)

    return new_kernel
