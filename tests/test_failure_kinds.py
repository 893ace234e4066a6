"""Failure kinds tell the truth: each kind in `knowledge.records.FailureKind` that a candidate can
cause is reached here by a real candidate in the real sandbox (the others: `test_executor_contract`
for crash/lost/timeout, `test_sandbox_hostile` for memory/forbidden/nan, `test_llm_faults` for
llm/no_code, `test_tasks_campaigns` for causality).

    pytest tests/test_failure_kinds.py
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from archagent.agent.pipeline import evaluate_once
from archagent.evals.tasks import get_task
from archagent.knowledge.records import FailureKind, Status
from archagent.sandbox.judge import Evaluator
from archagent.sandbox.limits import SandboxLimits
from archagent.sandbox.runner import SubprocessRunner

HEAD = "import torch\nfrom torch import nn\n\n\n"
LINEAR = HEAD + '''class Net(nn.Module):
    def __init__(self, in_shape, n_out):
        super().__init__()
        self.fc = nn.Linear(64, n_out)

    def forward(self, x):
        {body}
'''
CANDIDATES = {
    FailureKind.SYNTAX: "class Net(:\n",
    FailureKind.IMPORT: "import no_such_module_anywhere\n" + LINEAR.format(body="return self.fc(x.flatten(1))"),
    FailureKind.BUILD: LINEAR.replace("super().__init__()", "raise TypeError('no')").format(body="return x"),
    FailureKind.SHAPE: LINEAR.format(body="return self.fc(x.flatten(1))[:, :3]"),
    FailureKind.RUNTIME: LINEAR.format(body="return self.fc(x.flatten(1)) if self.training is False else 1 / 0"),
    FailureKind.BUDGET: LINEAR.replace("nn.Linear(64, n_out)", "nn.Linear(64, 100_000)").format(
        body="return self.fc(x.flatten(1))[:, :10]"),
}


def evaluate(code: str):
    """One file through the campaign's own pipeline: probe, then full training."""
    return evaluate_once(code, get_task("digits", {"epochs": 1}), SandboxLimits(timeout_s=120), threads=1)


@pytest.mark.parametrize("kind", list(CANDIDATES), ids=str)
def test_each_candidate_fault_gets_its_kind(kind: FailureKind):
    c = evaluate(CANDIDATES[kind])
    assert c.status == Status.FAILED and c.failure_kind == kind, (c.failure_kind, c.failure_msg)


def test_a_model_without_input_gradient_is_not_a_probe_failure():
    """Its output ignores the input (a learned constant): jacob_cov has nothing to read, so it has no value."""
    code = HEAD + '''class Net(nn.Module):
    def __init__(self, in_shape, n_out):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)
'''
    c = evaluate(code)
    assert c.status == Status.OK, (c.failure_kind, c.failure_msg)
    jacob_cov = c.proxies.get("jacob_cov")
    assert jacob_cov is None or math.isnan(jacob_cov)  # a nan proxy comes back as "no value"


def test_predictions_over_the_file_size_limit_are_budget_not_crash(tmp_path: Path):
    """(val + test) x 2000 outputs x float32 = 3.2 MB of predictions against a 1 MB file-size limit."""
    rng = np.random.default_rng(0)
    arrays = {f"x_{s}": rng.normal(size=(n, 4)).astype(np.float32) for s, n in (("train", 32), ("val", 200),
                                                                                  ("test", 200))}
    arrays |= {f"y_{s}": rng.normal(size=(len(arrays[f"x_{s}"]), 2000)).astype(np.float32)
               for s in ("train", "val", "test")}
    np.savez(tmp_path / "wide.npz", **arrays)
    task = get_task("npz", {"path": str(tmp_path / "wide.npz"), "kind": "regression", "epochs": 1})
    runner = SubprocessRunner(limits=SandboxLimits(timeout_s=120, max_file_mb=1))
    code = HEAD + '''class Net(nn.Module):
    def __init__(self, in_shape, n_out):
        super().__init__()
        self.fc = nn.Linear(in_shape[0], n_out)

    def forward(self, x):
        return self.fc(x)
'''
    ev = Evaluator(task, runner).evaluate(code, "full")
    assert ev.failure_kind == FailureKind.BUDGET, (ev.failure_kind, ev.failure_msg)
    assert "file-size limit" in ev.failure_msg
