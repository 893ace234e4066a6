"""The built-in `digits` task: scikit-learn's 8x8 handwritten digits.

1,797 images, 10 classes; a fixed-seed 70/15/15 train/val/test split; inputs
scaled to [0, 1], shape (1, 8, 8). Metric: validation accuracy (higher is better).

    archagent evaluate --task digits evals/seeds/digits/cnn.py --json
"""

from __future__ import annotations

from functools import cache

import numpy as np
from archagent.evals.tasks.base import Recipe, Split, Splits, Task, TaskSpec
from archagent.evals.tasks.seeds import load_seeds


@cache
def _digits_splits(seed: int) -> Splits:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None, :, :]  # (N, 1, 8, 8)
    y = data.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_train, n_val = int(0.7 * len(y)), int(0.15 * len(y))
    tr, va, te = np.split(order, [n_train, n_train + n_val])
    return Splits(x[tr], y[tr], x[va], y[va], x[te], y[te])


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=-1) == labels).mean())


class DigitsTask(Task):
    name = "digits"
    description = "Classify 8x8 grayscale images of handwritten digits (0-9); 1,257 training images."
    metric_name = "accuracy"
    higher_is_better = True

    def __init__(self, split_seed: int = 0, epochs: int = 15):
        self.split_seed = split_seed
        self._spec = TaskSpec(
            name="digits", kind="classification", in_shape=(1, 8, 8), n_out=10,
            recipe=Recipe(epochs=epochs, batch_size=64, lr=3e-3),
            max_params=2_000_000, max_flops=200_000_000,
        )

    @property
    def spec(self) -> TaskSpec:
        return self._spec

    def splits(self) -> Splits:
        return _digits_splits(self.split_seed)

    def score(self, preds: np.ndarray, split: Split) -> float:
        s = self.splits()
        return accuracy(preds, s.y_val if split == "val" else s.y_test)

    def seeds(self) -> dict[str, str]:
        return load_seeds("digits")
