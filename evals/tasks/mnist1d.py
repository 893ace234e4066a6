"""The built-in `mnist1d` task: procedurally generated 1-D digits (Greydanus 2020).

Training data: the first 4,000 - `val_size` signals of the published training
split (3,500 by default), generated locally (see `mnist1d_gen`). Validation
(`val_size`) and test (1,000) signals are fresh draws of the same process from a
secret seed the parent keeps (`evals/tasks/heldout.py`: the `heldout_seed`
option, `$ARCHAGENT_HELDOUT_SECRET`, or this install's key), never the published
seed-42 split: the generator's code is readable inside the jail, so a split a job
could regenerate would hand it the labels. Same secret, same numbers. Inputs have
shape (1, 40) (one channel, 40 points), 10 classes. Metric: validation accuracy.

    archagent evaluate --task mnist1d evals/seeds/mnist1d/cnn.py --json
"""

from __future__ import annotations

from functools import cache

import numpy as np
from archagent.evals.tasks import heldout
from archagent.evals.tasks.base import Recipe, Split, Splits, Task, TaskSpec
from archagent.evals.tasks.digits import accuracy
from archagent.evals.tasks.mnist1d_gen import load_mnist1d, make_heldout
from archagent.evals.tasks.seeds import load_seeds

TEST_SIZE = 1000


@cache
def _mnist1d_splits(val_size: int, seed: int) -> Splits:
    data = load_mnist1d()
    cut = len(data["y"]) - val_size
    x = data["x"][:cut].astype(np.float32)[:, None, :]  # (3500, 1, 40)
    held_x, held_y = make_heldout(val_size + TEST_SIZE, seed, data["scale"])
    held_x = held_x.astype(np.float32)[:, None, :]  # (val_size + 1000, 1, 40)
    return Splits(x, data["y"][:cut].astype(np.int64), held_x[:val_size], held_y[:val_size],
                  held_x[val_size:], held_y[val_size:])


class Mnist1dTask(Task):
    name = "mnist1d"
    description = ("Classify 1-D signals of 40 points (shape (1, 40)) into 10 digit classes; the digit patterns are "
                   "randomly padded, scaled, sheared, translated and noised. 3,500 training signals.")
    metric_name = "accuracy"
    higher_is_better = True

    def __init__(self, val_size: int = 500, epochs: int = 20, batch_size: int = 64, lr: float = 3e-3,
                 max_params: int = 1_000_000, max_flops: int = 100_000_000, heldout_seed: int | None = None):
        if not 0 < val_size < 4000:
            raise ValueError(f"val_size must be in 1..3999, got {val_size}")
        self.val_size = val_size
        self._seed = heldout.heldout_seed("mnist1d", heldout_seed)
        self.heldout_id = heldout.heldout_id(self._seed)
        self._spec = TaskSpec(
            name="mnist1d", kind="classification", in_shape=(1, 40), n_out=10,
            recipe=Recipe(epochs=epochs, batch_size=batch_size, lr=lr),
            max_params=max_params, max_flops=max_flops,
        )

    @property
    def spec(self) -> TaskSpec:
        return self._spec

    def splits(self) -> Splits:
        return _mnist1d_splits(self.val_size, self._seed)

    def score(self, preds: np.ndarray, split: Split) -> float:
        s = self.splits()
        return accuracy(preds, s.y_val if split == "val" else s.y_test)

    def seeds(self) -> dict[str, str]:
        return load_seeds("mnist1d")
