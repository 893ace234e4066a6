"""What limits a parent, in words the idea cards are indexed on (`shortcomings`).

    budget = Budget(max_params=100_000, family="signal", kind="classification")
    gaps = shortcomings(parent, children, budget, tried={"residual"})
    gaps.terms()   # ("regularization", "overfitting", "efficient", ...): the FTS5 query

The store keeps a candidate's per-epoch *training loss*, not a training metric, so
the train/validation gap is estimated from it. For classification the training
accuracy is taken as exp(-loss / 2): the recorded loss is an epoch mean in train
mode while the weights still improve, so exp(-loss) (the geometric-mean probability
of the right class) understates the accuracy. Measured on the seeds (in-process,
default recipes): mnist1d cnn / mlp / gru train accuracy 0.996 / 0.941 / 0.953 vs
exp(-loss/2) 0.989 / 0.880 / 0.896, digits cnn / mlp 0.996 / 0.990 vs 0.978 / 0.971;
validation 0.962 / 0.636 / 0.924 and 0.993 / 0.974, so the rule flags mnist1d's cnn
and mlp as overfitting (real gaps 0.034, 0.31) and its mlp and gru as underfitting
(the weakest two). For sequence models the training loss in bits per character is
compared with the validation bits per character. Each signal maps to a few query
terms (`TERMS`); the cards' `tags` use the same words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from archagent.knowledge.records import Candidate, FailureKind, Status

LOSS_SCALE = 0.5  # classification: estimated train accuracy = exp(-LOSS_SCALE * final training loss)
GAP_TOLERANCE = 0.02  # classification: estimated train accuracy above validation accuracy by more = overfitting
FIT_FLOOR = 0.9  # classification: estimated train accuracy below this = underfitting
BPC_GAP = 0.15  # sequence: validation bpc above training bpc by more = overfitting
NEAR_BUDGET, SMALL = 0.7, 0.05  # parameters as a share of the budget
STALLED = 2  # trained children, none better than the parent: look for another inductive bias

# signal -> the query terms it adds (the cards' tags use these words)
TERMS: dict[str, tuple[str, ...]] = {
    "overfit": ("overfitting", "regularization"),
    "underfit": ("underfitting", "capacity", "optimization"),
    "near_budget": ("efficient", "fewer parameters"),
    "small": ("capacity",),
    "stalled": ("receptive", "inductive"),
    f"failure:{FailureKind.SHAPE}": ("shape",),
    f"failure:{FailureKind.BUILD}": ("shape",),
    f"failure:{FailureKind.BUDGET}": ("efficient", "fewer parameters"),
    f"failure:{FailureKind.NAN}": ("stability", "normalization"),
    f"failure:{FailureKind.TIMEOUT}": ("compute",),
    f"failure:{FailureKind.MEMORY}": ("memory", "compute"),
    f"failure:{FailureKind.CAUSALITY}": ("causal",),
}


class TaskLike(Protocol):
    kind: str
    in_shape: tuple[int, ...]
    input_dtype: str
    max_params: int


def family_of(kind: str, in_shape: Sequence[int], input_dtype: str = "float32") -> str:
    """The input family cards are written for: token `sequence`s, `image`s (C, H, W), `signal`s (C, L), `vector`s."""
    if kind == "sequence" or input_dtype == "int64":
        return "sequence"
    return {3: "image", 2: "signal"}.get(len(in_shape), "vector")


@dataclass(frozen=True)
class Budget:
    """What the shortcomings are measured against: the task's parameter budget and input family."""

    max_params: int
    family: str
    kind: str = "classification"
    higher_is_better: bool = True  # the task's metric

    @classmethod
    def of(cls, spec: TaskLike, higher_is_better: bool, max_params: int | None = None) -> Budget:
        family = family_of(spec.kind, spec.in_shape, spec.input_dtype)
        return cls(max_params or spec.max_params, family, spec.kind, higher_is_better)


