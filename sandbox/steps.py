"""The steps of one evaluation inside the child, in order.

build → shape check → static gates (params/FLOPs budget) → [probe extras] →
train → size re-check → predict. Each step maps its errors to a `FailureKind`.

One build per job: the instance whose size and FLOPs are gated is the instance that
trains (the fused `probe_full` job restores its initial weights and RNG state after
the probe instead of building a second, unchecked one), and its parameter count is
taken again after training. These numbers are still the job's *claims* to the
parent (docs/security.md): they bind an honest-but-sneaky candidate (one that builds
a small model when checked and a large one when trained), not one that forges its report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from archagent.evals.causality import check_causality
from archagent.evals.features import count_flops
from archagent.evals.tasks.base import TaskSpec
from archagent.evals.training import make_optimizer, predict, train
from archagent.knowledge.records import FailureKind
from archagent.sandbox.artifacts import artifact_arrays, load_weights
from archagent.sandbox.loader import CandidateFailure, load_candidate, stage
from archagent.sandbox.probe import probe
from archagent.sandbox.protocol import CANDIDATE_FILE, ChildReport, Job
from torch import nn


def build(module, spec: TaskSpec, device: str = "cpu") -> nn.Module:
    """Net(in_shape, n_out) on the device; moving it runs candidate code too (e.g. a broken __hash__)."""
    torch.manual_seed(spec.recipe.seed)
    model = module.Net(tuple(spec.in_shape), spec.n_out)
    if not isinstance(model, nn.Module):
        raise CandidateFailure(FailureKind.BUILD, "Net(...) did not return a torch.nn.Module")
    return model.to(device)


def expected_shape(spec: TaskSpec, batch: int) -> tuple[int, ...]:
    if spec.kind == "sequence":
        return (batch, spec.in_shape[0], spec.n_out)
    if spec.kind == "regression":
        return (batch, spec.n_out)
    return (batch, spec.n_out)


def shape_check(model: nn.Module, spec: TaskSpec, x: np.ndarray, device: str) -> None:
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(x[:2]).to(device))
    want = expected_shape(spec, 2)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != want:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CandidateFailure(FailureKind.SHAPE, f"output shape {got}, expected {want}")
    if not torch.is_floating_point(out):
        raise CandidateFailure(FailureKind.SHAPE, f"output dtype {out.dtype}, expected a float tensor")


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def budget_check(model: nn.Module, spec: TaskSpec) -> int:
    params = count_params(model)
    if params > spec.max_params:
        raise CandidateFailure(FailureKind.BUDGET, f"{params:,} parameters > budget {spec.max_params:,}")
    return params


def flops_check(model: nn.Module, spec: TaskSpec, arrays: dict[str, np.ndarray], device: str) -> int:
    """FLOPs per example of the instance that will train, against the budget (the probe does it too)."""
    flops = count_flops(model, torch.from_numpy(arrays["x_train"][:1]).to(device))
    if flops > spec.max_flops:
        raise CandidateFailure(FailureKind.BUDGET, f"{flops:,} FLOPs per example > budget {spec.max_flops:,}")
    return flops


def same_size_after(model: nn.Module, params: int, when: str) -> None:
    """The instance that trained is the instance that was checked: its size may not change."""
    now = count_params(model)
    if now != params:
        raise CandidateFailure(FailureKind.BUDGET, f"the model changed size {when}: {params:,} parameters when "
                                                   f"checked, {now:,} now")


@dataclass(frozen=True)
class Initial:
    """A built model's initial tensors and the RNG state right after its build."""

    tensors: dict[str, torch.Tensor]
    rng: torch.Tensor

    @classmethod
    def take(cls, model: nn.Module) -> Initial:
        named = [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]
        return cls({name: t.detach().clone() for name, t in named}, torch.get_rng_state())

    def restore(self, model: nn.Module) -> None:
        """Back to the state a fresh same-seed build would have (weights, buffers, no gradients, RNG)."""
        named = [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]
        if {name for name, _ in named} != set(self.tensors):
            raise CandidateFailure(FailureKind.BUDGET, "the model changed its parameters or buffers during the probe")
        with torch.no_grad():
            for name, t in named:
                t.copy_(self.tensors[name])
        for p in model.parameters():
            p.grad = None
        torch.set_rng_state(self.rng)


