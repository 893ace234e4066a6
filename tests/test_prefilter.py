"""The pre-filter policy: warm-up, top fraction, ε share, staged fidelity, honest τ."""

import json
import math

import pytest
from archagent.agent.config import PrefilterConfig, parse_config
from archagent.agent.loop import Campaign
from archagent.agent.prefilter import Prefilter, ranking_quality
from archagent.knowledge.records import Candidate, Status

from tests.helpers.campaigns import FIXTURES, replay_config


def cand(i: int, synflow: float, score: float | None = None, metric: float | None = None, **fields) -> Candidate:
    status = Status.OK if metric is not None else Status.PENDING
    return Candidate(id=i, campaign_id=1, code="", status=status, proxies={"synflow": synflow, "nwot": synflow},
                     prefilter_score=score, metric=metric, **fields)


def test_warmup_trains_everything():
    pf = Prefilter(PrefilterConfig(warmup=3, epsilon=0.0), higher_is_better=True)
    assert pf.decide(cand(9, 0.0), 0.0, [cand(1, 1.0, 0.5)]).train


def test_top_fraction_filters_low_ranked_and_keeps_high_ranked():
    pf = Prefilter(PrefilterConfig(warmup=2, top_fraction=0.5, epsilon=0.0), higher_is_better=True)
    history = [cand(i, float(i), 0.1 * i) for i in range(1, 9)]
    pf.refit(history)
    pf.set_population(history)
    low, high = cand(20, 0.5), cand(21, 100.0)
    assert not pf.decide(low, pf.score(low)[0], history).train
    assert pf.decide(high, pf.score(high)[0], history).train


def test_epsilon_share_passes_filtered_candidates():
    pf = Prefilter(PrefilterConfig(warmup=0, top_fraction=0.1, epsilon=0.5), higher_is_better=True, seed=1)
    history = [cand(i, float(i), 0.1 * i) for i in range(1, 9)]
    pf.set_population(history)
    low = cand(20, 0.5)
    decisions = [pf.decide(low, pf.score(low)[0], history) for _ in range(200)]
    share = sum(d.epsilon for d in decisions) / len(decisions)
    assert all(d.train == d.epsilon for d in decisions) and 0.35 < share < 0.65


def test_promotion_is_successive_halving():
    pf = Prefilter(PrefilterConfig(promote_fraction=0.5), higher_is_better=False)  # e.g. bits per char
    assert pf.promote(1.0, [2.0, 3.0, 1.5])
    assert not pf.promote(2.5, [2.0, 1.0, 1.5])
    assert pf.promote(9.9, [])


def test_ranking_quality_separates_epsilon_samples():
    cands = [cand(i, float(i), score=float(i), metric=float(i), epsilon=i % 2 == 0) for i in range(1, 9)]
    q = ranking_quality(cands, higher_is_better=True)
    assert q["trained"]["n"] == 8 and math.isclose(q["trained"]["kendall_tau"], 1.0)
    assert q["epsilon"]["n"] == 4 and math.isclose(q["epsilon"]["spearman_rho"], 1.0)


@pytest.mark.slow
def test_campaign_probes_filters_and_dedupes_on_the_graph(tmp_path):
    """Real campaign: graph-key duplicate caught before training; pre-filter and short runs applied."""
    data = replay_config(tmp_path, name="prefilter", proposals=4)
    data["backends"] = [{"kind": "replay", "path": str(FIXTURES / "digits_prefilter.jsonl")}]
    data["prefilter"] = {"warmup": 0, "top_fraction": 0.5, "epsilon": 0.0, "low_fidelity_epochs": 1}
    cfg = parse_config(data)
    campaign = Campaign(cfg)
    campaign.run()
    cands = [c for c in campaign.store.candidates(campaign.id) if c.backend != "seed"]
    graph_dup = cands[0]
    assert graph_dup.status == Status.DUPLICATE and graph_dup.matched_on == "graph_key"
    assert all(c.flops and c.graph_key and "synflow" in c.proxies for c in cands)
    assert all(c.prefilter_score is not None for c in cands[1:])
    assert any(c.status == Status.FILTERED for c in cands[1:])
    assert any(c.low_fidelity_metric is not None and c.low_fidelity_epochs == 1 for c in cands)
    seeds = [c for c in campaign.store.candidates(campaign.id) if c.backend == "seed"]
    assert all(c.status == Status.OK and c.proxies for c in seeds)
    assert json.loads(campaign.store.campaign("prefilter").config_json)["prefilter"]["low_fidelity_epochs"] == 1
