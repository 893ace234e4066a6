"""`archagent report` on a finished example campaign trained for real (HTML and Markdown).

    pytest tests/test_report.py
"""

from __future__ import annotations

import re

import pytest
from archagent.agent.cli import app
from archagent.knowledge.store import Store
from typer.testing import CliRunner

NAME = "digits-replay"  # tests/conftest.py: finished_campaign


@pytest.fixture(scope="session")
def example_store(finished_campaign):
    return finished_campaign[0].store


def test_html_report_is_self_contained_and_complete(example_store, tmp_path):
    out = tmp_path / "report.html"
    res = CliRunner().invoke(app, ["report", NAME, "--store", str(example_store), "--out", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert not re.search(r'(src|href)="(https?:|//|/[^/])', html)  # nothing fetched from anywhere: opens offline
    for section in ("progress", "funnel", "pareto", "prefilter", "lineage", "usage", "top", "config"):
        assert f'id="{section}"' in html
    assert html.count("data:image/png;base64,") >= 4  # best-so-far, funnel, pareto, usage
    cands = Store(example_store).candidates(1)
    trained = [c for c in cands if c.metric is not None]
    if any(c.flops for c in trained):
        assert "FLOPs: not available" not in html and "<h3>accuracy vs flops</h3>\n<table>" in html
    else:
        assert "not available: no trained candidate has flops" in html
    scored = [c for c in trained if c.prefilter_score is not None]
    assert ("Kendall τ = " if len(scored) >= 3 else "τ = n/a" if scored else "no trained candidate has a pre-filter") \
        in html
    targets = set(re.findall(r'id="([^"]+)"', html))
    links = set(re.findall(r'href="#([^"]+)"', html))
    assert links and links <= targets  # every in-page link (top-10 code/diff, lineage nodes) lands
    best = max(trained, key=lambda c: c.metric)
    assert f'href="#cand-{best.id}"' in html and f'id="diff-{best.id}"' in html


def test_markdown_report_writes_its_plots(example_store, tmp_path):
    out = tmp_path / "report.md"
    res = CliRunner().invoke(app, ["report", NAME, "--store", str(example_store), "--out", str(out)])
    assert res.exit_code == 0, res.output
    md = out.read_text()
    pngs = re.findall(r"\]\((report_plots/\w+\.png)\)", md)
    assert {"report_plots/best_so_far.png", "report_plots/lineage.png"} <= set(pngs)
    for rel in pngs:
        assert (tmp_path / rel).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "```diff" in md and "| rank | id |" in md
