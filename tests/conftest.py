"""Shared fixtures: a finished replay campaign on digits with a short recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import parse_config

FIXTURES = Path(__file__).parent / "fixtures"


def replay_config(tmp: Path, name: str = "replay-demo", proposals: int = 6, **extra) -> dict:
    data = {
        "name": name,
        "store": str(tmp / "store.db"),
        "task": {"name": "digits", "options": {"epochs": 2}},
        "budget": {"proposals": proposals},
        "backends": [{"kind": "replay", "path": str(FIXTURES / "digits_replay.jsonl")}],
        "sandbox": {"timeout_s": 120},
    }
    data.update(extra)
    return data


@pytest.fixture(scope="session")
def finished_campaign(tmp_path_factory):
    """A real 6-proposal campaign (replay backend, real sandbox, real training): (config, summary)."""
    from agent.loop import Campaign

    tmp = tmp_path_factory.mktemp("campaign")
    cfg = parse_config(replay_config(tmp))
    events: list[tuple[str, int]] = []
    summary = Campaign(cfg, on_event=lambda e, c: events.append((e, c.id))).run()
    return cfg, summary, events
