"""The testing kit drives users' code (issue 16, item 2): ``Driver.as_task``, the
``kernel_factory`` fixture, ``--pinfs-profile`` for machines, short reprs."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

import pinfs
from pinfs.base import profiles
from pinfs.testing import DrivenTask, Driver, ModelMismatch, ModelScopeError, _selection
from pinfs.testing.strategies import Mode

pytest_plugins = ["pytester"]
DOC = Path(__file__).parent.parent / "docs" / "testing.md"


def pin_or_reuse(task: pinfs.Task | DrivenTask, path: str) -> int:
    """A libbpf-style loader, written against pinfs.Task only."""
    try:
        return task.obj_get(path)
    except FileNotFoundError:
        fd = task.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
        task.obj_pin(fd, path)
        return fd


def test_a_loader_runs_on_a_driven_task_and_the_model_follows() -> None:
    driver = Driver.boot()
    loader = driver.as_task(driver.spawn(uid=0))
    fd = pin_or_reuse(loader, "/sys/fs/bpf/counters")
    loader.map_update_elem(fd, b"\1\0\0\0", b"\2" * 8)
    driver.check()
    loader.exit()
    again = driver.as_task(driver.spawn(uid=0))
    fd = pin_or_reuse(again, "/sys/fs/bpf/counters")  # reused: the pin held the map
    assert again.map_lookup_elem(fd, b"\1\0\0\0") == b"\2" * 8
    assert [o.refcnt for o in driver.kernel.objects()] == [2]
    driver.check()


def test_a_call_that_bypasses_the_driver_is_named_in_the_mismatch() -> None:
    driver = Driver.boot()
    pin_or_reuse(driver.task(1), "/sys/fs/bpf/counters")  # the raw Task: model not told
    with pytest.raises(ModelMismatch, match=r"driver\.as_task\(pid\)"):
        driver.check()


def test_reads_pass_through_and_unfollowed_calls_say_so() -> None:
    driver = Driver.boot()
    task = driver.as_task(1)
    assert "b" in task.listdir("/tmp")
    assert task.pid == 1 and task.mem is driver.task(1).mem
    with pytest.raises(ModelScopeError, match=r"Task\.symlink is not followed"):
        task.symlink("/sys/fs/bpf", "/tmp/l")
    with pytest.raises(ModelScopeError, match="tmpfs"):
        task.mount("tmpfs", "/tmp/b", "tmpfs")
    with pytest.raises(AttributeError):
        task.no_such_call  # noqa: B018
    assert repr(task) == "<DrivenTask pid=1>"


def test_a_driven_fork_is_driven_too() -> None:
    driver = Driver.boot()
    child = driver.as_task(1).fork()
    assert isinstance(child, DrivenTask)
    fd = child.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    child.close(fd)
    driver.check()


def test_as_task_of_a_missing_pid_is_esrch() -> None:
    with pytest.raises(ProcessLookupError):
        Driver.boot().as_task(99)


def test_the_first_example_of_docs_testing_runs_as_written(pytester: pytest.Pytester) -> None:
    first = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert first is not None and "kernel_factory" in first[1]
    pytester.makepyfile(test_doc_example=first[1])
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)


def test_the_driver_example_of_docs_testing_runs_as_written() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    example = next(b for b in blocks if "as_task" in b)
    exec(compile(example, str(DOC), "exec"), {})


def test_the_profile_option_reaches_machines_without_a_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pinfs.testing import PinningMachine

    monkeypatch.setattr(_selection, "selected_profile", profiles.LINUX_6_18)
    assert PinningMachine().kernel.profile is profiles.LINUX_6_18

    class Pinned(PinningMachine):
        profile = profiles.LINUX_4_4

    assert Pinned().kernel.profile is profiles.LINUX_4_4


def test_falsifying_examples_print_short_profiles_and_octal_modes() -> None:
    assert repr(profiles.LINUX_6_18) == "LINUX_6_18"
    assert repr(profiles.SEED) == "SEED"
    changed = attrs.evolve(profiles.SEED, instance_per_mount=True)
    assert repr(changed) == "attrs.evolve(SEED, instance_per_mount=True)"
    assert eval(repr(changed), {"attrs": attrs, "SEED": profiles.SEED}) == changed
    assert repr(Mode(0o22)) == "0o022" and Mode(0o22) == 18
