"""LLM rewrite: the whole file, from the loop's few-shot prompt (`prompts/propose.j2`).

Where the backend constrains decoding, the reply is exactly one python block defining `class Net`.
"""

from __future__ import annotations

from archagent.agent.draw import Draw
from archagent.agent.extract import extract_code
from archagent.agent.operators.base import LLMAsk, Operator
from archagent.agent.proposer import CallRecorder, Proposal
from archagent.agent.reply_grammar import code_grammar


class Rewrite(Operator):
    name, uses_llm = "rewrite", True

    def __init__(self, llm: LLMAsk):
        self.llm = llm

    def propose(self, draw: Draw, record_call: CallRecorder) -> Proposal:
        grammar = code_grammar() if self.llm.constrained else None
        return self.llm.ask(self.name, self.llm.messages("propose", draw.ctx), extract_code, draw, record_call,
                            grammar=grammar)
