"""AST mutation: one step of regularized evolution (`agent.baselines.evolution`), no LLM.

The step is the evolution baseline's own (its population, tournament, mutation
and random stream), so a campaign whose only operator is `mutation` proposes
exactly what `kind = "evolution"` proposes (tests/test_operators.py).
"""

from __future__ import annotations

from dataclasses import replace

from archagent.agent.baselines.evolution import EvolutionProposer
from archagent.agent.draw import Draw
from archagent.agent.operators.base import Operator
from archagent.agent.proposer import CallRecorder, Proposal


class Mutation(Operator):
    name, n_parents = "mutation", 0  # the evolution step picks its own parent from the draw's members

    def __init__(self, evolution: EvolutionProposer):
        self.evolution = evolution

    def propose(self, draw: Draw, record_call: CallRecorder) -> Proposal:
        return replace(self.evolution.propose(draw, record_call), operator=self.name)
