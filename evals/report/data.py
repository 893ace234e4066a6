"""Everything a campaign report shows, read once from the store into immutable records.

    from archagent.evals.report.data import gather
    data = gather(Store("archagent.db"), "digits-demo")
    data.ranked()[:10]       # best OK candidates first
    data.funnel()            # proposed → duplicate → invalid → filtered → trained → improved

It reads a bounded amount at any campaign size (issue 18: 100,000 candidates): full records only for the
top, their lineage and the Pareto fronts; every trained candidate as a light point; counts from SQL.
Missing measurements (no FLOPs, no pre-filter scores, no LLM calls) stay None or
empty here; the plots and pages say "not available" for them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from archagent.evals.final_stats import FinalRow, summarize
from archagent.evals.report.curves import baseline_curves
from archagent.evals.report.lineage import SEED_BACKEND, Lineage
from archagent.knowledge.ideas.usage import CardUsage, campaign_usage
from archagent.knowledge.records import Campaign, Candidate, LLMCall, Status
from archagent.knowledge.store import Store


@dataclass(frozen=True)
class Funnel:
    proposed: int  # LLM / baseline proposals (seeds excluded)
    duplicate: int
    invalid: int  # no code, or failed in the sandbox
    filtered: int  # valid, ranked out by the pre-filter
    trained: int  # trained and scored
    improved: int | None  # beat the best metric so far when it finished (None: not computed, see `overview`)
    in_progress: int  # pending or running (a live campaign)

    def stages(self) -> list[tuple[str, int]]:
        names = ("proposed", "duplicate", "invalid", "filtered", "trained", "improved")
        return [(n, getattr(self, n)) for n in names if getattr(self, n) is not None]


@dataclass(frozen=True)
class BackendUsage:
    backend: str
    model: str
    calls: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float  # total seconds waiting on the backend

    @property
    def mean_latency_s(self) -> float:
        return self.latency_s / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class TrainedPoint:
    """A trained candidate as the plots need it (no code): one per OK row, read in one indexed query."""

    id: int
    metric: float
    seed: bool
    prefilter_score: float | None
    params: int | None
    flops: int | None

    @property
    def backend(self) -> str:
        return SEED_BACKEND if self.seed else ""


@dataclass(frozen=True)
class ReportData:
    """A campaign as the report and web app show it, read with bounded queries at any campaign size.

    `trained` holds every trained candidate as a light `TrainedPoint`; `candidates` holds full records only
    for what is shown with code or names: the top `top`, their first-parent chains (6 back) and parents,
    and the Pareto-front members. Counts and LLM usage come from SQL aggregates.
    """

    campaign: Campaign
    metric_name: str
    higher_is_better: bool
    candidates: tuple[Candidate, ...]
    calls: tuple[LLMCall, ...] = ()
    baselines: dict[str, list[float]] = field(default_factory=dict)  # random campaigns on the task: best-so-far
    points: tuple[TrainedPoint, ...] = ()
    top_ids: tuple[int, ...] = ()
    status_counts: dict[str, int] = field(default_factory=dict)  # all candidates, seeds included
    proposal_counts: dict[str, int] = field(default_factory=dict)  # seeds excluded
    usage_rows: tuple[tuple, ...] = ()
    final_rows: tuple[FinalRow, ...] = ()  # `archagent final`: multi-seed re-evaluation, best first
    ideas: tuple[CardUsage, ...] = ()  # the idea cards proposals carried, most used first (knowledge/ideas/)

    @cached_property
    def lineage(self) -> Lineage:
        return Lineage(self.candidates)

    @property
    def n_candidates(self) -> int:
        return sum(self.status_counts.values())

    @property
    def config(self) -> dict[str, Any]:
        try:
            return json.loads(self.campaign.config_json)
        except json.JSONDecodeError:
            return {"raw": self.campaign.config_json}

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b

    def ranked(self) -> list[Candidate]:
        """The top OK candidates best first (ties: fewer params, then age), as many as `gather` was asked for."""
        return [self.lineage.by_id[i] for i in self.top_ids]

    def trained(self) -> list[TrainedPoint]:
        """Every OK candidate in the order they were proposed (id order), without code."""
        return list(self.points)

    def best_so_far(self) -> list[tuple[int, float, TrainedPoint]]:
        """(n trained so far, best metric so far, the candidate just trained) per trained candidate."""
        out, best = [], None
        for n, c in enumerate(self.points, start=1):
            best = c.metric if best is None or self.better(c.metric, best) else best
            out.append((n, best, c))
        return out

    def improvers(self) -> set[int]:
        """Non-seed candidates that beat every earlier trained one."""
        prev, out = None, set()
        for _, best, c in self.best_so_far():
            if not c.seed and c.metric == best and (prev is None or self.better(best, prev)):
                out.add(c.id)
            prev = best
        return out

    def front(self, cost: str) -> list[Candidate]:
        """The Pareto front on `cost` (params or flops) as full records, cheapest first."""
        return [self.lineage.by_id[p.id] for p in pareto_front(self.points, cost, self.higher_is_better)]

    def funnel(self) -> Funnel:
        n = defaultdict(int, self.proposal_counts)
        improved = len(self.improvers()) if self.points or not n[Status.OK] else None
        return Funnel(sum(n.values()), n[Status.DUPLICATE], n[Status.FAILED], n[Status.FILTERED], n[Status.OK],
                      improved, n[Status.PENDING] + n[Status.RUNNING])

    def usage(self) -> list[BackendUsage]:
        return [BackendUsage(*row) for row in self.usage_rows]


def task_metric(task_name: str, options: dict[str, Any] | None = None) -> tuple[str, bool]:
    """(metric name, higher is better) of a task; a generic metric when the task is not installed here."""
    from archagent.evals.tasks import TaskError, get_task

    try:
        task = get_task(task_name, options)
    except (TaskError, TypeError, ImportError):
        return "metric", True
    return task.metric_name, task.higher_is_better


def gather(store: Store, campaign: str | int, top: int = 10, depth: int = 6, series: bool = True) -> ReportData:
    """Read what a report shows: bounded by `top` and the Pareto fronts, not by the campaign's size.
    series=False: no trained points, baselines or fronts (the top and its lineage only: the web lineage page)."""
    camp = store.campaign(campaign)
    options = (json.loads(camp.config_json or "{}").get("task") or {}).get("options")
    name, higher = task_metric(camp.task, options)
    baselines = {k: v for k, v in random_baselines(store, camp.task).items() if k != camp.name} if series else {}
    points = tuple(TrainedPoint(*row) for row in store.trained_series(camp.id)) if series else ()
    best = store.top(camp.id, higher, top)
    wanted = {c.id for c in best} | {p for c in best for p in c.parent_ids}
    for c in best:
        wanted |= set(store.first_parent_chain(c.id, depth))
    for cost in ("params", "flops"):
        wanted |= {p.id for p in pareto_front(points, cost, higher)}
    return ReportData(camp, name, higher, tuple(store.by_ids(wanted)), (), baselines, points,
                      tuple(c.id for c in best), store.counts(camp.id), store.counts(camp.id, seeds=False),
                      tuple(store.llm_usage(camp.id)), final_rows(store, camp.id, higher),
                      tuple(campaign_usage(store, camp.id, higher, unused=False)) if series else ())


def final_rows(store: Store, campaign_id: int, higher_is_better: bool) -> tuple[FinalRow, ...]:
    """`archagent final` results: one row per re-evaluated candidate, best first (empty before a final run)."""
    runs = store.final_runs(campaign_id)
    if not runs:
        return ()
    cands = {c.id: c for c in store.by_ids({r.candidate_id for r in runs})}
    return tuple(summarize(runs, cands, higher_is_better))


def overview(store: Store, campaign: str | int) -> ReportData:
    """The campaign, its counts (for headers and the funnel without `improved`) and the final-evaluation
    table: reads bounded by the number of final runs, not by the campaign's size."""
    camp = store.campaign(campaign)
    options = (json.loads(camp.config_json or "{}").get("task") or {}).get("options")
    name, higher = task_metric(camp.task, options)
    return ReportData(camp, name, higher, (), (), {}, (), (), store.counts(camp.id), store.counts(camp.id, seeds=False),
                      final_rows=final_rows(store, camp.id, higher))


def random_baselines(store: Store, task: str) -> dict[str, list[float]]:
    """Best-so-far curves of random-search campaigns on the same task in this store (none if unknown task)."""
    from archagent.evals.tasks import TaskError

    try:
        return baseline_curves(store, task)
    except TaskError:
        return {}


def pareto_front(cands, cost: str, higher_is_better: bool) -> list:
    """Candidates no other beats on both the metric and `cost` (an int field: params or flops), cheapest first."""
    pts = sorted((c for c in cands if c.metric is not None and getattr(c, cost) is not None),
                 key=lambda c: (getattr(c, cost), -c.metric if higher_is_better else c.metric, c.id))
    front: list = []
    for c in pts:
        if not front or (c.metric > front[-1].metric if higher_is_better else c.metric < front[-1].metric):
            front.append(c)
    return front


def kendall_tau(xs: list[float], ys: list[float]) -> float | None:
    """Kendall's tau-b of two paired lists; None below 3 pairs or when one side is constant."""
    if len(xs) < 3:
        return None
    from scipy.stats import kendalltau

    tau = kendalltau(xs, ys).statistic
    return None if tau != tau else float(tau)  # NaN when a side is constant
