"""Single-file tools: `evaluate`, `score` and `fingerprint` (docs/contracts.md §3).

    archagent evaluate --task digits model.py --json
    archagent score --task digits a.py b.py --json
    archagent fingerprint --task digits a.py b.py --json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from archagent.agent import api
from archagent.agent.cli.options import JsonOpt, console
from archagent.agent.display import Ticker
from archagent.evals.tasks import Recipe, get_task
from archagent.sandbox.isolation import require_isolation
from archagent.sandbox.limits import SandboxLimits
from rich.console import Console
from rich.table import Table

Files = Annotated[list[Path], typer.Argument(help="candidate .py files")]
TimeoutOpt = Annotated[float, typer.Option(help="wall-clock limit per sandbox job, seconds")]
OptionOpt = Annotated[list[str] | None, typer.Option("--option", "-o", help="task option KEY=VALUE (repeatable)")]


def task_from(name: str, options: list[str] | None):
    """The task with `KEY=VALUE` options; values are TOML literals (3, 0.5, "x", [1, 2]) or plain strings."""
    return get_task(name, api.parse_options(options))


def read_sources(files: list[Path]) -> list[str]:
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"no such file: {', '.join(missing)}")
    return [f.read_text() for f in files]


def emit(rows: list[dict], as_json: bool, columns: list[str]) -> None:
    if as_json:
        for r in rows:
            print(json.dumps(r))
        return
    table = Table(*columns)
    for r in rows:
        table.add_row(*(_cell(r.get(c)) for c in columns))
    console.print(table)


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def evaluate(file: Annotated[Path, typer.Argument(help="candidate .py file")],
             task: Annotated[str, typer.Option(help="task name")] = "digits", option: OptionOpt = None,
             timeout: TimeoutOpt = 300.0, as_json: JsonOpt = False) -> None:
    """Fully evaluate one candidate file in the sandbox, exactly as a campaign would.

    Example: archagent evaluate --task mnist1d -o epochs=5 my_model.py --json
    """
    (code,) = read_sources([file])
    resolved = task_from(task, option)
    require_isolation(SandboxLimits(timeout_s=timeout))  # no jail: the one-line refusal, before any output
    err = Console(stderr=True, highlight=False)
    source = "the task's recipe" + (f" with {' '.join(option)}" if option else "")
    err.print(f"evaluating {file} on {task}: {recipe_words(resolved.spec.recipe)} ({source}; -o KEY=VALUE sets "
              "task options)", soft_wrap=True)
    with Ticker(err, f"probing and training {file.name}") as ticker:
        ev = api.evaluate(resolved, code, timeout_s=timeout)
    err.print(f"{file.name}: {ev.status} in {ticker.seconds:.0f} s")
    out = {"file": str(file), "status": ev.status, "metric": ev.metric, "test_metric": ev.test_metric,
           "params": ev.params, "flops": ev.flops, "error": ev.failure_msg, "graph_key": ev.graph_key,
           "proxies": ev.proxies, "timings": ev.timings}
    if as_json:
        print(json.dumps(out))
    else:
        emit([out], False, ["file", "status", "metric", "test_metric", "params", "flops", "error"])
    if not ev.ok:
        raise typer.Exit(1)


def recipe_words(r: Recipe) -> str:
    """`15 epochs, batch 64, adam lr 0.003, seed 0`."""
    steps = f", at most {r.max_steps} steps" if r.max_steps else ""
    decay = f", weight decay {r.weight_decay:g}" if r.weight_decay else ""
    return f"{r.epochs} epochs{steps}, batch {r.batch_size}, {r.optimizer} lr {r.lr:g}{decay}, seed {r.seed}"


def score(files: Files, task: Annotated[str, typer.Option(help="task name")] = "digits", option: OptionOpt = None,
          timeout: TimeoutOpt = 120.0, as_json: JsonOpt = False) -> None:
    """Training-free pre-filter only: params, FLOPs, proxies and a combined score per file.

    Example: archagent score --task digits a.py b.py c.py --json
    """
    scores = api.score(task_from(task, option), read_sources(files), timeout_s=timeout)
    rows = [{"file": str(f), **s.as_dict()} for f, s in zip(files, scores, strict=True)]
    emit(rows, as_json, ["file", "status", "params", "flops", "synflow", "nwot", "score"])


def fingerprint(files: Files, task: Annotated[str | None, typer.Option(help="also build: graph_key")] = None,
                option: OptionOpt = None, timeout: TimeoutOpt = 120.0, as_json: JsonOpt = False) -> None:
    """Dedup fingerprints per file: text_key, code_key and (with --task) graph_key.

    Example: archagent fingerprint --task digits a.py b.py --json
    """
    resolved = task_from(task, option) if task else None
    rows = []
    for f, code in zip(files, read_sources(files), strict=True):
        fp = api.fingerprint(code, resolved, timeout_s=timeout).as_dict()
        if resolved is None:
            fp.pop("graph_key")
        rows.append({"file": str(f), **fp})
    emit(rows, as_json, ["file", "text_key", "code_key", "graph_key", "error"])


COMMANDS = {"evaluate": evaluate, "score": score, "fingerprint": fingerprint}
