"""From a campaign to a usable model: `final` (multi-seed re-evaluation) and `export`.

    archagent final digits-demo --top 3 --seeds 3            # retrain, report mean ± sd, val and test
    archagent export 17 --out winner/ --weights --onnx       # model.py + weights + ONNX
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from archagent.agent.cli.options import DEFAULT_STORE, JsonOpt, StoreOpt, console
from archagent.agent.cli.review import CandidateId
from archagent.evals.final_stats import Comparison, FinalRow
from archagent.knowledge.store import Store
from rich.table import Table


def writable_store(path: Path) -> Store:
    if not path.exists():
        raise FileNotFoundError(f"no knowledge store at {path} (run a campaign first, or pass --store)")
    return Store(path)


def final(
    campaign: Annotated[str, typer.Argument(help="campaign name")],
    top: Annotated[int, typer.Option(help="how many of the best candidates to retrain")] = 3,
    seeds: Annotated[int, typer.Option(help="training seeds per candidate")] = 3,
    epochs: Annotated[int | None, typer.Option(help="epochs per run (default: the task's recipe)")] = None,
    store: StoreOpt = DEFAULT_STORE,
    as_json: JsonOpt = False,
) -> None:
    """Retrain the top candidates (and the best seed architecture) with several seeds; report mean ± sd.

    Validation decides the ranking; the test metric is computed once, here, and shown apart.
    Runs in the sandbox through the campaign's executor; finished (candidate, seed) runs are kept,
    so an interrupted final evaluation resumes.

    Example: archagent final digits-demo --top 3 --seeds 3 --epochs 30
    """
    from archagent.agent.final import FinalEvaluation

    st = writable_store(store)
    fe = FinalEvaluation(st, campaign)
    if not as_json:
        fe.on_run = progress_line(fe.task.metric_name)
        console.print(f"final evaluation of '{campaign}': {len(fe.todo(fe.plan(top, seeds, epochs)))} run(s) to train")
    rows = fe.run(top, seeds, epochs)
    if as_json:
        print(json.dumps([row_json(r) for r in rows], indent=2))
    else:
        console.print(final_table(rows, fe.task.metric_name))


def progress_line(metric_name: str):
    """An `on_run` hook printing one line per finished run."""

    def show(run, key, ev) -> None:
        kept = "" if run is not None else " (infrastructure failure: retried on the next `final`)"
        console.print(f"  #{key.candidate_id} seed {key.seed}: {ev.status} {metric_name} {_f(ev.metric)} "
                      f"test {_f(ev.test_metric)}{kept}")

    return show


def row_json(row: FinalRow) -> dict:
    return asdict(row)


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def final_table(rows: list[FinalRow], metric_name: str) -> Table:
    """Mean ± sd per candidate; test apart from the selection metric; gaps vs the winner and the reference."""
    t = Table("rank", "id", "role", "seeds", f"val {metric_name}", "search run", "test (reported only)", "params",
              "FLOPs", "train s", "Δ vs winner", "Δ vs reference", title="final evaluation (ranked by validation)",
              caption="real: the gap exceeds the seed spread (Welch's t-test, p < 0.05); noise: it does not")
    for i, r in enumerate(rows, start=1):
        t.add_row(str(i), f"#{r.candidate_id}", r.role, f"{r.val.n}" + (f" ({r.failed} failed)" if r.failed else ""),
                  str(r.val), _f(r.search_metric), str(r.test), _n(r.params), _n(r.flops),
                  "-" if r.train_s.mean is None else f"{r.train_s.mean:.1f}", _gap(r.vs_winner), _gap(r.vs_reference))
    return t


def _gap(c: Comparison | None) -> str:
    if c is None:
        return "-"
    p = "" if c.p_value is None else f" p={c.p_value:.2g}"
    return f"{c.delta:+.4f}{p} {'real' if c.exceeds_spread else 'noise'}"


def _n(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def export(
    candidate_id: CandidateId,
    out: Annotated[Path, typer.Option("--out", help="folder to write into (created if missing)")],
    weights: Annotated[bool, typer.Option("--weights", help="also the trained weights (safetensors)")] = False,
    onnx: Annotated[bool, typer.Option("--onnx", help="also an ONNX graph (made in the sandbox)")] = False,
    store: StoreOpt = DEFAULT_STORE,
    as_json: JsonOpt = False,
) -> None:
    """Write a candidate as a standalone model.py (+ weights from `archagent final`, + ONNX).

    Example: archagent export 17 --out winner/ --weights --onnx
    """
    from archagent.agent.export import export as do_export

    result = do_export(writable_store(store), candidate_id, out, weights=weights, onnx=onnx)
    if as_json:
        print(json.dumps(result.as_dict()))
        return
    for kind, path in result.files.items():
        console.print(f"{kind:8} {path}")
    if result.reproduced is not None:
        verdict = "[green]reproduced[/]" if result.reproduced else "[red]NOT reproduced[/]"
        console.print(f"{verdict}: {result.detail}")


COMMANDS = {"final": final, "export": export}
