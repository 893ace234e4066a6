"""Detect monkeypatching of trusted code (torch, numpy, the training loop, the sandbox).

    snap = Snapshot.take()   # after trusted imports, before the candidate runs
    snap.changed()           # ["torch.nn.functional.cross_entropy", ...] if the candidate rebound any

Holds the original objects (not ids) and compares by identity; attributes that
trusted code adds later (lazy submodules) are ignored, only rebinding counts.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

WATCHED = ("builtins", "torch", "torch.nn.functional", "torch.nn.init", "torch.autograd", "torch.optim",
           "torch.optim.optimizer", "torch.optim.adam", "torch.optim.adamw", "torch.optim.sgd", "numpy",
           "archagent.evals.training", "archagent.evals.tasks.base", "archagent.sandbox.steps",
           "archagent.sandbox.loader", "archagent.sandbox.child", "archagent.sandbox.guard", "archagent.sandbox.tamper",
           "archagent.sandbox.protocol")
WATCHED_CLASSES = (("torch", "Tensor"), ("torch.nn", "Module"), ("torch.optim", "Optimizer"),
                   ("torch.optim", "Adam"), ("torch.optim", "AdamW"), ("torch.optim", "SGD"),
                   ("archagent.sandbox.guard", "Guard"), ("archagent.sandbox.tamper", "Snapshot"))


def _namespaces() -> dict[str, dict]:
    spaces = {name: vars(sys.modules[name]) for name in WATCHED if name in sys.modules}
    for mod, cls in WATCHED_CLASSES:
        owner = getattr(sys.modules.get(mod), cls, None)
        if isinstance(owner, type):
            spaces[f"{mod}.{cls}"] = vars(owner)
    return spaces


@dataclass(frozen=True)
class Snapshot:
    """Callable attributes of the watched namespaces, by identity."""

    originals: dict[str, tuple[dict, dict[str, object]]]

    @classmethod
    def take(cls) -> Snapshot:
        originals = {}
        for name, space in _namespaces().items():
            originals[name] = (space, {k: v for k, v in list(space.items()) if callable(v)})
        return cls(originals)

    def changed(self) -> list[str]:
        found = []
        for name, (space, saved) in self.originals.items():
            found += [f"{name}.{k}" for k, v in saved.items() if space.get(k) is not v]
        return found
