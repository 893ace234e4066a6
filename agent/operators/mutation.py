"""AST mutation: one step of regularized evolution (`agent.baselines.evolution`), no LLM.

The step is the evolution baseline's own (its population, tournament, mutation
and random stream), so a campaign whose only operator is `mutation` proposes
exactly what `kind = "evolution"` proposes (tests/test_operators.py).
"""

from __future__ import annotations

from dataclasses import replace

from archagent.agent.baselines.evolution import EvolutionProposer
from archagent.agent.operators.base import Operator, OperatorCall
from archagent.agent.proposer import Proposal


class Mutation(Operator):
    name = "mutation"

    def __init__(self, evolution: EvolutionProposer):
        self.evolution = evolution

    def propose(self, call: OperatorCall) -> Proposal:
        return replace(self.evolution.propose(call.ctx, call.record_call), operator=self.name)
