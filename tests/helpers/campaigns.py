"""Campaign configs for tests: the replay backend on digits with a short (2-epoch) recipe."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROOT = FIXTURES.parents[1]


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
