"""A candidate's life after it is proposed, as continuations of sandbox jobs.

    probe ─┬─ failed ─────────────────────────────── FAILED
           ├─ same executed graph as an earlier one ─ DUPLICATE
           ├─ ranked out by the pre-filter ────────── FILTERED
           └─ [short run ─┬─ not promoted ───────── FILTERED]
                          └─ full training ───────── OK / FAILED

Every step is one job on the `Executor`; `on_result` advances the candidate
whose job finished, so many candidates move through the steps at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.config import CampaignConfig
from agent.prefilter import Prefilter
from evals.evaluate import Evaluation, Evaluator, score
from knowledge.records import Candidate, FailureKind, Status
from knowledge.store import Store
from sandbox.executor import Completed, Executor, JobId


@dataclass(frozen=True)
class Step:
    cid: int
    name: str  # probe | short | full
    force_train: bool  # seeds: always trained, never filtered


class Lifecycle:
    def __init__(self, cfg: CampaignConfig, store: Store, evaluator: Evaluator, prefilter: Prefilter,
                 executor: Executor, emit: Callable[[str, int], Candidate]):
        self.cfg, self.store, self.evaluator, self.prefilter = cfg, store, evaluator, prefilter
        self.executor, self.emit = executor, emit
        self.steps: dict[JobId, Step] = {}

    @property
    def in_flight(self) -> int:
        return len(self.steps)

    def start(self, cid: int, force_train: bool = False) -> None:
        self.store.update_candidate(cid, status=Status.RUNNING, heartbeat=time.time())
        self.emit("running", cid)
        self._submit(Step(cid, "probe", force_train))

    def _submit(self, step: Step) -> None:
        pf = self.cfg.prefilter
        epochs = pf.low_fidelity_epochs if step.name == "short" else None
        job = self.evaluator.job("probe" if step.name == "probe" else "full", epochs, proxies=pf.enabled)
        self.steps[self.executor.submit(self.store.candidate(step.cid).code, job)] = step

    def on_result(self, done: Completed) -> None:
        step = self.steps.pop(done.job_id, None)
        if step is None:
            return
        ev = score(self.evaluator.task, done.result, "probe" if step.name == "probe" else "full")
        {"probe": self._after_probe, "short": self._after_short, "full": self.finish}[step.name](step, ev)

    # -- continuations -----------------------------------------------------------
    def _after_probe(self, step: Step, ev: Evaluation) -> None:
        cand = self.store.candidate(step.cid)
        self.store.update_candidate(step.cid, **probe_fields(ev, cand.extra))
        if not ev.ok:
            return self.finish(step, ev)
        dup = self.store.find_duplicate(cand.campaign_id, graph_key=ev.graph_key, exclude_id=step.cid)
        if dup and not step.force_train:
            return self.mark_duplicate(step.cid, dup)
        if not (step.force_train or self._passes_prefilter(step.cid)):
            return self.emit("filtered", step.cid)
        short = self.cfg.prefilter.low_fidelity_epochs and not step.force_train
        self._submit(Step(step.cid, "short" if short else "full", step.force_train))

    def _after_short(self, step: Step, ev: Evaluation) -> None:
        if not ev.ok:
            return self.finish(step, ev)
        cand = self.store.candidate(step.cid)
        earlier = [c.extra["low_fidelity_metric"] for c in self.store.candidates(cand.campaign_id)
                   if "low_fidelity_metric" in c.extra and c.id != step.cid]
        promoted = self.prefilter.promote(ev.metric, earlier)
        extra = {**cand.extra, "low_fidelity_metric": ev.metric,
                 "low_fidelity_epochs": self.cfg.prefilter.low_fidelity_epochs}
        self.store.update_candidate(step.cid, extra=extra, **({} if promoted else {"status": Status.FILTERED}))
        if promoted:
            self._submit(Step(step.cid, "full", step.force_train))
        else:
            self.emit("filtered", step.cid)

    def _passes_prefilter(self, cid: int) -> bool:
        cand = self.store.candidate(cid)
        history = self.store.candidates(cand.campaign_id)
        self.prefilter.refit(history)
        self.prefilter.set_population([c for c in history if c.proxies])
        value, predicted = self.prefilter.score(cand)
        decision = self.prefilter.decide(cand, value, history)
        extra = {**cand.extra, "predicted_metric": predicted, "epsilon": decision.epsilon,
                 "prefilter": decision.reason}
        self.store.update_candidate(cid, prefilter_score=value, extra=extra,
                                    **({} if decision.train else {"status": Status.FILTERED}))
        return decision.train

    def finish(self, step: Step, ev: Evaluation) -> None:
        cand = self.store.candidate(step.cid)
        self.store.update_candidate(step.cid, **outcome_fields(ev, cand))
        self.emit("ok" if ev.ok else "failed", step.cid)

    def mark_duplicate(self, cid: int, dup: tuple[int, str]) -> None:
        extra = {**self.store.candidate(cid).extra, "matched_on": dup[1]}
        self.store.update_candidate(cid, status=Status.DUPLICATE, duplicate_of=dup[0], extra=extra)
        self.emit("duplicate", cid)


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
