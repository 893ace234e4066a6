"""Rich rendering for the CLI: live campaign progress, tables, candidate views."""

from __future__ import annotations

import time
from collections import Counter

from archagent.knowledge.records import Candidate, Status
from archagent.sandbox.untrusted import for_terminal, printable
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


def fmt_metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def fmt_int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


class LiveProgress:
    """The `archagent run` display: counts, best metric, elapsed, last events."""

    def __init__(self, name: str, budget: int, higher_is_better: bool, metric_name: str):
        self.name, self.budget, self.higher, self.metric_name = name, budget, higher_is_better, metric_name
        self.counts: Counter[str] = Counter()
        self.best: Candidate | None = None
        self.recent: list[str] = []
        self.t0 = time.monotonic()
        self.live = Live(self.render(), refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.live.update(self.render())
        self.live.__exit__(*exc)

    def on_event(self, event: str, cand: Candidate) -> None:
        if event == "running":
            self.recent = [*self.recent, f"#{cand.id} training ({cand.backend})"][-5:]
        else:
            self._count(event, cand)
        self.live.update(self.render())

    def _count(self, event: str, cand: Candidate) -> None:
        if cand.backend != "seed":
            self.counts["proposed"] += 1
        self.counts[{"ok": "trained", "failed": "invalid", "duplicate": "duplicate"}.get(event, event)] += 1
        if cand.status == Status.OK and cand.metric is not None and (
            self.best is None or (cand.metric > self.best.metric) == self.higher and cand.metric != self.best.metric
        ):
            self.best = cand
        detail = fmt_metric(cand.metric) if cand.status == Status.OK else str(cand.failure_kind or cand.status)
        self.recent = [*self.recent, f"#{cand.id} {cand.status} {detail}"][-5:]

    def render(self) -> Panel:
        t = Table.grid(padding=(0, 2))
        t.add_row("proposed", f"{self.counts['proposed']}/{self.budget}", "duplicate", str(self.counts["duplicate"]))
        t.add_row("invalid", str(self.counts["invalid"]), "trained", str(self.counts["trained"]))
        best = "-" if self.best is None else f"{fmt_metric(self.best.metric)} (#{self.best.id})"
        t.add_row(f"best {self.metric_name}", best, "elapsed", f"{time.monotonic() - self.t0:.0f} s")
        return Panel(Group(t, Text("\n".join(self.recent), style="dim")), title=f"archagent: {self.name}")


def leaderboard(cands: list[Candidate], metric_name: str) -> Table:
    t = Table(title=None)
    for col in ("id", "status", metric_name, "test", "params", "FLOPs", "parents", "backend", "failure"):
        t.add_column(col, justify="right" if col in ("id", metric_name, "test", "params", "FLOPs") else "left")
    for c in cands:
        last = (printable(c.failure_msg).splitlines() or [""])[-1][:50]
        failure = f"{c.failure_kind}: {for_terminal(last)}" if c.failure_kind else ""
        if c.status == Status.DUPLICATE:
            failure = f"same as #{c.duplicate_of}"
        t.add_row(str(c.id), str(c.status), fmt_metric(c.metric), fmt_metric(c.test_metric), fmt_int(c.params),
                  fmt_int(c.flops), ",".join(map(str, c.parent_ids)), c.backend, failure)
    return t
