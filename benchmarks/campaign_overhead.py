"""Campaign overhead: wall time not spent in LLM calls or training, on a 50-candidate replay campaign.

    python benchmarks/campaign_overhead.py [--proposals 50] [--epochs 15] [--workers 1]
    python benchmarks/campaign_overhead.py --compare [--proposals 20]   # issue 18: both campaigns, before/after

`--compare` runs the 15-epoch digits MLP campaign (1 worker) and an mnist1d CNN campaign, each twice in
this one run: "before" queries the pre-filter's random forest through sklearn's `predict` (~40 ms a call)
and runs a probe job then a training job per candidate, as before issue 18; "after" queries
`evals.predictor.FlatForest` (same trees, same predictions) and, while the pre-filter warms up (here: the
whole campaign), runs one fused `probe_full` job per candidate. It also times one predictor query both
ways. Targets: overhead <= 5% (MLP) and <= 2% (mnist1d CNN).

The replay backend answers instantly with 50 distinct, valid digits models, so
everything but training is overhead: prompt building, dedup, the probe job
(build, shape check, FLOPs, graph key, proxies), sandbox process starts, result
validation, pre-filter refits and store writes. Training time is what the
sandboxed children report for their training loops.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
from archagent.agent.config import parse_config
from archagent.agent.loop import Campaign
from archagent.evals.predictor import _matrix

TEMPLATE = '''import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, in_shape, n_out):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, {w1}), nn.{act}(), nn.Linear({w1}, {w2}), nn.{act}(),
                                  nn.Linear({w2}, n_out))

    def forward(self, x):
        return self.body(x)  # (B, n_out)
'''


def replies(n: int) -> list[str]:
    acts = ["ReLU", "GELU", "SiLU", "Tanh", "ELU"]
    return [TEMPLATE.format(w1=32 + 8 * (i // 5), w2=16 + 4 * (i % 5), act=acts[i % 5]) for i in range(n)]


CNN1D = '''import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, in_shape, n_out):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(in_shape[0], {w1}, 5, padding=2), nn.{act}(),
                                  nn.Conv1d({w1}, {w2}, 3, stride=2, padding=1), nn.{act}(),
                                  nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear({w2}, n_out))

    def forward(self, x):
        return self.body(x)  # (B, n_out)
'''


def cnn_replies(n: int) -> list[str]:
    acts = ["ReLU", "GELU", "SiLU", "Tanh", "ELU"]
    return [CNN1D.format(w1=16 + 4 * (i // 5), w2=24 + 4 * (i % 5), act=acts[i % 5]) for i in range(n)]


def run(proposals: int, epochs: int, workers: int, prefilter: bool, task: str = "digits") -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="archagent-bench-"))
    with open(tmp / "replay.jsonl", "w") as fh:
        for code in (replies if task == "digits" else cnn_replies)(proposals):
            fh.write(json.dumps({"reply": f"```python\n{code}```"}) + "\n")
    cfg = parse_config({
        "name": "overhead", "store": str(tmp / "s.db"), "task": {"name": task, "options": {"epochs": epochs}},
        "budget": {"proposals": proposals}, "backends": [{"kind": "replay", "path": str(tmp / "replay.jsonl")}],
        "executor": {"workers": workers}, "prefilter": {"enabled": prefilter, "warmup": proposals},
    })
    t0 = time.perf_counter()
    campaign = Campaign(cfg)
    campaign.run()
    wall = time.perf_counter() - t0
    cands = campaign.store.candidates(campaign.id)
    train = sum(c.timings.get("train_s", 0.0) for c in cands)
    llm = campaign.store.totals(campaign.id)["llm_seconds"]
    per_job = [c.timings.get("wall_s", 0.0) - c.timings.get("train_s", 0.0) for c in cands if "train_s" in c.timings]
    probe = sum(c.timings.get("probe_wall_s", 0.0) for c in cands)
    job = sum(c.timings.get("wall_s", 0.0) for c in cands)
    return {"candidates": len(cands), "wall_s": wall, "train_s": train, "llm_s": llm, "probe_s": probe, "job_s": job,
            "overhead_pct": 100 * (wall - train / workers - llm) / wall,
            "median_job_overhead_s": statistics.median(per_job)}


@contextmanager
def sklearn_predict():
    """The pre-issue-18 predictor query: sklearn's RandomForestRegressor.predict on every call."""
    from archagent.evals.predictor import MetricPredictor

    real = MetricPredictor.predict

    def slow(self, rows):
        pct = self._model.predict(_matrix(rows, self.features))
        return np.quantile(self._observed, np.clip(pct, 0.0, 1.0)).tolist()

    MetricPredictor.predict = slow
    try:
        yield
    finally:
        MetricPredictor.predict = real


