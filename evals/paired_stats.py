"""Paired comparison of two search methods over the same search seeds.

    from archagent.evals.paired_stats import paired
    cmp = paired({200: 0.95, 201: 0.97}, {200: 0.94, 201: 0.97})  # method A, method B: seed -> final best
    cmp.mean, cmp.ci, cmp.p_wilcoxon                               # A - B

Per seed, the difference A − B on the seeds both methods finished. The
bootstrap resamples those differences (with replacement, a fixed seed) and
reports the 2.5 and 97.5 percentiles of the resampled means (percentile
interval). The Wilcoxon signed-rank test is scipy's two-sided test with zero
differences dropped ("wilcox"); it is None when fewer than one non-zero
difference remains. With n seeds the smallest two-sided p it can give is
2 / 2**n (0.0078 at n = 8), so "p > 0.05" at small n is weak evidence either way.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

BOOTSTRAP = 10_000


@dataclass(frozen=True)
class Paired:
    seeds: list[int]
    diffs: list[float]  # A − B per seed, in seed order
    mean: float
    ci: tuple[float, float]  # bootstrap 95% interval of the mean difference
    p_wilcoxon: float | None  # two-sided; None without a non-zero difference
    wins: int  # seeds where A − B > tie
    ties: int
    losses: int

    def covers_zero(self) -> bool:
        return self.ci[0] <= 0.0 <= self.ci[1]


def paired(a: dict[int, float], b: dict[int, float], *, tie: float = 0.0, n_boot: int = BOOTSTRAP,
           seed: int = 0) -> Paired:
    """A − B over the seeds in both, with a bootstrap interval and a Wilcoxon signed-rank p-value."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError("no search seed in common")
    diffs = [a[s] - b[s] for s in seeds]
    return Paired(seeds, diffs, statistics.fmean(diffs), bootstrap_ci(diffs, n_boot, seed), wilcoxon_p(diffs),
                  sum(d > tie for d in diffs), sum(abs(d) <= tie for d in diffs), sum(d < -tie for d in diffs))


def bootstrap_ci(values: list[float], n_boot: int = BOOTSTRAP, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
    lo, hi = np.percentile(means, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


def wilcoxon_p(diffs: list[float]) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value (exact for small n without ties), zero differences dropped."""
    if not any(d != 0 for d in diffs):
        return None
    from scipy.stats import wilcoxon  # lazy: scipy is heavy

    return float(wilcoxon(diffs, zero_method="wilcox", alternative="two-sided").pvalue)
