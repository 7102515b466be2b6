"""``pinfs tour`` (the guided tour of pinning) and ``pinfs run -- CMD`` (run a program
on the simulated kernel; see docs/run.md)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:
        from pinfs.host.run import run

        return run(argv[1:])
    parser = argparse.ArgumentParser(prog="pinfs", description=__doc__)
    parser.add_argument("command", choices=["tour", "run"], help="what to run")
    parser.parse_args(argv)
    from pinfs.tour import run_tour

    run_tour()
    return 0


if __name__ == "__main__":
    sys.exit(main())
