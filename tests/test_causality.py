"""The causality check: a causal model passes, models that read the future are caught.

    pytest tests/test_causality.py
"""

from __future__ import annotations

import types

import torch
from archagent.evals.causality import check_causality, cut_points
from archagent.evals.tasks.seeds import load_seeds
from torch import nn

VOCAB, T = 20, 16


def seed_model(name: str) -> nn.Module:
    module = types.ModuleType("candidate")
    exec(load_seeds("charlm")[name], module.__dict__)
    torch.manual_seed(0)
    return module.Net((T,), VOCAB)


class Bidirectional(nn.Module):
    """Leaks: a bidirectional GRU sees the whole sequence."""

    def __init__(self):
        super().__init__()
        self.emb, self.rnn, self.head = nn.Embedding(VOCAB, 8), nn.GRU(8, 8, batch_first=True, bidirectional=True), \
            nn.Linear(16, VOCAB)

    def forward(self, x):
        return self.head(self.rnn(self.emb(x))[0])


class PeekLast(nn.Module):
    """Leaks only at the last position's token, into every output."""

    def __init__(self):
        super().__init__()
        self.emb, self.head = nn.Embedding(VOCAB, 8), nn.Linear(8, VOCAB)

    def forward(self, x):
        h = self.emb(x)  # (B, T, 8)
        return self.head(h + h[:, -1:])


class CrossBatch(nn.Module):
    """Causal per example, but mixes the batch: example b sees other examples' futures."""

    def __init__(self):
        super().__init__()
        self.emb, self.head = nn.Embedding(VOCAB, 8), nn.Linear(8, VOCAB)

    def forward(self, x):
        h = self.emb(x)
        return self.head(h + h.mean(dim=(0, 1), keepdim=True))


def tokens() -> torch.Tensor:
    return torch.randint(0, VOCAB, (4, T), generator=torch.Generator().manual_seed(1))


def test_causal_seeds_pass():
    for name in ("transformer", "lstm"):
        assert check_causality(seed_model(name), tokens(), VOCAB) is None, name


def test_leaking_models_are_caught():
    for model in (Bidirectional(), PeekLast(), CrossBatch()):
        problem = check_causality(model, tokens(), VOCAB)
        assert problem is not None and "future" in problem, type(model).__name__


def test_transformer_without_mask_is_caught():
    model = seed_model("transformer")
    for block in model.blocks:  # same weights, causal mask dropped
        block.forward = types.MethodType(unmasked_forward, block)
    assert check_causality(model, tokens(), VOCAB) is not None


def unmasked_forward(self, x):
    b, t, d = x.shape
    q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
    q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
    att = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
    return x + self.mlp(self.ln2(x))


def test_cut_points_cover_start_and_end():
    assert cut_points(128) == [0, 32, 64, 126]
    assert cut_points(2) == [0]
