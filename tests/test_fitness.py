"""Size-aware objectives: ranking, Pareto fronts, improvement over parents, and the report's Pareto plot."""

import json

from archagent.evals.report.data import ReportData, TrainedPoint
from archagent.evals.report.plots import label, pareto
from archagent.knowledge.fitness import Objective, improves, pareto_ranks, rank
from archagent.knowledge.records import Campaign, Candidate, Status


def cand(i: int, metric: float, params: int) -> Candidate:
    return Candidate(i, 1, f"# {i}", Status.OK, metric=metric, params=params)


BIG, SMALL, WORSE = cand(1, 0.95, 100_000), cand(2, 0.94, 10_000), cand(3, 0.90, 200_000)


def test_metric_ranks_by_metric_and_penalized_trades_a_decade_of_params_for_the_penalty():
    assert [c.id for c in rank([SMALL, WORSE, BIG], Objective(), True)] == [1, 2, 3]
    assert [c.id for c in rank([BIG, SMALL, WORSE], Objective("penalized", 0.02), True)] == [2, 1, 3]
    assert [c.id for c in rank([BIG, SMALL, WORSE], Objective("penalized", 0.005), True)] == [1, 2, 3]


def test_pareto_fronts_and_lower_is_better():
    assert pareto_ranks([BIG, SMALL, WORSE], True) == {1: 0, 2: 0, 3: 1}
    loss = [cand(1, 0.5, 100), cand(2, 0.4, 100)]
    assert [c.id for c in rank(loss, Objective("pareto"), False)] == [2, 1]


def test_improvement_depends_on_the_objective():
    child = cand(4, 0.945, 20_000)
    assert not improves(child, [BIG], Objective(), True)
    assert improves(child, [BIG], Objective("penalized", 0.02), True)
    assert not improves(child, [BIG, SMALL], Objective("pareto"), True)
    assert improves(child, [WORSE], Objective("pareto"), True)
    assert not improves(child, [], Objective(), True)


def report_data(config: str) -> ReportData:
    """Report data as `gather` builds it: the full records and every trained candidate as a light point."""
    cands = (BIG, SMALL, WORSE)
    points = tuple(TrainedPoint(c.id, c.metric, False, c.prefilter_score, c.params, c.flops) for c in cands)
    return ReportData(Campaign(1, "c", "digits", config, "finished", ""), "accuracy", True, cands, (), points=points)


def test_the_report_pareto_plot_stars_the_objective_pick():
    data = report_data(json.dumps({"search": {"objective": "penalized", "size_penalty": 0.02}}))
    assert f"best by objective 'penalized' (star): {label(SMALL)}" in pareto(data).note
    plain = report_data("{}")
    assert "objective" not in pareto(plain).note
