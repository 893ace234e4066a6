"""Running campaigns: `run` and `status`.

    archagent run examples/digits.toml
    archagent status [--store archagent.db] [--json]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from archagent.agent.cli.options import DEFAULT_STORE, JsonOpt, StoreOpt, console, open_store, task_of
from archagent.agent.config import load_config
from archagent.agent.display import LiveProgress, fmt_int, fmt_metric
from archagent.agent.prefilter import ranking_quality_of
from archagent.evals.final_stats import Spread, summarize
from archagent.knowledge.lock import is_held
from archagent.knowledge.records import Campaign
from archagent.knowledge.store import Store


def run(config: Annotated[Path, typer.Argument(help="campaign config (TOML)")]) -> None:
    """Start a campaign, or resume it if its store already has it.

    Example: archagent run examples/digits.toml
    """
    from archagent.agent.loop import Campaign

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
                     **st.totals(camp.id)})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    t = Table("campaign", "task", "state", "candidates", "proposals / budget", "best", "final (val ± sd / test)",
              "LLM calls", "tokens", "pre-filter τ / ρ (ε-random)")
    for r in rows:
        counts = " ".join(f"{k}={v}" for k, v in sorted(r["counts"].items()))
        q = r["prefilter"]
        quality = (f"{fmt_metric(q['trained']['kendall_tau'])} / {fmt_metric(q['trained']['spearman_rho'])} "
                   f"n={q['trained']['n']} ({fmt_metric(q['epsilon']['kendall_tau'])}, n={q['epsilon']['n']})")
        state = r["state"] + (f": {r['reason']}" if r["reason"] else "")
        (used, cap), calls_cap = r["budget"]["proposals"], r["budget"]["llm_calls"]
        t.add_row(r["campaign"], r["task"], state, counts, f"{used} / {cap}", fmt_metric(r["best_metric"]),
                  final_cell(r["final"]), f"{r['calls']}" + (f" / {calls_cap}" if calls_cap else ""),
                  fmt_int(r["tokens"]), quality)
    console.print(t)


def budget_use(st: Store, camp: Campaign) -> dict:
    """Proposals counted against the budget (trained or failed: seeds and repeats are free) and the LLM-call cap."""
    budget = json.loads(camp.config_json or "{}").get("budget", {})
    counts = st.counts(camp.id, seeds=False)
    used = sum(n for status, n in counts.items() if status != "duplicate")
    return {"proposals": [used, budget.get("proposals")], "llm_calls": budget.get("llm_calls")}


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
