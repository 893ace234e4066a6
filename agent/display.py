"""Rich rendering for the CLI: live campaign progress, tables, candidate views."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from archagent.agent.llm.activity import Requests
from archagent.knowledge.records import Candidate, Status
from archagent.sandbox.untrusted import for_terminal, printable
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


def fmt_metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def fmt_int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


FINISHED = {"ok": "trained", "failed": "invalid", "duplicate": "duplicates", "filtered": "filtered"}


def clock(seconds: float) -> str:
    """`1:05` / `12:00` / `1:02:03`."""
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def made_by(cand: Candidate) -> str:
    """How it was made, in words: `edit of #4`, `crossover of #4 + #7`, `rewrite`, `seed`."""
    if cand.backend == "seed":
        return "seed"
    how = cand.operator or cand.backend
    parents = " + ".join(f"#{p}" for p in cand.parent_ids)
    return f"{how} of {parents}" if parents and how in ("edit", "crossover", "mutation", "repair") else how


def describe(cand: Candidate) -> str:
    """A finished candidate in a few words: `#5 ok 0.9811 (edit of #4)`, `#6 duplicate of #3 (rewrite)`."""
    made = f" ({made_by(cand)})"
    if cand.status == Status.OK:
        return f"#{cand.id} ok {fmt_metric(cand.metric)}{made}"
    if cand.status == Status.DUPLICATE:
        return f"#{cand.id} duplicate of #{cand.duplicate_of}{made}"
    if cand.status == Status.FILTERED:
        return f"#{cand.id} filtered{made}" + (f": {cand.prefilter_reason}" if cand.prefilter_reason else "")
    return f"#{cand.id} {cand.status}{made}" + (f": {cand.failure_kind}" if cand.failure_kind else "")


class Tally:
    """A campaign's counts and best candidate, from the store at start and the events after (all its runs)."""

    def __init__(self, higher_is_better: bool, counts: dict[str, int] | None = None, best: Candidate | None = None):
        self.higher, self.best = higher_is_better, best
        self.counts: Counter[str] = Counter({FINISHED[k]: n for k, n in (counts or {}).items() if k in FINISHED})

    @property
    def proposals(self) -> int:
        """Proposals counted against the budget: trained, invalid or filtered (repeats are free)."""
        return self.counts["trained"] + self.counts["invalid"] + self.counts["filtered"]

    def add(self, event: str, cand: Candidate) -> None:
        if cand.backend != "seed" and event in FINISHED:
            self.counts[FINISHED[event]] += 1
        if cand.status == Status.OK and cand.metric is not None and (
            self.best is None or (cand.metric > self.best.metric) == self.higher and cand.metric != self.best.metric
        ):
            self.best = cand


class LiveProgress:
    """The `archagent run` display on a terminal: the campaign's counts (over all its runs), best metric,
    a clock that keeps moving, the LLM requests and trainings in flight, and the last events."""

    def __init__(self, name: str, budget: int, metric_name: str, tally: Tally, elapsed: Callable[[], float],
                 wall_s: float | None = None, requests: Requests | None = None, console: Console | None = None):
        self.name, self.budget, self.metric_name, self.tally = name, budget, metric_name, tally
        self.elapsed, self.wall_s, self.requests = elapsed, wall_s, requests
        self.training: dict[int, tuple[str, float]] = {}  # id -> (what, started)
        self.recent: list[str] = []
        self.live = Live(self, console=console, refresh_per_second=4, transient=False, redirect_stdout=False)

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.live.__exit__(*exc)

    def __rich__(self) -> Panel:  # Live re-renders this 4 times a second: the clock and the LLM line move
        return self.render()

    def on_event(self, event: str, cand: Candidate) -> None:
        if event == "running":
            self.training[cand.id] = (f"#{cand.id} ({made_by(cand)})", time.monotonic())
            return
        self.training.pop(cand.id, None)
        self.tally.add(event, cand)
        self.recent = [*self.recent, describe(cand)][-5:]

    def render(self) -> Panel:
        counts, best = self.tally.counts, self.tally.best
        t = Table.grid(padding=(0, 2))
        t.add_row("proposals", f"{self.tally.proposals}/{self.budget}", "trained", str(counts["trained"]),
                  "invalid", str(counts["invalid"]))
        t.add_row("duplicates", str(counts["duplicates"]), "filtered", str(counts["filtered"]),
                  "elapsed", clock(self.elapsed()) + (f" / {clock(self.wall_s)}" if self.wall_s else ""))
        t.add_row(f"best {self.metric_name}", "-" if best is None else f"{fmt_metric(best.metric)} (#{best.id})")
        lines = [Text(line, style="cyan") for line in self.in_flight()]
        lines += [Text(line, style="dim") for line in self.recent]
        # Two columns short of the terminal: the `^C` a terminal echoes after the box then stays on its last
        # line (a full-width box wraps it onto the next, and the next redraw leaves a second top border).
        return Panel(Group(t, *lines), title=Text(f"archagent: {self.name}"), title_align="left",
                     width=max(20, self.live.console.width - 2))

    def in_flight(self) -> list[str]:
        """One line per LLM request (what for, seconds, tokens so far) and per training, oldest first."""
        now = time.monotonic()
        out = [f"LLM {r.label} ({r.backend}): {r.seconds:.0f} s" + (f", {r.tokens} tokens" if r.tokens else "")
               for r in (self.requests.snapshot() if self.requests else [])]
        return out + [f"training {what}: {now - t0:.0f} s" for what, t0 in self.training.values()]


