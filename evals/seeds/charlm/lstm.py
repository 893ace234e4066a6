import torch
from torch import nn


class Net(nn.Module):
    """One-layer LSTM language model: embedding 64, hidden 128, linear read-out at every position."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int):
        super().__init__()
        self.tok = nn.Embedding(n_out, 64)
        self.lstm = nn.LSTM(64, 128, batch_first=True)
        self.head = nn.Linear(128, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.tok(x))  # (B, T, 128)
        return self.head(h)  # (B, T, n_out)
