"""`archagent export`: the files load in a fresh interpreter and reproduce the stored predictions."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from archagent.agent.cli import app
from archagent.knowledge.store import Store
from typer.testing import CliRunner

from tests.final_example import NAME, finished_final

pytestmark = pytest.mark.slow

CHECK_WEIGHTS = """
import numpy as np
from safetensors.numpy import load_file
import torch
from model import load, build, IN_SHAPE, N_OUT
net = load()
sample = load_file("sample.safetensors")
with torch.no_grad():
    out = net(torch.from_numpy(sample["inputs"])).numpy()
assert out.shape == sample["outputs"].shape, (out.shape, sample["outputs"].shape)
print("maxdiff", float(np.abs(out - sample["outputs"]).max()))
assert build()(torch.zeros(3, *IN_SHAPE)).shape == (3, N_OUT)
"""

CHECK_ONNX = """
import numpy as np, onnx
from onnx.reference import ReferenceEvaluator
from safetensors.numpy import load_file
model = onnx.load("model.onnx")
onnx.checker.check_model(model)
sample = load_file("sample.safetensors")
(out,) = ReferenceEvaluator(model).run(None, {model.graph.input[0].name: sample["inputs"]})
print("maxdiff", float(np.abs(out - sample["outputs"]).max()))
"""


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return finished_final(tmp_path_factory.mktemp("export"))


def winner(store_path) -> int:
    store = Store(store_path)
    runs = [r for r in store.final_runs(store.campaign(NAME).id) if r.metric is not None]
    return max(runs, key=lambda r: r.metric).candidate_id


def fresh(code: str, cwd) -> str:
    """Run code in a clean interpreter in `cwd` (no project on the path): only the exported files."""
    res = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, '.')\n{code}"], cwd=cwd,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def maxdiff(stdout: str) -> float:
    return float(stdout.split("maxdiff")[-1].split()[0])


def test_model_py_alone_is_importable_and_documents_its_origin(store_path, tmp_path):
    cid = winner(store_path)
    res = CliRunner().invoke(app, ["export", str(cid), "--out", str(tmp_path), "--store", str(store_path)])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "model.py").read_text()
    assert f"candidate #{cid} of campaign '{NAME}'" in text and "Lineage" in text and "recipe" in text
    assert "Final evaluation (2 seeds)" in text
    out = fresh("import torch\nfrom model import build\nprint(tuple(build()(torch.zeros(2, 1, 8, 8)).shape))",
                tmp_path)
    assert out.strip() == "(2, 10)"


def test_weights_reproduce_the_stored_predictions_in_a_fresh_interpreter(store_path, tmp_path):
    cid = winner(store_path)
    res = CliRunner().invoke(app, ["export", str(cid), "--out", str(tmp_path), "--weights", "--json",
                                   "--store", str(store_path)])
    assert res.exit_code == 0, res.output
    files = json.loads(res.output)["files"]
    assert set(files) == {"model", "weights", "sample"}
    assert maxdiff(fresh(CHECK_WEIGHTS, tmp_path)) < 1e-4


def test_onnx_is_made_in_the_sandbox_and_reproduces(store_path, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    cid = winner(store_path)
    res = CliRunner().invoke(app, ["export", str(cid), "--out", str(tmp_path), "--weights", "--onnx", "--json",
                                   "--store", str(store_path)])
    assert res.exit_code == 0, res.output
    result = json.loads(res.output)
    assert result["reproduced"] is True, result["detail"]
    assert maxdiff(fresh(CHECK_ONNX, tmp_path)) < 1e-4


def test_weights_need_a_final_run(store_path, tmp_path):
    store = Store(store_path)
    finals = {r.candidate_id for r in store.final_runs(store.campaign(NAME).id)}
    other = next(c.id for c in store.candidates(NAME) if c.id not in finals and c.code)
    res = CliRunner().invoke(app, ["export", str(other), "--out", str(tmp_path), "--weights",
                                   "--store", str(store_path)])
    assert res.exit_code != 0
    assert "archagent final" in str(res.exception) + res.output
