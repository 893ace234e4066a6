"""Summaries of a final evaluation: mean ± sd over training seeds, and which gaps exceed the seed spread.

    from archagent.evals.final_stats import summarize
    rows = summarize(store.final_runs(campaign_id), {c.id: c for c in cands}, higher_is_better=True)
    rows[0]                  # the winner: best mean validation metric
    rows[i].vs_winner        # Comparison: the gap, Welch's p-value, whether it exceeds the seed spread

Selection uses the validation metric only; the test metric is reported beside it,
never used to rank. A gap "exceeds the seed spread" when Welch's t-test on the
per-seed validation metrics gives p < 0.05 (both sides need two or more seeds).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

from archagent.knowledge.records import Candidate, FinalRun, Status

ALPHA = 0.05


@dataclass(frozen=True)
class Spread:
    """Mean and sample standard deviation over the seeds that finished (sd is None below two)."""

    mean: float | None
    sd: float | None
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        vals = [v for v in values if v is not None]
        mean = statistics.fmean(vals) if vals else None
        sd = statistics.stdev(vals) if len(vals) > 1 else None
        return cls(mean, sd, len(vals))

    def __str__(self) -> str:
        if self.mean is None:
            return "n/a"
        return f"{self.mean:.4f}" + (f" ± {self.sd:.4f}" if self.sd is not None else "")


@dataclass(frozen=True)
class Comparison:
    """A row's mean validation metric against another row's."""

    other_id: int
    delta: float  # this minus other, in the metric's own direction (positive = higher)
    p_value: float | None  # Welch's t-test; None when a side has fewer than two seeds
    exceeds_spread: bool  # p < ALPHA: a real difference, not a lucky seed

    def __str__(self) -> str:
        verdict = "exceeds seed spread" if self.exceeds_spread else "within seed spread"
        p = "" if self.p_value is None else f", p={self.p_value:.3g}"
        return f"{self.delta:+.4f} vs #{self.other_id} ({verdict}{p})"


@dataclass(frozen=True)
class FinalRow:
    """One candidate's final evaluation under one recipe (epochs)."""

    candidate_id: int
    role: str  # candidate | reference
    epochs: int
    val: Spread
    test: Spread
    train_s: Spread
    params: int | None
    flops: int | None
    search_metric: float | None  # the single run the search saw
    failed: int  # seeds that failed
    vs_winner: Comparison | None = None
    vs_reference: Comparison | None = None
    seeds: tuple[int, ...] = ()
    val_values: tuple[float, ...] = ()


def compare(a: FinalRow, b: FinalRow) -> Comparison:
    """Is a's mean validation metric different from b's by more than the seed spread?"""
    delta = (a.val.mean or 0.0) - (b.val.mean or 0.0)
    p = welch_p(list(a.val_values), list(b.val_values))
    return Comparison(b.candidate_id, delta, p, p is not None and p < ALPHA)


def welch_p(xs: list[float], ys: list[float]) -> float | None:
    """Two-sided Welch's t-test p-value; 0 when both sides are constant and differ."""
    if len(xs) < 2 or len(ys) < 2:
        return None
    if statistics.pvariance(xs) == 0 and statistics.pvariance(ys) == 0:
        return 1.0 if statistics.fmean(xs) == statistics.fmean(ys) else 0.0
    from scipy.stats import ttest_ind

    p = float(ttest_ind(xs, ys, equal_var=False).pvalue)
    return None if math.isnan(p) else p


def _row(key: tuple[int, int], runs: list[FinalRun], cand: Candidate | None) -> FinalRow:
    ok = [r for r in runs if r.status == Status.OK and r.metric is not None]
    params = next((r.params for r in ok if r.params is not None), cand.params if cand else None)
    return FinalRow(
        candidate_id=key[0], role=runs[0].role, epochs=key[1], val=Spread.of([r.metric for r in ok]),
        test=Spread.of([r.test_metric for r in ok]), train_s=Spread.of([r.train_s for r in ok]), params=params,
        flops=cand.flops if cand else None, search_metric=cand.metric if cand else None,
        failed=len(runs) - len(ok), seeds=tuple(r.seed for r in ok), val_values=tuple(r.metric for r in ok))


def summarize(runs: list[FinalRun], candidates: dict[int, Candidate], higher_is_better: bool) -> list[FinalRow]:
    """One row per (candidate, epochs), best mean validation metric first, with comparisons filled in."""
    groups: dict[tuple[int, int], list[FinalRun]] = defaultdict(list)
    for r in runs:
        groups[(r.candidate_id, r.epochs)].append(r)
    rows = [_row(key, group, candidates.get(key[0])) for key, group in groups.items()]
    sign = -1.0 if higher_is_better else 1.0
    rows.sort(key=lambda r: (r.val.mean is None, sign * (r.val.mean or 0.0), r.candidate_id))
    if not rows or rows[0].val.mean is None:
        return rows
    winner = rows[0]
    refs = {r.epochs: r for r in rows if r.role == "reference" and r.val.mean is not None}
    out = []
    for r in rows:
        ref = refs.get(r.epochs)
        out.append(FinalRow(**{**r.__dict__,
                               "vs_winner": compare(r, winner) if r is not winner else None,
                               "vs_reference": compare(r, ref) if ref is not None and ref is not r else None}))
    return out
