"""`archagent final`: multi-seed retraining of the top candidates, stored, summarized, resumable, reported."""

from __future__ import annotations

import json

import pytest
from archagent.agent.cli import app
from archagent.agent.final import FinalEvaluation, choose
from archagent.evals.final_stats import Spread, summarize, welch_p
from archagent.knowledge.records import FinalRun, Status
from archagent.knowledge.store import Store
from typer.testing import CliRunner

from tests.final_example import NAME, finished_final

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return finished_final(tmp_path_factory.mktemp("final"))


def test_final_stores_every_seed_with_weights_and_test_metric(store_path):
    store = Store(store_path)
    camp = store.campaign(NAME)
    runs = store.final_runs(camp.id)
    picks = choose(store.candidates(camp.id), 2, higher_is_better=True)
    assert {r.candidate_id for r in runs} == {p.candidate.id for p in picks}
    assert len(runs) == 2 * len(picks)
    assert {r.seed for r in runs} == {0, 1}
    ok = [r for r in runs if r.status == Status.OK]
    assert ok, [r.failure_msg for r in runs]
    for r in ok:
        assert 0.0 <= r.metric <= 1.0 and 0.0 <= r.test_metric <= 1.0
        assert r.has_weights and r.train_s > 0 and r.epochs == 1
        assert len(r.preds_sample) == 8 and len(r.preds_sample[0]) == 10
        from safetensors.torch import load

        tensors = load(store.final_weights(r.id))
        assert sum(t.numel() for t in tensors.values()) == r.params
    # a different training seed really trains differently
    by_cand = {}
    for r in ok:
        by_cand.setdefault(r.candidate_id, []).append(r.preds_sample)
    assert any(samples[0] != samples[1] for samples in by_cand.values() if len(samples) == 2)


def test_reference_is_the_best_seed_architecture(store_path):
    store = Store(store_path)
    cands = store.candidates(NAME, status="ok")
    seeds = sorted((c for c in cands if c.backend == "seed"), key=lambda c: -c.metric)
    refs = {r.candidate_id for r in store.final_runs(store.campaign(NAME).id) if r.role == "reference"}
    assert refs == {seeds[0].id}


def test_rerun_is_resumable_and_trains_nothing_new(store_path):
    store = Store(store_path)
    before = [r.id for r in store.final_runs(store.campaign(NAME).id)]
    fe = FinalEvaluation(store, NAME)
    assert fe.todo(fe.plan(2, 2)) == []
    seen = []
    fe.on_run = lambda run, key, ev: seen.append(key)
    rows = fe.run(top=2, seeds=2)
    assert seen == [] and [r.id for r in store.final_runs(store.campaign(NAME).id)] == before
    assert rows[0].val.n == 2 and rows[0].val.sd is not None
    assert rows[0].vs_winner is None and all(r.vs_winner is not None for r in rows[1:])


def test_cli_final_json_and_table(store_path):
    runner = CliRunner()
    res = runner.invoke(app, ["final", NAME, "--top", "2", "--seeds", "2", "--store", str(store_path), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert rows and {"val", "test", "params", "flops", "vs_reference"} <= set(rows[0])
    res = runner.invoke(app, ["final", NAME, "--top", "2", "--seeds", "2", "--store", str(store_path)],
                        env={"COLUMNS": "250"})
    assert res.exit_code == 0 and "0 run(s) to train" in res.output and "reported only" in res.output
    assert " ± " in res.output and ("real" in res.output or "noise" in res.output)


def test_report_and_web_show_the_final_table(store_path, tmp_path):
    from archagent.agent.web import App
    from archagent.evals.report.render import write_report

    store = Store(store_path)
    html = write_report(store, NAME, tmp_path / "r.html").read_text()
    assert 'id="final"' in html and "final-table" in html and "reported only" in html
    md = write_report(store, NAME, tmp_path / "r.md").read_text()
    assert "## Final evaluation" in md
    page = App(store_path).get(f"/campaign/{NAME}")
    assert page.status == 200 and "final-table" in page.body


def test_cli_errors_are_one_line(store_path):
    res = CliRunner().invoke(app, ["final", "nope", "--store", str(store_path)])
    assert res.exit_code != 0
    res = CliRunner().invoke(app, ["final", NAME, "--top", "0", "--store", str(store_path)])
    assert res.exit_code != 0


def _run(cid: int, seed: int, metric: float, role: str = "candidate") -> FinalRun:
    return FinalRun(id=seed, campaign_id=1, candidate_id=cid, seed=seed, epochs=5, role=role, status=Status.OK,
                    failure_kind=None, failure_msg=None, metric=metric, test_metric=metric - 0.01, params=10,
                    train_s=1.0, preds_sample=[], has_weights=False, created="")


def test_summary_says_which_gaps_exceed_the_seed_spread():
    runs = [_run(1, s, m) for s, m in enumerate([0.95, 0.96, 0.955])]
    runs += [_run(2, s, m) for s, m in enumerate([0.90, 0.91, 0.905])]  # clearly worse
    runs += [_run(3, s, m, "reference") for s, m in enumerate([0.97, 0.93, 0.94])]  # noisy, overlapping
    rows = summarize(runs, {}, higher_is_better=True)
    assert [r.candidate_id for r in rows] == [1, 3, 2]
    by_id = {r.candidate_id: r for r in rows}
    assert by_id[2].vs_winner.exceeds_spread and by_id[2].vs_winner.delta == pytest.approx(-0.05)
    assert not by_id[3].vs_winner.exceeds_spread
    assert by_id[1].vs_reference.other_id == 3 and not by_id[1].vs_reference.exceeds_spread
    assert str(Spread.of([1.0, 3.0])) == "2.0000 ± 1.4142"
    assert welch_p([1.0], [2.0, 3.0]) is None
    lower = summarize(runs, {}, higher_is_better=False)
    assert lower[0].candidate_id == 2


def test_show_prints_prefilter_children_and_maker(store_path):
    store = Store(store_path)
    parent = next(c for c in store.candidates(NAME) if store.children(c.id))
    res = CliRunner().invoke(app, ["show", str(parent.id), "--store", str(store_path)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    kids = " ".join(f"#{k.id}" for k in store.children(parent.id))
    assert f"children: {kids}" in res.output and f"made by: {parent.backend}" in res.output
    assert "pre-filter: " in res.output
    scored = next(c for c in store.candidates(NAME) if c.prefilter_score is not None)
    res = CliRunner().invoke(app, ["show", str(scored.id), "--store", str(store_path)], env={"COLUMNS": "200"})
    assert f"pre-filter: score {scored.prefilter_score:.4f}" in res.output
    res = CliRunner().invoke(app, ["show", str(parent.id), "--store", str(store_path), "--json"])
    assert json.loads(res.output)["children"] == [k.id for k in store.children(parent.id)]


@pytest.mark.parametrize("key", ["metric", "test_metric", "test", "params", "flops", "prefilter_score", "id"])
def test_list_sorts_by_every_numeric_column(store_path, key):
    res = CliRunner().invoke(app, ["list", NAME, "--sort", key, "--json", "--store", str(store_path)])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    column = {"test": "test_metric"}.get(key, key)
    values = [r[column] for r in rows if r[column] is not None]
    descending = column in ("metric", "test_metric", "prefilter_score")  # digits: higher accuracy is better
    assert values == sorted(values, reverse=descending) and len(rows) == 6


def test_list_rejects_an_unknown_sort_key(store_path):
    res = CliRunner().invoke(app, ["list", NAME, "--sort", "colour", "--store", str(store_path)])
    assert res.exit_code != 0 and "unknown sort key" in str(res.exception)
