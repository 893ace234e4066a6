"""The discovery loop: propose → dedupe → evaluate → log, until the budget is spent.

    archagent run examples/digits.toml

`Campaign.run()` starts a campaign or resumes it from the store: candidates
left pending or running by a crash are evaluated again, finished ones never.
LLM proposals run in `pipeline.proposers` threads while sandboxed jobs run on
the executor's workers (`agent/lifecycle.py` advances each candidate as its
jobs finish), so neither the LLM nor the trainers wait for the other.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from functools import partial

from agent.config import CampaignConfig
from agent.exemplars import SEED_BACKEND, build_context, ranked
from agent.extract import extract_code
from agent.knowledge_loop import KnowledgeLoop
from agent.lifecycle import Lifecycle
from agent.llm import BackendExhausted, Completion, preflight
from agent.prefilter import Prefilter
from agent.prompting import load_directives
from agent.proposer import Proposal, Proposer, messages_json
from agent.proposers import make_proposers
from evals.evaluate import Evaluator
from evals.fingerprint import code_key, text_key
from evals.tasks import Task, get_task
from knowledge.records import Candidate, FailureKind, LLMCall, Status
from knowledge.store import Store
from sandbox.executor import Executor, make_executor
from sandbox.limits import SandboxLimits

REPEAT_CAP = 3  # proposals (repeats included) may reach this multiple of the proposal budget
EventHook = Callable[[str, Candidate], None]  # (event name, candidate)


@dataclass(frozen=True)
class Summary:
    campaign: str
    counts: dict[str, int]
    best: Candidate | None
    elapsed_s: float
    stop_reason: str


class Campaign:
    def __init__(self, cfg: CampaignConfig, on_event: EventHook | None = None, executor: Executor | None = None):
        self.cfg, self.on_event = cfg, on_event or (lambda name, cand: None)
        for backend in cfg.backends:
            preflight(backend)
        self.task: Task = get_task(cfg.task.name, cfg.task.options)
        self.store = Store(cfg.store)
        self.evaluator = Evaluator(self.task, max_params=cfg.task.max_params, max_flops=cfg.task.max_flops)
        self.prefilter = Prefilter(cfg.prefilter, self.task.higher_is_better, cfg.seed)
        self.directives = load_directives(cfg.prompts_dir, cfg.task.name) if cfg.search.directives else []
        self._executor = executor
        self.knowledge: KnowledgeLoop | None = None  # built in run(), with the proposers
        self.record = self._open_record()
        self.id = self.record.id
        self.t0 = time.monotonic()

    def _open_record(self):
        found = self.store.find_campaign(self.cfg.name)
        if found is None:
            return self.store.create_campaign(self.cfg.name, self.cfg.task.name, self.cfg.model_dump_json())
        if found.task != self.cfg.task.name:
            raise ValueError(f"campaign '{found.name}' in {self.store.path} is on task '{found.task}', "
                             f"not '{self.cfg.task.name}'")
        return found

    # -- the loop --------------------------------------------------------------
    def run(self) -> Summary:
        """Seeds first, then proposals overlapping with sandboxed evaluation, until a budget is spent."""
        self.store.set_campaign_state(self.id, "running")
        owned = self._executor is None
        executor = self._executor or make_executor(self.cfg.executor, SandboxLimits.from_config(self.cfg.sandbox))
        self.lifecycle = Lifecycle(self.cfg, self.store, self.evaluator, self.prefilter, executor, self._emit)
        proposers = make_proposers(self.cfg, self.store, self.id)  # first: a bad backend fails before any work
        self.knowledge = KnowledgeLoop(self, proposers)
        try:
            self._requeue()
            self._seed()
            self._drain(executor)
            reason = self._drive(proposers, executor)
        finally:
            for p in proposers:
                p.close()
            if owned:
                executor.shutdown()
        self.store.set_campaign_state(self.id, "finished")
        return self.summary(reason)

    def _drive(self, proposers: list[Proposer], executor: Executor) -> str:
        """Keep `pipeline.proposers` LLM requests and the trainers busy; stream results as they finish."""
        rng = random.Random(self.cfg.seed * 7919 + self.n_proposals())
        weights, reason = [b.weight for b in self.cfg.backends], None
        limit, backlog = self.cfg.pipeline.proposers, self.cfg.executor.workers + self.cfg.pipeline.queue
        with ThreadPoolExecutor(limit, thread_name_prefix="propose") as pool:
            futures: set[Future] = set()
            while True:
                reason = reason or self.budget_exhausted(in_flight=len(futures))
                while reason is None and len(futures) < limit and self.lifecycle.in_flight < backlog:
                    proposer = rng.choices(proposers, weights)[0]
                    futures.add(pool.submit(self._propose, proposer, self._context(rng, proposer.kind)))
                    reason = self.budget_exhausted(in_flight=len(futures))
                if not futures and not self.lifecycle.in_flight:
                    return reason or "done"
                done, futures = wait(futures, timeout=0.02 if self.lifecycle.in_flight else 1.0,
                                     return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        self.handle(future.result())
                    except BackendExhausted:
                        reason = reason or "backend exhausted"
                for completed in executor.as_completed(timeout=0.02):
                    self.lifecycle.on_result(completed)

    def _drain(self, executor: Executor) -> None:
        while self.lifecycle.in_flight:
            for completed in executor.as_completed(timeout=1.0):
                self.lifecycle.on_result(completed)

    def _context(self, rng: random.Random, kind: str):
        ctx = build_context(self.store, self.id, self.task, self.cfg.search, kind=kind)
        return replace(ctx, directive=rng.choice(self.directives)) if self.directives else ctx

    def _propose(self, proposer: Proposer, ctx) -> Proposal:
        """Runs in a proposer thread, with its own store connection for logging the LLM call."""
        store = Store(self.cfg.store)
        try:
            return self.knowledge.note_island(proposer.propose(ctx, partial(record_call, store, self.id)), ctx)
        finally:
            store.close()

    def handle(self, proposal: Proposal) -> Candidate:
        """Log a proposal; dedupe it on text and code; start its evaluation if it is new."""
        base = dict(parent_ids=proposal.parent_ids, backend=proposal.backend, llm_call_id=proposal.llm_call_id)
        if proposal.operator:  # agent/operators: which operator made it
            base["extra"] = {"operator": proposal.operator}
        if proposal.code is None:
            cid = self.store.add_candidate(self.id, "", Status.FAILED, failure_kind=proposal.failure_kind,
                                           failure_msg=proposal.failure_msg, **base)
            return self._emit("failed", cid)
        keys = fingerprint(proposal.code)
        cid = self.store.add_candidate(self.id, proposal.code, Status.PENDING, **keys, **base)
        dup = self.store.find_duplicate(self.id, text_key=keys["text_key"], code_key=keys["code_key"],
                                        exclude_id=cid)
        if dup:
            self.lifecycle.mark_duplicate(cid, dup)
        else:
            self.lifecycle.start(cid)
        return self.store.candidate(cid)

    # -- campaign start ----------------------------------------------------------
    def _requeue(self) -> None:
        """Work a crash left behind: replies not yet turned into candidates, and unfinished evaluations."""
        for cand in self.store.candidates(self.id, Status.PENDING, Status.RUNNING):
            self.lifecycle.start(cand.id, force_train=cand.backend == SEED_BACKEND)
        for call in self.store.orphan_calls(self.id):
            self.handle(proposal_from_call(call))

    def _seed(self) -> None:
        if any(c.backend == SEED_BACKEND for c in self.store.candidates(self.id)):
            return
        for name, code in self.task.seeds().items():
            cid = self.store.add_candidate(self.id, code, Status.PENDING, backend=SEED_BACKEND,
                                           extra={"seed_name": name}, **fingerprint(code))
            self.lifecycle.start(cid, force_train=True)

    # -- budget and bookkeeping --------------------------------------------------
    def n_proposals(self) -> int:
        return self.store.count_proposals(self.id, SEED_BACKEND)

    def budget_exhausted(self, in_flight: int = 0) -> str | None:
        """The proposal budget counts what was trained or failed, not repeats (dedup) of earlier candidates."""
        b, totals = self.cfg.budget, self.store.totals(self.id)
        made = self.n_proposals()
        if made - self.store.counts(self.id).get(Status.DUPLICATE, 0) + in_flight >= b.proposals:
            return f"proposal budget ({b.proposals}) spent"
        if made + in_flight >= REPEAT_CAP * b.proposals:
            return f"{made} proposals, mostly repeats of earlier candidates: stopped at {REPEAT_CAP}x the budget"
        if b.llm_calls and totals["calls"] >= b.llm_calls:
            return f"LLM-call budget ({b.llm_calls}) spent"
        if b.wall_time_s and time.monotonic() - self.t0 >= b.wall_time_s:
            return f"wall-time budget ({b.wall_time_s:.0f} s) spent"
        if b.max_tokens and totals["tokens"] >= b.max_tokens:
            return f"token budget ({b.max_tokens}) spent"
        if b.max_cost_usd and totals["cost_usd"] >= b.max_cost_usd:
            return f"cost budget (${b.max_cost_usd}) spent"
        return None

    def _emit(self, event: str, cid: int) -> Candidate:
        cand = self.store.candidate(cid)
        self.on_event(event, cand)
        if self.knowledge:
            self.knowledge.on_event(event, cand)
        return cand

    def best(self) -> Candidate | None:
        top = ranked(self.store.candidates(self.id), self.task)
        return top[0] if top else None

    def summary(self, reason: str) -> Summary:
        return Summary(self.cfg.name, self.store.counts(self.id), self.best(), time.monotonic() - self.t0, reason)


def proposal_from_call(call: LLMCall) -> Proposal:
    """Rebuild the proposal a logged reply made (its exemplar parents are in the stored prompt only)."""
    if call.error:
        return Proposal(None, (), call.backend, call.id, FailureKind.LLM, call.error[:500])
    code = extract_code(call.reply)
    if code is None:
        return Proposal(None, (), call.backend, call.id, FailureKind.NO_CODE, "the reply held no code block")
    return Proposal(code, (), call.backend, call.id)


def record_call(store: Store, campaign_id: int, backend: str, model: str, purpose: str, messages: list,
                reply: Completion | None, error: str | None) -> int:
    """Log one LLM request (prompt, reply, tokens, latency, cost) and return its row id."""
    fields = dict(backend=backend, model=model, purpose=purpose, prompt=messages_json(messages), error=error)
    if reply is not None:
        fields.update(reply=reply.text, prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
                      latency_s=reply.latency_s, cost_usd=reply.cost_usd)
    return store.add_llm_call(campaign_id, **fields)


def fingerprint(code: str) -> dict[str, str | None]:
    """text_key always; code_key when the source parses (a syntax error is found later, in the sandbox)."""
    try:
        ck = code_key(code)
    except SyntaxError:
        ck = None
    return {"text_key": text_key(code), "code_key": ck}
