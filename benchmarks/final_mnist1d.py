"""End to end on mnist1d: campaign → `final --top 3 --seeds 3` → report → export (weights + ONNX) → clean reload.

    python benchmarks/final_mnist1d.py [WORK_DIR] [--epochs 5] [--proposals 6]

Prints the final-evaluation table, how far the single search run of each finalist was
from its multi-seed mean, the wall time of each stage, and the largest difference between
the stored predictions and those of the exported files reloaded in a fresh interpreter
(PyTorch and ONNX). No LLM: the evolution baseline proposes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECK = """
import numpy as np, onnx, torch
from onnx.reference import ReferenceEvaluator
from safetensors.numpy import load_file
from model import load
s = load_file("sample.safetensors")
with torch.no_grad():
    torch_out = load()(torch.from_numpy(s["inputs"])).numpy()
m = onnx.load("model.onnx")
(onnx_out,) = ReferenceEvaluator(m).run(None, {m.graph.input[0].name: s["inputs"]})
print(float(np.abs(torch_out - s["outputs"]).max()), float(np.abs(onnx_out - s["outputs"]).max()))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", nargs="?", default=None)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--proposals", type=int, default=6)
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="final-mnist1d-"))
    work.mkdir(parents=True, exist_ok=True)

    from archagent.agent.cli.final import final_table
    from archagent.agent.config import parse_config
    from archagent.agent.export import export
    from archagent.agent.final import FinalEvaluation
    from archagent.agent.loop import Campaign
    from archagent.evals.report.render import write_report
    from archagent.knowledge.store import Store
    from rich.console import Console

    cfg = parse_config({"name": "mnist1d-final", "store": str(work / "store.db"),
                        "task": {"name": "mnist1d", "options": {"epochs": args.epochs}},
                        "budget": {"proposals": args.proposals}, "backends": [{"kind": "evolution"}]})
    t = time.perf_counter()
    summary = Campaign(cfg).run()
    t_campaign = time.perf_counter() - t
    store = Store(cfg.store)
    t = time.perf_counter()
    rows = FinalEvaluation(store, cfg.name).run(top=3, seeds=3)
    t_final = time.perf_counter() - t
    Console(width=200).print(final_table(rows, "accuracy"))
    for r in rows:
        print(f"#{r.candidate_id}: search run {r.search_metric:.4f} vs final mean {r.val.mean:.4f} "
              f"(sd {r.val.sd:.4f}); test {r.test}")
    report = write_report(store, cfg.name, work / "report.html")
    assert 'id="final"' in report.read_text()
    t = time.perf_counter()
    exported = export(store, rows[0].candidate_id, work / "winner", weights=True, onnx=True)
    t_export = time.perf_counter() - t
    res = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, '.')\n" + CHECK],
                         cwd=work / "winner", capture_output=True, text=True, check=True)
    torch_diff, onnx_diff = map(float, res.stdout.split())
    print(f"campaign {t_campaign:.0f} s ({summary.counts}), final {t_final:.0f} s, export {t_export:.0f} s")
    print(f"export reproduced: {exported.reproduced} ({exported.detail}); reload max |diff|: "
          f"torch {torch_diff:.2e}, onnx {onnx_diff:.2e}; report {report}")


if __name__ == "__main__":
    main()
