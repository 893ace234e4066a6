import torch
from torch import nn


class Net(nn.Module):
    """1-D CNN: three strided conv blocks over the (1, 40) signal, global average pool, linear head."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int):
        super().__init__()
        c = in_shape[0]
        self.features = nn.Sequential(
            nn.Conv1d(c, 32, kernel_size=5, padding=2),
            nn.BatchNorm1d(32),
            nn.ReLU(),
            nn.Conv1d(32, 64, kernel_size=3, stride=2, padding=1),  # (B, 64, 20)
            nn.BatchNorm1d(64),
            nn.ReLU(),
            nn.Conv1d(64, 64, kernel_size=3, stride=2, padding=1),  # (B, 64, 10)
            nn.BatchNorm1d(64),
            nn.ReLU(),
        )
        self.head = nn.Linear(64, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # (B, 64, L/4)
        return self.head(h.mean(dim=2))  # (B, n_out)
