"""Random search and regularized evolution: valid code from the grammar, valid mutations, campaigns (fake executor)."""

import json
import random
import types

import pytest
import torch
from archagent.agent.baselines.ast_mutations import EDITS
from archagent.agent.baselines.grammar import read_arch, sample_arch
from archagent.agent.baselines.mutations import mutate
from archagent.agent.baselines.writer import write_code
from archagent.agent.config import parse_config
from archagent.agent.loop import Campaign
from archagent.evals.report.curves import baseline_curves
from archagent.evals.tasks import get_task
from archagent.knowledge.records import Status
from archagent.knowledge.store import Store

from tests.helpers.campaigns import replay_config
from tests.helpers.fake_executor import FakeExecutor

SPEC = get_task("digits").spec


def build_and_run(code: str) -> int:
    """Build Net for digits in-process, run a forward, check the output shape; returns the parameter count."""
    torch.set_num_threads(1)
    module = types.ModuleType("candidate")
    exec(compile(code, "candidate.py", "exec"), module.__dict__)
    net = module.Net(SPEC.in_shape, SPEC.n_out).eval()
    with torch.no_grad():
        out = net(torch.rand(3, *SPEC.in_shape))  # (3, 10)
    assert out.shape == (3, SPEC.n_out) and torch.isfinite(out).all()
    return sum(p.numel() for p in net.parameters())


def test_grammar_samples_always_build_and_fit():
    rng = random.Random(0)
    archs = [sample_arch(rng, SPEC) for _ in range(60)]
    for arch in archs:
        code = write_code(arch, SPEC)
        assert read_arch(code) == arch
        assert 0 < build_and_run(code) <= 1_000_000
    assert {a.family for a in archs} == {"conv", "mlp"}
    assert {lay.op for a in archs for lay in a.layers} == {"conv", "res", "attn", "pool", "linear"}


def test_sampling_is_deterministic_per_seed():
    draw = [write_code(sample_arch(random.Random(7), SPEC), SPEC) for _ in range(2)]
    assert draw[0] == draw[1] != write_code(sample_arch(random.Random(8), SPEC), SPEC)


def test_grammar_mutations_change_the_architecture_and_stay_valid():
    rng = random.Random(1)
    for _ in range(40):
        code = write_code(sample_arch(rng, SPEC), SPEC)
        child = mutate(code, SPEC, rng)
        assert child is not None and read_arch(child.code) not in (None, read_arch(code))
        build_and_run(child.code)


@pytest.mark.parametrize("seed_name", ["cnn", "mlp", "resnet"])
def test_ast_mutations_of_seed_code_build(seed_name):
    code = get_task("digits").seeds()[seed_name]
    applied = set()
    for s in range(12):
        for edit in EDITS:
            out = edit(code, random.Random(s))
            if out is not None:
                assert out[0] != code
                build_and_run(out[0])
                applied.add(edit.__name__)
    assert {"scale_width", "swap_activation", "add_block"} <= applied


def test_unparsable_parent_gives_no_mutation():
    assert mutate("class Net(:\n", SPEC, random.Random(0)) is None


def run_baseline(tmp_path, kind: str, proposals: int) -> list:
    data = replay_config(tmp_path, name=f"{kind}-test", proposals=proposals)
    data["backends"] = [{"kind": kind}]
    cfg = parse_config(data)
    summary = Campaign(cfg, executor=FakeExecutor(get_task("digits", cfg.task.options))).run()
    assert summary.stop_reason.startswith("proposal budget")
    store = Store(cfg.store)
    return [c for c in store.candidates(store.campaign(cfg.name).id) if c.backend != "seed"]


def test_random_campaign_trains_grammar_samples(tmp_path):
    proposed = run_baseline(tmp_path, "random", proposals=2)
    assert [c.backend for c in proposed] == ["random", "random"]
    assert all(c.status == Status.OK and 0.0 <= c.metric <= 1.0 and c.parent_ids == () for c in proposed)
    assert all(read_arch(c.code) is not None for c in proposed)
    curve = baseline_curves(Store(tmp_path / "store.db"), "digits")["random-test"]
    assert curve == [proposed[0].metric, max(c.metric for c in proposed)]


def test_evolution_campaign_mutates_a_population_member(tmp_path):
    proposed = run_baseline(tmp_path, "evolution", proposals=2)  # the population starts from the 3 trained seeds
    store = Store(tmp_path / "store.db")
    for child in proposed:
        assert child.parent_ids and child.backend == "evolution"
        assert child.status == Status.OK and child.metric is not None
        assert child.code_key != store.candidate(child.parent_ids[0]).code_key
    assert baseline_curves(store, "digits") == {} and list(baseline_curves(store, "digits", "evolution")) == [
        "evolution-test"]


def test_concurrent_random_proposals_draw_different_samples(tmp_path):
    from archagent.agent.baselines.random_search import RandomProposer
    from archagent.agent.draw import Draw
    from archagent.agent.prompting import PromptContext, TaskBrief

    store = Store(tmp_path / "store.db")
    camp = store.create_campaign("c", "digits", "{}")
    proposer = RandomProposer(get_task("digits"), 0, camp.id)
    empty = Draw(PromptContext(TaskBrief.of(get_task("digits"))))  # the campaign as drawn: no candidates yet
    # two proposals in flight at once: neither is in the campaign when the other draws
    first, second = (proposer.propose(empty, lambda *a: 0).code for _ in range(2))
    assert first != second
    fresh = RandomProposer(get_task("digits"), 0, camp.id)
    assert fresh.propose(empty, lambda *a: 0).code == first  # same seed, same campaign state: same stream


def test_a_rerun_with_a_larger_budget_goes_on_and_its_config_is_the_stored_one(tmp_path):
    first = run_baseline(tmp_path, "random", proposals=1)
    again = run_baseline(tmp_path, "random", proposals=3)  # same campaign, more proposals
    assert again[0].id == first[0].id and len(again) == 3
    camp = Store(tmp_path / "store.db").campaign("random-test")
    assert json.loads(camp.config_json)["budget"]["proposals"] == 3  # `status` shows the budget now in force
