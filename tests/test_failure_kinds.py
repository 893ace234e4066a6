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

from evals.evaluate import Evaluator
from evals.tasks import get_task
from knowledge.records import FailureKind
from sandbox.limits import SandboxLimits
from sandbox.runner import SubprocessRunner

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


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return Evaluator(get_task("digits", {"epochs": 1}), SubprocessRunner(120, threads=1))


@pytest.mark.parametrize("kind", list(CANDIDATES), ids=str)
def test_each_candidate_fault_gets_its_kind(evaluator: Evaluator, kind: FailureKind):
    ev = evaluator.probe_and_train(CANDIDATES[kind])
    assert not ev.ok and ev.failure_kind == kind, (ev.failure_kind, ev.failure_msg)


def test_a_model_without_input_gradient_is_not_a_probe_failure(evaluator: Evaluator):
    """Its output ignores the input (a learned constant): jacob_cov has nothing to read, so it has no value."""
    code = HEAD + '''class Net(nn.Module):
    def __init__(self, in_shape, n_out):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)
'''
    ev = evaluator.probe_and_train(code)
    assert ev.ok, (ev.failure_kind, ev.failure_msg)
    jacob_cov = ev.proxies.get("jacob_cov")
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
