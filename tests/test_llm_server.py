"""The litellm path with several requests in flight, against a real OpenAI-compatible server.

llama-cpp-python's own server (`benchmarks/llm_server.py: LlamaServer`) serves the embedded model on
127.0.0.1; a campaign with `[pipeline] proposers = 2` sends its proposals through the litellm backend.
Slow (~1 min): the model loads once and writes two short replies.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from archagent.agent.config import parse_config
from archagent.agent.loop import Campaign
from archagent.evals.tasks import get_task

from benchmarks.llm_server import LlamaServer
from tests.helpers.fake_executor import FakeExecutor

pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> LlamaServer:
    from archagent.agent.llm.local import resolve_model

    _, path = resolve_model(None)
    with LlamaServer(path, threads=1, log=tmp_path_factory.mktemp("server") / "server.log") as s:
        yield s


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_proposers_keep_two_requests_in_flight(server: LlamaServer, tmp_path: Path):
    cfg = parse_config({
        "name": "served", "store": str(tmp_path / "s.db"), "task": {"name": "digits", "options": {"epochs": 1}},
        "budget": {"proposals": 2},
        "backends": [{"kind": "litellm", "model": "openai/local", "api_base": server.api_base, "max_tokens": 48,
                      "timeout_s": 600, "copy_retries": 0}],
        "pipeline": {"proposers": 2}, "prefilter": {"enabled": False},
        "operators": {"use": ["rewrite"], "novelty_retries": 0},
        "search": {"insight_every": 0, "repair_attempts": 0},
    })
    campaign = Campaign(cfg, executor=FakeExecutor(get_task("digits", cfg.task.options)))
    campaign.run()
    calls = [c for c in campaign.store.llm_calls(campaign.id) if c.purpose == "propose"]
    assert len(calls) == 2 and all(c.reply and c.error is None and c.completion_tokens > 0 for c in calls)
    ends = [datetime.fromisoformat(c.created).timestamp() for c in calls]  # logged when the reply came
    (s1, e1), (s2, e2) = sorted((end - c.latency_s, end) for c, end in zip(calls, ends, strict=True))
    assert s2 < e1, "the second request was sent only after the first had been answered"
