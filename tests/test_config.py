from pathlib import Path

import pytest
from archagent.agent.config import CampaignConfig, ConfigError, load_config, parse_config


def test_empty_config_has_working_defaults():
    cfg = parse_config({})
    assert cfg.task.name == "digits"
    assert cfg.backends[0].kind == "local"
    assert cfg.budget.proposals == 10


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="unknown key 'budget.propsals'"):
        parse_config({"budget": {"propsals": 3}})


def test_bad_value_is_named():
    with pytest.raises(ConfigError, match="'budget.proposals'"):
        parse_config({"budget": {"proposals": -1}})


def test_replay_backend_needs_a_path():
    with pytest.raises(ConfigError, match="replay"):
        parse_config({"backends": [{"kind": "replay"}]})


def test_unknown_backend_kind():
    with pytest.raises(ConfigError, match="backends.0.kind"):
        parse_config({"backends": [{"kind": "gpt-magic"}]})


def test_load_resolves_paths_relative_to_the_file(tmp_path: Path):
    (tmp_path / "c.toml").write_text('store = "x.db"\n[[backends]]\nkind = "replay"\npath = "r.jsonl"\n')
    cfg = load_config(tmp_path / "c.toml")
    assert cfg.store == tmp_path / "x.db"
    assert cfg.backends[0].path == tmp_path / "r.jsonl"


def test_missing_and_malformed_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("name = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


def test_resolved_config_round_trips_as_json():
    cfg = parse_config({"name": "x", "budget": {"proposals": 3}})
    assert CampaignConfig.model_validate_json(cfg.model_dump_json()) == cfg
