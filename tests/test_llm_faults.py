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


def _budgeted(server: str, tmp_path: Path, use: list[str]) -> Campaign:  # noqa: F811
    FakeOpenAI.requests, FakeOpenAI.delay_s, FakeOpenAI.script = [], 0.0, [200]
    FakeOpenAI.content = f"```python\n{VALID.read_text().replace('128', '40')}```"
    cfg = parse_config({
        "name": "llm-budget", "store": str(tmp_path / "s.db"), "seed": 1,
        "task": {"name": "digits", "options": {"epochs": 1}},
        "budget": {"proposals": 5, "llm_calls": 1},
        "backends": [{"kind": "litellm", "model": "openai/fake", "api_base": server, "retries": 1}],
        "prefilter": {"enabled": False}, "operators": {"use": use},
        "search": {"insight_every": 0, "repair_attempts": 0},
    })
    return Campaign(cfg, executor=FakeExecutor(get_task("digits", cfg.task.options)))


def test_a_spent_llm_budget_leaves_the_agent_its_mutations(server: str, tmp_path: Path):  # noqa: F811
    """LLM calls capped at 1: the agent makes one LLM proposal, then goes on with AST mutation alone."""
    campaign = _budgeted(server, tmp_path, ["mutation", "rewrite"])
    summary = campaign.run()
    proposed = [c for c in campaign.store.candidates(campaign.id) if c.backend != "seed"]
    assert summary.stop_reason.startswith("proposal budget") and len(proposed) == 5
    assert len(FakeOpenAI.requests) == 1 and len(campaign.store.llm_calls(campaign.id)) == 1
    assert sorted(c.operator for c in proposed).count("rewrite") == 1
    assert {c.operator for c in proposed} == {"mutation", "rewrite"}


def test_a_spent_llm_budget_ends_a_campaign_that_needs_the_llm(server: str, tmp_path: Path):  # noqa: F811
    campaign = _budgeted(server, tmp_path, ["rewrite"])
    summary = campaign.run()
    assert summary.stop_reason == "LLM-call budget (1) spent" and len(FakeOpenAI.requests) == 1
    assert len([c for c in campaign.store.candidates(campaign.id) if c.backend != "seed"]) == 1
