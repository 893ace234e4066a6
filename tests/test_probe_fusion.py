"""The fused `probe_full` job: probe and training in one sandboxed child give what the two jobs give apart."""

from __future__ import annotations

from pathlib import Path

import pytest
from archagent.evals.tasks import get_task
from archagent.sandbox.judge import Evaluator
from archagent.sandbox.limits import SandboxLimits
from archagent.sandbox.runner import SubprocessRunner

SEED = Path(__file__).resolve().parent.parent / "evals" / "seeds" / "digits" / "cnn.py"


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory):
    runner = SubprocessRunner(threads=1, limits=SandboxLimits(timeout_s=120))
    return Evaluator(get_task("digits", {"epochs": 2}), runner, tmp_path_factory.mktemp("data"))


def test_fused_job_equals_probe_then_train(evaluator):
    code = SEED.read_text()
    probe, full = evaluator.evaluate(code, "probe"), evaluator.evaluate(code, "full")
    fused = evaluator.evaluate(code, "probe_full")
    assert probe.ok and full.ok and fused.ok
    assert fused.metric == full.metric and fused.test_metric == full.test_metric  # same seed, fresh model
    assert (fused.graph_key, fused.flops, fused.params) == (probe.graph_key, probe.flops, probe.params)
    assert fused.proxies == pytest.approx(probe.proxies, nan_ok=True)
    assert "train_s" in fused.timings and fused.history


def test_fused_job_stops_at_the_probe_on_a_build_failure(evaluator):
    fused = evaluator.evaluate(SEED.read_text().replace("nn.Linear(64, n_out)", "nn.Linear(63, n_out)"), "probe_full")
    assert not fused.ok and str(fused.failure_kind) in ("shape", "build", "runtime") and fused.metric is None
