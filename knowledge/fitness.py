"""Fitness that knows size: how parent selection and the report rank trained candidates.

    ranked = rank(cands, Objective("penalized", 0.01), higher_is_better=True)   # best first

Objectives (`search.objective` in the config):
- "metric" (default): the task metric; ties by fewer params, then age.
- "penalized": the metric minus `size_penalty` per decade of parameters
  (accuracy 0.95 at 10k params = 0.94 at 100k params with penalty 0.01).
- "pareto": non-dominated sorting on (metric, params), EvoPrompting's
  objective; within a front, by metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from archagent.knowledge.records import Candidate, ranked

ObjectiveName = Literal["metric", "penalized", "pareto"]


@dataclass(frozen=True)
class Objective:
    name: ObjectiveName = "metric"
    size_penalty: float = 0.01  # "penalized": metric units per 10x parameters


def score(c: Candidate, obj: Objective, higher: bool) -> float:
    """Higher is better: the sign-adjusted metric, minus the size penalty for "penalized"."""
    value = c.metric if higher else -c.metric
    if obj.name == "penalized":
        value -= obj.size_penalty * math.log10(max(c.params or 1, 1))
    return value


def dominates(a: Candidate, b: Candidate, higher: bool) -> bool:
    """a is at least as good on metric and params, and better on one."""
    ma, mb = (a.metric, b.metric) if higher else (-a.metric, -b.metric)
    pa, pb = a.params or 0, b.params or 0
    return ma >= mb and pa <= pb and (ma > mb or pa < pb)


def pareto_ranks(cands: Sequence[Candidate], higher: bool) -> dict[int, int]:
    """Candidate id -> front number (0: non-dominated)."""
    left, out, front = list(cands), {}, 0
    while left:
        top = [c for c in left if not any(dominates(o, c, higher) for o in left if o is not c)]
        out.update({c.id: front for c in top})
        left, front = [c for c in left if c.id not in out], front + 1
    return out


def rank(cands: Sequence[Candidate], obj: Objective, higher: bool) -> list[Candidate]:
    """Trained candidates best first under the objective."""
    base = ranked(cands, higher)
    if obj.name == "metric":
        return base
    if obj.name == "penalized":
        return sorted(base, key=lambda c: (-score(c, obj, higher), c.params or 0, c.id))
    fronts = pareto_ranks(base, higher)
    return sorted(base, key=lambda c: (fronts[c.id], -score(c, obj, higher), c.id))


def improves(child: Candidate, parents: Sequence[Candidate], obj: Objective, higher: bool) -> bool:
    """Did the child beat every scored parent under the objective? (No scored parent: beat nothing.)"""
    scored = [p for p in parents if p.metric is not None]
    if child.metric is None or not scored:
        return False
    if obj.name == "pareto":
        return all(dominates(child, p, higher) for p in scored)
    return all(score(child, obj, higher) > score(p, obj, higher) for p in scored)
