"""``python -m bench.profile``: where the pinfs side of each benchmark spends its time.

Prints, per loop, the Python function calls per operation and the top functions by
cumulative and by own ("tottime") time under cProfile, with the call counts per
operation, so the hot paths can be read off directly; ``--sampler`` adds a sampling
profile (pyinstrument, from the ``bench`` extra), which does not inflate small calls
the way cProfile does::

    python -m bench.profile                      # cycle, mkdir, create, get1, get16, machine
    python -m bench.profile --loops cycle --iterations 50000 --top 25
    python -m bench.profile --loops cycle --sampler
    python -m bench.profile --dump /tmp/prof     # + raw pstats files /tmp/prof.<loop>

Loops: ``cycle`` (a), ``mkdir`` and ``create`` (b), ``get1`` and ``get16`` (c: OBJ_GET
+ close at depth 1 and 16), ``machine`` (e: the PinningMachine run of the bench, one
operation = one step; Hypothesis's own functions are in the profile too).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
from collections.abc import Callable

from bench import contenders

__all__ = ["main", "profile_loop"]


def _get(depth: int) -> Callable[[], contenders.Contender]:
    def make() -> contenders.Contender:
        shallow, deep = contenders.pinfs_get_depth()
        return shallow if depth == 1 else deep

    return make


LOOPS: dict[str, Callable[[], contenders.Contender]] = {
    "cycle": contenders.pinfs_cycle,
    "mkdir": contenders.pinfs_mkdir,
    "create": contenders.pinfs_create,
    "get1": _get(1),
    "get16": _get(contenders.DEPTH_DIRS),
}
MACHINE = "machine"


def profile_loop(
    name: str, iterations: int, top: int, dump: str | None = None, sampler: bool = False
) -> str:
    """The profile of one loop as text (``iterations`` operations; for ``machine``,
    that many examples)."""
    if name == MACHINE:
        from bench.machine import measure_machine

        measure_machine(2, 50, 1)  # warm-up: imports, Hypothesis's first-run scans
        holder: dict[str, object] = {}

        def work() -> None:
            holder.update(measure_machine(iterations, 50, 1))

        def check() -> None:
            return None
    else:
        c = LOOPS[name]()
        c.timer(200)  # warm-up

        def work() -> None:
            c.timer(iterations)

        check = c.check
    prof = cProfile.Profile()
    prof.enable()
    work()
    prof.disable()
    check()
    ops = iterations
    unit = "op"
    if name == MACHINE:
        runs = holder.get("runs")
        ops = int(runs[0]["steps"]) if isinstance(runs, list) and runs else iterations
        unit = "step"
    if dump:
        prof.dump_stats(f"{dump}.{name}")
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    total_calls = sum(v[1] for v in stats.stats.values())  # type: ignore[attr-defined]
    in_pinfs = sum(
        v[1]
        for k, v in stats.stats.items()  # type: ignore[attr-defined]
        if "/pinfs/" in k[0]
    )
    print(
        f"=== {name}: {ops:,} {unit}s; {total_calls / ops:,.0f} Python calls per {unit} "
        f"({in_pinfs / ops:,.0f} in pinfs); ncalls / {ops:,} = calls per {unit}",
        file=out,
    )
    for key in ("cumulative", "tottime"):
        print(f"--- top {top} by {key}", file=out)
        stats.strip_dirs().sort_stats(key).print_stats(top)
    if sampler:
        out.write(_sampled(name, work))
    return out.getvalue()


def _sampled(name: str, work: Callable[[], None]) -> str:
    """The same work under pyinstrument (a statistical profiler), as a call tree."""
    try:
        from pyinstrument import Profiler
    except ImportError as e:
        return f"--- sampler: pyinstrument is not installed ({e}); pip install -e '.[bench]'\n"
    profiler = Profiler(interval=0.0002)
    profiler.start()
    work()
    profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    return f"--- sampler (pyinstrument, 0.2 ms interval)\n{text}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    ap.add_argument(
        "--loops",
        default=",".join([*LOOPS, MACHINE]),
        help="comma-separated: cycle,mkdir,create,get1,get16,machine",
    )
    ap.add_argument("--iterations", type=int, default=20_000)
    ap.add_argument(
        "--machine-examples", type=int, default=50, help="examples for the machine loop"
    )
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--sampler", action="store_true", help="add a pyinstrument profile")
    ap.add_argument("--dump", metavar="PREFIX", help="also write pstats files PREFIX.<loop>")
    args = ap.parse_args(argv)
    for name in args.loops.split(","):
        name = name.strip()
        n = args.machine_examples if name == MACHINE else args.iterations
        print(profile_loop(name, n, args.top, args.dump, args.sampler))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