class PlainProgress:
    """The same events as one plain line each, for output that is not a terminal (a pipe, a file, CI)."""

    def __init__(self, elapsed: Callable[[], float], tally: Tally, budget: int, echo: Callable[[str], None]):
        self.elapsed, self.tally, self.budget, self.echo = elapsed, tally, budget, echo

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def on_event(self, event: str, cand: Candidate) -> None:
        if event == "running":
            line = f"training #{cand.id} ({made_by(cand)})"
        else:
            self.tally.add(event, cand)
            line = f"{describe(cand)}  [proposals {self.tally.proposals}/{self.budget}]"
        self.echo(f"{clock(self.elapsed()):>7}  {line}")


class Ticker:
    """`what… 12 s` on a terminal, its seconds moving while a long call runs (transient: gone when it ends)."""

    def __init__(self, console: Console, what: str):
        self.console, self.what, self.t0 = console, what, time.monotonic()
        self.live = Live(self, console=console, refresh_per_second=2, transient=True) if console.is_terminal else None

    def __rich__(self) -> Text:
        return Text(f"{self.what}… {time.monotonic() - self.t0:.0f} s", style="dim")

    def __enter__(self) -> Ticker:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.t0


def fmt_compact(value: int | None) -> str:
    """`19.7k`, `2.4M`: a count in 6 characters or fewer (tables at 80 columns)."""
    if value is None:
        return "-"
    for div, unit in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(value) >= div:
            return f"{value / div:.1f}{unit}"
    return str(value)


def leaderboard(cands: list[Candidate], metric_name: str) -> Table:
    """The candidates as a table that reads at 80 columns (`--json` has every field in full)."""
    t = Table(title=None)
    failures = any(c.failure_kind or c.status == Status.DUPLICATE for c in cands)
    for col in ("id", "status", metric_name, "test", "params", "FLOPs", "parents", "made by",
                *(("failure",) if failures else ())):
        numeric = col in ("id", metric_name, "test", "params", "FLOPs")
        t.add_column(col, justify="right" if numeric else "left", no_wrap=col != "failure",
                     overflow="fold" if col == "failure" else "ellipsis")
    for c in cands:
        last = (printable(c.failure_msg).splitlines() or [""])[-1][:50]
        failure = f"{c.failure_kind}: {for_terminal(last)}" if c.failure_kind else ""
        if c.status == Status.DUPLICATE:
            failure = f"same as #{c.duplicate_of}"
        made = "seed" if c.backend == "seed" else (c.operator or c.backend)
        t.add_row(str(c.id), str(c.status), fmt_metric(c.metric), fmt_metric(c.test_metric), fmt_compact(c.params),
                  fmt_compact(c.flops), ",".join(map(str, c.parent_ids)), made, *((failure,) if failures else ()))
    return t
