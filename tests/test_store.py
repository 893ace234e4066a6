import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from archagent.knowledge.records import Candidate, FailureKind, Status
from archagent.knowledge.store import SCHEMA_VERSION, Store, StoreError


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "s.db")


def test_wal_mode_and_schema_version(store: Store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    assert store.integrity_ok()


def test_many_campaigns_and_candidates_round_trip(store: Store):
    a = store.create_campaign("a", "digits", "{}")
    b = store.create_campaign("b", "digits", "{}")
    root = store.add_candidate(a.id, "code-a", Status.OK, metric=0.9, params=10, proxies={"synflow": 1.5})
    child = store.add_candidate(a.id, "code-b", Status.FAILED, parent_ids=[root], failure_kind=FailureKind.SHAPE,
                                failure_msg="bad", timings={"train_s": 1.0})
    store.add_candidate(b.id, "code-c", Status.PENDING)
    got = store.candidate(child)
    assert got.parent_ids == (root,) and got.failure_kind == FailureKind.SHAPE and got.timings == {"train_s": 1.0}
    assert store.candidate(root).proxies == {"synflow": 1.5}
    assert [c.id for c in store.children(root)] == [child]
    assert len(store.candidates(a.id)) == 2 and len(store.candidates(b.id, Status.PENDING)) == 1
    assert store.counts(a.id) == {"ok": 1, "failed": 1}


def test_find_duplicate_checks_keys_in_order_and_skips_duplicates(store: Store):
    c = store.create_campaign("a", "digits", "{}")
    first = store.add_candidate(c.id, "x", Status.OK, text_key="t1", code_key="k1")
    store.add_candidate(c.id, "x", Status.DUPLICATE, text_key="t2", code_key="k1", duplicate_of=first)
    assert store.find_duplicate(c.id, text_key="t1") == (first, "text_key")
    assert store.find_duplicate(c.id, text_key="zz", code_key="k1") == (first, "code_key")
    assert store.find_duplicate(c.id, text_key="t2") is None
    other = store.create_campaign("b", "digits", "{}")
    assert store.find_duplicate(other.id, text_key="t1") is None


def test_llm_calls_and_totals(store: Store):
    c = store.create_campaign("a", "digits", "{}")
    store.add_llm_call(c.id, backend="replay", model="m", purpose="propose", prompt="[]", reply="r",
                       prompt_tokens=10, completion_tokens=5, latency_s=0.5, cost_usd=0.01)
    totals = store.totals(c.id)
    assert totals["calls"] == 1 and totals["tokens"] == 15 and totals["cost_usd"] == pytest.approx(0.01)
    assert store.llm_calls(c.id)[0].reply == "r"


def test_unknown_ids_and_bad_paths_are_clear(store: Store, tmp_path: Path):
    with pytest.raises(StoreError, match="no campaign 'nope'"):
        store.campaign("nope")
    with pytest.raises(StoreError, match="no candidate 42"):
        store.candidate(42)
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "missing-dir" / "s.db")


def test_reopen_keeps_data(tmp_path: Path):
    s = Store(tmp_path / "s.db")
    c = s.create_campaign("a", "digits", "{}")
    s.add_candidate(c.id, "x", Status.OK)
    s.close()
    assert len(Store(tmp_path / "s.db").candidates(c.id)) == 1


def v1_store(path: Path) -> None:
    """A store as schema version 1 wrote it: typed facts inside the `extra` JSON column."""
    conn = sqlite3.connect(path)
    conn.executescript((Path(__file__).parent / "fixtures" / "schema_v1.sql").read_text())
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute("INSERT INTO campaigns VALUES (1, 'old', 'digits', '{}', 'finished', 't', 't')")
    rows = [
        (1, "seed", "ok", json.dumps({"seed_name": "mlp", "history": [1.0, 0.5], "features": {"depth": 2.0}})),
        (2, "p", "failed", json.dumps({"island": 1, "note": "free-form"})),
        (3, "p", "ok", json.dumps({"island": 0, "repair_of": 2, "epsilon": True, "prefilter": "ε-random pass",
                                   "predicted_metric": 0.8, "low_fidelity_metric": 0.7, "low_fidelity_epochs": 1})),
        (4, "p", "duplicate", json.dumps({"matched_on": "graph_key"})),
    ]
    for cid, code, status, extra in rows:
        conn.execute("INSERT INTO candidates (id, campaign_id, code, status, extra, created, updated) "
                     "VALUES (?, 1, ?, ?, ?, 't', 't')", (cid, code, status, extra))
    conn.commit()
    conn.close()


def test_v1_store_is_upgraded_in_place(tmp_path: Path):
    v1_store(tmp_path / "v1.db")
    store = Store(tmp_path / "v1.db")
    assert store.schema_version() == SCHEMA_VERSION == 3
    seed, failed, repaired, dup = store.candidates(1)
    assert seed.idea is None and dup.idea is None  # v3's column, empty for what came before it
    assert seed.seed_name == "mlp" and seed.history == [1.0, 0.5] and seed.features == {"depth": 2.0}
    assert seed.extra == {} and failed.extra == {"note": "free-form"}  # only free-form notes stay in extra
    assert failed.island == 1 and repaired.island == 0 and repaired.repair_of == 2
    assert repaired.epsilon is True and repaired.prefilter_reason == "ε-random pass"
    assert (repaired.predicted_metric, repaired.low_fidelity_metric, repaired.low_fidelity_epochs) == (0.8, 0.7, 1)
    assert dup.matched_on == "graph_key" and dup.operator is None
    store.close()
    assert Store(tmp_path / "v1.db").candidate(3).repair_of == 2  # reopening an upgraded store changes nothing


def test_v2_store_gains_the_idea_column(tmp_path: Path):
    """A store written before idea cards (schema 2) opens with an empty `idea` column, its rows untouched."""
    with Store(tmp_path / "v2.db") as store:
        camp = store.create_campaign("old", "digits", "{}")
        store.add(Candidate(0, camp.id, "code", Status.OK, metric=0.9, operator="edit"))
        store.db.conn.executescript("DROP INDEX idx_cand_idea; ALTER TABLE candidates DROP COLUMN idea; "
                                    "UPDATE meta SET value = '2' WHERE key = 'schema_version';")
    with Store(tmp_path / "v2.db") as store:
        assert store.schema_version() == 3
        (old,) = store.candidates(camp.id)
        assert old.idea is None and old.metric == 0.9 and old.operator == "edit"
        new = store.add(Candidate(0, camp.id, "code2", Status.OK, idea="squeeze_excitation"))
        assert store.candidate(new.id).idea == "squeeze_excitation"


def test_typed_record_round_trips_with_one_write_per_update(store: Store):
    camp = store.create_campaign("a", "digits", "{}")
    cand = store.add(Candidate(0, camp.id, "code", Status.RUNNING, island=1, operator="edit", seed_name=None))
    assert cand.id and cand.created and store.candidate(cand.id) == cand
    done = store.update(cand, status=Status.OK, metric=0.9, history=[1.0], features={"depth": 3.0}, epsilon=False)
    assert store.candidate(cand.id) == replace(done, created=cand.created)
    assert done.history == [1.0] and store.candidate(cand.id).epsilon is False
