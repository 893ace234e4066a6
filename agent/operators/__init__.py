"""Operators that make offspring, and the agent that chooses among them (`make_agent`).

    edit       LLM: SEARCH/REPLACE blocks against one parent (prompts/edit.j2)
    crossover  LLM: combine two parents from different families (prompts/crossover.j2)
    rewrite    LLM: a whole file from the few-shot prompt (prompts/propose.j2)
    mutation   AST mutation, regularized evolution's step (agent/baselines)
"""

from __future__ import annotations

from archagent.agent.bandit import Bandit
from archagent.agent.baselines.evolution import EvolutionProposer
from archagent.agent.config import BackendConfig, CampaignConfig
from archagent.agent.llm import make_backend
from archagent.agent.operators.agent import AgentProposer
from archagent.agent.operators.base import LLMAsk, Operator
from archagent.agent.operators.crossover import Crossover
from archagent.agent.operators.edit import Edit
from archagent.agent.operators.mutation import Mutation
from archagent.agent.operators.rewrite import Rewrite
from archagent.agent.prompting import Prompts
from archagent.evals.tasks import get_task
from archagent.knowledge.fitness import Objective

__all__ = ["AgentProposer", "Operator", "make_agent"]


def make_agent(b: BackendConfig, cfg: CampaignConfig, prompts: Prompts, campaign_id: int) -> AgentProposer:
    """The agent over one LLM backend; the model loads only when an LLM operator is in use (or it replays)."""
    task, oc = get_task(cfg.task.name, cfg.task.options), cfg.operators
    ops: dict[str, Operator] = {}
    llm = None
    if any(o != "mutation" for o in oc.use) or b.kind == "replay":
        backend = make_backend(b, cfg.seed)
        llm = LLMAsk(backend, b, prompts, f"{backend.kind}:{backend.model}", oc.novelty_retries)
        ops.update(edit=Edit(llm, whole_file=oc.edit_whole_file(b.kind, b.constrained)), crossover=Crossover(llm),
                   rewrite=Rewrite(llm))
    if "mutation" in oc.use and task.spec.kind == "classification":  # the grammar's mutations classify only
        ops["mutation"] = Mutation(EvolutionProposer(task, cfg.seed, campaign_id, cfg.evolution))
    arms = [o for o in oc.use if o in ops]
    if not arms:
        raise ValueError(f"operators.use = {oc.use}: none applies to task '{task.spec.name}' ({task.spec.kind})")
    objective = Objective(cfg.search.objective, cfg.search.size_penalty)
    return AgentProposer(ops, arms, Bandit(arms, oc.floor), objective, task.higher_is_better, llm)
