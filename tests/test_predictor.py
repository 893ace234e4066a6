"""RankCombiner, MetricPredictor and the rank statistics (evals.predictor)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from archagent.evals.predictor import MetricPredictor, RankCombiner, kendall_tau, percentiles, spearman_rho


def planted(n: int, seed: int = 0) -> tuple[list[dict[str, float]], list[float]]:
    """Rows where only `nwot` tracks the metric; the default-heavy `synflow`/`params` are noise."""
    rng = np.random.default_rng(seed)
    metric = rng.normal(size=n)
    rows = [
        {"nwot": float(m + 0.1 * rng.normal()), "synflow": float(rng.normal()), "params": float(rng.normal()),
         "snip": float(rng.normal())}
        for m in metric
    ]
    return rows, metric.tolist()


def test_rank_statistics() -> None:
    assert kendall_tau([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman_rho([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, math.nan, 4], [1, 2, 0, 4]) == pytest.approx(1.0)
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
    assert kendall_tau([-math.inf, 0, 1], [0, 1, 2]) == pytest.approx(1.0)


def test_percentiles_handle_nan_and_inf() -> None:
    pct = percentiles(np.array([-math.inf, math.nan, 5.0]), np.array([0.0, 1.0, 2.0]))
    assert pct[0] < 0.2 and pct[1] == 0.5 and pct[2] > 0.8


def test_rank_combiner_recovers_planted_proxy() -> None:
    rows, metric = planted(60)
    test_rows, test_metric = planted(60, seed=1)
    default_tau = kendall_tau(RankCombiner().score(test_rows), test_metric)
    comb = RankCombiner().fit(rows, metric)
    assert comb.is_fitted
    assert comb.weights["nwot"] == max(comb.weights.values())
    fitted_tau = kendall_tau(comb.score(test_rows), test_metric)
    assert fitted_tau > default_tau + 0.2 and fitted_tau > 0.5


def test_rank_combiner_learns_negative_sign_and_minimised_metric() -> None:
    rows, metric = planted(40)
    flipped = [{**r, "nwot": -r["nwot"]} for r in rows]
    comb = RankCombiner().fit(flipped, metric)
    assert comb.signs["nwot"] == -1.0
    assert kendall_tau(comb.score(flipped), metric) > 0.5
    loss_like = RankCombiner().fit(rows, [-m for m in metric], higher_is_better=False)
    assert kendall_tau(loss_like.score(rows), metric) > 0.5


def test_rank_combiner_defaults_before_min_results() -> None:
    rows, metric = planted(5)
    comb = RankCombiner(min_results=8).fit(rows, metric)
    assert not comb.is_fitted and comb.weights == RankCombiner().default_weights
    scores = comb.score(rows + [{"nwot": math.nan}])
    assert len(scores) == 6 and all(math.isfinite(s) for s in scores)


def test_rank_combiner_scores_single_row_against_history() -> None:
    rows, metric = planted(30)
    comb = RankCombiner().fit(rows, metric)
    best, worst = max(rows, key=lambda r: r["nwot"]), min(rows, key=lambda r: r["nwot"])
    assert comb.score([best])[0] > comb.score([worst])[0]


def test_metric_predictor_fits_synthetic_relation() -> None:
    rng = np.random.default_rng(0)
    rows = [{"a": float(a), "noise": float(rng.normal()), "flops": math.inf if i == 3 else float(i)}
            for i, a in enumerate(rng.uniform(0, 1, size=120))]
    metric = [0.5 + 0.4 * r["a"] ** 2 for r in rows]
    pred = MetricPredictor()
    assert not pred.is_fitted
    with pytest.raises(RuntimeError):
        pred.predict(rows)
    pred.fit(rows[:90], metric[:90])
    out = pred.predict(rows[90:] + [{"a": 0.5}])
    assert pred.is_fitted and len(out) == 31
    assert kendall_tau(out[:30], metric[90:]) > 0.7
    assert min(metric) <= min(out) and max(out) <= max(metric)


def test_metric_predictor_needs_min_results() -> None:
    pred = MetricPredictor(min_results=5).fit([{"a": 1.0}] * 4, [1.0, 2.0, math.nan, 3.0])
    assert not pred.is_fitted


def test_flat_forest_predicts_exactly_what_sklearn_predicts() -> None:
    rng = np.random.default_rng(4)
    rows = [{"a": float(rng.normal()), "b": float(rng.normal()), "c": math.nan if i % 5 == 0 else float(i)}
            for i in range(120)]
    y = [r["a"] * 2 - r["b"] + rng.normal() * 0.1 for r in rows]
    pred = MetricPredictor().fit(rows, y)
    new = rows[:7] + [{"a": 0.1}, {"b": math.inf, "c": -1e40}, {}]
    x = np.array([[float(r.get(n, math.nan)) for n in pred.features] for r in new])
    x = np.clip(x, -1e30, 1e30)
    assert np.allclose(pred._flat.predict(x), pred._model.predict(x), rtol=0, atol=1e-12)
