"""Resource limits of one sandboxed job: the `[sandbox]` section of a campaign config, as is.

    SubprocessRunner(limits=SandboxLimits(timeout_s=60, memory_mb=4096))

The same record travels to the child inside `job.json`, where
`sandbox.isolation.isolate` turns it into rlimits and a network namespace.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Measured here: `import torch` + numpy + sklearn maps ~0.85 GB of address space, a digits
# training child peaks at ~1.0 GB (VmPeak); 6 GB leaves room for wider models and threads.
DEFAULT_MEMORY_MB = 6144


class SandboxLimits(BaseModel):
    """Per-job caps; every field has a default that fits the built-in tasks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(300.0, gt=0)  # wall clock, then the whole process group is killed
    memory_mb: int = Field(DEFAULT_MEMORY_MB, ge=256)  # RLIMIT_AS (address space, not RSS)
    cpu_s: float | None = Field(None, gt=0)  # RLIMIT_CPU; None: timeout_s x threads + 10 s
    max_file_mb: int = Field(256, gt=0)  # RLIMIT_FSIZE: largest file the child may write
    max_procs: int = Field(64, gt=0)  # RLIMIT_NPROC headroom (threads count); not enforced for root
    max_open_files: int = Field(256, ge=64)  # RLIMIT_NOFILE
    max_output_kb: int = Field(64, gt=0)  # stdout+stderr kept by the parent (the tail)
    network: bool = False  # False: a fresh network namespace (where permitted) + socket guard

    def cpu_seconds(self, threads: int) -> int:
        return int(self.cpu_s if self.cpu_s is not None else self.timeout_s * max(1, threads) + 10)
