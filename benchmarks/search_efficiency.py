"""Search efficiency: random search vs regularized evolution vs an LLM proposer, same task, same budget.

    python benchmarks/search_efficiency.py --task digits --budget 12 --seeds 2 --epochs 5 \
        --methods random,evolution,local [--out results.json] [--store-dir runs/]

Every (method, seed) is a real campaign (real sandbox, real training) in its
own store, so no campaign starts from another's best (the loop's cross-campaign
transfer reads earlier campaigns of the same task in a store); the pre-filter
is off so every valid proposal is trained. Curves count
trained proposals only (the task's seed architectures, trained in every
campaign, are reported separately). Reported per method: best metric after
k trained candidates, trained candidates needed to reach the random
baseline's final best (mean over its seeds), and the relative improvement of
the final best over the average random architecture.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from agent.config import parse_config
from agent.llm import LLMError
from agent.loop import Campaign
from evals.report.curves import running_best
from evals.tasks import get_task
from knowledge.records import Status
from knowledge.store import Store

METHODS = ("random", "evolution", "local")


@dataclass(frozen=True)
class Run:
    method: str
    seed: int
    metrics: list[float]  # validation metric of each trained proposal, in order of creation
    proposals: int
    seed_best: float | None  # best of the task's seed architectures in this campaign
    wall_s: float


def campaign_config(method: str, seed: int, args: argparse.Namespace, store: Path) -> dict:
    backend = {"kind": method} if method != "local" or not args.model else {"kind": "local", "model": args.model}
    return {"name": f"{method}-seed{seed}", "store": str(store), "seed": seed,
            "task": {"name": args.task, "options": {"epochs": args.epochs}},
            "budget": {"proposals": args.budget}, "backends": [backend],
            "prefilter": {"enabled": False}, "sandbox": {"timeout_s": 300}}


def run_campaign(method: str, seed: int, args: argparse.Namespace, store_dir: Path) -> Run:
    store_path = store_dir / f"{method}-seed{seed}.db"
    cfg = parse_config(campaign_config(method, seed, args, store_path))
    t0 = time.monotonic()
    Campaign(cfg, on_event=lambda e, c: progress(method, seed, e, c)).run()
    store = Store(store_path)
    cands = store.candidates(store.campaign(cfg.name).id)
    store.close()
    proposed = [c for c in cands if c.backend != "seed"]
    trained = [c.metric for c in proposed if c.status == Status.OK and c.metric is not None]
    seeds = [c.metric for c in cands if c.backend == "seed" and c.metric is not None]
    seed_best = best_of(seeds, args.higher) if seeds else None
    return Run(method, seed, trained, len(proposed), seed_best, time.monotonic() - t0)


def progress(method: str, seed: int, event: str, cand) -> None:
    if event in ("ok", "failed", "duplicate"):
        metric = f"{cand.metric:.4f}" if cand.metric is not None else "-"
        print(f"  [{method} s{seed}] #{cand.id} {cand.backend}: {event} {metric}", file=sys.stderr, flush=True)


def best_of(values: list[float], higher: bool) -> float:
    return max(values) if higher else min(values)


def to_reach(values: list[float], target: float, higher: bool) -> int | None:
    """Trained candidates until the running best reaches the target (None: never within the budget)."""
    for i, b in enumerate(running_best(values, higher)):
        if (b >= target) if higher else (b <= target):
            return i + 1
    return None


def mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f}"


def summarize(runs: list[Run], higher: bool, budget: int) -> tuple[str, dict]:
    """The markdown tables and the numbers behind them."""
    random_runs = [r for r in runs if r.method == "random" and r.metrics]
    target = statistics.mean(best_of(r.metrics, higher) for r in random_runs) if random_runs else None
    avg_random = statistics.mean(m for r in random_runs for m in r.metrics) if random_runs else None
    rows, numbers = [], {"random_final_best": target, "average_random_arch": avg_random, "methods": {}}
    for method in dict.fromkeys(r.method for r in runs):
        mine = [r for r in runs if r.method == method]
        finals = [best_of(r.metrics, higher) for r in mine if r.metrics]
        reach = [to_reach(r.metrics, target, higher) if target is not None else None for r in mine]
        rel = ((statistics.mean(finals) - avg_random) / abs(avg_random) * (1 if higher else -1)
               if finals and avg_random else None)
        trained, proposals = sum(len(r.metrics) for r in mine), sum(r.proposals for r in mine)
        numbers["methods"][method] = dict(final_best=finals, to_reach_random_best=reach, rel_improvement=rel,
                                          trained=trained, proposals=proposals,
                                          wall_s=[round(r.wall_s, 1) for r in mine])
        reach_txt = ", ".join("never" if x is None else str(x) for x in reach)
        rows.append(f"| {method} | {len(mine)} | {trained}/{proposals} | {mean_sd(finals)} | {reach_txt} | "
                    f"{'-' if rel is None else f'{rel:+.2%}'} | {statistics.mean(r.wall_s for r in mine):.0f} |")
    head = ("| method | seeds | trained/proposals | final best (mean ± sd) | trained to reach random's best "
            "(per seed) | vs avg random arch | wall s / run |\n|---|---|---|---|---|---|---|")
    table = head + "\n" + "\n".join(rows)
    return table + "\n\n" + curve_table(runs, higher, budget), numbers


def curve_table(runs: list[Run], higher: bool, budget: int) -> str:
    """Mean best-so-far after k trained proposals."""
    ks = sorted({k for k in (1, 2, 4, 6, 8, 12, 16, 24, 32, budget) if k <= budget})
    lines = ["| method | " + " | ".join(f"k={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for method in dict.fromkeys(r.method for r in runs):
        cells = []
        for k in ks:
            vals = [running_best(r.metrics, higher)[k - 1] for r in runs if r.method == method and len(r.metrics) >= k]
            cells.append(f"{statistics.mean(vals):.4f}" if vals else "-")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="digits")
    ap.add_argument("--budget", type=int, default=12, help="proposals per campaign")
    ap.add_argument("--seeds", type=int, default=2, help="campaigns per method (config seeds 0..n-1)")
    ap.add_argument("--epochs", type=int, default=5, help="training epochs of the task recipe")
    ap.add_argument("--methods", default="random,evolution,local", help=f"comma-separated: {', '.join(METHODS)}")
    ap.add_argument("--model", default=None, help="local model preset or .gguf path (default: the embedded one)")
    ap.add_argument("--store-dir", type=Path, default=None, help="keep the campaign stores here (default: temp)")
    ap.add_argument("--out", type=Path, default=None, help="write the runs and numbers as JSON")
    args = ap.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in args.methods if m not in METHODS]
    if bad or args.budget < 1 or args.seeds < 1:
        ap.error(f"unknown method {bad[0]!r} (choose from {', '.join(METHODS)})" if bad else "budget and seeds >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.higher = get_task(args.task).higher_is_better
    tmp = tempfile.TemporaryDirectory(prefix="search-eff-")
    store_dir = args.store_dir or Path(tmp.name)
    store_dir.mkdir(parents=True, exist_ok=True)
    runs, skipped = [], {}
    for method in args.methods:
        for seed in range(args.seeds):
            try:
                runs.append(run_campaign(method, seed, args, store_dir))
            except LLMError as err:  # e.g. the local model is not installed: report and go on
                skipped[method] = str(err)
                break
    table, numbers = summarize(runs, args.higher, args.budget)
    seed_best = [r.seed_best for r in runs if r.seed_best is not None]
    print(f"\ntask {args.task}, budget {args.budget} proposals, {args.seeds} seeds, {args.epochs} epochs; "
          f"best seed architecture: {best_of(seed_best, args.higher) if seed_best else '-'}\n")
    print(table)
    for method, why in skipped.items():
        print(f"\n{method}: not run ({why})")
    if args.out:
        args.out.write_text(json.dumps({"runs": [asdict(r) for r in runs], "numbers": numbers,
                                        "skipped": skipped}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
