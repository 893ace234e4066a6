"""The discovery loop: plan → draw parents → propose → pipeline (dedupe, probe, filter, train) → hooks, until done.

    archagent run examples/digits.toml

`Campaign.run()` starts a campaign or resumes it from the store: candidates
left pending or running by a crash are evaluated again, finished ones never.
The main thread waits on one completion queue fed by the LLM threads (proposals,
repairs, analyses: `pipeline.proposers` of them) and by the executor's workers
(finished sandbox jobs), so nothing polls. Each proposal is planned and drawn on
the main thread (`Proposer.plan`, `Population.draw`: one sampler call); an LLM
proposal then runs on an LLM thread, one that needs no LLM (AST mutation, the
baselines) inline. While an LLM request is in flight, free worker slots take
proposals from the mutation arm (`pipeline.fill` per request, at most
`pipeline.fill_share` of the budget), so the trainers do not wait for the LLM.
Counters live in memory (`Population`, `Usage`); the store is written once per
event and read at start only.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial

from archagent.agent.config import CampaignConfig
from archagent.agent.draw import Draw
from archagent.agent.extract import extract_code
from archagent.agent.hooks import Hooks, LLMTask, knowledge_hooks
from archagent.agent.ideas import IdeaLibrary, retriever
from archagent.agent.llm import BackendExhausted, Completion, preflight
from archagent.agent.llm.activity import RequestCancelled, Requests
from archagent.agent.pipeline import Pipeline
from archagent.agent.population import IdeaRetriever, Population
from archagent.agent.prefilter import Prefilter
from archagent.agent.prompting import load_directives
from archagent.agent.proposer import CallRecorder, Proposal, Proposer, record_call
from archagent.agent.proposers import make_proposers
from archagent.agent.run_guard import check_before_compute, check_heldout, exclusive_run
from archagent.agent.tracking import make_tracker
from archagent.evals.tasks import Task, get_task
from archagent.knowledge.ideas.signals import Budget
from archagent.knowledge.records import Candidate, FailureKind, LLMCall, Status
from archagent.knowledge.store import Store
from archagent.sandbox.executor import Completed, Executor
from archagent.sandbox.executors import make_executor
from archagent.sandbox.judge import Evaluator

REPEAT_CAP = 3  # proposals (repeats included) may reach this multiple of the proposal budget
EventHook = Callable[[str, Candidate], None]  # (event name, candidate as just written)


@dataclass(frozen=True)
class Summary:
    campaign: str
    counts: dict[str, int]
    best: Candidate | None
    elapsed_s: float  # the campaign's wall time over all its runs (what `budget.wall_time_s` limits)
    stop_reason: str
    run_s: float = 0.0  # this run's share of it


@dataclass(frozen=True)
class LLMDone:
    """An LLM thread's task finished; `admit`: its result is a proposal to evaluate."""

    future: Future
    admit: bool


class Usage:
    """Token and cost totals of the campaign's LLM calls, kept in memory (thread-safe)."""

    def __init__(self, totals: dict[str, float]):
        self.tokens, self.cost_usd, self._lock = totals["tokens"], totals["cost_usd"], threading.Lock()
        self.calls = totals["calls"]

    def recorder(self, store: Store, campaign_id: int) -> CallRecorder:
        def record(backend: str, model: str, purpose: str, messages: list, reply: Completion | None,
                   error: str | None) -> int:
            with self._lock:
                self.calls += 1
            if reply is not None:
                with self._lock:
                    self.tokens += reply.prompt_tokens + reply.completion_tokens
                    self.cost_usd += reply.cost_usd
            return record_call(store, campaign_id, backend, model, purpose, messages, reply, error)
        return record


