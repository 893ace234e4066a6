"""What a prompt shows: few-shot exemplars and compact tables from the store."""

from __future__ import annotations

from agent.prompting import DuplicateRow, Exemplar, FailureRow, PromptContext, ResultRow, TaskBrief
from evals.tasks.base import Task
from knowledge.records import Candidate, Status
from knowledge.store import Store

SEED_BACKEND = "seed"


def ranked(cands: list[Candidate], task: Task) -> list[Candidate]:
    """OK candidates best first; ties broken by fewer params, then age."""
    scored = [c for c in cands if c.status == Status.OK and c.metric is not None]
    sign = -1.0 if task.higher_is_better else 1.0
    return sorted(scored, key=lambda c: (sign * c.metric, c.params or 0, c.id))


def select_exemplars(cands: list[Candidate], task: Task, n: int) -> list[Candidate]:
    """The best so far (distinct code), plus at least one seed while n allows."""
    best, seen = [], set()
    for c in ranked(cands, task):
        if (c.code_key or c.text_key or c.id) not in seen:
            best.append(c)
            seen.add(c.code_key or c.text_key or c.id)
    seeds = [c for c in cands if c.backend == SEED_BACKEND and c.status == Status.OK]
    picked = best[: max(n - 1, 0)] if seeds else best[:n]
    for s in seeds + best:
        if len(picked) >= n:
            break
        if s not in picked:
            picked.append(s)
    return picked


def label(c: Candidate) -> str:
    return f"seed {c.extra.get('seed_name', '')}".strip() if c.backend == SEED_BACKEND else f"candidate #{c.id}"


def build_context(store: Store, campaign_id: int, task: Task, n_exemplars: int, n_results: int,
                  n_failures: int) -> PromptContext:
    cands = store.candidates(campaign_id)
    exemplars = [Exemplar(c.code, label(c), c.id, c.metric, c.params)
                 for c in select_exemplars(cands, task, n_exemplars)]
    results = [ResultRow(c.id, c.metric, c.params, c.flops) for c in ranked(cands, task)[:n_results]]
    failed = [c for c in cands if c.status == Status.FAILED][-n_failures:] if n_failures else []
    failures = [FailureRow(str(c.failure_kind), c.failure_msg or "") for c in failed]
    dups = [c for c in cands if c.status == Status.DUPLICATE][-3:]
    duplicates = [DuplicateRow(c.duplicate_of, f"candidate #{c.duplicate_of}") for c in dups if c.duplicate_of]
    return PromptContext(TaskBrief.of(task), exemplars, results, failures, duplicates)