@contextmanager
def separate_probe():
    """The pre-fusion pipeline: a probe job, then a training job, for every candidate."""
    from archagent.agent.pipeline import Pipeline, Step

    real = Pipeline._first_step
    Pipeline._first_step = lambda self, cand, force_train: Step(cand, "probe", force_train)
    try:
        yield
    finally:
        Pipeline._first_step = real


@contextmanager
def before_issue_18():
    with sklearn_predict(), separate_probe():
        yield


def predictor_query_times(n_rows: int = 200, calls: int = 50) -> tuple[float, float]:
    """(sklearn, flat) seconds per one-row predict of a forest fitted on `n_rows` rows."""
    from archagent.evals.predictor import MetricPredictor

    rng = np.random.default_rng(0)
    rows = [{f"f{j}": float(rng.normal()) for j in range(12)} for _ in range(n_rows)]
    pred = MetricPredictor().fit(rows, [r["f0"] + rng.normal() for r in rows])
    x = _matrix(rows[:1], pred.features)
    out = []
    for fn in (pred._model.predict, pred._flat.predict):
        fn(x)
        t0 = time.perf_counter()
        for _ in range(calls):
            fn(x)
        out.append((time.perf_counter() - t0) / calls)
    return out[0], out[1]


def compare(proposals: int) -> None:
    slow, fast = predictor_query_times()
    print(f"predictor query (1 row, forest of 100 trees on 200 rows): sklearn {slow * 1000:.1f} ms, "
          f"flat {fast * 1e6:.0f} µs ({slow / fast:.0f}x); same predictions (tests/test_predictor.py)")
    print(f"load average {os.getloadavg()[0]:.2f}\n")
    print("| campaign | pipeline | wall s | train s | overhead % | target |")
    print("|---|---|---|---|---|---|")
    variants = (("before: sklearn, probe + train", before_issue_18), ("after: flat, fused probe_full", nullcontext))
    for label, task, epochs, target in (("digits MLP, 15 epochs, 1 worker", "digits", 15, 5),
                                        ("mnist1d CNN, 20 epochs, 1 worker", "mnist1d", 20, 2)):
        for name, patch in variants:
            with patch():
                r = run(proposals, epochs, 1, True, task)
            print(f"| {label:32} | {name:30} | {r['wall_s']:6.1f} | {r['train_s']:7.1f} | "
                  f"{r['overhead_pct']:10.1f} | <= {target}% |")
    print(f"\nload average {os.getloadavg()[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proposals", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--no-prefilter", action="store_true")
    ap.add_argument("--compare", action="store_true",
                    help="both campaigns, before vs after issue 18 (predictor query, probe fusion)")
    args = ap.parse_args()
    if args.compare:
        return compare(args.proposals)
    r = run(args.proposals, args.epochs, args.workers, not args.no_prefilter)
    print(f"{r['candidates']} candidates (incl. seeds), {args.workers} worker(s), {args.epochs} epochs")
    print(f"wall {r['wall_s']:.1f} s | training {r['train_s']:.1f} s | LLM {r['llm_s']:.1f} s")
    print(f"campaign overhead: {r['overhead_pct']:.1f}% of wall time")
    print(f"  of which probe jobs (build, FLOPs, graph key, proxies): {r['probe_s']:.1f} s; "
          f"training jobs outside training: {r['job_s'] - r['train_s']:.1f} s; "
          f"parent loop: {r['wall_s'] - r['probe_s'] - r['job_s'] / args.workers:.1f} s")
    print(f"median per-training-job overhead (job wall - training): {r['median_job_overhead_s']:.3f} s")


if __name__ == "__main__":
    main()
