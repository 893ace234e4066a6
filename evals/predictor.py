"""Turn proxy values into a pre-filter score, and measure honestly how well it ranks.

- :func:`kendall_tau`, :func:`spearman_rho`: rank agreement between a score and final metrics.
- :class:`RankCombiner`: RoBoT-style (Chen et al. 2024, "Robustifying and Boosting Training-Free
  NAS") weighted sum of per-proxy rank transforms, weights fitted to the campaign's own finished
  results; fixed default weights until ``min_results`` results exist.
- :class:`MetricPredictor`: a random forest over proxies + static features that predicts the
  metric itself, refitted as results arrive; queried through :class:`FlatForest` (the same trees as
  numpy arrays: identical predictions, ~1000x cheaper per call than sklearn's `predict`).

Rows are ``dict[str, float]`` (proxy name or feature name -> value); missing keys and nan are
allowed everywhere. ``-inf`` counts as the worst value of a proxy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from sklearn.ensemble import RandomForestRegressor

Row = Mapping[str, float]

DEFAULT_WEIGHTS: dict[str, float] = {
    "synflow": 1.0,
    "nwot": 1.0,
    "params": 1.0,
    "flops": 0.5,
    "jacob_cov": 0.5,
    "snip": 0.25,
    "grad_norm": 0.25,
    "hidden_cov": 1.0,
}
_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def _pairs(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall τ-b between two sequences, ignoring pairs with a nan; nan if undefined."""
    x, y = _pairs(a, b)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    if len(x) > 500:  # O(n log n) beats the O(n^2) pair matrices below
        return float(stats.kendalltau(x, y).statistic)
    dx, dy = _pair_order(x), _pair_order(y)  # (n, n) of -1/0/+1
    return float((dx * dy).sum() / math.sqrt(np.count_nonzero(dx) * np.count_nonzero(dy)))


def _pair_order(v: np.ndarray) -> np.ndarray:
    """sign(v_i - v_j) for all pairs, exact for infinities."""
    return (v[:, None] > v[None, :]).astype(np.int8) - (v[:, None] < v[None, :]).astype(np.int8)


