"""Retrieval of idea cards: shortcomings built from a parent, FTS5 bm25 over the packaged cards, outcome
weighting, lineage exclusion, and the one call the proposal path makes (`IdeaLibrary.for_parent`)."""

from __future__ import annotations

import random

import pytest
from archagent.agent.ideas import IdeaLibrary, IdeasConfig, lineage_ideas
from archagent.knowledge.fitness import Objective
from archagent.knowledge.ideas.cards import builtin_cards
from archagent.knowledge.ideas.outcomes import CardOutcome, card_outcomes
from archagent.knowledge.ideas.search import IdeaIndex, fts5_available, retrieve
from archagent.knowledge.ideas.signals import Budget, Shortcomings, family_of, shortcomings
from archagent.knowledge.records import Candidate, FailureKind, Status

INDEX = IdeaIndex(builtin_cards())
SIGNAL = Budget(max_params=100_000, family="signal")
REGULARISERS = {"dropout_head", "stochastic_depth", "channel_dropout", "global_avg_pool", "low_rank_linear",
                "weight_sharing", "tied_embeddings"}


def cand(cid: int, status: Status = Status.OK, metric: float | None = 0.8, parents: tuple[int, ...] = (),
         history: list[float] | None = None, params: int | None = 20_000, idea: str | None = None,
         kind: FailureKind | None = None) -> Candidate:
    return Candidate(cid, 1, f"# {cid}", status, parents, metric=metric, params=params, history=history or [],
                     idea=idea, failure_kind=kind)


def ids(cards) -> list[str]:
    return [c.id for c in cards]


def test_fts5_is_compiled_into_this_python() -> None:
    assert fts5_available()


def test_family_of_task_inputs() -> None:
    assert family_of("classification", (1, 8, 8)) == "image"
    assert family_of("classification", (1, 40)) == "signal"
    assert family_of("sequence", (128,), "int64") == "sequence"
    assert family_of("regression", (13,)) == "vector"


def test_shortcomings_read_the_gap_the_size_and_the_children() -> None:
    overfit = cand(1, metric=0.80, history=[2.0, 0.4, 0.01])  # exp(-0.01 / 2) ~ 0.995 on training data vs 0.80
    gaps = shortcomings(overfit, [], SIGNAL)
    assert gaps.signals == ("overfit",) and gaps.gap == pytest.approx(0.195, abs=0.001)
    assert gaps.terms() == ("overfitting", "regularization")
    underfit = cand(2, metric=0.45, history=[2.3, 1.6], params=95_000)  # exp(-0.8) ~ 0.45: no gap, a poor fit
    assert shortcomings(underfit, [], SIGNAL).signals == ("underfit", "near_budget")
    assert shortcomings(cand(3, params=2_000, history=[2.0, 0.15], metric=0.92), [], SIGNAL).signals == ("small",)
    kids = [cand(10, Status.FAILED, None, (4,), kind=FailureKind.NAN, idea="residual"),
            cand(11, Status.FAILED, None, (4,), kind=FailureKind.SHAPE),
            cand(12, Status.FAILED, None, (4,), kind=FailureKind.SHAPE, idea="mlp_mixer"),
            cand(13, Status.OK, 0.91, (4,)), cand(14, Status.OK, 0.92, (4,))]
    gaps = shortcomings(cand(4, metric=0.92, history=[2.0, 0.15]), kids, SIGNAL, tried={"dilated_conv"})
    assert gaps.signals == ("failure:shape", "failure:nan", "stalled")  # most frequent failure first
    assert gaps.tried == {"residual", "mlp_mixer", "dilated_conv"}
    bpc = shortcomings(cand(5, metric=2.4, history=[3.0, 1.2]), [], Budget(10**6, "sequence", "sequence", False))
    assert "overfit" in bpc.signals and bpc.gap == pytest.approx(2.4 - 1.2 / 0.6931, abs=1e-3)


@pytest.mark.parametrize(("seed", "last_loss", "val", "expected"), [
    ("mnist1d cnn", 0.0216, 0.962, {"overfit"}),  # measured: train accuracy 0.996
    ("mnist1d mlp", 0.2564, 0.636, {"overfit", "underfit"}),  # 0.941
    ("mnist1d gru", 0.2198, 0.924, {"underfit"}),  # 0.953
    ("digits cnn", 0.0445, 0.9926, set()),  # 0.996
])
def test_fit_signals_on_the_seeds_measured_curves(seed: str, last_loss: float, val: float, expected: set) -> None:
    """The seeds' final training losses and validation accuracies (default recipes, measured in-process)."""
    parent = cand(1, metric=val, history=[2.3, last_loss], params=30_000)
    assert set(shortcomings(parent, [], SIGNAL).signals) == expected, seed


def test_overfitting_retrieves_regularisers() -> None:
    top = retrieve(INDEX, Shortcomings("signal", ("overfit",)), {}, k=3)
    assert len(top) == 3 and set(ids(top)) <= REGULARISERS, ids(top)
    assert all({"regularization", "overfitting"} & set(c.tags) for c in top)


def test_budget_pressure_retrieves_efficient_cards() -> None:
    top = retrieve(INDEX, Shortcomings("image", ("near_budget",)), {}, k=4)
    assert all("efficient" in c.tags for c in top), ids(top)
    assert "depthwise_separable" in ids(retrieve(INDEX, Shortcomings("image", ("near_budget",)), {}, k=10))
    assert "efficient_channel_attention" not in ids(retrieve(INDEX, Shortcomings("image", ("near_budget",)), {}, k=10))


