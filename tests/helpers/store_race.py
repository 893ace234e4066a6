"""Real processes racing on one knowledge store: running campaigns, refused re-runs, readers.

One round: start the campaigns (each as `python -m archagent.agent.cli run CONFIG`), wait until each
has stored a proposal (so its proposer has read the store on its own thread), then, while they run,
hit the store with refused re-runs of the same configs and with `status`, `list` and `serve` readers
(the first hit with the campaigns stopped by SIGSTOP: alive and connected however slow the machine is,
so the hit always lands while they run; the next ones while they work), let the campaigns finish
and check the store: `PRAGMA integrity_check` is ok and every campaign holds exactly its budget,
nothing left pending. `race_round` returns the problems found (none: it passed) and the hits landed.

Scenarios: "evolution" (the evolution baseline on digits), "agent" (the agent on a replay backend),
"two" (both at once, as two campaigns in one store).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.faultkit import MLP, env, kill_group, start

SCENARIOS = {"evolution": ("evo",), "agent": ("agent",), "two": ("evo", "agent")}
DIGITS_SEEDS = 3  # the digits task's seed architectures (checked against the store)


@dataclass(frozen=True)
class Race:
    epochs: int = 12  # digits recipe epochs: long enough that the campaigns train while the others hit the store
    proposals: int = 4
    hits: int = 2  # rounds of refused runs and readers per campaign start
    pause: bool = True  # the first hit with the campaigns stopped (SIGSTOP): however slow the hit, they still run
    serve: bool = True
    timeout_s: float = 600.0


def evolution_toml(folder: Path, race: Race) -> Path:
    return _toml(folder, "evo", race, '[[backends]]\nkind = "evolution"\n')


def agent_toml(folder: Path, race: Race) -> Path:
    """The agent (operators) on a replay backend: its rows name an operator, so the agent proposer runs."""
    replay = folder / "agent.jsonl"
    rows = [{"reply": f"```python\n{MLP.format(i=i, width=8 + i)}```", "operator": "rewrite"}
            for i in range(race.proposals)]
    replay.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return _toml(folder, "agent", race, f'[[backends]]\nkind = "replay"\npath = "{replay}"\n')


def _toml(folder: Path, name: str, race: Race, backend: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\nstore = "store.db"\n[task]\nname = "digits"\n'
                    f'options = {{epochs = {race.epochs}}}\n[budget]\nproposals = {race.proposals}\n{backend}'
                    '[prefilter]\nenabled = false\n[executor]\nworkers = 1\n[sandbox]\ntimeout_s = 600\n')
    return path


@dataclass
class Outcome:
    problems: list[str]  # empty: the store came through exact
    landed: int  # hits made while every campaign was running from their start to their end


def race_round(folder: Path, scenario: str, race: Race = Race()) -> Outcome:
    """One round in an empty folder."""
    makers = {"evo": evolution_toml, "agent": agent_toml}
    tomls = {name: makers[name](folder, race) for name in SCENARIOS[scenario]}
    db, problems, landed = folder / "store.db", [], 0
    firsts = {name: start("run", str(t), cwd=folder) for name, t in tomls.items()}
    try:
        deadline = time.monotonic() + race.timeout_s
        for name, proc in firsts.items():
            while proposals(db, name) < 1 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
        for i in range(race.hits):
            if all(p.poll() is not None for p in firsts.values()):
                break
            with paused(firsts.values() if race.pause and i == 0 else ()):
                found, ok = hit(folder, db, tomls, firsts)
            problems, landed = problems + found, landed + ok
        if race.serve:
            problems += serve_hit(db, folder, list(tomls))
        for name, proc in firsts.items():
            try:
                code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                problems.append(f"{name}: still running after {race.timeout_s:.0f} s")
                continue
            if code != 0:
                problems.append(f"{name}: the running campaign died (exit {code}): {last_line(proc.stderr.read())}")
    finally:
        for proc in firsts.values():
            kill_group(proc)
    return Outcome(problems + check_store(db, list(tomls), race.proposals), landed)


@contextlib.contextmanager
def paused(procs) -> Iterator[None]:
    """SIGSTOP the campaigns (their whole process groups) for the block: alive, connected, not progressing."""
    groups = [p.pid for p in procs if p.poll() is None]
    for pid in groups:
        os.killpg(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGCONT)


def hit(folder: Path, db: Path, tomls: dict[str, Path], firsts: dict[str, subprocess.Popen]) -> tuple[list[str], bool]:
    """Refused re-runs of every running campaign and the read commands, all at once: (problems, landed), where
    landed means every campaign was still running when the last of them had exited."""
    running = [name for name, proc in firsts.items() if proc.poll() is None]
    cmds = {f"re-run {n}": ("run", str(tomls[n])) for n in running}
    cmds.update({"status": ("status", "--store", str(db))})
    cmds.update({f"list {n}": ("list", n, "--store", str(db)) for n in tomls})
    procs = {label: _popen(args, folder) for label, args in cmds.items()}
    problems = []
    for label, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        if label.startswith("re-run"):
            first = firsts[label.split()[-1]]
            late = proc.returncode == 0 and first.poll() is not None  # it ran after the campaign had finished
            if not late and (proc.returncode != 2 or "already being run" not in err):
                problems.append(f"{label}: not refused as busy (exit {proc.returncode}): {last_line(err)}")
        elif proc.returncode != 0:
            problems.append(f"{label}: exit {proc.returncode}: {last_line(err)}")
    return problems, bool(running) and all(firsts[n].poll() is None for n in running)


def serve_hit(db: Path, folder: Path, names: list[str]) -> list[str]:
    """`serve` on the store: its index and each campaign's leaderboard answer."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _popen(("serve", "--store", str(db), "--port", str(port)), folder)
    try:
        for path in ["/", *(f"/campaign/{n}" for n in names)]:
            if not _get(f"http://127.0.0.1:{port}{path}", proc):
                return [f"serve: GET {path} did not answer 200"]
        return []
    finally:
        kill_group(proc)


