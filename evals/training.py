"""The fixed training protocol, run inside the sandboxed child.

Trusted code executing on an untrusted model: a task's `Recipe` decides the
optimizer, epochs, batch size and seed; the candidate only supplies `Net`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from archagent.evals.tasks.base import Recipe, TaskSpec
from torch import nn


class NonFiniteLoss(ArithmeticError):
    """Training produced a NaN or infinite loss."""


def loss_fn(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if kind == "classification":
        return F.cross_entropy  # (B, C) vs (B,)
    if kind == "sequence":
        return lambda out, y: F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))  # (B,T,V)
    return lambda out, y: F.mse_loss(out.reshape(y.shape), y)


def make_optimizer(params, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=0.9, weight_decay=recipe.weight_decay)
    opt = torch.optim.AdamW if recipe.optimizer == "adamw" else torch.optim.Adam
    return opt(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, spec: TaskSpec, device: str = "cpu",
          epochs: int | None = None) -> list[float]:
    """Train in place; return the mean training loss of each epoch."""
    recipe = spec.recipe
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    gen = torch.Generator().manual_seed(recipe.seed)
    opt, criterion = make_optimizer(model.parameters(), recipe), loss_fn(spec.kind)
    history, steps = [], 0
    model.train()
    for _ in range(epochs if epochs is not None else recipe.epochs):
        total, batches = 0.0, 0
        for idx in torch.randperm(len(xt), generator=gen).split(recipe.batch_size):
            loss = criterion(model(xt[idx.to(device)]), yt[idx.to(device)])
            if not torch.isfinite(loss):
                raise NonFiniteLoss(f"training loss became {loss.item()} at step {steps}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, batches, steps = total + loss.item(), batches + 1, steps + 1
            if recipe.max_steps and steps >= recipe.max_steps:
                break
        history.append(total / max(batches, 1))
        if recipe.max_steps and steps >= recipe.max_steps:
            break
    return history


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, device: str = "cpu", batch_size: int = 256) -> np.ndarray:
    """Model outputs for x, in eval mode, as float32 numpy."""
    model.eval()
    outs = [model(torch.from_numpy(x[i : i + batch_size]).to(device)).float().cpu()
            for i in range(0, len(x), batch_size)]
    return torch.cat(outs).numpy() if outs else np.zeros((0,), np.float32)

