"""A real agent campaign with every operator re-runs exactly from its replay export (sandbox, training: slow)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import archagent.agent.operators as operators
import pytest
from archagent.agent.config import parse_config
from archagent.agent.llm import Completion, LLMBackend
from archagent.agent.loop import Campaign
from archagent.agent.operators.agent import operator_of
from archagent.agent.replay_export import export_replay

FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


class ScriptedLLM(LLMBackend):
    """A stand-in model that answers each operator's prompt in its format: edit blocks, or whole files."""

    kind, model = "litellm", "scripted"

    def __init__(self):
        self.widths = itertools.count(40, 8)

    def complete(self, messages, *, temperature: float, max_tokens: int, grammar: str | None = None) -> Completion:
        prompt = messages[1]["content"]
        code = FENCE.search(prompt).group(1)
        if "edit blocks" in prompt:
            line = next((ln for ln in code.splitlines() if "nn.ReLU()" in ln), code.splitlines()[-1])
            reply = f"<<<<<<< SEARCH\n{line}\n=======\n{line.replace('nn.ReLU()', 'nn.GELU()')}\n>>>>>>> REPLACE"
        else:  # crossover, rewrite: a whole file, A's code with its first width changed
            width = re.search(r"\b(16|32|64|128)\b", code)
            new = code.replace(width.group(1), str(next(self.widths)), 1) if width else code
            reply = f"```python\n{new}```"
        return Completion(reply, self.model, prompt_tokens=len(prompt) // 4, completion_tokens=len(reply) // 4)


def run(tmp: Path, name: str, backend: dict) -> Campaign:
    cfg = parse_config({"name": name, "store": str(tmp / f"{name}.db"), "seed": 1,
                        "task": {"name": "digits", "options": {"epochs": 1}}, "budget": {"proposals": 7},
                        "backends": [backend], "prefilter": {"enabled": False},
                        "search": {"transfer": False, "insight_every": 0, "repair_attempts": 0}})
    campaign = Campaign(cfg)
    campaign.run()
    return campaign


def outcome(campaign: Campaign) -> list[tuple]:
    return [(c.code, operator_of(c), c.parent_ids, str(c.status), c.failure_kind, c.metric)
            for c in campaign.store.candidates(campaign.id)]


@pytest.mark.slow
def test_agent_campaign_with_every_operator_replays_exactly(tmp_path: Path, monkeypatch):
    real = operators.make_backend
    monkeypatch.setattr(operators, "make_backend",
                        lambda cfg, seed: ScriptedLLM() if cfg.kind == "litellm" else real(cfg, seed))
    first = run(tmp_path, "first", {"kind": "litellm", "model": "openai/scripted"})
    used = {operator_of(c) for c in first.store.candidates(first.id) if c.backend != "seed"}
    assert used == {"mutation", "edit", "crossover", "rewrite"}
    summary = export_replay(first.store, "first", tmp_path / "export.jsonl")
    assert summary.skipped_errors == 0
    again = run(tmp_path, "again", {"kind": "replay", "path": str(tmp_path / "export.jsonl")})
    assert outcome(again) == outcome(first)
    purposes = [c.purpose for c in again.store.llm_calls(again.id)]
    assert purposes == [c.purpose for c in first.store.llm_calls(first.id)]
