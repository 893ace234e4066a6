"""Issue 25's data loss, for real: a refused re-run and readers beside running campaigns leave the store exact.

The mechanism: on Linux closing *any* descriptor of a file drops *all* of the process's POSIX locks
on it, SQLite's included; a campaign that did a plain `open()` of its own store looked to the next
process closing a connection like no reader at all, and that process checkpointed, truncated and
unlinked the -wal and -shm files under it. `benchmarks/store_race.py` runs 50 rounds of the same.

    pytest tests/test_store_race.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from archagent.knowledge.store import Store

from tests.helpers.store_race import Race, race_round

CLOSE_ONE = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT count(*) FROM meta'); c.close()"


def test_opening_the_store_again_keeps_this_process_a_reader_for_the_others(tmp_path: Path):
    db = tmp_path / "store.db"
    store = Store(db)
    store.create_campaign("c", "digits", "{}")
    again = [Store(db), Store.open_readonly(db)]  # what a proposer or a reader did per call in the campaign process
    for other in again:
        other.close()
    subprocess.run([sys.executable, "-c", CLOSE_ONE, str(db)], check=True)  # another process, its last connection
    assert (tmp_path / "store.db-wal").exists() and (tmp_path / "store.db-shm").exists(), \
        "another process took this one for gone: it removed the WAL under an open connection"
    store.create_campaign("d", "digits", "{}")
    store.close()
    after = Store.open_readonly(db)
    assert after.integrity_ok() and [c.name for c in after.campaigns()] == ["c", "d"]


def test_a_thread_reuses_its_one_connection(tmp_path: Path):
    import threading

    store, seen = Store(tmp_path / "store.db"), []
    worker = threading.Thread(target=lambda: seen.extend([store.for_thread(), store.for_thread()]))
    worker.start()
    worker.join()
    assert store.for_thread() is store and seen[0] is seen[1] and seen[0] is not store
    store.close()
    assert seen[0].closed


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_refused_reruns_and_readers_beside_running_campaigns_leave_the_store_exact(tmp_path: Path):
    """One round of "two": an evolution campaign and the agent on replay in one store, both running, each
    re-run refused, `status`, `list` and `serve` reading (the benchmark cycles each alone as well)."""
    out = race_round(tmp_path, "two", Race(epochs=2, proposals=3, hits=1))
    assert not out.problems, out.problems
    assert out.landed, "the campaigns finished before the re-runs and readers were done: nothing was tested"
