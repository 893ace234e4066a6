"""Repair: after a build or shape failure, ask the same backend to fix the code, given the trimmed error.

    [search]
    repair_attempts = 1   # default: 0 for local (DESIGN.md §4: resampling beat repair), 1 for litellm

A repaired child is an ordinary candidate (deduplicated, probed, trained, and
counted against the proposal budget) whose only parent is the failed one and
whose LLM call has purpose "repair"; a child that fails the same way is
repaired again until the attempts are used up.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.extract import extract_code
from agent.prompting import Prompts, RepairContext, TaskBrief, trim_error
from agent.proposer import CallRecorder, Proposal
from agent.sources import Source
from evals.tasks.base import Task
from knowledge.records import Candidate, FailureKind, Status
from knowledge.store import Store

REPAIRABLE = (FailureKind.BUILD, FailureKind.SHAPE)
DEFAULT_ATTEMPTS = {"local": 0, "litellm": 1}  # other kinds (replay, baselines): 0 unless configured


def attempts_for(kind: str, configured: int | None) -> int:
    return configured if configured is not None else DEFAULT_ATTEMPTS.get(kind, 0)


def repair_depth(store: Store, cand: Candidate) -> int:
    """How many repairs led to this candidate (0 for a fresh proposal)."""
    depth = 0
    while cand.llm_call_id and cand.parent_ids and store.llm_call(cand.llm_call_id).purpose == "repair":
        depth, cand = depth + 1, store.candidate(cand.parent_ids[0])
    return depth


class Repairer:
    """Turns a repairable failure into one repair request whose reply becomes the child proposal."""

    def __init__(self, store: Store, task: Task, sources: dict[str, Source], attempts: dict[str, int],
                 prompts: Prompts, record: CallRecorder):
        self.store, self.task, self.sources, self.attempts = store, task, sources, attempts
        self.prompts, self.record = prompts, record

    def request(self, cand: Candidate) -> Proposal | None:
        """The repaired proposal for a failed candidate, or None when it is not to be repaired."""
        source = self.sources.get(cand.backend)
        if cand.status != Status.FAILED or cand.failure_kind not in REPAIRABLE or source is None:
            return None
        depth = repair_depth(self.store, cand)
        if depth >= self.attempts.get(cand.backend, 0):
            return None
        ctx = RepairContext(TaskBrief.of(self.task), cand.code, str(cand.failure_kind),
                            trim_error(cand.failure_msg or ""), depth + 1)
        reply, call_id = source.ask(self.prompts.messages("repair", ctx), self.record)
        if call_id is None:
            return None  # the backend is exhausted: nothing to repair with
        if reply is None:
            return Proposal(None, (cand.id,), source.name, call_id, FailureKind.LLM, "the repair request failed")
        code = extract_code(reply.text)
        if code is None:
            return Proposal(None, (cand.id,), source.name, call_id, FailureKind.NO_CODE, "the reply held no code block")
        return Proposal(code, (cand.id,), source.name, call_id)

    def repair(self, cand: Candidate, handle: Callable[[Proposal], Candidate]) -> Candidate | None:
        """Request a repair and hand the child to the campaign; the child records what it repaired."""
        proposal = self.request(cand)
        if proposal is None:
            return None
        child = handle(proposal)
        extra = {**self.store.candidate(child.id).extra, "repair_of": cand.id, "island": cand.extra.get("island")}
        self.store.update_candidate(child.id, extra=extra)
        return self.store.candidate(child.id)
