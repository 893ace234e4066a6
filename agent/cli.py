"""The `archagent` command line.

    archagent run examples/digits.toml
    archagent status
    archagent list digits-demo
    archagent show 7
    archagent evaluate --task digits my_model.py --json
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.syntax import Syntax

from agent.config import CampaignConfig, ConfigError, load_config
from agent.display import LiveProgress, fmt_int, fmt_metric, leaderboard
from agent.llm import LLMError
from agent.prefilter import ranking_quality
from evals.tasks import Task, TaskError, get_task
from knowledge.records import Campaign, Status, ranked
from knowledge.store import Store, StoreError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="LLM-driven neural-architecture discovery.")
console = Console()
USER_ERRORS = (ConfigError, StoreError, TaskError, LLMError, FileNotFoundError, ValueError)
StoreOpt = Annotated[Path, typer.Option("--store", envvar="ARCHAGENT_STORE", help="knowledge store (SQLite file)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def fail(message: str) -> None:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


def open_store(path: Path) -> Store:
    if not path.exists():
        fail(f"no knowledge store at {path} (run a campaign first, or pass --store)")
    return Store(path)


@app.command()
def run(config: Annotated[Path, typer.Argument(help="campaign config (TOML)")]) -> None:
    """Start a campaign, or resume it if its store already has it."""
    from agent.loop import Campaign

    cfg = load_config(config)
    b = cfg.budget
    console.print(f"[dim]{cfg.name}: {b.proposals} proposals" + (f", stops by {b.wall_time_s / 60:.1f} min wall time"
                  if b.wall_time_s else "") + (f", at most {b.llm_calls} LLM calls" if b.llm_calls else "") + "[/]")
    campaign = Campaign(cfg)
    progress = LiveProgress(cfg.name, cfg.budget.proposals, campaign.task.higher_is_better, campaign.task.metric_name)
    campaign.on_event = progress.on_event
    with progress:
        summary = campaign.run()
    best = summary.best
    console.print(f"[bold]{summary.campaign}[/]: {summary.stop_reason} after {summary.elapsed_s:.0f} s; "
                  f"counts {dict(summary.counts)}")
    if best:
        console.print(f"best: #{best.id} {campaign.task.metric_name} {fmt_metric(best.metric)} "
                      f"(test {fmt_metric(best.test_metric)}, {fmt_int(best.params)} params)")


@app.command()
def status(store: StoreOpt = Path("archagent.db"), as_json: JsonOpt = False) -> None:
    """Campaigns in a store: state, counts, best metric, LLM usage."""
    st = open_store(store)
    rows = []
    for camp in st.campaigns():
        cands, higher = st.candidates(camp.id), task_of(camp).higher_is_better
        best = (max if higher else min)((c.metric for c in cands if c.status == Status.OK and c.metric is not None),
                                        default=None)
        budget = json.loads(camp.config_json).get("budget", {})
        counted = sum(1 for c in cands if c.backend != "seed" and c.status != Status.DUPLICATE)
        rows.append({"campaign": camp.name, "task": camp.task, "state": camp.state, "counts": st.counts(camp.id),
                     "budget": {"proposals": [counted, budget.get("proposals")], "llm_calls": budget.get("llm_calls")},
                     "best_metric": best, "prefilter": ranking_quality(cands, higher), **st.totals(camp.id)})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    t = Table("campaign", "task", "state", "candidates", "proposals / budget", "best", "LLM calls", "tokens",
              "pre-filter τ / ρ (ε-random)")
    for r in rows:
        counts = " ".join(f"{k}={v}" for k, v in sorted(r["counts"].items()))
        q = r["prefilter"]
        quality = (f"{fmt_metric(q['trained']['kendall_tau'])} / {fmt_metric(q['trained']['spearman_rho'])} "
                   f"n={q['trained']['n']} ({fmt_metric(q['epsilon']['kendall_tau'])}, n={q['epsilon']['n']})")
        used, cap = r["budget"]["proposals"], r["budget"]["llm_calls"]
        t.add_row(r["campaign"], r["task"], r["state"], counts, f"{used[0]} / {used[1]}", fmt_metric(r["best_metric"]),
                  f"{r['calls']}" + (f" / {cap}" if cap else ""),
                  fmt_int(r["tokens"]), quality)
    console.print(t)


@app.command("list")
def list_(
    campaign: Annotated[str, typer.Argument(help="campaign name")],
    store: StoreOpt = Path("archagent.db"),
    status_: Annotated[list[Status] | None, typer.Option("--status", help="only these statuses")] = None,
    sort: Annotated[str, typer.Option(help="id | metric | params")] = "metric",
    limit: Annotated[int, typer.Option(help="rows to show (0 = all)")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Leaderboard of a campaign's candidates."""
    st = open_store(store)
    camp = st.campaign(campaign)
    task = task_of(camp)
    cands = st.candidates(camp.id, *(status_ or []))
    cands = sort_candidates(cands, sort, task.higher_is_better)[: limit or None]
    if as_json:
        print(json.dumps([candidate_json(c) for c in cands], indent=2))
    else:
        console.print(leaderboard(cands, task.metric_name))


