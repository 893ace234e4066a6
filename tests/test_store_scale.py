"""The store at scale: trigger-kept counts and parent edges, indexed pages, and a 100k-candidate store whose
CLI commands, web pages and report read it without a full scan (asserted on EXPLAIN QUERY PLAN, not timings).

    pytest tests/test_store_scale.py            # the 100k test is marked slow (~1-2 min)
"""

from __future__ import annotations

import random

import pytest
from archagent.agent.cli import app
from archagent.agent.web import App
from archagent.knowledge.records import Status, ranked
from archagent.knowledge.store import Store
from typer.testing import CliRunner

from benchmarks.store_scale import bad_plan_lines, full_scans, traced
from benchmarks.synth_store import generate


def small_store(tmp_path, n: int = 120) -> tuple[Store, int]:
    rng = random.Random(3)
    store = Store(tmp_path / "small.db")
    camp = store.create_campaign("c", "digits", "{}")
    ids: list[int] = []
    for i in range(n):
        parents = tuple(rng.sample(ids, k=min(len(ids), rng.choice((0, 1, 1, 2)))))
        status = rng.choice([Status.OK, Status.OK, Status.FAILED, Status.DUPLICATE, Status.FILTERED])
        metric = round(rng.uniform(0.5, 1.0), 2) if status == Status.OK else None  # rounded: ties happen
        cid = store.add_candidate(camp.id, f"# {i}", Status.PENDING, parent_ids=parents,
                                  backend="seed" if i < 3 else "replay", params=rng.choice([None, 100, 200, 300]))
        store.update_candidate(cid, status=status, metric=metric)
        ids.append(cid)
    store.add_llm_call(camp.id, backend="b", model="m", purpose="propose", prompt="[]", prompt_tokens=3,
                       completion_tokens=4, cost_usd=0.5, latency_s=2.0)
    return store, camp.id


def test_trigger_tables_match_a_full_recount_and_survive_a_backfill(tmp_path):
    store, cid = small_store(tmp_path)
    cands = store.candidates(cid)
    expect = {s: sum(1 for c in cands if c.status == s) for s in {c.status for c in cands}}
    assert store.counts(cid) == expect
    assert store.count_proposals(cid) == sum(1 for c in cands if c.backend != "seed")
    assert store.totals(cid) == {"calls": 1, "tokens": 7, "cost_usd": 0.5, "llm_seconds": 2.0}
    assert sorted(store.child_ids(cands[0].id)) == [c.id for c in store.children(cands[0].id)]
    store.db.execute("DELETE FROM meta WHERE key = 'derived_tables'")
    store.db.execute("DELETE FROM status_counts")
    store.db.conn.commit()
    store.close()
    again = Store(tmp_path / "small.db")  # an older store: the tables are rebuilt once on open
    assert again.counts(cid) == expect


def test_pages_follow_the_old_in_memory_sorts(tmp_path):
    store, cid = small_store(tmp_path)
    cands = store.candidates(cid)
    rank = ranked(cands, True) + sorted((c for c in cands if c.status != Status.OK), key=lambda c: c.id)
    by_params = sorted(cands, key=lambda c: (c.params is None, c.params or 0, c.id))
    for sort, expect in (("rank", rank), ("params", by_params), ("id", cands)):
        got = [c.id for off in range(0, len(cands), 7) for c in store.page(cid, sort=sort, limit=7, offset=off)]
        assert got == [c.id for c in expect], sort
    assert [c.id for c in store.top(cid, False, 5)] == [c.id for c in ranked(cands, False)[:5]]
    oks = store.page(cid, sort="metric", statuses=(Status.OK,), limit=1000)
    assert [c.id for c in oks] == [c.id for c in ranked(cands, True)]


def test_lineage_queries_walk_the_parent_edges(tmp_path):
    store, cid = small_store(tmp_path)
    cands = {c.id: c for c in store.candidates(cid)}
    last = max(cands)
    chain, cur = [], last
    while cands[cur].parent_ids:
        cur = cands[cur].parent_ids[0]
        chain.append(cur)
    assert store.first_parent_chain(last) == chain
    tree = store.subtree_ids(1, max_nodes=10_000)
    kids = {c.id for c in cands.values() if 1 in c.parent_ids}
    assert tree[0] == 1 and kids <= set(tree)
    assert len(store.subtree_ids(1, max_nodes=5)) <= 5


def test_batch_commits_once_and_rolls_back_whole(tmp_path):
    store, cid = small_store(tmp_path, n=5)
    other = Store.open_readonly(store.path)
    with store.batch():
        new = store.add_candidate(cid, "# batched", Status.PENDING)
        store.update_candidate(new, status=Status.OK, metric=0.9)
        assert other.count(cid) == 5  # not committed yet: a reader does not see it
    assert other.candidate(new).status == Status.OK and other.count(cid) == 6
    with pytest.raises(RuntimeError), store.batch():
        store.add_candidate(cid, "# lost", Status.PENDING)
        raise RuntimeError("the event failed")
    assert store.count(cid) == 6 and store.counts(cid) == other.counts(cid)


def test_plan_checker_flags_full_scans():
    assert bad_plan_lines(["SCAN candidates"]) == ["SCAN candidates"]
    assert bad_plan_lines(["SCAN candidates USING COVERING INDEX idx_cand_metric"])
    assert not bad_plan_lines(["SEARCH candidates USING INDEX idx_cand_metric (campaign_id=?)",
                               "USE TEMP B-TREE FOR RIGHT PART OF ORDER BY"])


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    path = tmp_path_factory.mktemp("scale") / "synth100k.db"
    return generate(path, 100_000)


@pytest.mark.slow
def test_100k_store_pages_report_and_cli_use_indexes(big, tmp_path):
    store = Store.open_readonly(big.path)
    camp = store.campaign(big.campaign)
    assert sum(store.counts(camp.id).values()) == 100_000
    best = store.top(camp.id, True, 1)[0]
    newest = store.page(camp.id, sort="id", statuses=(Status.OK,), limit=1,
                        offset=store.count(camp.id, Status.OK) - 1)[0]
    assert newest.parent_ids and store.first_parent_chain(newest.id)
    store.close()
    web, s = App(big.path), str(big.path)
    runner = CliRunner()
    with traced() as stmts:
        for args in (["list", big.campaign, "--limit", "50"], ["list", big.campaign, "--limit", "50", "--offset",
                     "60000", "--sort", "params"], ["show", str(best.id), "--prompt"], ["diff", str(newest.id)],
                     ["lineage", str(newest.id)], ["lineage", "1", "--json"], ["status", "--json"]):
            result = runner.invoke(app, [*args, "--store", s], env={"COLUMNS": "200"})
            assert result.exit_code == 0, (args, result.output[-400:])
        assert f'"best_metric": {best.metric}' in result.output
        page = web.get(f"/campaign/{big.campaign}?sort=flops&status=ok&page=300&per=50")
        assert page.status == 200 and "page 300 of" in page.body and page.body.count('class="cand"') == 50
        for url in (f"/campaign/{big.campaign}", f"/candidate/{newest.id}", "/candidate/1",
                    f"/campaign/{big.campaign}/lineage", "/"):
            assert web.get(url).status == 200, url
        out = tmp_path / "r.html"
        runner.invoke(app, ["report", big.campaign, "--out", str(out), "--store", s])
    assert out.stat().st_size < 5 * 2**20 and f"#{best.id}" in out.read_text()
    assert len(stmts) > 50
    assert full_scans(big.path, stmts) == []
