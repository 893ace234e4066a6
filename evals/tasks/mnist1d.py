"""The built-in `mnist1d` task: procedurally generated 1-D digits (Greydanus 2020).

The published 4,000 train / 1,000 test split, generated locally (see
`mnist1d_gen`); the last `val_size` training examples are held out for
validation, so candidates train on 3,500 signals by default. Inputs have shape
(1, 40) (one channel, 40 points), 10 classes. Metric: validation accuracy.

    archagent evaluate --task mnist1d evals/seeds/mnist1d/cnn.py --json
"""

from __future__ import annotations

from functools import cache

import numpy as np
from archagent.evals.tasks.base import Recipe, Split, Splits, Task, TaskSpec
from archagent.evals.tasks.digits import accuracy
from archagent.evals.tasks.mnist1d_gen import load_mnist1d
from archagent.evals.tasks.seeds import load_seeds


@cache
def _mnist1d_splits(val_size: int) -> Splits:
    data = load_mnist1d()
    x = data["x"].astype(np.float32)[:, None, :]  # (4000, 1, 40)
    y = data["y"].astype(np.int64)
    cut = len(y) - val_size
    x_test = data["x_test"].astype(np.float32)[:, None, :]  # (1000, 1, 40)
    return Splits(x[:cut], y[:cut], x[cut:], y[cut:], x_test, data["y_test"].astype(np.int64))


class Mnist1dTask(Task):
    name = "mnist1d"
    description = ("Classify 1-D signals of 40 points (shape (1, 40)) into 10 digit classes; the digit patterns are "
                   "randomly padded, scaled, sheared, translated and noised. 3,500 training signals.")
    metric_name = "accuracy"
    higher_is_better = True

    def __init__(self, val_size: int = 500, epochs: int = 20, batch_size: int = 64, lr: float = 3e-3,
                 max_params: int = 1_000_000, max_flops: int = 100_000_000):
        if not 0 < val_size < 4000:
            raise ValueError(f"val_size must be in 1..3999, got {val_size}")
        self.val_size = val_size
        self._spec = TaskSpec(
            name="mnist1d", kind="classification", in_shape=(1, 40), n_out=10,
            recipe=Recipe(epochs=epochs, batch_size=batch_size, lr=lr),
            max_params=max_params, max_flops=max_flops,
        )

    @property
    def spec(self) -> TaskSpec:
        return self._spec

    def splits(self) -> Splits:
        return _mnist1d_splits(self.val_size)

    def score(self, preds: np.ndarray, split: Split) -> float:
        s = self.splits()
        return accuracy(preds, s.y_val if split == "val" else s.y_test)

    def seeds(self) -> dict[str, str]:
        return load_seeds("mnist1d")
