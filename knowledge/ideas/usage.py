"""Each card's record in one campaign, for `archagent ideas`, the report and the candidate pages.

    rows = campaign_usage(store, campaign, higher_is_better=True)   # used cards first, then the unused ones
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from archagent.knowledge.fitness import Objective
from archagent.knowledge.ideas.cards import IdeaCard, IdeaCardError, load_cards
from archagent.knowledge.ideas.outcomes import CardOutcome, store_outcomes
from archagent.knowledge.records import Campaign
from archagent.knowledge.store import Store


@dataclass(frozen=True)
class CardUsage:
    id: str
    name: str  # "(not in the library)" for a card the campaign used that cannot be found now
    outcome: CardOutcome
    origin: str = "builtin"


def campaign_library(camp: Campaign) -> dict[str, IdeaCard]:
    """The cards a campaign could draw from: the packaged ones and its config's folder (if still readable)."""
    folder = (_config(camp).get("ideas") or {}).get("folder")
    try:
        cards = load_cards(Path(folder) if folder else None)
    except IdeaCardError:
        cards = load_cards()
    return {c.id: c for c in cards}


def campaign_objective(camp: Campaign) -> Objective:
    search = _config(camp).get("search") or {}
    return Objective(search.get("objective", "metric"), search.get("size_penalty", 0.01))


def campaign_usage(store: Store, campaign: str | int, higher_is_better: bool, unused: bool = True) -> list[CardUsage]:
    """Every card of the campaign's library with its outcome: most used first (ties: improvement, id), then the
    cards never used (unless `unused` is False)."""
    camp = store.campaign(campaign)
    library = campaign_library(camp)
    outcomes = store_outcomes(store, camp.id, campaign_objective(camp), higher_is_better)
    ids = set(outcomes) | (set(library) if unused else set())
    rows = [CardUsage(i, library[i].name if i in library else "(not in the library)", outcomes.get(i, CardOutcome()),
                      library[i].origin if i in library else "?") for i in ids]
    return sorted(rows, key=lambda r: (-r.outcome.uses, -(r.outcome.improvement_rate or 0.0), r.id))


def _config(camp: Campaign) -> dict:
    try:
        data = json.loads(camp.config_json or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def idea_label(camp: Campaign, card_id: str) -> str:
    """`id — name` of a card a candidate of `camp` recorded (just the id when the card is not found now)."""
    card = campaign_library(camp).get(card_id)
    return f"{card_id} — {card.name}" if card else card_id
