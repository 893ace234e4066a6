"""What the random and evolution proposers share: the task, a seeded RNG per proposal, dedup, sampling."""

from __future__ import annotations

import random

from agent.baselines.grammar import sample_arch
from agent.baselines.writer import write_code
from agent.proposer import Proposer
from evals.fingerprint import code_key, text_key
from evals.tasks.base import Task
from knowledge.store import Store

MAX_DRAWS = 32  # samples tried before accepting one the campaign has already seen


class BaselineProposer(Proposer):
    """A non-LLM proposer reading its campaign's history from the store (no LLM calls are recorded)."""

    def __init__(self, task: Task, seed: int, store: Store, campaign_id: int):
        if task.spec.kind != "classification":
            raise ValueError(f"the {self.name} baseline supports classification tasks only, "
                             f"not '{task.spec.name}' ({task.spec.kind})")
        self.task, self.seed, self.store, self.campaign_id = task, seed, store, campaign_id

    def rng(self) -> random.Random:
        """Deterministic for (config seed, number of candidates so far): a resumed campaign continues the stream."""
        n = len(self.store.candidates(self.campaign_id))
        return random.Random(f"{self.name}:{self.seed}:{n}")

    def is_new(self, code: str) -> bool:
        keys = dict(text_key=text_key(code), code_key=code_key(code))
        return self.store.find_duplicate(self.campaign_id, **keys) is None

    def sample_code(self, rng: random.Random) -> str:
        """A fresh grammar sample, new to this campaign when one can be found within MAX_DRAWS."""
        code = ""
        for _ in range(MAX_DRAWS):
            code = write_code(sample_arch(rng, self.task.spec), self.task.spec)
            if self.is_new(code):
                break
        return code
