"""A scripted `Executor` for loop, pipeline and population tests: instant results, no sandbox, no torch.

    ex = FakeExecutor(task, rules={"nn.Linear(32, n_out)": FailureKind.SHAPE, "width=96": 0.99,
                                   "nn.GRU": (FailureKind.BUILD, "TypeError: bad argument")})
    Campaign(cfg, executor=ex).run()

Each job's result follows from its code, deterministically: source that does not
compile fails as SYNTAX (as the child would report it); a `rules` substring found
in the code decides the outcome (a `FailureKind`, optionally with its error
message, or the validation metric it trains to); anything else trains to a metric in [0.85, 0.98] drawn from the code's
hash. The graph key is the canonical-AST key, params and proxies come from the
hash, and a full run returns real predictions for the task's validation and test
inputs, so the parent's trusted scoring (`sandbox.judge`) runs as in a campaign.
"""

from __future__ import annotations

import hashlib

import numpy as np
from archagent.evals.fingerprint import code_key
from archagent.evals.tasks.base import Task
from archagent.knowledge.records import FailureKind
from archagent.sandbox.collect import RunResult, failed
from archagent.sandbox.executor import Executor, JobId
from archagent.sandbox.protocol import ChildReport, Job


class FakeExecutor(Executor):
    def __init__(self, task: Task, rules: dict[str, FailureKind | tuple[FailureKind, str] | float] | None = None):
        super().__init__()
        self.task, self.rules = task, rules or {}
        self.submitted: list[tuple[str, str, int | None]] = []  # (stage, code, epochs) per job, in order

    def _start(self, job_id: JobId, code: str, job: Job) -> None:
        self.submitted.append((job.stage, code, job.epochs))
        self._deliver(job_id, self.result(code, job))

    def _stop(self, job_id: JobId) -> None:
        return None

    def _close(self) -> None:
        return None

    def result(self, code: str, job: Job) -> RunResult:
        try:
            compile(code, "candidate.py", "exec")
        except SyntaxError as err:
            return failed(FailureKind.SYNTAX, f"SyntaxError: {err.msg} (line {err.lineno})")
        rule = next((v for k, v in self.rules.items() if k in code), None)
        if isinstance(rule, tuple):
            return failed(*rule)
        if isinstance(rule, FailureKind):
            return failed(rule, f"scripted {rule} failure")
        h = int(hashlib.sha256(code.encode()).hexdigest()[:8], 16)
        metric = rule if rule is not None else 0.85 + (h % 1300) / 10_000
        if job.epochs:  # a short run: a little worse, same order
            metric -= 0.05
        report = dict(params=1_000 + h % 50_000, flops=10_000 + h % 500_000, graph_key=code_key(code),
                      features={"depth": float(2 + h % 5)}, timings={"build_s": 0.01})
        if job.stage in ("probe", "probe_full") and job.proxies:  # probe_full: the probe's facts and training
            report["proxies"] = {"synflow": float(metric), "nwot": float(metric)}
        if job.stage == "probe":
            return RunResult(ChildReport(ok=True, **report))
        preds = {split: self.logits(split, metric) for split in ("val", "test")}
        return RunResult(ChildReport(ok=True, history=[1.0, 0.5], **report), preds=preds, wall_s=0.01)

    def logits(self, split: str, accuracy: float) -> np.ndarray:
        """Class scores that are right on the first `accuracy` share of the split's examples."""
        splits = self.task.splits()
        y = splits.y_val if split == "val" else splits.y_test
        n_out = self.task.spec.n_out
        right = np.arange(len(y)) < round(accuracy * len(y))
        label = np.where(right, y, (y + 1) % n_out)
        return np.eye(n_out, dtype=np.float32)[label] * 5.0


class SlowFakeExecutor(FakeExecutor):
    """The fake executor with `workers` slots whose every job takes `seconds`; `busy` holds (start, end) per job."""

    def __init__(self, task: Task, workers: int, seconds: float, rules=None):
        super().__init__(task, rules)
        from concurrent.futures import ThreadPoolExecutor

        self.seconds, self.busy = seconds, []
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="slot")

    def _start(self, job_id: JobId, code: str, job: Job) -> None:
        self.submitted.append((job.stage, code, job.epochs))
        self._pool.submit(self._run, job_id, code, job)

    def _run(self, job_id: JobId, code: str, job: Job) -> None:
        import time

        start = time.monotonic()
        time.sleep(self.seconds)
        result = self.result(code, job)
        self.busy.append((start, time.monotonic()))
        self._deliver(job_id, result)

    def _close(self) -> None:
        self._pool.shutdown(wait=True)
