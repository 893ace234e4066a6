"""Campaign reports: data from the store, matplotlib plots, HTML and Markdown.

    archagent report digits-demo --out report.html
"""

from archagent.evals.report.data import ReportData, gather
from archagent.evals.report.render import render_html, render_markdown, write_report

__all__ = ["ReportData", "gather", "render_html", "render_markdown", "write_report"]
