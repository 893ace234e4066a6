"""What every operator shares: the call it is given, and the LLM ask with novelty re-asks.

An operator has one verb, `propose(call) -> Proposal`. The proposer that owns
the operators (`agent.operators.agent.AgentProposer`) picks the operator and
its parents; the operator turns them into code.

Novelty before compute: an LLM reply whose code repeats an earlier candidate
(text or canonical-AST key) is re-asked within the same call, hotter, with
"this is a repeat of #N" appended to the chat, up to `novelty_retries` times;
each repeat is logged as a "propose-copy" call, so budgets and replay
exports see it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace

from archagent.agent.config import BackendConfig
from archagent.agent.llm import BackendExhausted, LLMBackend, LLMError
from archagent.agent.patch import PatchError
from archagent.agent.prompting import Exemplar, PromptContext, Prompts
from archagent.agent.proposer import CallRecorder, Proposal, request_label, sample
from archagent.knowledge.records import FailureKind

Seen = Callable[[str], int | None]  # code -> id of an earlier candidate with the same text/code key
Parse = Callable[[str], str | None]  # reply -> code (None: no code); raises PatchError


@dataclass(frozen=True)
class OperatorCall:
    """One proposal's inputs: the loop's prompt context, the chosen parents, logging and novelty checks."""

    ctx: PromptContext
    parents: tuple[Exemplar, ...]
    record_call: CallRecorder
    seen: Seen


class Operator(ABC):
    name: str = "abstract"
    n_parents: int = 0  # parents the owner must pick (0: the operator needs none or picks its own)
    uses_llm: bool = False

    @abstractmethod
    def propose(self, call: OperatorCall) -> Proposal:
        """One proposal; raise BackendExhausted when no more can come."""


class LLMAsk:
    """One backend's chat with novelty re-asks; what the LLM operators share."""

    def __init__(self, backend: LLMBackend, cfg: BackendConfig, prompts: Prompts, name: str,
                 novelty_retries: int):
        self.backend, self.cfg, self.prompts, self.name = backend, cfg, prompts, name
        self.novelty_retries = novelty_retries

    def messages(self, template: str, ctx: object) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.prompts.render("system").strip()},
                {"role": "user", "content": self.prompts.render(template, **vars(ctx)).strip()}]

    def ask(self, operator: str, messages: list, parse: Parse, call: OperatorCall) -> Proposal:
        """Ask until the reply is new (or the re-asks run out); a reply that does not parse fails the proposal."""
        parents = tuple(p.id for p in call.parents if p.id is not None)
        fail = Proposal(None, parents, self.name, operator=operator)
        for attempt in range(self.novelty_retries + 1):
            try:
                reply = sample(self.backend, self.cfg, messages, attempt, request_label(operator, parents))
            except BackendExhausted:
                raise
            except LLMError as err:
                cid = call.record_call(self.name, self.backend.model, "propose", messages, None, str(err))
                return replace(fail, llm_call_id=cid, failure_kind=FailureKind.LLM, failure_msg=str(err)[:500])
            try:
                code, error = parse(reply.text), None
            except PatchError as err:
                code, error = None, err
            repeat = call.seen(code) if code is not None else None
            if repeat is not None and attempt < self.novelty_retries:
                call.record_call(self.name, reply.model, "propose-copy", messages, reply, None)
                messages = [*messages, {"role": "assistant", "content": reply.text},
                            {"role": "user", "content": self.prompts.render("repeat", original_id=repeat).strip()}]
                continue
            cid = call.record_call(self.name, reply.model, "propose", messages, reply, None)
            if error is not None:
                return replace(fail, llm_call_id=cid, failure_kind=FailureKind.PATCH, failure_msg=str(error)[:500])
            if code is None:
                return replace(fail, llm_call_id=cid, failure_kind=FailureKind.NO_CODE,
                            failure_msg="the reply held no code block")
            return replace(fail, code=code, llm_call_id=cid)
        raise AssertionError("unreachable: the last attempt always returns")
