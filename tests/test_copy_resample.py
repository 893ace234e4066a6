"""A reply that copies an exemplar verbatim is resampled, logged, and replayed exactly (fake executor)."""

from __future__ import annotations

import json
from pathlib import Path

from archagent.agent.config import parse_config
from archagent.agent.loop import Campaign
from archagent.agent.replay_export import export_replay
from archagent.evals.tasks import get_task
from archagent.knowledge.records import Status

from tests.helpers.campaigns import replay_config
from tests.helpers.fake_executor import FakeExecutor

SEEDS = Path(__file__).parent.parent / "evals" / "seeds" / "digits"


def write_replay(path: Path, codes: list[str]) -> Path:
    path.write_text("".join(json.dumps({"reply": f"```python\n{c}```"}) + "\n" for c in codes))
    return path


def campaign(tmp: Path, name: str, replay: Path) -> Campaign:
    data = replay_config(tmp, name=name, proposals=1)
    data["backends"] = [{"kind": "replay", "path": str(replay), "copy_retries": 2}]
    data["store"] = str(tmp / f"{name}.db")
    cfg = parse_config(data)
    return Campaign(cfg, executor=FakeExecutor(get_task("digits", cfg.task.options)))


def test_copy_is_resampled_and_replays_exactly(tmp_path: Path):
    copy = (SEEDS / "cnn.py").read_text()
    variant = (SEEDS / "mlp.py").read_text().replace("128", "80")
    first = campaign(tmp_path, "first", write_replay(tmp_path / "r.jsonl", [copy, variant]))
    first.run()
    (cand,) = [c for c in first.store.candidates(first.id) if c.backend != "seed"]
    assert cand.status == Status.OK and "80" in cand.code
    assert [c.purpose for c in first.store.llm_calls(first.id)] == ["propose-copy", "propose"]

    export_replay(first.store, "first", tmp_path / "export.jsonl")
    again = campaign(tmp_path, "again", tmp_path / "export.jsonl")
    again.run()
    (rerun,) = [c for c in again.store.candidates(again.id) if c.backend != "seed"]
    assert (rerun.code, rerun.metric) == (cand.code, cand.metric)
