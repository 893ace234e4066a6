"""LLM edit: one change to one parent (`prompts/edit.j2`), applied here by `agent.patch`.

The answer format is SEARCH/REPLACE blocks (short replies, copy less), or for
the small local models the whole changed file (`operators.edit_format`): the
1.5B model copied a format example verbatim and dropped block markers, while
its whole files were mostly valid, and on a CPU its latency is mostly prompt
evaluation, not the reply. A reply whose blocks do not apply fails with kind `patch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from archagent.agent.draw import Draw
from archagent.agent.operators.base import LLMAsk, Operator
from archagent.agent.patch import apply_reply
from archagent.agent.prompting import Exemplar, FailureRow, ResultRow, TaskBrief
from archagent.agent.proposer import CallRecorder, Proposal


@dataclass(frozen=True)
class EditContext:
    """`edit.j2`: the parent to change, one directive, the leaderboard and recent failures."""

    task: TaskBrief
    parent: Exemplar
    directive: str = ""
    results: list[ResultRow] = field(default_factory=list)
    failures: list[FailureRow] = field(default_factory=list)
    whole_file: bool = False  # answer with the whole changed file instead of edit blocks


class Edit(Operator):
    name, n_parents, uses_llm = "edit", 1, True

    def __init__(self, llm: LLMAsk, whole_file: bool = False):
        self.llm, self.whole_file = llm, whole_file

    def propose(self, draw: Draw, record_call: CallRecorder) -> Proposal:
        (parent,) = draw.exemplars
        ctx = EditContext(draw.ctx.task, parent, draw.ctx.directive, draw.ctx.results[:5], draw.ctx.failures,
                          self.whole_file)
        return self.llm.ask(self.name, self.llm.messages("edit", ctx), partial(apply_reply, parent.code), draw,
                            record_call)
