"""Fault injection, for real: damaged stores, a full disk, read-only media, broken templates, bad configs.

Each fault ends in one `error:` line and exit status 2, keeps everything already stored, and a
re-run resumes. Read commands never write. Mounts need root; those tests skip without it.

    pytest tests/test_faults.py
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from archagent.knowledge.records import Status
from archagent.knowledge.store import Store

from tests.faultkit import (
    campaign_toml,
    cli,
    env,
    fill,
    one_line_error,
    read_only_view,
    sha,
    tmpfs,
)

READ_COMMANDS = [("status",), ("list", "fault"), ("show", "3"), ("diff", "3", "1"), ("lineage", "3")]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A folder with a finished 4-proposal campaign: fault.toml and store.db."""
    tmp = tmp_path_factory.mktemp("finished")
    proc = cli("run", str(campaign_toml(tmp, proposals=4)), cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp


def copy_of(finished: Path, tmp: Path) -> Path:
    shutil.copy(finished / "store.db", tmp / "store.db")
    shutil.copy(finished / "fault.toml", tmp / "fault.toml")
    shutil.copy(finished / "fault.jsonl", tmp / "fault.jsonl")
    return tmp / "store.db"


def damage(db: Path, kind: str) -> None:
    data = bytearray(db.read_bytes())
    if kind == "mid-file":  # garbage over the middle half of the pages, header intact
        start, end = len(data) // 4, 3 * len(data) // 4
        data[start:end] = os.urandom(end - start)
    elif kind == "truncated":
        data = data[: len(data) // 2]
    elif kind == "garbage-header":
        data[:100] = os.urandom(100)
    elif kind == "empty":
        data = bytearray()
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["mid-file", "truncated", "garbage-header", "empty"])
def test_a_damaged_store_is_one_line_for_every_command_and_never_written(finished: Path, tmp_path: Path, kind):
    db = copy_of(finished, tmp_path)
    damage(db, kind)
    before = sha(db)
    for args in [*READ_COMMANDS, ("report", "fault", "--out", str(tmp_path / "r.html"))]:
        proc = cli(*args, "--store", str(db), cwd=tmp_path)
        if proc.returncode != 0 or kind != "mid-file":  # mid-file: a command may not touch a damaged page
            one_line_error(proc)
    one_line_error(cli("status", "--store", str(db), cwd=tmp_path), str(db))  # status reads every row
    needle = "empty file" if kind == "empty" else "damaged"
    one_line_error(cli("run", "fault.toml", cwd=tmp_path), db.name, needle)  # checked before any work
    assert sha(db) == before, "a command wrote to the damaged store"


def test_a_file_that_is_not_a_store_is_refused_not_initialised(tmp_path: Path):
    empty, other = tmp_path / "empty.db", tmp_path / "notes.txt"
    empty.touch()
    other.write_text("not a database\n")
    for path in (empty, other):
        for args in READ_COMMANDS:
            one_line_error(cli(*args, "--store", str(path), cwd=tmp_path), "not an archagent knowledge store")
    assert empty.stat().st_size == 0 and other.read_text() == "not a database\n"
    toml = campaign_toml(tmp_path, proposals=2, store="empty.db")
    one_line_error(cli("run", str(toml), cwd=tmp_path), "not an archagent knowledge store")
    assert empty.stat().st_size == 0


def test_read_commands_open_the_store_read_only(finished: Path, tmp_path: Path):
    db = copy_of(finished, tmp_path)
    before = sha(db)
    for args in READ_COMMANDS:
        proc = cli(*args, "--store", str(db), cwd=tmp_path)
        assert proc.returncode == 0, (args, proc.stderr[-2000:])
    assert sha(db) == before


def test_read_commands_work_on_read_only_media(finished: Path, tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    copy_of(finished, src)
    with read_only_view(src, tmp_path / "ro") as ro:
        db = ro / "store.db"
        for args in READ_COMMANDS:
            proc = cli(*args, "--store", str(db), cwd=tmp_path)
            assert proc.returncode == 0, (args, proc.stderr[-2000:])
        status = json.loads(cli("status", "--json", "--store", str(db), cwd=tmp_path).stdout)
        assert status[0]["campaign"] == "fault" and status[0]["state"] == "finished"
        report = cli("report", "fault", "--out", str(tmp_path / "r.html"), "--store", str(db), cwd=tmp_path)
        assert report.returncode == 0 and (tmp_path / "r.html").stat().st_size > 1000, report.stderr[-2000:]
        assert serve_answers(db, tmp_path)
        shutil.copy(src / "fault.toml", tmp_path / "fault.toml")
        (tmp_path / "fault.toml").write_text((src / "fault.toml").read_text().replace('"store.db"', f'"{db}"'))
        one_line_error(cli("run", "fault.toml", cwd=tmp_path), "store", "read-only media")  # writing there: one line


def test_a_new_store_on_read_only_media_says_read_only(tmp_path: Path):
    from archagent.knowledge.store import StoreError

    (tmp_path / "src").mkdir()
    with read_only_view(tmp_path / "src", tmp_path / "ro") as ro, pytest.raises(StoreError, match="read-only media"):
        Store(ro / "new.db")


def serve_answers(db: Path, cwd: Path) -> bool:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "archagent.agent.cli", "serve", "--store", str(db), "--port", str(port)]
    proc = subprocess.Popen(argv,
                            cwd=cwd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    return resp.status == 200 and b"fault" in resp.read()
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.2)
        return False
    finally:
        proc.kill()
        proc.wait()


def test_disk_full_is_one_line_keeps_the_data_and_a_rerun_resumes(finished: Path, tmp_path: Path):
    with tmpfs(tmp_path / "small", "16m") as small:
        db = copy_of(finished, small)
        campaign_toml(small, proposals=40)  # the same campaign with a larger budget: its first 4 replies are stored
        kept = {c.id: c for c in Store.open_readonly(db).candidates(1)}
        filler = fill(small, leave_bytes=48 * 1024)
        line = one_line_error(cli("run", "fault.toml", cwd=small), "disk full")
        assert str(db) in line or "store" in line
        store = Store.open_readonly(db)
        assert store.integrity_ok()
        after = {c.id: c for c in store.candidates(1)}
        assert all(after[cid] == cand for cid, cand in kept.items()), "data stored before the fault changed"
        state = json.loads(cli("status", "--json", "--store", str(db), cwd=small).stdout)[0]
        assert state["state"] in ("failed", "stopped"), state
        store.close()
        filler.unlink()
        rerun = cli("run", "fault.toml", cwd=small)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        store = Store.open_readonly(db)
        assert store.integrity_ok() and store.count_proposals(1) == 40
        assert not store.candidates(1, Status.PENDING, Status.RUNNING)


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """`chattr +i`: writes fail with EPERM even for root (the permission-denied case, without a second user)."""
    done = []
    try:
        for path in paths:
            if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
                pytest.skip("chattr +i is not supported here")
            done.append(path)
        yield
    finally:
        for path in done:
            subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_store_without_write_permission_is_one_line_and_stays_readable(finished: Path, tmp_path: Path):
    folder = tmp_path / "locked"
    folder.mkdir()
    db = copy_of(finished, folder)
    campaign_toml(folder, proposals=6)  # the same campaign with a larger budget: the run must write
    before = sha(db)
    with immutable(db, folder):  # the file and its folder: no write, no journal, no lock file
        one_line_error(cli("run", "fault.toml", cwd=folder), "store")
        for args in READ_COMMANDS:
            proc = cli(*args, "--store", str(db), cwd=tmp_path)
            assert proc.returncode == 0, (args, proc.stderr[-2000:])
    assert sha(db) == before
    rerun = cli("run", "fault.toml", cwd=folder)  # permission back: it resumes
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert Store.open_readonly(db).count_proposals(1) == 6


BROKEN = {
    "syntax": ("propose.j2", "Task: {{ task.name }}\n{% for ex in exemplars %}\n{{ ex.code }\n{% endfor %}\n", 3),
    "undefined": ("repair.j2", "Fix:\n{{ code }}\n{{ no_such_variable.attr }}\n", 3),
}


@pytest.mark.parametrize("fault", sorted(BROKEN))
def test_a_broken_template_fails_before_any_compute(tmp_path: Path, fault: str):
    name, text, line_no = BROKEN[fault]
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / name).write_text(text)
    toml = campaign_toml(tmp_path, proposals=4, extra='')
    toml.write_text(toml.read_text().replace('store = "store.db"', 'store = "store.db"\nprompts_dir = "prompts"'))
    t0 = time.monotonic()
    line = one_line_error(cli("run", str(toml), cwd=tmp_path), name, f"line {line_no}")
    assert time.monotonic() - t0 < 60
    assert "template" in line
    store = Store.open_readonly(tmp_path / "store.db")
    camp = store.campaign("fault")
    assert not store.candidates(camp.id), "nothing may be trained before the templates are checked"
    assert camp.state == "failed" and name in store.last_run(camp.id).reason
