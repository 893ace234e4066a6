"""The report's plots: matplotlib (Agg) figures rendered to PNG, or SVG where nodes link.

    from archagent.evals.report.plots import all_plots
    for plot in all_plots(data):
        plot.title, plot.uri or plot.note   # data: URI to embed, or why it is not available

Every plot copes with missing data: it returns a `Plot` with `png=None` and a
one-line `note` instead of raising.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from archagent.evals.report.data import ReportData, TrainedPoint, kendall_tau  # noqa: E402
from archagent.evals.report.lineage import arch_name  # noqa: E402
from archagent.knowledge.fitness import Objective, rank  # noqa: E402
from archagent.knowledge.records import Candidate, Status  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import EngFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

SEED_COLOR, PROPOSAL_COLOR, FRONT_COLOR = "#7f7f7f", "#1f77b4", "#d62728"
MAX_POINTS = 2000  # scatter points per plot; bigger campaigns are thinned evenly (improvers and seeds kept)
MAX_LABELS = 8  # labelled Pareto-front points per axis (the table under the plot lists them all)


@dataclass(frozen=True)
class Plot:
    key: str  # file stem: best_so_far, funnel, pareto, prefilter, usage, curve
    title: str
    png: bytes | None = None
    note: str = ""  # shown under the plot, or instead of it when png is None
    svg: bytes | None = None  # a vector plot instead of the PNG (web pages)

    @property
    def uri(self) -> str | None:
        if self.svg is not None:
            return "data:image/svg+xml;base64," + base64.b64encode(self.svg).decode()
        return None if self.png is None else "data:image/png;base64," + base64.b64encode(self.png).decode()


def thin(items: list, n: int, keep: Callable[[object], bool] | None = None) -> list:
    """At most ~`n` items, evenly spaced, in order, plus every item `keep` marks (for plots of huge campaigns)."""
    if len(items) <= n:
        return list(items)
    stride = len(items) / n
    picked = {int(i * stride) for i in range(n)}
    return [x for i, x in enumerate(items) if i in picked or (keep is not None and keep(x))]


def to_png(fig: Figure, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def label(c: Candidate, width: int = 22) -> str:
    return f"#{c.id} {arch_name(c, width)}".strip()


def best_so_far(data: ReportData) -> Plot:
    title = f"Best {data.metric_name} so far vs trained candidates"
    rows = data.best_so_far()
    if not rows:
        return Plot("best_so_far", title, note="not available: no candidate has been trained yet")
    best = data.ranked()[0]
    return Plot("best_so_far", title, to_png(best_so_far_figure(data, rows)),
                f"best: #{best.id} {data.metric_name} {best.metric:.4f}")


def best_so_far_figure(data: ReportData, rows: list) -> Figure:
    """The best-so-far step line, the trained candidates as points, and a legend outside the axes (it covers
    no point, wherever the points are)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    steps = [r for i, r in enumerate(rows) if i in (0, len(rows) - 1) or r[1] != rows[i - 1][1]]
    ax.step([n for n, _, _ in steps], [b for _, b, _ in steps], where="post", color=FRONT_COLOR, label="best so far")
    for i, (_, curve) in enumerate(sorted(data.baselines.items())):
        ax.step(range(1, len(curve) + 1), curve, where="post", linestyle="--", color="0.55", alpha=0.8,
                label="random baseline" if i == 0 else None)  # one legend entry for all random campaigns
    improvers = data.improvers()
    shown = thin(rows, MAX_POINTS, keep=lambda r: r[2].seed or r[2].id in improvers)
    for seed in (True, False):
        pts = [(n, c.metric) for n, _, c in shown if c.seed == seed]
        if pts:
            ax.scatter(*zip(*pts, strict=True), s=22, zorder=3, color=SEED_COLOR if seed else PROPOSAL_COLOR,
                       label="seed" if seed else "proposal")
    ax.set(xlabel="trained candidates", ylabel=data.metric_name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8)
    return fig