def warm_up(spec: TaskSpec) -> None:
    """One optimizer step on a dummy parameter, before the guard and the tamper snapshot:
    torch's lazy imports (torch._dynamo) and its one-time patching of `Optimizer.step`
    happen here, as trusted code, not inside the candidate's first training step."""
    weight = nn.Parameter(torch.zeros(2))
    opt = make_optimizer([weight], spec.recipe)
    (weight.sum() + 1).pow(2).backward()
    opt.step()


def causality_check(model: nn.Module, spec: TaskSpec, arrays: dict[str, np.ndarray], device: str) -> None:
    """Sequence models: outputs at t must not depend on tokens after t (whatever the loss says)."""
    if spec.kind != "sequence":
        return
    x = torch.from_numpy(arrays["x_train"][:4]).to(device)  # (4, T)
    leak = stage(FailureKind.CAUSALITY, check_causality, model, x, spec.n_out)
    if leak:
        raise CandidateFailure(FailureKind.CAUSALITY, leak)


def evaluate_in_child(job: Job, job_dir: Path, checkpoint: Callable[[], None] = lambda: None
                      ) -> tuple[ChildReport, dict[str, np.ndarray]]:
    """Run the steps; `checkpoint()` runs after each (the guard raises there on a violation)."""
    torch.set_num_threads(max(1, job.threads))
    spec, timings = TaskSpec.from_dict(job.spec), {}
    with np.load(job.data_path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    source = (job_dir / CANDIDATE_FILE).read_text()
    t = time.perf_counter()
    module = load_candidate(source, str(job_dir / CANDIDATE_FILE))
    checkpoint()
    model = stage(FailureKind.BUILD, build, module, spec, job.device)
    stage(FailureKind.SHAPE, shape_check, model, spec, arrays["x_train"], job.device)
    causality_check(model, spec, arrays, job.device)
    params = stage(FailureKind.BUILD, budget_check, model, spec)
    checkpoint()
    timings["build_s"] = time.perf_counter() - t
    report = ChildReport(ok=True, params=params, timings=timings)
    if job.stage in ("probe", "probe_full"):
        initial = stage(FailureKind.BUILD, Initial.take, model)
        extras = stage(FailureKind.RUNTIME, probe, model, spec, arrays, job.device, job.proxies)
        timings.update(extras.pop("timings"))
        report = report.model_copy(update=extras)
        if job.stage == "probe":
            return report.model_copy(update={"timings": timings}), {}
        stage(FailureKind.BUILD, same_size_after, model, params, "during the probe")
        stage(FailureKind.BUILD, initial.restore, model)  # the checked instance, as fresh as a separate full job's
    else:
        flops = stage(FailureKind.BUILD, flops_check, model, spec, arrays, job.device)
        report = report.model_copy(update={"flops": flops})
    t = time.perf_counter()
    if job.weights is not None:  # export: the weights of an earlier run instead of training
        history = stage(FailureKind.BUILD, load_weights, model, job.weights, job.device) or []
    else:
        history = stage(FailureKind.RUNTIME, train, model, arrays["x_train"], arrays["y_train"], spec,
                        job.device, job.epochs)
    timings["train_s"] = time.perf_counter() - t
    stage(FailureKind.BUILD, same_size_after, model, params, "while training")
    causality_check(model, spec, arrays, job.device)  # again: a model may learn to leak
    preds = {k: stage(FailureKind.RUNTIME, predict, model, arrays[f"x_{k}"], job.device)
             for k in ("val", "test")}  # (N, n_out) or (N, T, n_out)
    if job.artifacts:
        example = torch.from_numpy(arrays["x_test"][:2]).to(job.device)
        preds.update(stage(FailureKind.RUNTIME, artifact_arrays, model, job.artifacts, example))
    checkpoint()
    return report.model_copy(update={"history": history, "timings": timings}), preds
