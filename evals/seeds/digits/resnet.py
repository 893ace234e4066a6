import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    """Tiny residual network: stem conv, two residual blocks (written inline), pooled linear head."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int):
        super().__init__()
        self.stem = nn.Conv2d(in_shape[0], 32, 3, padding=1)
        self.conv1a = nn.Conv2d(32, 32, 3, padding=1)
        self.conv1b = nn.Conv2d(32, 32, 3, padding=1)
        self.conv2a = nn.Conv2d(32, 32, 3, padding=1)
        self.conv2b = nn.Conv2d(32, 32, 3, padding=1)
        self.head = nn.Linear(32, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.stem(x))  # (B, 32, 8, 8)
        h = F.relu(h + self.conv1b(F.relu(self.conv1a(h))))  # residual block 1
        h = F.relu(h + self.conv2b(F.relu(self.conv2a(h))))  # residual block 2
        return self.head(h.mean(dim=(2, 3)))  # (B, n_out)
