"""Tools for the fault-injection tests: real `archagent` processes, mounts, damaged copies.

Nothing here is mocked: campaigns run in subprocesses through the CLI, a full disk is a
tiny tmpfs, read-only media is a read-only bind mount (both need root; the tests skip without).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parent.parent

MLP = '''import torch
from torch import nn


class Net(nn.Module):
    """MLP {i}: one hidden layer of {width} units."""

    def __init__(self, in_shape, n_out):
        super().__init__()
        n_in = 1
        for d in in_shape:
            n_in *= d
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(n_in, {width}), nn.ReLU(), nn.Linear({width}, n_out))

    def forward(self, x):
        return self.body(x)
'''


def write_replay(path: Path, n: int) -> Path:
    """n distinct small MLPs (hidden widths 8, 9, ...) as replay replies."""
    rows = [{"reply": f"```python\n{MLP.format(i=i, width=8 + i)}```"} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def campaign_toml(folder: Path, name: str = "fault", proposals: int = 6, store: str = "store.db",
                  workers: int = 1, extra: str = "") -> Path:
    """A cheap replay campaign on digits: 1 epoch, no pre-filter, no directives or analyst."""
    replay = write_replay(folder / f"{name}.jsonl", proposals)
    cfg = f'''name = "{name}"
store = "{store}"
[task]
name = "digits"
options = {{epochs = 1}}
[budget]
proposals = {proposals}
[[backends]]
kind = "replay"
path = "{replay}"
[prefilter]
enabled = false
[executor]
workers = {workers}
[sandbox]
timeout_s = 120
{extra}'''
    path = folder / f"{name}.toml"
    path.write_text(cfg)
    return path


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archagent.agent.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env(), timeout=timeout)


def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "archagent.agent.cli", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env(), start_new_session=True)


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The single `error:` line of a failed command (exit 2, no traceback), checked for each needle."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended early ({proc.returncode}): {proc.stderr.read()[-3000:]}")
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(every)


def kill_group(proc: subprocess.Popen) -> None:
    """kill -9 the process and everything it started (its session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 9)
    proc.wait()


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at path (skips the test where mounting is not permitted)."""
    import pytest

    path.mkdir(parents=True, exist_ok=True)
    if not _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def read_only_view(source: Path, path: Path) -> Iterator[Path]:
    """`source` bind-mounted read-only at path: read-only media, as the kernel sees it."""
    import pytest

    path.mkdir(parents=True, exist_ok=True)
    if not _mount("--bind", str(source), str(path)):
        pytest.skip("cannot bind-mount here (needs root)")
    try:
        if not _mount("-o", "remount,ro,bind", str(path)):
            pytest.skip("cannot remount read-only here")
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path, leave_bytes: int) -> Path:
    """Fill the file system under folder until only about `leave_bytes` are free."""
    filler = folder / "filler.bin"
    free = shutil.disk_usage(folder).free - leave_bytes
    with open(filler, "wb") as fh, contextlib.suppress(OSError):
        fh.write(b"\0" * max(0, free))
    return filler


def soak(folder: Path, proposals: int, workers: int = 3, kill_after: tuple[float, float] = (2.0, 6.0),
         seed: int = 0, max_runs: int = 1000) -> dict:
    """Run a replay campaign, kill -9 it a random few seconds in, re-run, until a run finishes by itself.

    The kill clock starts once the run has stored a proposal or finished an evaluation (not merely
    started one), so every run makes lasting progress however slow its start-up and training.
    Returns {"runs", "kills", "wall_s"}; `check_soaked` checks the store.
    """
    import random

    from archagent.agent.config import max_workers

    rng = random.Random(seed)
    workers = min(workers, max_workers())
    toml, db = campaign_toml(folder, "soak", proposals=proposals, workers=workers), folder / "store.db"
    t0, kills = time.monotonic(), 0
    for runs in range(1, max_runs + 1):
        before, proc = progress(db), start("run", str(toml), cwd=folder)
        while progress(db) == before and proc.poll() is None:  # started and working (or done)
            time.sleep(0.1)
        try:
            code = proc.wait(timeout=rng.uniform(*kill_after))
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            kill_group(proc)
            kills += 1
            continue
        assert code == 0, proc.stderr.read()[-3000:]
        return {"runs": runs, "kills": kills, "wall_s": time.monotonic() - t0}
    raise AssertionError(f"not done after {max_runs} runs")


def progress(db: Path) -> tuple:
    """(candidates, finished ones): grows when a run stores a proposal or finishes an evaluation for good."""
    import sqlite3

    if not db.exists():
        return ()
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        try:
            return conn.execute("SELECT count(*), count(*) FILTER (WHERE status NOT IN ('pending', 'running')) "
                                "FROM candidates").fetchone()
        except sqlite3.OperationalError:
            return ()


def check_soaked(db: Path, replay: Path, proposals: int) -> None:
    """Exactly `proposals` proposals, each replay reply used once and in order, nothing left running."""
    from archagent.knowledge.records import Status
    from archagent.knowledge.store import Store

    store = Store.open_readonly(db)
    camp = store.campaign("soak")
    assert store.integrity_ok()
    assert store.count_proposals(camp.id) == proposals
    calls = [c for c in store.llm_calls(camp.id) if c.purpose == "propose"]
    replies = [json.loads(line)["reply"] for line in replay.read_text().splitlines()]
    assert [c.reply for c in calls] == replies[:proposals], "replies skipped, repeated or reordered"
    proposed = [c for c in store.candidates(camp.id) if c.backend != "seed"]
    assert sorted(c.llm_call_id for c in proposed) == [c.id for c in calls], "a reply became 0 or 2 candidates"
    assert len({c.text_key for c in proposed}) == proposals and not store.candidates(camp.id, Status.DUPLICATE)
    assert not store.candidates(camp.id, Status.PENDING, Status.RUNNING) and not store.orphan_calls(camp.id)
    assert camp.state == "finished"
