"""Which operator next: UCB1 on improvements per second, with a floor per arm.

    bandit = Bandit(["edit", "crossover", "rewrite", "mutation"], floor=0.1)
    arm = bandit.choose(pulls)   # pulls: every earlier Pull of this campaign, finished or not

A pull improved when its candidate beat its parent(s) on the campaign's
fitness; its cost is the seconds it took (LLM time + training time). An arm's
index is its UCB1 upper bound on the improvement rate divided by its mean
seconds per pull, so a slow LLM must improve proportionally more often than a
fast AST mutation to be chosen. Every arm is tried once first (in the given
order), and an arm whose share of pulls falls below `floor` is chosen next,
so a weak arm is used less but never starves. Stateless: the index is
recomputed from the pulls (read from the store), so a resumed campaign picks
up where it left off, and the same pulls always give the same choice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Pull:
    arm: str
    finished: bool
    improved: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class ArmStats:
    arm: str
    pulls: int  # finished or not
    finished: int
    improved: int
    seconds: float  # over finished pulls

    @property
    def rate(self) -> float:
        return self.improved / self.finished if self.finished else 0.0

    @property
    def s_per_pull(self) -> float:
        return self.seconds / self.finished if self.finished else 0.0


class Bandit:
    def __init__(self, arms: Sequence[str], floor: float = 0.1, min_seconds: float = 1.0):
        if not arms:
            raise ValueError("the bandit needs at least one arm")
        if floor * len(arms) > 1:
            raise ValueError(f"floor {floor} x {len(arms)} arms exceeds 1")
        self.arms, self.floor, self.min_seconds = list(arms), floor, min_seconds

    def stats(self, pulls: Sequence[Pull]) -> list[ArmStats]:
        out = []
        for arm in self.arms:
            mine = [p for p in pulls if p.arm == arm]
            done = [p for p in mine if p.finished]
            out.append(ArmStats(arm, len(mine), len(done), sum(p.improved for p in done),
                                sum(p.seconds for p in done)))
        return out

    def choose(self, pulls: Sequence[Pull]) -> str:
        stats = self.stats(pulls)
        total = sum(s.pulls for s in stats)
        untried = [s for s in stats if s.pulls == 0]
        if untried:
            return untried[0].arm
        starved = [s for s in stats if s.pulls < self.floor * total]
        if starved:
            return min(starved, key=lambda s: s.pulls).arm
        known = [s.s_per_pull for s in stats if s.finished]
        default_s = sum(known) / len(known) if known else self.min_seconds
        return max(stats, key=lambda s: self.index(s, total, default_s)).arm

    def index(self, s: ArmStats, total: int, default_s: float) -> float:
        """UCB1 bound on the improvement rate per second (an arm with no finished pull counts as one miss)."""
        bound = s.rate + math.sqrt(2 * math.log(max(total, 2)) / max(1, s.finished))
        return bound / max(self.min_seconds, s.s_per_pull or default_s)
