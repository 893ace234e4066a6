"""The pre-filter policy: who gets trained, decided from cheap probe results.

Score = a rank-combination of training-free proxies whose weights are refitted
to the campaign's finished results (RoBoT-style, `evals.predictor.RankCombiner`);
a learned `MetricPredictor` over proxies + static features predicts the metric.
Train the top `top_fraction` of scored proposals, plus an ε share at random so
the ranking is validated on unfiltered samples. Optional staged fidelity: a
short run first, full training only for short runs in the top `promote_fraction`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from archagent.agent.config import PrefilterConfig
from archagent.evals.predictor import MetricPredictor, RankCombiner, kendall_tau, spearman_rho
from archagent.knowledge.records import Candidate, Status


@dataclass(frozen=True)
class Decision:
    train: bool
    epsilon: bool  # trained because of the ε draw, not its rank
    reason: str


def row(c: Candidate) -> dict[str, float]:
    """Predictor input: proxies plus static features of the built model."""
    return {**{f"feat_{k}": v for k, v in c.features.items()}, **{k: v for k, v in c.proxies.items() if v is not None}}


class Prefilter:
    def __init__(self, cfg: PrefilterConfig, higher_is_better: bool, seed: int = 0):
        self.cfg, self.higher = cfg, higher_is_better
        self.rng = random.Random(seed)
        self.combiner, self.predictor = RankCombiner(seed=seed), MetricPredictor(seed=seed)
        self._fitted_on = -1

    def refit(self, cands: list[Candidate]) -> None:
        """Refit on trained candidates with proxies, once results grew by 20% (at least one)."""
        done = [c for c in cands if c.status == Status.OK and c.metric is not None and c.proxies]
        if len(done) < max(self._fitted_on + 1, int(1.2 * self._fitted_on)):
            return
        self._fitted_on = len(done)
        self.combiner.fit([c.proxies for c in done], [c.metric for c in done], self.higher)
        self.predictor.fit([row(c) for c in done], [c.metric for c in done])

    def set_population(self, probed: list[Candidate]) -> None:
        """Proxy percentiles are ranked against every probed proposal, trained or not."""
        names = self.combiner.default_weights
        self.combiner.reference = {
            n: np.array([c.proxies.get(n, np.nan) for c in probed], dtype=float) for n in names
        }

    def score(self, cand: Candidate) -> tuple[float, float | None]:
        """(pre-filter score, predicted metric or None before the predictor is fitted)."""
        score = float(self.combiner.score([cand.proxies])[0])
        predicted = self.predictor.predict([row(cand)])[0] if self.predictor.is_fitted else None
        return score, predicted

    def decide(self, cand: Candidate, score: float, history: list[Candidate]) -> Decision:
        """Train if ranked in the top fraction of all scored proposals so far (or by the ε draw)."""
        scored = [c for c in history if c.prefilter_score is not None and c.id != cand.id]
        if not self.cfg.enabled or len(scored) < self.cfg.warmup:
            return Decision(True, False, "warm-up: training everything")
        others = self.combiner.score([c.proxies for c in scored]) if scored else []
        rank = float(np.mean(np.asarray(others) < score)) if scored else 1.0  # share of earlier ones it beats
        if rank >= 1.0 - self.cfg.top_fraction:
            return Decision(True, False, f"ranked above {rank:.0%} of scored proposals")
        if self.rng.random() < self.cfg.epsilon:
            return Decision(True, True, "ε-random pass")
        return Decision(False, False, f"filtered: ranked above only {rank:.0%} of scored proposals")

    def promote(self, low_metric: float, earlier_low: list[float]) -> bool:
        """Successive halving: promote a short run ranked in the top `promote_fraction`."""
        if not earlier_low:
            return True
        sign = 1.0 if self.higher else -1.0
        beats = float(np.mean([sign * low_metric >= sign * m for m in earlier_low]))
        return beats >= 1.0 - self.cfg.promote_fraction


def ranking_quality(cands: list[Candidate], higher_is_better: bool) -> dict[str, dict[str, float | int]]:
    """Kendall τ / Spearman ρ between pre-filter score and final metric, all vs ε-random trained."""
    trained = [(c.prefilter_score, c.metric, bool(c.epsilon)) for c in cands
               if c.status == Status.OK and c.prefilter_score is not None and c.metric is not None]
    return ranking_quality_of(trained, higher_is_better)


def ranking_quality_of(trained: list[tuple[float, float, bool]], higher_is_better: bool) -> dict[str, dict]:
    """`ranking_quality` from (pre-filter score, metric, ε-random) triples of trained candidates."""
    out = {}
    for name, group in (("trained", trained), ("epsilon", [t for t in trained if t[2]])):
        s, m = [t[0] for t in group], [t[1] if higher_is_better else -t[1] for t in group]
        ok = len(group) >= 3
        out[name] = {"n": len(group), "kendall_tau": finite(kendall_tau(s, m)) if ok else None,
                     "spearman_rho": finite(spearman_rho(s, m)) if ok else None}
    return out


def finite(x: float) -> float | None:
    return x if np.isfinite(x) else None