@dataclass(frozen=True)
class Shortcomings:
    """A parent's shortcomings: signals (keys of `TERMS`), the numbers behind them, the cards already tried."""

    family: str
    signals: tuple[str, ...] = ()
    tried: frozenset[str] = frozenset()  # cards its lineage and its children already used
    gap: float | None = None  # estimated train - validation gap (accuracy points, or bpc)
    size_share: float | None = None  # params / budget

    def terms(self) -> tuple[str, ...]:
        """The query words, in signal order, each once."""
        return tuple(dict.fromkeys(t for s in self.signals for t in TERMS.get(s, ())))


def shortcomings(parent: Candidate, children: Iterable[Candidate], budget: Budget,
                 tried: Iterable[str] = ()) -> Shortcomings:
    """The parent's shortcomings from its training curve, size and its children's outcomes."""
    kids = list(children)
    gap = train_val_gap(parent, budget.kind)
    share = parent.params / budget.max_params if parent.params and budget.max_params else None
    signals = [*fit_signals(parent, gap, budget.kind), *size_signals(share),
               *child_signals(parent, kids, budget.higher_is_better)]
    used = {*tried, *(k.idea for k in kids if k.idea)}
    return Shortcomings(budget.family, tuple(dict.fromkeys(signals)), frozenset(used), gap, share)


def last_loss(parent: Candidate) -> float | None:
    """The parent's final finite training loss (None: no curve)."""
    return next((h for h in reversed(parent.history) if h is not None and math.isfinite(h)), None)


def train_accuracy(loss: float) -> float:
    """A classifier's training accuracy estimated from its final training loss (see the module docstring)."""
    return math.exp(-LOSS_SCALE * loss)


def train_val_gap(parent: Candidate, kind: str) -> float | None:
    """Estimated training minus validation score (positive: better on the training data); None if unknown."""
    loss = last_loss(parent)
    if loss is None or parent.metric is None:
        return None
    if kind == "classification" and 0.0 <= parent.metric <= 1.0:
        return train_accuracy(loss) - parent.metric
    if kind == "sequence":  # metric: validation bits per character; loss: nats per token
        return parent.metric - loss / math.log(2)
    return None


def fit_signals(parent: Candidate, gap: float | None, kind: str) -> list[str]:
    """`overfit` past the gap tolerance; `underfit` when the training fit is poor (classification: estimated
    training accuracy under FIT_FLOOR; other kinds: the loss did not halve over the run)."""
    out = []
    if gap is not None and gap > (BPC_GAP if kind == "sequence" else GAP_TOLERANCE):
        out.append("overfit")
    last, first = last_loss(parent), (parent.history[0] if parent.history else None)
    if last is None:
        return out
    if kind == "classification":
        poor = train_accuracy(last) < FIT_FLOOR
    else:
        poor = first is not None and math.isfinite(first) and first > 0 and last > 0.5 * first
    return [*out, "underfit"] if poor else out


def size_signals(share: float | None) -> list[str]:
    if share is None:
        return []
    return ["near_budget"] if share >= NEAR_BUDGET else (["small"] if share <= SMALL else [])


def child_signals(parent: Candidate, kids: list[Candidate], higher_is_better: bool = True) -> list[str]:
    """Failure kinds of its children (most frequent first), and `stalled` when trained ones never beat it."""
    kinds: dict[str, int] = {}
    for k in kids:
        if k.status == Status.FAILED and k.failure_kind is not None:
            kinds[f"failure:{k.failure_kind}"] = kinds.get(f"failure:{k.failure_kind}", 0) + 1
    out = sorted(kinds, key=lambda s: -kinds[s])
    trained = [k for k in kids if k.status == Status.OK and k.metric is not None]
    sign = 1.0 if higher_is_better else -1.0
    if parent.metric is not None and len(trained) >= STALLED and not any(
            sign * (k.metric - parent.metric) > 0 for k in trained):
        out.append("stalled")
    return out
