"""Everything a campaign report shows, read once from the store into immutable records.

    from evals.report.data import gather
    data = gather(Store("archagent.db"), "digits-demo")
    data.ranked()[:10]       # best OK candidates first
    data.funnel()            # proposed → duplicate → invalid → filtered → trained → improved

Missing measurements (no FLOPs, no pre-filter scores, no LLM calls) stay None or
empty here; the plots and pages say "not available" for them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from evals.report.curves import baseline_curves
from evals.report.lineage import SEED_BACKEND, Lineage
from knowledge.records import Campaign, Candidate, LLMCall, Status, ranked
from knowledge.store import Store


@dataclass(frozen=True)
class Funnel:
    proposed: int  # LLM / baseline proposals (seeds excluded)
    duplicate: int
    invalid: int  # no code, or failed in the sandbox
    filtered: int  # valid, ranked out by the pre-filter
    trained: int  # trained and scored
    improved: int  # beat the best metric so far when it finished
    in_progress: int  # pending or running (a live campaign)

    def stages(self) -> list[tuple[str, int]]:
        names = ("proposed", "duplicate", "invalid", "filtered", "trained", "improved")
        return [(n, getattr(self, n)) for n in names]


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
class ReportData:
    campaign: Campaign
    metric_name: str
    higher_is_better: bool
    candidates: tuple[Candidate, ...]
    calls: tuple[LLMCall, ...]
    baselines: dict[str, list[float]] = field(default_factory=dict)  # random campaigns on the task: best-so-far

    @cached_property
    def lineage(self) -> Lineage:
        return Lineage(self.candidates)

    @property
    def config(self) -> dict[str, Any]:
        try:
            return json.loads(self.campaign.config_json)
        except json.JSONDecodeError:
            return {"raw": self.campaign.config_json}

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b

    def ranked(self) -> list[Candidate]:
        """OK candidates best first; ties broken by fewer params, then age."""
        return ranked(self.candidates, self.higher_is_better)

    def trained(self) -> list[Candidate]:
        """OK candidates in the order they finished training (id order)."""
        return [c for c in self.candidates if c.status == Status.OK and c.metric is not None]

    def best_so_far(self) -> list[tuple[int, float, Candidate]]:
        """(n trained so far, best metric so far, the candidate just trained) per trained candidate."""
        out, best = [], None
        for n, c in enumerate(self.trained(), start=1):
            best = c.metric if best is None or self.better(c.metric, best) else best
            out.append((n, best, c))
        return out

    def improvers(self) -> set[int]:
        """Non-seed candidates that beat every earlier trained one."""
        prev, out = None, set()
        for _, best, c in self.best_so_far():
            if c.backend != SEED_BACKEND and c.metric == best and (prev is None or self.better(best, prev)):
                out.add(c.id)
            prev = best
        return out

    def funnel(self) -> Funnel:
        props = [c for c in self.candidates if c.backend != SEED_BACKEND]
        n = defaultdict(int, {s: sum(1 for c in props if c.status == s) for s in Status})
        return Funnel(len(props), n[Status.DUPLICATE], n[Status.FAILED], n[Status.FILTERED], n[Status.OK],
                      len(self.improvers()), n[Status.PENDING] + n[Status.RUNNING])

    def usage(self) -> list[BackendUsage]:
        groups: dict[tuple[str, str], list[LLMCall]] = defaultdict(list)
        for call in self.calls:
            groups[(call.backend, call.model)].append(call)
        return [BackendUsage(b, m, len(cs), sum(1 for c in cs if c.error), sum(c.prompt_tokens for c in cs),
                             sum(c.completion_tokens for c in cs), sum(c.cost_usd for c in cs),
                             sum(c.latency_s for c in cs)) for (b, m), cs in sorted(groups.items())]


def task_metric(task_name: str, options: dict[str, Any] | None = None) -> tuple[str, bool]:
    """(metric name, higher is better) of a task; a generic metric when the task is not installed here."""
    from evals.tasks import TaskError, get_task

    try:
        task = get_task(task_name, options)
    except (TaskError, TypeError, ImportError):
        return "metric", True
    return task.metric_name, task.higher_is_better


def gather(store: Store, campaign: str | int) -> ReportData:
    camp = store.campaign(campaign)
    options = (json.loads(camp.config_json or "{}").get("task") or {}).get("options")
    name, higher = task_metric(camp.task, options)
    baselines = {k: v for k, v in random_baselines(store, camp.task).items() if k != camp.name}
    return ReportData(camp, name, higher, tuple(store.candidates(camp.id)), tuple(store.llm_calls(camp.id)),
                      baselines)


def random_baselines(store: Store, task: str) -> dict[str, list[float]]:
    """Best-so-far curves of random-search campaigns on the same task in this store (none if unknown task)."""
    from evals.tasks import TaskError

    try:
        return baseline_curves(store, task)
    except TaskError:
        return {}


def pareto_front(cands: list[Candidate], cost: str, higher_is_better: bool) -> list[Candidate]:
    """Candidates no other beats on both the metric and `cost` (an int field: params or flops), cheapest first."""
    pts = sorted((c for c in cands if c.metric is not None and getattr(c, cost) is not None),
                 key=lambda c: (getattr(c, cost), -c.metric if higher_is_better else c.metric, c.id))
    front: list[Candidate] = []
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
