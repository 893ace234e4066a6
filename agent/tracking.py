"""Experiment tracking: each finished candidate becomes an MLflow run, nested under the campaign's run.

    [tracking]
    mlflow = "sqlite:///mlflow.db"   # any MLflow tracking URI; relative sqlite:/file: paths: relative to the TOML
    # mlflow = "file:./mlruns"       # MLflow's older file store (MLflow 3 keeps it in maintenance mode)

    mlflow ui --backend-store-uri sqlite:///mlflow.db
    MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri file:./mlruns

An event hook (`on_event(name, candidate)`) that the loop calls with every event;
only the final ones (ok, failed, duplicate, filtered) are logged. Per candidate run:
params (backend, parents, code keys), metrics (validation/test metric, params,
FLOPs, pre-filter score, proxies, timings, the training-loss curve as steps), tags
(status, failure kind, parent, candidate id) and the code as the artifact
`candidate.py`. Uses `MlflowClient` (no global active run), so it neither needs nor
disturbs an mlflow session of the caller. Needs the `mlflow` extra: `pip install 'archagent-nas[mlflow]'`.
"""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING

from archagent.knowledge.records import Candidate

if TYPE_CHECKING:
    from archagent.agent.config import CampaignConfig

LOGGED = frozenset({"ok", "failed", "duplicate", "filtered"})
CAMPAIGN_TAG = "archagent.campaign"
CANDIDATE_TAG = "archagent.candidate_id"


class MlflowTracker:
    """Logs candidates of one campaign to MLflow; the campaign run is found again on resume."""

    def __init__(self, uri: str, campaign: str, experiment: str | None = None, config: dict | None = None,
                 metric_name: str = "metric"):
        if uri.startswith("file:"):  # MLflow 3 refuses its file store unless asked; this config asks for it
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ImportError("[tracking] mlflow needs the mlflow extra: pip install 'archagent-nas[mlflow]'") from None
        self.client, self.campaign, self.metric_name = MlflowClient(tracking_uri=uri), campaign, metric_name
        self.uri = uri
        self.experiment_id = self._experiment(experiment or campaign)
        self.parent_id = self._campaign_run(config or {})

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        return found.experiment_id if found else self.client.create_experiment(name, artifact_location(self.uri))

    def _campaign_run(self, config: dict) -> str:
        runs = self.client.search_runs([self.experiment_id], f"tags.`{CAMPAIGN_TAG}` = '{self.campaign}'",
                                       max_results=1)
        if runs:
            self.client.update_run(runs[0].info.run_id, status="RUNNING")
            return runs[0].info.run_id
        run = self.client.create_run(self.experiment_id, run_name=self.campaign, tags={CAMPAIGN_TAG: self.campaign})
        from mlflow.entities import Param

        params = [Param(k, str(v)[:6000]) for k, v in sorted(flatten(config).items())]
        for i in range(0, len(params), 100):  # MLflow caps a batch at 100 params
            self.client.log_batch(run.info.run_id, params=params[i : i + 100])
        return run.info.run_id

    def on_event(self, name: str, cand: Candidate | None) -> None:
        """Log a candidate when it reaches a final state; other events are ignored."""
        if cand is None or name not in LOGGED:
            return
        run = self.client.create_run(self.experiment_id, run_name=f"#{cand.id}", tags=tags(cand, self.parent_id))
        run_id = run.info.run_id
        from mlflow.entities import Metric, Param

        now = _millis()
        metrics = [Metric(k, v, now, 0) for k, v in metrics_of(cand, self.metric_name).items()]
        metrics += [Metric("train_loss", v, now, step) for step, v in enumerate(cand.history or [])
                    if _finite(v)]
        params = [Param(k, str(v)[:6000]) for k, v in params_of(cand).items()]
        self.client.log_batch(run_id, metrics=metrics[:1000], params=params)
        if cand.code:
            self.client.log_text(run_id, cand.code, "candidate.py")
        self.client.set_terminated(run_id, "FINISHED" if name == "ok" else "FAILED" if name == "failed" else "KILLED")
        if name == "ok" and cand.metric is not None:
            self.client.log_metric(self.parent_id, "trained_" + self.metric_name, cand.metric, now, cand.id)

    def close(self, state: str = "FINISHED") -> None:
        """End the campaign run (a resumed campaign reopens it)."""
        self.client.set_terminated(self.parent_id, state)


def artifact_location(uri: str) -> str | None:
    """Artifacts of a SQLite store go beside the database (MLflow's default, ./mlruns, depends on the cwd)."""
    if not uri.startswith("sqlite:///"):
        return None  # the store's own default (file: stores keep artifacts inside; servers decide)
    from pathlib import Path

    return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()


def make_tracker(cfg: CampaignConfig, metric_name: str = "metric") -> MlflowTracker | None:
    """The tracker `[tracking]` asks for, or None."""
    if not cfg.tracking.mlflow:
        return None
    return MlflowTracker(cfg.tracking.mlflow, cfg.name, cfg.tracking.experiment, cfg.model_dump(mode="json"),
                         metric_name)


def tags(cand: Candidate, parent_run: str) -> dict[str, str]:
    out = {"mlflow.parentRunId": parent_run, CANDIDATE_TAG: str(cand.id), "status": str(cand.status),
           "backend": cand.backend, "parent": str(cand.parent_ids[0]) if cand.parent_ids else ""}
    if cand.failure_kind:
        out["failure_kind"] = str(cand.failure_kind)
        out["mlflow.note.content"] = (cand.failure_msg or "")[:5000]
    if cand.duplicate_of:
        out["duplicate_of"] = str(cand.duplicate_of)
    return out


def params_of(cand: Candidate) -> dict[str, object]:
    fields = {"backend": cand.backend, "parent_ids": json.dumps(list(cand.parent_ids)), "text_key": cand.text_key,
              "code_key": cand.code_key, "graph_key": cand.graph_key, "llm_call_id": cand.llm_call_id,
              "operator": cand.operator}
    return {k: v for k, v in fields.items() if v not in (None, "")}


def metrics_of(cand: Candidate, metric_name: str) -> dict[str, float]:
    values = {metric_name: cand.metric, f"test_{metric_name}": cand.test_metric, "params": cand.params,
              "flops": cand.flops, "prefilter_score": cand.prefilter_score,
              **{f"proxy.{k}": v for k, v in cand.proxies.items()},
              **{f"time.{k}": v for k, v in cand.timings.items()}}
    return {k: float(v) for k, v in values.items() if _finite(v)}


def flatten(data: dict, prefix: str = "") -> dict[str, object]:
    """Nested config → dotted keys (lists stay JSON)."""
    out: dict[str, object] = {}
    for k, v in data.items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = json.dumps(v) if isinstance(v, list | dict) else v
    return out


def _finite(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _millis() -> int:
    import time

    return int(time.time() * 1000)
