"""LLM backends behind one interface; heavy ones (litellm, llama.cpp) import lazily."""

from __future__ import annotations

from agent.config import BackendConfig
from agent.llm.base import (
    BackendExhausted,
    Completion,
    LLMBackend,
    LLMError,
    Message,
    TransientLLMError,
    complete_with_retry,
)

__all__ = [
    "BackendExhausted",
    "Completion",
    "LLMBackend",
    "LLMError",
    "Message",
    "TransientLLMError",
    "complete_with_retry",
    "make_backend",
]


def make_backend(cfg: BackendConfig, seed: int = 0) -> LLMBackend:
    """Build the backend a config names. Raises LLMError with one clear line."""
    if cfg.kind == "replay":
        from agent.llm.replay import ReplayBackend

        return ReplayBackend(cfg.path, model=cfg.model)
    if cfg.kind == "litellm":
        from agent.llm.litellm_backend import LiteLLMBackend

        return LiteLLMBackend(cfg)
    if cfg.kind == "local":
        from agent.llm.local import LocalBackend

        return LocalBackend(cfg, seed=seed, n_threads=cfg.n_threads)
    raise LLMError(f"backend kind '{cfg.kind}' is not an LLM backend")
