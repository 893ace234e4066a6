"""Hooks the campaign runs on candidate events: repair a build failure, distil insights.

    hooks = Hooks()
    hooks.on(("failed",), repair_hook(repairer, depth, budget_open, ask))
    hooks.fire("failed", cand)              # main thread, from the pipeline's events

A hook gets narrow callables, never the campaign: `ask(task, yields_proposal)`
runs `task(store, record)` on an LLM thread (with that thread's store
connection and call recorder), and the loop handles what it returns. LLM-side
work therefore never blocks the main thread. LLM tasks run in submission order
on the campaign's LLM threads, so with one thread (`pipeline.proposers = 1`)
their order in the store is the order a replay re-run consumes them in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archagent.agent.config import CampaignConfig
from archagent.agent.insights import FINISHED, Analyst
from archagent.agent.prompting import Prompts
from archagent.agent.proposer import CallRecorder, LLMProposer, Proposer
from archagent.agent.repair import Repairer
from archagent.agent.sources import purpose_source
from archagent.evals.tasks.base import Task
from archagent.knowledge.records import Candidate
from archagent.knowledge.store import Insight, Store

Hook = Callable[[str, Candidate], None]
LLMTask = Callable[[Store, CallRecorder], Any]
Ask = Callable[[LLMTask, bool], None]  # (task, its result is a Proposal for the campaign to admit)
Learn = Callable[[list[Insight]], None]  # new insights, as stored (the population keeps them for later prompts)


class Hooks:
    """Event name -> hooks, fired in registration order."""

    def __init__(self) -> None:
        self._hooks: dict[str, list[Hook]] = {}

    def on(self, events: tuple[str, ...], hook: Hook) -> None:
        for event in events:
            self._hooks.setdefault(event, []).append(hook)

    def fire(self, event: str, cand: Candidate) -> None:
        for hook in self._hooks.get(event, []):
            hook(event, cand)


def repair_hook(repairer: Repairer, depth: Callable[[Candidate], int], budget_open: Callable[[], bool],
                ask: Ask) -> Hook:
    """On a repairable failure, while the budgets last: ask its backend for a fix (a new proposal)."""
    def hook(event: str, cand: Candidate) -> None:
        d = depth(cand)
        if budget_open() and repairer.wants(cand, d):
            ask(lambda store, record: repairer.request(cand, d, record), True)
    return hook


def analyst_hook(analyst: Analyst, snapshot: Callable[[], list[Candidate]], llm_open: Callable[[], bool],
                 ask: Ask, learn: Learn) -> Hook:
    """Every `every` finished proposals, while the LLM budget lasts: an analysis of the candidates as they are now
    (also after the last proposal: its insights are for later campaigns); what it learns goes to `learn`."""
    def hook(event: str, cand: Candidate) -> None:
        if analyst.due(cand) and llm_open():
            cands = snapshot()
            ask(lambda store, record: learn(analyst.analyze(store, cands, record)), False)
    return hook


def knowledge_hooks(cfg: CampaignConfig, proposers: list[Proposer], store: Store, campaign_id: int, task: Task,
                    depth: Callable[[Candidate], int], budget_open: Callable[[], bool], llm_open: Callable[[], bool],
                    snapshot: Callable[[], list[Candidate]], ask: Ask, learn: Learn) -> Hooks:
    """Repair and analyst hooks for the campaign's LLM backends, as configured in `[search]`."""
    hooks, prompts = Hooks(), Prompts(cfg.prompts_dir)
    llm = [(b, p) for b, p in zip(cfg.backends, proposers, strict=True) if isinstance(p, LLMProposer)]
    attempts = {p.name: cfg.search.for_kind(b.kind).repair_attempts for b, p in llm}
    sources = {p.name: purpose_source(b, p, "repair", store, campaign_id) for b, p in llm if attempts[p.name]}
    if sources:
        hooks.on(("failed",), repair_hook(Repairer(task, sources, attempts, prompts), depth, budget_open, ask))
    if not llm:
        return hooks
    b, p = llm[0] if cfg.search.analyst is None else (cfg.backends[cfg.search.analyst], proposers[cfg.search.analyst])
    every = cfg.search.for_kind(b.kind).insight_every
    if every:
        finished = sum(1 for c in snapshot() if c.status in FINISHED and c.backend != "seed")
        analyst = Analyst(task, cfg.task.name, campaign_id, every, purpose_source(b, p, "analyze", store, campaign_id),
                          prompts, finished)
        hooks.on(("ok", "failed"), analyst_hook(analyst, snapshot, llm_open, ask, learn))
    return hooks
