"""kill -9 of `archagent run` mid-campaign, then the same command again (crash-safe campaigns: docs/contracts.md §4)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from archagent.knowledge.records import Status
from archagent.knowledge.store import Store

from tests.helpers.campaigns import FIXTURES

CONFIG = """
name = "crashy"
store = "store.db"
[task]
name = "digits"
options = {{epochs = 3}}
[budget]
proposals = 6
[[backends]]
kind = "replay"
path = "{replay}"
[executor]
workers = 2
"""


def descendants(pid: int) -> set[int]:
    """All live processes below pid (by walking /proc's parent links)."""
    parent = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def count(db: Path, where: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        try:
            return conn.execute(f"SELECT count(*) FROM candidates WHERE {where}").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def start(tmp: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "archagent.agent.cli", "run", "c.toml"], cwd=tmp,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "120"})


def test_kill_9_then_resume(tmp_path: Path):
    (tmp_path / "c.toml").write_text(CONFIG.format(replay=FIXTURES / "digits_replay.jsonl"))
    db = tmp_path / "store.db"
    proc = start(tmp_path)
    deadline = time.monotonic() + 240
    while count(db, "backend != 'seed' AND status = 'running'") == 0 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.2)
    below = descendants(proc.pid)
    assert below, "the campaign should have sandbox workers running"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(3)
    assert not [p for p in below if alive(p)], "orphaned sandbox processes survived the kill"

    store = Store(db)
    camp = store.campaign("crashy")
    finished_before = {c.id: c for c in store.candidates(camp.id, Status.OK, Status.FAILED, Status.DUPLICATE)}
    unfinished = store.candidates(camp.id, Status.PENDING, Status.RUNNING)
    assert unfinished, "the kill should have interrupted some work"

    rerun = start(tmp_path)
    assert rerun.wait(timeout=400) == 0, rerun.stderr.read().decode()
    store = Store(db)
    assert store.integrity_ok()
    after = {c.id: c for c in store.candidates(camp.id)}
    for cid, before in finished_before.items():  # nothing finished was lost or re-run
        assert after[cid] == before
    for cand in unfinished:  # interrupted work was re-queued and finished
        assert after[cand.id].status not in (Status.PENDING, Status.RUNNING)
    proposed = [c for c in after.values() if c.backend != "seed"]
    assert len(proposed) == 6
    assert not store.orphan_calls(camp.id)
