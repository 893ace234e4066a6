"""litellm backend: any hosted or served chat model, e.g. `openai/gpt-4o-mini`.

    [[backends]]
    kind = "litellm"
    model = "openai/qwen-local"
    api_base = "http://127.0.0.1:8000/v1"   # e.g. python -m llama_cpp.server
    api_key_env = "MY_KEY"                  # optional: env var holding the key

litellm takes ~3.5 s to import and, unless told otherwise, fetches its price map
from the internet; both are handled here: the import happens when the backend is
built, after `LITELLM_LOCAL_MODEL_COST_MAP=True` is set. litellm's own retries
are off (`num_retries=0`): `complete_with_retry` owns retrying, and this module
only decides what is worth retrying (`TransientLLMError`) and what is not.
"""

from __future__ import annotations

import os
import time
from types import ModuleType
from typing import Any

from archagent.agent.config import BackendConfig
from archagent.agent.llm.activity import on_token
from archagent.agent.llm.base import Completion, LLMBackend, LLMError, Message, TransientLLMError

_TRANSIENT_NAMES = (
    "Timeout",
    "RateLimitError",
    "ServiceUnavailableError",
    "InternalServerError",
    "BadGatewayError",
    "APIConnectionError",
)
_TRANSIENT_STATUS = {408, 409, 425, 429}
_MAX_MESSAGE = 300
_PLACEHOLDER_KEY = "sk-no-key"  # sent to keyless self-hosted servers


def _import_litellm() -> ModuleType:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError:
        raise LLMError("the litellm backend needs litellm: pip install litellm") from None
    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on errors
    return litellm


def _resolve_api_key(litellm: ModuleType, cfg: BackendConfig) -> str | None:
    """The key to send: from `api_key_env`, else litellm's own env lookup (None).

    A self-hosted OpenAI-compatible server (`api_base` set) usually takes no key, but
    the openai client refuses to send a request without one: it gets a placeholder.
    """
    if cfg.api_key_env:
        key = os.environ.get(cfg.api_key_env)
        if not key:
            raise LLMError(f"api_key_env names ${cfg.api_key_env}, which is not set in the environment")
        return key
    env = litellm.validate_environment(model=cfg.model, api_base=cfg.api_base)
    missing = [name for name in env["missing_keys"] if name.endswith("_API_KEY")]
    if not missing:
        return None
    if cfg.api_base:
        return _PLACEHOLDER_KEY
    raise LLMError(f"model {cfg.model} needs ${missing[0]} set, or api_key_env = the variable holding the key")


def one_line(err: BaseException) -> str:
    """An exception message squeezed onto one short line."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _is_transient(litellm: ModuleType, err: Exception) -> bool:
    kinds = tuple(getattr(litellm, name) for name in _TRANSIENT_NAMES)
    status = getattr(err, "status_code", None)
    return isinstance(err, kinds) or (isinstance(status, int) and (status in _TRANSIENT_STATUS or status >= 500))


class LiteLLMBackend(LLMBackend):
    kind = "litellm"

    def __init__(self, cfg: BackendConfig):
        if not cfg.model:
            raise LLMError("a litellm backend needs model = 'provider/model'")
        self.cfg = cfg
        self.model = cfg.model
        self._litellm = _import_litellm()
        self._api_key = _resolve_api_key(self._litellm, cfg)

    def complete(self, messages: list[Message], *, temperature: float, max_tokens: int,
                 grammar: str | None = None) -> Completion:
        t0 = time.perf_counter()
        response, streamed = self._call(messages, temperature, max_tokens)
        latency = time.perf_counter() - t0
        text = (response.choices[0].message.content if response is not None and response.choices else None) or ""
        if not text.strip():
            raise TransientLLMError(f"{self.model} returned an empty reply")
        usage = getattr(response, "usage", None)
        return Completion(
            text=text,
            model=getattr(response, "model", None) or self.model,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            # a server that reports no usage (llama-cpp-python's sends zeros): one streamed chunk per token
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0) or streamed,
            latency_s=latency,
            cost_usd=self._cost(response),
        )

    def _call(self, messages: list[Message], temperature: float, max_tokens: int) -> tuple[Any, int]:
        """One streamed litellm.completion call, rebuilt into one response, and the number of chunks that
        carried reply text; its errors mapped to
        TransientLLMError / LLMError. Streaming lets the live display count tokens as they arrive and a
        cancelled campaign hang up mid-reply (`activity.on_token`)."""
        import openai  # loaded by litellm already; every litellm API error subclasses openai's

        litellm, t0 = self._litellm, time.perf_counter()
        try:
            stream = litellm.completion(
                model=self.model,
                messages=messages,
                temperature=temperature,
                max_tokens=max_tokens,
                stop=self.cfg.stop or None,
                api_base=self.cfg.api_base,
                api_key=self._api_key,
                timeout=self.cfg.timeout_s,
                num_retries=0,
                max_retries=0,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = self._read(stream, t0)
            streamed = sum(1 for c in chunks if c.choices and getattr(c.choices[0].delta, "content", None))
            return (litellm.stream_chunk_builder(chunks, messages=messages) if chunks else None), streamed
        except openai.OpenAIError as err:
            error = TransientLLMError if _is_transient(litellm, err) else LLMError
            raise error(f"{self.model}: {one_line(err)}") from err

    def _read(self, stream: Any, t0: float) -> list[Any]:
        """The stream's chunks, counted as they arrive; `timeout_s` bounds the whole reply, not each chunk."""
        chunks = []
        try:
            for chunk in stream:
                chunks.append(chunk)
                if chunk.choices and getattr(chunk.choices[0].delta, "content", None):
                    on_token()
                if time.perf_counter() - t0 > self.cfg.timeout_s:
                    raise TransientLLMError(f"{self.model}: no complete reply within {self.cfg.timeout_s:g} s")
        finally:
            close = getattr(getattr(stream, "completion_stream", None), "close", None)
            if close is not None:  # hang up now (a cancelled or timed-out reply), not when collected
                close()
        return chunks

    def _cost(self, response: Any) -> float:
        """USD cost from litellm's price map; 0.0 for models it has no price for (local, custom)."""
        try:
            return float(self._litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:  # noqa: BLE001 - litellm raises bare Exception for an unmapped model
            return 0.0
