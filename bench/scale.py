"""(d) scale: N pins of one map, in one directory or in a 3-level fan-out.

Run by :mod:`bench.run` as ``python -m bench.scale --n N --layout flat|fanout`` in a
fresh interpreter per layout, so the resident-set figures of one layout are not
blurred by memory the other freed; it prints one JSON object on stdout.

* ``flat``: ``/sys/fs/bpf/big/p0 .. p{N-1}``;
* ``fanout``: ``/sys/fs/bpf/big/a{i}/b{j}/p{k}`` with ``a x b x c = N`` (100 x 100 x 100
  for 1,000,000; 100 x 100 x 10 for 100,000; 10 x 10 x 10 for 1,000).

Every pin is ``task.obj_pin(fd, path)`` of the same ARRAY map fd (its refcnt grows by
one per pin).  Measured:

* ``build_s``: the wall time of the N pins (and, for the fan-out, the mkdirs);
* ``rss_*``: the resident set (``/proc/self/statm``) before and after the build, and
  ``ru_maxrss``; ``rss_per_pin_bytes`` is the growth divided by N;
* ``tracemalloc_per_pin_bytes``: bytes allocated per pin (directories included) by the
  same build of ``--trace-n`` pins in a fresh kernel under :mod:`tracemalloc`;
* OBJ_GET + close of a random sample of pins of a 1,000-pin tree and of the N-pin tree
  (same layout, same kernel), interleaved; ``get_ratio`` = N-tree us / 1k-tree us.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Iterator

import pinfs
from bench.timing import Timer, interleave

__all__ = ["fanout_shape", "main", "pin_paths"]

SMALL_N = 1000


def fanout_shape(n: int) -> tuple[int, int, int]:
    """(a, b, c) with a * b * c == n (c >= 1); a = b <= 100."""
    a = max(1, min(100, math.isqrt(n // 10)))
    while n % (a * a):
        a -= 1
    return a, a, n // (a * a)


def pin_paths(root: str, n: int, layout: str) -> Iterator[tuple[str | None, str]]:
    """(directory to create first or None, pin path) for every pin, in build order."""
    if layout == "flat":
        for i in range(n):
            yield None, f"{root}/p{i}"
        return
    a, b, c = fanout_shape(n)
    for i in range(a):
        for j in range(b):
            d = f"{root}/a{i}/b{j}"
            for k in range(c):
                yield (d if k == 0 else None), f"{d}/p{k}"


def path_of(root: str, n: int, layout: str, index: int) -> str:
    if layout == "flat":
        return f"{root}/p{index}"
    _, b, c = fanout_shape(n)
    i, rest = divmod(index, b * c)
    j, k = divmod(rest, c)
    return f"{root}/a{i}/b{j}/p{k}"


def build(t: pinfs.Task, fd: int, root: str, n: int, layout: str) -> None:
    t.mkdir(root)
    made: set[str] = {root}
    for d, p in pin_paths(root, n, layout):
        if d is not None:
            parent = d.rsplit("/", 1)[0]
            if parent not in made:
                t.mkdir(parent)
                made.add(parent)
            t.mkdir(d)
        t.obj_pin(fd, p)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def new_kernel() -> tuple[pinfs.Kernel, pinfs.Task, int]:
    k = pinfs.Kernel()
    t = k.init_task
    t.mount("bpf", "/sys/fs/bpf", "bpf")
    return k, t, t.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1)


def measure(n: int, layout: str, trace_n: int, reps: int, rep_seconds: float) -> dict[str, object]:
    gc.collect()
    k, t, fd = new_kernel()
    rss0 = rss_bytes()
    start = time.perf_counter()
    build(t, fd, "/sys/fs/bpf/big", n, layout)
    build_s = time.perf_counter() - start
    gc.collect()
    rss1 = rss_bytes()
    maxrss = maxrss_bytes()

    build(t, fd, "/sys/fs/bpf/small", SMALL_N, layout)
    rng = random.Random(7)
    sample = 512
    big = [path_of("/sys/fs/bpf/big", n, layout, rng.randrange(n)) for _ in range(sample)]
    small = [
        path_of("/sys/fs/bpf/small", SMALL_N, layout, rng.randrange(SMALL_N)) for _ in range(sample)
    ]

    def getter(paths: list[str]) -> Timer:
        def timer(count: int) -> float:
            m = len(paths)
            start = time.perf_counter()
            for i in range(count):
                g = t.obj_get(paths[i % m])
                t.close(g)
            return time.perf_counter() - start

        return timer

    series = interleave({"1k": getter(small), "N": getter(big)}, reps, rep_seconds)
    refcnt = [o.refcnt for o in k.objects()]
    if refcnt != [1 + n + SMALL_N]:
        raise AssertionError(f"unexpected objects after the scale build: {k.objects()}")

    # tracemalloc on a fresh kernel (slower, so on trace_n pins).
    _k2, t2, fd2 = new_kernel()  # _k2 keeps the kernel alive
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    build(t2, fd2, "/sys/fs/bpf/big", trace_n, layout)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    get_1k, get_n = series["1k"], series["N"]
    return {
        "layout": layout,
        "n": n,
        "shape": list(fanout_shape(n)) if layout == "fanout" else [n],
        "build_s": build_s,
        "build_pins_per_s": n / build_s,
        "rss_before_bytes": rss0,
        "rss_after_bytes": rss1,
        "rss_growth_bytes": rss1 - rss0,
        "rss_per_pin_bytes": (rss1 - rss0) / n,
        "maxrss_bytes": maxrss,
        "tracemalloc_n": trace_n,
        "tracemalloc_per_pin_bytes": (after - before) / trace_n,
        "get_1k": get_1k.to_json(),
        "get_n": get_n.to_json(),
        "get_1k_us": get_1k.us_per_op,
        "get_n_us": get_n.us_per_op,
        "get_ratio": get_n.us_per_op / get_1k.us_per_op,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--layout", choices=("flat", "fanout"), required=True)
    ap.add_argument("--trace-n", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--rep-seconds", type=float, default=0.1)
    args = ap.parse_args(argv)
    result = measure(args.n, args.layout, min(args.trace_n, args.n), args.reps, args.rep_seconds)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