def funnel(data: ReportData) -> Plot:
    f = data.funnel()
    stages = f.stages()
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    colors = ["#1f77b4", "#9467bd", "#d62728", "#ff7f0e", "#2ca02c", "#17becf"]
    ax.barh([n for n, _ in stages][::-1], [v for _, v in stages][::-1], color=colors[::-1])
    for i, (_, v) in enumerate(stages[::-1]):
        ax.text(v, i, f" {v}", va="center", fontsize=9)
    ax.set(xlabel="proposals")
    ax.margins(x=0.12)
    note = f"{f.in_progress} still in progress" if f.in_progress else ""
    return Plot("funnel", "Proposal funnel", to_png(fig), note)


def pareto(data: ReportData) -> Plot:
    ok = data.trained()
    costs = [k for k in ("params", "flops") if any(getattr(c, k) is not None for c in ok)]
    title = f"Pareto front: {data.metric_name} vs params and FLOPs"
    if not costs:
        return Plot("pareto", title, note="not available: no trained candidate has params or FLOPs")
    fig, axes = plt.subplots(1, len(costs), figsize=(6.4 * len(costs) / 1.3, 4.0), squeeze=False)
    notes = []
    full_records = [c for c in data.candidates if c.status == Status.OK and c.metric is not None]
    for ax, cost in zip(axes[0], costs, strict=True):
        front = data.front(cost)
        _pareto_axis(ax, thin(ok, MAX_POINTS), front, cost, data.metric_name)
        notes.append(f"{cost} front: " + ", ".join(label(c) for c in front))
        _objective_pick(ax, full_records, cost, data, notes)
    if "flops" not in costs:
        notes.append("FLOPs: not available")
    return Plot("pareto", title, to_png(fig), "; ".join(notes))


def _objective_pick(ax, ok: list[Candidate], cost: str, data: ReportData, notes: list[str]) -> None:
    """Star the best candidate under the campaign's size-aware objective (`search.objective`), if it has one.
    Its winner lies on the params Pareto front, whose full records the report data holds."""
    search = data.config.get("search", {})
    obj = Objective(search.get("objective", "metric"), search.get("size_penalty", 0.01))
    top = rank(ok, obj, data.higher_is_better)[:1] if obj.name != "metric" else []
    for c in (c for c in top if getattr(c, cost) is not None):
        ax.scatter([getattr(c, cost)], [c.metric], marker="*", s=160, color=FRONT_COLOR, edgecolor="black", zorder=4)
        if cost == "params":
            notes.append(f"best by objective '{obj.name}' (star): {label(c)}")


def _pareto_axis(ax, ok: list[TrainedPoint], front: list[Candidate], cost: str, metric: str) -> None:
    pts = [c for c in ok if getattr(c, cost) is not None]
    ax.scatter([getattr(c, cost) for c in pts], [c.metric for c in pts], s=18, color=PROPOSAL_COLOR, alpha=0.6)
    ax.step([getattr(c, cost) for c in front], [c.metric for c in front], where="post", color=FRONT_COLOR)
    ax.scatter([getattr(c, cost) for c in front], [c.metric for c in front], s=30, color=FRONT_COLOR, zorder=3)
    for c in front[-MAX_LABELS:]:  # the best (most expensive) end of a long front
        ax.annotate(label(c, 18), (getattr(c, cost), c.metric), fontsize=7, xytext=(4, -10),
                    textcoords="offset points")
    ax.set_xscale("log")
    log_ticks(ax.xaxis, [getattr(c, cost) for c in pts])
    ax.set(xlabel={"flops": "FLOPs per example"}.get(cost, cost), ylabel=metric)
    ax.grid(alpha=0.3)


def log_ticks(axis, values: list[float]) -> None:
    """Readable ticks on a log axis: 1-2-5 steps within ~2 decades (1 per decade beyond), labelled compactly
    (`30k`, `1.2M`), minor ticks unlabelled, so neighbouring labels never overlap."""
    lo, hi = min(values, default=1), max(values, default=1)
    decades = math.log10(max(hi, 1) / max(lo, 1))
    subs = (1.0, 2.0, 5.0) if decades < 2 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    axis.set_major_formatter(EngFormatter(sep="", places=None))
    axis.set_minor_formatter(NullFormatter())


