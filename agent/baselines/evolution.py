"""Regularized (aging) evolution, Real et al. 2019, over candidate code.

    [[backends]]
    kind = "evolution"
    [evolution]              # also the agent's mutation arm (agent/operators/mutation.py)
    population_size = 16
    tournament_size = 2

The population is the campaign's last `population_size` candidates that are
trained or still training, in order of creation, so the oldest die first. It
starts from the task's seeds (free to every method; the loop trains them before
the first proposal): tournaments start as soon as one member is trained, and
there is no random fill. Each proposal samples `tournament_size` trained
members, mutates the best one (`mutations.mutate`) and names it as the parent.
With the loop's pipelining a member may still be training when a proposal is
made: it counts toward the population but cannot win a tournament yet
(asynchronous evolution). A parent no mutation applies to is skipped for
another tournament; after MAX_DRAWS tournaments, or while no member is trained
(every seed failed, or the task has none), a random grammar sample is proposed.
"""

from __future__ import annotations

import random

from archagent.agent.baselines.base import MAX_DRAWS, BaselineProposer
from archagent.agent.baselines.mutations import mutate
from archagent.agent.config import EvolutionConfig
from archagent.agent.draw import Draw, Members
from archagent.agent.proposer import CallRecorder, Proposal
from archagent.evals.tasks.base import Task
from archagent.knowledge.records import Candidate, Status


class EvolutionProposer(BaselineProposer):
    name = kind = "evolution"

    def __init__(self, task: Task, seed: int, campaign_id: int, config: EvolutionConfig = EvolutionConfig()):
        super().__init__(task, seed, campaign_id)
        self.population_size, self.tournament_size = config.population_size, config.tournament_size

    def population(self, store: Members) -> list[Candidate]:
        """The last `population_size` members: trained ones and ones still in training (no fitness yet).
        When every one of them is still training (a tiny population), the newest trained members stand in:
        no random fill while a trained member exists."""
        alive = (Status.OK, Status.PENDING, Status.RUNNING)
        members = store.candidates(self.campaign_id, *alive)
        members = [c for c in members if c.status != Status.OK or c.metric is not None]
        window = members[-self.population_size:]
        if any(c.status == Status.OK for c in window):
            return window
        return [c for c in members if c.status == Status.OK][-self.population_size:]

    def propose(self, draw: Draw, record_call: CallRecorder) -> Proposal:
        with self.history(draw) as store:
            rng, pop = self.rng(store), self.population(store)
            scored = [c for c in pop if c.status == Status.OK]
            if not scored:
                return Proposal(self.sample_code(store, rng), (), self.name)
            for _ in range(MAX_DRAWS):
                parent = self.tournament(scored, rng)
                child = mutate(parent.code, self.task.spec, rng)
                if child is not None and self.is_new(store, child.code):
                    return Proposal(child.code, (parent.id,), self.name)
            return Proposal(self.sample_code(store, rng), (), self.name)

    def tournament(self, pop: list[Candidate], rng: random.Random) -> Candidate:
        """The best of `tournament_size` members drawn without replacement."""
        contenders = rng.sample(pop, min(self.tournament_size, len(pop)))
        best = contenders[0]
        for c in contenders[1:]:
            if self.task.better(c.metric, best.metric):
                best = c
        return best
