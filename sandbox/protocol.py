"""What crosses the sandbox boundary, both ways.

Parent → child: `job.json` (a `Job`), `candidate.py`, and a public data file
(training split plus validation/test *inputs*; never their labels).
Child → parent: `result.json` (a `ChildReport`, size-capped and schema-checked,
never executed) and `preds.bin` (uncompressed float arrays, `sandbox.predsfile`: each header's dtype
and shape is checked against `Job.preds_shapes` before its data is mapped).
The parent hands the child a one-time nonce on stdin; a report counts only if it
carries that nonce and the SHA-256 of the predictions file it vouches for.
"""

from __future__ import annotations

from typing import Literal

from archagent.knowledge.records import FailureKind
from archagent.sandbox.limits import SandboxLimits
from pydantic import BaseModel, ConfigDict, Field

Artifact = Literal["weights", "onnx"]  # returned inside preds.bin as uint8 arrays (bytes), hash-checked like them
Stage = Literal["probe", "full", "probe_full"]  # probe: build/shape/fingerprint/proxies only; full: also train;
# probe_full: the probe, then training of a freshly built (same-seed) model, in one job: both results at once
MAX_REPORT_BYTES = 256 * 1024
MAX_PREDS_BYTES = 512 * 1024 * 1024
CANDIDATE_FILE = "candidate.py"
RESULT_FILE = "result.json"
PREDS_FILE = "preds.bin"
VIOLATIONS_FILE = "violations.log"  # the guard's refusals, one per line, written as they happen


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: dict  # evals.tasks.TaskSpec.to_dict()
    data_path: str
    stage: Stage = "full"
    device: str = "cpu"
    threads: int = 1
    epochs: int | None = None  # override the recipe's epochs (staged fidelity)
    proxies: bool = True  # probe stage: also compute training-free proxies
    limits: SandboxLimits = Field(default_factory=SandboxLimits)
    artifacts: list[Artifact] = Field(default_factory=list)  # full stage: also return these (sandbox.artifacts)
    weights: str | None = None  # base64 safetensors: load these instead of training (export)
    preds_shapes: dict[str, tuple[int, ...]] = Field(default_factory=dict)  # the parent's expectation, per split


class ChildReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ok: bool
    failure_kind: FailureKind | None = None
    failure_msg: str | None = Field(None, max_length=4000)
    params: int | None = Field(None, ge=0)
    flops: int | None = Field(None, ge=0)
    graph_key: str | None = Field(None, max_length=128)
    proxies: dict[str, float | None] = Field(default_factory=dict)
    features: dict[str, float] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    history: list[float | None] = Field(default_factory=list, max_length=100_000)
    isolation: dict[str, bool] = Field(default_factory=dict)  # what sandbox.isolation could apply
    nonce: str | None = Field(None, max_length=64)  # echoes the parent's one-time nonce
    preds_sha256: str | None = Field(None, max_length=64)  # of the preds.bin this report vouches for
