"""Replay backend: replies read in order from a JSONL file.

Each line is {"reply": "..."} (optionally "model", "prompt_tokens",
"completion_tokens", "cost_usd", and "purpose": propose | analyze | repair,
default propose: a backend serves only the rows of its own purpose). Used by
tests, demos and exact re-runs of an exported campaign (`archagent
export-replay`). When the file runs out the backend raises BackendExhausted,
which ends the campaign cleanly.
"""

from __future__ import annotations

import json
from pathlib import Path

from archagent.agent.llm.base import BackendExhausted, Completion, LLMBackend, LLMError, Message


class ReplayBackend(LLMBackend):
    kind = "replay"

    def __init__(self, path: Path, model: str | None = None, purpose: str = "propose"):
        self.path = Path(path)
        if not self.path.is_file():
            raise LLMError(f"replay file not found: {self.path}")
        self._rows = [r for r in self.read_rows(self.path) if stream(r.get("purpose", "propose")) == purpose]
        self._next = 0
        self.model = model or self.path.name

    @staticmethod
    def read_rows(path: Path) -> list[dict]:
        return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]

    @property
    def remaining(self) -> int:
        return len(self._rows) - self._next

    def skip(self, n: int) -> None:
        """Advance past n replies (used when a campaign resumes)."""
        self._next = min(len(self._rows), self._next + n)

    def peek(self) -> dict | None:
        """The next row to be served (None when exhausted): exports name the operator that used it."""
        return self._rows[self._next] if self._next < len(self._rows) else None

    def complete(self, messages: list[Message], *, temperature: float, max_tokens: int,
                 grammar: str | None = None) -> Completion:
        if self._next >= len(self._rows):
            raise BackendExhausted(f"replay file {self.path.name} is exhausted after {len(self._rows)} replies")
        row = self._rows[self._next]
        self._next += 1
        return Completion(
            text=row["reply"],
            model=row.get("model", self.model),
            prompt_tokens=int(row.get("prompt_tokens", 0)),
            completion_tokens=int(row.get("completion_tokens", 0)),
            latency_s=0.0,
            cost_usd=float(row.get("cost_usd", 0.0)),
        )


def stream(purpose: str) -> str:
    """The replay stream a call belongs to: "propose-copy" (a resampled copy) is part of "propose"."""
    return purpose.split("-", 1)[0]
