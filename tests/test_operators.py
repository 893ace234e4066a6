"""Operators: mutation-only equals the evolution baseline; edit, crossover and re-asks over replayed replies.

Fast: no training. Candidates get a made-up metric (a hash of their code) as a
stand-in for the sandbox, the same for both arms of a comparison.
"""

from __future__ import annotations

import hashlib
import json
import random
from functools import partial
from pathlib import Path

from archagent.agent.config import CampaignConfig, parse_config
from archagent.agent.draw import Draw
from archagent.agent.loop import record_call
from archagent.agent.operators.agent import AgentProposer, operator_of
from archagent.agent.population import Population, cell
from archagent.agent.proposer import Proposal, Proposer
from archagent.agent.proposers import make_proposers
from archagent.evals.fingerprint import code_key, text_key
from archagent.evals.tasks import get_task
from archagent.knowledge.records import FailureKind, Status
from archagent.knowledge.store import Store

TASK = get_task("digits")
SEEDS = TASK.seeds()


def fake_metric(code: str) -> float:
    return 0.5 + int(hashlib.sha256(code.encode()).hexdigest()[:8], 16) / 2**32 / 2


def campaign(tmp: Path, name: str, **cfg) -> tuple:
    data = {"name": name, "store": str(tmp / f"{name}.db"), "seed": 3, **cfg}
    config = parse_config(data)
    store = Store(config.store)
    cid = store.create_campaign(name, "digits", config.model_dump_json()).id
    for seed_name, code in SEEDS.items():
        store.add_candidate(cid, code, Status.OK, backend="seed", metric=fake_metric(code), params=len(code),
                            seed_name=seed_name, text_key=text_key(code), code_key=code_key(code))
    return config, store, cid


def draw(proposer: Proposer, store: Store, cid: int, cfg: CampaignConfig) -> Draw:
    """What the loop does on its main thread: the campaign in memory, the proposer's plan, one sampler call."""
    population = Population(store, cid, TASK, cfg.search)
    return population.draw(random.Random(len(population.members)), proposer.plan(population), proposer.kind)


def step(proposer: Proposer, store: Store, cid: int, cfg: CampaignConfig) -> Proposal:
    """One proposal, stored and 'evaluated' the way the loop would (duplicates marked)."""
    p = proposer.propose(draw(proposer, store, cid, cfg), partial(record_call, store, cid))
    if p.code is None:
        store.add_candidate(cid, "", Status.FAILED, parent_ids=p.parent_ids, backend=p.backend,
                            failure_kind=p.failure_kind, failure_msg=p.failure_msg, llm_call_id=p.llm_call_id,
                            operator=p.operator)
        return p
    keys = dict(text_key=text_key(p.code), code_key=code_key(p.code))
    dup = store.find_duplicate(cid, **keys)
    status = Status.DUPLICATE if dup else Status.OK
    store.add_candidate(cid, p.code, status, parent_ids=p.parent_ids, backend=p.backend, llm_call_id=p.llm_call_id,
                        metric=None if dup else fake_metric(p.code), params=len(p.code), operator=p.operator, **keys)
    return p


def test_mutation_only_agent_proposes_exactly_what_evolution_proposes(tmp_path: Path):
    evo_cfg, evo_store, evo_id = campaign(tmp_path, "evolution", backends=[{"kind": "evolution"}])
    agent_cfg, agent_store, agent_id = campaign(tmp_path, "agent", backends=[{"kind": "local"}],
                                                operators={"use": ["mutation"]})
    (evolution,) = make_proposers(evo_cfg, evo_store, evo_id)
    (agent,) = make_proposers(agent_cfg, agent_store, agent_id)
    assert isinstance(agent, AgentProposer) and agent.backend is None  # no model loaded for AST mutations
    for _ in range(14):
        step(evolution, evo_store, evo_id, evo_cfg)
        step(agent, agent_store, agent_id, agent_cfg)
    evo = [(c.code, c.parent_ids, c.metric, c.status) for c in evo_store.candidates(evo_id)]
    ours = [(c.code, c.parent_ids, c.metric, c.status) for c in agent_store.candidates(agent_id)]
    assert ours == evo
    assert any(parents for _, parents, _, _ in evo[3:])  # mutations of trained parents, not only samples
    assert {operator_of(c) for c in agent_store.candidates(agent_id) if c.backend != "seed"} == {"mutation"}


def replay_file(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def block(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE"


def test_edit_applies_blocks_to_its_parent_and_a_bad_patch_fails_as_patch(tmp_path: Path):
    relu = "            nn.ReLU(),\n            nn.Conv2d(32, 64, kernel_size=3, padding=1),"
    rows = [{"reply": block(relu, relu.replace("ReLU", "GELU")), "operator": "edit", "parents": [1]},
            {"reply": block("nn.Conv7d(1, 2)", "nn.Conv7d(1, 3)"), "operator": "edit", "parents": [1]}]
    cfg, store, cid = campaign(tmp_path, "edit", backends=[{"kind": "replay",
                                                           "path": str(replay_file(tmp_path / "r.jsonl", rows))}])
    (agent,) = make_proposers(cfg, store, cid)
    first, second = step(agent, store, cid, cfg), step(agent, store, cid, cfg)
    parent = store.candidate(1)
    assert first.operator == "edit" and first.parent_ids == (1,) and first.code != parent.code
    assert first.code == parent.code.replace("ReLU(),\n            nn.Conv2d(32", "GELU(),\n            nn.Conv2d(32")
    assert (second.code, second.failure_kind, second.operator) == (None, FailureKind.PATCH, "edit")
    assert "not found" in second.failure_msg


def test_a_repeat_is_re_asked_with_its_number_and_counts_once(tmp_path: Path):
    mlp = SEEDS["mlp"]
    new = mlp.replace("128", "96")
    rows = [{"reply": f"```python\n{mlp}```", "operator": "rewrite"}, {"reply": f"```python\n{new}```"}]
    cfg, store, cid = campaign(tmp_path, "repeat", backends=[{"kind": "replay",
                                                             "path": str(replay_file(tmp_path / "r.jsonl", rows))}])
    (agent,) = make_proposers(cfg, store, cid)
    p = step(agent, store, cid, cfg)
    assert p.code == new and p.operator == "rewrite"
    calls = store.llm_calls(cid)
    assert [c.purpose for c in calls] == ["propose-copy", "propose"]
    mlp_id = next(c.id for c in store.candidates(cid) if c.seed_name == "mlp")
    last_user = json.loads(calls[1].prompt)[-1]["content"]
    assert f"repeat of #{mlp_id}" in last_user


def test_crossover_gets_two_parents_from_different_archive_cells(tmp_path: Path):
    rows = [{"reply": f"```python\n{SEEDS['cnn'].replace('32', '40')}```", "operator": "crossover"}]
    cfg, store, cid = campaign(tmp_path, "cross", operators={"use": ["crossover"]}, backends=[
        {"kind": "replay", "path": str(replay_file(tmp_path / "r.jsonl", rows))}])
    (agent,) = make_proposers(cfg, store, cid)
    d = draw(agent, store, cid, cfg)
    a, b = d.parents
    assert d.operator == "crossover" and a.id != b.id and cell(a) != cell(b)
    p = agent.propose(d, partial(record_call, store, cid))
    assert p.operator == "crossover" and p.parent_ids == (a.id, b.id) and "40" in p.code
    prompt = json.loads(store.llm_calls(cid)[0].prompt)[-1]["content"]
    assert "Architecture A" in prompt and "Architecture B" in prompt
