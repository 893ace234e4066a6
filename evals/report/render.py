"""Render a campaign report: one self-contained HTML file, or Markdown with PNGs beside it.

    archagent report digits-demo --out report.html
    archagent report digits-demo --out report.md     # + report_plots/*.png

    from archagent.evals.report.render import write_report
    write_report(store, "digits-demo", Path("report.html"))
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2
from archagent.evals.report.data import ReportData, gather
from archagent.evals.report.lineage import arch_name, code_diff, no_parents
from archagent.evals.report.lineage_plot import layout, lineage_plot, lineage_svg
from archagent.evals.report.plots import all_plots
from archagent.knowledge.records import Candidate
from archagent.knowledge.store import Store
from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, PythonLexer

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class TopRow:
    rank: int
    cand: Candidate
    name: str
    parent: Candidate | None
    diff: str  # unified diff from the parent ('' for a seed)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(metric=fmt_metric, num=fmt_int, python_html=python_html, diff_html=diff_html,
                       fromjson=_fromjson, md=md_text, fenced=md_fenced)
    env.globals.update(pygments_css=Markup(HtmlFormatter(style="default").get_style_defs(".hl")), arch_name=arch_name,
                       no_parents=no_parents)
    return env


def _fromjson(text: str) -> list:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return [{"role": "prompt", "content": text}]


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~-])")


def md_text(value: object) -> str:
    """Candidate-controlled text for one Markdown line or table cell: HTML escaped (`<script>`, `<img onerror>`
    come out as text), Markdown punctuation backslash-escaped (no links, emphasis or cell breaks), one line."""
    one_line = " ".join(str(value if value is not None else "").split())
    return str(escape(_MD_SPECIAL.sub(r"\\\1", one_line)))


def md_fenced(text: str, lang: str = "") -> str:
    """A fenced code block that `text` cannot close: the fence is longer than any backtick run inside it
    (inside a code block Markdown renders no HTML)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def fmt_metric(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def fmt_int(value: int | float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def python_html(code: str) -> Markup:
    return Markup(highlight(code or "# (no code)", PythonLexer(), HtmlFormatter(cssclass="hl")))


def diff_html(diff: str) -> Markup:
    return Markup(highlight(diff or "(identical)\n", DiffLexer(), HtmlFormatter(cssclass="hl")))


def top_rows(data: ReportData, n: int) -> list[TopRow]:
    rows = []
    for rank, c in enumerate(data.ranked()[:n], start=1):
        pid = data.lineage.parent(c.id)
        parent = data.lineage.by_id.get(pid) if pid is not None else None
        rows.append(TopRow(rank, c, arch_name(c), parent, code_diff(parent, c) if parent else ""))
    return rows


def context(data: ReportData, top: int) -> dict:
    fronts = {cost: data.front(cost) for cost in ("params", "flops")}
    return dict(data=data, camp=data.campaign, funnel=data.funnel(), usage=data.usage(), rows=top_rows(data, top),
                plots=all_plots(data), fronts=fronts, top=top, best=(data.ranked() or [None])[0],
                counts=_counts(data), config=json.dumps(data.config, indent=2))


def _counts(data: ReportData) -> dict[str, int]:
    return dict(sorted(data.status_counts.items()))


def render_html(data: ReportData, top: int = 10) -> str:
    svg = lineage_svg(data, top, href=lambda cid: f"#cand-{cid}")
    ctx = context(data, top)
    targets = set(layout(data, top)) | {p for r in ctx["rows"] for p in r.cand.parent_ids}
    targets |= {c.id for cost in ctx["fronts"].values() for c in cost}
    top_ids = {r.cand.id for r in ctx["rows"]}
    extra = [c for c in data.candidates if c.id in targets - top_ids]
    return environment().get_template("report.html.j2").render(lineage_svg=Markup(svg) if svg else None,
                                                               link_targets=extra, anchored=targets | top_ids, **ctx)


def render_markdown(data: ReportData, plots_dir: Path, top: int = 10) -> str:
    """Markdown text; writes the plots as PNG files into `plots_dir` (linked relative to its parent)."""
    ctx = context(data, top)
    plots_dir.mkdir(parents=True, exist_ok=True)
    lineage = lineage_plot(data, top)
    for plot in [*ctx["plots"], lineage]:
        if plot.png is not None:
            (plots_dir / f"{plot.key}.png").write_bytes(plot.png)
    return environment().get_template("report.md.j2").render(plots_dir=plots_dir.name, lineage=lineage, **ctx)


def write_report(store: Store, campaign: str | int, out: Path, top: int = 10) -> Path:
    """Write `out` (.html: self-contained; .md: Markdown + `<stem>_plots/`); returns `out`."""
    if out.suffix not in (".html", ".htm", ".md"):
        raise ValueError(f"report file must end in .html or .md, not '{out.name}'")
    if not out.parent.exists():
        raise FileNotFoundError(f"folder {out.parent} does not exist")
    data = gather(store, campaign, top)
    if out.suffix == ".md":
        out.write_text(render_markdown(data, out.parent / f"{out.stem}_plots", top))
    else:
        out.write_text(render_html(data, top))
    return out
