"""The pytest plugin (``kernel`` fixture, ``--pinfs-profile``, ``pinfs_profile`` marker)
and the Hypothesis-free parts of pinfs.testing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import attrs
import pytest

import pinfs
from pinfs.testing.plugin import known_profiles, resolve_profile

pytest_plugins = ["pytester"]

INNER_TESTS = """
import attrs
import pytest

import pinfs

NARROW = attrs.evolve(pinfs.SEED, name="narrow", refcnt_bits=8)


def test_kernel_fixture_has_bpffs_mounted(kernel, pinfs_profile):
    assert isinstance(kernel, pinfs.Kernel)
    assert kernel.profile is pinfs_profile
    assert kernel.init_task.statfs("/sys/fs/bpf").f_type == pinfs.BPF_FS_MAGIC
    assert kernel.objects() == []


def test_each_test_gets_a_fresh_kernel(kernel):
    fd = kernel.init_task.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 4, 1)
    kernel.init_task.obj_pin(fd, "/sys/fs/bpf/m")
    assert len(kernel.objects()) == 1


def test_the_default_profile_is_the_command_line_one(kernel, request):
    assert kernel.profile.name == request.config.getoption("--pinfs-profile")


@pytest.mark.pinfs_profile(NARROW)
def test_marker_with_a_profile_object(kernel):
    assert kernel.profile is NARROW


@pytest.mark.pinfs_profile("seed")
def test_marker_with_a_name(kernel):
    assert kernel.profile is pinfs.SEED


@pytest.mark.pinfs_profile("no-such-kernel")
def test_marker_with_an_unknown_name(kernel):
    pass
"""


def test_the_plugin_is_registered_through_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(INNER_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(["*unknown pinfs profile 'no-such-kernel'*known: *seed*"])


def test_the_option_picks_the_profile_and_rejects_unknown_names(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(INNER_TESTS)
    result = pytester.runpytest("--pinfs-profile", "SEED", "-k", "fixture or fresh")
    result.assert_outcomes(passed=2)
    bad = pytester.runpytest("--pinfs-profile", "v4.6")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*unknown pinfs profile 'v4.6'*"])


def test_the_marker_is_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["*pinfs_profile(profile)*"])


def test_resolve_profile() -> None:
    assert resolve_profile("seed") is pinfs.SEED
    assert resolve_profile("SEED") is pinfs.SEED
    custom = attrs.evolve(pinfs.SEED, refcnt_bits=8)
    assert resolve_profile(custom) is custom
    assert known_profiles()["seed"] is pinfs.SEED
    with pytest.raises(pytest.UsageError, match="unknown pinfs profile"):
        resolve_profile("nope")
    with pytest.raises(TypeError):
        resolve_profile(32)  # type: ignore[arg-type]


def test_kernel_fixture_in_this_suite(kernel: pinfs.Kernel) -> None:
    assert kernel.mounts()[-1].mnt_sb.s_magic == pinfs.BPF_FS_MAGIC


WITHOUT_HYPOTHESIS = textwrap.dedent(
    """
    import importlib.abc
    import sys

    class NoHypothesis(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "hypothesis" or name.startswith("hypothesis."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoHypothesis())

    import pinfs
    import pinfs.testing
    import pinfs.testing.model
    import pinfs.testing.plugin
    import pinfs.testing.runner
    assert "hypothesis" not in sys.modules
    driver = pinfs.testing.runner.Driver.boot()
    driver.map_create(1, 1, 4, 4, 1)
    driver.check()
    for statement in ("from pinfs.testing import PinningMachine",
                      "import pinfs.testing.strategies",
                      "from pinfs.testing import strategies"):
        try:
            exec(statement)
        except ImportError as exc:
            assert "pinfs[test]" in str(exc), exc
        else:
            raise AssertionError(statement + " worked without Hypothesis")
    print("ok")
    """
)


def test_without_hypothesis_pinfs_works_and_the_machine_says_what_to_install() -> None:
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_HYPOTHESIS], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_importing_pinfs_does_not_import_hypothesis() -> None:
    code = "import sys, pinfs; assert 'hypothesis' not in sys.modules, 'imported'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
