import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(h)))


class Net(nn.Module):
    """Tiny residual network: stem conv, two residual blocks, pooled linear head."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_shape[0], 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.blocks = nn.Sequential(Block(32), Block(32))
        self.head = nn.Linear(32, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(x))  # (B, 32, 8, 8)
        return self.head(h.mean(dim=(2, 3)))  # (B, n_out)
