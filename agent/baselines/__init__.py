"""Non-LLM proposers behind the `Proposer` interface: random search and regularized evolution.

    [[backends]]
    kind = "random"      # or "evolution"

Both read their campaign's history from the draw (never the store) and record no LLM calls;
their candidates carry backend "random" / "evolution".
"""

from __future__ import annotations

from archagent.agent.baselines.evolution import EvolutionProposer
from archagent.agent.baselines.random_search import RandomProposer
from archagent.agent.config import BackendConfig, CampaignConfig
from archagent.agent.proposer import Proposer
from archagent.evals.tasks import get_task

BASELINE_KINDS = ("random", "evolution")


def make_baseline(backend: BackendConfig, cfg: CampaignConfig, campaign_id: int) -> Proposer:
    """The random or evolution proposer for one `[[backends]]` entry, seeded by the campaign's `seed`."""
    task = get_task(cfg.task.name, cfg.task.options)
    if backend.kind == "evolution":
        return EvolutionProposer(task, cfg.seed, campaign_id, cfg.evolution)
    return RandomProposer(task, cfg.seed, campaign_id)
