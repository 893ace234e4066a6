"""Export a candidate as a model people can use: `model.py`, trained weights, ONNX.

    archagent export 17 --out winner/ --weights --onnx

    winner/model.py              the architecture, importable alone (torch only), with a header:
                                 lineage, metrics, the recipe to reproduce; `build()` and `load()`
    winner/weights.safetensors   weights of the best final-evaluation run of this candidate
    winner/sample.safetensors    the first test inputs and that run's stored outputs on them
    winner/model.onnx            the trained model through `torch.onnx.export`, made in the sandbox

Weights come from `archagent final` (the sandboxed child returned them as a safetensors
blob; nothing is unpickled anywhere). The ONNX file is made by a sandboxed job that
loads those weights instead of training, predicts the validation/test inputs again and
exports; its metric must equal the stored one (`Exported.reproduced`).
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from archagent.agent.final import campaign_config, judge, task_of
from archagent.evals.report.lineage import Lineage
from archagent.knowledge.records import Candidate, FinalRun, Status
from archagent.knowledge.store import Store, StoreError
from archagent.sandbox.artifacts import artifact_bytes, encode_weights

HEADER = '''"""archagent export: candidate #{id} of campaign '{campaign}' (task {task}).

Lineage (first parents, newest first): {lineage}
Search metric ({metric_name}, one training run): {search_metric}
Final evaluation ({final_runs}): {final}
Parameters: {params}   FLOPs per example: {flops}

Reproduce: train Net({in_shape}, {n_out}) with the task's fixed recipe
    task {task} options {options}
    recipe {recipe}
e.g. `archagent evaluate --task {task}{option_args} model.py` (the same sandboxed protocol as the campaign).

Use:
    from model import load
    net = load()          # Net with weights.safetensors (beside this file) loaded, in eval mode
"""
'''

FOOTER = '''

# -- added by archagent export ---------------------------------------------------------
IN_SHAPE = {in_shape!r}
N_OUT = {n_out!r}


def build() -> "Net":
    """A freshly initialised Net for this task's shapes."""
    return Net(IN_SHAPE, N_OUT)


def load(weights: str | None = None) -> "Net":
    """Net with trained weights (safetensors; default: weights.safetensors beside this file), in eval mode."""
    import os

    from safetensors.torch import load_file

    net = build()
    net.load_state_dict(load_file(weights or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                            "weights.safetensors")))
    return net.eval()
