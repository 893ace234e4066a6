"""User mistakes give one clear line, a non-zero exit, and touch no existing data."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from archagent.knowledge.records import Status
from archagent.knowledge.store import Store

from tests.helpers.cli import cli, one_line_error


@pytest.fixture
def existing_store(tmp_path: Path) -> Path:
    store = Store(tmp_path / "s.db")
    camp = store.create_campaign("old", "digits", "{}")
    store.add_candidate(camp.id, "code", Status.OK, metric=0.5)
    store.close()
    return tmp_path / "s.db"


def digest(path: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))).hexdigest()


BAD_CONFIGS = {
    "malformed": ("name = \n", "not valid TOML"),
    "unknown key": ('store = "s.db"\n[budget]\nproposal = 3\n', "unknown key 'budget.proposal'"),
    "bad value": ('store = "s.db"\n[budget]\nproposals = "many"\n', "'budget.proposals'"),
    "unknown backend": ('store = "s.db"\n[[backends]]\nkind = "gpt9"\n', "backends.0.kind"),
    "missing model file": ('store = "s.db"\n[[backends]]\nkind = "local"\nmodel = "/nope/m.gguf"\n', "m.gguf"),
    "missing replay file": ('store = "s.db"\n[[backends]]\nkind = "replay"\npath = "r.jsonl"\n', "r.jsonl"),
    "unknown task": ('store = "s.db"\n[task]\nname = "imagenet"\n', "unknown task"),
    "unwritable store": ('store = "/no/such/dir/s.db"\n', "does not exist"),
    "boolean as integer": ('store = "s.db"\n[budget]\nproposals = true\n', "'budget.proposals'"),
    "float as integer": ('store = "s.db"\n[budget]\nproposals = 1e12\n', "'budget.proposals'"),
    "integer as boolean": ('store = "s.db"\n[prefilter]\nenabled = 1\n', "'prefilter.enabled'"),
    "absurd number": ('store = "s.db"\n[budget]\nwall_time_s = 1e300\n', "'budget.wall_time_s'"),
    "too many workers": ('store = "s.db"\n[executor]\nworkers = 4000\n', "force = true"),
    "task option typo": ('store = "s.db"\n[task]\noptions = { epoch = 8 }\n',
                         "task 'digits' has no option 'epoch' (valid: split_seed, epochs); did you mean 'epochs'?"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_is_one_line_and_harmless(case: str, existing_store: Path, tmp_path: Path):
    text, needle = BAD_CONFIGS[case]
    (tmp_path / "c.toml").write_text(text)
    before = digest(existing_store)
    one_line_error(cli("run", "c.toml", cwd=tmp_path), needle)
    assert digest(existing_store) == before
    assert [c.name for c in Store(existing_store).campaigns()] == ["old"]


def test_missing_files_and_ids(existing_store: Path, tmp_path: Path):
    one_line_error(cli("run", "nope.toml", cwd=tmp_path), "not found")
    one_line_error(cli("evaluate", "--task", "digits", "nope.py", cwd=tmp_path), "no such file")
    one_line_error(cli("show", "99", "--store", str(existing_store), cwd=tmp_path), "no candidate 99")
    one_line_error(cli("list", "nope", "--store", str(existing_store), cwd=tmp_path), "no campaign 'nope'")
    one_line_error(cli("status", "--store", str(tmp_path / "none.db"), cwd=tmp_path), "no knowledge store")


def test_workers_beyond_the_machine_need_force():
    from archagent.agent.config import ConfigError, check_workers, max_workers, parse_config

    too_many = {"executor": {"workers": max_workers() + 1}}
    with pytest.raises(ConfigError, match="force = true"):
        check_workers(parse_config(too_many).executor)
    check_workers(parse_config({"executor": {**too_many["executor"], "force": True}}).executor)
    check_workers(parse_config({"executor": {"kind": "ray", "workers": max_workers() + 1}}).executor)  # a cluster's
    assert parse_config(too_many).executor.workers == max_workers() + 1  # the schema itself does not depend on here
