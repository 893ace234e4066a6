"""Proposers: where new candidate code comes from.

`LLMProposer` renders a prompt from the store's context and asks an LLM;
baselines (random, evolution) implement the same `Proposer` interface, so a
campaign switches between them with one config line.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from archagent.agent.config import BackendConfig
from archagent.agent.extract import extract_code
from archagent.agent.llm import BackendExhausted, Completion, LLMBackend, LLMError, complete_with_retry
from archagent.agent.llm.activity import track
from archagent.agent.prompting import PromptContext, Prompts
from archagent.evals.fingerprint import text_key
from archagent.knowledge.records import FailureKind
from archagent.knowledge.store import Store


@dataclass(frozen=True)
class Proposal:
    """One proposed candidate; `code` is None when there is nothing to evaluate."""

    code: str | None
    parent_ids: tuple[int, ...]
    backend: str
    llm_call_id: int | None = None
    failure_kind: FailureKind | None = None
    failure_msg: str | None = None
    island: int | None = None  # the population island its parents came from
    operator: str | None = None  # how it was made: rewrite, edit, crossover, mutation, repair, ...
    repair_of: int | None = None  # the failed candidate it repairs


# record_call(backend, model, purpose, messages, completion | None, error | None) -> llm_calls row id
CallRecorder = Callable[[str, str, str, list, Completion | None, str | None], int]


def sample(backend: LLMBackend, cfg: BackendConfig, messages: list, attempt: int, label: str = "propose") -> Completion:
    """One reply for `messages`; each re-ask (`attempt` > 0) samples 0.3 hotter, up to temperature 2.
    `label` names the request on the live display (`agent.llm.activity`)."""
    with track(label if not attempt else f"{label} (re-ask {attempt})", f"{backend.kind}:{backend.model}"):
        return complete_with_retry(backend, messages, max_tokens=cfg.max_tokens,
                                   temperature=min(2.0, cfg.temperature + 0.3 * attempt),
                                   attempts=cfg.retries, max_wait_s=cfg.retry_max_wait_s)


class Proposer(ABC):
    """A source of new candidates."""

    name: str = "abstract"  # shown in the store's `backend` column
    kind: str = "abstract"  # the config's backend kind: per-kind prompt defaults (agent.population.shots_for)

    @abstractmethod
    def propose(self, ctx: PromptContext, record_call: CallRecorder) -> Proposal:
        """Make one proposal; raise BackendExhausted when no more can come."""

    def without_llm(self) -> Proposer | None:
        """What this proposer can still do once the campaign's LLM budget is spent (None: nothing)."""
        return None

    def close(self) -> None:
        return None


class LLMProposer(Proposer):
    def __init__(self, backend: LLMBackend, cfg: BackendConfig, prompts: Prompts):
        self.backend, self.cfg, self.prompts = backend, cfg, prompts
        self.name, self.kind = f"{backend.kind}:{backend.model}", backend.kind

    def propose(self, ctx: PromptContext, record_call: CallRecorder) -> Proposal:
        """Ask the LLM; a verbatim copy of an exemplar is resampled hotter (`copy_retries` times)."""
        parents = tuple(ex.id for ex in ctx.exemplars if ex.id is not None)
        messages = self.prompts.messages("propose", ctx)
        copies = {text_key(ex.code) for ex in ctx.exemplars}
        for attempt in range(self.cfg.copy_retries + 1):
            try:
                reply = sample(self.backend, self.cfg, messages, attempt, request_label("propose", parents))
            except BackendExhausted:
                raise
            except LLMError as err:
                call_id = record_call(self.name, self.backend.model, "propose", messages, None, str(err))
                return Proposal(None, parents, self.name, call_id, FailureKind.LLM, str(err)[:500])
            code = extract_code(reply.text)
            if code is not None and text_key(code) in copies and attempt < self.cfg.copy_retries:
                record_call(self.name, reply.model, "propose-copy", messages, reply, None)
                continue
            call_id = record_call(self.name, reply.model, "propose", messages, reply, None)
            if code is None:
                return Proposal(None, parents, self.name, call_id, FailureKind.NO_CODE, "the reply held no code block")
            return Proposal(code, parents, self.name, call_id)
        raise AssertionError("unreachable: the last attempt always returns")

    def close(self) -> None:
        self.backend.close()


def request_label(what: str, parents: tuple[int, ...]) -> str:
    """'edit of #4', 'crossover of #4 + #7', 'rewrite' (its exemplars are not its parents): the live display's words."""
    return f"{what} of " + " + ".join(f"#{p}" for p in parents) if parents and what in ("edit", "crossover") else what


def messages_json(messages: list) -> str:
    return json.dumps(messages, ensure_ascii=False)


def record_call(store: Store, campaign_id: int, backend: str, model: str, purpose: str, messages: list,
                reply: Completion | None, error: str | None) -> int:
    """Log one LLM request (prompt, reply, tokens, latency, cost) and return its row id."""
    fields = dict(backend=backend, model=model, purpose=purpose, prompt=messages_json(messages), error=error)
    if reply is not None:
        fields.update(reply=reply.text, prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
                      latency_s=reply.latency_s, cost_usd=reply.cost_usd)
    return store.add_llm_call(campaign_id, **fields)
