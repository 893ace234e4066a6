"""What the random and evolution proposers share: the task, a seeded RNG per proposal, dedup, sampling.

They read the campaign as the draw saw it (`history(draw)`: the population's
members at draw time, answering the store's two queries they use), never the
store itself, and run inline on the loop's main thread (`plan().llm` is False).
"""

from __future__ import annotations

import random
import threading

from archagent.agent.baselines.grammar import sample_arch
from archagent.agent.baselines.writer import write_code
from archagent.agent.draw import Draw, Members, Plan
from archagent.agent.proposer import Proposer
from archagent.evals.fingerprint import code_key, text_key
from archagent.evals.tasks.base import Task

MAX_DRAWS = 32  # samples tried before accepting one the campaign has already seen


class BaselineProposer(Proposer):
    """A non-LLM proposer reading its campaign's history from the draw (no LLM calls are recorded)."""

    def __init__(self, task: Task, seed: int, campaign_id: int):
        if task.spec.kind != "classification":
            raise ValueError(f"the {self.name} baseline supports classification tasks only, "
                             f"not '{task.spec.name}' ({task.spec.kind})")
        self.task, self.seed, self.campaign_id = task, seed, campaign_id
        self._next, self._lock = 0, threading.Lock()  # draws handed out, ahead of what the store shows yet

    def without_llm(self) -> BaselineProposer:
        return self

    def plan(self, population: object) -> Plan:
        return Plan(n_parents=0, llm=False)

    def history(self, draw: Draw) -> Members:
        """The campaign as the draw saw it, queried like the store: `with self.history(draw) as store:`."""
        return Members(draw.members)

    def rng(self, store: Members) -> random.Random:
        """Deterministic for (config seed, number of candidates so far): a resumed campaign continues the stream.

        Proposals still in flight (`pipeline.proposers` > 1) are not in the store yet: each call takes the
        next unused index, so concurrent calls never draw the same sample.
        """
        with self._lock:
            n = max(len(store.candidates(self.campaign_id)), self._next)
            self._next = n + 1
        return random.Random(f"{self.name}:{self.seed}:{n}")

    def is_new(self, store: Members, code: str) -> bool:
        keys = dict(text_key=text_key(code), code_key=code_key(code))
        return store.find_duplicate(self.campaign_id, **keys) is None

    def sample_code(self, store: Members, rng: random.Random) -> str:
        """A fresh grammar sample, new to this campaign when one can be found within MAX_DRAWS."""
        code = ""
        for _ in range(MAX_DRAWS):
            code = write_code(sample_arch(rng, self.task.spec), self.task.spec)
            if self.is_new(store, code):
                break
        return code
