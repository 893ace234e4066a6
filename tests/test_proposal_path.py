"""One proposal path: one sampler call per proposal, no store reads, ShinkaEvolve's weighting, and the fill.

Campaigns run on the fake executor (scripted results, no training) with a
scripted LLM (`tests/helpers/scripted_llm.py`) and a real store.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import archagent.agent.operators as operators
import pytest
from archagent.agent.config import SearchConfig, parse_config
from archagent.agent.loop import Campaign
from archagent.agent.operators.agent import operator_of
from archagent.agent.population import Population, weighted
from archagent.evals.tasks import get_task
from archagent.knowledge.records import Candidate, Status
from archagent.knowledge.store import Store

from tests.helpers.fake_executor import FakeExecutor, SlowFakeExecutor
from tests.helpers.scripted_llm import ScriptedLLM

TASK = get_task("digits", {"epochs": 2})
LLM_ARMS = ("edit", "crossover", "rewrite")


def config(tmp: Path, name: str, search: dict | None = None, **extra) -> dict:
    return {"name": name, "store": str(tmp / f"{name}.db"), "seed": 2, "task": {"name": "digits", "options":
            {"epochs": 2}}, "budget": {"proposals": 12}, "backends": [{"kind": "litellm", "model": "openai/scripted"}],
            "prefilter": {"enabled": False}, "pipeline": {"fill": 0},
            "search": {"transfer": False, "insight_every": 0, "repair_attempts": 0, **(search or {})}, **extra}


def run(data: dict, monkeypatch, llm: ScriptedLLM | None = None, executor=None) -> Campaign:
    llm = llm or ScriptedLLM()
    monkeypatch.setattr(operators, "make_backend", lambda cfg, seed: llm)
    campaign = Campaign(parse_config(data), executor=executor or FakeExecutor(TASK))
    campaign.run()
    return campaign


def proposals(campaign: Campaign) -> list[Candidate]:
    return [c for c in campaign.store.candidates(campaign.id) if c.backend != "seed"]


# -- the island a candidate records is the one its parents came from ----------------------
@pytest.mark.parametrize("sampler", ["elite", "weighted"])
def test_the_island_recorded_is_the_island_its_parents_came_from(tmp_path, monkeypatch, sampler):
    search = {"islands": 3, "migration_interval": 1000, "sampler": sampler}  # no migration: islands stay apart
    campaign = run(config(tmp_path, sampler, search, budget={"proposals": 16}), monkeypatch)
    by_id = {c.id: c for c in campaign.store.candidates(campaign.id)}
    made = proposals(campaign)
    assert {operator_of(c) for c in made} == {"mutation", *LLM_ARMS}
    assert {c.island for c in made if operator_of(c) in LLM_ARMS} == {0, 1, 2}
    assert all(c.parent_ids for c in made if operator_of(c) in LLM_ARMS)
    for cand in made:
        for parent in cand.parent_ids:  # a parent is shared (a seed, island None) or from the child's own island
            assert by_id[parent].island in (None, cand.island), (cand.id, cand.island, parent, by_id[parent].island)


# -- nothing on the proposal path reads the store -------------------------------------------
# what opening a connection runs (an LLM thread opens its own): schema checks, never the campaign's rows
SCHEMA = re.compile(r"^\s*(CREATE\b|select name from sqlite_master\b|SELECT (value|1) FROM meta\b)", re.I)


def test_no_store_read_on_the_proposal_path(tmp_path, monkeypatch):
    """Every statement any connection runs while the campaign proposes and evaluates is traced: only writes."""
    import archagent.knowledge.store as store_module

    traced, driving = [], [False]
    real_open = store_module._open

    def open_traced(*args):
        db = real_open(*args)
        db.conn.set_trace_callback(lambda sql: traced.append(sql) if driving[0] else None)
        return db

    real_drive = Campaign._drive

    def drive(self, proposers):
        driving[0] = True
        try:
            return real_drive(self, proposers)
        finally:
            driving[0] = False

    monkeypatch.setattr(store_module, "_open", open_traced)
    monkeypatch.setattr(Campaign, "_drive", drive)
    campaign = run(config(tmp_path, "reads", {"islands": 2, "n_insights": 5}), monkeypatch)
    assert {operator_of(c) for c in proposals(campaign)} == {"mutation", *LLM_ARMS}
    writes = [s for s in traced if re.match(r"\s*(INSERT|UPDATE)\b", s, re.I)]
    reads = [s for s in traced if re.search(r"\bSELECT\b", s, re.I) and not SCHEMA.search(s)]
    assert len(writes) > 12 and reads == []


# -- rank x 1 / (1 + children) ------------------------------------------------------------------
def cand(cid: int, metric: float | None, parents: tuple[int, ...] = (), **fields) -> Candidate:
    code = f"class Net:  # {cid}\n    nn.Conv2d(1, {cid}, 3)\n"
    return Candidate(cid, 1, code, Status.OK if metric else Status.FAILED, parent_ids=parents, backend="local:m",
                     metric=metric, code_key=f"k{cid}", params=1000, **fields)


def test_weighted_sampling_divides_the_rank_weight_by_one_plus_the_children():
    pool = [cand(i, 0.99 - i / 100) for i in (1, 2, 3, 4)]  # best first: ranks 1-4
    children = {1: 3, 4: 1}
    expected = [1 / 1 / 4, 1 / 2 / 1, 1 / 3 / 1, 1 / 4 / 2]
    expected = [w / sum(expected) for w in expected]
    rng, n = random.Random(0), 40_000
    counts = Counter(weighted(pool, 1, rng, children)[0].id for _ in range(n))
    for (cid, p) in zip((1, 2, 3, 4), expected, strict=True):
        assert abs(counts[cid] / n - p) < 0.01, (cid, counts[cid] / n, p)
    assert counts[2] > counts[1]  # the best, with three children already, gives way to the second
    pairs = [weighted(pool, 2, rng, children) for _ in range(200)]
    assert all(len({c.id for c in pair}) == 2 for pair in pairs)


def test_the_weighted_sampler_counts_children_in_the_population(tmp_path):
    trained = [cand(1, 0.99), cand(2, 0.98), cand(3, 0.97)]
    kids = [cand(10 + i, None, parents=(1,)) for i in range(4)] + [cand(20, None, parents=(1, 2))]
    store = Store(tmp_path / "s.db")
    camp = store.create_campaign("c", "digits", "{}")
    pop = Population(store, camp.id, TASK, SearchConfig(sampler="weighted", islands=1, transfer=False))
    for c in trained + kids:
        pop.observe(c)
    pop.observe(kids[0])  # an update of a known candidate is not a new child
    assert (pop.children[1], pop.children[2], pop.children[3]) == (5, 1, 0)
    rng, n = random.Random(1), 20_000
    counts = Counter(pop.parents(rng, 1, island=0)[0].id for _ in range(n))
    raw = [1 / 1 / 6, 1 / 2 / 2, 1 / 3 / 1]
    for cid, w in zip((1, 2, 3), raw, strict=True):
        assert abs(counts[cid] / n - w / sum(raw)) < 0.015
    with pytest.raises(ValueError):
        SearchConfig(sampler="roulette")


# -- a trainer that never waits for the LLM ---------------------------------------------------
def stamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def busy_share(busy: list[tuple[float, float]], start: float, end: float, slots: int) -> float:
    """Slot-seconds of training inside [start, end] over the slot-seconds there were."""
    inside = sum(max(0.0, min(e, end) - max(s, start)) for s, e in busy)
    return inside / (slots * (end - start))


BUDGET = 16


def fill_run(tmp: Path, monkeypatch, name: str, fill: int, share: float = 0.75) -> tuple[Campaign, ScriptedLLM,
                                                                                      SlowFakeExecutor]:
    llm, executor = ScriptedLLM(delay_s=1.5), SlowFakeExecutor(TASK, workers=2, seconds=0.3)
    data = config(tmp, name, {"islands": 1}, budget={"proposals": BUDGET}, executor={"workers": 2},
                  operators={"use": ["rewrite", "mutation"]}, pipeline={"fill": fill, "fill_share": share})
    return run(data, monkeypatch, llm, executor), llm, executor


def test_free_slots_train_mutations_while_the_llm_thinks_and_the_budget_stays_exact(tmp_path, monkeypatch):
    waiting, llm0, ex0 = fill_run(tmp_path, monkeypatch, "waiting", fill=0)
    filled, llm1, ex1 = fill_run(tmp_path, monkeypatch, "filled", fill=6)
    first0, first1 = llm0.calls[0], llm1.calls[0]  # the first request: nothing else is training when it starts
    assert busy_share(ex0.busy, *first0, slots=2) < 0.1
    assert busy_share(ex1.busy, *first1, slots=2) > 0.3  # six 0.3 s jobs on two slots: at most 0.9 s of 1.5 s
    for campaign in (waiting, filled):
        made = proposals(campaign)
        assert sum(c.status != Status.DUPLICATE for c in made) == BUDGET  # the proposal budget, exactly
    made = proposals(filled)
    calls = [(stamp(c.created) - c.latency_s, stamp(c.created)) for c in filled.store.llm_calls(filled.id)]
    during = [[c for c in made if operator_of(c) == "mutation" and s <= stamp(c.created) <= e] for s, e in calls]
    assert all(len(d) <= 6 for d in during) and sum(map(len, during)) >= 6  # bounded per request, and used
    assert sum(map(len, during)) <= 0.75 * BUDGET
    assert filled.summary("").elapsed_s < waiting.summary("").elapsed_s


def test_a_generous_fill_keeps_both_slots_busy_while_the_llm_thinks(tmp_path, monkeypatch):
    campaign, llm, ex = fill_run(tmp_path, monkeypatch, "generous", fill=100, share=1.0)
    assert busy_share(ex.busy, *llm.calls[0], slots=2) > 0.6
    assert sum(c.status != Status.DUPLICATE for c in proposals(campaign)) == BUDGET


# -- the no-LLM ablation: a mutation-only agent is seeded evolution, in a real campaign loop --------
def test_a_mutation_only_agent_campaign_equals_an_evolution_campaign(tmp_path, monkeypatch):
    def outcome(campaign: Campaign) -> list[tuple]:
        return [(c.code, c.parent_ids, c.metric, str(c.status)) for c in campaign.store.candidates(campaign.id)]

    evolution = run(config(tmp_path, "evolution", backends=[{"kind": "evolution"}]), monkeypatch)
    agent = run(config(tmp_path, "agent", operators={"use": ["mutation"]}, pipeline={"fill": 4}), monkeypatch)
    assert outcome(agent) == outcome(evolution)
    assert any(parents for _, parents, _, _ in outcome(evolution)[3:])
    assert not agent.store.llm_calls(agent.id)


# -- the idea library rides with the draw ----------------------------------------------------
def test_llm_proposals_carry_an_idea_card_into_the_prompt_and_the_record(tmp_path, monkeypatch):
    """With `[ideas]` on (the default), each LLM proposal on parents gets a card from the one draw: the prompt
    shows it and the candidate records its id; AST mutations get none; `enabled = false` turns it off."""
    from archagent.knowledge.ideas.cards import load_cards

    cards = {c.id: c for c in load_cards(None)}
    campaign = run(config(tmp_path, "ideas"), monkeypatch)
    made = [c for c in proposals(campaign) if c.llm_call_id is not None and c.parent_ids]
    assert made and all(c.idea in cards for c in made)
    assert all(c.idea is None for c in proposals(campaign) if operator_of(c) == "mutation")
    calls = {c.id: c for c in campaign.store.llm_calls(campaign.id)}
    for cand in made:
        prompt = json.loads(calls[cand.llm_call_id].prompt)[1]["content"]  # the first ask (re-asks follow)
        assert f"Idea to apply — {cards[cand.idea].name}" in prompt
    off = run(config(tmp_path, "no-ideas", ideas={"enabled": False}), monkeypatch)
    assert all(c.idea is None for c in proposals(off))
