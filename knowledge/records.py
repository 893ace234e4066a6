"""Typed, immutable records of a campaign's history: candidates and LLM calls.

A `Candidate` is one proposed architecture and everything that happened to it;
`Status` is its state, `FailureKind` says why a failed one failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PENDING = "pending"  # proposed, not yet evaluated
    RUNNING = "running"  # handed to a sandbox worker
    OK = "ok"  # trained and scored
    FAILED = "failed"  # see failure_kind
    DUPLICATE = "duplicate"  # matched an earlier candidate (duplicate_of)
    FILTERED = "filtered"  # valid but not trained: the pre-filter ranked it out


class FailureKind(StrEnum):
    NO_CODE = "no_code"  # the reply held no usable code block
    SYNTAX = "syntax"
    IMPORT = "import"
    BUILD = "build"  # Net(...) raised
    SHAPE = "shape"  # wrong output shape or dtype
    BUDGET = "budget"  # over the task's params/FLOPs budget
    TIMEOUT = "timeout"
    MEMORY = "memory"
    RUNTIME = "runtime"  # raised during training or prediction
    NAN = "nan"  # non-finite loss or predictions
    FORBIDDEN = "forbidden"  # tried to touch the network, files, processes, ...
    CAUSALITY = "causality"  # a sequence model that reads future tokens
    CRASH = "crash"  # the sandbox process died without a valid result
    LLM = "llm"  # the backend failed to produce a reply
    LOST = "lost"  # the worker evaluating it disappeared
    PATCH = "patch"  # an LLM edit whose SEARCH/REPLACE blocks do not apply to its parent


@dataclass(frozen=True)
class Candidate:
    id: int
    campaign_id: int
    code: str
    status: Status
    parent_ids: tuple[int, ...] = ()
    backend: str = ""
    llm_call_id: int | None = None
    text_key: str | None = None
    code_key: str | None = None
    graph_key: str | None = None
    duplicate_of: int | None = None
    failure_kind: FailureKind | None = None
    failure_msg: str | None = None
    metric: float | None = None  # validation metric: the one the search optimises
    test_metric: float | None = None  # reported only, never used for selection
    params: int | None = None
    flops: int | None = None
    prefilter_score: float | None = None
    proxies: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes only: nothing branches on them
    created: str = ""
    seed_name: str | None = None  # seeds: the task's seed it came from
    island: int | None = None  # population island (None: shared by every island)
    operator: str | None = None  # how it was made: rewrite, edit, crossover, mutation, repair, ...
    repair_of: int | None = None  # the failed candidate this one repairs
    matched_on: str | None = None  # duplicates: text_key | code_key | graph_key
    features: dict[str, float] = field(default_factory=dict)  # static features of the built model
    history: list[float | None] = field(default_factory=list)  # per-epoch training curve
    low_fidelity_metric: float | None = None  # staged fidelity: the short run's metric
    low_fidelity_epochs: int | None = None
    predicted_metric: float | None = None  # the pre-filter's learned prediction
    epsilon: bool | None = None  # trained by the pre-filter's ε draw, not its rank
    prefilter_reason: str | None = None  # the pre-filter's decision in words
    idea: str | None = None  # the idea card it was asked to apply (knowledge/ideas/), by id


@dataclass(frozen=True)
class LLMCall:
    id: int
    campaign_id: int
    backend: str
    model: str
    purpose: str  # propose / repair / analyze / check
    prompt: str  # JSON list of chat messages
    reply: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cost_usd: float
    error: str | None
    created: str


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    task: str
    config_json: str
    state: str
    created: str


def ranked(cands: list[Candidate] | tuple[Candidate, ...], higher_is_better: bool) -> list[Candidate]:
    """Trained candidates best first; ties broken by fewer params, then age."""
    scored = [c for c in cands if c.status == Status.OK and c.metric is not None]
    sign = -1.0 if higher_is_better else 1.0
    return sorted(scored, key=lambda c: (sign * c.metric, c.params or 0, c.id))


@dataclass(frozen=True)
class FinalRun:
    """One final-evaluation training of a candidate with one training seed (`archagent final`)."""

    id: int
    campaign_id: int
    candidate_id: int
    seed: int
    epochs: int
    role: str  # "candidate" (a top-K pick) or "reference" (the best seed architecture)
    status: Status  # OK or FAILED
    failure_kind: FailureKind | None
    failure_msg: str | None
    metric: float | None  # validation metric
    test_metric: float | None  # computed here once, never used for selection
    params: int | None
    train_s: float | None
    preds_sample: list[Any]  # outputs on the first test inputs, nested lists (the reproduction check)
    has_weights: bool
    created: str
