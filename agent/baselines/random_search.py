"""Random search: every proposal is a fresh sample from the architecture grammar.

    [[backends]]
    kind = "random"

The baseline any search method must beat on the same budget. Deterministic per
config `seed`; candidates are stored with backend "random" and no parents.
"""

from __future__ import annotations

from archagent.agent.baselines.base import BaselineProposer
from archagent.agent.prompting import PromptContext
from archagent.agent.proposer import CallRecorder, Proposal


class RandomProposer(BaselineProposer):
    name = kind = "random"

    def propose(self, ctx: PromptContext, record_call: CallRecorder) -> Proposal:
        with self.history() as store:
            return Proposal(self.sample_code(store, self.rng(store)), (), self.name)
