"""A real campaign on digits (the session's `finished_campaign`: replay backend, real sandboxed training).

Its export re-runs to the same candidates and metrics, for real (slow); loop logic runs on the fake executor.
"""

import json
from collections import Counter
from pathlib import Path

import pytest
from archagent.agent.config import parse_config
from archagent.agent.loop import Campaign
from archagent.agent.replay_export import export_replay
from archagent.evals.tasks import get_task
from archagent.knowledge.records import FailureKind, Status
from archagent.knowledge.store import Store

from tests.helpers.campaigns import replay_config
from tests.helpers.fake_executor import FakeExecutor


def test_every_proposal_is_logged_with_its_outcome(finished_campaign):
    cfg, summary, _ = finished_campaign
    store = Store(cfg.store)
    camp = store.campaign(cfg.name)
    cands = store.candidates(camp.id)
    seeds = [c for c in cands if c.backend == "seed"]
    proposed = [c for c in cands if c.backend != "seed"]
    assert len(seeds) == 3 and all(c.status == Status.OK for c in seeds)
    # the replay holds 6 replies; a repeat is free (the budget counts what was trained or failed), so the
    # replies run out before the budget of 6 is spent
    assert len(proposed) == 6 and summary.stop_reason == "backend exhausted"
    kinds = [c.failure_kind for c in proposed if c.status == Status.FAILED]
    assert kinds == [FailureKind.NO_CODE, FailureKind.SYNTAX, FailureKind.SHAPE]
    dup = next(c for c in proposed if c.status == Status.DUPLICATE)
    assert store.candidate(dup.duplicate_of).seed_name == "mlp"
    trained = [c for c in cands if c.status == Status.OK]
    assert len({c.code_key for c in trained}) == 5
    assert all(0.0 <= c.metric <= 1.0 and c.params > 0 and c.test_metric is not None for c in trained)


def test_prompts_replies_and_lineage_are_stored(finished_campaign):
    cfg, _, _ = finished_campaign
    store = Store(cfg.store)
    camp = store.campaign(cfg.name)
    seed_ids = {c.id for c in store.candidates(camp.id) if c.backend == "seed"}
    for c in store.candidates(camp.id):
        if c.backend == "seed":
            continue
        call = store.llm_call(c.llm_call_id)
        messages = json.loads(call.prompt)
        assert messages[0]["role"] == "system" and "class Net" in messages[1]["content"]
        assert call.reply and call.prompt_tokens == 100
        assert c.parent_ids and set(c.parent_ids) <= {x.id for x in store.candidates(camp.id)}
    assert seed_ids
    assert json.loads(camp.config_json)["name"] == cfg.name


def test_later_prompts_show_earlier_results_and_failures(finished_campaign):
    cfg, _, _ = finished_campaign
    store = Store(cfg.store)
    calls = store.llm_calls(store.campaign(cfg.name).id)
    last = json.loads(calls[-1].prompt)[1]["content"]
    assert "Best results so far" in last
    assert "[syntax]" in last and "[no_code]" in last
    assert "already proposed" in last


def test_resume_neither_repeats_nor_loses_work(finished_campaign, tmp_path):
    cfg, _, _ = finished_campaign
    store = Store(cfg.store)
    camp = store.campaign(cfg.name)
    before = store.candidates(camp.id)
    summary = Campaign(cfg).run()  # every reply already used: nothing new
    assert summary.stop_reason == "backend exhausted"
    assert [c.id for c in store.candidates(camp.id)] == [c.id for c in before]


def test_interrupted_work_is_requeued(tmp_path):
    cfg = parse_config(replay_config(tmp_path, name="requeue", proposals=1))
    campaign = Campaign(cfg, executor=FakeExecutor(get_task("digits", cfg.task.options)))
    code = Path("evals/seeds/digits/mlp.py").read_text().replace("128", "96")
    stuck = campaign.store.add_candidate(campaign.id, code, Status.RUNNING, backend="replay")
    campaign.run()
    assert campaign.store.candidate(stuck).status == Status.OK


@pytest.mark.slow
def test_exported_replay_reruns_to_the_same_candidates_and_metrics_for_real(finished_campaign, tmp_path):
    cfg, _, _ = finished_campaign
    export = export_replay(Store(cfg.store), cfg.name, tmp_path / "export.jsonl")
    again = cfg.model_copy(update={"name": "rerun", "store": tmp_path / "rerun.db",
                                   "backends": [cfg.backends[0].model_copy(update={"path": export.path})]})
    Campaign(again).run()

    def outcome(path: Path, name: str) -> Counter:
        store = Store(path)
        return Counter((c.code, str(c.status), c.metric, c.test_metric, c.params, c.failure_kind)
                       for c in store.candidates(store.campaign(name).id))

    assert outcome(again.store, "rerun") == outcome(cfg.store, cfg.name)
