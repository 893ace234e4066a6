"""Single-file tools: `evaluate`, `score` and `fingerprint` (docs/contracts.md §3).

    archagent evaluate --task digits model.py --json
    archagent score --task digits a.py b.py --json
    archagent fingerprint --task digits a.py b.py --json
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from evals.fingerprint import code_key, text_key
from evals.predictor import RankCombiner
from evals.tasks import get_task
from knowledge.records import Status
from sandbox.judge import Evaluation, Evaluator
from sandbox.limits import SandboxLimits
from sandbox.runner import SubprocessRunner

console = Console()
Files = Annotated[list[Path], typer.Argument(help="candidate .py files")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object per file")]
TimeoutOpt = Annotated[float, typer.Option(help="wall-clock limit per sandbox job, seconds")]
OptionOpt = Annotated[list[str] | None, typer.Option("--option", "-o", help="task option KEY=VALUE (repeatable)")]


def task_from(name: str, options: list[str] | None):
    """The task with `KEY=VALUE` options; values are TOML literals (3, 0.5, "x", [1, 2]) or plain strings."""
    parsed = {}
    for item in options or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"task option '{item}' is not KEY=VALUE")
        try:
            parsed[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed[key.strip()] = value
    return get_task(name, parsed)


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
             timeout: TimeoutOpt = 300.0, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Fully evaluate one candidate file in the sandbox, exactly as a campaign would."""
    from agent.pipeline import evaluate_once

    (code,) = read_sources([file])
    c = evaluate_once(code, task_from(task, option), SandboxLimits(timeout_s=timeout))
    ok = c.status == Status.OK
    out = {"file": str(file), "status": "ok" if ok else str(c.failure_kind), "metric": c.metric,
           "test_metric": c.test_metric, "params": c.params, "flops": c.flops, "error": c.failure_msg,
           "graph_key": c.graph_key, "proxies": c.proxies, "timings": c.timings}
    if as_json:
        print(json.dumps(out))
    else:
        emit([out], False, ["file", "status", "metric", "test_metric", "params", "flops", "error"])
    if not ok:
        raise typer.Exit(1)


def score(files: Files, task: Annotated[str, typer.Option(help="task name")] = "digits", option: OptionOpt = None,
          timeout: TimeoutOpt = 120.0, as_json: JsonOpt = False) -> None:
    """Training-free pre-filter only: params, FLOPs, proxies and a combined score per file."""
    ev = Evaluator(task_from(task, option), SubprocessRunner(timeout, threads=2))
    probes = [ev.evaluate(code, "probe") for code in read_sources(files)]
    scores = combined_scores(probes)
    rows = [{"file": str(f), **p.proxies, "status": p.status, "params": p.params, "flops": p.flops,
             "score": s, "error": p.failure_msg} for f, p, s in zip(files, probes, scores, strict=True)]
    emit(rows, as_json, ["file", "status", "params", "flops", "synflow", "nwot", "score"])


def combined_scores(probes: list[Evaluation]) -> list[float | None]:
    """Default-weight rank combination of the proxies, ranked among the files given."""
    ok = [p.proxies for p in probes if p.ok]
    combiner = RankCombiner().fit(ok, [float("nan")] * len(ok))
    values = iter(combiner.score(ok))
    return [float(next(values)) if p.ok else None for p in probes]


def fingerprint(files: Files, task: Annotated[str | None, typer.Option(help="also build: graph_key")] = None,
                option: OptionOpt = None, timeout: TimeoutOpt = 120.0, as_json: JsonOpt = False) -> None:
    """Dedup fingerprints per file: text_key, code_key and (with --task) graph_key."""
    evaluator = Evaluator(task_from(task, option), SubprocessRunner(timeout, threads=2)) if task else None
    rows = []
    for f, code in zip(files, read_sources(files), strict=True):
        row = {"file": str(f), "text_key": text_key(code), "code_key": None, "error": None}
        try:
            row["code_key"] = code_key(code)
        except SyntaxError as err:
            row["error"] = f"syntax error: line {err.lineno}: {err.msg}"
        if evaluator is not None:
            probe = evaluator.evaluate(code, "probe", proxies=False)
            row["graph_key"] = probe.graph_key
            row["error"] = row["error"] or probe.failure_msg
        rows.append(row)
    emit(rows, as_json, ["file", "text_key", "code_key", "graph_key", "error"])


def register(app: typer.Typer) -> None:
    for fn in (evaluate, score, fingerprint):
        app.command()(fn)
