"""The `Task` interface: data, a fixed training recipe, a metric, I/O shapes.

A task is trusted code. Its `spec` (shapes, recipe, budgets) travels to the
sandboxed child, which trains on the training split and returns predictions;
`score` runs in the parent, the only place validation/test labels exist.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

Split = Literal["val", "test"]


@dataclass(frozen=True)
class Recipe:
    """The fixed training protocol every candidate of a task is trained with."""

    epochs: int = 15
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    seed: int = 0
    max_steps: int | None = None  # cap on optimizer steps (sequence tasks)


@dataclass(frozen=True)
class TaskSpec:
    """Everything the sandboxed child needs to build, check and train a model."""

    name: str
    kind: Literal["classification", "sequence", "regression"]
    in_shape: tuple[int, ...]
    n_out: int
    input_dtype: Literal["float32", "int64"] = "float32"
    recipe: Recipe = field(default_factory=Recipe)
    max_params: int = 5_000_000
    max_flops: int = 2_000_000_000  # forward FLOPs for one example

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TaskSpec:
        data = dict(data, in_shape=tuple(data["in_shape"]), recipe=Recipe(**data["recipe"]))
        return cls(**data)


@dataclass(frozen=True)
class Splits:
    """Arrays of one task. Only x_train, y_train, x_val, x_test go to the child."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def public(self) -> dict[str, np.ndarray]:
        return {"x_train": self.x_train, "y_train": self.y_train, "x_val": self.x_val, "x_test": self.x_test}


class Task(ABC):
    """A dataset + recipe + metric. Subclasses set `metric_name` and `higher_is_better`."""

    description: str = ""  # one line, shown to the LLM
    heldout_id: str | None = None  # generated tasks: names the secret held-out split (evals/tasks/heldout.py)
    metric_name: str = "metric"
    higher_is_better: bool = True

    @property
    @abstractmethod
    def spec(self) -> TaskSpec:
        """Shapes, recipe and budgets sent to the sandbox."""

    @abstractmethod
    def splits(self) -> Splits:
        """The data, deterministic for a given task configuration."""

    @abstractmethod
    def score(self, preds: np.ndarray, split: Split) -> float:
        """The metric of predictions on a split, computed with the hidden labels."""

    def seeds(self) -> dict[str, str]:
        """Seed architectures shipped with the task: {name: source}."""
        return {}

    def better(self, a: float, b: float) -> bool:
        """True when metric a is strictly better than b."""
        return a > b if self.higher_is_better else a < b
