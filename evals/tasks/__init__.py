"""Task registry: `get_task(name, options)` builds a task from the config.

`name` is a built-in (`digits`, `mnist1d`, `charlm`, `npz`), a name registered
by an installed package under the entry-point group `archagent.tasks`, or a
`module:Class` path to a `Task` subclass; `options` are its keyword arguments.

    [task]
    name = "my_tasks.sines:SineTask"
    options = { n = 512 }
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from archagent.evals.tasks.base import Recipe, Split, Splits, Task, TaskSpec

__all__ = ["Recipe", "Split", "Splits", "Task", "TaskSpec", "TaskError", "get_task", "task_names"]

ENTRY_POINT_GROUP = "archagent.tasks"


class TaskError(ValueError):
    """An unknown task or bad task options (one human-readable line)."""


_REGISTRY: dict[str, str] = {  # built-ins, imported when used
    "digits": "archagent.evals.tasks.digits:DigitsTask",
    "mnist1d": "archagent.evals.tasks.mnist1d:Mnist1dTask",
    "charlm": "archagent.evals.tasks.charlm:CharLMTask",
    "npz": "archagent.evals.tasks.npz:NpzTask",
}


def _plugins() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def task_names() -> list[str]:
    return sorted({*_REGISTRY, *_plugins()})


def _import_path(path: str) -> Callable[..., Task]:
    module_name, _, attr = path.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except ImportError as err:
        raise TaskError(f"cannot import task module '{module_name}': {err}") from None
    except AttributeError:
        raise TaskError(f"module '{module_name}' has no attribute '{attr}'") from None
    return factory


def _factory(name: str) -> Callable[..., Task]:
    if name in _REGISTRY:
        return _import_path(_REGISTRY[name])
    if ":" in name:
        return _import_path(name)
    plugin = _plugins().get(name)
    if plugin is None:
        raise TaskError(f"unknown task '{name}' (known: {', '.join(task_names())}; or give 'module:Class')")
    try:
        return plugin.load()
    except (ImportError, AttributeError) as err:
        raise TaskError(f"task plugin '{name}' ({plugin.value}) failed to load: {err}") from None


def check_options(name: str, factory: Callable[..., Task], options: dict[str, Any]) -> None:
    """An unknown option is one line naming the valid ones (and the likely one), not a Python TypeError."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a C callable): the factory itself decides
        return
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    valid = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in options:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise TaskError(f"task '{name}' has no option '{key}' (valid: {', '.join(valid) or 'none'}){hint}")


def get_task(name: str, options: dict[str, Any] | None = None) -> Task:
    factory = _factory(name)
    check_options(name, factory, options or {})
    try:
        task = factory(**(options or {}))
    except (TypeError, ValueError, FileNotFoundError) as err:
        raise TaskError(f"bad options for task '{name}': {err}") from None
    if not isinstance(task, Task):
        raise TaskError(f"task '{name}' built a {type(task).__name__}, not an evals.tasks.Task")
    return task
