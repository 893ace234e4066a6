"""A finished tiny campaign plus its final evaluation, built for real once per test process.

Digits with a 1-epoch recipe, the evolution baseline (no LLM), 3 proposals; then
`final --top 2 --seeds 2`. Shared by tests/test_final.py, test_export.py and test_api.py.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from archagent.agent.config import parse_config

NAME = "final-demo"


def campaign_config(base: Path, name: str = NAME, **extra) -> dict:
    return {"name": name, "store": str(base / "final.db"), "task": {"name": "digits", "options": {"epochs": 1}},
            "budget": {"proposals": 3}, "backends": [{"kind": "evolution"}], "sandbox": {"timeout_s": 120}, **extra}


@cache
def finished_campaign(base: Path) -> Path:
    """Run the campaign into `base/final.db` (once per process); returns the store path."""
    from archagent.agent.loop import Campaign

    cfg = parse_config(campaign_config(base))
    Campaign(cfg).run()
    return cfg.store


@cache
def finished_final(base: Path) -> Path:
    """The campaign above plus `final --top 2 --seeds 2`; returns the store path."""
    from archagent.agent.final import FinalEvaluation
    from archagent.knowledge.store import Store

    path = finished_campaign(base)
    store = Store(path)
    FinalEvaluation(store, NAME).run(top=2, seeds=2)
    store.close()
    return path
