"""Shared fixtures. Helpers live in tests/helpers/ (tests never import other test modules).

`finished_campaign` is THE real end-to-end campaign of the suite (replay backend, real
sandbox, real training, once per session): reports, the web app, review and the
campaign tests read it. Loop logic is tested on `tests/helpers/fake_executor.py`.
"""

from __future__ import annotations

import os

import pytest
from archagent.agent.config import parse_config

from tests.helpers.campaigns import replay_config

# Generated tasks (mnist1d) draw their held-out split from a secret (evals/tasks/heldout.py); the suite pins one,
# so its numbers are deterministic and no test writes a key into the real ~/.config.
os.environ.setdefault("ARCHAGENT_HELDOUT_SECRET", "archagent-test-suite")


@pytest.fixture(scope="session")
def finished_campaign(tmp_path_factory):
    """A real 6-proposal digits campaign (2 exemplars per prompt): (config, summary, events)."""
    from archagent.agent.loop import Campaign

    tmp = tmp_path_factory.mktemp("campaign")
    cfg = parse_config(replay_config(tmp, name="digits-replay", search={"n_exemplars": 2}))
    events: list[tuple[str, int]] = []
    summary = Campaign(cfg, on_event=lambda e, c: events.append((e, c.id))).run()
    return cfg, summary, events
