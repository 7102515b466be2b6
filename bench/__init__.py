"""pinfs benchmarks (issue 7): pinfs side by side with the live kernel and pyfakefs.

Run ``python -m bench`` from the repository root (``--quick`` for the CI smoke run,
``--full`` for the 1,000,000-pin scale run, ``--json PATH`` to choose where the JSON
goes; the default is ``bench/results/latest.json``).  See ``docs/performance.md``.

Modules:

* :mod:`bench.timing`   the interleaved repetition runner and medians;
* :mod:`bench.contenders` the pinfs and pyfakefs loops;
* :mod:`bench.live`     the live-kernel sandbox: a forked child in a private mount
  namespace that runs the timing loops itself with direct syscalls;
* :mod:`bench.scale`    the scale benchmark (run in a fresh interpreter per layout);
* :mod:`bench.machine`  steps per second of ``pinfs.testing.PinningMachine``;
* :mod:`bench.report`   targets, the table and the JSON;
* :mod:`bench.run`      the entry point;
* :mod:`bench.profile`  cProfile of the pinfs hot paths of (a) and (b).
* :mod:`bench.compiled` an optional compiled build (mypyc, Cython) measured against
  pure Python in a scratch copy of ``src/`` (issue 17 item 4: not shipped).
"""

from __future__ import annotations

__all__ = ["SCHEMA_VERSION"]

#: Bumped when the JSON layout changes incompatibly.
SCHEMA_VERSION = 1
