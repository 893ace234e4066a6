"""The knowledge loop in campaigns on the fake executor: replay backend, scripted results, real store.

Later prompts carry earlier results, failures, duplicates and insights; a build
failure is repaired; islands and backends are recorded per candidate; an
exported campaign re-runs to the same candidates and metrics; a second
campaign in the same store starts from the first one's best and its insights.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from archagent.agent.config import parse_config
from archagent.agent.insights import parse_lessons
from archagent.agent.loop import Campaign
from archagent.agent.replay_export import export_replay
from archagent.evals.tasks import get_task
from archagent.knowledge.records import FailureKind, Status
from archagent.knowledge.store import Store

from tests.helpers.campaigns import FIXTURES, replay_config
from tests.helpers.fake_executor import FakeExecutor

LESSON = "the cnn seed beats the mlp seed with fewer parameters"
ANALYST_REPLY = f"Here is what I see:\n- {LESSON} [ids: 1, 2]\n- a lesson citing nothing real [ids: 999]\nthe end"
FIXED = """```python
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, in_shape, n_out):
        super().__init__()
        self.fc = nn.Linear(64, n_out)

    def forward(self, x):
        return self.fc(x.flatten(1))
```"""
SEARCH = {"insight_every": 2, "repair_attempts": 1, "islands": 2, "migration_interval": 2}
# the fixture's shape bug (its 5th reply), with the error torch gives for it
RULES = {"self.fc = nn.Linear(32, n_out)":
         (FailureKind.SHAPE, "mat1 and mat2 shapes cannot be multiplied (2x64 and 32x10)")}


def fixture_rows() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "digits_replay.jsonl").read_text().splitlines()]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def mlp_reply(width: int) -> str:
    code = Path("evals/seeds/digits/mlp.py").read_text().replace("128", str(width))
    return f"```python\n{code}```"


def run(tmp: Path, name: str, replay: list[Path], proposals: int = 8, store: Path | None = None,
        weights: list[float] | None = None, search: dict | None = None) -> Campaign:
    weights = weights or [1.0] * len(replay)
    backends = [{"kind": "replay", "path": str(p), "weight": w} for p, w in zip(replay, weights, strict=True)]
    data = replay_config(tmp, name=name, proposals=proposals, backends=backends, search=search or SEARCH,
                         prefilter={"enabled": False})
    if store:
        data["store"] = str(store)
    cfg = parse_config(data)
    campaign = Campaign(cfg, executor=FakeExecutor(get_task("digits", cfg.task.options), RULES))
    campaign.run()
    return campaign


@pytest.fixture(scope="module")
def learned(tmp_path_factory) -> Campaign:
    """Six fixture proposals (ok, duplicate, no code, syntax, shape, ok) plus one analysis and one repair reply."""
    tmp = tmp_path_factory.mktemp("knowledge")
    rows = [*fixture_rows(), {"reply": ANALYST_REPLY, "purpose": "analyze", "completion_tokens": 30},
            {"reply": FIXED, "purpose": "repair", "completion_tokens": 40}]
    return run(tmp, "learn", [write_jsonl(tmp / "learn.jsonl", rows)])


def prompt_of(call) -> str:
    return json.loads(call.prompt)[1]["content"]


def test_later_prompts_carry_results_failures_duplicates_and_insights(learned):
    calls = learned.store.llm_calls(learned.id)
    analyze = [c for c in calls if c.purpose == "analyze"]
    assert len(analyze) == 1 and "Finished architectures" in prompt_of(analyze[0])
    insights = learned.store.insights("digits")
    assert [(i.text, i.candidate_ids, i.llm_call_id) for i in insights] == [(LESSON, (1, 2), analyze[0].id)]
    proposes = [c for c in calls if c.purpose == "propose"]
    with_lesson = [c.id for c in proposes if LESSON in prompt_of(c)]
    assert with_lesson and min(with_lesson) > analyze[0].id  # only prompts written after the analysis
    assert with_lesson == [c.id for c in proposes if c.id > analyze[0].id]
    last = prompt_of(proposes[-1])
    needles = ("Best results so far", "[no_code]", "[syntax]", "already proposed", "Lessons learned", "(from #1, #2)")
    for needle in needles:
        assert needle in last, needle
    assert "Lessons learned" not in prompt_of(proposes[0])


def test_shape_failure_is_repaired_into_a_linked_child(learned):
    cands = learned.store.candidates(learned.id)
    failed = next(c for c in cands if c.failure_kind == FailureKind.SHAPE)
    child = next(c for c in cands if c.repair_of == failed.id)
    call = learned.store.llm_call(child.llm_call_id)
    assert call.purpose == "repair" and "mat1" in prompt_of(call) and "repair attempt 1" in prompt_of(call)
    assert child.parent_ids == (failed.id,) and child.status == Status.OK and child.backend == failed.backend
    assert child.island == failed.island is not None and child.operator == "repair"
    assert not [c for c in cands if c.repair_of == child.id]  # repaired once, fixed


def test_islands_and_lineage_are_recorded(learned):
    proposed = [c for c in learned.store.candidates(learned.id) if c.backend != "seed"]
    assert {c.island for c in proposed} == {0, 1}
    assert all(c.parent_ids for c in proposed)
    totals = learned.store.totals(learned.id)
    assert totals["calls"] == 8 and totals["tokens"] == 6 * 150 + 30 + 40


def outcome(store: Store, campaign_id: int) -> Counter:
    return Counter((c.code, str(c.status), c.metric, c.test_metric, c.params, c.failure_kind)
                   for c in store.candidates(campaign_id))


def test_exported_replay_reruns_to_the_same_candidates_and_metrics(learned, tmp_path):
    summary = export_replay(learned.store, "learn", tmp_path / "export.jsonl")
    assert summary.by_purpose == {"propose": 6, "analyze": 1, "repair": 1} and summary.skipped_errors == 0
    rerun = run(tmp_path, "rerun", [summary.path])
    assert outcome(rerun.store, rerun.id) == outcome(learned.store, learned.id)
    assert [i.text for i in rerun.store.insights("digits")] == [LESSON]


def test_two_backends_record_which_produced_each_candidate(tmp_path):
    rows = fixture_rows()
    cheap = [rows[0], rows[5], {"reply": mlp_reply(200)}, {"reply": mlp_reply(160)}]
    a = write_jsonl(tmp_path / "cheap.jsonl", cheap)
    b = write_jsonl(tmp_path / "strong.jsonl", [{"reply": mlp_reply(w), "prompt_tokens": 500, "completion_tokens": 100,
                                                 "cost_usd": 0.002} for w in (96, 48, 40, 36)])
    camp = run(tmp_path, "two", [a, b], proposals=4, weights=[3.0, 1.0], search={"insight_every": 0})
    proposed = [c for c in camp.store.candidates(camp.id) if c.backend != "seed"]
    source = {json.dumps(r["reply"]) for r in cheap}
    assert len(proposed) == 4 and {c.backend for c in proposed} == {"replay:cheap.jsonl", "replay:strong.jsonl"}
    for c in proposed:
        call = camp.store.llm_call(c.llm_call_id)
        assert call.backend == c.backend
        assert (c.backend == "replay:strong.jsonl") == (json.dumps(call.reply) not in source)
    strong = sum(1 for c in proposed if c.backend == "replay:strong.jsonl")
    assert camp.store.totals(camp.id)["cost_usd"] == pytest.approx(0.002 * strong)


def test_a_new_campaign_starts_from_earlier_best_and_insights(learned, tmp_path):
    first_ids = {c.id for c in learned.store.candidates(learned.id)}
    one = write_jsonl(tmp_path / "one.jsonl", [{"reply": mlp_reply(72)}])
    second = run(tmp_path, "second", [one], proposals=1, store=learned.store.path, search={"insight_every": 0})
    cand = next(c for c in second.store.candidates(second.id) if c.backend != "seed")
    prompt = prompt_of(second.store.llm_call(cand.llm_call_id))
    assert set(cand.parent_ids) & first_ids and "from an earlier campaign" in prompt
    assert LESSON in prompt


@pytest.mark.parametrize("reply,expected", [
    ("- wider layers help [ids: 3, 7]", [("wider layers help", (3, 7))]),
    ("1. depthwise convs cut params 4x (ids: #3)\n* bad", [("depthwise convs cut params 4x", (3,))]),
    ("- cites an unknown [ids: 99]\n- no ids at all\n", []),
    ("", []),
    ("```\n- fenced lessons still parse [id: 7].\n```", [("fenced lessons still parse", (7,))]),
    ("- [ids: 3]", []),
    ("<lesson> [id: 3] [id: 3, 7]\n- <what you learned> [ids: 7]", []),  # the 0.5B model echoed placeholders
    ("- wide layers help here [ids: 3]\n- Wide layers help here [ids: 7]", [("wide layers help here", (3,))]),
    ("- the example lesson itself [ids: 3, 7]", []),
])
def test_lesson_parsing_is_robust(reply, expected):
    lessons = parse_lessons(reply, {3, 7}, example="the example lesson itself [ids: 12, 15]")
    assert [(le.text, le.candidate_ids) for le in lessons] == expected


def test_analyst_must_be_an_llm_backend():
    from archagent.agent.config import ConfigError

    base = {"backends": [{"kind": "random"}, {"kind": "replay", "path": "r.jsonl"}]}
    assert parse_config({**base, "search": {"analyst": 1}}).search.analyst == 1
    for bad in (0, 2):
        with pytest.raises(ConfigError, match="search.analyst"):
            parse_config({**base, "search": {"analyst": bad}})
