"""Where sandboxed trainings run: the `[executor]` section of a campaign config.

    executor = make_executor(cfg.executor, cfg.sandbox)   # sandbox/executors.py

`[sandbox]` is `sandbox.limits.SandboxLimits` itself; `agent.config.CampaignConfig`
composes both sections.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ExecutorConfig(BaseModel):
    """Where sandboxed trainings run; `sandbox.executors.make_executor` builds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["local", "ray"] = "local"  # local: warm fork-server workers; ray: Ray core tasks
    workers: int = Field(1, gt=0)  # trainings in flight at once
    threads: int = Field(1, gt=0)  # torch intra-op threads per training
    max_retries: int = Field(1, ge=0)  # re-runs after a worker died, then the candidate is LOST
    gpu_ids: list[int] = Field(default_factory=list)  # local: worker i trains on gpu_ids[i % len]
    address: str = "local"  # ray: "local" starts a private cluster, else e.g. "ray://head:10001"
    cluster_cpus: int | None = Field(None, gt=0)  # ray, address "local": CPUs of the private cluster
    num_cpus: float = Field(1.0, gt=0)  # ray: CPUs reserved per job
    num_gpus: float = Field(0.0, ge=0)  # ray: GPUs per job (> 0: the job trains on CUDA)
    warm: bool = True  # ray: fork jobs from a warm server in each Ray worker (false: a fresh process per job)
