"""One writer per campaign, for real: two `archagent run` processes on one store.

    pytest tests/test_lock.py
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

from archagent.knowledge.lock import is_held
from archagent.knowledge.store import Store

from tests.faultkit import campaign_toml, cli, kill_group, one_line_error, start, wait_for


def campaign_id(db: Path, name: str) -> int | None:
    if not db.exists():
        return None
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        try:
            row = conn.execute("SELECT id FROM campaigns WHERE name = ?", [name]).fetchone()
        except sqlite3.OperationalError:
            return None
    return row and row[0]


def held(db: Path, name: str) -> bool:
    cid = campaign_id(db, name)
    return cid is not None and is_held(db, cid)


def test_second_run_refuses_naming_the_holder_then_takes_over_from_a_dead_one(tmp_path: Path):
    toml, db = campaign_toml(tmp_path, "busy", proposals=16), tmp_path / "store.db"
    first = start("run", str(toml), cwd=tmp_path)
    try:
        wait_for(lambda: held(db, "busy"), 120, first)
        # held, not finished: an idle box runs all 16 proposals in ~11 s, less than a second CLI takes to start
        os.killpg(first.pid, signal.SIGSTOP)
        line = one_line_error(cli("run", str(toml), cwd=tmp_path), "already being run", f"pid {first.pid}")
        assert "busy" in line
        (tmp_path / "other").mkdir()
        bigger = campaign_toml(tmp_path / "other", "busy", proposals=40, store=str(db))  # a refused run with new limits
        one_line_error(cli("run", str(bigger), cwd=tmp_path), "already being run")
        assert first.poll() is None, "the refused run must not disturb the running one"
        stored = json.loads(Store.open_readonly(db).campaign("busy").config_json)
        assert stored["budget"]["proposals"] == 16, "a refused run must not replace the running one's config"
    finally:
        kill_group(first)  # the holder dies without a word: the kernel drops its lock
    status = json.loads(cli("status", "--store", str(db), "--json", cwd=tmp_path).stdout)
    assert status[0]["state"] == "stopped"  # not "running": its process is gone
    rerun = cli("run", str(toml), cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    store = Store.open_readonly(db)
    camp = store.campaign("busy")
    assert store.count_proposals(camp.id) == 16 and store.integrity_ok()
    assert camp.state == "finished" and store.last_run(camp.id).outcome == "finished"


def test_different_campaigns_in_one_store_run_at_once(tmp_path: Path):
    db = tmp_path / "store.db"
    tomls = [campaign_toml(tmp_path, name, proposals=8) for name in ("left", "right")]
    procs = [start("run", str(t), cwd=tmp_path) for t in tomls]
    try:
        wait_for(lambda: held(db, "left") and held(db, "right"), 180, None)  # both hold their locks at once
        for proc in procs:
            assert proc.wait(timeout=300) == 0, proc.stderr.read()[-3000:]
    finally:
        for proc in procs:
            kill_group(proc)
    store = Store.open_readonly(db)
    assert store.integrity_ok()
    for name in ("left", "right"):
        camp = store.campaign(name)
        assert camp.state == "finished" and store.count_proposals(camp.id) == 8
