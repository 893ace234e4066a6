import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """Pre-norm transformer block: causal multi-head self-attention, then a 4x MLP."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)  # each (B, T, D)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))  # (B, H, T, D/H)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, D/H)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))  # (B, T, D)


class Net(nn.Module):
    """Small causal transformer: 2 layers, width 64, 4 heads, learned positions."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int):
        super().__init__()
        d, seq_len = 64, in_shape[0]
        self.tok = nn.Embedding(n_out, d)
        self.pos = nn.Parameter(torch.zeros(seq_len, d))
        self.blocks = nn.Sequential(Block(d, 4), Block(d, 4))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tok(x) + self.pos[: x.shape[1]]  # (B, T, D)
        h = self.blocks(h)  # (B, T, D)
        return self.head(self.ln(h))  # (B, T, n_out)
