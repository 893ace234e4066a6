"""diff / lineage / report on a small hand-built store (real SQLite, real rendering), plus CLI exits.

    pytest tests/test_review.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from archagent.agent.cli import app
from archagent.evals.report.data import gather, kendall_tau, pareto_front
from archagent.evals.report.lineage import Lineage, code_diff
from archagent.evals.report.render import render_html, render_markdown
from archagent.knowledge.records import FailureKind, Status
from archagent.knowledge.store import Store
from typer.testing import CliRunner

SEED = "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n    \"\"\"Seed MLP.\"\"\"\n\n    def __init__(self, in_shape, n_out):\n        super().__init__()\n        self.fc = nn.Linear(64, n_out)\n"  # noqa: E501


def variant(width: int) -> str:
    return SEED.replace("Seed MLP.", f"MLP width {width}.").replace("nn.Linear(64, n_out)", f"nn.Linear(64, {width})")


@pytest.fixture
def store(tmp_path):
    """seed #1 → #2 → #4 (co-parent #3); #3 is a second seed; #5 failed; #6 duplicate of #2; #7 child of #1 and #4."""
    st = Store(tmp_path / "s.db")
    cid = st.create_campaign("demo", "digits", json.dumps({"name": "demo", "task": {"name": "digits"}})).id
    add = lambda code, status, **kw: st.add_candidate(cid, code, status, **kw)  # noqa: E731
    add(SEED, Status.OK, backend="seed", metric=0.80, params=650, history=[2.0, 1.0])
    add(variant(32), Status.OK, backend="replay:x", parent_ids=(1,), metric=0.85, params=2000, flops=4000,
        prefilter_score=0.1)
    add(variant(8), Status.OK, backend="seed", metric=0.70, params=500, flops=1000, prefilter_score=-0.5)
    add(variant(64), Status.OK, backend="replay:x", parent_ids=(2, 3), metric=0.90, params=4000, flops=8000,
        prefilter_score=0.7)
    add("class Net(:", Status.FAILED, backend="replay:x", parent_ids=(4,), failure_kind=FailureKind.SYNTAX,
        failure_msg="invalid syntax")
    add(variant(32), Status.DUPLICATE, backend="replay:x", parent_ids=(4,), duplicate_of=2)
    add(variant(16), Status.OK, backend="replay:x", parent_ids=(1, 4), metric=0.88, params=1200, prefilter_score=0.3)
    st.add_llm_call(cid, backend="replay:x", model="m", purpose="propose", prompt="[]", reply="r", prompt_tokens=10,
                    completion_tokens=5, latency_s=0.5, cost_usd=0.01)
    return st


def test_lineage_chain_descendants_and_generation(store):
    lin = Lineage(store.candidates(1))
    assert lin.chain(4) == (4, 2, 1)
    assert lin.ancestors(7) == {1, 2, 3, 4}
    tree = lin.descendants(1)
    assert [k.id for k in tree.children] == [2, 7]
    under_4 = tree.children[0].children[0]
    assert under_4.id == 4 and [(k.id, k.repeat) for k in under_4.children] == [(5, False), (6, False), (7, False)]
    assert tree.children[1].repeat  # #7 is reached again as a child of #1: shown once in full
    assert lin.generation(1) == 0 and lin.generation(4) == 2 and lin.generation(7) == 3


def test_diff_vs_parent_and_other(store):
    runner = CliRunner()
    res = runner.invoke(app, ["diff", "4", "--store", str(store.path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert (out["from"], out["to"]) == (2, 4)
    assert "-        self.fc = nn.Linear(64, 32)" in out["diff"]
    assert "+        self.fc = nn.Linear(64, 64)" in out["diff"]
    res = runner.invoke(app, ["diff", "4", "3", "--store", str(store.path), "--json"])
    assert json.loads(res.output)["from"] == 3
    assert code_diff(store.candidate(2), store.candidate(6)) == ""  # the duplicate is textually identical


def test_lineage_cli_tree_and_json(store):
    runner = CliRunner()
    res = runner.invoke(app, ["lineage", "4", "--store", str(store.path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert [a["id"] for a in out["ancestors"]] == [2, 1]
    assert sorted(k["id"] for k in out["descendants"]["children"]) == [5, 6, 7]
    text = runner.invoke(app, ["lineage", "4", "--store", str(store.path)]).output
    assert text.index("#1") < text.index("#2") < text.index("#4") < text.index("#5")


def test_cli_user_errors_are_one_line(store):
    for args in (["diff", "1"], ["report", "demo", "--out", "x.txt"]):
        proc = subprocess.run([sys.executable, "-c", "from agent.cli import main; main()", *args, "--store",
                               str(store.path)], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "COLUMNS": "300"})  # rich wraps long lines at 80 otherwise
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.strip().startswith("error:") and len(proc.stderr.strip().splitlines()) == 1


def test_report_data_funnel_pareto_tau(store):
    data = gather(store, "demo")
    f = data.funnel()
    assert (f.proposed, f.duplicate, f.invalid, f.trained) == (5, 1, 1, 3)
    assert data.improvers() == {2, 4}  # #7 (0.88) came after #4 (0.90): trained, not an improvement
    assert [c.id for c in pareto_front(data.trained(), "params", True)] == [3, 1, 7, 4]
    assert [c.id for c in pareto_front(data.trained(), "flops", True)] == [3, 2, 4]
    assert kendall_tau([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0) and kendall_tau([1, 2], [2, 1]) is None


def test_report_renders_all_sections_with_and_without_measurements(store, tmp_path):
    html = render_html(gather(store, "demo"))
    assert html.count("data:image/png;base64,") >= 5  # best-so-far, funnel, pareto, pre-filter, usage
    assert "Kendall τ = " in html and 'id="diff-4"' in html and "<svg" in html and 'href="#cand-4"' in html
    empty = Store(tmp_path / "empty.db")
    empty.create_campaign("fresh", "digits", "{}")
    html = render_html(gather(empty, "fresh"))
    assert html.count("not available") >= 5 and "<svg" not in html
    md = render_markdown(gather(empty, "fresh"), tmp_path / "plots")
    assert "# Campaign report: fresh" in md and "not available" in md
