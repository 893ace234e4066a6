"""What crosses the sandbox boundary, both ways.

Parent → child: `job.json` (a `Job`), `candidate.py`, and a public data file
(training split plus validation/test *inputs*; never their labels).
Child → parent: `result.json` (a `ChildReport`, size-capped and schema-checked,
never executed) and `preds.npz` (numpy arrays, loaded with allow_pickle=False).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from knowledge.records import FailureKind

Stage = Literal["probe", "full"]  # probe: build/shape/fingerprint/proxies only; full: also train
MAX_REPORT_BYTES = 256 * 1024
CANDIDATE_FILE = "candidate.py"


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: dict  # evals.tasks.TaskSpec.to_dict()
    data_path: str
    stage: Stage = "full"
    device: str = "cpu"
    threads: int = 1
    epochs: int | None = None  # override the recipe's epochs (staged fidelity)


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
