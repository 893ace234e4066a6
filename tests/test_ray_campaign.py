"""A campaign end to end on the Ray executor (a private local Ray cluster)."""

from __future__ import annotations

import pytest
from archagent.agent.config import parse_config
from archagent.agent.loop import Campaign
from archagent.knowledge.records import Status

from tests.helpers.campaigns import replay_config

pytest.importorskip("ray")


def test_campaign_on_ray(tmp_path):
    data = replay_config(tmp_path, name="on-ray", proposals=6)
    data["executor"] = {"kind": "ray", "workers": 2, "cluster_cpus": 2}
    cfg = parse_config(data)
    campaign = Campaign(cfg)
    summary = campaign.run()
    cands = campaign.store.candidates(campaign.id)
    trained = [c for c in cands if c.status == Status.OK]
    assert summary.stop_reason == "backend exhausted"  # 6 replies, one a free repeat: the replay runs out first
    assert len([c for c in cands if c.backend != "seed"]) == 6
    assert len(trained) == 5 and all(c.metric > 0.5 and c.graph_key for c in trained)
    assert sorted(str(c.failure_kind) for c in cands if c.status == Status.FAILED) == ["no_code", "shape", "syntax"]
