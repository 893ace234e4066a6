"""LLM crossover: combine two parents from different families/islands (`prompts/crossover.j2`).

The reply is a whole file, or SEARCH/REPLACE blocks against parent A; where the
backend constrains decoding, exactly one python block (the prompt asks for a whole file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from archagent.agent.draw import Draw
from archagent.agent.operators.base import LLMAsk, Operator
from archagent.agent.patch import apply_reply
from archagent.agent.prompting import Exemplar, FailureRow, TaskBrief
from archagent.agent.proposer import CallRecorder, Proposal
from archagent.agent.reply_grammar import code_grammar
from archagent.knowledge.ideas.cards import IdeaCard


@dataclass(frozen=True)
class CrossoverContext:
    task: TaskBrief
    a: Exemplar
    b: Exemplar
    failures: list[FailureRow] = field(default_factory=list)
    idea: IdeaCard | None = None  # the idea card to apply (prompts/_idea.j2)


class Crossover(Operator):
    name, n_parents, uses_llm = "crossover", 2, True

    def __init__(self, llm: LLMAsk):
        self.llm = llm

    def propose(self, draw: Draw, record_call: CallRecorder) -> Proposal:
        a, b = draw.exemplars
        ctx = CrossoverContext(draw.ctx.task, a, b, draw.ctx.failures, draw.ctx.idea)
        grammar = code_grammar() if self.llm.constrained else None
        return self.llm.ask(self.name, self.llm.messages("crossover", ctx), partial(apply_reply, a.code), draw,
                            record_call, grammar=grammar)
