"""Commands around the knowledge loop: `backends check`, `export-replay` and `ideas`.

    archagent backends check examples/digits.toml
    archagent export-replay digits-demo --out demo.jsonl [--store archagent.db]
    archagent ideas digits-demo [--used] [--json]
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer
from archagent.agent.cli.options import DEFAULT_STORE, JsonOpt, StoreOpt, console, open_store, task_of
from archagent.agent.config import BackendConfig, load_config
from archagent.agent.llm import LLMError, make_backend, preflight
from rich.markup import escape
from rich.table import Table

CHECK_MESSAGES = [{"role": "user", "content": "Reply with the single word OK."}]


@dataclass(frozen=True)
class CheckResult:
    index: int
    kind: str
    model: str
    ok: bool
    latency_s: float | None
    detail: str  # the reply's start, or the exact error


def check_backend(index: int, cfg: BackendConfig) -> CheckResult:
    """One tiny request through a configured backend: its latency, or the exact error."""
    from archagent.agent.baselines import BASELINE_KINDS

    model = str(cfg.model or cfg.path or "(default)")
    if cfg.kind in BASELINE_KINDS:
        return CheckResult(index, cfg.kind, model, True, None, "no LLM: a non-LLM baseline")
    try:
        preflight(cfg)
        backend = make_backend(cfg)
        try:
            reply = backend.complete(CHECK_MESSAGES, temperature=0.0, max_tokens=8)
        finally:
            backend.close()
    except LLMError as err:
        return CheckResult(index, cfg.kind, model, False, None, f"{type(err).__name__}: {err}")
    return CheckResult(index, cfg.kind, reply.model, True, reply.latency_s, " ".join(reply.text.split())[:60])


def check(config: Annotated[Path, typer.Argument(help="campaign config (TOML)")], as_json: JsonOpt = False) -> None:
    """Send one tiny request per configured backend; report latency or the exact error (exit 1 if any fails).

    Example: archagent backends check examples/digits.toml
    """
    results = [check_backend(i, b) for i, b in enumerate(load_config(config).backends)]
    if as_json:
        for r in results:
            print(json.dumps(asdict(r)))
    else:
        table = Table("#", "kind", "model", "status", "latency", "reply / error")
        for r in results:
            latency = "-" if r.latency_s is None else f"{r.latency_s:.2f} s"
            table.add_row(str(r.index), r.kind, r.model, "ok" if r.ok else "[red]FAILED[/]", latency, escape(r.detail))
        console.print(table)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def export_replay(
    campaign: Annotated[str, typer.Argument(help="campaign name")],
    out: Annotated[Path, typer.Option("--out", help="replay file to write (JSONL)")],
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Write a campaign's LLM replies as a replay file for an exact re-run with the replay backend.

    Example: archagent export-replay digits-demo --out replies.jsonl
    """
    from archagent.agent.replay_export import export_replay as write_replay

    summary = write_replay(open_store(store), campaign, out)
    parts = ", ".join(f"{n} {p}" for p, n in sorted(summary.by_purpose.items())) or "no replies"
    console.print(f"wrote {summary.rows} replies ({parts}) to {out}", highlight=False)
    if summary.skipped_errors:
        console.print(f"[yellow]left out {summary.skipped_errors} calls that ended in an error: "
                      "a re-run will not reproduce their failures[/]")


def ideas(
    campaign: Annotated[str, typer.Argument(help="campaign name")],
    store: StoreOpt = DEFAULT_STORE,
    used: Annotated[bool, typer.Option("--used", help="only the cards the campaign used")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Each idea card's record in a campaign: uses, validity (share that trained) and improvement rate
    (share that beat their parents); used cards first.

    Example: archagent ideas digits-demo --used
    """
    from archagent.knowledge.ideas.usage import campaign_usage

    st = open_store(store)
    camp = st.campaign(campaign)
    rows = campaign_usage(st, camp.id, task_of(camp).higher_is_better, unused=not used)
    if as_json:
        for r in rows:
            o = r.outcome
            print(json.dumps({"card": r.id, "name": r.name, "origin": r.origin, "uses": o.uses, "valid": o.valid,
                              "improved": o.improved, "validity": o.validity, "improvement_rate": o.improvement_rate}))
        return
    table = Table(title=f"{camp.name}: idea cards (validity: trained ok; improvement: beat their parents)")
    table.add_column("card", no_wrap=True)
    table.add_column("name")
    for col in ("uses", "validity", "improvement"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        o = r.outcome
        table.add_row(r.id, escape(r.name), str(o.uses), _share(o.validity, o.valid),
                      _share(o.improvement_rate, o.improved))
    console.print(table)


def _share(rate: float | None, n: int) -> str:
    return "-" if rate is None else f"{100 * rate:.0f}% ({n})"


COMMANDS = {"export-replay": export_replay, "ideas": ideas}
backends = typer.Typer(no_args_is_help=True, help="Configured LLM backends.")
backends.command("check")(check)