'''


@dataclass(frozen=True)
class Exported:
    """What `export` wrote, and whether the sandboxed re-run reproduced the stored run."""

    candidate_id: int
    files: dict[str, str] = field(default_factory=dict)  # kind -> path
    run_id: int | None = None  # the final-evaluation run whose weights were exported
    reproduced: bool | None = None  # ONNX job: its metric equals the stored run's (None: not checked)
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def best_run(store: Store, cand: Candidate, higher_is_better: bool) -> FinalRun:
    """The final run of this candidate with weights and the best validation metric."""
    runs = [r for r in store.final_runs(cand.campaign_id)
            if r.candidate_id == cand.id and r.status == Status.OK and r.has_weights]
    if not runs:
        camp = store.campaign(cand.campaign_id).name
        raise StoreError(f"candidate {cand.id} has no final-evaluation run with weights "
                         f"(run `archagent final {camp}` first)")
    return sorted(runs, key=lambda r: ((-1 if higher_is_better else 1) * r.metric, r.seed))[0]


def header(store: Store, cand: Candidate) -> str:
    camp, task = store.campaign(cand.campaign_id), task_of(store.campaign(cand.campaign_id))
    cfg, lin = campaign_config(camp), Lineage(store.candidates(cand.campaign_id))
    lineage = " <- ".join(f"#{i} ({lin.by_id[i].backend})" for i in lin.chain(cand.id) if i in lin.by_id)
    runs = [r for r in store.final_runs(cand.campaign_id) if r.candidate_id == cand.id and r.status == Status.OK]
    return HEADER.format(
        id=cand.id, campaign=camp.name, task=camp.task, lineage=lineage, metric_name=task.metric_name,
        search_metric=_fmt(cand.metric), final_runs=f"{len(runs)} seeds" if runs else "not run",
        final=_final_text(runs), params=cand.params, flops=cand.flops, in_shape=tuple(task.spec.in_shape),
        n_out=task.spec.n_out, options=json.dumps(cfg.task.options), recipe=asdict(task.spec.recipe),
        option_args=option_args(cfg.task.options))


def option_args(options: dict) -> str:
    """The campaign's task options as `archagent evaluate` flags: ` -o epochs=8 -o path=data.npz`."""
    pairs = (f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in options.items())
    return "".join(f" -o {shlex.quote(pair)}" for pair in pairs)


def _final_text(runs: list[FinalRun]) -> str:
    if not runs:
        return "none (archagent final CAMPAIGN)"
    val, test = [r.metric for r in runs], [r.test_metric for r in runs]
    return (f"val {_mean_sd(val)}, test {_mean_sd(test)} "
            f"(seeds {', '.join(str(r.seed) for r in runs)}; epochs {runs[0].epochs})")


def _mean_sd(xs: list[float]) -> str:
    mean = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return f"{mean:.4f} ± {sd:.4f}"


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def model_source(store: Store, cand: Candidate) -> str:
    """The standalone module: header, the candidate's code unchanged, then `build()`/`load()`."""
    task = task_of(store.campaign(cand.campaign_id))
    footer = FOOTER.format(in_shape=tuple(task.spec.in_shape), n_out=task.spec.n_out)
    return header(store, cand) + "\n" + cand.code.rstrip() + "\n" + footer


def export(store: Store, candidate_id: int, out: Path, weights: bool = False, onnx: bool = False,
           timeout_s: float | None = None) -> Exported:
    """Write model.py (and weights, sample, ONNX when asked) into `out`; returns what was written."""
    cand = store.candidate(candidate_id)
    if not cand.code:
        raise ValueError(f"candidate {candidate_id} has no code to export ({cand.status})")
    out.mkdir(parents=True, exist_ok=True)
    files = {"model": str(_write(out / "model.py", model_source(store, cand)))}
    if not (weights or onnx):
        return Exported(cand.id, files)
    task = task_of(store.campaign(cand.campaign_id))
    run = best_run(store, cand, task.higher_is_better)
    blob = store.final_weights(run.id)
    files["weights"] = str(_write(out / "weights.safetensors", blob))
    files["sample"] = str(write_sample(out / "sample.safetensors", task, run))
    if not onnx:
        return Exported(cand.id, files, run.id)
    return onnx_export(store, cand, run, blob, out, files, timeout_s)


def write_sample(path: Path, task, run: FinalRun) -> Path:
    """The first test inputs and the stored run's outputs on them, for checking a reloaded model."""
    from safetensors.numpy import save_file

    outputs = np.asarray(run.preds_sample, dtype=np.float32)
    inputs = np.ascontiguousarray(task.splits().x_test[: len(outputs)])
    save_file({"inputs": inputs, "outputs": outputs}, str(path))
    return path


def onnx_export(store: Store, cand: Candidate, run: FinalRun, blob: bytes, out: Path, files: dict,
                timeout_s: float | None) -> Exported:
    """Load the run's weights in a sandboxed job, predict again, export ONNX; check the metric reproduces."""
    from archagent.sandbox.judge import Evaluator
    from archagent.sandbox.runner import SubprocessRunner

    camp = store.campaign(cand.campaign_id)
    cfg, task = campaign_config(camp), task_of(camp)
    limits = cfg.sandbox
    runner = SubprocessRunner(timeout_s or limits.timeout_s, threads=cfg.executor.threads, limits=limits)
    evaluator = Evaluator(task, runner, max_params=cfg.task.max_params, max_flops=cfg.task.max_flops)
    job = evaluator.job("full", proxies=False).model_copy(update={"weights": encode_weights(blob),
                                                                  "artifacts": ["onnx"]})
    result = runner.run(cand.code, job)
    ev = judge(task, result)
    graph = artifact_bytes(result.preds, "onnx") if ev.ok else None
    if graph is None:
        raise RuntimeError(f"ONNX export of candidate {cand.id} failed in the sandbox: "
                           f"{ev.failure_kind}: {ev.failure_msg}")
    files["onnx"] = str(_write(out / "model.onnx", graph))
    same = ev.metric is not None and math.isclose(ev.metric, run.metric, rel_tol=1e-6, abs_tol=1e-6)
    detail = f"re-run val {_fmt(ev.metric)} vs stored {_fmt(run.metric)}"
    return Exported(cand.id, files, run.id, same, detail)


def _write(path: Path, data: str | bytes) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    tmp.replace(path)
    return path