def prefilter(data: ReportData) -> Plot:
    title = f"Pre-filter score vs final {data.metric_name}"
    pts = [c for c in data.trained() if c.prefilter_score is not None]
    if not pts:
        return Plot("prefilter", title, note="not available: no trained candidate has a pre-filter score")
    xs, ys = [c.prefilter_score for c in pts], [c.metric for c in pts]
    tau = kendall_tau(xs, ys)
    fig, ax = plt.subplots(figsize=(5.0, 3.8))
    shown = thin(pts, MAX_POINTS)
    ax.scatter([c.prefilter_score for c in shown], [c.metric for c in shown], s=22 if len(pts) < 500 else 4,
               color=PROPOSAL_COLOR)
    tau_txt = "τ = n/a (fewer than 3 points)" if tau is None else f"Kendall τ = {tau:.3f} (n = {len(xs)})"
    ax.set(xlabel="pre-filter score (higher = predicted better)", ylabel=data.metric_name, title=tau_txt)
    ax.grid(alpha=0.3)
    return Plot("prefilter", title, to_png(fig), tau_txt)


def usage(data: ReportData) -> Plot:
    title = "LLM tokens, cost and latency per backend"
    rows = data.usage()
    if not rows:
        return Plot("usage", title, note="not available: no LLM calls recorded")
    priced = any(r.cost_usd for r in rows)  # a free (local) model has no cost panel
    if not priced:
        title = "LLM tokens and latency per backend"
    return Plot("usage", title, to_png(usage_figure(rows, priced)), "" if priced else "cost: none (no priced model)")


def usage_figure(rows: list, priced: bool) -> Figure:
    """Tokens, cost (only when some model had a price) and mean latency per backend, one panel each."""
    fig, axes = plt.subplots(1, 3 if priced else 2, figsize=(9.6 if priced else 6.8, 2.8), squeeze=False)
    axes = list(axes[0])
    names = [r.backend for r in rows]
    axes[0].barh(names, [r.prompt_tokens for r in rows], label="prompt")
    axes[0].barh(names, [r.completion_tokens for r in rows], left=[r.prompt_tokens for r in rows], label="completion")
    axes[0].legend(fontsize=7)
    if priced:
        axes[1].barh(names, [r.cost_usd for r in rows], color="#2ca02c")
    axes[-1].barh(names, [r.mean_latency_s for r in rows], color="#ff7f0e")
    labels = ("tokens", *(("cost (USD)",) if priced else ()), "mean latency per call (s)")
    for ax, xl in zip(axes, labels, strict=True):
        ax.set_xlabel(xl)
    for ax in axes[1:]:
        ax.set_yticklabels([])
    return fig


def training_curve(c: Candidate) -> Plot:
    """A candidate's training-loss curve as a small inline SVG (no matplotlib: a web page draws it per request)."""
    hist = [float(v) for v in (c.history or []) if isinstance(v, int | float) and math.isfinite(v)]
    if not hist:
        return Plot("curve", "Training loss", note="not available: no training history recorded")
    w, h, pad = 480, 280, 44
    lo, hi = min(hist), max(hist)
    span, n = (hi - lo) or 1.0, max(len(hist) - 1, 1)
    pts = [(pad + i * (w - 2 * pad) / n, h - pad - (v - lo) * (h - 2 * pad) / span) for i, v in enumerate(hist)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{PROPOSAL_COLOR}"/>' for x, y in pts)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
           f'font-size="11"><rect width="{w}" height="{h}" fill="white"/>'
           f'<path d="M{pad},{pad / 2} V{h - pad} H{w - pad / 2}" stroke="#333" fill="none"/>'
           f'<polyline points="{line}" stroke="{PROPOSAL_COLOR}" stroke-width="2" fill="none"/>{dots}'
           f'<text x="{pad - 4}" y="{pad + 4}" text-anchor="end">{hi:.3g}</text>'
           f'<text x="{pad - 4}" y="{h - pad}" text-anchor="end">{lo:.3g}</text>'
           f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">epoch (1–{len(hist)})</text>'
           f'<text x="12" y="{h / 2}" transform="rotate(-90 12 {h / 2})" text-anchor="middle">training loss</text>'
           "</svg>")
    return Plot("curve", "Training loss", svg=svg.encode())


def all_plots(data: ReportData) -> list[Plot]:
    return [best_so_far(data), funnel(data), pareto(data), prefilter(data), usage(data)]
