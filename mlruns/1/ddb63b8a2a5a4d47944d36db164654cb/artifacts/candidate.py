import torch
from torch import nn


class Net(nn.Module):
    """Two-hidden-layer MLP on the flattened 8x8 image."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int):
        super().__init__()
        n_in = 1
        for d in in_shape:
            n_in *= d
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n_in, 128),
            nn.ReLU(),
            nn.Linear(128, 64),
            nn.ReLU(),
            nn.Linear(64, n_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, n_out)
