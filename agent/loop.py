"""The discovery loop: propose → dedupe → evaluate → log, until the budget is spent.

    archagent run examples/digits.toml

`Campaign.run()` starts a campaign or resumes it from the store: candidates
left pending or running by a crash are evaluated again, finished ones never.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from agent.config import CampaignConfig
from agent.exemplars import SEED_BACKEND, build_context, ranked
from agent.llm import BackendExhausted, Completion
from agent.prefilter import Prefilter
from agent.prompting import load_directives
from agent.proposer import Proposal, Proposer, messages_json
from agent.proposers import make_proposers
from evals.evaluate import Evaluation, Evaluator
from evals.fingerprint import code_key, text_key
from evals.tasks import Task, get_task
from knowledge.records import Candidate, FailureKind, Status
from knowledge.store import Store
from sandbox.limits import SandboxLimits
from sandbox.runner import SubprocessRunner

EventHook = Callable[[str, Candidate], None]  # (event name, candidate)


@dataclass(frozen=True)
class Summary:
    campaign: str
    counts: dict[str, int]
    best: Candidate | None
    elapsed_s: float
    stop_reason: str


class Campaign:
    def __init__(self, cfg: CampaignConfig, on_event: EventHook | None = None, evaluator: Evaluator | None = None):
        self.cfg, self.on_event = cfg, on_event or (lambda name, cand: None)
        self.store = Store(cfg.store)
        self.task: Task = get_task(cfg.task.name, cfg.task.options)
        runner = SubprocessRunner(threads=2, limits=SandboxLimits.from_config(cfg.sandbox))
        self.evaluator = evaluator or Evaluator(self.task, runner, max_params=cfg.task.max_params,
                                                max_flops=cfg.task.max_flops)
        self.prefilter = Prefilter(cfg.prefilter, self.task.higher_is_better, cfg.seed)
        self.directives = load_directives(cfg.prompts_dir) if cfg.search.directives else []
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
        self.store.set_campaign_state(self.id, "running")
        self._requeue()
        self._seed()
        proposers = make_proposers(self.cfg, self.store, self.id)
        reason = self._propose_until_done(proposers)
        for p in proposers:
            p.close()
        self.store.set_campaign_state(self.id, "finished" if reason != "interrupted" else "stopped")
        return self.summary(reason)

    def _propose_until_done(self, proposers: list[Proposer]) -> str:
        rng = random.Random(self.cfg.seed * 7919 + self.n_proposals())
        weights = [b.weight for b in self.cfg.backends]
        while (reason := self.budget_exhausted()) is None:
            proposer = rng.choices(proposers, weights)[0]
            ctx = build_context(self.store, self.id, self.task, self.cfg.search.n_exemplars,
                                self.cfg.search.n_results, self.cfg.search.n_failures)
            if self.directives:
                ctx = replace(ctx, directive=rng.choice(self.directives))
            try:
                proposal = proposer.propose(ctx, self._record_call)
            except BackendExhausted:
                return "backend exhausted"
            self.handle(proposal)
        return reason

    def handle(self, proposal: Proposal) -> Candidate:
        """Log a proposal; dedupe it on text and code; process it if it is new."""
        base = dict(parent_ids=proposal.parent_ids, backend=proposal.backend, llm_call_id=proposal.llm_call_id)
        if proposal.code is None:
            cid = self.store.add_candidate(self.id, "", Status.FAILED, failure_kind=proposal.failure_kind,
                                           failure_msg=proposal.failure_msg, **base)
            return self._emit("failed", cid)
        keys = fingerprint(proposal.code)
        dup = self.store.find_duplicate(self.id, text_key=keys["text_key"], code_key=keys["code_key"])
        if dup:
            return self._mark_duplicate(self.store.add_candidate(self.id, proposal.code, Status.PENDING, **keys,
                                                                 **base), dup)
        cid = self.store.add_candidate(self.id, proposal.code, Status.PENDING, **keys, **base)
        return self.process(cid)

    def process(self, cid: int, force_train: bool = False) -> Candidate:
        """probe → graph dedupe → pre-filter → [short run →] full training."""
        cand = self.store.candidate(cid)
        self.store.update_candidate(cid, status=Status.RUNNING, heartbeat=time.time())
        self._emit("running", cid)
        probe = self.evaluator.evaluate(cand.code, "probe", proxies=self.cfg.prefilter.enabled)
        self.store.update_candidate(cid, **probe_fields(probe, cand.extra))
        if not probe.ok:
            return self._finish(cid, probe)
        dup = self.store.find_duplicate(self.id, graph_key=probe.graph_key, exclude_id=cid)
        if dup and not force_train:
            return self._mark_duplicate(cid, dup)
        if not (force_train or self._passes_prefilter(cid)):
            return self._emit("filtered", cid)
        if self.cfg.prefilter.low_fidelity_epochs and not force_train and not self._passes_short_run(cid):
            return self._emit("filtered", cid)
        return self._finish(cid, self.evaluator.evaluate(cand.code))

    def _passes_prefilter(self, cid: int) -> bool:
        history = self.store.candidates(self.id)
        self.prefilter.refit(history)
        self.prefilter.set_population([c for c in history if c.proxies])
        cand = self.store.candidate(cid)
        score, predicted = self.prefilter.score(cand)
        decision = self.prefilter.decide(cand, score, history)
        extra = {**cand.extra, "predicted_metric": predicted, "epsilon": decision.epsilon,
                 "prefilter": decision.reason}
        self.store.update_candidate(cid, prefilter_score=score, extra=extra,
                                    **({} if decision.train else {"status": Status.FILTERED}))
        return decision.train

    def _passes_short_run(self, cid: int) -> bool:
        cand, epochs = self.store.candidate(cid), self.cfg.prefilter.low_fidelity_epochs
        short = self.evaluator.evaluate(cand.code, epochs=epochs)
        if not short.ok:
            self._finish(cid, short)
            return False
        earlier = [c.extra["low_fidelity_metric"] for c in self.store.candidates(self.id)
                   if "low_fidelity_metric" in c.extra and c.id != cid]
        promoted = self.prefilter.promote(short.metric, earlier)
        extra = {**cand.extra, "low_fidelity_metric": short.metric, "low_fidelity_epochs": epochs}
        self.store.update_candidate(cid, extra=extra, **({} if promoted else {"status": Status.FILTERED}))
        return promoted

    def _finish(self, cid: int, ev: Evaluation) -> Candidate:
        cand = self.store.candidate(cid)
        self.store.update_candidate(cid, **outcome_fields(ev, cand))
        return self._emit("ok" if ev.ok else "failed", cid)

    def _mark_duplicate(self, cid: int, dup: tuple[int, str]) -> Candidate:
        extra = {**self.store.candidate(cid).extra, "matched_on": dup[1]}
        self.store.update_candidate(cid, status=Status.DUPLICATE, duplicate_of=dup[0], extra=extra)
        return self._emit("duplicate", cid)

    # -- campaign start ----------------------------------------------------------
    def _requeue(self) -> None:
        """Candidates a crash left pending or running are processed again from the start."""
        for cand in self.store.candidates(self.id, Status.PENDING, Status.RUNNING):
            self.process(cand.id, force_train=cand.backend == SEED_BACKEND)

    def _seed(self) -> None:
        if any(c.backend == SEED_BACKEND for c in self.store.candidates(self.id)):
            return
        for name, code in self.task.seeds().items():
            keys = fingerprint(code)
            cid = self.store.add_candidate(self.id, code, Status.PENDING, backend=SEED_BACKEND,
                                           extra={"seed_name": name}, **keys)
            self.process(cid, force_train=True)

    # -- budget and bookkeeping --------------------------------------------------
    def n_proposals(self) -> int:
        return sum(1 for c in self.store.candidates(self.id) if c.backend != SEED_BACKEND)

    def budget_exhausted(self) -> str | None:
        b, totals = self.cfg.budget, self.store.totals(self.id)
        if self.n_proposals() >= b.proposals:
            return f"proposal budget ({b.proposals}) spent"
        if b.wall_time_s and time.monotonic() - self.t0 >= b.wall_time_s:
            return f"wall-time budget ({b.wall_time_s:.0f} s) spent"
        if b.max_tokens and totals["tokens"] >= b.max_tokens:
            return f"token budget ({b.max_tokens}) spent"
        if b.max_cost_usd and totals["cost_usd"] >= b.max_cost_usd:
            return f"cost budget (${b.max_cost_usd}) spent"
        return None

    def _record_call(self, backend: str, model: str, purpose: str, messages: list,
                     reply: Completion | None, error: str | None) -> int:
        fields = dict(backend=backend, model=model, purpose=purpose, prompt=messages_json(messages), error=error)
        if reply is not None:
            fields.update(reply=reply.text, prompt_tokens=reply.prompt_tokens,
                          completion_tokens=reply.completion_tokens, latency_s=reply.latency_s, cost_usd=reply.cost_usd)
        return self.store.add_llm_call(self.id, **fields)

    def _emit(self, event: str, cid: int) -> Candidate:
        cand = self.store.candidate(cid)
        self.on_event(event, cand)
        return cand

    def best(self) -> Candidate | None:
        top = ranked(self.store.candidates(self.id), self.task)
        return top[0] if top else None

    def summary(self, reason: str) -> Summary:
        return Summary(self.cfg.name, self.store.counts(self.id), self.best(), time.monotonic() - self.t0, reason)


def fingerprint(code: str) -> dict[str, str | None]:
    """text_key always; code_key when the source parses (a syntax error is found later, in the sandbox)."""
    try:
        ck = code_key(code)
    except SyntaxError:
        ck = None
    return {"text_key": text_key(code), "code_key": ck}


def probe_fields(ev: Evaluation, extra: dict) -> dict:
    """What the probe stage adds to a candidate: FLOPs, graph key, proxies, static features."""
    return dict(params=ev.params, flops=ev.flops, graph_key=ev.graph_key,
                proxies={k: v for k, v in ev.proxies.items() if v is not None},
                timings={f"probe_{k}": v for k, v in ev.timings.items()}, extra={**extra, "features": ev.features})


def outcome_fields(ev: Evaluation, cand: Candidate) -> dict:
    """A finished evaluation: status, metrics, timings and training curve."""
    fields = dict(status=Status.OK if ev.ok else Status.FAILED, metric=ev.metric, test_metric=ev.test_metric,
                  timings={**cand.timings, **ev.timings}, extra={**cand.extra, "history": ev.history})
    if ev.params is not None:
        fields["params"] = ev.params
    if not ev.ok:
        fields.update(failure_kind=ev.failure_kind or FailureKind.CRASH, failure_msg=ev.failure_msg)
    return fields
