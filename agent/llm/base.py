"""The LLM backend interface: one method, `complete`, and a retry wrapper.

Backends: `litellm` (hosted or served models), `local` (llama.cpp in-process),
`replay` (replies from a JSONL file). Build one with `agent.llm.make_backend`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


class LLMError(RuntimeError):
    """A backend failure that retrying will not fix (bad key, unknown model, ...)."""


class BackendExhausted(LLMError):
    """The backend has nothing more to give (a replay file ran out): stop proposing."""


class TransientLLMError(LLMError):
    """A failure worth retrying: timeout, rate limit, 5xx, dropped connection."""


@dataclass(frozen=True)
class Completion:
    """One finished LLM call, as logged to the knowledge store."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0


class LLMBackend(ABC):
    """A source of completions. Subclasses set `kind` and `model`."""

    kind: str = "abstract"
    model: str = ""
    constrains: bool = False  # whether `complete` follows a `grammar` (llama.cpp); others ignore it

    @abstractmethod
    def complete(self, messages: list[Message], *, temperature: float, max_tokens: int,
                 grammar: str | None = None) -> Completion:
        """Return one completion for a chat; raise TransientLLMError to be retried.

        `grammar` is GBNF text the reply must be a sentence of (`agent.reply_grammar`); backends
        whose `constrains` is False ignore it.
        """

    def close(self) -> None:
        """Release resources (model weights, connections)."""
        return None


def complete_with_retry(
    backend: LLMBackend,
    messages: list[Message],
    *,
    temperature: float,
    max_tokens: int,
    attempts: int = 4,
    max_wait_s: float = 30.0,
    grammar: str | None = None,
) -> Completion:
    """`backend.complete` with exponential backoff on TransientLLMError."""

    @retry(
        retry=retry_if_exception_type(TransientLLMError),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=1.0, max=max_wait_s),
        reraise=True,
    )
    def _call() -> Completion:
        return backend.complete(messages, temperature=temperature, max_tokens=max_tokens, grammar=grammar)

    return _call()
