import torch
from torch import nn


class Net(nn.Module):
    """Small CNN: two 3x3 conv blocks, global average pooling, linear head."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int):
        super().__init__()
        c = in_shape[0]
        self.features = nn.Sequential(
            nn.Conv2d(c, 32, kernel_size=3, padding=1),
            nn.BatchNorm2d(32),
            nn.ELU(),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.BatchNorm2d(64),
            nn.ELU(),
            nn.MaxPool2d(2),  # (B, 64, 4, 4)
        )
        self.head = nn.Linear(64, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # (B, 64, 4, 4)
        h = h.mean(dim=(2, 3))  # (B, 64)
        return self.head(h)  # (B, n_out)
