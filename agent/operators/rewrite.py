"""LLM rewrite: the whole file, from the loop's few-shot prompt (`prompts/propose.j2`)."""

from __future__ import annotations

from agent.extract import extract_code
from agent.operators.base import LLMAsk, Operator, OperatorCall
from agent.proposer import Proposal


class Rewrite(Operator):
    name, uses_llm = "rewrite", True

    def __init__(self, llm: LLMAsk):
        self.llm = llm

    def propose(self, call: OperatorCall) -> Proposal:
        return self.llm.ask(self.name, self.llm.messages("propose", call.ctx), extract_code, call)
