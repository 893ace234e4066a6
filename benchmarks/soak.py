"""Soak: a replay campaign of N proposals killed with kill -9 every few seconds, re-run until done.

    python benchmarks/soak.py [--proposals 500] [--workers 3] [--kill-after 2 6]

Prints the runs, kills, wall time and load average, then checks the store: exactly N proposals,
each replay reply used once and in order, nothing left running, integrity ok.
(`tests/test_soak.py` runs the same with fewer proposals.)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archagent.knowledge.store import Store

from tests.faultkit import check_soaked, soak  # noqa: E402  (after the path line, for a source checkout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=500)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kill-after", type=float, nargs=2, default=(2.0, 6.0), metavar=("MIN_S", "MAX_S"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="archagent-soak-") as tmp:
        folder = Path(tmp)
        result = soak(folder, args.proposals, args.workers, tuple(args.kill_after))
        check_soaked(folder / "store.db", folder / "soak.jsonl", args.proposals)
        counts = Store.open_readonly(folder / "store.db").counts(1)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"soak: {args.proposals} proposals, {args.workers} workers, kill -9 after {args.kill_after[0]:g}-"
          f"{args.kill_after[1]:g} s: {result['runs']} runs, {result['kills']} kills, {result['wall_s']:.0f} s; "
          f"store exact: {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))} (load average {load})")


if __name__ == "__main__":
    main()
