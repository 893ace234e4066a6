"""Bring-your-own tasks end to end: `.npz` files and custom Task classes (module:Class, entry point).

    pytest tests/test_tasks_byo.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from archagent.agent.config import parse_config
from archagent.agent.loop import Campaign
from archagent.evals.tasks import TaskError, get_task, task_names
from archagent.knowledge.records import Status
from archagent.knowledge.store import Store

FIXTURES = Path(__file__).parent / "fixtures"


def write_regression(path: Path, with_test: bool = True) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6)).astype(np.float32)
    w = rng.normal(size=(6, 2))
    y = x @ w + 0.05 * rng.normal(size=(500, 2))  # (N, 2) targets
    arrays = {"x_train": x[:300], "y_train": y[:300], "x_val": x[300:400], "y_val": y[300:400]}
    if with_test:
        arrays.update(x_test=x[400:], y_test=y[400:])
    np.savez(path, **arrays)
    return path


def campaign(tmp: Path, task: dict, replay: str = "generic_replay.jsonl"):
    cfg = parse_config({"name": "byo", "store": str(tmp / "store.db"), "task": task, "budget": {"proposals": 1},
                        "backends": [{"kind": "replay", "path": str(FIXTURES / replay)}],
                        "sandbox": {"timeout_s": 120}})
    run = Campaign(cfg)
    summary = run.run()
    store = Store(cfg.store)
    return run, summary, store.candidates(store.campaign(cfg.name).id)


def test_npz_regression_campaign_minimises_mse(tmp_path):
    path = write_regression(tmp_path / "lin.npz")
    run, summary, cands = campaign(tmp_path, {"name": "npz", "options": {"path": str(path), "kind": "regression",
                                                                         "epochs": 30}})
    assert run.task.spec.in_shape == (6,) and run.task.spec.n_out == 2 and not run.task.higher_is_better
    (cand,) = cands
    assert cand.status == Status.OK, cand.failure_msg
    baseline = float(np.var(np.load(path)["y_val"], axis=0).mean())  # predicting the mean
    assert cand.metric < 0.5 * baseline and summary.best.id == cand.id


def test_npz_classification_shapes_and_metric(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(90, 3, 4))
    y = rng.integers(0, 5, 90)
    np.savez(tmp_path / "c.npz", x_train=x[:60], y_train=y[:60], x_val=x[60:], y_val=y[60:])
    task = get_task("npz", {"path": str(tmp_path / "c.npz")})
    assert task.spec.in_shape == (3, 4) and task.spec.n_out == int(y.max()) + 1 and task.higher_is_better
    s = task.splits()
    assert s.x_train.dtype == np.float32 and np.array_equal(s.y_test, s.y_val)  # no test split: test = val
    assert task.score(np.eye(task.spec.n_out)[s.y_val], "val") == 1.0


def test_npz_user_errors_are_one_line(tmp_path):
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((4, 2)), y_train=np.zeros(4, np.int64))
    with pytest.raises(TaskError, match="lacks array"):
        get_task("npz", {"path": str(tmp_path / "bad.npz")})
    with pytest.raises(TaskError, match="not found"):
        get_task("npz", {"path": str(tmp_path / "missing.npz")})
    write_regression(tmp_path / "r.npz")
    with pytest.raises(TaskError, match="integer labels"):
        get_task("npz", {"path": str(tmp_path / "r.npz")})  # float targets as classification


def test_custom_class_campaign_via_module_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    run, summary, cands = campaign(tmp_path, {"name": "custom_task:SineTask", "options": {"epochs": 5}})
    assert [c.status for c in cands] == [Status.OK, Status.OK], [c.failure_msg for c in cands]
    assert cands[0].seed_name == "mlp"
    assert all(c.metric > 0.5 for c in cands)  # 4 classes, chance is 0.25


def test_custom_task_via_entry_point(tmp_path, monkeypatch):
    dist = tmp_path / "sine_tasks-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sine-tasks\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[archagent.tasks]\nsines = custom_task:SineTask\n")
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "sines" in task_names()
    task = get_task("sines", {"n": 100})
    assert task.spec.name == "sines" and len(task.splits().x_train) == 60


def test_bad_task_names_are_one_line():
    with pytest.raises(TaskError, match="unknown task 'nope'"):
        get_task("nope")
    with pytest.raises(TaskError, match="cannot import"):
        get_task("no_such_module_xyz:Task")
    with pytest.raises(TaskError, match="no attribute"):
        get_task("archagent.evals.tasks.digits:Nope")
    with pytest.raises(TaskError, match="not an evals.tasks.Task"):
        get_task("collections:OrderedDict")
    with pytest.raises(TaskError, match=r"task 'mnist1d' has no option 'no_such_option' \(valid: val_size, epochs"):
        get_task("mnist1d", {"no_such_option": 1})
