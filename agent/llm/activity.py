"""The LLM requests a campaign has in flight: what the live display shows, and the switch that stops them.

    requests = Requests()                      # one per campaign
    with requests.bound():                     # on an LLM thread, around its task
        with track("edit of #4", "local:qwen"):   # inside complete_with_retry
            for chunk in stream:
                on_token()                     # a streaming backend, per token: counts it, or raises
    requests.snapshot()                        # the display: [(label, backend, seconds, tokens)]
    requests.cancel()                          # time is up / Ctrl-C: every request stops at its next token

A streaming backend (local, litellm) calls `on_token` for each token it receives, so the display can
count tokens as they arrive, and a cancelled campaign's requests end within one token instead of
running to their end (`RequestCancelled`). Requests of a thread with no `Requests` bound (the
`backends check` command, the Python API) are not tracked and never cancelled.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from archagent.agent.llm.base import BackendExhausted

_local = threading.local()


class RequestCancelled(BackendExhausted):
    """The campaign stopped waiting for this request (its time ran out, or Ctrl-C): nothing to record."""


@dataclass
class Request:
    """One request in flight; `tokens` counts streamed completion tokens (0 for a backend that does not stream)."""

    label: str  # what it is for: "edit of #4", "repair of #9", "analyze"
    backend: str
    started: float = field(default_factory=time.monotonic)
    tokens: int = 0

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


class Requests:
    """The requests in flight on one campaign's LLM threads (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: list[Request] = []
        self.cancelled = False

    def snapshot(self) -> list[Request]:
        with self._lock:
            return list(self._live)

    def cancel(self) -> None:
        """Stop every request now in flight at its next token, and refuse new ones (sticky)."""
        self.cancelled = True

    def check(self) -> None:
        if self.cancelled:
            raise RequestCancelled("the campaign stopped: its time ran out or it was interrupted")

    @contextlib.contextmanager
    def bound(self) -> Iterator[None]:
        """Track the calling thread's requests here while the block runs."""
        _local.requests = self
        try:
            yield
        finally:
            _local.requests = None

    def _add(self, req: Request) -> None:
        with self._lock:
            self._live.append(req)

    def _remove(self, req: Request) -> None:
        with self._lock:
            self._live.remove(req)


@contextlib.contextmanager
def track(label: str, backend: str) -> Iterator[None]:
    """Register one request of the calling thread with its bound `Requests` (if any) while it runs."""
    owner: Requests | None = getattr(_local, "requests", None)
    if owner is None:
        yield
        return
    owner.check()
    req = Request(label, backend)
    owner._add(req)
    _local.request = req
    try:
        yield
    finally:
        _local.request = None
        owner._remove(req)


def on_token(n: int = 1) -> None:
    """A streaming backend received `n` more tokens: count them; raise `RequestCancelled` once cancelled."""
    req: Request | None = getattr(_local, "request", None)
    if req is None:
        return
    req.tokens += n
    _local.requests.check()
