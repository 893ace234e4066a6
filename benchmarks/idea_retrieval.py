"""Idea-card retrieval cost: loading and indexing the cards, one FTS5 retrieval, and the proposal path's
`IdeaLibrary.for_parent` over an in-memory population of N candidates (outcomes recounted each call).

    python benchmarks/idea_retrieval.py [--population 100 1000 10000] [--calls 200]

Prints one line per measurement (milliseconds). The proposal path calls `for_parent` once per LLM proposal,
which takes tens of seconds on a CPU: anything under a few milliseconds here is noise beside it.
"""

from __future__ import annotations

import argparse
import random
import time

from archagent.agent.ideas import IdeaLibrary, IdeasConfig
from archagent.knowledge.fitness import Objective
from archagent.knowledge.ideas.cards import builtin_cards, load_cards
from archagent.knowledge.ideas.search import IdeaIndex, retrieve
from archagent.knowledge.ideas.signals import Budget, Shortcomings
from archagent.knowledge.records import Candidate, FailureKind, Status


def population(n: int, rng: random.Random) -> list[Candidate]:
    """A synthetic campaign: every candidate a child of an earlier one, a third carrying a card."""
    ids = [c.id for c in builtin_cards()]
    out = [Candidate(1, 1, "", Status.OK, metric=0.8, params=20_000, history=[2.0, 0.3])]
    for i in range(2, n + 1):
        ok = rng.random() < 0.7
        out.append(Candidate(i, 1, "", Status.OK if ok else Status.FAILED, (rng.randrange(1, i),),
                             metric=rng.uniform(0.6, 0.95) if ok else None, params=rng.randrange(1_000, 100_000),
                             history=[2.0, rng.uniform(0.01, 1.0)] if ok else [],
                             failure_kind=None if ok else FailureKind.SHAPE,
                             idea=rng.choice(ids) if rng.random() < 0.33 else None))
    return out


def timed(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--population", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--calls", type=int, default=200)
    args = ap.parse_args()
    start = time.perf_counter()
    cards = load_cards()
    print(f"load {len(cards)} cards (first read): {(time.perf_counter() - start) * 1000:.1f} ms")
    print(f"build the FTS5 index: {timed(lambda: IdeaIndex(cards), 20):.2f} ms")
    index = IdeaIndex(cards)
    gaps = Shortcomings("signal", ("overfit", "near_budget", "failure:shape"))
    print(f"retrieve (3 signals, k=1): {timed(lambda: retrieve(index, gaps, {}, 1), args.calls):.3f} ms")
    library = IdeaLibrary(cards, IdeasConfig(), Objective())
    budget = Budget(100_000, "signal")
    rng = random.Random(0)
    for n in args.population:
        pop = population(n, rng)
        calls = max(3, args.calls * 100 // n)
        ms = timed(lambda pop=pop: library.for_parent(rng.choice(pop), pop, budget), calls)
        print(f"for_parent over {n:,} candidates: {ms:.2f} ms")


if __name__ == "__main__":
    main()
