"""The agent: an evolving population whose offspring come from operators chosen by a bandit.

    [operators]
    use = ["mutation", "edit", "crossover", "rewrite"]   # the default (the bandit tries them once, in this order)

Per proposal, on the loop's main thread: the bandit (`agent.bandit`) picks an
operator from the campaign's record of pulls (improvement over the parents
per second, from the population in memory) and `plan` says what that
operator needs; the population's one sampler call (`Population.draw`) picks
the island and its parents; `propose` hands that draw to the operator, on an
LLM thread for the LLM operators, inline for AST mutation. Every candidate
records its operator. A replay backend's rows name the operator, parents and
island they were made with (`archagent export-replay`), and the agent follows
them, so an exported campaign re-runs exactly; a recorded AST mutation
carries its code.
"""

from __future__ import annotations

import copy
from typing import Any

from archagent.agent.bandit import Bandit, Pull
from archagent.agent.draw import Draw, Plan
from archagent.agent.llm import BackendExhausted
from archagent.agent.operators.base import LLMAsk, Operator
from archagent.agent.population import SEED_BACKEND, Population, call_groups
from archagent.agent.proposer import CallRecorder, LLMProposer, Proposal
from archagent.knowledge.fitness import Objective, improves
from archagent.knowledge.records import Candidate, Status

__all__ = ["AgentProposer", "call_groups", "operator_of"]
FINISHED = (Status.OK, Status.FAILED, Status.DUPLICATE, Status.FILTERED)


def operator_of(c: Candidate) -> str:
    return c.operator or ""


class AgentProposer(LLMProposer):
    """Operators over one LLM backend (`backend` is None when no LLM operator is in use)."""

    def __init__(self, ops: dict[str, Operator], arms: list[str], bandit: Bandit, objective: Objective,
                 higher: bool, llm: LLMAsk | None = None):
        self.ops, self.arms, self.bandit, self.objective, self.higher = ops, arms, bandit, objective, higher
        self.llm = llm
        self.backend, self.cfg, self.prompts = (llm.backend, llm.cfg, llm.prompts) if llm else (None, None, None)
        self.name = llm.name if llm else "agent"
        self.kind = self.backend.kind if self.backend else "agent"

    def without_llm(self) -> AgentProposer | None:
        """The same population and pulls with only the operators that need no LLM (AST mutation)."""
        arms = [a for a in self.arms if not self.ops[a].uses_llm]
        if not arms:
            return None
        out = copy.copy(self)
        out.arms, out.bandit = arms, Bandit(arms, self.bandit.floor, self.bandit.min_seconds)
        return out

    # -- choosing (main thread) ------------------------------------------------------
    def plan(self, population: Population) -> Plan:
        """The next operator (a replay row's, else the bandit's) and the parents it needs."""
        hint = self.replay_row()
        if hint is not None:
            name = hint.get("operator", "rewrite")
            n = self.ops[name].n_parents if name in self.ops else None
            return Plan(name, n, other_cells=n == 2, llm=name != "mutation", recorded=tuple(hint.get("parents", [])),
                        island=hint.get("island"))
        op = self.ops[self.bandit.choose(self.pulls(population))]
        return Plan(op.name, op.n_parents, other_cells=op.n_parents == 2, llm=op.uses_llm)

    def pulls(self, population: Population) -> list[Pull]:
        """Every earlier proposal of this agent's arms: did it beat its parents, and its seconds (LLM + training)."""
        by_id, out = population.members, []
        for c in population.candidates():
            arm = operator_of(c)
            if c.backend == SEED_BACKEND or arm not in self.arms:
                continue
            parents = [by_id[p] for p in c.parent_ids if p in by_id]
            improved = c.status == Status.OK and improves(c, parents, self.objective, self.higher)
            llm_s = population.llm_seconds.get(c.llm_call_id, 0.0) if c.llm_call_id is not None else 0.0
            out.append(Pull(arm, c.status in FINISHED, improved, llm_s + float(c.timings.get("wall_s", 0.0))))
        return out

    # -- making ------------------------------------------------------------------------
    def propose(self, draw: Draw, record_call: CallRecorder) -> Proposal:
        """The drawn operator on its draw; too few distinct parents for it yet: a whole file instead."""
        if draw.operator == "mutation" and self.replay_row() is not None:
            return self.replayed_mutation(draw)
        op = self.ops[draw.operator or "rewrite"]
        if op.n_parents and len(draw.parents) < op.n_parents:
            op = self.ops["rewrite"]
        return op.propose(draw, record_call)

    def replayed_mutation(self, draw: Draw) -> Proposal:
        """A replay row's AST mutation: its recorded code, on the parents it names (no LLM call)."""
        row = self.replay_row()
        self.backend.skip(1)
        return Proposal(row["code"], draw.parent_ids(), row.get("backend", "evolution"), operator="mutation")

    # -- replay ----------------------------------------------------------------
    def replay_row(self) -> dict[str, Any] | None:
        """The next row when the backend replays a file (rows without "operator" are rewrites), else None."""
        peek = getattr(self.backend, "peek", None)
        if peek is None:
            return None
        row = peek()
        if row is None:
            raise BackendExhausted(f"replay file {self.backend.path.name} is exhausted")
        return row

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
