"""The knowledge store: one SQLite file (WAL mode) holding every campaign.

    from knowledge.store import Store
    store = Store("archagent.db")

Every proposal, valid or not, is a row in `candidates`; every LLM request a row
in `llm_calls`. Reads return the immutable records of `knowledge.records`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlite_utils

from knowledge.records import Campaign, Candidate, FailureKind, FinalRun, LLMCall, Status

SCHEMA_VERSION = 1
_SCHEMA = (Path(__file__).parent / "schema.sql").read_text()
_JSON_FIELDS = {"parent_ids", "proxies", "timings", "extra"}


@dataclass(frozen=True)
class Insight:
    """One lesson from the analyst, with the candidates it rests on."""

    id: int
    campaign_id: int
    task: str
    text: str
    candidate_ids: tuple[int, ...]
    llm_call_id: int | None
    created: str


class StoreError(RuntimeError):
    """The store cannot be opened or used (one human-readable line)."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class CampaignRun:
    """One `archagent run` of a campaign: who ran it and how it ended."""

    id: int
    campaign_id: int
    pid: int
    host: str
    started: str
    ended: str | None  # None: still running, or killed without a word
    outcome: str | None  # finished | failed | interrupted
    reason: str | None  # why it failed (one line)


class Store:
    """A writable store: created if missing; refuses a file that is not an archagent store."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists():
            check_store_file(self.path)
        self.db = _open(self.path)
        self._migrate()

    @classmethod
    def open_readonly(cls, path: str | Path) -> Store:
        """A store that never writes (safe beside a running campaign, works on read-only media)."""
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"no knowledge store at {path} (run a campaign first, or pass --store)")
        check_store_file(path)
        store = cls.__new__(cls)
        store.path, store.db = path, sqlite_utils.Database(_connect_readonly(path))
        return store

    def _migrate(self) -> None:
        self.db.executescript(_SCHEMA)
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            self.db.conn.commit()
        elif int(row[0]) > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: schema version {row[0]} is newer than this archagent")

    def close(self) -> None:
        self.db.conn.close()

    def check_writable(self) -> None:
        """One tiny real write: fails now, not after the seeds trained, on a read-only file, folder or media."""
        try:
            with self.db.conn:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('write_check', ?)", [now()])
        except sqlite3.OperationalError as err:
            raise StoreError(f"cannot write to store {self.path}: {err}") from None

    def check_integrity(self) -> None:
        """`PRAGMA quick_check` over every page: damage anywhere in the file is found before any work."""
        try:
            problems = [r[0] for r in self.db.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.DatabaseError as err:
            problems = [str(err)]
        if problems != ["ok"]:
            raise StoreError(f"store {self.path} is damaged ({problems[0]}); restore a copy, or use another store")

    # -- campaigns ---------------------------------------------------------
    def create_campaign(self, name: str, task: str, config_json: str) -> Campaign:
        """The new campaign (or the one another process created a moment earlier under this name)."""
        stamp = now()
        row = dict(name=name, task=task, config_json=config_json, state="running", created=stamp, updated=stamp)
        with self.db.conn:
            self.db["campaigns"].insert(row, ignore=True)
        return self.campaign(name)

    def campaign(self, name_or_id: str | int) -> Campaign:
        col = "id" if isinstance(name_or_id, int) or str(name_or_id).isdigit() else "name"
        rows = list(self.db["campaigns"].rows_where(f"{col} = ?", [name_or_id]))
        if not rows:
            raise StoreError(f"no campaign '{name_or_id}' in {self.path}")
        return Campaign(**{k: rows[0][k] for k in Campaign.__dataclass_fields__})

    def find_campaign(self, name: str) -> Campaign | None:
        try:
            return self.campaign(name)
        except StoreError:
            return None

    def campaigns(self) -> list[Campaign]:
        rows = self.db["campaigns"].rows_where(order_by="id")
        return [Campaign(**{k: r[k] for k in Campaign.__dataclass_fields__}) for r in rows]

    def set_campaign_state(self, campaign_id: int, state: str) -> None:
        with self.db.conn:
            self.db["campaigns"].update(campaign_id, {"state": state, "updated": now()})

    # -- runs (one per `archagent run`) -------------------------------------
    def begin_run(self, campaign_id: int, pid: int, host: str) -> int:
        row = dict(campaign_id=campaign_id, pid=pid, host=host, started=now())
        with self.db.conn:
            run_id = self.db["campaign_runs"].insert(row).last_pk
            self.db["campaigns"].update(campaign_id, {"state": "running", "updated": now()})
        return run_id

    def end_run(self, run_id: int, outcome: str, reason: str | None = None) -> None:
        """Close a run; the campaign's state becomes its outcome (finished | failed | interrupted)."""
        run = self.db["campaign_runs"].get(run_id)
        with self.db.conn:
            self.db["campaign_runs"].update(run_id, {"ended": now(), "outcome": outcome, "reason": reason})
            self.db["campaigns"].update(run["campaign_id"], {"state": outcome, "updated": now()})

    def last_run(self, campaign_id: int) -> CampaignRun | None:
        if "campaign_runs" not in _tables(self.db):  # a store from before runs were logged, opened read-only
            return None
        rows = list(self.db["campaign_runs"].rows_where("campaign_id = ?", [campaign_id], order_by="id DESC",
                                                       limit=1))
        return CampaignRun(**rows[0]) if rows else None

    # -- LLM calls ---------------------------------------------------------
    def add_llm_call(self, campaign_id: int, **fields: Any) -> int:
        row = {"campaign_id": campaign_id, "created": now(), **fields}
        with self.db.conn:
            return self.db["llm_calls"].insert(row).last_pk

    def llm_call(self, call_id: int) -> LLMCall:
        return LLMCall(**self.db["llm_calls"].get(call_id))

    def orphan_calls(self, campaign_id: int) -> list[LLMCall]:
        """Proposal calls whose reply never became a candidate (the loop died in between)."""
        sql = ("SELECT * FROM llm_calls l WHERE campaign_id = ? AND purpose = 'propose' AND NOT EXISTS "
               "(SELECT 1 FROM candidates c WHERE c.llm_call_id = l.id) ORDER BY id")
        cursor = self.db.execute(sql, [campaign_id])
        cols = [d[0] for d in cursor.description]
        return [LLMCall(**dict(zip(cols, row, strict=True))) for row in cursor.fetchall()]

    def llm_calls(self, campaign_id: int) -> list[LLMCall]:
        rows = self.db["llm_calls"].rows_where("campaign_id = ?", [campaign_id], order_by="id")
        return [LLMCall(**r) for r in rows]

    # -- insights ------------------------------------------------------------
    def add_insight(self, campaign_id: int, task: str, text: str, candidate_ids: tuple[int, ...],
                    llm_call_id: int | None = None) -> int:
        row = dict(campaign_id=campaign_id, task=task, text=text, candidate_ids=json.dumps(list(candidate_ids)),
                   llm_call_id=llm_call_id, created=now())
        with self.db.conn:
            return self.db["insights"].insert(row).last_pk

    def insights(self, task: str, limit: int = 50) -> list[Insight]:
        """The task's insights from every campaign in the store, newest first."""
        rows = self.db.execute("SELECT * FROM insights WHERE task = ? ORDER BY id DESC LIMIT ?", [task, limit])
        cols = [d[0] for d in rows.description]
        out = [dict(zip(cols, r, strict=True)) for r in rows.fetchall()]
        return [Insight(**{**r, "candidate_ids": tuple(json.loads(r["candidate_ids"]))}) for r in out]

    # -- candidates --------------------------------------------------------
    def add_candidate(self, campaign_id: int, code: str, status: Status, **fields: Any) -> int:
        stamp = now()
        row = {"campaign_id": campaign_id, "code": code, "status": str(status), "created": stamp}
        row.update(_encode(fields), updated=stamp)
        with self.db.conn:
            return self.db["candidates"].insert(row).last_pk

    def update_candidate(self, candidate_id: int, **fields: Any) -> None:
        with self.db.conn:
            self.db["candidates"].update(candidate_id, {**_encode(fields), "updated": now()})

    def candidate(self, candidate_id: int) -> Candidate:
        try:
            return _decode(self.db["candidates"].get(candidate_id))
        except sqlite_utils.db.NotFoundError:
            raise StoreError(f"no candidate {candidate_id} in {self.path}") from None

    def candidates(self, campaign_id: int | str, *statuses: Status | str,
                   status: Status | str | None = None) -> list[Candidate]:
        """A campaign's candidates (campaign by id or name), oldest first; only these statuses if given."""
        if isinstance(campaign_id, str):
            campaign_id = self.campaign(campaign_id).id
        statuses = (*statuses, *([status] if status is not None else []))
        where, args = "campaign_id = ?", [campaign_id]
        if statuses:
            where += f" AND status IN ({','.join('?' * len(statuses))})"
            args += [str(Status(s)) for s in statuses]
        return [_decode(r) for r in self.db["candidates"].rows_where(where, args, order_by="id")]

    def children(self, candidate_id: int) -> list[Candidate]:
        sql = "SELECT c.* FROM candidates c, json_each(c.parent_ids) p WHERE p.value = ? ORDER BY c.id"
        cursor = self.db.execute(sql, [candidate_id])
        cols = [d[0] for d in cursor.description]
        return [_decode(dict(zip(cols, row, strict=True))) for row in cursor.fetchall()]

    def find_duplicate(
        self, campaign_id: int, *, text_key: str | None = None, code_key: str | None = None,
        graph_key: str | None = None, exclude_id: int | None = None,
    ) -> tuple[int, str] | None:
        """The earliest non-duplicate candidate sharing a key: (id, key name), or None."""
        for name, value in (("text_key", text_key), ("code_key", code_key), ("graph_key", graph_key)):
            if value is None:
                continue
            row = self.db.execute(
                f"SELECT id FROM candidates WHERE campaign_id = ? AND {name} = ? AND id != ? "
                "AND status != 'duplicate' ORDER BY id LIMIT 1",
                [campaign_id, value, exclude_id or -1],
            ).fetchone()
            if row:
                return int(row[0]), name
        return None

    def count_proposals(self, campaign_id: int, seed_backend: str = "seed") -> int:
        """Candidates the proposers made (seeds excluded), valid or not."""
        sql = "SELECT count(*) FROM candidates WHERE campaign_id = ? AND backend != ?"
        return self.db.execute(sql, [campaign_id, seed_backend]).fetchone()[0]

    def counts(self, campaign_id: int) -> dict[str, int]:
        sql = "SELECT status, count(*) FROM candidates WHERE campaign_id = ? GROUP BY status"
        return {s: n for s, n in self.db.execute(sql, [campaign_id]).fetchall()}

    def totals(self, campaign_id: int) -> dict[str, float]:
        sql = ("SELECT count(*), coalesce(sum(prompt_tokens + completion_tokens), 0), "
               "coalesce(sum(cost_usd), 0), coalesce(sum(latency_s), 0) FROM llm_calls WHERE campaign_id = ?")
        n, tokens, cost, latency = self.db.execute(sql, [campaign_id]).fetchone()
        return {"calls": n, "tokens": tokens, "cost_usd": cost, "llm_seconds": latency}

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # -- final evaluation ----------------------------------------------------------
    def add_final_run(self, campaign_id: int, candidate_id: int, seed: int, epochs: int, status: Status,
                      weights: bytes | None = None, preds_sample: list | None = None, **fields: Any) -> int:
        """Record one finished final-evaluation run; a (candidate, seed, epochs) run is stored once."""
        row = dict(campaign_id=campaign_id, candidate_id=candidate_id, seed=seed, epochs=epochs, status=str(status),
                   weights=weights, preds_sample=json.dumps(preds_sample or []), created=now(), **_encode(fields))
        with self.db.conn:
            return self.db["final"].insert(row, replace=True).last_pk

    def final_runs(self, campaign_id: int) -> list[FinalRun]:
        """The campaign's final-evaluation runs (without their weights), by candidate then seed."""
        cols = ", ".join(f for f in FinalRun.__dataclass_fields__ if f != "has_weights")
        sql = (f"SELECT {cols}, weights IS NOT NULL AS has_weights FROM final WHERE campaign_id = ? "
               "ORDER BY candidate_id, epochs, seed")
        try:
            cursor = self.db.execute(sql, [campaign_id])
        except sqlite3.OperationalError as err:  # a read-only view of a store made before `final` existed
            if "no such table" in str(err):
                return []
            raise
        names = [d[0] for d in cursor.description]
        return [_final_run(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]

    def final_weights(self, run_id: int) -> bytes | None:
        """The safetensors bytes a final run returned (None if it stored none)."""
        row = self.db.execute("SELECT weights FROM final WHERE id = ?", [run_id]).fetchone()
        if row is None:
            raise StoreError(f"no final-evaluation run {run_id} in {self.path}")
        return row[0]


SQLITE_HEADER = b"SQLite format 3\x00"


def check_store_file(path: Path) -> None:
    """Refuse, before SQLite touches it, a file that cannot be a store (empty, or not SQLite at all)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as err:
        raise StoreError(f"cannot read store {path}: {err.strerror}") from None
    if not head:
        raise StoreError(f"{path} is an empty file, not an archagent knowledge store (delete it to start afresh)")
    if head != SQLITE_HEADER:
        raise StoreError(f"{path} is not an archagent knowledge store (not an SQLite file, or its header is damaged)")


def describe_open_error(path: Path, err: sqlite3.DatabaseError) -> str:
    if "malformed" in str(err) or "not a database" in str(err):
        return f"store {path} is damaged ({err}); restore a copy, or use another store"
    return f"cannot open store {path}: {err}"


def _tables(db: sqlite_utils.Database) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """`mode=ro`; on read-only media (no -shm file can be made) `immutable=1`, which skips an unmerged -wal."""
    uri = path.resolve().as_uri()
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        conn = sqlite3.connect(f"{uri}?{flags}", uri=True, timeout=10.0, check_same_thread=False)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.OperationalError as err:
            conn.close()
            if "unable to open" in str(err) or "readonly" in str(err):
                continue
            raise StoreError(describe_open_error(path, err)) from None
        except sqlite3.DatabaseError as err:
            conn.close()
            raise StoreError(describe_open_error(path, err)) from None
        if "meta" not in tables:
            conn.close()
            raise StoreError(f"{path} is an SQLite file but not an archagent knowledge store")
        return conn
    raise StoreError(f"cannot open store {path} read-only")


def _open(path: Path) -> sqlite_utils.Database:
    if path.parent and not path.parent.exists():
        raise StoreError(f"cannot create store {path}: folder {path.parent} does not exist")
    conn = None
    try:
        conn = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
        db = sqlite_utils.Database(conn)
        tables = _tables(db)
        if tables and "meta" not in tables:
            conn.close()
            raise StoreError(f"{path} is an SQLite file but not an archagent knowledge store")
        db.enable_wal()
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as err:
        if conn is not None:
            conn.close()
        raise StoreError(describe_open_error(path, err)) from None
    return db


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in fields.items():
        if key in _JSON_FIELDS:
            value = json.dumps(list(value) if key == "parent_ids" else value, sort_keys=True)
        elif isinstance(value, StrEnum):
            value = str(value)
        out[key] = value
    return out


def _decode(row: dict[str, Any]) -> Candidate:
    data = {k: row[k] for k in Candidate.__dataclass_fields__ if k in row}
    for key in _JSON_FIELDS:
        data[key] = json.loads(row[key] or ("[]" if key == "parent_ids" else "{}"))
    data["parent_ids"] = tuple(data["parent_ids"])
    data["status"] = Status(row["status"])
    data["failure_kind"] = FailureKind(row["failure_kind"]) if row["failure_kind"] else None
    return Candidate(**data)



def _final_run(row: dict[str, Any]) -> FinalRun:
    kind = row["failure_kind"]
    return FinalRun(**{**row, "status": Status(row["status"]), "failure_kind": FailureKind(kind) if kind else None,
                       "preds_sample": json.loads(row["preds_sample"]), "has_weights": bool(row["has_weights"])})
