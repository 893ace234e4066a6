"""Regularized (aging) evolution, Real et al. 2019, over candidate code.

    [[backends]]
    kind = "evolution"

The population is the campaign's last `population_size` trained candidates
(seeds included), in order of creation, so the oldest die first. Until it is
full, proposals are random grammar samples; then each proposal samples
`tournament_size` members, mutates the best one (`mutations.mutate`) and names
it as the parent. A parent no mutation applies to is skipped for another
tournament; after that a random sample is proposed instead.
"""

from __future__ import annotations

import random

from agent.baselines.base import MAX_DRAWS, BaselineProposer
from agent.baselines.mutations import mutate
from agent.prompting import PromptContext
from agent.proposer import CallRecorder, Proposal
from evals.tasks.base import Task
from knowledge.records import Candidate, Status
from knowledge.store import Store


class EvolutionProposer(BaselineProposer):
    name = "evolution"

    def __init__(self, task: Task, seed: int, store: Store, campaign_id: int,
                 population_size: int = 8, tournament_size: int = 3):
        super().__init__(task, seed, store, campaign_id)
        self.population_size, self.tournament_size = population_size, tournament_size

    def population(self) -> list[Candidate]:
        ok = [c for c in self.store.candidates(self.campaign_id, Status.OK) if c.metric is not None]
        return ok[-self.population_size:]

    def propose(self, ctx: PromptContext, record_call: CallRecorder) -> Proposal:
        rng, pop = self.rng(), self.population()
        if len(pop) < self.population_size:
            return Proposal(self.sample_code(rng), (), self.name)
        for _ in range(MAX_DRAWS):
            parent = self.tournament(pop, rng)
            child = mutate(parent.code, self.task.spec, rng)
            if child is not None and self.is_new(child.code):
                return Proposal(child.code, (parent.id,), self.name)
        return Proposal(self.sample_code(rng), (), self.name)

    def tournament(self, pop: list[Candidate], rng: random.Random) -> Candidate:
        contenders = rng.sample(pop, min(self.tournament_size, len(pop)))
        best = contenders[0]
        for c in contenders[1:]:
            if self.task.better(c.metric, best.metric):
                best = c
        return best
