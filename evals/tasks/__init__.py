"""Task registry: `get_task(name, options)` builds a task from the config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evals.tasks.base import Recipe, Split, Splits, Task, TaskSpec

__all__ = ["Recipe", "Split", "Splits", "Task", "TaskSpec", "TaskError", "get_task", "task_names"]


class TaskError(ValueError):
    """An unknown task or bad task options (one human-readable line)."""


def _digits(**options: Any) -> Task:
    from evals.tasks.digits import DigitsTask

    return DigitsTask(**options)


_REGISTRY: dict[str, Callable[..., Task]] = {"digits": _digits}


def task_names() -> list[str]:
    return sorted(_REGISTRY)


def get_task(name: str, options: dict[str, Any] | None = None) -> Task:
    if name not in _REGISTRY:
        raise TaskError(f"unknown task '{name}' (known: {', '.join(task_names())})")
    try:
        return _REGISTRY[name](**(options or {}))
    except TypeError as err:
        raise TaskError(f"bad options for task '{name}': {err}") from None
