"""Final evaluation: retrain a campaign's top candidates with several training seeds.

    archagent final digits-demo --top 3 --seeds 3 [--epochs 30]

    from archagent.agent.final import FinalEvaluation
    rows = FinalEvaluation(store, "digits-demo").run(top=3, seeds=3)

A search ranks architectures by one short training on a small validation split;
that ranking is noisy. Here the top-K (and the best seed architecture, as the
reference) are trained again with N training seeds, optionally a longer recipe,
in the sandbox through the campaign's own executor (local workers or Ray/GPU).
Each run returns validation and *test* predictions (scored here, in the parent)
and its trained weights (safetensors, for `archagent export --weights`).
Every finished (candidate, seed, epochs) run is a row of the store's `final`
table, so an interrupted final evaluation resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from archagent.agent.config import CampaignConfig
from archagent.agent.population import SEED_BACKEND
from archagent.evals.final_stats import FinalRow, summarize
from archagent.evals.tasks import Task, get_task
from archagent.knowledge.records import Campaign, Candidate, FailureKind, FinalRun, Status, ranked
from archagent.knowledge.store import Store
from archagent.sandbox.artifacts import artifact_bytes, check_weights
from archagent.sandbox.collect import RunResult
from archagent.sandbox.executor import Executor, JobOutcome
from archagent.sandbox.executors import make_executor
from archagent.sandbox.judge import Evaluation, Evaluator
from archagent.sandbox.judge import judge as judge_result
from archagent.sandbox.limits import SandboxLimits
from archagent.sandbox.protocol import Job

SAMPLE = 8  # test examples whose outputs each run keeps: what an exported model is checked against
RETRIED = {JobOutcome.CRASH, JobOutcome.LOST}  # infrastructure failures are not stored: a resume retries them


@dataclass(frozen=True)
class Pick:
    """One candidate chosen for the final evaluation."""

    candidate: Candidate
    role: str  # candidate | reference


@dataclass(frozen=True)
class RunKey:
    candidate_id: int
    seed: int
    epochs: int


def campaign_config(camp: Campaign) -> CampaignConfig:
    """The resolved config a campaign was started with (stored beside it)."""
    return CampaignConfig.model_validate_json(camp.config_json)


def task_of(camp: Campaign) -> Task:
    cfg = campaign_config(camp)
    return get_task(cfg.task.name, cfg.task.options)


def choose(cands: list[Candidate], top: int, higher_is_better: bool) -> list[Pick]:
    """The top-K trained candidates by search metric, plus the best seed architecture as the reference."""
    best = ranked(cands, higher_is_better)
    seeds = [c for c in best if c.backend == SEED_BACKEND]
    reference = seeds[0] if seeds else None
    picks = [Pick(c, "reference" if c is reference else "candidate") for c in best[:top]]
    if reference is not None and reference not in best[:top]:
        picks.append(Pick(reference, "reference"))
    return picks


class FinalEvaluation:
    """Plan, run (resumably) and summarize the final evaluation of one campaign."""

    def __init__(self, store: Store, campaign: str | int, executor: Executor | None = None,
                 on_run: Callable[[FinalRun | None, RunKey, Evaluation], None] | None = None):
        self.store, self.camp = store, store.campaign(campaign)
        self.cfg, self.task = campaign_config(self.camp), task_of(self.camp)
        self.evaluator = Evaluator(self.task, max_params=self.cfg.task.max_params, max_flops=self.cfg.task.max_flops)
        self._executor, self.on_run = executor, on_run or (lambda run, key, ev: None)

    def plan(self, top: int, seeds: int, epochs: int | None = None) -> list[tuple[Pick, RunKey]]:
        """Every (candidate, seed) run the request needs, finished ones included."""
        if top < 1 or seeds < 1:
            raise ValueError("--top and --seeds must be at least 1")
        recipe = self.task.spec.recipe
        n_epochs = epochs or recipe.epochs
        picks = choose(self.store.candidates(self.camp.id), top, self.task.higher_is_better)
        if not picks:
            raise ValueError(f"campaign '{self.camp.name}' has no trained candidate to evaluate")
        return [(p, RunKey(p.candidate.id, recipe.seed + i, n_epochs)) for p in picks for i in range(seeds)]

    def todo(self, plan: list[tuple[Pick, RunKey]]) -> list[tuple[Pick, RunKey]]:
        done = {RunKey(r.candidate_id, r.seed, r.epochs) for r in self.store.final_runs(self.camp.id)}
        return [(p, k) for p, k in plan if k not in done]

    def run(self, top: int = 3, seeds: int = 3, epochs: int | None = None) -> list[FinalRow]:
        """Train what is not yet stored, then summarize every stored run of this request's candidates."""
        plan = self.plan(top, seeds, epochs)
        todo = self.todo(plan)
        if todo:
            self._execute(todo)
        return self.rows({k.candidate_id for _, k in plan}, plan[0][1].epochs)

    def rows(self, candidate_ids: set[int] | None = None, epochs: int | None = None) -> list[FinalRow]:
        """The stored final evaluation, summarized (optionally only some candidates / one recipe)."""
        runs = [r for r in self.store.final_runs(self.camp.id)
                if (candidate_ids is None or r.candidate_id in candidate_ids)
                and (epochs is None or r.epochs == epochs)]
        cands = {c.id: c for c in self.store.candidates(self.camp.id, Status.OK)}
        return summarize(runs, cands, self.task.higher_is_better)

    # -- execution ---------------------------------------------------------------------
    def job(self, key: RunKey) -> Job:
        """A full-stage job with this training seed and epochs, returning the trained weights."""
        job = self.evaluator.job("full", key.epochs, proxies=False)
        spec = {**job.spec, "recipe": {**job.spec["recipe"], "seed": key.seed}}
        return job.model_copy(update={"spec": spec, "artifacts": ["weights"]})

    def _limits(self, epochs: int) -> SandboxLimits:
        """The campaign's sandbox limits; a longer recipe gets proportionally more time."""
        base = self.cfg.sandbox
        scale = max(1.0, epochs / max(1, self.task.spec.recipe.epochs))
        return base.model_copy(update={"timeout_s": base.timeout_s * scale, "cpu_s": None})

    def _execute(self, todo: list[tuple[Pick, RunKey]]) -> None:
        executor = self._executor or make_executor(self.cfg.executor, self._limits(todo[0][1].epochs))
        try:
            jobs = {executor.submit(p.candidate.code, self.job(k)): (p, k) for p, k in todo}
            for done in executor.as_completed():
                pick, key = jobs.pop(done.job_id)
                ev = judge(self.task, done.result)
                stored = None if done.outcome in RETRIED else self._store(pick, key, ev, done.result)
                self.on_run(stored, key, ev)
        finally:
            if self._executor is None:
                executor.shutdown()

    def _store(self, pick: Pick, key: RunKey, ev: Evaluation, result: RunResult) -> FinalRun:
        weights = artifact_bytes(result.preds, "weights") if ev.ok else None
        if weights is not None:
            try:
                check_weights(weights)
            except ValueError as err:
                ev, weights = Evaluation(ok=False, failure_kind=FailureKind.FORBIDDEN, failure_msg=str(err)), None
        sample = sample_outputs(result.preds["test"]) if ev.ok else []
        run_id = self.store.add_final_run(
            self.camp.id, key.candidate_id, key.seed, key.epochs, Status.OK if ev.ok else Status.FAILED,
            weights=weights, preds_sample=sample, role=pick.role, failure_kind=ev.failure_kind,
            failure_msg=ev.failure_msg, metric=ev.metric, test_metric=ev.test_metric, params=ev.params,
            train_s=ev.timings.get("train_s"))
        return next(r for r in self.store.final_runs(self.camp.id) if r.id == run_id)


def sample_outputs(test_preds, max_values: int = 4096) -> list:
    """The outputs on the first (up to SAMPLE) test inputs, as nested lists; fewer for big outputs (sequences)."""
    per_example = max(1, int(test_preds[0].size)) if len(test_preds) else 1
    return test_preds[: max(1, min(SAMPLE, max_values // per_example))].tolist()


def judge(task: Task, result: RunResult) -> Evaluation:
    """Trusted scoring of a finished full-stage job (the one seam to the evaluator's scoring)."""
    return judge_result(task, result, "full")

