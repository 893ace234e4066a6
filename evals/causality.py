"""Causality check for sequence models: outputs at position t may depend only on tokens <= t.

Run in the sandboxed child right after the shape check (`sandbox/steps.py`):
for a few cut points t, every token after t, in every example of the batch, is
replaced by a different token; the outputs at positions <= t must not move.
Perturbing the whole batch at once also catches models that mix information
across examples. A leak fails the candidate with failure kind `causality`.

    from archagent.evals.causality import check_causality
    problem = check_causality(model, x)  # x: (B, T) int64 token ids; None when causal
"""

from __future__ import annotations

import torch
from torch import nn


def cut_points(seq_len: int) -> list[int]:
    """A few positions t < T-1 spread over the sequence, always including 0 and T-2."""
    return sorted({0, seq_len // 4, seq_len // 2, seq_len - 2} & set(range(seq_len - 1)))


def perturb_after(x: torch.Tensor, t: int, vocab: int, gen: torch.Generator) -> torch.Tensor:
    """A copy of x (B, T) whose tokens after t all differ from the originals."""
    shift = torch.randint(1, vocab, x[:, t + 1 :].shape, generator=gen).to(x.device)
    out = x.clone()
    out[:, t + 1 :] = (x[:, t + 1 :] + shift) % vocab
    return out


@torch.no_grad()
def check_causality(model: nn.Module, x: torch.Tensor, vocab: int | None = None, tol: float = 1e-4,
                    seed: int = 0) -> str | None:
    """None when `model` is causal on `x` (B, T); otherwise one line saying where it leaks."""
    vocab = vocab or max(int(x.max()) + 1, 2)
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    base = model(x).float()  # (B, T, V)
    scale = tol * max(1.0, float(base.abs().max()))
    for t in cut_points(x.shape[1]):
        out = model(perturb_after(x, t, vocab, gen)).float()  # (B, T, V)
        diff = float((out[:, : t + 1] - base[:, : t + 1]).abs().max())
        if not diff <= scale:  # also catches NaN
            return (f"outputs at positions <= {t} changed by {diff:.3g} when only tokens after {t} changed: "
                    "the model reads future tokens (use a causal mask / left-only context)")
    return None
