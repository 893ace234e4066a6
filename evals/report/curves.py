"""Random-baseline curves for a task, read from a store (for reports comparing a campaign against chance).

    from archagent.evals.report.curves import baseline_curves
    curves = baseline_curves(Store("archagent.db"), "digits")  # {campaign name: [best-so-far, ...]}

A baseline campaign is one whose candidates were proposed only by the given
baseline backend ("random" by default). Its curve is the running best of the
validation metric over its trained proposals in order of creation; the task's
seed architectures are left out, so point k is "best of k random architectures".
"""

from __future__ import annotations

from archagent.evals.tasks import get_task
from archagent.knowledge.store import Store


def baseline_curves(store: Store, task: str, backend: str = "random") -> dict[str, list[float]]:
    higher = get_task(task).higher_is_better
    curves: dict[str, list[float]] = {}
    for camp in store.campaigns():
        if camp.task != task:
            continue
        if store.proposal_backends(camp.id) != {backend}:
            continue
        metrics = [metric for _, metric, seed, *_ in store.trained_series(camp.id) if not seed]
        curves[camp.name] = running_best(metrics, higher)
    return {name: curve for name, curve in curves.items() if curve}


def running_best(values: list[float], higher: bool) -> list[float]:
    out: list[float] = []
    for v in values:
        out.append(v if not out or (v > out[-1] if higher else v < out[-1]) else out[-1])
    return out
