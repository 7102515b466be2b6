"""``python -m pinfs tour``: the guided tour of pinning."""

from __future__ import annotations

import argparse
import sys

from pinfs.tour import run_tour


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pinfs", description=__doc__)
    parser.add_argument("command", choices=["tour"], help="what to run")
    parser.parse_args(argv)
    run_tour()
    return 0


if __name__ == "__main__":
    sys.exit(main())
