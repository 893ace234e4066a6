"""The report overlays random-search campaigns on the same task as a baseline curve."""

from pathlib import Path

from archagent.evals.report.data import gather
from archagent.evals.report.plots import best_so_far
from archagent.knowledge.records import Status
from archagent.knowledge.store import Store


def test_random_campaigns_on_the_task_become_baseline_curves(tmp_path: Path):
    store = Store(tmp_path / "s.db")
    rand = store.create_campaign("rand", "digits", "{}")
    for m in (0.5, 0.7, 0.6):
        store.add_candidate(rand.id, "x", Status.OK, backend="random", metric=m)
    other_task = store.create_campaign("rand-lm", "charlm", "{}")
    store.add_candidate(other_task.id, "x", Status.OK, backend="random", metric=2.0)
    llm = store.create_campaign("llm", "digits", "{}")
    store.add_candidate(llm.id, "x", Status.OK, backend="replay", metric=0.8, params=10)
    data = gather(store, "llm")
    assert data.baselines == {"rand": [0.5, 0.7, 0.7]}
    assert best_so_far(data).png
    assert gather(store, "rand").baselines == {}