def task_of(camp: Campaign) -> Task:
    """The campaign's task, built from its stored config (options included)."""
    cfg = CampaignConfig.model_validate_json(camp.config_json)
    return get_task(cfg.task.name, cfg.task.options)


def sort_candidates(cands, key: str, higher_is_better: bool):
    if key == "id":
        return sorted(cands, key=lambda c: c.id)
    if key == "params":
        return sorted(cands, key=lambda c: (c.params is None, c.params or 0, c.id))
    if key != "metric":
        raise ValueError(f"unknown sort key '{key}' (use id, metric or params)")
    best = ranked(cands, higher_is_better)
    scored = {c.id for c in best}
    return best + sorted((c for c in cands if c.id not in scored), key=lambda c: c.id)


def candidate_json(c) -> dict:
    d = asdict(c)
    d["status"], d["failure_kind"] = str(c.status), c.failure_kind and str(c.failure_kind)
    return d


@app.command()
def show(
    candidate_id: Annotated[int, typer.Argument(help="candidate id")],
    store: StoreOpt = Path("archagent.db"),
    prompt: Annotated[bool, typer.Option("--prompt", help="also print the prompt and reply that produced it")] = False,
    as_json: JsonOpt = False,
) -> None:
    """One candidate: code, metrics, proxies, failure, lineage."""
    st = open_store(store)
    c = st.candidate(candidate_id)
    call = st.llm_call(c.llm_call_id) if c.llm_call_id else None
    if as_json:
        d = candidate_json(c)
        if prompt and call:
            d["prompt"], d["reply"] = json.loads(call.prompt), call.reply
        print(json.dumps(d, indent=2))
        return
    console.print(f"[bold]candidate #{c.id}[/] [{c.status}] backend={c.backend} parents={list(c.parent_ids)}")
    console.print(f"metric {fmt_metric(c.metric)}  test {fmt_metric(c.test_metric)}  params {fmt_int(c.params)}  "
                  f"FLOPs {fmt_int(c.flops)}")
    if c.failure_kind:
        console.print(f"[red]{c.failure_kind}[/]: {c.failure_msg}")
    if c.duplicate_of:
        console.print(f"duplicate of #{c.duplicate_of} (matched on {c.matched_on})")
    if c.proxies:
        console.print("proxies: " + ", ".join(f"{k}={v:.3g}" for k, v in sorted(c.proxies.items())))
    if c.code:
        console.print(Syntax(c.code, "python", line_numbers=True))
    if prompt and call:
        for m in json.loads(call.prompt):
            console.rule(m["role"])
            console.print(m["content"], markup=False, highlight=False)
        console.rule("reply")
        console.print(call.reply, markup=False, highlight=False)


def main() -> None:
    """Entry point: user mistakes become one red line and exit status 2."""
    try:
        app(standalone_mode=True)
    except USER_ERRORS as err:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {err}", highlight=False)
        sys.exit(2)


from agent import cli_tools, commands_knowledge, review  # noqa: E402  (commands defined in their own modules)

cli_tools.register(app)
review.register(app)
commands_knowledge.register(app)


if __name__ == "__main__":
    main()
