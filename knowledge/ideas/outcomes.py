"""This campaign's record per idea card: uses, how many trained, how many beat their parents.

    outcomes = card_outcomes(cands, Objective(), higher=True)        # in memory (the proposal path)
    outcomes = store_outcomes(store, campaign_id, Objective(), True)  # one light query (CLI, report)

A use is a finished proposal that carried the card (pending and running ones do
not count yet); it is valid when it trained (status ok) and improved when it beat
every scored parent under the campaign's objective (`knowledge.fitness.improves`).
`weight` turns the record into the multiplier retrieval applies: 1 for an unused
card, towards 2 for one whose children keep improving, towards 0 for one whose
children keep failing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from archagent.knowledge.fitness import Objective, improves
from archagent.knowledge.records import Candidate, Status
from archagent.knowledge.store import Store

FINISHED = frozenset({Status.OK, Status.FAILED, Status.DUPLICATE, Status.FILTERED})


@dataclass(frozen=True)
class CardOutcome:
    uses: int = 0  # finished proposals that carried the card
    valid: int = 0  # of them, trained ok
    improved: int = 0  # of them, beat every scored parent

    @property
    def validity(self) -> float | None:
        return self.valid / self.uses if self.uses else None

    @property
    def improvement_rate(self) -> float | None:
        return self.improved / self.uses if self.uses else None

    @property
    def weight(self) -> float:
        """Retrieval multiplier: 2·(improved+1)/(uses+2) · (valid+1)/(uses+1); 1 for an unused card."""
        return 2.0 * (self.improved + 1) / (self.uses + 2) * (self.valid + 1) / (self.uses + 1)

    def add(self, valid: bool, improved: bool) -> CardOutcome:
        return CardOutcome(self.uses + 1, self.valid + valid, self.improved + improved)


def card_outcomes(cands: Iterable[Candidate], objective: Objective, higher: bool,
                  by_id: Mapping[int, Candidate] | None = None) -> dict[str, CardOutcome]:
    """Card id -> its outcome over these candidates; parents are looked up in `by_id` (default: `cands`)."""
    cands = list(cands)
    by_id = by_id if by_id is not None else {c.id: c for c in cands}
    out: dict[str, CardOutcome] = {}
    for c in cands:
        if not c.idea or c.status not in FINISHED:
            continue
        ok = c.status == Status.OK
        parents = [by_id[p] for p in c.parent_ids if p in by_id]
        out[c.idea] = out.get(c.idea, CardOutcome()).add(ok, ok and improves(c, parents, objective, higher))
    return out


_ROWS = """
SELECT c.id, c.idea, c.status, c.metric, c.params, p.id, p.metric, p.params
FROM candidates c LEFT JOIN candidate_parents e ON e.child_id = c.id LEFT JOIN candidates p ON p.id = e.parent_id
WHERE c.campaign_id = ? AND c.idea IS NOT NULL ORDER BY c.id
"""


def store_outcomes(store: Store, campaign_id: int, objective: Objective, higher: bool) -> dict[str, CardOutcome]:
    """`card_outcomes` over a campaign in the store, from light rows (no code); {} for a store without ideas."""
    try:
        rows = store.db.execute(_ROWS, [campaign_id]).fetchall()
    except sqlite3.OperationalError as err:  # a read-only store from before the `idea` column
        if "no such column" in str(err) or "no such table" in str(err):
            return {}
        raise
    kids: dict[int, Candidate] = {}
    parents: dict[int, Candidate] = {}
    for cid, idea, status, metric, params, pid, pmetric, pparams in rows:
        kid = kids.get(cid) or Candidate(cid, campaign_id, "", Status(status), (), metric=metric, params=params,
                                         idea=idea)
        if pid is not None:
            parents[pid] = Candidate(pid, campaign_id, "", Status.OK, metric=pmetric, params=pparams)
            kid = replace(kid, parent_ids=(*kid.parent_ids, pid))
        kids[cid] = kid
    return card_outcomes(kids.values(), objective, higher, parents)
