"""The report's plots, checked as drawn (issue 25): what covers what, which labels collide, which panels exist.

Each figure is drawn by matplotlib (Agg) and inspected in display coordinates: the legend's box against
every plotted point, tick labels' boxes against each other. The campaign is the suite's real finished one.
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import pytest
from archagent.evals.report.data import BackendUsage, gather
from archagent.evals.report.lineage import no_parents
from archagent.evals.report.plots import best_so_far_figure, log_ticks, usage_figure
from archagent.knowledge.records import Candidate, Status
from archagent.knowledge.store import Store


@pytest.fixture(scope="module")
def data(finished_campaign):
    with Store(finished_campaign[0].store) as store:
        return gather(store, "digits-replay")


def test_the_progress_legend_covers_no_point(data) -> None:
    fig = best_so_far_figure(data, data.best_so_far())
    fig.canvas.draw()
    (ax,) = fig.axes
    legend = ax.get_legend().get_window_extent()
    points = [xy for coll in ax.collections for xy in ax.transData.transform(coll.get_offsets())]
    assert points
    assert not [p for p in points if legend.contains(*p)]
    assert not legend.overlaps(ax.get_window_extent())  # outside the axes: no point can ever be under it
    plt.close(fig)


@pytest.mark.parametrize("values", [[26_000, 31_000, 38_000, 44_000], [900, 40_000, 3_000_000, 70_000_000],
                                    [17_226, 19_658, 24_362, 37_962]])
def test_log_axis_tick_labels_do_not_overlap(values: list[int]) -> None:
    fig, ax = plt.subplots(figsize=(4.9, 4.0))  # one Pareto panel's size
    ax.scatter(values, range(len(values)))
    ax.set_xscale("log")
    log_ticks(ax.xaxis, values)
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    shown = [t for t in ax.xaxis.get_ticklabels(which="both")
             if t.get_text() and t.get_visible() and lo <= t.get_position()[0] <= hi]
    assert len(shown) >= 2, [t.get_text() for t in shown]
    boxes = [t.get_window_extent() for t in shown]
    assert not [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]
    assert all("×" not in t.get_text() and "^" not in t.get_text() for t in shown)  # `30k`, not `3×10⁴`
    plt.close(fig)


def test_a_free_model_gets_no_cost_panel() -> None:
    free = [BackendUsage("local:qwen", "qwen", 4, 0, 4000, 900, 0.0, 80.0)]
    priced = [*free, BackendUsage("litellm:gpt", "gpt", 2, 0, 2000, 400, 0.03, 6.0)]
    for rows, panels in ((free, ["tokens", "mean latency per call (s)"]),
                         (priced, ["tokens", "cost (USD)", "mean latency per call (s)"])):
        fig = usage_figure(rows, any(r.cost_usd for r in rows))
        assert [ax.get_xlabel() for ax in fig.axes] == panels
        plt.close(fig)


def test_only_a_seed_is_labelled_a_seed() -> None:
    seed = Candidate(1, 1, "code", Status.OK, backend="seed", seed_name="cnn")
    sample = Candidate(7, 1, "code", Status.OK, backend="evolution")  # evolution's random sample: no parents
    assert no_parents(seed) == "none (seed)"
    assert no_parents(sample) == "none (made from scratch by evolution)"
