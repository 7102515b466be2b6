"""The seed era's refcount bugs, found by the state machine from a fresh start.

Each search runs :class:`pinfs.testing.PinningMachine` (plus one rule or invariant, as
a user's subclass would add) under the seed profile with no example database, asserts
that Hypothesis reports the failure, prints the shrunk counterexample and replays it by
``exec``; the same machine under the fixed setting finds nothing in its budget.

* S95 (c9da161c6517): at the seed every release of a PROG_ARRAY's file empties the
  array, so a pinned tail-call table loses its programs when its loader closes the fd.
* CVE-2016-4558 (92117d8443bc): ``refcnt`` is an unchecked ``atomic_t``; with the width
  turned down to 8 bits, 256 references wrap it, and a put then frees a reachable map.
"""

from __future__ import annotations

import errno
import time
from typing import ClassVar

import attrs
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

import pinfs
import pinfs.testing
from pinfs.machine.invariants import InvariantError
from pinfs.testing import FdRef, ModelMismatch, PinningMachine, RefModel
from pinfs.testing.model import kernel_slots
from pinfs.testing.stateful import counterexample
from support import budget

#: The search: no database (a fresh start), no explain phase (it costs more than the
#: search), one report.  It stops at the first failure, so the ceiling rarely matters.
SEARCH = settings(
    max_examples=2000,
    stateful_step_count=20,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
#: Under the fixed setting the same machine must find nothing in this many runs.
FIXED = settings(SEARCH, max_examples=budget(200))

USERCNT = attrs.evolve(pinfs.SEED, prog_array_flush_on_last_uref=True)
NARROW = attrs.evolve(pinfs.SEED, refcnt_bits=8)
NARROW_LIMITED = attrs.evolve(pinfs.SEED, refcnt_bits=8, refcnt_limit=127)


def find(machine: type[RuleBasedStateMachine]) -> tuple[AssertionError, str]:
    """Run ``machine`` until Hypothesis reports a failure; print and replay the shrunk
    counterexample."""
    start = time.perf_counter()
    try:
        run_state_machine_as_test(machine, settings=SEARCH)
    except AssertionError as exc:
        elapsed = time.perf_counter() - start
        program = counterexample(exc)
        print(f"\n{machine.__name__}: found and shrunk in {elapsed:.1f} s\n{exc}\n{program}")
        replay(machine, program, type(exc))
        return exc, program
    pytest.fail(f"Hypothesis found no counterexample for {machine.__name__}")


def replay(machine: type[RuleBasedStateMachine], program: str, error: type[BaseException]) -> None:
    """The printed program, pasted into a namespace with the documented imports,
    fails the same way."""
    namespace = {name: getattr(pinfs.testing, name) for name in pinfs.testing.__all__}
    namespace[machine.__name__] = machine
    with pytest.raises(error):
        exec(program, namespace)


# ---------------------------------------------------------------------------------------
# S95: a pinned PROG_ARRAY is emptied when its fd is closed


class PinnedProgArrayMachine(PinningMachine):
    """Property: a pinned PROG_ARRAY keeps its entries after every fd is closed.

    The reference model is given c9da161c6517's rule (the array empties only when its
    last fd *and* pin are gone), which is what a loader expects; the check compares the
    slots of every pinned prog array with the kernel's."""

    def make_model(self) -> RefModel:
        return RefModel(flush_prog_array_on_last_uref=True)

    def check_model(self) -> None:
        pinned = self.model.pinned_ids()
        actual = kernel_slots(self.kernel)
        for map_id, expected in self.model.prog_array_slots().items():
            if map_id in pinned and actual.get(map_id, {}) != expected:
                raise ModelMismatch(
                    f"pinned prog_array {map_id} lost its entries: kernel slots "
                    f"{actual.get(map_id, {})}, expected {expected}"
                )


class PinnedProgArrayMachineUsercnt(PinnedProgArrayMachine):
    profile = USERCNT


def test_s95_a_pinned_prog_array_loses_its_entries_at_the_seed() -> None:
    exc, program = find(PinnedProgArrayMachine)
    assert isinstance(exc, ModelMismatch)
    assert "lost its entries" in str(exc)
    assert "tail_call_array" in program or "prog_array_update" in program


def test_s95_fixed_by_usercnt_pinned_prog_arrays_keep_their_entries() -> None:
    run_state_machine_as_test(PinnedProgArrayMachineUsercnt, settings=FIXED)


# ---------------------------------------------------------------------------------------
# CVE-2016-4558: the reference count wraps


class ManyReferencesMachine(PinningMachine):
    """The default machine plus a rule that takes many references at once, with the
    counter narrowed to 8 bits (as the profile allows for teaching)."""

    profile: ClassVar[pinfs.Profile] = NARROW

    @rule(fd=PinningMachine.map_fds, n=st.sampled_from((1, 8, 64, 256)))
    def obj_get_many(self, fd: FdRef, n: int) -> None:
        """Pin the map at /sys/fs/bpf/many (if free) and OBJ_GET it ``n`` times; the fds
        stay open (close-on-exec: execve or exit drops them all at once)."""
        self.run("obj_pin", pid=fd.pid, fd=fd.fd, path="/sys/fs/bpf/many")
        for _ in range(n):
            if self.run("obj_get", pid=fd.pid, path="/sys/fs/bpf/many").errno is not None:
                break


class UseAfterFreeMachine(ManyReferencesMachine):
    """Only what a user suffers: an object freed while something still holds it (the
    kernel's use-after-free reports, and objects the model holds that the kernel freed)."""

    def check_kernel(self) -> None:
        bugs = self.kernel.bugs
        if bugs:
            raise InvariantError(f"{len(bugs)} use-after-free report(s), the first: {bugs[0]}")

    def check_model(self) -> None:
        freed = self.model.freed_while_held(self.kernel)
        if freed:
            raise ModelMismatch(f"objects {freed} were freed while still held")


class ManyReferencesLimited(ManyReferencesMachine):
    profile = NARROW_LIMITED


class UseAfterFreeLimited(UseAfterFreeMachine):
    profile = NARROW_LIMITED


def test_cve_2016_4558_the_refcount_wraps_and_check_invariants_says_so() -> None:
    exc, program = find(ManyReferencesMachine)
    assert isinstance(exc, (InvariantError, ModelMismatch))
    assert "refcnt" in str(exc)
    assert "obj_get_many" in program


def test_cve_2016_4558_the_wrapped_count_frees_a_reachable_map() -> None:
    exc, program = find(UseAfterFreeMachine)
    assert "use-after-free" in str(exc) or "freed while still held" in str(exc)
    assert "obj_get_many" in program


@pytest.mark.parametrize("machine", [ManyReferencesLimited, UseAfterFreeLimited])
def test_cve_2016_4558_fixed_by_a_limit_nothing_wraps(machine: type[PinningMachine]) -> None:
    run_state_machine_as_test(machine, settings=FIXED)


def test_the_limit_refuses_the_reference_beyond_it_with_ebusy() -> None:
    k = pinfs.Kernel(NARROW_LIMITED)
    t = k.init_task
    t.mount("bpf", "/sys/fs/bpf", "bpf")
    fd = t.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 4, 1)
    t.obj_pin(fd, "/sys/fs/bpf/m")
    for _ in range(125):
        t.obj_get("/sys/fs/bpf/m")
    assert k.objects()[0].refcnt == 127
    with pytest.raises(OSError) as info:
        t.obj_get("/sys/fs/bpf/m")
    assert info.value.errno == errno.EBUSY
    k.check_invariants()
