"""A candidate's trip from proposal to result: one typed record in memory, one UPDATE per event.

    pipeline = Pipeline(store, population, jobs, prefilter, cfg.prefilter, executor, emit)
    pipeline.admit(proposal)        # insert, dedupe on text/code, start the probe
    pipeline.on_result(completed)   # advance the candidate whose sandbox job finished

    proposal ─┬─ same text/code as an earlier one ────── DUPLICATE
              ├─ nothing to evaluate (LLM error, no code) FAILED
              ├─ refused by the canonicaliser (too deep) ─ FAILED
              └─ probe ─┬─ failed ─────────────────────── FAILED
                        ├─ same executed graph ─────────── DUPLICATE
                        ├─ ranked out by the pre-filter ── FILTERED
                        └─ [short run ─┬─ not promoted ── FILTERED]
                                       └─ full training ─ OK / FAILED

When the probe's verdict cannot stop training (seeds, the pre-filter off or in
its warm-up, no short run), probe and training are one fused `probe_full` job:
one fork, one data load, one build less per candidate. A fused candidate whose
executed graph repeats an earlier one is still a DUPLICATE (its training was
spent, its metric is not recorded). Each step after the proposal is one job on the `Executor`; `on_result` advances
the candidate whose job finished, so many candidates move through at once. The
candidate travels with its job as a `Candidate` record: the pipeline never
re-reads it, and every event is one write of typed columns (`Store.update`),
mirrored into the `Population` that dedup, the pre-filter and prompts read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from archagent.agent.config import PrefilterConfig
from archagent.agent.population import SEED_BACKEND, Population
from archagent.agent.prefilter import Prefilter
from archagent.agent.proposer import Proposal
from archagent.evals.fingerprint import CanonicalError, code_key, text_key
from archagent.evals.tasks.base import Task
from archagent.knowledge.records import Candidate, FailureKind, Status
from archagent.knowledge.store import Store
from archagent.sandbox.executor import Completed, Executor, JobId
from archagent.sandbox.judge import Evaluation, Evaluator, judge
from archagent.sandbox.limits import SandboxLimits

Emit = Callable[[str, Candidate], None]  # (event, candidate as just written): running ok failed duplicate filtered


@dataclass(frozen=True)
class Step:
    cand: Candidate  # the record as last written
    name: str  # probe | short | full | probe_full (probe and training fused in one job)
    force_train: bool  # seeds (and single-file evaluation): always trained, never deduplicated or filtered


class Pipeline:
    def __init__(self, store: Store, population: Population, jobs: Evaluator, prefilter: Prefilter,
                 cfg: PrefilterConfig, executor: Executor, emit: Emit):
        self.store, self.population, self.jobs, self.prefilter = store, population, jobs, prefilter
        self.cfg, self.executor, self.emit = cfg, executor, emit
        self.steps: dict[JobId, Step] = {}
        self._warm = False  # the pre-filter has left its warm-up (it never goes back)

    @property
    def in_flight(self) -> int:
        return len(self.steps)

    # -- entry points ----------------------------------------------------------------
    def admit(self, proposal: Proposal, force_train: bool = False, **fields: Any) -> Candidate:
        """Record a proposal; a new architecture starts its probe, a repeat is a DUPLICATE at once."""
        base = Candidate(0, self.population.campaign_id, proposal.code or "", Status.RUNNING,
                         parent_ids=proposal.parent_ids, backend=proposal.backend, llm_call_id=proposal.llm_call_id,
                         island=proposal.island, operator=proposal.operator, repair_of=proposal.repair_of,
                         idea=proposal.idea, **fields)
        if proposal.code is None:
            return self._add(replace(base, status=Status.FAILED, failure_kind=proposal.failure_kind,
                                     failure_msg=proposal.failure_msg), "failed")
        keys, refusal = fingerprint(proposal.code)
        base = replace(base, **keys)
        if refusal:
            return self._add(replace(base, status=Status.FAILED, failure_kind=FailureKind.SYNTAX,
                                     failure_msg=refusal), "failed")
        dup = None if force_train else self.population.find_duplicate(text_key=base.text_key, code_key=base.code_key)
        if dup:
            return self._add(replace(base, status=Status.DUPLICATE, duplicate_of=dup[0], matched_on=dup[1]),
                             "duplicate")
        cand = self._add(base, "running")
        self._submit(self._first_step(cand, force_train))
        return cand

    def seed(self, name: str, code: str) -> Candidate:
        return self.admit(Proposal(code, (), SEED_BACKEND), force_train=True, seed_name=name)

    def resume(self, cand: Candidate) -> None:
        """Evaluate again a candidate a crash left pending or running."""
        cand = self._write(cand, status=Status.RUNNING)
        self.emit("running", cand)
        self._submit(self._first_step(cand, cand.backend == SEED_BACKEND))

    def on_result(self, done: Completed) -> None:
        step = self.steps.pop(done.job_id, None)
        if step is None:
            return
        ev = judge(self.jobs.task, done.result, "probe" if step.name == "probe" else "full")
        then = {"probe": self._after_probe, "short": self._after_short, "full": self._finish,
                "probe_full": self._after_fused}
        then[step.name](step, ev)

    def _first_step(self, cand: Candidate, force_train: bool) -> Step:
        """A fused probe+training job when nothing the probe finds could stop the training, else the probe."""
        fuse = force_train or (not self.cfg.low_fidelity_epochs and self._warming_up())
        return Step(cand, "probe_full" if fuse else "probe", force_train)

    def _warming_up(self) -> bool:
        if not self.cfg.enabled:
            return True
        if not self._warm:
            scored = sum(1 for c in self.population.candidates() if c.prefilter_score is not None)
            self._warm = scored + self.in_flight >= self.cfg.warmup  # in flight: scored before this one
        return not self._warm

    # -- continuations -----------------------------------------------------------------
    def _after_probe(self, step: Step, ev: Evaluation) -> None:
        cand = replace(step.cand, **probe_fields(ev))
        if self._ended_by_probe(replace(step, cand=cand), ev):
            return
        changes = {} if step.force_train else self._prefilter(cand)
        if changes.get("status") == Status.FILTERED:
            return self._end(cand, "filtered", **changes)
        cand = self._write(cand, **{**diff(step.cand, cand), **changes})
        short = self.cfg.low_fidelity_epochs and not step.force_train
        self._submit(Step(cand, "short" if short else "full", step.force_train))

    def _after_fused(self, step: Step, ev: Evaluation) -> None:
        """The probe's bookkeeping (graph dedup, pre-filter record) on a job that also trained."""
        cand = replace(step.cand, **{**probe_fields(ev), "timings": step.cand.timings})
        if self._ended_by_probe(replace(step, cand=cand), ev, timings=ev.timings):
            return
        changes = {} if step.force_train else self._prefilter(cand)
        changes.pop("status", None)  # trained already: a late "filtered" verdict (warm-up just ended) is moot
        self._finish(replace(step, cand=replace(cand, **changes)), ev)

    def _ended_by_probe(self, step: Step, ev: Evaluation, **changes: Any) -> bool:
        """A failed build/shape check, or an executed graph seen before: the candidate's last write."""
        if not ev.ok:
            self._finish(step, ev)
            return True
        dup = self.population.find_duplicate(graph_key=ev.graph_key, exclude_id=step.cand.id)
        if dup and not step.force_train:
            self._end(step.cand, "duplicate", status=Status.DUPLICATE, duplicate_of=dup[0], matched_on=dup[1],
                      **changes)
            return True
        return False

    def _prefilter(self, cand: Candidate) -> dict[str, Any]:
        history = self.population.candidates()
        self.prefilter.refit(history)
        self.prefilter.set_population([c for c in history if c.proxies])
        value, predicted = self.prefilter.score(cand)
        decision = self.prefilter.decide(cand, value, history)
        return dict(prefilter_score=value, predicted_metric=predicted, epsilon=decision.epsilon,
                    prefilter_reason=decision.reason, **({} if decision.train else {"status": Status.FILTERED}))

    def _after_short(self, step: Step, ev: Evaluation) -> None:
        if not ev.ok:
            return self._finish(step, ev)
        earlier = [c.low_fidelity_metric for c in self.population.candidates()
                   if c.low_fidelity_metric is not None and c.id != step.cand.id]
        changes = dict(low_fidelity_metric=ev.metric, low_fidelity_epochs=self.cfg.low_fidelity_epochs)
        if not self.prefilter.promote(ev.metric, earlier):
            return self._end(step.cand, "filtered", status=Status.FILTERED, **changes)
        self._submit(Step(self._write(step.cand, **changes), "full", step.force_train))

    def _finish(self, step: Step, ev: Evaluation) -> None:
        self._end(step.cand, "ok" if ev.ok else "failed", **outcome_fields(ev, step.cand))

    # -- writes ------------------------------------------------------------------------
    def _submit(self, step: Step) -> None:
        epochs = self.cfg.low_fidelity_epochs if step.name == "short" else None
        stage = step.name if step.name in ("probe", "probe_full") else "full"
        job = self.jobs.job(stage, epochs, proxies=self.cfg.enabled)
        self.steps[self.executor.submit(step.cand.code, job)] = step

    def _add(self, cand: Candidate, event: str) -> Candidate:
        cand = self.store.add(cand)
        self.population.observe(cand)
        self.emit(event, cand)
        return cand

    def _write(self, cand: Candidate, **changes: Any) -> Candidate:
        cand = self.store.update(cand, **changes)
        self.population.observe(cand)
        return cand

    def _end(self, cand: Candidate, event: str, **changes: Any) -> None:
        """The candidate's last write (its unwritten in-memory changes included), then its event."""
        stored = self.population.members.get(cand.id, cand)
        self.emit(event, self._write(stored, **{**diff(stored, cand), **changes}))


