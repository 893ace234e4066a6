"""Build the executor a campaign config asks for: `[executor]` picks the backend, `[sandbox]` sets each job's limits.

    executor = make_executor(cfg.executor, cfg.sandbox)

The one module that knows every backend (imported lazily: Ray is an optional extra).
"""

from __future__ import annotations

from archagent.sandbox.config import ExecutorConfig
from archagent.sandbox.executor import Executor
from archagent.sandbox.limits import SandboxLimits


def make_executor(cfg: ExecutorConfig, limits: SandboxLimits) -> Executor:
    """The executor a campaign config asks for (`[executor]`), with the `[sandbox]` limits per job."""
    if cfg.kind == "ray":
        from archagent.sandbox.ray_executor import RayExecutor

        return RayExecutor(address=cfg.address, workers=cfg.workers, threads=cfg.threads, num_cpus=cfg.num_cpus,
                           num_gpus=cfg.num_gpus, limits=limits, max_retries=cfg.max_retries,
                           cluster_cpus=cfg.cluster_cpus, warm=cfg.warm)
    from archagent.sandbox.local_executor import LocalExecutor

    return LocalExecutor(workers=cfg.workers, threads=cfg.threads, limits=limits, max_retries=cfg.max_retries,
                         gpu_ids=tuple(cfg.gpu_ids))
