"""Retrieval: the cards that answer a parent's shortcomings, weighted by this campaign's outcomes.

    index = IdeaIndex(load_cards())
    picked = retrieve(index, gaps, outcomes, k=1, rng=random.Random(parent.id))

Cards are indexed in an in-memory SQLite FTS5 table (porter stemming) over their
name, tags, mechanism and when-it-helps text. The query ORs the shortcomings'
terms (`Shortcomings.terms`); each matching card's relevance is its negated bm25
score (tags weigh most), normalised to the best match. Its score is that times the
card's outcome weight (`CardOutcome.weight`), so cards whose children improved on
their parents rise and cards whose children failed sink. Cards for another input
family are never returned; cards the parent's lineage already tried come last, after
every untried card, matched or not. Without any query term, untried cards rank by
weight alone. Ties are broken by `rng` (seeded per parent: varied, reproducible),
or by card id.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Mapping, Sequence

from archagent.knowledge.ideas.cards import IdeaCard
from archagent.knowledge.ideas.outcomes import CardOutcome
from archagent.knowledge.ideas.signals import Shortcomings

# bm25 column weights: id (not indexed), name, tags, mechanism, helps_when
BM25_WEIGHTS = (0.0, 2.0, 4.0, 1.0, 1.5)
UNUSED = CardOutcome()


def fts5_available() -> bool:
    """Whether this Python's sqlite3 has FTS5 compiled in (CPython's bundled SQLite does)."""
    try:
        sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE t USING fts5(x)")
    except sqlite3.OperationalError:
        return False
    return True


class IdeaIndex:
    """An FTS5 index of a card set (built once; safe to share between proposer threads)."""

    def __init__(self, cards: Sequence[IdeaCard]):
        self.cards = {c.id: c for c in cards}
        self._lock = threading.Lock()
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute("CREATE VIRTUAL TABLE cards USING fts5(id UNINDEXED, name, tags, mechanism, helps_when, "
                        "tokenize = 'porter unicode61')")
        rows = [(c.id, c.name, " ".join(c.tags), c.mechanism, c.helps_when) for c in cards]
        with self.db:
            self.db.executemany("INSERT INTO cards VALUES (?, ?, ?, ?, ?)", rows)

    def relevance(self, terms: Sequence[str]) -> dict[str, float]:
        """Card id -> relevance in (0, 1] (best match 1) for cards matching any term; {} without terms."""
        if not terms:
            return {}
        query = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        sql = f"SELECT id, bm25(cards, {', '.join(map(str, BM25_WEIGHTS))}) FROM cards WHERE cards MATCH ?"
        with self._lock:
            rows = self.db.execute(sql, [query]).fetchall()
        scores = {cid: -score for cid, score in rows}
        top = max(scores.values(), default=0.0)
        return {cid: (s / top if top > 0 else 1.0) for cid, s in scores.items()}


def retrieve(index: IdeaIndex, gaps: Shortcomings, outcomes: Mapping[str, CardOutcome], k: int,
             rng: random.Random | None = None) -> tuple[IdeaCard, ...]:
    """The `k` best cards for these shortcomings, best first (fewer only if the family has fewer cards)."""
    relevance = index.relevance(gaps.terms())
    eligible = [c for c in index.cards.values() if c.applies(gaps.family)]
    tiebreak = {c.id: (rng.random() if rng else 0.0) for c in eligible}

    def key(c: IdeaCard) -> tuple:
        weight = outcomes.get(c.id, UNUSED).weight
        matched = c.id in relevance or not relevance
        return (c.id in gaps.tried, not matched, -relevance.get(c.id, 1.0) * weight, tiebreak[c.id], c.id)

    return tuple(sorted(eligible, key=key)[:k])
