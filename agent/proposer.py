"""Proposers: where new candidate code comes from, and the one LLM ask with re-asks they all use.

    plan = proposer.plan(population)                 # main thread: operator and parents wanted (agent.draw.Plan)
    draw = population.draw(rng, plan, proposer.kind) # one sampler call (agent.population)
    proposal = proposer.propose(draw, record_call)   # an LLM thread when plan.llm, else inline

`LLMProposer` asks an LLM for a whole file from the few-shot prompt; the agent
(`agent.operators`) and the baselines (random, evolution) implement the same
`Proposer` interface, so a campaign switches between them with one config line.

Novelty before compute (`LLMAsk`, the one re-ask loop): a reply whose code
repeats an earlier candidate (text or canonical-AST key, from the population's
in-memory index) is re-asked within the same call, hotter, with "this is a
repeat of #N" appended to the chat; each repeat is logged as a "propose-copy"
call, so budgets and replay exports see it.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from archagent.agent.config import BackendConfig
from archagent.agent.draw import Draw, Plan, Seen
from archagent.agent.extract import extract_code
from archagent.agent.llm import BackendExhausted, Completion, LLMBackend, LLMError, complete_with_retry
from archagent.agent.llm.activity import track
from archagent.agent.patch import PatchError
from archagent.agent.prompting import Exemplar, Prompts
from archagent.evals.fingerprint import text_key
from archagent.knowledge.ideas.cards import IdeaCard
from archagent.knowledge.ideas.helpers import lend_helpers
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
    idea: str | None = None  # the idea card the prompt asked it to apply (agent/ideas.py), by id
    llm_s: float = 0.0  # LLM seconds spent on it, re-asks included (the bandit's cost; kept in memory)


# record_call(backend, model, purpose, messages, completion | None, error | None) -> llm_calls row id
CallRecorder = Callable[[str, str, str, list, Completion | None, str | None], int]
Parse = Callable[[str], str | None]  # reply -> code (None: no code); raises PatchError


def sample(backend: LLMBackend, cfg: BackendConfig, messages: list, attempt: int,
           grammar: str | None = None, label: str = "propose") -> Completion:
    """One reply for `messages` (following `grammar` where the backend constrains); each re-ask
    (`attempt` > 0) samples 0.3 hotter, up to temperature 2. `label` names the request on the live display
    (`agent.llm.activity`)."""
    with track(label if not attempt else f"{label} (re-ask {attempt})", f"{backend.kind}:{backend.model}"):
        return complete_with_retry(backend, messages, max_tokens=cfg.max_tokens,
                                   temperature=min(2.0, cfg.temperature + 0.3 * attempt),
                                   attempts=cfg.retries, max_wait_s=cfg.retry_max_wait_s, grammar=grammar)


class LLMAsk:
    """One backend's chat with novelty re-asks: the one ask/re-ask/record loop every LLM proposal goes through."""

    def __init__(self, backend: LLMBackend, cfg: BackendConfig, prompts: Prompts, name: str, retries: int):
        self.backend, self.cfg, self.prompts, self.name, self.retries = backend, cfg, prompts, name, retries

    def messages(self, template: str, ctx: object) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.prompts.render("system").strip()},
                {"role": "user", "content": self.prompts.render(template, **vars(ctx)).strip()}]

    @property
    def constrained(self) -> bool:
        """Whether replies can be held to a grammar (llama.cpp backends with `constrained` on)."""
        return self.backend.constrains

    def ask(self, operator: str | None, messages: list, parse: Parse, draw: Draw, record_call: CallRecorder,
            seen: Seen | None = None, grammar: str | None = None) -> Proposal:
        """Ask until the reply is new (or the re-asks run out); a reply that does not parse fails the proposal.
        New: not `seen` (default: the draw's, any earlier candidate of the campaign). `grammar` (GBNF)
        constrains every reply where the backend can."""
        idea = draw.ctx.idea.id if draw.ctx.idea is not None else None
        fail = Proposal(None, draw.parent_ids(), self.name, operator=operator, idea=idea)
        spent, seen = 0.0, seen or draw.seen
        for attempt in range(self.retries + 1):
            try:
                reply = sample(self.backend, self.cfg, messages, attempt, grammar,
                               request_label(operator or "propose", draw.parent_ids()))
            except BackendExhausted:
                raise
            except LLMError as err:
                cid = record_call(self.name, self.backend.model, "propose", messages, None, str(err))
                return replace(fail, llm_call_id=cid, failure_kind=FailureKind.LLM, failure_msg=str(err)[:500],
                               llm_s=spent)
            spent += reply.latency_s
            try:
                code, error = finish_code(parse(reply.text), draw.ctx.idea), None
            except PatchError as err:
                code, error = None, err
            repeat = seen(code) if code is not None else None
            if repeat is not None and attempt < self.retries:
                record_call(self.name, reply.model, "propose-copy", messages, reply, None)
                messages = [*messages, {"role": "assistant", "content": reply.text},
                            {"role": "user", "content": self.prompts.render("repeat", original_id=repeat).strip()}]
                continue
            cid = record_call(self.name, reply.model, "propose", messages, reply, None)
            return replace(fail, llm_call_id=cid, llm_s=spent, **outcome(code, error))
        raise AssertionError("unreachable: the last attempt always returns")


