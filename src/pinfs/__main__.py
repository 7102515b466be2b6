"""The ``pinfs`` command (also ``python -m pinfs``)."""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

from pinfs.host.run import run
from pinfs.scenario.export import from_trace
from pinfs.tour import run_tour

DESCRIPTION = """\
pinfs: an in-memory reference model of the Linux bpf filesystem and eBPF pinning.

commands:
  tour             the guided tour of pinning (what a pin is, who may open it, when
                   objects die), printed step by step
  run -- CMD ...   run an unmodified program with its bpf(2) calls and /sys/fs/bpf
                   served by pinfs, without root (see `pinfs run --help`, docs/run.md)
"""


def _version() -> str:
    try:
        return metadata.version("pinfs")
    except metadata.PackageNotFoundError:  # run from a source tree without installing
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:
        # `run` parses its own options (everything after `--` is CMD)
        return run(argv[1:], export=lambda trace, raw: from_trace(trace, raw_bpf=raw))
    parser = argparse.ArgumentParser(
        prog="pinfs", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"pinfs {_version()}")
    parser.add_argument("command", choices=["tour", "run"], help="tour or run (see above)")
    parser.parse_args(argv)
    run_tour()
    return 0


if __name__ == "__main__":
    sys.exit(main())
