"""The population on in-memory records: parent sampling, islands, migration, archive, dedup, transfer (no training)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from archagent.agent.config import SearchConfig
from archagent.agent.population import Population, best, cell, distinct, elite, power_law, tournament
from archagent.evals.tasks import get_task
from archagent.knowledge.records import Candidate, Status, ranked
from archagent.knowledge.store import Store

TASK = get_task("digits")
CONV = "class Net(nn.Module):\n    def __init__(self):\n        self.c = nn.Conv2d(1, {w}, 3)\n"
MLP = "class Net(nn.Module):\n    def __init__(self):\n        self.l = nn.Linear(64, {w})\n"
GRU = "class Net(nn.Module):\n    def __init__(self):\n        self.r = nn.GRU(8, {w})\n"


def cand(cid: int, code: str, metric: float | None, backend: str = "local:m", status=Status.OK, campaign: int = 1,
         **fields) -> Candidate:
    return Candidate(cid, campaign, code, status, backend=backend, metric=metric, code_key=f"k{cid}",
                     params=fields.pop("params", 1000), **fields)


POOL = [
    cand(1, MLP.format(w=64), 0.95, backend="seed", seed_name="mlp"),
    cand(2, CONV.format(w=32), 0.97, backend="seed", seed_name="cnn"),
    cand(3, CONV.format(w=64), 0.99),
    cand(4, CONV.format(w=96), 0.98),
    cand(5, MLP.format(w=128), 0.96),
    cand(6, MLP.format(w=256), None, status=Status.FAILED),
]


def ids(picked: list[Candidate]) -> list[int]:
    return [c.id for c in picked]


def pool_of(cands: list[Candidate]) -> list[Candidate]:
    return distinct(ranked(cands, TASK.higher_is_better))


def population(tmp_path: Path, cands: list[Candidate], name: str = "s.db", **search) -> Population:
    store = Store(tmp_path / name)
    camp = store.create_campaign("c", "digits", "{}")
    pop = Population(store, camp.id, TASK, SearchConfig(**search))
    for c in cands:
        pop.observe(c)
    return pop


def test_one_shot_shows_the_best_architecture_not_a_seed():
    assert ids(elite(pool_of(POOL), 1, random.Random(0))) == [3]


def test_two_shots_keep_the_best_seed_in_view():
    assert ids(elite(pool_of(POOL), 2, random.Random(0))) == [3, 2]


def test_families_come_before_repeats_and_failures_never_show():
    picked = ids(elite(pool_of(POOL), 4, random.Random(0)))
    assert picked[:2] == [3, 5]  # the best conv, then the best MLP, before a second conv
    assert 6 not in picked and len(picked) == 4


def test_duplicates_of_a_better_candidate_are_skipped():
    twin = Candidate(7, 1, CONV.format(w=64), Status.OK, backend="local:m", metric=0.985, code_key="k3")
    assert 7 not in ids(elite(pool_of([*POOL, twin]), 5, random.Random(0)))


def test_samplers_prefer_the_best_and_never_repeat_a_parent():
    pool, rng = pool_of(POOL), random.Random(1)
    assert ids(best(pool, 2, rng)) == [3, 4]
    for sampler in (tournament, power_law):
        draws = [sampler(pool, 2, rng) for _ in range(300)]
        assert all(len(set(ids(d))) == 2 for d in draws)
        firsts = Counter(d[0].id for d in draws)
        assert firsts[3] > firsts[1] and set(firsts) <= {1, 2, 3, 4, 5}  # the best beats the worst, no failure
    assert len(tournament(pool, 9, rng)) == len(pool)


def test_sampling_strategy_is_a_config_choice(tmp_path):
    pop = population(tmp_path, POOL, sampler="best", n_exemplars=2)
    assert ids(pop.parents(random.Random(0), 2, island=0)) == [3, 4]
    with pytest.raises(ValueError):
        SearchConfig(sampler="roulette")


def test_islands_round_robin_and_ride_on_the_context(tmp_path):
    own = [cand(10, CONV.format(w=8), 0.999, island=1), cand(11, MLP.format(w=8), 0.90, island=0)]
    pop = population(tmp_path, POOL + own, islands=2, migration_interval=100, n_exemplars=1)
    contexts = [pop.sample(random.Random(0)) for _ in range(4)]
    assert [c.island for c in contexts] == [0, 1, 0, 1]
    assert contexts[0].parents[0].id == 3  # island 0 cannot see island 1's best
    assert contexts[1].parents[0].id == 10
    assert contexts[0].exemplars[0].id == contexts[0].parents[0].id


def test_migration_shows_each_island_the_others_best(tmp_path):
    own = [cand(10, CONV.format(w=8), 0.999, island=1), cand(11, MLP.format(w=8), 0.90, island=0)]
    migrated = population(tmp_path, POOL + own, "a.db", islands=2, migration_interval=2)  # 6 proposals so far
    assert 10 in ids(migrated.island_pool(0)) and 11 in ids(migrated.island_pool(1))
    isolated = population(tmp_path, POOL + own, "b.db", islands=2, migration_interval=100)
    assert 10 not in ids(isolated.island_pool(0)) and 11 not in ids(isolated.island_pool(1))


def test_archive_keeps_the_best_of_each_size_and_layer_mix(tmp_path):
    extra = [cand(20, GRU.format(w=8), 0.93, params=5000), cand(21, GRU.format(w=9), 0.91, params=5100)]
    pop = population(tmp_path, POOL + extra)
    cells = pop.archive()
    assert cell(extra[0]) == (12, "recurrent") and cells[(12, "recurrent")].id == 20
    assert cells[(10, "conv")].id == 3 and cells[(10, "dense")].id == 5
    pair = pop.parents_from_cells(random.Random(0), 2)
    assert len({cell(c) for c in pair}) == 2


def test_duplicates_match_the_earliest_live_candidate(tmp_path):
    a = cand(1, "a", 0.9, text_key="t", graph_key="g")
    b = cand(2, "b", None, status=Status.DUPLICATE, text_key="t2", graph_key="g2")
    c = cand(3, "c", 0.8, graph_key="g")
    pop = population(tmp_path, [a, b, c])
    assert pop.find_duplicate(text_key="t") == (1, "text_key")
    assert pop.find_duplicate(graph_key="g", exclude_id=1) == (3, "graph_key")
    assert pop.find_duplicate(graph_key="g2") is None  # a duplicate is never an original
    assert pop.find_duplicate(code_key="k3", text_key="nope") == (3, "code_key")


def test_repair_depth_follows_the_chain(tmp_path):
    chain = [cand(1, "a", None, status=Status.FAILED), cand(2, "b", None, status=Status.FAILED, repair_of=1),
             cand(3, "c", 0.5, repair_of=2)]
    pop = population(tmp_path, chain)
    assert [pop.repair_depth(c) for c in chain] == [0, 1, 2]


def test_a_later_campaign_starts_from_the_earlier_best(tmp_path):
    store = Store(tmp_path / "s.db")
    first = store.create_campaign("first", "digits", "{}")
    store.add(Candidate(0, first.id, CONV.format(w=5), Status.OK, metric=0.999, params=10))
    second = store.create_campaign("second", "digits", "{}")
    ctx = Population(store, second.id, TASK, SearchConfig(n_exemplars=1)).sample(random.Random(0))
    assert ctx.exemplars[0].label.endswith("from an earlier campaign")
    assert not Population(store, second.id, TASK, SearchConfig(transfer=False)).prior


def test_per_kind_defaults_are_resolved_in_one_place():
    assert SearchConfig().for_kind("local").n_exemplars == 1  # the 0.5B model: one exemplar (benchmarks/)
    assert SearchConfig().for_kind("litellm").n_exemplars == 3
    assert SearchConfig(n_exemplars=2).for_kind("local").n_exemplars == 2
    local, remote, replay = (SearchConfig().for_kind(k) for k in ("local", "litellm", "replay"))
    assert (local.repair_attempts, remote.repair_attempts, replay.repair_attempts) == (0, 1, 0)
    assert (local.insight_every, remote.insight_every, replay.insight_every) == (0, 5, 5)
    assert SearchConfig(insight_every=3).for_kind("local").insight_every == 3
