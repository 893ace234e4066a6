"""A finished example campaign, built for real once per test session (shared by the review tests).

Seeds and replayed proposals from tests/fixtures/digits_replay.jsonl train in the
sandbox on digits with a 2-epoch recipe: about 1-2 minutes on a loaded 2-core machine.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from agent.config import parse_config
from agent.loop import Campaign

REPLAY = Path(__file__).parent / "fixtures" / "digits_replay.jsonl"
NAME = "digits-replay"


@cache
def finished_campaign(base: Path) -> Path:
    """Run the example campaign into `base/example.db` (once per process); returns the store path."""
    store = base / "example.db"
    cfg = parse_config({
        "name": NAME, "store": str(store), "task": {"name": "digits", "options": {"epochs": 2}},
        "budget": {"proposals": 6}, "search": {"n_exemplars": 2},
        "backends": [{"kind": "replay", "path": str(REPLAY)}],
    })
    Campaign(cfg).run()
    return store
