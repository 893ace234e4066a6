"""LLM requests beside proposals (analysis, repair) on a campaign's configured backends.

    source = purpose_source(backend_cfg, proposer, "analyze", store, campaign_id)
    completion, call_id = source.ask(messages, recorder)

A live backend (local, litellm) is shared with its proposer, so a local model
loads once. A replay backend gets its own stream of the file's rows with that
purpose (`"purpose": "analyze"` / `"repair"`), so an exported campaign replays
exactly however proposals and analyses interleaved; on resume it skips the rows
of that purpose the campaign already used.
"""

from __future__ import annotations

from dataclasses import dataclass

from archagent.agent.config import BackendConfig
from archagent.agent.llm import BackendExhausted, Completion, LLMBackend, LLMError, complete_with_retry
from archagent.agent.llm.activity import track
from archagent.agent.proposer import CallRecorder, LLMProposer
from archagent.knowledge.store import Store


@dataclass(frozen=True)
class Source:
    """One backend used for one purpose, logged under its proposer's name."""

    name: str  # e.g. "litellm:openai/gpt-4o-mini", as on the candidates it proposes
    purpose: str  # analyze | repair
    cfg: BackendConfig
    backend: LLMBackend

    def ask(self, messages: list, record: CallRecorder,
            label: str | None = None) -> tuple[Completion | None, int | None]:
        """One logged request: (completion, llm_calls id); (None, id) on an LLM error; (None, None) when exhausted
        or cancelled. `label` names it on the live display (default: the purpose)."""
        try:
            with track(label or self.purpose, self.name):
                reply = complete_with_retry(self.backend, messages, temperature=self.cfg.temperature,
                                            max_tokens=self.cfg.max_tokens, attempts=self.cfg.retries,
                                            max_wait_s=self.cfg.retry_max_wait_s)
        except BackendExhausted:
            return None, None
        except LLMError as err:
            return None, record(self.name, self.backend.model, self.purpose, messages, None, str(err))
        return reply, record(self.name, reply.model, self.purpose, messages, reply, None)


def purpose_source(cfg: BackendConfig, proposer: LLMProposer, purpose: str, store: Store,
                   campaign_id: int) -> Source:
    """The proposer's backend for `purpose`; a replay backend gets the file's rows of that purpose."""
    if cfg.kind != "replay":
        return Source(proposer.name, purpose, cfg, proposer.backend)
    from archagent.agent.llm.replay import ReplayBackend

    backend = ReplayBackend(cfg.path, model=cfg.model, purpose=purpose)
    backend.skip(sum(1 for c in store.llm_calls(campaign_id) if c.backend == proposer.name and c.purpose == purpose))
    return Source(proposer.name, purpose, cfg, backend)
