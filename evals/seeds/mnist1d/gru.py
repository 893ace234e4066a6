import torch
from torch import nn


class Net(nn.Module):
    """Small GRU reading the signal one point at a time; the last hidden state feeds a linear head."""

    def __init__(self, in_shape: tuple[int, ...], n_out: int):
        super().__init__()
        self.gru = nn.GRU(input_size=in_shape[0], hidden_size=64, batch_first=True)
        self.head = nn.Linear(64, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.transpose(1, 2)  # (B, L, C)
        _, h = self.gru(seq)  # h: (1, B, 64)
        return self.head(h[-1])  # (B, n_out)
