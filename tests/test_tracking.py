"""[tracking] mlflow: a campaign writes every finished candidate to a real local MLflow file store."""

from __future__ import annotations

import pytest
from archagent.agent.config import ConfigError, load_config, parse_config
from archagent.knowledge.store import Store

from tests.final_example import campaign_config

mlflow = pytest.importorskip("mlflow")


def test_relative_file_uri_is_relative_to_the_config_file(tmp_path):
    toml = tmp_path / "sub" / "c.toml"
    toml.parent.mkdir()
    toml.write_text('[tracking]\nmlflow = "file:./mlruns"\n')
    assert load_config(toml).tracking.mlflow == (tmp_path / "sub" / "mlruns").as_uri()
    toml.write_text('[tracking]\nmlflow = "sqlite:///m.db"\n')
    assert load_config(toml).tracking.mlflow == f"sqlite:///{tmp_path / 'sub' / 'm.db'}"
    toml.write_text('[tracking]\nmlflow = "http://localhost:5000"\nexperiment = "x"\n')
    assert load_config(toml).tracking.mlflow == "http://localhost:5000"
    with pytest.raises(ConfigError, match="tracking.bogus"):
        parse_config({"tracking": {"bogus": 1}})


@pytest.mark.slow
@pytest.mark.parametrize("store", ["file", "sqlite"])
def test_every_candidate_becomes_a_nested_mlflow_run(tmp_path, store):
    from archagent.agent.loop import Campaign
    from mlflow.tracking import MlflowClient

    uri = (tmp_path / "mlruns").as_uri() if store == "file" else f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = parse_config(campaign_config(tmp_path, name="tracked", tracking={"mlflow": uri}))
    Campaign(cfg).run()
    cands = [c for c in Store(cfg.store).candidates("tracked") if str(c.status) not in ("pending", "running")]

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("tracked")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("archagent.campaign") == "tracked"]
    children = [r for r in runs if "archagent.candidate_id" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.params["task.name"] == "digits"
    assert sorted(int(r.data.tags["archagent.candidate_id"]) for r in children) == sorted(c.id for c in cands)
    by_id = {int(r.data.tags["archagent.candidate_id"]): r for r in children}
    for c in cands:
        run = by_id[c.id]
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert run.data.tags["status"] == str(c.status)
        assert run.data.params["backend"] == c.backend
        if c.failure_kind:
            assert run.data.tags["failure_kind"] == str(c.failure_kind)
        if c.parent_ids:
            assert run.data.tags["parent"] == str(c.parent_ids[0])
        if c.metric is not None:
            assert run.data.metrics["accuracy"] == pytest.approx(c.metric)
            assert run.data.metrics["test_accuracy"] == pytest.approx(c.test_metric)
            history = client.get_metric_history(run.info.run_id, "train_loss")
            assert len(history) == len(c.history)
        code = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/candidate.py")
        assert code == c.code

    assert run.info.artifact_uri.startswith(tmp_path.as_uri())  # beside the store, not in the cwd
    # a resumed campaign reuses its campaign run instead of creating a second one
    Campaign(cfg).run()
    again = client.search_runs([exp.experiment_id], "tags.`archagent.campaign` = 'tracked'")
    assert len(again) == 1
