"""How fast the default machine runs: ``python -m pinfs.testing.bench [examples]``.

Counts the steps (rule calls) of :class:`~pinfs.testing.PinningMachine` over a
derandomised run and prints steps per second, with and without the checks, and (with
``--profile``) where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from typing import ClassVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from pinfs.testing.stateful import PinningMachine

__all__ = ["measure"]


class _Counted(PinningMachine):
    steps: ClassVar[int] = 0
    checks: ClassVar[bool] = True

    def check_kernel(self) -> None:
        type(self).steps += 1
        if self.checks:
            super().check_kernel()

    def check_model(self) -> None:
        if self.checks:
            super().check_model()


def measure(examples: int = 200, steps: int = 50, checks: bool = True) -> tuple[int, float]:
    """(steps run, seconds) for ``examples`` derandomised runs of the default machine;
    ``checks=False`` skips the invariant and model checks (the rules alone)."""
    _Counted.steps = 0
    _Counted.checks = checks
    budget = settings(
        max_examples=examples,
        stateful_step_count=steps,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )
    start = time.perf_counter()
    run_state_machine_as_test(_Counted, settings=budget)
    return _Counted.steps, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("examples", type=int, nargs="?", default=200)
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    args = parser.parse_args()
    for checks in (True, False):
        n, seconds = measure(args.examples, checks=checks)
        label = "with checks" if checks else "rules only "
        print(f"{label}: {n} steps in {seconds:.2f} s = {n / seconds:,.0f} steps/s")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(measure, args.examples)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
