"""LLM backends behind one interface; heavy ones (litellm, llama.cpp) import lazily."""

from __future__ import annotations

from archagent.agent.config import BackendConfig
from archagent.agent.llm.base import (
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
    "preflight",
]


def make_backend(cfg: BackendConfig, seed: int = 0) -> LLMBackend:
    """Build the backend a config names. Raises LLMError with one clear line."""
    if cfg.kind == "replay":
        from archagent.agent.llm.replay import ReplayBackend

        return ReplayBackend(cfg.path, model=cfg.model)
    if cfg.kind == "litellm":
        from archagent.agent.llm.litellm_backend import LiteLLMBackend

        return LiteLLMBackend(cfg)
    if cfg.kind == "local":
        from archagent.agent.llm.local import LocalBackend

        return LocalBackend(cfg, seed=seed, n_threads=cfg.n_threads)
    raise LLMError(f"backend kind '{cfg.kind}' is not an LLM backend")


def preflight(cfg: BackendConfig) -> None:
    """Cheap checks before a campaign touches the store: files exist, extras are installed, keys are set."""
    import importlib.util
    import os
    from pathlib import Path

    if cfg.kind == "replay" and not Path(cfg.path).is_file():
        raise LLMError(f"replay file not found: {cfg.path}")
    if cfg.kind == "local":
        from archagent.agent.llm.model_files import PRESETS

        if importlib.util.find_spec("llama_cpp") is None:
            raise LLMError("the local backend needs the 'local' extra: pip install 'archagent-nas[local]'")
        model = cfg.model or next(iter(PRESETS))
        if model not in PRESETS and not Path(model).is_file():
            raise LLMError(f"local model '{model}' is neither a .gguf file nor a preset ({', '.join(PRESETS)})")
    if cfg.kind == "litellm" and cfg.api_key_env and not os.environ.get(cfg.api_key_env):
        raise LLMError(f"api_key_env names ${cfg.api_key_env}, which is not set in the environment")

