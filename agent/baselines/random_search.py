"""Random search: every proposal is a fresh sample from the architecture grammar.

    [[backends]]
    kind = "random"

The baseline any search method must beat on the same budget. Deterministic per
config `seed`; candidates are stored with backend "random" and no parents.
"""

from __future__ import annotations

from archagent.agent.baselines.base import BaselineProposer
from archagent.agent.draw import Draw
from archagent.agent.proposer import CallRecorder, Proposal


class RandomProposer(BaselineProposer):
    name = kind = "random"

    def propose(self, draw: Draw, record_call: CallRecorder) -> Proposal:
        with self.history(draw) as store:
            return Proposal(self.sample_code(store, self.rng(store)), (), self.name)