def finish_code(code: str | None, idea: IdeaCard | None) -> str | None:
    """A parsed reply as the agent completes it: the idea card's helpers it uses but does not define
    (`knowledge.ideas.helpers`). (A model the reply named otherwise was named `Net` by `extract_code`.)"""
    if code is None or idea is None:
        return code
    return lend_helpers(code, idea.sketch)


def outcome(code: str | None, error: PatchError | None) -> dict[str, Any]:
    """A parsed reply's proposal fields: its code, or why it has none."""
    if error is not None:
        return dict(failure_kind=FailureKind.PATCH, failure_msg=str(error)[:500])
    if code is None:
        return dict(failure_kind=FailureKind.NO_CODE, failure_msg="the reply held no code block")
    return dict(code=code)


def copy_of(exemplars: list[Exemplar]) -> Seen:
    """code -> the id of the exemplar it copies verbatim (same text key), or None."""
    keys = {text_key(ex.code): ex.id or 0 for ex in exemplars}
    return lambda code: keys.get(text_key(code))


class Proposer(ABC):
    """A source of new candidates."""

    name: str = "abstract"  # shown in the store's `backend` column
    kind: str = "abstract"  # the config's backend kind: per-kind prompt defaults (SearchConfig.for_kind)

    def plan(self, population: Any) -> Plan:
        """What to draw for the next proposal (main thread; `population`: the campaign's in-memory
        `agent.population.Population`, never the store). Default: the prompt's exemplars, asked of an LLM."""
        return Plan()

    @abstractmethod
    def propose(self, draw: Draw, record_call: CallRecorder) -> Proposal:
        """Make one proposal from one draw; raise BackendExhausted when no more can come."""

    def without_llm(self) -> Proposer | None:
        """What this proposer can still do once the campaign's LLM budget is spent (None: nothing)."""
        return None

    def close(self) -> None:
        return None


class LLMProposer(Proposer):
    """A whole file from the few-shot prompt; a reply that copies one of its exemplars verbatim is re-asked
    (`copy_retries`); a repeat of another candidate goes on to the pipeline, which marks it a duplicate."""

    def __init__(self, backend: LLMBackend, cfg: BackendConfig, prompts: Prompts):
        self.backend, self.cfg, self.prompts = backend, cfg, prompts
        self.name, self.kind = f"{backend.kind}:{backend.model}", backend.kind
        self.llm = LLMAsk(backend, cfg, prompts, self.name, cfg.copy_retries)

    def propose(self, draw: Draw, record_call: CallRecorder) -> Proposal:
        return self.llm.ask(None, self.prompts.messages("propose", draw.ctx), extract_code, draw, record_call,
                            copy_of(draw.exemplars))

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
