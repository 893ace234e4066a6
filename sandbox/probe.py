"""The probe stage: cheap facts about a built model, computed before any training.

FLOPs (and the FLOPs budget gate), the executed-graph fingerprint, static
features for the predictor, and training-free proxies on one batch. Runs in the
sandboxed child, on the same build as the shape check (no extra process start).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from archagent.evals.features import count_flops, static_features
from archagent.evals.graph_key import example_input, graph_key
from archagent.evals.proxies import compute_proxies
from archagent.evals.tasks.base import TaskSpec
from archagent.evals.training import loss_fn
from archagent.knowledge.records import FailureKind
from archagent.sandbox.loader import CandidateFailure
from torch import nn

PROXY_BATCH = 64


def probe(model: nn.Module, spec: TaskSpec, arrays: dict[str, np.ndarray], device: str,
          with_proxies: bool = True) -> dict:
    """{flops, graph_key, features, proxies, timings} for a built, shape-checked model."""
    t0 = time.perf_counter()
    one = torch.from_numpy(arrays["x_train"][:1]).to(device)  # (1, *in_shape)
    flops = count_flops(model, one)
    if flops > spec.max_flops:
        raise CandidateFailure(FailureKind.BUDGET, f"{flops:,} FLOPs per example > budget {spec.max_flops:,}")
    example = example_input(tuple(spec.in_shape), spec.n_out, tokens=spec.input_dtype == "int64").to(device)
    out = {"flops": flops, "graph_key": graph_key(model, example), "features": static_features(model, one)}
    t1 = time.perf_counter()
    if with_proxies:
        x = torch.from_numpy(arrays["x_train"][:PROXY_BATCH]).to(device)
        y = torch.from_numpy(arrays["y_train"][:PROXY_BATCH]).to(device)
        raw = compute_proxies(model, x, y, loss_fn(spec.kind), sequence=spec.kind == "sequence")
        out["proxies"] = {k: (v if math.isfinite(v) else None) for k, v in raw.items()}
    out["timings"] = {"probe_static_s": t1 - t0, "proxies_s": time.perf_counter() - t1}
    return out
