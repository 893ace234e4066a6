"""The parent's verdict on a sandboxed run: `judge(task, result, stage)` is the one trusted scoring.

    evaluation = judge(task, completed.result, "full")    # agent/pipeline.py, per finished job

The child sees the training split and validation/test *inputs*; the metric is
computed here, in the parent, from the predictions it returns (docs/contracts.md,
"Trust boundary"). `Evaluator` runs single jobs on a `SubprocessRunner` for the
one-file tools (`archagent score`, `fingerprint`) and benchmarks.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from archagent.evals.tasks.base import Task, TaskSpec
from archagent.knowledge.records import FailureKind
from archagent.sandbox.collect import RunResult
from archagent.sandbox.protocol import Job, Stage


@dataclass(frozen=True)
class Evaluation:
    """The trusted outcome of one candidate evaluation."""

    ok: bool
    failure_kind: FailureKind | None = None
    failure_msg: str | None = None
    metric: float | None = None
    test_metric: float | None = None
    params: int | None = None
    flops: int | None = None
    graph_key: str | None = None
    proxies: dict[str, float | None] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    history: list[float | None] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "ok" if self.ok else str(self.failure_kind)


def public_data_file(task: Task, cache_dir: Path | None = None) -> Path:
    """Write (once) the arrays the child may see: no validation/test labels."""
    arrays = task.splits().public()
    digest = hashlib.blake2b(digest_size=8)
    for key in sorted(arrays):
        digest.update(key.encode() + arrays[key].tobytes())
    folder = cache_dir or Path(tempfile.gettempdir()) / "archagent-data"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{task.spec.name}-{digest.hexdigest()}.npz"
    if not path.exists():
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
    return path


def expected_preds(task: Task, spec: TaskSpec | None = None) -> dict[str, tuple[int, ...]]:
    """{split: shape} of the predictions the parent accepts: (N, n_out), or (N, T, n_out) for sequences."""
    splits, spec = task.splits(), spec or task.spec
    tail = (spec.in_shape[0], spec.n_out) if spec.kind == "sequence" else (spec.n_out,)
    return {"val": (len(splits.x_val), *tail), "test": (len(splits.x_test), *tail)}


def make_job(task: Task | TaskSpec, data_path: Path, stage: Stage = "full", epochs: int | None = None,
             device: str = "cpu", proxies: bool = True, spec: TaskSpec | None = None) -> Job:
    """A job for `task` (a Task also tells the parent which prediction shapes to accept); `spec` overrides
    its spec (budgets from the config)."""
    spec = spec or (task if isinstance(task, TaskSpec) else task.spec)
    shapes = {} if isinstance(task, TaskSpec) else expected_preds(task, spec)
    return Job(spec=spec.to_dict(), data_path=str(data_path), stage=stage, epochs=epochs, device=device,
               proxies=proxies, preds_shapes=shapes)


def check_preds(task: Task, preds: dict[str, np.ndarray]) -> str | None:
    """Why the returned predictions are unusable, or None if they are fine (shape and dtype before values)."""
    for name, want in expected_preds(task).items():
        p = preds.get(name)
        if not isinstance(p, np.ndarray) or p.shape != want:
            got = getattr(p, "shape", None)
            return f"{name} predictions have shape {got}, expected {want}"
        if p.dtype.kind != "f":
            return f"{name} predictions have dtype {p.dtype}, expected float32"
        if not np.isfinite(p).all():
            return f"{name} predictions contain NaN or infinity"
        if np.abs(p).max(initial=0.0) > 1e6:
            return f"{name} predictions are absurdly large (max |x| = {np.abs(p).max():.3g})"
    return None


JUDGE_ERRORS = (ArithmeticError, LookupError, TypeError, ValueError, RecursionError, MemoryError)


def judge(task: Task, result: RunResult, stage: Stage = "full") -> Evaluation:
    """The trusted evaluation of one sandbox run: the child's report checked, the metric computed here.

    Whatever the job returned, this never raises on its account: an error while checking or scoring it
    (a type, value, recursion or memory error) is that candidate's failure, not the caller's."""
    try:
        return _judge(task, result, stage)
    except JUDGE_ERRORS as err:
        kind = FailureKind.MEMORY if isinstance(err, MemoryError) else FailureKind.SHAPE
        msg = f"the parent could not score this job's output: {type(err).__name__}: {str(err)[:300]}"
        return Evaluation(ok=False, failure_kind=kind, failure_msg=msg,
                          timings={"wall_s": result.wall_s})


def _judge(task: Task, result: RunResult, stage: Stage) -> Evaluation:
    rep = result.report
    base = dict(params=rep.params, flops=rep.flops, graph_key=rep.graph_key, proxies=rep.proxies,
                features=rep.features, timings={**rep.timings, "wall_s": result.wall_s}, history=rep.history)
    if not rep.ok:
        return Evaluation(ok=False, failure_kind=rep.failure_kind, failure_msg=rep.failure_msg, **base)
    if stage == "probe":
        return Evaluation(ok=True, **base)
    problem = check_preds(task, result.preds)
    if problem:
        kind = FailureKind.NAN if "NaN" in problem else FailureKind.SHAPE
        return Evaluation(ok=False, failure_kind=kind, failure_msg=problem, **base)
    metric = task.score(result.preds["val"], "val")
    test_metric = task.score(result.preds["test"], "test")
    return Evaluation(ok=True, metric=metric, test_metric=test_metric, **base)


class Evaluator:
    """Task + sandbox runner: `evaluate(code, stage)` gives a trusted `Evaluation` of one job.

    `max_params`/`max_flops` override the task's budget gates (from the config).
    """

    def __init__(self, task: Task, runner=None, data_dir: Path | None = None, device: str = "cpu",
                 max_params: int | None = None, max_flops: int | None = None):
        self.task, self.runner, self.device = task, runner, device
        self.data_path = public_data_file(task, data_dir)
        budget = {k: v for k, v in (("max_params", max_params), ("max_flops", max_flops)) if v is not None}
        self.spec = replace(task.spec, **budget)

    def job(self, stage: Stage = "full", epochs: int | None = None, proxies: bool = True) -> Job:
        return make_job(self.task, self.data_path, stage, epochs, self.device, proxies, spec=self.spec)

    def evaluate(self, code: str, stage: Stage = "full", epochs: int | None = None, proxies: bool = True) -> Evaluation:
        return judge(self.task, self.runner.run(code, self.job(stage, epochs, proxies)), stage)
