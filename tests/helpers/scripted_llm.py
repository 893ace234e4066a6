"""A stand-in LLM for campaign tests: answers each operator's prompt in its format, optionally slowly.

    llm = ScriptedLLM(delay_s=0.5)          # every reply takes half a second (a slow model)
    monkeypatch.setattr(operators, "make_backend", lambda cfg, seed: llm)
    ...
    llm.calls                               # [(start, end)] of every request, monotonic seconds

Edit prompts get one SEARCH/REPLACE block, crossover and rewrite prompts a
whole file: the (first) architecture shown with one layer width changed to a
fresh number (40, 48, 56, ...), so replies are new architectures.
"""

from __future__ import annotations

import itertools
import re
import threading
import time

from archagent.agent.llm import Completion, LLMBackend

FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)
WIDTH = re.compile(r"(?<![\w.])(\d{2,3})(?![\w.])")  # a two- or three-digit integer literal: a layer width


class ScriptedLLM(LLMBackend):
    kind, model = "litellm", "scripted"

    def __init__(self, delay_s: float = 0.0):
        self.widths, self.delay_s = itertools.count(40, 8), delay_s
        self.calls: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def complete(self, messages, *, temperature: float, max_tokens: int, grammar: str | None = None) -> Completion:
        start = time.monotonic()
        time.sleep(self.delay_s)
        prompt = messages[1]["content"]
        code = FENCE.search(prompt).group(1)
        with self._lock:
            fresh = str(next(self.widths))
        if "edit blocks" in prompt:  # one line with a layer width: that width becomes a fresh number
            line = next((ln for ln in code.splitlines() if WIDTH.search(ln) and "nn." in ln), code.splitlines()[-1])
            reply = f"<<<<<<< SEARCH\n{line}\n=======\n{WIDTH.sub(fresh, line, count=1)}\n>>>>>>> REPLACE"
        else:
            reply = f"```python\n{WIDTH.sub(fresh, code, count=1)}```"
        end = time.monotonic()
        with self._lock:
            self.calls.append((start, end))
        return Completion(reply, self.model, prompt_tokens=len(prompt) // 4, completion_tokens=len(reply) // 4,
                          latency_s=end - start)
