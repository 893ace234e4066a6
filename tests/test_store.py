from pathlib import Path

import pytest

from knowledge.records import FailureKind, Status
from knowledge.store import SCHEMA_VERSION, Store, StoreError


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
