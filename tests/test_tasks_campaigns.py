"""A short real campaign on each new built-in task: replay proposals, sandboxed training, real store.

    pytest tests/test_tasks_campaigns.py

Recipes are shrunk through task options so each campaign takes seconds, not minutes.
On charlm the replay file holds one causal GRU and one bidirectional LSTM: the
latter must be rejected with failure kind `causality` whatever its loss.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from archagent.agent.config import parse_config
from archagent.agent.loop import Campaign
from archagent.knowledge.records import FailureKind, Status
from archagent.knowledge.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.slow


def run_campaign(tmp: Path, task: str, options: dict, proposals: int):
    cfg = parse_config({
        "name": f"{task}-short", "store": str(tmp / "store.db"),
        "task": {"name": task, "options": options}, "budget": {"proposals": proposals},
        "backends": [{"kind": "replay", "path": str(FIXTURES / f"{task}_replay.jsonl")}],
        "sandbox": {"timeout_s": 240},
    })
    campaign = Campaign(cfg)
    summary = campaign.run()
    store = Store(cfg.store)
    return campaign, summary, store.candidates(store.campaign(cfg.name).id)


def test_mnist1d_campaign(tmp_path):
    campaign, summary, cands = run_campaign(tmp_path, "mnist1d", {"epochs": 2}, proposals=1)
    assert {c.seed_name for c in cands if c.backend == "seed"} == {"mlp", "cnn", "gru"}
    assert [c.status for c in cands] == [Status.OK] * 4, [(c.status, c.failure_msg) for c in cands]
    assert all(0.1 < c.metric <= 1.0 for c in cands)  # 10 classes: better than chance after 2 epochs
    assert summary.best is not None and summary.best.metric == max(c.metric for c in cands)


def test_charlm_campaign_minimises_bpc_and_rejects_leaks(tmp_path):
    options = {"seq_len": 32, "max_steps": 15, "eval_windows": 16}
    campaign, summary, cands = run_campaign(tmp_path, "charlm", options, proposals=2)
    assert not campaign.task.higher_is_better
    seeds = [c for c in cands if c.backend == "seed"]
    gru, leaky = (c for c in cands if c.backend != "seed")
    assert all(c.status == Status.OK for c in [*seeds, gru]), [(c.status, c.failure_msg) for c in cands]
    assert all(0.5 < c.metric < 7.0 for c in [*seeds, gru])  # bits per char; uniform over 98 ids is 6.6
    assert leaky.status == Status.FAILED and leaky.failure_kind == FailureKind.CAUSALITY
    assert summary.best.metric == min(c.metric for c in [*seeds, gru])