def spearman_rho(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman ρ between two sequences, ignoring pairs with a nan; nan if undefined."""
    x, y = _pairs(a, b)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(stats.spearmanr(x, y).statistic)


def _column(rows: Sequence[Row], name: str) -> np.ndarray:
    return np.array([float(r.get(name, math.nan)) for r in rows], dtype=float)


def percentiles(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mid-rank percentile in [0, 1] of each value within ``reference ∪ values``; nan -> 0.5."""
    pool = np.sort(np.concatenate([reference, values])[~np.isnan(np.concatenate([reference, values]))])
    out = np.full(len(values), 0.5)
    if len(pool) == 0:
        return out
    ok = ~np.isnan(values)
    lo = np.searchsorted(pool, values[ok], side="left")
    hi = np.searchsorted(pool, values[ok], side="right")
    out[ok] = (lo + hi) / (2.0 * len(pool))
    return out


@dataclass
class RankCombiner:
    """Weighted mean of signed per-proxy percentile ranks; weights fitted to maximise Kendall τ.

    Fitted weights are shrunk toward the defaults: with n results the final weights are
    ``n/(n+prior_strength)`` fitted + the rest default (both normalised), since a weight search on a
    few dozen results overfits. ``fitted_tau`` is the in-sample τ of the unshrunk search optimum.
    """

    default_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    min_results: int = 8
    prior_strength: float = 20.0
    n_random: int = 300
    seed: int = 0
    weights: dict[str, float] = field(init=False)
    signs: dict[str, float] = field(init=False)
    reference: dict[str, np.ndarray] = field(init=False, default_factory=dict)
    fitted_tau: float = field(init=False, default=math.nan)

    def __post_init__(self) -> None:
        self.weights = dict(self.default_weights)
        self.signs = dict.fromkeys(self.default_weights, 1.0)

    @property
    def is_fitted(self) -> bool:
        """True once weights were fitted to at least ``min_results`` finished results."""
        return not math.isnan(self.fitted_tau)

    def _ranks(self, rows: Sequence[Row], names: Sequence[str]) -> np.ndarray:
        cols = []
        for name in names:
            pct = percentiles(_column(rows, name), self.reference.get(name, np.empty(0)))
            cols.append(pct if self.signs.get(name, 1.0) > 0 else 1.0 - pct)
        return np.stack(cols, axis=1) if cols else np.zeros((len(rows), 0))

    def _names(self) -> list[str]:
        return sorted(n for n, w in self.weights.items() if w > 0)

    def score(self, rows: Sequence[Row]) -> list[float]:
        """Pre-filter score per row (higher = predicted better), ranked against the fitted history."""
        names = self._names()
        if not names:
            return [0.0] * len(rows)
        w = np.array([self.weights[n] for n in names])
        return list(self._ranks(rows, names) @ w / w.sum())

    def fit(self, rows: Sequence[Row], metrics: Sequence[float], higher_is_better: bool = True) -> RankCombiner:
        """Fit signs and weights to finished results; below ``min_results`` keep the defaults."""
        target = np.asarray(metrics, dtype=float) * (1.0 if higher_is_better else -1.0)
        names = sorted(n for n in self.default_weights if not np.all(np.isnan(_column(rows, n))))
        self.reference = {n: _column(rows, n) for n in names}
        finite = int(np.sum(~np.isnan(target)))
        if finite < self.min_results or not names:
            self.__post_init__()
            self.fitted_tau = math.nan
            return self
        self.signs = {n: _sign(kendall_tau(_column(rows, n), target)) for n in names}
        start = np.array([self.default_weights[n] for n in names], dtype=float)
        w, self.fitted_tau = _search_weights(self._ranks(rows, names), target, start, self.n_random, self.seed)
        alpha = finite / (finite + self.prior_strength)
        w = alpha * w / w.sum() + (1.0 - alpha) * start / max(start.sum(), 1e-12)
        self.weights = dict(zip(names, w.tolist(), strict=True))
        return self


def _sign(tau: float) -> float:
    return -1.0 if tau < 0 else 1.0


def _tau_of(ranks: np.ndarray, w: np.ndarray, target: np.ndarray) -> float:
    if w.sum() <= 0:
        return -math.inf
    tau = kendall_tau(ranks @ w, target)
    return -math.inf if math.isnan(tau) else tau


def _search_weights(
    ranks: np.ndarray, target: np.ndarray, start: np.ndarray, n_random: int, seed: int
) -> tuple[np.ndarray, float]:
    """Random search over the simplex plus coordinate sweeps; the start weights are the incumbent."""
    rng = np.random.default_rng(seed)
    best_w, best = start, _tau_of(ranks, start, target)
    k = len(start)
    candidates = [np.eye(k)[i] for i in range(k)] + list(rng.dirichlet(np.full(k, 0.5), size=n_random))
    for w in candidates:
        tau = _tau_of(ranks, w, target)
        if tau > best + 1e-12:
            best, best_w = tau, w / w.max()
    best, best_w = _coordinate_sweeps(ranks, target, best_w, best)
    return best_w, best


def _coordinate_sweeps(
    ranks: np.ndarray, target: np.ndarray, w: np.ndarray, best: float, sweeps: int = 2
) -> tuple[float, np.ndarray]:
    w = w.copy()
    for _ in range(sweeps):
        for i in range(len(w)):
            for value in _GRID:
                trial = w.copy()
                trial[i] = value
                tau = _tau_of(ranks, trial, target)
                if tau > best + 1e-12:
                    best, w = tau, trial
    return best, w


def _matrix(rows: Sequence[Row], names: Sequence[str]) -> np.ndarray:
    x = np.array([[float(r.get(n, math.nan)) for n in names] for r in rows], dtype=float)
    return np.clip(x, -1e30, 1e30).reshape(len(rows), len(names))  # nan stays nan


@dataclass
class MetricPredictor:
    """Random-forest regressor predicting a result's metric from its row (proxies + static features).

    Trained on the *rank percentile* of the metric (robust to a few collapsed runs far below the
    rest, which dominate a squared loss), then mapped back to metric units through the observed
    metric quantiles, so predictions are in metric units and monotone in the fitted rank. nan is
    handled natively by the trees, ±inf is clipped. Callers decide what "better" means.
    """

    min_results: int = 5
    n_estimators: int = 100
    seed: int = 0
    features: list[str] = field(init=False, default_factory=list)
    _model: RandomForestRegressor | None = field(init=False, default=None, repr=False)
    _observed: np.ndarray = field(init=False, default_factory=lambda: np.empty(0), repr=False)
    _flat: FlatForest | None = field(init=False, default=None, repr=False)

    @property
    def is_fitted(self) -> bool:
        """True once fitted to at least ``min_results`` finite metrics."""
        return self._model is not None

    def fit(self, rows: Sequence[Row], metrics: Sequence[float]) -> MetricPredictor:
        """Refit from scratch on all finished results (well under a second for hundreds of rows)."""
        y = np.asarray(metrics, dtype=float)
        keep = np.isfinite(y)
        if int(keep.sum()) < self.min_results:
            self._model = None
            return self
        kept = [r for r, k in zip(rows, keep, strict=True) if k]
        self.features = sorted({k for r in kept for k in r})
        self._observed = np.sort(y[keep])
        target = stats.rankdata(y[keep]) / len(kept)
        self._model = RandomForestRegressor(
            n_estimators=self.n_estimators, min_samples_leaf=2, random_state=self.seed
        ).fit(_matrix(kept, self.features), target)
        self._flat = FlatForest.of(self._model)
        return self

    def predict(self, rows: Sequence[Row]) -> list[float]:
        """Predicted metric per row; raises RuntimeError before a successful fit."""
        if self._model is None:
            raise RuntimeError("MetricPredictor.predict called before fit with enough results")
        pct = self._flat.predict(_matrix(rows, self.features))
        return np.quantile(self._observed, np.clip(pct, 0.0, 1.0)).tolist()


@dataclass(frozen=True)
class FlatForest:
    """A fitted sklearn forest as flat node arrays (all trees end to end), walked for every tree at once.

    Gives exactly the forest's predictions (float32 inputs, the stored missing-value directions) at a small
    fraction of sklearn's per-call cost (`benchmarks/campaign_overhead.py --compare` times both).
    """

    roots: np.ndarray  # (trees,) index of each tree's root
    feature: np.ndarray  # (nodes,) split feature; 0 at leaves
    threshold: np.ndarray  # (nodes,)
    left: np.ndarray  # (nodes,) global child index; a leaf points at itself
    right: np.ndarray
    nan_left: np.ndarray  # (nodes,) bool: a nan goes left here
    value: np.ndarray  # (nodes,) leaf value
    depth: int

    @classmethod
    def of(cls, forest: RandomForestRegressor) -> FlatForest:
        trees = [est.tree_ for est in forest.estimators_]
        offsets = np.cumsum([0] + [t.node_count for t in trees[:-1]])
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("feature", "threshold", "left", "right", "nan_left",
                                                               "value")}
        for off, t in zip(offsets, trees, strict=True):
            leaf, own = t.children_left == -1, np.arange(t.node_count) + off
            parts["feature"].append(np.where(leaf, 0, t.feature))
            parts["threshold"].append(t.threshold)
            parts["left"].append(np.where(leaf, own, t.children_left + off))
            parts["right"].append(np.where(leaf, own, t.children_right + off))
            parts["nan_left"].append(getattr(t, "missing_go_to_left", np.zeros(t.node_count)).astype(bool))
            parts["value"].append(t.value[:, 0, 0])
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        return cls(roots=offsets.astype(np.int64), **arrays, depth=max(t.max_depth for t in trees))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Mean leaf value over the trees, per row of `x` (rows × features)."""
        x = x.astype(np.float32).astype(np.float64)
        rows = np.arange(len(x))[:, None]
        node = np.broadcast_to(self.roots, (len(x), len(self.roots)))
        for _ in range(self.depth):
            v = x[rows, self.feature[node]]
            go_left = (v <= self.threshold[node]) | (np.isnan(v) & self.nan_left[node])
            node = np.where(go_left, self.left[node], self.right[node])
        return self.value[node].mean(axis=1)
