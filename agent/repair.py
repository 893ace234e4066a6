"""Repair: after a build or shape failure, ask the same backend to fix the code, given the trimmed error.

    [search]
    repair_attempts = 1   # default: 0 for local (benchmarks/README.md: resampling beat repair), 1 for litellm

A repaired child is an ordinary candidate (deduplicated, probed, trained, and
counted against the proposal budget) whose only parent is the failed one and
whose LLM call has purpose "repair" (`Candidate.repair_of`, `operator = "repair"`);
a child that fails the same way is repaired again until the attempts are used up.
The campaign asks `wants` on the main thread and runs `request` on an LLM thread
(agent/hooks.py).
"""

from __future__ import annotations

from archagent.agent.extract import extract_code
from archagent.agent.prompting import Prompts, RepairContext, TaskBrief, trim_error
from archagent.agent.proposer import CallRecorder, Proposal
from archagent.agent.sources import Source
from archagent.evals.tasks.base import Task
from archagent.knowledge.records import Candidate, FailureKind, Status

REPAIRABLE = (FailureKind.BUILD, FailureKind.SHAPE)


class Repairer:
    """Turns a repairable failure into one repair request whose reply becomes the child proposal."""

    def __init__(self, task: Task, sources: dict[str, Source], attempts: dict[str, int], prompts: Prompts):
        self.task, self.sources, self.attempts, self.prompts = task, sources, attempts, prompts

    def wants(self, cand: Candidate, depth: int) -> bool:
        """Is this failure repairable by its backend, with attempts left after `depth` earlier repairs?"""
        return (cand.status == Status.FAILED and cand.failure_kind in REPAIRABLE and cand.backend in self.sources
                and depth < self.attempts.get(cand.backend, 0))

    def request(self, cand: Candidate, depth: int, record: CallRecorder) -> Proposal | None:
        """The repaired proposal (LLM thread): a child of the failed candidate, on its island; None if exhausted."""
        source = self.sources[cand.backend]
        ctx = RepairContext(TaskBrief.of(self.task), cand.code, str(cand.failure_kind),
                            trim_error(cand.failure_msg or ""), depth + 1)
        reply, call_id = source.ask(self.prompts.messages("repair", ctx), record, f"repair of #{cand.id}")
        if call_id is None:
            return None  # the backend is exhausted: nothing to repair with
        base = dict(island=cand.island, operator="repair", repair_of=cand.id)
        if reply is None:
            return Proposal(None, (cand.id,), source.name, call_id, FailureKind.LLM, "the repair request failed",
                            **base)
        code = extract_code(reply.text)
        if code is None:
            return Proposal(None, (cand.id,), source.name, call_id, FailureKind.NO_CODE, "the reply held no code block",
                            **base)
        return Proposal(code, (cand.id,), source.name, call_id, **base)
