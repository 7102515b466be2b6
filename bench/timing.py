"""Interleaved repetitions and medians.

A contender is a :data:`Timer`: ``timer(n)`` runs ``n`` iterations of its loop and
returns the elapsed seconds *measured around the loop only* (a live-kernel timer
measures inside the sandbox and sends back the number, so the IPC is not counted).

:func:`interleave` calibrates ``n`` per contender so that one repetition lasts about
``rep_seconds``, then runs ``reps`` rounds; every round runs each contender once, in an
order rotated from round to round, so slow drifts of the machine (frequency scaling, a
noisy neighbour) hit every contender alike.  The figures reported are medians over
the rounds.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Mapping

Timer = Callable[[int], float]

__all__ = ["Series", "Timer", "interleave", "median_ratio"]


@dataclasses.dataclass
class Series:
    """The repetitions of one contender: ``n`` iterations each, ops/s per round."""

    name: str
    n: int
    ops_per_s: list[float] = dataclasses.field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.ops_per_s)

    @property
    def us_per_op(self) -> float:
        return 1e6 / self.median

    def to_json(self) -> dict[str, object]:
        return {
            "n_per_rep": self.n,
            "reps": len(self.ops_per_s),
            "ops_per_s_median": self.median,
            "us_per_op_median": self.us_per_op,
            "ops_per_s_min": min(self.ops_per_s),
            "ops_per_s_max": max(self.ops_per_s),
            "ops_per_s": self.ops_per_s,
        }


def calibrate(timer: Timer, rep_seconds: float, max_n: int = 10_000_000) -> int:
    """The iteration count that makes one call of ``timer`` last about ``rep_seconds``
    (the calibration calls double as warm-up)."""
    n = 1
    while True:
        elapsed = timer(n)
        if elapsed >= rep_seconds / 4 or n >= max_n:
            break
        n *= 4 if elapsed < rep_seconds / 64 else 2
    if elapsed <= 0:
        return n
    return max(1, min(max_n, round(n * rep_seconds / elapsed)))


def interleave(timers: Mapping[str, Timer], reps: int, rep_seconds: float) -> dict[str, Series]:
    """Calibrate every contender, then run ``reps`` interleaved rounds."""
    series = {name: Series(name, calibrate(t, rep_seconds)) for name, t in timers.items()}
    names = list(timers)
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            s = series[name]
            elapsed = max(timers[name](s.n), 1e-9)  # a clock too coarse for n: not inf
            s.ops_per_s.append(s.n / elapsed)
    return series


def median_ratio(a: Series, b: Series) -> float:
    """``median(a) / median(b)`` in ops/s (how many times faster ``a`` is)."""
    return a.median / b.median
