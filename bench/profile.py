"""``python -m bench.profile``: cProfile of the pinfs loops of (a) and (b).

Prints, per loop, the top functions by cumulative and by own ("tottime") time, with
the call counts per iteration, so the hot paths can be read off directly::

    python -m bench.profile               # cycle, mkdir, create; 20,000 iterations each
    python -m bench.profile --loops cycle --iterations 50000 --top 25
    python -m bench.profile --dump /tmp/cycle.prof   # + raw pstats files
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
from collections.abc import Callable

from bench import contenders

__all__ = ["main", "profile_loop"]

LOOPS: dict[str, Callable[[], contenders.Contender]] = {
    "cycle": contenders.pinfs_cycle,
    "mkdir": contenders.pinfs_mkdir,
    "create": contenders.pinfs_create,
}


def profile_loop(name: str, iterations: int, top: int, dump: str | None = None) -> str:
    c = LOOPS[name]()
    c.timer(200)  # warm-up
    prof = cProfile.Profile()
    prof.enable()
    c.timer(iterations)
    prof.disable()
    c.check()
    if dump:
        prof.dump_stats(f"{dump}.{name}")
    out = io.StringIO()
    print(
        f"=== {name}: {iterations:,} iterations (ncalls / {iterations:,} = calls per op)", file=out
    )
    for key in ("cumulative", "tottime"):
        print(f"--- top {top} by {key}", file=out)
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats(key).print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    ap.add_argument("--loops", default=",".join(LOOPS), help="comma-separated: cycle,mkdir,create")
    ap.add_argument("--iterations", type=int, default=20_000)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--dump", metavar="PREFIX", help="also write pstats files PREFIX.<loop>")
    args = ap.parse_args(argv)
    for name in args.loops.split(","):
        print(profile_loop(name.strip(), args.iterations, args.top, args.dump))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
