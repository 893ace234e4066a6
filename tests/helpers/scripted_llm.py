"""A stand-in LLM for campaign tests: answers each operator's prompt in its format, optionally slowly.

    llm = ScriptedLLM(delay_s=0.5)          # every reply takes half a second (a slow model)
    monkeypatch.setattr(operators, "make_backend", lambda cfg, seed: llm)
    ...
    llm.calls                               # [(start, end)] of every request, monotonic seconds

Edit prompts get one SEARCH/REPLACE block (a ReLU becomes a GELU); crossover
and rewrite prompts get a whole file: the first architecture shown, with its
first width changed to a fresh number, so most replies are new architectures.
"""

from __future__ import annotations

import itertools
import re
import threading
import time

from archagent.agent.llm import Completion, LLMBackend

FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


class ScriptedLLM(LLMBackend):
    kind, model = "litellm", "scripted"

    def __init__(self, delay_s: float = 0.0):
        self.widths, self.delay_s = itertools.count(40, 8), delay_s
        self.calls: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def complete(self, messages, *, temperature: float, max_tokens: int) -> Completion:
        start = time.monotonic()
        time.sleep(self.delay_s)
        prompt = messages[1]["content"]
        code = FENCE.search(prompt).group(1)
        if "edit blocks" in prompt:
            line = next((ln for ln in code.splitlines() if "nn.ReLU()" in ln), code.splitlines()[-1])
            reply = f"<<<<<<< SEARCH\n{line}\n=======\n{line.replace('nn.ReLU()', 'nn.GELU()')}\n>>>>>>> REPLACE"
        else:
            width = re.search(r"\b(16|32|64|128)\b", code)
            with self._lock:
                new = code.replace(width.group(1), str(next(self.widths)), 1) if width else code
            reply = f"```python\n{new}```"
        end = time.monotonic()
        with self._lock:
            self.calls.append((start, end))
        return Completion(reply, self.model, prompt_tokens=len(prompt) // 4, completion_tokens=len(reply) // 4,
                          latency_s=end - start)
