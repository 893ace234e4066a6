"""Search efficiency: random, evolution, the plain LLM proposer, the agent and the agent without LLM, same budget.

    nice python benchmarks/search_efficiency.py --task mnist1d --budget 8 --seeds 3 --epochs 4 --batch-size 128 \
        --methods random,evolution,agent-noLLM,agent,llm --llm-calls 8 --noise-seeds 3 --out results.json

Methods (one `[[backends]]` line or `[operators]` setting each):
  random       grammar samples                    evolution    regularized evolution (AST mutations)
  llm          the local model, whole files from the few-shot prompt (operators off: the pre-agent proposer)
  agent        the local model as edit/crossover/rewrite operator + AST mutation, chosen by the bandit
  agent-noLLM  the agent with only the mutation operator (the ablation: must equal evolution)

Every (method, seed) is a real campaign (real sandbox, real training) in its
own store, pre-filter off (every valid proposal trains). The proposal budget
counts what was trained or failed (repeats are re-asked or deduplicated, not
counted); `--llm-calls` caps each campaign's LLM requests. Reported: mean ± sd
of the final best validation metric (and the test metric of that candidate,
apart), wall clock per campaign, best-so-far curves, a per-operator table
(valid, novel, improved over parents, LLM s per proposal and per valid novel
proposal), and a noise floor: the spread of the best seed architecture retrained
with `--noise-seeds` training seeds. Differences below the floor are ties.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from archagent.agent.config import parse_config
from archagent.agent.llm import LLMError
from archagent.agent.loop import Campaign
from archagent.agent.operators.agent import call_groups
from archagent.evals.report.curves import running_best
from archagent.evals.tasks import get_task
from archagent.knowledge.fitness import Objective, improves
from archagent.knowledge.records import Candidate, LLMCall, Status
from archagent.knowledge.store import Store

METHODS = ("random", "evolution", "llm", "agent", "agent-noLLM")


@dataclass(frozen=True)
class Run:
    method: str
    seed: int
    metrics: list[float]  # validation metric of each trained proposal, in order of creation
    best_test: float | None  # test metric of the best-validation proposal
    proposals: int
    seed_best: float | None  # best of the task's seed architectures in this campaign
    wall_s: float
    llm_calls: int
    llm_s: float
    ops: list[dict] = field(default_factory=list)  # one row per proposal: operator, valid, novel, ...


def campaign_config(method: str, seed: int, args: argparse.Namespace, store: Path) -> dict:
    llm = {"kind": "local", **({"model": args.model} if args.model else {})}
    backend = {"random": {"kind": "random"}, "evolution": {"kind": "evolution"}}.get(method, llm)
    operators = {"llm": {"enabled": False}, "agent-noLLM": {"use": ["mutation"]}}.get(method, {})
    budget = {"proposals": args.budget, **({"llm_calls": args.llm_calls} if args.llm_calls else {})}
    return {"name": f"{method}-seed{seed}", "store": str(store), "seed": seed,
            "task": {"name": args.task, "options": task_options(args)},
            "budget": budget, "backends": [backend], "operators": operators,
            "prefilter": {"enabled": False}, "sandbox": {"timeout_s": 300}}


def task_options(args: argparse.Namespace) -> dict:
    return {"epochs": args.epochs, **({"batch_size": args.batch_size} if args.batch_size else {})}


def run_campaign(method: str, seed: int, args: argparse.Namespace, store_dir: Path) -> Run:
    store_path = store_dir / f"{method}-seed{seed}.db"
    cfg = parse_config(campaign_config(method, seed, args, store_path))
    t0 = time.monotonic()
    Campaign(cfg, on_event=lambda e, c: progress(method, seed, e, c)).run()
    wall = time.monotonic() - t0
    store = Store(store_path)
    camp = store.campaign(cfg.name)
    cands, calls = store.candidates(camp.id), store.llm_calls(camp.id)
    store.close()
    proposed = [c for c in cands if c.backend != "seed"]
    trained = [c for c in proposed if c.status == Status.OK and c.metric is not None]
    seeds = [c.metric for c in cands if c.backend == "seed" and c.metric is not None]
    best = max(trained, key=lambda c: c.metric if args.higher else -c.metric) if trained else None
    return Run(method, seed, [c.metric for c in trained], best.test_metric if best else None, len(proposed),
               best_of(seeds, args.higher) if seeds else None, wall, len(calls),
               sum(c.latency_s for c in calls), operator_rows(method, cands, calls, args.higher))


def operator_rows(method: str, cands: list[Candidate], calls: list[LLMCall], higher: bool) -> list[dict]:
    """Per proposal: its operator, whether it was valid, novel, an improvement, and the LLM seconds it took."""
    groups = call_groups(calls)
    by_id, rows = {c.id: c for c in cands}, []
    for c in cands:
        if c.backend == "seed":
            continue
        group = groups.get(c.llm_call_id, [])
        rows.append({"operator": c.operator or ("rewrite" if method == "llm" else method),
                     "valid": c.status in (Status.OK, Status.FILTERED),
                     "novel": c.status != Status.DUPLICATE, "repeats_reasked": max(0, len(group) - 1),
                     "improved": c.status == Status.OK and improves(
                         c, [by_id[p] for p in c.parent_ids if p in by_id], Objective(), higher),
                     "llm_s": sum(x.latency_s for x in group), "train_s": c.timings.get("wall_s", 0.0),
                     "failure": str(c.failure_kind) if c.failure_kind else None})
    return rows


def progress(method: str, seed: int, event: str, cand) -> None:
    if event in ("ok", "failed", "duplicate"):
        metric = f"{cand.metric:.4f}" if cand.metric is not None else "-"
        op = cand.operator
        print(f"  [{method} s{seed}] #{cand.id} {cand.backend}{'/' + op if op else ''}: {event} {metric}",
              file=sys.stderr, flush=True)


# -- noise floor -------------------------------------------------------------------
def noise_floor(task_name: str, options: dict, seeds: int) -> dict:
    """Retrain the best seed architecture (chosen at training seed 0) with training seeds 0..n-1, in process."""
    task = get_task(task_name, options)
    scores = {name: train_once(task, code, 0) for name, code in task.seeds().items()}
    best = max(scores, key=lambda n: scores[n][0] if task.higher_is_better else -scores[n][0])
    runs = [scores[best]] + [train_once(task, task.seeds()[best], s) for s in range(1, seeds)]
    val = [v for v, _ in runs]
    return {"architecture": best, "val": val, "test": [t for _, t in runs],
            "sd": statistics.stdev(val) if len(val) > 1 else 0.0, "range": max(val) - min(val)}


def train_once(task, code: str, seed: int) -> tuple[float, float]:
    import types

    import torch
    from archagent.evals.training import predict, train

    torch.set_num_threads(1)
    spec = replace(task.spec, recipe=replace(task.spec.recipe, seed=seed))
    module = types.ModuleType("candidate")
    exec(compile(code, "seed.py", "exec"), module.__dict__)  # the task's own seed architectures: trusted
    torch.manual_seed(seed)
    model = module.Net(tuple(spec.in_shape), spec.n_out)
    s = task.splits()
    train(model, s.x_train, s.y_train, spec)
    return task.score(predict(model, s.x_val), "val"), task.score(predict(model, s.x_test), "test")


# -- tables ------------------------------------------------------------------------
def best_of(values: list[float], higher: bool) -> float:
    return max(values) if higher else min(values)


def mean_sd(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f}"


def summary_table(runs: list[Run], higher: bool) -> str:
    lines = ["| method | seeds | trained/proposals | final best val (mean ± sd) | its test (mean ± sd) | "
             "per seed | LLM calls | LLM s | wall s / campaign |", "|---|---|---|---|---|---|---|---|---|"]
    for method in dict.fromkeys(r.method for r in runs):
        mine = [r for r in runs if r.method == method]
        finals = [best_of(r.metrics, higher) for r in mine if r.metrics]
        per_seed = ", ".join(f"{best_of(r.metrics, higher):.4f}" if r.metrics else "-" for r in mine)
        lines.append(f"| {method} | {len(mine)} | {sum(len(r.metrics) for r in mine)}/{sum(r.proposals for r in mine)}"
                     f" | {mean_sd(finals)} | {mean_sd([r.best_test for r in mine])} | {per_seed} | "
                     f"{sum(r.llm_calls for r in mine)} | {sum(r.llm_s for r in mine):.0f} | "
                     f"{statistics.mean(r.wall_s for r in mine):.0f} |")
    return "\n".join(lines)


def curve_table(runs: list[Run], higher: bool, budget: int) -> str:
    """Mean best-so-far after k trained proposals; a seed that trained fewer than k keeps its final best
    (averaging only the seeds that reached k would drop those whose failures were free of training)."""
    ks = sorted({k for k in (1, 2, 4, 6, 8, 12, 16, 24, 32, budget) if k <= budget})
    lines = ["| method | " + " | ".join(f"k={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for method in dict.fromkeys(r.method for r in runs):
        cells = []
        for k in ks:
            vals = [running_best(r.metrics, higher)[min(k, len(r.metrics)) - 1]
                    for r in runs if r.method == method and r.metrics]
            cells.append(f"{statistics.mean(vals):.4f}" if vals else "-")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def operator_table(runs: list[Run]) -> str:
    lines = ["| method | operator | proposals | valid | novel | repeats re-asked | improved on parents | "
             "LLM s / proposal | LLM s / valid novel | failures |", "|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in runs:
        for row in r.ops:
            groups[(r.method, row["operator"])].append(row)
    for (method, op), rows in groups.items():
        n, valid = len(rows), sum(x["valid"] for x in rows)
        good = sum(x["valid"] and x["novel"] for x in rows)
        llm_s = sum(x["llm_s"] for x in rows)
        fails = defaultdict(int)
        for x in rows:
            if x["failure"]:
                fails[x["failure"]] += 1
        lines.append(f"| {method} | {op} | {n} | {valid / n:.0%} | {sum(x['novel'] for x in rows) / n:.0%} | "
                     f"{sum(x['repeats_reasked'] for x in rows)} | {sum(x['improved'] for x in rows) / n:.0%} | "
                     f"{llm_s / n:.1f} | {llm_s / good if good else float('nan'):.1f} | "
                     f"{', '.join(f'{k} {v}' for k, v in sorted(fails.items())) or '-'} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="mnist1d")
    ap.add_argument("--budget", type=int, default=12, help="proposals per campaign (trained or failed)")
    ap.add_argument("--seeds", type=int, default=3, help="campaigns per method")
    ap.add_argument("--seed-base", type=int, default=0, help="first config seed (seeds base..base+n-1)")
    ap.add_argument("--epochs", type=int, default=10, help="training epochs of the task recipe")
    ap.add_argument("--batch-size", type=int, default=None, help="training batch size (default: the task's)")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated: {', '.join(METHODS)}")
    ap.add_argument("--llm-calls", type=int, default=None, help="cap on LLM requests per campaign")
    ap.add_argument("--noise-seeds", type=int, default=3, help="training seeds for the noise floor (0: skip)")
    ap.add_argument("--model", default=None, help="local model preset or .gguf path (default: the embedded one)")
    ap.add_argument("--store-dir", type=Path, default=None, help="keep the campaign stores here (default: temp)")
    ap.add_argument("--out", type=Path, default=None, help="write the runs and numbers as JSON")
    ap.add_argument("--tables-from", type=Path, nargs="+", default=None,
                    help="print the tables of earlier --out files (runs of separate processes) and exit")
    ap.add_argument("--only-seeds", type=int, nargs="+", default=None,
                    help="with --tables-from: only these search seeds (compare methods on the seeds all of them ran)")
    args = ap.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in args.methods if m not in METHODS]
    if bad or args.budget < 1 or args.seeds < 1:
        ap.error(f"unknown method {bad[0]!r} (choose from {', '.join(METHODS)})" if bad else "budget and seeds >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.higher = get_task(args.task).higher_is_better
    if args.tables_from:
        return print_saved(args)
    tmp = tempfile.TemporaryDirectory(prefix="search-eff-")
    store_dir = args.store_dir or Path(tmp.name)
    store_dir.mkdir(parents=True, exist_ok=True)
    t0, runs, skipped = time.monotonic(), [], {}
    floor = noise_floor(args.task, task_options(args), args.noise_seeds) if args.noise_seeds else None
    for seed in range(args.seed_base, args.seed_base + args.seeds):  # seed-major: a cut-short run is balanced
        for method in args.methods:
            if method in skipped:
                continue
            try:
                runs.append(run_campaign(method, seed, args, store_dir))
            except LLMError as err:  # e.g. the local model is not installed: report and go on
                skipped[method] = str(err)
            if args.out:
                write_out(args.out, runs, floor, skipped)
    last = args.seed_base + args.seeds - 1
    print(f"\ntask {args.task}, budget {args.budget} proposals, seeds {args.seed_base}..{last}, {args.epochs} epochs, "
          f"LLM calls cap {args.llm_calls}; total wall {time.monotonic() - t0:.0f} s\n")
    if floor:
        print(f"noise floor: {floor['architecture']} seed retrained with {len(floor['val'])} training seeds: "
              f"val {', '.join(f'{v:.4f}' for v in floor['val'])} (sd {floor['sd']:.4f}, range {floor['range']:.4f})"
              f"; test {', '.join(f'{v:.4f}' for v in floor['test'])}\n")
    print(summary_table(runs, args.higher), curve_table(runs, args.higher, args.budget), operator_table(runs),
          sep="\n\n")
    for method, why in skipped.items():
        print(f"\n{method}: not run ({why})")
    return 0


def print_saved(args: argparse.Namespace) -> int:
    saved = [json.loads(p.read_text()) for p in args.tables_from]
    runs = [Run(**r) for d in saved for r in d["runs"] if not args.only_seeds or r["seed"] in args.only_seeds]
    for floor in (d["noise_floor"] for d in saved if d.get("noise_floor")):
        print(f"noise floor ({floor['architecture']}): val {floor['val']} sd {floor['sd']:.4f}; test {floor['test']}")
    print(summary_table(runs, args.higher), curve_table(runs, args.higher, args.budget), operator_table(runs),
          sep="\n\n")
    return 0


def write_out(path: Path, runs: list[Run], floor: dict | None, skipped: dict) -> None:
    path.write_text(json.dumps({"runs": [asdict(r) for r in runs], "noise_floor": floor, "skipped": skipped},
                               indent=2))


if __name__ == "__main__":
    sys.exit(main())
