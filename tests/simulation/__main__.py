"""`make simulate`: run as many seeds and weeks as asked, print the figures, shrink a failure."""

from __future__ import annotations

import argparse
import os
import sys

from tests.simulation.runner import explain, figures, run_seeds, shrink
from tests.support.database import open_server


def _seeds(text: str) -> list[int]:
    """`7`, `0-99` or `1,5,9` as a list of seeds."""
    found: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        found.extend(range(int(first), int(last or first) + 1))
    return found


def main() -> int:
    """Run the simulation; exit 1 if any seed broke an invariant."""
    parser = argparse.ArgumentParser(prog="python -m tests.simulation")
    parser.add_argument("--seeds", type=_seeds, default=_seeds("0-49"), help="e.g. 0-49 or 3,8")
    parser.add_argument("--weeks", type=int, default=4, help="simulated weeks per seed")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with open_server() as server:
        outcomes, seconds = run_seeds(server.url, args.seeds, args.weeks, args.workers)
        print(figures(outcomes, seconds))
        failing = [outcome for outcome in outcomes if not outcome.passed]
        if failing:
            print(explain(shrink(server, failing[0])), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