def diff(old: Candidate, new: Candidate) -> dict[str, Any]:
    """The fields of `new` that differ from `old` (what an UPDATE must write)."""
    return {k: getattr(new, k) for k in Candidate.__dataclass_fields__ if getattr(new, k) != getattr(old, k)}


def probe_fields(ev: Evaluation) -> dict[str, Any]:
    """What the probe adds to a candidate: size, FLOPs, graph key, proxies, static features."""
    return dict(params=ev.params, flops=ev.flops, graph_key=ev.graph_key, features=ev.features,
                proxies={k: v for k, v in ev.proxies.items() if v is not None},
                timings={f"probe_{k}": v for k, v in ev.timings.items()})


def outcome_fields(ev: Evaluation, cand: Candidate) -> dict[str, Any]:
    """A finished evaluation: status, metrics, timings and training curve."""
    fields = dict(status=Status.OK if ev.ok else Status.FAILED, metric=ev.metric, test_metric=ev.test_metric,
                  timings={**cand.timings, **ev.timings}, history=ev.history)
    for name in ("params", "flops"):  # the size and FLOPs of the instance that trained (the job's last claim)
        if getattr(ev, name) is not None:
            fields[name] = getattr(ev, name)
    if not ev.ok:
        fields.update(failure_kind=ev.failure_kind or FailureKind.CRASH, failure_msg=ev.failure_msg)
    return fields


