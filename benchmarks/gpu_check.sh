#!/usr/bin/env bash
# GPU check (issue 18): on a machine with a CUDA device, run a small replay campaign with one GPU per job,
# on the local executor (gpu_ids = [0]) and on a private Ray cluster (num_gpus = 1), and check that every
# job trained on CUDA; print per-job overhead (job wall - training) and throughput (trained jobs per minute).
#
#   bash benchmarks/gpu_check.sh [PROPOSALS=8] [EPOCHS=5]
#
# "Trained on CUDA" is checked by the candidates themselves: every proposal's forward() asserts
# `x.is_cuda`, so a job that ran on the CPU fails (runtime) instead of passing. Exit status 0 only if
# every proposal of both campaigns trained. Without a CUDA device it says so and exits 2.
# Status: written without a GPU (none was lent to this task) — unverified on real hardware.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PROPOSALS="${1:-8}" EPOCHS="${2:-5}" python - <<'EOF'
import json, os, statistics, sys, tempfile, time
from pathlib import Path

import torch

if not torch.cuda.is_available():
    print("gpu_check: no CUDA device visible (torch.cuda.is_available() is False)", file=sys.stderr)
    sys.exit(2)

from agent.config import parse_config
from agent.loop import Campaign
from knowledge.records import Status

N, EPOCHS = int(os.environ["PROPOSALS"]), int(os.environ["EPOCHS"])
MODEL = '''import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, in_shape, n_out):
        super().__init__()
        c = in_shape[0]
        self.body = nn.Sequential(nn.Conv2d(c, {w}, 3, padding=1), nn.ReLU(), nn.Conv2d({w}, {w}, 3, padding=1),
                                  nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear({w}, n_out))

    def forward(self, x):
        assert x.is_cuda, "trained on " + str(x.device)
        return self.body(x)  # (B, n_out)
'''


def campaign(executor: dict, name: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="archagent-gpu-"))
    with open(tmp / "replay.jsonl", "w") as fh:
        for i in range(N):
            fh.write(json.dumps({"reply": f"```python\n{MODEL.format(w=16 + 8 * i)}```"}) + "\n")
    cfg = parse_config({"name": name, "store": str(tmp / "s.db"), "task": {"name": "digits", "options": {"epochs": EPOCHS}},
                        "budget": {"proposals": N}, "backends": [{"kind": "replay", "path": str(tmp / "replay.jsonl")}],
                        "prefilter": {"enabled": False}, "executor": executor})
    t0 = time.perf_counter()
    camp = Campaign(cfg)
    camp.run()
    wall = time.perf_counter() - t0
    cands = [c for c in camp.store.candidates(camp.id) if c.backend != "seed"]
    ok = [c for c in cands if c.status == Status.OK]
    over = [c.timings.get("wall_s", 0) - c.timings.get("train_s", 0) for c in ok if "train_s" in c.timings]
    print(f"{name:28} trained {len(ok)}/{len(cands)} on CUDA | per-job overhead median "
          f"{statistics.median(over) if over else float('nan'):.3f} s | {60 * len(ok) / wall:.1f} jobs/min "
          f"(wall {wall:.1f} s)")
    for c in cands:
        if c.status != Status.OK:
            print(f"  #{c.id} {c.status} {c.failure_kind}: {(c.failure_msg or '')[-200:]}")
    return len(ok) == len(cands)


print(f"device: {torch.cuda.get_device_name(0)}; {N} proposals x {EPOCHS} epochs per campaign")
good = campaign({"kind": "local", "workers": 1, "gpu_ids": [0]}, "local, gpu_ids=[0]")
try:
    import ray  # noqa: F401
    good &= campaign({"kind": "ray", "workers": 1, "cluster_cpus": 2, "num_gpus": 1}, "ray, num_gpus=1")
except ImportError:
    print("ray not installed: Ray half skipped")
sys.exit(0 if good else 1)
EOF
