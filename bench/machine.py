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
"""

from __future__ import annotations

import importlib
import statistics
import time
from typing import Any

__all__ = ["measure_machine"]


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
        from hypothesis import HealthCheck, Phase, settings
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

    conf = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
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
