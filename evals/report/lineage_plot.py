"""The lineage graph of a campaign's top architectures, drawn with matplotlib (no graphviz).

    from archagent.evals.report.lineage_plot import lineage_svg
    svg = lineage_svg(data, top=10, href=lambda cid: f"/candidate/{cid}")

Nodes are the top-`top` candidates plus their first-parent ancestors (up to 6
back), placed left to right by generation (seeds first) and coloured by metric; edges run from each
parent to its child (arrowheads on the lines), the first parent solid, co-parents dashed; one scatter and
two line collections, so a figure of ~70 nodes draws in well under a second. In the SVG,
every node label links to `href(id)`.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from archagent.evals.report.data import ReportData  # noqa: E402
from archagent.evals.report.plots import Plot, to_png  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

Href = Callable[[int], str]


def layout(data: ReportData, top: int, depth: int = 6) -> dict[int, tuple[float, float]]:
    """Node id → (x = generation rank, y = row): the top candidates and up to `depth` first-parent ancestors each."""
    lin = data.lineage
    keep: set[int] = set()
    for c in data.ranked()[:top]:
        keep |= {a for a in lin.chain(c.id)[: depth + 1] if a in lin.by_id}
    columns: dict[int, list[int]] = defaultdict(list)
    for cid in sorted(keep):
        columns[lin.generation(cid)].append(cid)
    height = max((len(v) for v in columns.values()), default=1)
    return {cid: (x, (height - 1) / 2 - row) for x, gen in enumerate(sorted(columns))
            for row, cid in enumerate(columns[gen])}


def lineage_figure(data: ReportData, top: int = 10, href: Href | None = None) -> Figure | None:
    pos = layout(data, top)
    if not pos:
        return None
    gens = 1 + max(x for x, _ in pos.values())
    rows = 1 + max(sum(1 for x2, _ in pos.values() if x2 == x) for x, _ in pos.values())
    fig, ax = plt.subplots(figsize=(max(4.0, 2.2 * gens), max(2.5, 0.8 * rows)))
    _edges(ax, data, pos)
    _nodes(ax, data, pos, href)
    ax.set_axis_off()
    ax.margins(0.15, 0.2)
    return fig


def _edges(ax, data: ReportData, pos: dict[int, tuple[float, float]]) -> None:
    """Parent → child edges as two line collections (first parents solid, co-parents dashed) plus arrowheads."""
    first, co = [], []
    for cid, (x, y) in pos.items():
        for i, p in enumerate(data.lineage.by_id[cid].parent_ids):
            if p in pos:
                (first if i == 0 else co).append((pos[p], (x, y)))
    ax.add_collection(LineCollection(first, colors="#555", linewidths=1.2, zorder=1))
    ax.add_collection(LineCollection(co, colors="#bbb", linewidths=1.2, linestyles="--", zorder=1))
    heads = [(a[0] + 0.78 * (b[0] - a[0]), a[1] + 0.78 * (b[1] - a[1])) for a, b in first + co]
    if heads:
        ax.scatter(*zip(*heads, strict=True), marker=">", s=30, color="#555", zorder=2)


def _nodes(ax, data: ReportData, pos: dict[int, tuple[float, float]], href: Href | None) -> None:
    ids = sorted(pos)
    cands = [data.lineage.by_id[i] for i in ids]
    metrics = [c.metric for c in cands if c.metric is not None]
    lo, hi = (min(metrics), max(metrics)) if metrics else (0.0, 1.0)
    cmap = plt.get_cmap("viridis" if data.higher_is_better else "viridis_r")
    shades = [cmap(0.5 if c.metric is None or hi == lo else (c.metric - lo) / (hi - lo)) for c in cands]
    ax.scatter([pos[i][0] for i in ids], [pos[i][1] for i in ids], s=420, color=shades, edgecolors="#333", zorder=3)
    for c in cands:
        x, y = pos[c.id]
        metric = "" if c.metric is None else f"\n{c.metric:.3f}"
        text = ax.text(x, y - 0.28, f"#{c.id}{' seed' if c.backend == 'seed' else ''}{metric}", ha="center",
                       va="top", fontsize=8, color="#1a4d8f" if href else "#222")
        if href:
            text.set_url(href(c.id))


def lineage_svg(data: ReportData, top: int = 10, href: Href | None = None) -> str | None:
    """Inline SVG markup (no XML prolog), or None when nothing has been trained."""
    fig = lineage_figure(data, top, href)
    if fig is None:
        return None
    buf = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none"}):  # <text> elements, not glyph paths: ~5x faster, smaller
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def lineage_plot(data: ReportData, top: int = 10) -> Plot:
    title = f"Lineage of the top {top} architectures"
    fig = lineage_figure(data, top)
    if fig is None:
        return Plot("lineage", title, note="not available: no candidate has been trained yet")
    return Plot("lineage", title, to_png(fig), "arrows run parent → child; dashed: co-parent exemplars")
