"""(e) steps per second of the ``pinfs.testing`` state machine.

``pinfs.testing.PinningMachine`` is a Hypothesis ``RuleBasedStateMachine``.  It is run
with :func:`hypothesis.stateful.run_state_machine_as_test` for a fixed number of
examples and steps (generation phase only, derandomized, no database, no deadline), and
the steps are counted by a subclass: Hypothesis calls ``check_invariants`` once when a
machine starts and once after every rule it runs (``@initialize`` rules included), so
the rules run by one machine are its ``check_invariants`` calls minus one.  The
steps/s figure is the steps divided by the wall time of the whole run, Hypothesis's
data generation included: that is the rate a property-test author sees.
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

    class Counting(base):  # type: ignore[valid-type,misc]
        def __init__(self) -> None:
            counts["machines"] += 1
            super().__init__()

        def check_invariants(self, *args: Any, **kwargs: Any) -> None:
            counts["checks"] += 1
            super().check_invariants(*args, **kwargs)

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
    runs: list[dict[str, float]] = []
    for _ in range(reps):
        counts["machines"] = counts["checks"] = 0
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
        runs.append(
            {
                "seconds": elapsed,
                "machines": counts["machines"],
                "steps": n_steps,
                "steps_per_s": n_steps / elapsed if elapsed > 0 else 0.0,
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
    }
