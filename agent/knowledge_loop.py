"""The campaign's hooks into what it has learned: islands recorded, insights distilled, build failures repaired.

`Campaign.run()` builds one `KnowledgeLoop` after its proposers; `Campaign._emit`
passes it every candidate event (main thread), and `Campaign._propose` passes
each proposal with the context it was made from (proposer threads).
Analysis and repair requests run in the main thread, one at a time, so their
order in the store is the order a replay re-run consumes them in.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import TYPE_CHECKING

from agent.insights import Analyst, insight_every
from agent.prompting import PromptContext, Prompts
from agent.proposer import LLMProposer, Proposal, Proposer
from agent.repair import Repairer, attempts_for
from agent.sources import purpose_source
from knowledge.records import Candidate

if TYPE_CHECKING:
    from agent.loop import Campaign


class KnowledgeLoop:
    def __init__(self, campaign: Campaign, proposers: list[Proposer]):
        from agent.loop import record_call  # agent.loop imports this module

        cfg, store = campaign.cfg, campaign.store
        self.campaign, self.store = campaign, store
        self._islands: dict[int, int] = {}  # llm_call id -> island its exemplars came from
        self._lock = threading.Lock()
        llm = [(b, p) for b, p in zip(cfg.backends, proposers, strict=True) if isinstance(p, LLMProposer)]
        record, prompts = partial(record_call, store, campaign.id), Prompts(cfg.prompts_dir)
        attempts = {p.name: attempts_for(b.kind, cfg.search.repair_attempts) for b, p in llm}
        sources = {p.name: purpose_source(b, p, "repair", store, campaign.id) for b, p in llm if attempts[p.name]}
        self.repairer = Repairer(store, campaign.task, sources, attempts, prompts, record)
        self.analyst = None
        if llm:
            b, p = self._analyst_backend(cfg.search.analyst, proposers, llm)
            every = insight_every(b.kind, cfg.search.insight_every)
            source = purpose_source(b, p, "analyze", store, campaign.id) if every else None
            self.analyst = Analyst(store, campaign.id, campaign.task, every, source, prompts, record) if every else None

    def _analyst_backend(self, index: int | None, proposers: list[Proposer], llm: list) -> tuple:
        if index is None:
            return llm[0]
        if index >= len(proposers) or not isinstance(proposers[index], LLMProposer):
            raise ValueError(f"search.analyst = {index} does not name an LLM backend in [[backends]]")
        return self.campaign.cfg.backends[index], proposers[index]

    def note_island(self, proposal: Proposal, ctx: PromptContext) -> Proposal:
        """Proposer threads: remember which island a logged reply's exemplars came from."""
        if proposal.llm_call_id is not None and ctx.island is not None:
            with self._lock:
                self._islands[proposal.llm_call_id] = ctx.island
        return proposal

    def on_event(self, event: str, cand: Candidate) -> None:
        with self._lock:
            island = self._islands.pop(cand.llm_call_id, None) if cand.llm_call_id is not None else None
        if island is not None:
            self.store.update_candidate(cand.id, extra={**self.store.candidate(cand.id).extra, "island": island})
        if event not in ("ok", "failed"):
            return
        if event == "failed" and self.campaign.budget_exhausted() is None:
            self.repairer.repair(self.store.candidate(cand.id), self.campaign.handle)
        if self.analyst:
            self.analyst.on_finished(cand)
