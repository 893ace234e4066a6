# arch: {"family":"mlp","layers":[{"op":"linear","width":64,"kernel":3},{"op":"res","width":0,"kernel":3}],"act":"relu","norm":true,"head":0,"dropout":0.1}
import math

import torch
from torch import nn


class Residual(nn.Module):
    """x + linear-act-linear(layernorm(x)): same width."""

    def __init__(self, ch: int, k: int = 0):
        super().__init__()
        self.f = nn.Sequential(nn.LayerNorm(ch), nn.Linear(ch, ch), nn.ReLU(), nn.Linear(ch, ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.f(x)


class Net(nn.Module):
    """Grammar-sampled mlp: linear64 -> res; relu, norm=True, head=linear."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),  # (B, 64)
            nn.Linear(math.prod(in_shape), 64),  # (B, 64)
            nn.LayerNorm(64),
            nn.ReLU(),
            Residual(64, 3),  # (B, 64)
        )
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(64, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)  # (B, 64)
        return self.head(h)  # (B, n_out)
