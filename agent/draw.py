"""One proposal's inputs: what a proposer asks the sampler for (`Plan`), and what one sampler call yields (`Draw`).

    plan = proposer.plan(population)                  # main thread: which operator, how many parents
    draw = population.draw(rng, plan, kind)           # ONE sampler call: island, parents, exemplars, insights, ideas
    proposal = proposer.propose(draw, record_call)    # every operator reads its inputs from the draw

A `Draw` is immutable and is the only thing an operator reads about the
campaign: the parents it shows or edits (and the island they came from, which
the candidate records), the prompt's results, failures, insights and
directive, the idea cards chosen for it, and the campaign's candidates as they
were at draw time (`members`: what the non-LLM arms read instead of the
store). Nothing on the proposal path reads the store; `seen` is the one live
view: the population's in-memory dedup index, asked when a reply arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archagent.agent.prompting import Exemplar, PromptContext
from archagent.knowledge.records import Candidate, Status

Seen = Callable[[str], int | None]  # code -> id of an earlier candidate with the same text/code key, or None
# An idea card of the idea library (knowledge/ideas.py, issue 23 item 2); empty until a retriever is set
IdeaCard = Any


def never_seen(code: str) -> int | None:
    return None


@dataclass(frozen=True)
class Plan:
    """What a proposer wants from the sampler for its next proposal."""

    operator: str | None = None  # the arm (edit, crossover, rewrite, mutation); None: a plain proposer
    n_parents: int | None = None  # parents to draw; None: the prompt's exemplar count for the backend kind
    other_cells: bool = False  # each further parent from another MAP-Elites cell than the first (crossover)
    llm: bool = True  # the proposal asks an LLM (it runs on an LLM thread; False: inline, no LLM)
    recorded: tuple[int | str, ...] | None = None  # replay: the parents the row names (ids or text keys)
    island: int | None = None  # replay: the island the row was drawn from


@dataclass(frozen=True)
class Draw:
    """One sampler call's result, used by every operator of one proposal."""

    ctx: PromptContext  # the prompt's material; ctx.parents are the parents, ctx.island their island
    operator: str | None = None  # the arm it was drawn for
    ideas: tuple[IdeaCard, ...] = ()  # idea cards retrieved for these parents (knowledge.ideas)
    members: tuple[Candidate, ...] = ()  # the campaign's candidates at draw time, in id order
    seen: Seen = field(default=never_seen, compare=False, repr=False)

    @property
    def parents(self) -> tuple[Candidate, ...]:
        return self.ctx.parents

    @property
    def exemplars(self) -> list[Exemplar]:
        return self.ctx.exemplars

    @property
    def island(self) -> int | None:
        return self.ctx.island

    @property
    def insights(self) -> list[str]:
        return self.ctx.insights

    def parent_ids(self) -> tuple[int, ...]:
        return tuple(p.id for p in self.parents if p.id is not None)


class Members:
    """A draw's `members` read the way the baselines read a campaign (`candidates`, `find_duplicate`).

    The random and evolution proposers were written against the store's queries; this answers the same
    two from the snapshot, so they make exactly the proposals they made from the store, without reading it.
    """

    def __init__(self, members: tuple[Candidate, ...]):
        self.members = members
        self._keys: dict[tuple[str, str], int] = {}
        for c in members:
            if c.status != Status.DUPLICATE:
                for name in ("text_key", "code_key", "graph_key"):
                    if getattr(c, name):
                        self._keys.setdefault((name, getattr(c, name)), c.id)

    def __enter__(self) -> Members:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def candidates(self, campaign_id: int, *statuses: Status) -> list[Candidate]:
        return [c for c in self.members if not statuses or c.status in statuses]

    def find_duplicate(self, campaign_id: int, *, text_key: str | None = None, code_key: str | None = None,
                       graph_key: str | None = None) -> tuple[int, str] | None:
        """The earliest non-duplicate member sharing a key, tried in this order: (id, key name), or None."""
        for name, value in (("text_key", text_key), ("code_key", code_key), ("graph_key", graph_key)):
            if value and (name, value) in self._keys:
                return self._keys[(name, value)], name
        return None
