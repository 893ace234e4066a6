"""Seeded regularized evolution: the population starts from the task's seeds, and its sizes come from the config."""

import pytest
from archagent.agent.baselines import make_baseline
from archagent.agent.baselines.evolution import EvolutionProposer
from archagent.agent.config import ConfigError, parse_config
from archagent.agent.loop import Campaign
from archagent.agent.operators import make_agent
from archagent.agent.prompting import Prompts
from archagent.evals.tasks import get_task
from archagent.knowledge.records import Status
from archagent.knowledge.store import Store

from tests.helpers.campaigns import replay_config
from tests.helpers.fake_executor import FakeExecutor


def evolution_campaign(tmp_path, proposals: int, **evolution) -> tuple[list, list]:
    data = replay_config(tmp_path, name="evo", proposals=proposals)
    data.update(task={"name": "mnist1d", "options": {"epochs": 1}}, backends=[{"kind": "evolution"}],
                evolution=evolution, prefilter={"enabled": False})
    cfg = parse_config(data)
    Campaign(cfg, executor=FakeExecutor(get_task("mnist1d", cfg.task.options))).run()
    store = Store(cfg.store)
    cands = store.candidates(store.campaign("evo").id)
    return [c for c in cands if c.backend == "seed"], [c for c in cands if c.backend != "seed"]


def test_evolution_starts_from_the_seeds_with_no_random_fill(tmp_path):
    seeds, proposed = evolution_campaign(tmp_path, proposals=6)  # population 16 > 3 seeds: never "full" early
    assert len(seeds) == 3 and all(s.status == Status.OK for s in seeds)
    assert [c.backend for c in proposed] == ["evolution"] * 6
    assert all(c.parent_ids for c in proposed)  # every proposal is a mutation, the first one of a seed
    assert set(proposed[0].parent_ids) <= {s.id for s in seeds}
    assert not any(c.code.startswith("# arch:") for c in proposed)  # no grammar sample anywhere


def test_population_size_one_always_mutates_the_newest_member(tmp_path):
    seeds, proposed = evolution_campaign(tmp_path, proposals=4, population_size=1, tournament_size=1)
    # the loop keeps one proposal waiting beside the training one, so each parent is the newest *trained* member
    members = sorted(seeds + proposed, key=lambda c: c.id)
    for child in proposed:
        trained_before = [m for m in members if m.id < child.id and m.status == Status.OK]
        assert child.parent_ids[0] in {m.id for m in trained_before[-2:]}
    assert proposed[0].parent_ids == (seeds[-1].id,)  # the last seed is the whole population at first


def test_sizes_go_from_the_config_to_both_proposers(tmp_path):
    data = replay_config(tmp_path, name="cfg", backends=[{"kind": "evolution"}],
                         evolution={"population_size": 5, "tournament_size": 3}, operators={"use": ["mutation"]})
    cfg = parse_config(data)
    store = Store(cfg.store)
    camp = store.create_campaign("cfg", "digits", "{}")
    evo = make_baseline(cfg.backends[0], cfg, camp.id)
    agent_cfg = cfg.model_copy(update={"backends": [cfg.backends[0].model_copy(update={"kind": "local"})]})
    arm = make_agent(agent_cfg.backends[0], agent_cfg, Prompts(None), camp.id).ops["mutation"].evolution
    for proposer in (evo, arm):
        assert isinstance(proposer, EvolutionProposer)
        assert (proposer.population_size, proposer.tournament_size) == (5, 3)


@pytest.mark.parametrize("bad", [{"population_size": 0}, {"tournament_size": -1}, {"size": 4},
                                 {"population_size": 4.0}])
def test_bad_evolution_settings_are_one_line_errors(tmp_path, bad):
    with pytest.raises(ConfigError, match="evolution"):
        parse_config(replay_config(tmp_path, evolution=bad))
