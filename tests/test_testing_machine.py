"""pinfs.testing.PinningMachine: the default machine under every kernel profile with a
fixed budget (derandomised by the suite's Hypothesis profile), the worked example of
docs/testing.md (a loader whose pins must survive its exit), the subclassing hooks, and
the machine's speed (printed; see docs/testing.md)."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule, run_state_machine_as_test

import pinfs
from pinfs.base import profiles
from pinfs.testing import Driver, PinningMachine, RefModel
from pinfs.testing.bench import measure
from pinfs.testing.stateful import counterexample
from support import budget

BUDGET = settings(
    max_examples=budget(60),
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PRESETS = [
    getattr(profiles, name) for name in ("LINUX_4_4", "LINUX_4_7", "LINUX_5_10", "LINUX_6_18")
]

TestPinningMachine = PinningMachine.TestCase
TestPinningMachine.settings = BUDGET


@pytest.mark.parametrize("profile", PRESETS, ids=lambda p: p.name)
def test_the_machine_under_each_kernel_profile(profile: pinfs.Profile) -> None:
    machine = type(f"Machine_{profile.name}", (PinningMachine,), {"profile": profile})
    run_state_machine_as_test(machine, settings=settings(BUDGET, max_examples=budget(20)))


# ---------------------------------------------------------------------------------------
# The worked example of docs/testing.md

NAMES = ("counters", "config")


class LoaderMachine(PinningMachine):
    """A loader pins its maps by name and exits; a restarted loader (same user) must
    get the same maps back, for as long as the pins are there."""

    def setup_world(self) -> None:
        super().setup_world()
        self.pinned: dict[str, tuple[int, int]] = {}  # path -> (uid, map id)

    @rule(uid=st.sampled_from([0, 1000]), name=st.sampled_from(NAMES))
    def loader_runs(self, uid: int, name: str) -> None:
        """A loader process: create a hash map, pin it as /sys/fs/bpf/<name>, exit."""
        spawned = self.run("spawn", uid=uid)
        if spawned.errno is not None:  # init gave up root: it cannot start loaders
            return
        pid, path = spawned.result, f"/sys/fs/bpf/{name}"
        fd = self.run("map_create", pid=pid, map_type=1, key_size=4, value_size=8, max_entries=4)
        if fd.errno is None and self.run("obj_pin", pid=pid, fd=fd.result, path=path).errno is None:
            self.pinned[path] = (uid, self.kernel.tasks[pid].fd_object(fd.result).id)  # type: ignore[attr-defined]
        self.run("exit", pid=pid)

    @rule(name=st.sampled_from(NAMES))
    def loader_restarts(self, name: str) -> None:
        """A new loader (the same user) OBJ_GETs what the last one pinned."""
        path = f"/sys/fs/bpf/{name}"
        if path not in self.pinned:
            return
        uid, map_id = self.pinned[path]
        spawned = self.run("spawn", uid=uid)
        if spawned.errno is not None:
            return
        pid = spawned.result
        still_pinned = self.model.pinned_at(pid, path) == map_id
        got = self.run("obj_get", pid=pid, path=path)
        if still_pinned:  # not unlinked, not gone with its bpffs, not hidden by a mount
            assert got.errno is None, f"OBJ_GET {path}: errno {got.errno}"
            assert self.kernel.tasks[pid].fd_object(got.result).id == map_id  # type: ignore[attr-defined]
        self.run("exit", pid=pid)

    @invariant()
    def loader_maps_outlive_the_loader(self) -> None:
        """Every map the loader pinned is alive while its pin is."""
        alive = {info.id for info in self.kernel.objects()}
        pinned = self.model.pinned_ids()
        for _, map_id in self.pinned.values():
            assert map_id not in pinned or map_id in alive


TestLoaderMachine = LoaderMachine.TestCase
TestLoaderMachine.settings = settings(BUDGET, max_examples=budget(40))


# ---------------------------------------------------------------------------------------
# Hooks


class NarrowMachine(PinningMachine):
    profile = attrs.evolve(pinfs.SEED, refcnt_bits=16)


def test_the_profile_attribute_picks_the_kernel() -> None:
    machine = NarrowMachine()
    assert machine.kernel.profile.refcnt_bits == 16
    assert machine.kernel.init_task.statfs("/sys/fs/bpf").f_type == pinfs.BPF_FS_MAGIC
    machine.invariants_hold()


def test_make_kernel_and_make_model_hooks() -> None:
    made: list[str] = []

    class Hooked(PinningMachine):
        def make_kernel(self) -> pinfs.Kernel:
            made.append("kernel")
            return pinfs.Kernel(profiles.LINUX_4_4)

        def make_model(self) -> RefModel:
            made.append("model")
            return super().make_model()

    machine = Hooked()
    assert made == ["kernel", "model"]
    assert machine.model.flush_on_last_uref
    assert isinstance(machine.driver, Driver)


class Explodes(PinningMachine):
    """A rule that fails with something other than an errno in every run: an
    initialize rule runs once at the start of each example, so the failure does not
    depend on which rules a random run happens to draw."""

    @initialize()
    def explode(self) -> None:
        raise RuntimeError("a bug in a rule is not an errno")


def test_exceptions_other_than_errnos_fail_the_run() -> None:
    quick = settings(
        BUDGET,
        max_examples=budget(20),
        database=None,
        phases=[Phase.generate, Phase.shrink],
        report_multiple_bugs=False,
    )
    with pytest.raises(RuntimeError, match="not an errno") as info:
        run_state_machine_as_test(Explodes, settings=quick)
    assert "state.explode()" in counterexample(info.value)


def test_the_machine_reports_its_speed() -> None:
    steps, seconds = measure(examples=20)
    print(f"\nPinningMachine: {steps} steps in {seconds:.2f} s = {steps / seconds:,.0f} steps/s")
    assert steps > 0
