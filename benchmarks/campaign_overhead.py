"""Campaign overhead: wall time not spent in LLM calls or training, on a 50-candidate replay campaign.

    python benchmarks/campaign_overhead.py [--proposals 50] [--epochs 15] [--workers 1]

The replay backend answers instantly with 50 distinct, valid digits models, so
everything but training is overhead: prompt building, dedup, the probe job
(build, shape check, FLOPs, graph key, proxies), sandbox process starts, result
validation, pre-filter refits and store writes. Training time is what the
sandboxed children report for their training loops.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from agent.config import parse_config
from agent.loop import Campaign

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


def run(proposals: int, epochs: int, workers: int, prefilter: bool) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="archagent-bench-"))
    with open(tmp / "replay.jsonl", "w") as fh:
        for code in replies(proposals):
            fh.write(json.dumps({"reply": f"```python\n{code}```"}) + "\n")
    cfg = parse_config({
        "name": "overhead", "store": str(tmp / "s.db"), "task": {"name": "digits", "options": {"epochs": epochs}},
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proposals", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--no-prefilter", action="store_true")
    args = ap.parse_args()
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
