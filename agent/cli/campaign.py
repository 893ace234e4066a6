"""Running campaigns: `run` and `status`.

    archagent run examples/digits.toml
    archagent status [--store archagent.db] [--json]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from archagent.agent.cli.options import DEFAULT_STORE, JsonOpt, StoreOpt, console, open_store, task_of
from archagent.agent.config import CampaignConfig, load_config
from archagent.agent.display import LiveProgress, PlainProgress, Tally, clock, fmt_int, fmt_metric
from archagent.agent.prefilter import ranking_quality_of
from archagent.evals.final_stats import Spread, summarize
from archagent.knowledge.lock import is_held
from archagent.knowledge.records import Campaign, Candidate
from archagent.knowledge.store import Store
from rich.table import Table


def run(config: Annotated[Path, typer.Argument(help="campaign config (TOML)")]) -> None:
    """Start a campaign, or resume it if its store already has it.

    Example: archagent run examples/digits.toml
    """
    from archagent.agent.loop import Campaign

    cfg = load_config(config)
    say(f"[dim]{plan_line(cfg)}[/]")
    campaign = Campaign(cfg)
    progress = progress_for(campaign)
    campaign.on_event = progress.on_event
    try:
        with progress:
            summary = campaign.run()
    except KeyboardInterrupt:
        say("interrupted — run the same command to resume")
        exit_now(130, campaign)
    best, task = summary.best, campaign.task
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items()))
    say(f"[bold]{summary.campaign}[/]: {summary.stop_reason} after {summary.elapsed_s:.0f} s in all "
        f"(this run {summary.run_s:.0f} s); candidates: {counts}")
    if best:
        say(f"best: #{best.id} {task.metric_name} {fmt_metric(best.metric)} "
            f"(test {fmt_metric(best.test_metric)}, {fmt_int(best.params)} params)")
    if line := discovery_line(campaign.population.ranked(), task.higher_is_better):
        say(line)
    say(f"[dim]review: archagent list {cfg.name} --store {cfg.store}[/]")
    exit_now(0, campaign)  # an LLM reply dropped at the time limit may still hold a thread: the limit is the limit


def discovery_line(ranked: list[Candidate], higher: bool) -> str | None:
    """The best proposal against the best seed: did the search find what the task's seeds do not have?"""
    seed = next((c for c in ranked if c.backend == "seed"), None)
    found = next((c for c in ranked if c.backend != "seed"), None)
    if seed is None or found is None:
        return None
    gain = (found.metric - seed.metric) * (1 if higher else -1)
    return (f"best proposal #{found.id} ({found.operator or found.backend}) {fmt_metric(found.metric)} vs best seed "
            f"#{seed.id} ({seed.seed_name}) {fmt_metric(seed.metric)}: {gain:+.4f}"
            + (" better" if gain > 0 else " (the seed is still best)" if gain < 0 else " (a tie)"))


def exit_now(status: int, campaign: Campaign) -> NoReturn:
    """End the process at once: everything is stored and the run is marked finished or interrupted, and what
    is left (an abandoned LLM thread still reading its prompt or the network, the interpreter's teardown of
    torch and litellm: seconds to a minute on a busy machine) is not worth waiting for."""
    campaign.store.close()  # the last connection: SQLite folds the WAL into the database file
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def say(line: str) -> None:
    """One line, never wrapped (a pipe gets whole lines)."""
    console.print(line, highlight=False, soft_wrap=True)


def plan_line(cfg: CampaignConfig) -> str:
    """What the run will do, said before it starts: task, proposals, time limit, LLM cap."""
    b = cfg.budget
    task = f"task {cfg.task.name}" + ("" if "task" in cfg.model_fields_set
                                      else " (the default: the config has no [task])")
    limits = [f"stops by {b.wall_time_s / 60:.1f} min of wall time in all (earlier runs count)"
              ] if b.wall_time_s else []
    limits += [f"at most {b.llm_calls} LLM calls"] if b.llm_calls else []
    return f"{cfg.name}: {task}, at most {b.proposals} proposals" + "".join(f", {x}" for x in limits)


