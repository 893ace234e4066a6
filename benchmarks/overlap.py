"""A trainer that never waits: agent campaign wall time with a slow LLM, without and with the fill.

    nice python -m benchmarks.overlap [--delay 5] [--proposals 12] [--workers 2] [--fills 0 4]

A stand-in LLM (`tests/helpers/scripted_llm.py`) answers every request after
`--delay` seconds (a slow local model) with a valid edit or whole file; the
candidates are trained for real (digits, the local sandboxed executor, the
pre-filter off so every job is one fused probe+training job), or with
`--fake-train S` by the tests' fake executor whose every job takes S seconds
(scheduling alone, whatever the machine's load). The same
campaign runs once per `--fills` value (`pipeline.fill`: mutation proposals
a free worker slot may take per LLM request in flight; 0 = the loop as it was,
trainers wait for the LLM). Printed per run: wall seconds, LLM seconds (sum of
request latencies), training seconds (sum of the jobs' wall times), slot
utilisation = training / (workers x wall), the ideal max(LLM, training /
workers), and the proposals by operator.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import archagent.agent.operators as operators
from archagent.agent.config import parse_config
from archagent.agent.loop import Campaign

from tests.helpers.scripted_llm import ScriptedLLM


def campaign(folder: Path, fill: int, args: argparse.Namespace) -> dict:
    llm = ScriptedLLM(delay_s=args.delay)
    operators.make_backend = lambda cfg, seed: llm
    cfg = parse_config({
        "name": f"fill-{fill}", "store": str(folder / f"fill-{fill}.db"), "seed": args.seed,
        "task": {"name": "digits", "options": {"epochs": args.epochs}}, "budget": {"proposals": args.proposals},
        "backends": [{"kind": "litellm", "model": "openai/scripted"}], "executor": {"workers": args.workers},
        "prefilter": {"enabled": False}, "pipeline": {"fill": fill, "fill_share": args.share},
        "operators": {"use": ["mutation", "edit", "rewrite"]},
        "search": {"transfer": False, "insight_every": 0, "repair_attempts": 0},
    })
    executor = None
    if args.fake_train:
        from archagent.evals.tasks import get_task

        from tests.helpers.fake_executor import SlowFakeExecutor

        executor = SlowFakeExecutor(get_task("digits", cfg.task.options), args.workers, args.fake_train)
    t0 = time.monotonic()
    run = Campaign(cfg, executor=executor)
    run.run()
    wall = time.monotonic() - t0
    cands = run.store.candidates(run.id)
    llm_s = sum(c.latency_s for c in run.store.llm_calls(run.id))
    if executor is not None:
        executor.shutdown()
        train_s = sum(e - s for s, e in executor.busy)
    else:
        train_s = sum(float(c.timings.get("wall_s", 0.0)) for c in cands)
    ops = Counter(c.operator or "seed" for c in cands)
    return dict(fill=fill, wall=wall, llm=llm_s, train=train_s, util=train_s / (args.workers * wall),
                ideal=max(llm_s, train_s / args.workers), ops=dict(ops), requests=len(llm.calls))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delay", type=float, default=5.0, help="seconds per LLM reply")
    ap.add_argument("--proposals", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=30, help="digits training epochs per candidate")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--share", type=float, default=0.5, help="pipeline.fill_share")
    ap.add_argument("--fills", type=int, nargs="+", default=[0, 4])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fake-train", type=float, default=0.0, help="seconds per job on the fake executor (0: real)")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'fill':>4} {'wall s':>7} {'LLM s':>7} {'train s':>8} {'util':>5} {'ideal s':>8} {'LLM calls':>9}  "
          "operators")
    with tempfile.TemporaryDirectory(dir=os.environ.get("ARCHAGENT_SCRATCH")) as tmp:
        for fill in args.fills:
            r = campaign(Path(tmp), fill, args)
            print(f"{r['fill']:>4} {r['wall']:>7.1f} {r['llm']:>7.1f} {r['train']:>8.1f} {r['util']:>5.2f} "
                  f"{r['ideal']:>8.1f} {r['requests']:>9}  {r['ops']}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
