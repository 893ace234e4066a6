"""A campaign survives its LLM: 5xx, 429, garbage and cut-off replies through the real litellm."""

from __future__ import annotations

from pathlib import Path

from archagent.agent.config import parse_config
from archagent.agent.loop import Campaign
from archagent.evals.tasks import get_task
from archagent.knowledge.records import FailureKind, Status

from tests.helpers.fake_executor import FakeExecutor
from tests.helpers.fake_openai import FakeOpenAI, server  # noqa: F401  (the server fixture)

VALID = Path(__file__).parent.parent / "evals" / "seeds" / "digits" / "mlp.py"


def test_campaign_records_llm_faults_and_keeps_going(server: str, tmp_path: Path):  # noqa: F811
    code = VALID.read_text().replace("128", "48")
    FakeOpenAI.requests, FakeOpenAI.delay_s = [], 0.0
    # proposal 1: 500 x3 (retries exhausted); 2: 429 then garbage; 3: a cut-off code block; 4: valid code
    FakeOpenAI.script = [500, 500, 500, 429, 200, 200, 200]
    FakeOpenAI.content = ["I think you should use a transformer.", "```python\nimport torch\nclass Net(",
                          f"```python\n{code}```"]
    cfg = parse_config({
        "name": "faults", "store": str(tmp_path / "s.db"),
        "task": {"name": "digits", "options": {"epochs": 1}},
        "budget": {"proposals": 4},
        "backends": [{"kind": "litellm", "model": "openai/fake", "api_base": server, "retries": 3,
                      "retry_max_wait_s": 0.05}],
        "prefilter": {"enabled": False},
        "operators": {"use": ["rewrite"]},  # whole files: each scripted reply is one proposal
        # no analyst or repair calls: they run on LLM threads and would take scripted replies out of order
        "search": {"insight_every": 0, "repair_attempts": 0},
    })
    campaign = Campaign(cfg, executor=FakeExecutor(get_task("digits", cfg.task.options)))
    summary = campaign.run()
    proposed = [c for c in campaign.store.candidates(campaign.id) if c.backend != "seed"]
    assert [c.failure_kind for c in proposed[:3]] == [FailureKind.LLM, FailureKind.NO_CODE, FailureKind.SYNTAX]
    assert proposed[3].status == Status.OK
    assert summary.stop_reason.startswith("proposal budget")
    calls = campaign.store.llm_calls(campaign.id)
    assert calls[0].error and "500" in calls[0].error and len(FakeOpenAI.requests) == 7
