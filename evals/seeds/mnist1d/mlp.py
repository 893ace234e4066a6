import torch
from torch import nn


class Net(nn.Module):
    """MLP on the flattened 40-point signal: two hidden layers of 128."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int):
        super().__init__()
        n_in = 1
        for d in in_shape:
            n_in *= d
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n_in, 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, n_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, n_out)
