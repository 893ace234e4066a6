"""LLM edit: one change to one parent (`prompts/edit.j2`), applied here by `agent.patch`.

The answer format is SEARCH/REPLACE blocks (short replies, copy less), or the
whole changed file (`operators.edit_format`). Where the backend constrains
decoding (llama.cpp, `constrained`), the reply is held to a grammar built from
the parent (`agent.reply_grammar`): every SEARCH text is a run of the parent's
own lines, so the blocks always apply; a whole-file reply is one python block.
Free-form replies (hosted models) whose blocks do not apply fail with kind `patch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from archagent.agent.draw import Draw
from archagent.agent.operators.base import LLMAsk, Operator
from archagent.agent.patch import apply_reply
from archagent.agent.prompting import Exemplar, FailureRow, ResultRow, TaskBrief
from archagent.agent.proposer import CallRecorder, Proposal
from archagent.agent.reply_grammar import code_grammar, edit_grammar
from archagent.knowledge.ideas.cards import IdeaCard


@dataclass(frozen=True)
class EditContext:
    """`edit.j2`: the parent to change, one directive, the leaderboard and recent failures."""

    task: TaskBrief
    parent: Exemplar
    directive: str = ""
    results: list[ResultRow] = field(default_factory=list)
    failures: list[FailureRow] = field(default_factory=list)
    whole_file: bool = False  # answer with the whole changed file instead of edit blocks
    idea: IdeaCard | None = None  # the idea card to apply (prompts/_idea.j2); it replaces the directive


class Edit(Operator):
    name, n_parents, uses_llm = "edit", 1, True

    def __init__(self, llm: LLMAsk, whole_file: bool = False):
        self.llm, self.whole_file = llm, whole_file

    def propose(self, draw: Draw, record_call: CallRecorder) -> Proposal:
        (parent,) = draw.exemplars
        ctx = EditContext(draw.ctx.task, parent, draw.ctx.directive, draw.ctx.results[:5], draw.ctx.failures,
                          self.whole_file, draw.ctx.idea)
        return self.llm.ask(self.name, self.llm.messages("edit", ctx), partial(apply_reply, parent.code), draw,
                            record_call, grammar=self.grammar(parent.code))

    def grammar(self, parent: str) -> str | None:
        """The reply's GBNF where the backend constrains decoding (None: free-form)."""
        if not self.llm.constrained:
            return None
        if self.whole_file:
            return code_grammar()
        try:
            return edit_grammar(parent)
        except ValueError:  # no line of the parent can be searched: leave the reply free
            return None
