"""What every operator shares: one verb, `propose(draw, record_call) -> Proposal`.

The proposer that owns the operators (`agent.operators.agent.AgentProposer`)
picks the operator; the population's one sampler call (`Population.draw`)
picks its parents, island and idea cards into a `Draw`; the operator turns
that draw into code. The LLM operators ask through `agent.proposer.LLMAsk`,
the one ask/re-ask/record loop (a reply that repeats an earlier candidate is
re-asked, hotter, with "this is a repeat of #N").
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from archagent.agent.draw import Draw
from archagent.agent.proposer import CallRecorder, LLMAsk, Proposal

__all__ = ["LLMAsk", "Operator"]


class Operator(ABC):
    name: str = "abstract"
    n_parents: int | None = None  # parents to draw (None: the prompt's exemplar count; 0: none, it picks its own)
    uses_llm: bool = False

    @abstractmethod
    def propose(self, draw: Draw, record_call: CallRecorder) -> Proposal:
        """One proposal from one draw; raise BackendExhausted when no more can come."""
