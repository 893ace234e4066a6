import torch
from torch import nn


class Net(nn.Module):
    """Tiny residual network: stem conv, two residual blocks (written inline), pooled linear head."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_shape[0], 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.block1 = nn.Sequential(
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32),
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32),
        )
        self.act = nn.ReLU()
        self.head = nn.Linear(32, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)  # (B, 32, 8, 8)
        h = self.act(h + self.block1(h))  # residual block 1
        h = self.act(h + self.block2(h))  # residual block 2
        return self.head(h.mean(dim=(2, 3)))  # (B, n_out)
