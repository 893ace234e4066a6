"""Build the campaign's proposers from its config (lazy: models load here)."""

from __future__ import annotations

from archagent.agent.baselines import BASELINE_KINDS, make_baseline
from archagent.agent.config import BackendConfig, CampaignConfig
from archagent.agent.llm import make_backend
from archagent.agent.llm.replay import ReplayBackend, stream
from archagent.agent.operators import AgentProposer, make_agent
from archagent.agent.operators.agent import operator_of
from archagent.agent.prompting import Prompts
from archagent.agent.proposer import LLMProposer, Proposer
from archagent.knowledge.store import Store


def make_proposer(cfg: BackendConfig, prompts: Prompts, seed: int = 0) -> Proposer:
    backend = make_backend(cfg, seed)
    return LLMProposer(backend, cfg, prompts)


def uses_operators(b: BackendConfig, cfg: CampaignConfig) -> bool:
    """The agent, unless operators are off or a replay file was recorded without them (replayed as it was made)."""
    if not cfg.operators.enabled:
        return False
    return b.kind != "replay" or any("operator" in row for row in ReplayBackend.read_rows(b.path))


def make_proposers(cfg: CampaignConfig, store: Store, campaign_id: int) -> list[Proposer]:
    """One proposer per configured backend; replay backends skip replies already consumed."""
    prompts = Prompts(cfg.prompts_dir)
    proposers = [make_baseline(b, cfg, campaign_id) if b.kind in BASELINE_KINDS
                 else make_agent(b, cfg, prompts, campaign_id) if uses_operators(b, cfg)
                 else make_proposer(b, prompts, cfg.seed) for b in cfg.backends]
    calls = store.llm_calls(campaign_id)
    replayed_mutations = sum(1 for c in store.candidates(campaign_id) if operator_of(c) == "mutation")
    for p in proposers:
        skip = getattr(getattr(p, "backend", None), "skip", None)
        if skip:
            rows = sum(1 for c in calls if c.backend == p.name and stream(c.purpose) == "propose")
            skip(rows + (replayed_mutations if isinstance(p, AgentProposer) else 0))
    return proposers
