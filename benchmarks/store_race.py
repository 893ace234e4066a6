"""Store race: running campaigns vs refused re-runs and readers on one store, N rounds (issue 25's data-loss test).

    python benchmarks/store_race.py [--rounds 50] [--scenario all|evolution|agent|two] [--epochs 12]

Each round starts real campaigns (`archagent run`) in a fresh folder, hits their store with refused
re-runs of the same config and `status` / `list` / `serve` while they train, then checks that the
store passes `PRAGMA integrity_check` and holds exactly each campaign's budget. Scenario "all" cycles
evolution, agent (replay backend), two (both campaigns at once in one store). Prints one line per
round and the passes/failures. (`tests/test_store_race.py` runs a few rounds.)
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers.store_race import SCENARIOS, Race, race_round  # noqa: E402  (after the path line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--scenario", choices=["all", *SCENARIOS], default="all")
    parser.add_argument("--epochs", type=int, default=Race.epochs)
    parser.add_argument("--proposals", type=int, default=Race.proposals)
    parser.add_argument("--hits", type=int, default=Race.hits, help="refused re-runs + readers per round")
    parser.add_argument("--no-serve", action="store_true", help="skip the `serve` reader")
    parser.add_argument("--dir", type=Path, default=None, help="where the rounds' folders go (default: a temp dir)")
    args = parser.parse_args()
    race = Race(args.epochs, args.proposals, args.hits, not args.no_serve)
    order = itertools.cycle(SCENARIOS if args.scenario == "all" else [args.scenario])
    passes, fails, idle, t0 = Counter(), Counter(), 0, time.monotonic()
    with tempfile.TemporaryDirectory(prefix="archagent-race-", dir=args.dir) as tmp:
        for i, scenario in zip(range(1, args.rounds + 1), order, strict=False):
            folder = Path(tmp) / f"round-{i}"
            folder.mkdir()
            t = time.monotonic()
            out = race_round(folder, scenario, race)
            (fails if out.problems else passes)[scenario] += 1
            idle += not out.landed
            verdict = "ok" if not out.problems else "FAIL: " + " | ".join(out.problems)
            verdict += f" ({out.landed} hits landed while the campaigns ran)"
            print(f"round {i:3d} {scenario:9s} {time.monotonic() - t:5.1f} s  {verdict}", flush=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    per = ", ".join(f"{s} {passes[s]}/{passes[s] + fails[s]}" for s in SCENARIOS if passes[s] + fails[s])
    print(f"store race: {sum(passes.values())} of {args.rounds} rounds passed, {sum(fails.values())} failed ({per}); "
          f"{idle} rounds without a hit landed while the campaigns ran; "
          f"{args.epochs} epochs, {args.proposals} proposals, {args.hits} hits per round; "
          f"{time.monotonic() - t0:.0f} s (load average {load})")


if __name__ == "__main__":
    main()