def _get(url: str, proc: subprocess.Popen) -> bool:
    for _ in range(300):
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                return resp.status == 200
        except OSError:
            if proc.poll() is not None:
                return False
            time.sleep(0.2)
    return False


def check_store(db: Path, names: list[str], budget: int) -> list[str]:
    """integrity_check ok; per campaign: finished, `budget` proposals, the seeds, nothing pending."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
            verdict = conn.execute("PRAGMA integrity_check").fetchall()
            if verdict != [("ok",)]:
                return [f"integrity_check: {verdict[0][0]}"]
            return [p for name in names for p in _check_campaign(conn, name, budget)]
    except sqlite3.DatabaseError as err:
        return [f"store unreadable: {err}"]


def _check_campaign(conn: sqlite3.Connection, name: str, budget: int) -> list[str]:
    row = conn.execute("SELECT id, state FROM campaigns WHERE name = ?", [name]).fetchone()
    if row is None:
        return [f"{name}: no campaign in the store"]
    cid, state = row
    counts = dict(conn.execute("SELECT status, count(*) FROM candidates WHERE campaign_id = ? AND backend != 'seed' "
                               "GROUP BY 1", [cid]).fetchall())
    seeds = conn.execute("SELECT count(*) FROM candidates WHERE campaign_id = ? AND backend = 'seed'", [cid]).fetchone()
    problems = [] if state == "finished" else [f"{name}: state {state}"]
    if sum(counts.values()) - counts.get("duplicate", 0) != budget:
        problems.append(f"{name}: {counts} proposals, not {budget}")
    if seeds[0] != DIGITS_SEEDS:
        problems.append(f"{name}: {seeds[0]} seeds, not {DIGITS_SEEDS}")
    if counts.get("pending") or counts.get("running"):
        problems.append(f"{name}: left unfinished {counts}")
    return problems


def proposals(db: Path, name: str) -> int:
    """Proposals the campaign has stored so far (0 while the store or campaign does not exist yet)."""
    if not db.exists():
        return 0
    with contextlib.suppress(sqlite3.Error), contextlib.closing(
            sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        row = conn.execute("SELECT count(*) FROM candidates c JOIN campaigns k ON k.id = c.campaign_id "
                           "WHERE k.name = ? AND c.backend != 'seed'", [name]).fetchone()
        return row[0]
    return 0


def _popen(args: tuple[str, ...], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "archagent.agent.cli", *args], cwd=cwd, env=env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def last_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"
