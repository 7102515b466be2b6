"""(e) steps per second of the ``pinfs.testing`` state machine.

``pinfs.testing.PinningMachine`` is a Hypothesis ``RuleBasedStateMachine``.  It is run
with :func:`hypothesis.stateful.run_state_machine_as_test` for a fixed number of
examples and steps (generation phase only, derandomized, no database, no deadline), and
the steps are counted by a subclass: Hypothesis calls ``check_invariants`` once when a
machine starts and once after every rule it runs (``@initialize`` rules included), so
the rules run by one machine are its ``check_invariants`` calls minus one.  The
steps/s figure is the steps divided by the wall time of the whole run, Hypothesis's
data generation included: that is the rate a property-test author sees.

The same subclass also times what pinfs does inside that wall time: the machine's
syscalls (``run``), ``check_kernel`` (``kernel.check_invariants()``), ``check_model``
(the reference model against ``kernel.objects()``) and building each machine's kernel
and world.  The rest is Hypothesis (choosing rules, drawing arguments, its engine) and
the rule bodies' own Python, so ``pinfs_seconds`` bounds what pinfs can still win.

``python -m bench.machine`` measures the floor under that rest, in CPU time
(:func:`measure_floor`): the same run with every rule body emptied, and a machine
with as many rules and nothing else.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
import zlib
from collections import Counter
from typing import Any

__all__ = ["measure_floor", "measure_machine"]


def measure_machine(examples: int, steps: int, reps: int) -> dict[str, Any]:
    """``{"status": "ok", ...}``, or ``{"status": "skipped"|"failed", "reason": ...}``."""
    try:
        testing = importlib.import_module("pinfs.testing")
        base = getattr(testing, "PinningMachine", None)  # may import lazily, and fail
    except Exception as e:  # ImportError, or a half-written package
        return {
            "status": "skipped",
            "reason": f"pinfs.testing not available ({type(e).__name__}: {e})",
        }
    if base is None:
        return {
            "status": "skipped",
            "reason": "pinfs.testing not available (it has no PinningMachine yet)",
        }
    try:
        from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test
    except ImportError as e:
        return {"status": "skipped", "reason": f"hypothesis is not installed ({e})"}
    if not (isinstance(base, type) and issubclass(base, RuleBasedStateMachine)):
        return {"status": "skipped", "reason": "PinningMachine is not a RuleBasedStateMachine"}

    counts = {"machines": 0, "checks": 0}
    spent = dict.fromkeys(("run", "check_kernel", "check_model", "init"), 0.0)

    class Counting(base):  # type: ignore[valid-type,misc]
        def __init__(self) -> None:
            counts["machines"] += 1
            start = time.perf_counter()
            super().__init__()
            spent["init"] += time.perf_counter() - start

        def check_invariants(self, *args: Any, **kwargs: Any) -> None:
            counts["checks"] += 1
            super().check_invariants(*args, **kwargs)

        def run(self, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return super().run(*args, **kwargs)
            finally:
                spent["run"] += time.perf_counter() - start

        def check_kernel(self) -> None:
            start = time.perf_counter()
            try:
                super().check_kernel()
            finally:
                spent["check_kernel"] += time.perf_counter() - start

        def check_model(self) -> None:
            start = time.perf_counter()
            try:
                super().check_model()
            finally:
                spent["check_model"] += time.perf_counter() - start

    Counting.__name__ = Counting.__qualname__ = base.__name__

    conf = _settings(examples, steps)
    runs: list[dict[str, Any]] = []
    for _ in range(reps):
        counts["machines"] = counts["checks"] = 0
        spent.update(dict.fromkeys(spent, 0.0))
        start = time.perf_counter()
        try:
            run_state_machine_as_test(Counting, settings=conf)
        except Exception as e:  # a failing example: no figure, but say why
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            return {
                "status": "failed",
                "reason": f"the state machine run failed: {type(e).__name__}: {first}",
            }
        elapsed = time.perf_counter() - start
        n_steps = counts["checks"] - counts["machines"]
        in_pinfs = sum(spent.values())
        runs.append(
            {
                "seconds": elapsed,
                "machines": counts["machines"],
                "steps": n_steps,
                "steps_per_s": n_steps / elapsed if elapsed > 0 else 0.0,
                "pinfs_seconds": in_pinfs,
                "pinfs_us_per_step": {
                    k: v / n_steps * 1e6 if n_steps else 0.0 for k, v in spent.items()
                },
                "other_us_per_step": (elapsed - in_pinfs) / n_steps * 1e6 if n_steps else 0.0,
            }
        )
    rates = [r["steps_per_s"] for r in runs]
    return {
        "status": "ok",
        "machine": f"{base.__module__}.{base.__qualname__}",
        "examples": examples,
        "stateful_step_count": steps,
        "runs": runs,
        "steps_per_s_median": statistics.median(rates),
        "pinfs_share_median": statistics.median(r["pinfs_seconds"] / r["seconds"] for r in runs),
        "other_us_per_step_median": statistics.median(r["other_us_per_step"] for r in runs),
    }


# ---------------------------------------------------------------------------------------
# The floor: what Hypothesis costs per step when pinfs costs nothing


def _settings(examples: int, steps: int) -> Any:
    from hypothesis import HealthCheck, Phase, settings

    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


def _rules_of(base: type, body_for: Any) -> dict[str, Any]:
    """``base``'s rules and initialize rules (same targets, arguments, strategies and
    preconditions), each body made by ``body_for(rule, initialize)``, as class members
    named ``_rule_<name>`` (the rule keeps its name; a rule body that calls another rule's
    method, as ``fork_in`` calls ``fork``, still finds the method)."""
    from hypothesis import stateful as hs

    state = base.setup_state()
    members: dict[str, Any] = {}
    for marker, rules in (
        (hs.RULE_MARKER, state.rules),
        (hs.INITIALIZE_RULE_MARKER, state.initializers),
    ):
        for r in rules:
            body = body_for(r, marker == hs.INITIALIZE_RULE_MARKER)
            body.__name__ = r.function.__name__
            setattr(body, marker, hs.Rule(r.targets, body, r.arguments, r.preconditions))
            members[r.function.__name__] = r.function  # the plain method
            members["_rule_" + r.function.__name__] = body
    return members


def _rule_rates(base: type, name: str, examples: int, steps: int) -> tuple[dict[str, float], float]:
    """Per rule, how often the real run's body returned a value for its bundle (for a
    rule that consumes, leaving out the calls that drew an @initialize rule's value:
    init never exits); and the run's CPU microseconds per step.  ``name`` is the
    class name, which seeds the derandomized run."""
    from hypothesis.stateful import MultipleResults, run_state_machine_as_test

    calls: Counter[str] = Counter()
    filled: Counter[str] = Counter()
    state = base.setup_state()
    inits = {r.function.__name__ for r in state.initializers}
    seeded: list[Any] = []  # what the @initialize rules returned

    def body_for(r: Any, initialize: bool) -> Any:
        rule_name = r.function.__name__
        consumed = [k for k, v in r.arguments.items() if getattr(v, "consume", False)]

        def body(self: Any, **kwargs: Any) -> Any:
            result = r.function(self, **kwargs)
            if initialize:
                seeded.append(result)
            if initialize or (consumed and kwargs[consumed[0]] in seeded):
                return result
            calls[rule_name] += 1
            if not isinstance(result, MultipleResults) or result.values:
                filled[rule_name] += 1
            return result

        return body

    counted = type(name, (base,), _rules_of(base, body_for))
    n_steps = Counter[str]()

    class Counted(counted):  # type: ignore[valid-type,misc]
        def check_invariants(self, *args: Any, **kwargs: Any) -> None:
            n_steps["checks"] += 1
            super().check_invariants(*args, **kwargs)

        def __init__(self) -> None:
            n_steps["machines"] += 1
            super().__init__()

    Counted.__name__ = Counted.__qualname__ = name
    start = time.process_time()
    run_state_machine_as_test(Counted, settings=_settings(examples, steps))
    seconds = time.process_time() - start
    steps_run = n_steps["checks"] - n_steps["machines"] * (1 + len(inits))
    return {k: filled[k] / n for k, n in calls.items()}, seconds / steps_run * 1e6


def _floor_machine(base: type, name: str, rates: dict[str, float]) -> type:
    """``base``'s rules with bodies that only keep the bundles: a rule with a target
    returns a new value as often as the real rule did (a deterministic coin, so
    Hypothesis sees the same draws when it replays), a rule that consumes from its
    own target returns the consumed value just as often (an @initialize rule's value
    always)."""
    from hypothesis import stateful as hs

    def body_for(r: Any, initialize: bool) -> Any:
        rate = rates.get(r.function.__name__, 0.0)
        consumed = [k for k, v in r.arguments.items() if getattr(v, "consume", False)]

        def body(self: Any, **kwargs: Any) -> Any:
            if initialize:
                return 0
            self.steps[0] += 1
            if not r.targets:
                return None
            if consumed:
                value = kwargs[consumed[0]]
                return hs.multiple(value) if value == 0 or self.coin() < rate else hs.multiple()
            self.made += 1
            return hs.multiple(self.made) if self.coin() < rate else hs.multiple()

        return body

    def __init__(self: Any) -> None:
        hs.RuleBasedStateMachine.__init__(self)
        self.made, self.flips = 0, 0

    def coin(self: Any) -> float:
        self.flips += 1
        return zlib.crc32(b"%d" % self.flips) % 1000 / 1000

    members = {k: v for k, v in vars(base).items() if isinstance(v, hs.Bundle)}
    members.update(_rules_of(base, body_for))
    members.update(__init__=__init__, coin=coin, steps=[0])
    members["nothing_to_check"] = hs.invariant()(lambda self: None)  # as base has one
    return type(name, (hs.RuleBasedStateMachine,), members)


def _trivial_machine(name: str, n_rules: int) -> type:
    """``n_rules`` rules without arguments, bundles or bodies (and one invariant)."""
    from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

    steps = [0]

    def make_body(rule_name: str) -> Any:
        def body(self: Any) -> None:
            steps[0] += 1

        body.__name__ = rule_name  # a rule's name is its feature flag: one each
        return body

    members: dict[str, Any] = {"nothing_to_check": invariant()(lambda self: None)}
    for i in range(n_rules):
        members[f"rule_{i:02d}"] = rule()(make_body(f"rule_{i:02d}"))
    members["steps"] = steps
    return type(name, (RuleBasedStateMachine,), members)


def _cpu_us_per_step(machine: Any, examples: int, steps: int) -> float:
    from hypothesis.stateful import run_state_machine_as_test

    machine.steps[0] = 0
    start = time.process_time()
    run_state_machine_as_test(machine, settings=_settings(examples, steps))
    return (time.process_time() - start) / machine.steps[0] * 1e6


def measure_floor(
    examples: int = 50, steps: int = 50, reps: int = 3, seeds: int = 5
) -> dict[str, Any]:
    """CPU microseconds per step of the real machine, of its floor
    (:func:`_floor_machine`: Hypothesis and the bundle bookkeeping, nothing of pinfs)
    and of a machine with as many rules and nothing else: per seed (the class name
    seeds a derandomized run; the first is the bench's own) the minimum of ``reps``
    runs, then the median over ``seeds`` seeds, since one seed's rule choices can
    make a run twice as dear as another's.  A step is a rule run; the @initialize
    steps, which :func:`measure_machine` counts too, are not counted."""
    from pinfs.testing import PinningMachine

    base: type = PinningMachine
    n_rules = len(base.setup_state().rules)
    per_seed = []
    for seed in range(seeds):
        name = base.__name__ if seed == 0 else f"{base.__name__}{seed}"
        runs = [_rule_rates(base, name, examples, steps) for _ in range(reps)]
        rates = runs[0][0]
        floor = _floor_machine(base, name, rates)
        trivial = _trivial_machine(name, n_rules)
        per_seed.append(
            {
                "name": name,
                "real": min(us for _, us in runs),
                "floor": min(_cpu_us_per_step(floor, examples, steps) for _ in range(reps)),
                "trivial": min(_cpu_us_per_step(trivial, examples, steps) for _ in range(reps)),
            }
        )
    return {
        "rules": n_rules,
        "per_seed": per_seed,
        **{
            f"{kind}_us_per_step": statistics.median(s[kind] for s in per_seed)
            for kind in ("real", "floor", "trivial")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="The floor of benchmark (e), in CPU time.")
    parser.add_argument("--examples", type=int, default=50)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--reps", type=int, default=3, help="runs per seed (the minimum counts)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds (the median counts)")
    args = parser.parse_args()
    out = measure_floor(args.examples, args.steps, args.reps, args.seeds)
    labels = {
        "real": "PinningMachine",
        "floor": "its rules, bundles and strategies, bodies empty",
        "trivial": f"{out['rules']} rules without arguments or bodies",
    }
    runs = f"{args.reps} runs of {args.examples} examples x <= {args.steps} steps"
    print(f"CPU us per step, median over {args.seeds} seeds of the minimum of {runs}:")
    for kind, label in labels.items():
        us = out[f"{kind}_us_per_step"]
        seeds = ", ".join(f"{s[kind]:.0f}" for s in out["per_seed"])
        print(f"  {label:48} {us:6.1f} ({1e6 / us:,.0f} steps/s)  seeds: {seeds}")


if __name__ == "__main__":
    main()