def test_child_failures_steer_retrieval() -> None:
    assert ids(retrieve(INDEX, Shortcomings("sequence", ("failure:causality",)), {}, k=1)) == ["causal_conv"]
    shape = ids(retrieve(INDEX, Shortcomings("signal", ("failure:shape",)), {}, k=3))
    assert set(shape) <= {"global_avg_pool", "attention_pooling", "concat_pooling"}, shape
    nan = retrieve(INDEX, Shortcomings("signal", ("failure:nan",)), {}, k=3)
    assert all("normalization" in c.tags or "stability" in c.tags for c in nan), ids(nan)


def test_cards_of_another_family_are_never_returned() -> None:
    every = retrieve(INDEX, Shortcomings("sequence", ("near_budget", "overfit")), {}, k=100)
    assert every and all(c.applies("sequence") for c in every)
    assert "blur_pool" not in ids(every) and "tied_embeddings" in ids(every)


def test_cards_the_lineage_tried_come_last() -> None:
    first = retrieve(INDEX, Shortcomings("signal", ("overfit",)), {}, k=1)[0]
    tried = Shortcomings("signal", ("overfit",), frozenset({first.id}))
    ranked = ids(retrieve(INDEX, tried, {}, k=100))
    assert ranked[0] != first.id and ranked[-1] == first.id


def test_outcomes_move_cards_up_and_down() -> None:
    gaps = Shortcomings("signal", ("overfit",))
    a, b = ids(retrieve(INDEX, gaps, {}, k=2))
    failing = {a: CardOutcome(uses=4, valid=0, improved=0)}
    assert ids(retrieve(INDEX, gaps, failing, k=2))[0] == b  # a's children kept failing: it sinks
    assert a not in ids(retrieve(INDEX, gaps, failing, k=3))
    before = ids(retrieve(INDEX, gaps, {}, k=100))
    fourth = before[3]  # a regulariser the text search ranks fourth
    after = ids(retrieve(INDEX, gaps, {fourth: CardOutcome(uses=6, valid=6, improved=6)}, k=100))
    assert after[0] == fourth  # its children kept improving on their parents: it rises to the top
    assert after[1:] == [c for c in before if c != fourth]  # the others keep their order


def test_outcome_weight_is_ordered() -> None:
    unused, good, valid_only, failing = (CardOutcome(), CardOutcome(5, 5, 4), CardOutcome(5, 5, 0),
                                         CardOutcome(5, 0, 0))
    assert unused.weight == 1.0
    assert good.weight > unused.weight > valid_only.weight > failing.weight > 0
    assert CardOutcome(20, 20, 20).weight > good.weight
    assert (good.validity, good.improvement_rate, unused.validity) == (1.0, 0.8, None)


def test_no_shortcoming_ranks_by_weight_with_a_seeded_tiebreak() -> None:
    calm = Shortcomings("signal")
    firsts = {retrieve(INDEX, calm, {}, 1, random.Random(seed))[0].id for seed in range(12)}
    assert len(firsts) > 3  # varied across parents
    assert ids(retrieve(INDEX, calm, {}, 1, random.Random(7))) == ids(retrieve(INDEX, calm, {}, 1, random.Random(7)))
    assert ids(retrieve(INDEX, calm, {"residual": CardOutcome(3, 3, 3)}, 1, random.Random(7))) == ["residual"]


def test_card_outcomes_count_finished_uses_validity_and_improvement() -> None:
    cands = [cand(1, metric=0.80), cand(2, metric=0.85, parents=(1,), idea="residual"),
             cand(3, metric=0.70, parents=(1,), idea="residual"),
             cand(4, Status.FAILED, None, (1,), idea="residual"), cand(5, Status.RUNNING, None, (1,), idea="residual"),
             cand(6, Status.DUPLICATE, None, (1,), idea="glu_gating")]
    out = card_outcomes(cands, Objective(), higher=True)
    assert out == {"residual": CardOutcome(3, 2, 1), "glu_gating": CardOutcome(1, 0, 0)}
    assert card_outcomes(cands, Objective(), higher=False)["residual"] == CardOutcome(3, 2, 1)  # 0.70 beats 0.80


def test_for_parent_uses_the_population_in_memory() -> None:
    library = IdeaLibrary(builtin_cards(), IdeasConfig(k=2), Objective(), seed=3)
    root = cand(1, metric=0.80, history=[2.0, 0.5, 0.01], idea=None)
    parent = cand(2, metric=0.82, parents=(1,), history=[2.0, 0.5, 0.01], idea="dropout_head")
    kid = cand(3, Status.FAILED, None, (2,), idea="stochastic_depth", kind=FailureKind.SHAPE)
    assert lineage_ideas(kid, {c.id: c for c in (root, parent, kid)}) == {"dropout_head", "stochastic_depth"}
    cards = library.for_parent(parent, [root, parent, kid], SIGNAL)
    assert len(cards) == 2 and not {"dropout_head", "stochastic_depth"} & set(ids(cards))
    assert library.for_parent(parent, [root, parent, kid], SIGNAL) == cards  # reproducible
    assert IdeaLibrary(builtin_cards(), IdeasConfig(enabled=False), Objective()).for_parent(
        parent, [root, parent], SIGNAL) == ()