def fingerprint(code: str) -> tuple[dict[str, str | None], str | None]:
    """({text_key, code_key}, why the canonicaliser refused the source or None). text_key always; code_key
    when the source parses (a syntax error is found later, in the sandbox) and canonicalises."""
    try:
        ck, refusal = code_key(code), None
    except SyntaxError:
        ck, refusal = None, None
    except CanonicalError as err:
        ck, refusal = None, str(err)
    return {"text_key": text_key(code), "code_key": ck}, refusal


def evaluate_once(code: str, task: Task, limits: SandboxLimits, threads: int = 2) -> Candidate:
    """One file through the campaign's own pipeline (probe, then full training), in a throwaway store."""
    from archagent.agent.config import SearchConfig
    from archagent.sandbox.local_executor import LocalExecutor

    store = Store(":memory:")
    camp = store.create_campaign("evaluate", task.spec.name, "{}")
    population = Population(store, camp.id, task, SearchConfig(transfer=False))
    result: list[Candidate] = []
    with LocalExecutor(workers=1, threads=threads, limits=limits) as executor:
        pipeline = Pipeline(store, population, Evaluator(task), Prefilter(PrefilterConfig(), task.higher_is_better),
                            PrefilterConfig(), executor,
                            lambda event, cand: result.append(cand) if event in ("ok", "failed") else None)
        pipeline.admit(Proposal(code, (), "file"), force_train=True)
        for done in executor.as_completed():
            pipeline.on_result(done)
    store.close()
    return result[-1]