def progress_for(campaign) -> LiveProgress | PlainProgress:
    """The live box on a terminal; one plain line per event otherwise. Both count the whole campaign."""
    cfg, task, st = campaign.cfg, campaign.task, campaign.store
    tally = Tally(task.higher_is_better, st.counts(campaign.id, seeds=False), next(iter(
        st.top(campaign.id, task.higher_is_better, 1)), None))
    if not console.is_terminal:
        return PlainProgress(campaign.elapsed_s, tally, cfg.budget.proposals,
                             lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
    return LiveProgress(cfg.name, cfg.budget.proposals, task.metric_name, tally, campaign.elapsed_s,
                        cfg.budget.wall_time_s, campaign.requests, console)


def status(store: StoreOpt = DEFAULT_STORE, as_json: JsonOpt = False) -> None:
    """Campaigns in a store: state, counts, best metric, LLM usage.

    Example: archagent status --store archagent.db --json
    """
    st = open_store(store)
    rows = []
    for camp in st.campaigns():
        higher = task_of(camp).higher_is_better
        top = st.top(camp.id, higher, 1)
        state, reason = campaign_state(st, camp)
        rows.append({"campaign": camp.name, "task": camp.task, "state": state, "reason": reason,
                     "counts": st.counts(camp.id), "best_metric": top[0].metric if top else None,
                     "prefilter": ranking_quality_of(st.prefilter_pairs(camp.id), higher),
                     "final": final_winner(st, camp.id, higher), "budget": budget_use(st, camp),
                     "wall_s": st.run_seconds(camp.id),
                     **st.totals(camp.id)})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for i, r in enumerate(rows):
        console.print(("\n" if i else "") + f"[bold]{r['campaign']}[/] (task {r['task']}): {r['state']}"
                      + (f" — {r['reason']}" if r["reason"] else ""), highlight=False)
        console.print(status_grid(r))


def status_grid(r: dict) -> Table:
    """One campaign's numbers as `key  value` rows: readable at 80 columns (long values wrap)."""
    q, (used, cap), calls_cap = r["prefilter"], r["budget"]["proposals"], r["budget"]["llm_calls"]
    t = Table.grid(padding=(0, 2))
    t.add_column(style="dim", no_wrap=True)
    t.add_column(overflow="fold")
    t.add_row("proposals", f"{used} / {cap}" if cap else str(used))
    t.add_row("candidates", " ".join(f"{k}={v}" for k, v in sorted(r["counts"].items())) or "none")
    t.add_row("wall time", clock(r["wall_s"]) + (f" of {clock(wall)}" if (wall := r["budget"]["wall_time_s"]) else ""))
    t.add_row("best", fmt_metric(r["best_metric"]))
    t.add_row("final", final_cell(r["final"]) + ("  (val ± sd / test)" if r["final"] else "  (not run)"))
    t.add_row("LLM", f"{r['calls']} call{'' if r['calls'] == 1 else 's'}" + (f" of {calls_cap}" if calls_cap else "")
              + f", {fmt_int(r['tokens'])} tokens" + (f", ${r['cost_usd']:.4f}" if r.get("cost_usd") else ""))
    trained, eps = q["trained"], q["epsilon"]
    t.add_row("pre-filter", f"τ {fmt_metric(trained['kendall_tau'])}, ρ {fmt_metric(trained['spearman_rho'])} "
              f"(n={trained['n']}); ε-random τ {fmt_metric(eps['kendall_tau'])} (n={eps['n']})")
    return t


def budget_use(st: Store, camp: Campaign) -> dict:
    """Proposals counted against the budget (trained or failed: seeds and repeats are free) and the LLM-call cap."""
    budget = json.loads(camp.config_json or "{}").get("budget", {})
    counts = st.counts(camp.id, seeds=False)
    used = sum(n for status, n in counts.items() if status != "duplicate")
    return {"proposals": [used, budget.get("proposals")], "llm_calls": budget.get("llm_calls"),
            "wall_time_s": budget.get("wall_time_s")}


def final_winner(st: Store, campaign_id: int, higher: bool) -> dict | None:
    """The final evaluation's winner (`archagent final`): id, seeds, val and test mean ± sd; None if not run."""
    runs = st.final_runs(campaign_id)
    rows = summarize(runs, {c.id: c for c in st.by_ids({r.candidate_id for r in runs})}, higher) if runs else []
    if not rows or rows[0].val.mean is None:
        return None
    w = rows[0]
    return {"candidate_id": w.candidate_id, "seeds": w.val.n, "val_mean": w.val.mean, "val_sd": w.val.sd,
            "test_mean": w.test.mean, "test_sd": w.test.sd}


def final_cell(w: dict | None) -> str:
    if w is None:
        return "-"
    return f"#{w['candidate_id']} {Spread(w['val_mean'], w['val_sd'], w['seeds'])} / {fmt_metric(w['test_mean'])}"


def campaign_state(st: Store, camp: Campaign) -> tuple[str, str | None]:
    """(state, why): a `running` campaign whose lock is free has lost its process (kill -9, power cut)."""
    run = st.last_run(camp.id)
    if camp.state == "running" and not is_held(st.path, camp.id):
        return "stopped", "its process died without finishing; run it again to resume"
    return camp.state, run.reason if run and camp.state == "failed" else None


COMMANDS = {"run": run, "status": status}