class Campaign:
    def __init__(self, cfg: CampaignConfig, on_event: EventHook | None = None, executor: Executor | None = None):
        self.cfg, self.on_event = cfg, on_event or (lambda name, cand: None)
        for backend in cfg.backends:
            preflight(backend)
        self.task: Task = get_task(cfg.task.name, cfg.task.options)
        self.store = Store(cfg.store)
        self.jobs = Evaluator(self.task, max_params=cfg.task.max_params, max_flops=cfg.task.max_flops)
        self.directives = load_directives(cfg.prompts_dir, cfg.task.name) if cfg.search.directives else []
        self._executor = executor
        self._offline: list[tuple[Proposer, float]] = []  # proposers that need no LLM, with their weights
        self.tracker = make_tracker(cfg, self.task.metric_name)  # [tracking]: an MLflow run per candidate, or None
        self.record = self._open_record()
        self.id = self.record.id
        self.hooks = Hooks()
        self.requests = Requests()  # LLM requests in flight: the live display reads it; time-up cancels it
        self.spent_s = self.store.run_seconds(self.id)  # wall time earlier runs took (again when a run starts)
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
        self.spent_s, self.t0 = self.store.run_seconds(self.id), time.monotonic()
        with exclusive_run(self.store, self.id, self.cfg.name):  # one writer; a fatal error marks it failed
            check_before_compute(self.cfg, self.task, self.store)
            check_heldout(self.store, self.id, self.task)
            if self.record.config_json != (latest := self.cfg.model_dump_json()):  # a re-run with new limits
                self.store.set_campaign_config(self.id, latest)  # only under the lock: a refused run changes nothing
            return self._run()

    def _idea_retriever(self) -> IdeaRetriever | None:
        """The idea library's one call per LLM proposal (`[ideas]`); None when ideas are off."""
        if not self.cfg.ideas.enabled:
            return None
        library = IdeaLibrary.from_config(self.cfg.ideas, self.population.objective, self.cfg.seed)
        return retriever(library, Budget.of(self.task.spec, self.task.higher_is_better, self.cfg.task.max_params))

    def _run(self) -> Summary:
        self.store.set_campaign_state(self.id, "running")
        self.population = Population(self.store, self.id, self.task, self.cfg.search)  # the one read of the campaign
        self.population.ideas = self._idea_retriever()
        self.usage = Usage(self.store.totals(self.id))
        if self._nothing_left():  # a re-run with its time or proposals spent: say so now, start nothing
            return self._finish(self.budget_exhausted() or "done")
        executor = self._executor or make_executor(self.cfg.executor, self.cfg.sandbox)
        self.events: queue.Queue[Completed | LLMDone] = queue.Queue()
        executor.on_completed(self.events.put)
        prefilter = Prefilter(self.cfg.prefilter, self.task.higher_is_better, self.cfg.seed)
        self.pipeline = Pipeline(self.store, self.population, self.jobs, prefilter, self.cfg.prefilter, executor,
                                 self._emit)
        proposers = make_proposers(self.cfg, self.store, self.id)  # first: a bad backend fails before any work
        offline = [(p.without_llm(), b.weight) for p, b in zip(proposers, self.cfg.backends, strict=True)]
        self._offline = [(p, w) for p, w in offline if p is not None]  # what goes on once the LLM budget is spent
        self._llm_tasks = 0  # submitted to the LLM threads, not yet handled
        self._proposing = 0  # of those, the ones that yield a proposal (count against the proposal budget)
        self._fill_left, self._fills = 0, 0  # mutation proposals still allowed while the LLM works; made so far
        # a replay re-run makes no fills of its own: its file holds the original's, in candidate order
        self._fills_allowed = bool(self._offline) and not any(b.kind == "replay" for b in self.cfg.backends)
        self._record = self.usage.recorder(self.store, self.id)  # inline proposals (they make no LLM call)
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(self.cfg.pipeline.proposers, thread_name_prefix="llm")
        try:
            self.hooks = knowledge_hooks(self.cfg, proposers, self.store, self.id, self.task,
                                         self.population.repair_depth, self._llm_work_open,
                                         lambda: self.llm_budget_spent() is None, self.population.candidates,
                                         self._ask, self.population.learn)
            self._requeue()
            self._seed()
            self._drain()  # proposals start from trained seeds
            reason = self._drive(proposers)
        finally:
            # Time up, Ctrl-C or an error: requests in flight stop at their next token, and nobody waits for
            # them (a model still reading its prompt, a thread in a network read or an import cannot be stopped).
            self.requests.cancel()
            self._pool.shutdown(wait=False, cancel_futures=True)
            for p in proposers:
                p.close()
            executor.on_completed(None)
            if self._executor is None:
                executor.shutdown()
            self.store.close_threads()
        return self._finish(reason)

    def _finish(self, reason: str) -> Summary:
        self.store.set_campaign_state(self.id, "finished")
        if self.tracker:
            self.tracker.close()
        return self.summary(reason)

    def _drive(self, proposers: list[Proposer]) -> str:
        """Keep `pipeline.proposers` LLM requests and the trainers busy; handle whatever finishes first."""
        rng = random.Random(self.cfg.seed * 7919 + self.n_proposals())
        fill_rng = random.Random(f"fill:{self.cfg.seed}:{self.n_proposals()}")
        online = list(zip(proposers, [b.weight for b in self.cfg.backends], strict=True))
        limit, reason = self.cfg.pipeline.proposers, None
        backlog = self.cfg.executor.workers + self.cfg.pipeline.queue
        while True:
            reason = reason or self.budget_exhausted(in_flight=self._proposing)
            if self._time_up():
                self.requests.cancel()  # a reply being written when time runs out is dropped, not awaited
            while reason is None and self._llm_tasks < limit and self.pipeline.in_flight < backlog:
                reason = self._next(pick(self._offline if self.llm_budget_spent() else online, rng), rng)
                reason = reason or self.budget_exhausted(in_flight=self._proposing)
            while reason is None and self._may_fill():
                self._fill_left, self._fills = self._fill_left - 1, self._fills + 1
                reason = self._next(pick(self._offline, fill_rng), fill_rng)
                reason = reason or self.budget_exhausted(in_flight=self._proposing)
            abandoned = self.requests.cancelled  # time is up: LLM tasks still running are not waited for
            if (abandoned or not self._llm_tasks) and not self.pipeline.in_flight:  # trainings always finish
                return self.budget_exhausted() or reason or "done"
            try:
                reason = self._handle(self.events.get(timeout=self._wait_s())) or reason
            except queue.Empty:
                continue

    def _next(self, proposer: Proposer, rng: random.Random) -> str | None:
        """One proposal: planned and drawn here; asked on an LLM thread, or made inline when it needs no LLM."""
        directive = rng.choice(self.directives) if self.directives else ""
        try:
            plan = proposer.plan(self.population)
            draw = self.population.draw(rng, plan, proposer.kind, directive)
            if plan.llm:
                self._ask(partial(self._propose, proposer, draw), True)
                return None
            self._admit(self._stamp(proposer.propose(draw, self._record), draw))
        except BackendExhausted:
            return "backend exhausted"
        return None

    def _may_fill(self) -> bool:
        """An LLM request is in flight, a worker slot is free, and the fill allowances (per request, share) last."""
        cap = int(self.cfg.pipeline.fill_share * self.cfg.budget.proposals)
        return bool(self._llm_tasks and self._fill_left > 0 and self._fills < cap
                    and self.pipeline.in_flight < self.cfg.executor.workers)

    def _handle(self, event: Completed | LLMDone) -> str | None:
        if isinstance(event, Completed):
            self.pipeline.on_result(event)
            return None
        self._llm_tasks -= 1
        self._proposing -= event.admit
        if not self._llm_tasks:
            self._fill_left = 0  # the allowance is for the time requests are in flight
        try:
            result = event.future.result()
        except RequestCancelled:
            return None
        except BackendExhausted:
            return "backend exhausted"
        if event.admit and result is not None and not self.requests.cancelled:  # after time-up: nothing new
            self._admit(result)
        return None

    def _admit(self, proposal: Proposal) -> None:
        cand = self.pipeline.admit(proposal)
        self.population.spent(cand.llm_call_id, proposal.llm_s)

    def _drain(self) -> None:
        while self.pipeline.in_flight or self._llm_tasks:
            self._handle(self.events.get())

    def _wait_s(self) -> float | None:
        """Block on the queue until the wall-time budget runs out (forever without one, or once it has)."""
        wall = self.cfg.budget.wall_time_s
        left = wall - self.elapsed_s() if wall else 0.0
        return left if left > 0 else None

    def elapsed_s(self) -> float:
        """The campaign's wall time so far: earlier runs plus this one."""
        return self.spent_s + time.monotonic() - self.t0

    def _time_up(self) -> bool:
        wall = self.cfg.budget.wall_time_s
        return wall is not None and self.elapsed_s() >= wall

    def _ask(self, task: LLMTask, admit: bool) -> None:
        """Run `task(store, record)` on an LLM thread; its end arrives on the completion queue."""
        self._llm_tasks += 1
        self._proposing += admit
        if self._fills_allowed:
            self._fill_left += self.cfg.pipeline.fill
        future = self._pool.submit(self._on_llm_thread, task)
        future.add_done_callback(lambda f: self.events.put(LLMDone(f, admit)))

    def _on_llm_thread(self, task: LLMTask):
        with self.requests.bound():  # the display sees its requests; time-up and Ctrl-C stop them
            return task(*self._thread_store())

    def _thread_store(self) -> tuple[Store, CallRecorder]:
        """The calling LLM thread's own store connection and call recorder (opened once per thread)."""
        if not hasattr(self._local, "record"):
            self._local.record = self.usage.recorder(self.store.for_thread(), self.id)
        return self.store.for_thread(), self._local.record

    def _propose(self, proposer: Proposer, draw: Draw, store: Store, record: CallRecorder) -> Proposal:
        """LLM thread: one proposal from its draw (nothing read from the store)."""
        return replace(proposer.propose(draw, record), island=draw.island)

    def _stamp(self, proposal: Proposal, draw: Draw) -> Proposal:
        """An inline proposal's island: the draw's, else its first parent's (an AST mutation's child lands on
        its parent's island; a seed's child is shared, like the seed)."""
        if draw.island is not None:
            return replace(proposal, island=draw.island)
        parent = next((self.population.members[p] for p in proposal.parent_ids if p in self.population.members),
                      None)
        return replace(proposal, island=parent.island if parent else None)

    def _emit(self, event: str, cand: Candidate) -> None:
        self.on_event(event, cand)
        if self.tracker:
            self.tracker.on_event(event, cand)
        self.hooks.fire(event, cand)

    # -- campaign start ----------------------------------------------------------
    def _requeue(self) -> None:
        """Work a crash left behind: replies not yet turned into candidates, and unfinished evaluations."""
        for cand in self.population.candidates(Status.PENDING, Status.RUNNING):
            self.pipeline.resume(cand)
        for call in self.store.orphan_calls(self.id):
            self.pipeline.admit(proposal_from_call(call))

    def _seed(self) -> None:
        if any(c.seed_name is not None or c.backend == "seed" for c in self.population.candidates()):
            return
        for name, code in self.task.seeds().items():
            self.pipeline.seed(name, code)

    # -- budget and bookkeeping --------------------------------------------------
    def n_proposals(self) -> int:
        return len(self.population.proposals())

    def budget_exhausted(self, in_flight: int = 0) -> str | None:
        """The proposal budget counts what was trained or failed, not repeats (dedup) of earlier candidates."""
        b, made = self.cfg.budget, self.n_proposals()
        repeats = sum(1 for c in self.population.proposals() if c.status == Status.DUPLICATE)
        if made - repeats + in_flight >= b.proposals:
            return f"proposal budget ({b.proposals}) spent"
        if made + in_flight >= REPEAT_CAP * b.proposals:
            return f"{made} proposals, mostly repeats of earlier candidates: stopped at {REPEAT_CAP}x the budget"
        if self._time_up():
            return f"wall-time budget ({b.wall_time_s:.0f} s) spent"
        llm = self.llm_budget_spent()
        return llm if llm and not self._offline else None

    def _nothing_left(self) -> bool:
        """The time or the proposal budget is spent and no evaluation was left unfinished."""
        b = self.cfg.budget
        spent = self._time_up() or sum(1 for c in self.population.proposals() if c.status != Status.DUPLICATE) \
            >= b.proposals
        return spent and not self.population.candidates(Status.PENDING, Status.RUNNING) \
            and not self.store.orphan_calls(self.id)

    def _llm_work_open(self) -> bool:
        """Repairs and analyses: only while both the proposal and the LLM budgets last."""
        return self.budget_exhausted() is None and self.llm_budget_spent() is None

    def llm_budget_spent(self) -> str | None:
        """LLM calls, tokens or cost used up: LLM work stops; proposers that need no LLM go on (`_offline`)."""
        b = self.cfg.budget
        if b.llm_calls and self.usage.calls >= b.llm_calls:
            return f"LLM-call budget ({b.llm_calls}) spent"
        if b.max_tokens and self.usage.tokens >= b.max_tokens:
            return f"token budget ({b.max_tokens}) spent"
        if b.max_cost_usd and self.usage.cost_usd >= b.max_cost_usd:
            return f"cost budget (${b.max_cost_usd}) spent"
        return None

    def best(self) -> Candidate | None:
        return self.population.best()

    def summary(self, reason: str) -> Summary:
        return Summary(self.cfg.name, self.store.counts(self.id), self.best(), self.elapsed_s(), reason,
                       time.monotonic() - self.t0)


def pick(choices: list[tuple[Proposer, float]], rng: random.Random) -> Proposer:
    """One proposer, drawn by its `[[backends]] weight`."""
    return rng.choices([p for p, _ in choices], [w for _, w in choices])[0]


def proposal_from_call(call: LLMCall) -> Proposal:
    """Rebuild the proposal a logged reply made (its exemplar parents are in the stored prompt only)."""
    if call.error:
        return Proposal(None, (), call.backend, call.id, FailureKind.LLM, call.error[:500])
    code = extract_code(call.reply)
    if code is None:
        return Proposal(None, (), call.backend, call.id, FailureKind.NO_CODE, "the reply held no code block")
    return Proposal(code, (), call.backend, call.id)
