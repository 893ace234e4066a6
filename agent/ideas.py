"""The idea library as a campaign uses it: the `[ideas]` config section and the one call the proposal path makes.

    [ideas]
    enabled = true        # false: no card in any prompt (the "without ideas" ablation)
    k = 1                 # cards per proposal
    folder = "my_ideas"   # optional: your own cards (*.toml, same keys as prompts/ideas/), beside the packaged ones

    library = IdeaLibrary.from_config(cfg.ideas, Objective(...), cfg.seed)
    cards = library.for_parent(parent, population_candidates, Budget.of(task.spec, task.higher_is_better))

`for_parent` reads no store: it works on the candidates the caller already holds.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from archagent.knowledge.fitness import Objective
from archagent.knowledge.ideas.cards import IdeaCard, load_cards
from archagent.knowledge.ideas.outcomes import card_outcomes
from archagent.knowledge.ideas.search import IdeaIndex, retrieve
from archagent.knowledge.ideas.signals import Budget, shortcomings
from archagent.knowledge.records import Candidate
from pydantic import BaseModel, ConfigDict, Field

LINEAGE_DEPTH = 50  # first-parent ancestors whose cards count as already tried


class IdeasConfig(BaseModel):
    """`[ideas]`: idea cards retrieved per proposal from the parent's shortcomings (knowledge/ideas/)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    enabled: bool = True
    k: int = Field(1, ge=1, le=8)  # cards per prompt; more than a few crowd a small model's context
    folder: Path | None = Field(None, strict=False)  # the user's cards, relative to the config file


class IdeaLibrary:
    """The cards of one campaign (packaged + the user's folder), indexed once."""

    def __init__(self, cards: Sequence[IdeaCard], cfg: IdeasConfig, objective: Objective, seed: int = 0):
        self.cfg, self.objective, self.seed = cfg, objective, seed
        self.index = IdeaIndex(cards)

    @classmethod
    def from_config(cls, cfg: IdeasConfig, objective: Objective = Objective(), seed: int = 0) -> IdeaLibrary:
        """Load the cards; a bad folder or card raises `IdeaCardError` naming the file."""
        return cls(load_cards(cfg.folder), cfg, objective, seed)

    @property
    def cards(self) -> dict[str, IdeaCard]:
        return self.index.cards

    # --- HOOK for the proposal path (issue 23 item 4): the one call it makes per proposal ---------------
    def for_parent(self, parent: Candidate, cands: Sequence[Candidate], budget: Budget,
                   k: int | None = None) -> tuple[IdeaCard, ...]:
        """The cards to hand the LLM for a child of `parent`: retrieved from its shortcomings (its training
        gap, size against `budget`, its children's failures), its lineage's cards excluded, weighted by
        this campaign's outcomes over `cands` (the population in memory). () when ideas are disabled."""
        if not self.cfg.enabled:
            return ()
        by_id = {c.id: c for c in cands}
        children = [c for c in cands if parent.id in c.parent_ids]
        gaps = shortcomings(parent, children, budget, lineage_ideas(parent, by_id))
        outcomes = card_outcomes(cands, self.objective, budget.higher_is_better, by_id)
        rng = random.Random(f"ideas:{self.seed}:{parent.id}:{len(children)}")
        return retrieve(self.index, gaps, outcomes, k or self.cfg.k, rng)


def lineage_ideas(parent: Candidate, by_id: Mapping[int, Candidate], depth: int = LINEAGE_DEPTH) -> set[str]:
    """The cards the parent and its first-parent ancestors were made with (cycle-safe, at most `depth` back)."""
    out, seen, node = set(), set(), parent
    while node is not None and node.id not in seen and len(seen) <= depth:
        seen.add(node.id)
        if node.idea:
            out.add(node.idea)
        node = by_id.get(node.parent_ids[0]) if node.parent_ids else None
    return out


def retriever(library: IdeaLibrary, budget: Budget) -> Callable[[tuple[Candidate, ...], Any], tuple[IdeaCard, ...]]:
    """The population's per-proposal hook (`agent.population.IdeaRetriever`): cards for a child of the first
    parent, weighted by the outcomes of the population's members in memory (no store read)."""
    return lambda parents, population: library.for_parent(parents[0], tuple(population.members.values()), budget)
