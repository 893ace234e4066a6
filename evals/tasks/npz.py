"""Bring-your-own data: a classification or regression task from one `.npz` file.

The file holds `x_train`, `y_train`, `x_val`, `y_val` and optionally `x_test`,
`y_test` (without them the test metric is the validation metric). Shapes are
inferred: `in_shape = x_train.shape[1:]`; classification labels are integers
0..C-1 and `n_out = C`; regression targets are (N,) or (N, K) and `n_out = K`.
Inputs are cast to float32. Metric: accuracy (higher is better) or mean squared
error (lower is better).

    [task]
    name = "npz"
    options = { path = "my_data.npz", kind = "regression", epochs = 30 }
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from archagent.evals.tasks.base import Recipe, Split, Splits, Task, TaskSpec
from archagent.evals.tasks.digits import accuracy

REQUIRED = ("x_train", "y_train", "x_val", "y_val")


def load_npz(path: Path, kind: str) -> Splits:
    """Read and check the arrays; ValueError with one line on a malformed file."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise ValueError(f"{path} lacks array(s) {', '.join(missing)} (needs {', '.join(REQUIRED)})")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise ValueError(f"{path} must hold both x_test and y_test, or neither")
    names = ("train", "val", "test") if "x_test" in arrays else ("train", "val")
    xs = {n: arrays[f"x_{n}"].astype(np.float32) for n in names}
    ys = {n: _targets(arrays[f"y_{n}"], kind, f"y_{n}") for n in names}
    for n in names:
        if len(xs[n]) != len(ys[n]) or xs[n].shape[1:] != xs["train"].shape[1:] or len(xs[n]) == 0:
            raise ValueError(f"{path}: x_{n} {xs[n].shape} does not match y_{n} {ys[n].shape} or x_train")
    test = "test" if "test" in xs else "val"
    return Splits(xs["train"], ys["train"], xs["val"], ys["val"], xs[test], ys[test])


def _targets(y: np.ndarray, kind: str, name: str) -> np.ndarray:
    if kind == "regression":
        return y.astype(np.float32).reshape(len(y), -1)  # (N, K)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise ValueError(f"classification {name} must be a 1-D array of non-negative integer labels")
    return y.astype(np.int64)


def mse(preds: np.ndarray, targets: np.ndarray) -> float:
    return float(((preds.astype(np.float64) - targets) ** 2).mean())


class NpzTask(Task):
    name = "npz"

    def __init__(self, path: str, kind: Literal["classification", "regression"] = "classification",
                 epochs: int = 20, batch_size: int = 64, lr: float = 3e-3, max_params: int = 5_000_000,
                 max_flops: int = 2_000_000_000, description: str = ""):
        if kind not in ("classification", "regression"):
            raise ValueError(f"kind must be 'classification' or 'regression', got '{kind}'")
        self.path, self.kind = Path(path).expanduser(), kind
        if not self.path.is_file():
            raise FileNotFoundError(f"npz file not found: {self.path}")
        self._splits = load_npz(self.path, kind)
        s = self._splits
        n_out = s.y_train.shape[1] if kind == "regression" else int(max(s.y_train.max(), s.y_val.max())) + 1
        self.metric_name, self.higher_is_better = ("accuracy", True) if kind == "classification" else ("mse", False)
        self.description = description or (f"{kind.capitalize()} on {self.path.name}: inputs of shape "
                                           f"{s.x_train.shape[1:]}, {n_out} outputs, {len(s.y_train):,} training rows.")
        self._spec = TaskSpec(
            name=f"npz-{self.path.stem}", kind=kind, in_shape=tuple(s.x_train.shape[1:]), n_out=n_out,
            recipe=Recipe(epochs=epochs, batch_size=batch_size, lr=lr), max_params=max_params, max_flops=max_flops,
        )

    @property
    def spec(self) -> TaskSpec:
        return self._spec

    def splits(self) -> Splits:
        return self._splits

    def score(self, preds: np.ndarray, split: Split) -> float:
        y = self._splits.y_val if split == "val" else self._splits.y_test
        return accuracy(preds, y) if self.kind == "classification" else mse(preds, y)
