"""The knowledge store: one SQLite file (WAL mode) holding every campaign.

    from knowledge.store import Store
    store = Store("archagent.db")

Every proposal, valid or not, is a row in `candidates`; every LLM request a row
in `llm_calls`. Reads return the immutable records of `knowledge.records`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlite_utils

from knowledge.records import Campaign, Candidate, FailureKind, LLMCall, Status

SCHEMA_VERSION = 2
_SCHEMA = (Path(__file__).parent / "schema.sql").read_text()
_JSON_FIELDS = {"parent_ids": "[]", "proxies": "{}", "timings": "{}", "extra": "{}", "features": "{}", "history": "[]"}
# schema v2: typed columns for what v1 kept in `extra` (column -> (SQL type, v1 extra key))
V2_COLUMNS = {
    "seed_name": ("TEXT", "seed_name"), "island": ("INTEGER", "island"), "operator": ("TEXT", None),
    "repair_of": ("INTEGER REFERENCES candidates(id)", "repair_of"), "matched_on": ("TEXT", "matched_on"),
    "features": ("TEXT NOT NULL DEFAULT '{}'", "features"), "history": ("TEXT NOT NULL DEFAULT '[]'", "history"),
    "low_fidelity_metric": ("REAL", "low_fidelity_metric"), "low_fidelity_epochs": ("INTEGER", "low_fidelity_epochs"),
    "predicted_metric": ("REAL", "predicted_metric"), "epsilon": ("INTEGER", "epsilon"),
    "prefilter_reason": ("TEXT", "prefilter"),
}


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


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.db = _open(self.path)
        self._migrate()

    @classmethod
    def open_readonly(cls, path: str | Path) -> Store:
        """A store on a read-only connection: no migration, no writes (safe beside a running campaign)."""
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"no knowledge store at {path}")
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0, check_same_thread=False)
        store = cls.__new__(cls)
        store.path, store.db = path, sqlite_utils.Database(conn)
        return store

    def _migrate(self) -> None:
        """Create the schema, or upgrade an older store in place (one transaction per version step)."""
        version = self.schema_version()
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: schema version {version} is newer than this archagent")
        if version == 1:
            self.db.conn.executescript(f"BEGIN; {upgrade_v1_sql()} COMMIT;")
        self.db.conn.executescript(_SCHEMA)
        with self.db.conn:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])

    def schema_version(self) -> int | None:
        """The store's schema version; None for a new, empty file."""
        if not self.db["meta"].exists():
            return None
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else None

    def close(self) -> None:
        self.db.conn.close()

    # -- campaigns ---------------------------------------------------------
    def create_campaign(self, name: str, task: str, config_json: str) -> Campaign:
        stamp = now()
        row = dict(name=name, task=task, config_json=config_json, state="running", created=stamp, updated=stamp)
        with self.db.conn:
            self.db["campaigns"].insert(row)
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
        """One UPDATE statement of the given columns (no read before or after)."""
        row = {**_encode(fields), "updated": now()}
        sql = f"UPDATE candidates SET {', '.join(f'{k} = ?' for k in row)} WHERE id = ?"
        with self.db.conn:
            if self.db.execute(sql, [*row.values(), candidate_id]).rowcount != 1:
                raise StoreError(f"no candidate {candidate_id} in {self.path}")

    def add(self, cand: Candidate) -> Candidate:
        """Insert an in-memory record (its id and `created` are ignored); returns it as stored."""
        fields = {k: getattr(cand, k) for k in Candidate.__dataclass_fields__
                  if k not in ("id", "campaign_id", "code", "status", "created")}
        stamp = now()
        row = {"campaign_id": cand.campaign_id, "code": cand.code, "status": str(cand.status), "created": stamp,
               **_encode(fields), "updated": stamp}
        with self.db.conn:
            cid = self.db["candidates"].insert(row).last_pk
        return replace(cand, id=cid, created=stamp)

    def update(self, cand: Candidate, **changes: Any) -> Candidate:
        """One UPDATE of the changed columns; returns the record with the changes applied."""
        self.update_candidate(cand.id, **changes)
        return replace(cand, **{k: v for k, v in changes.items() if k in Candidate.__dataclass_fields__})

    def candidate(self, candidate_id: int) -> Candidate:
        try:
            return _decode(self.db["candidates"].get(candidate_id))
        except sqlite_utils.db.NotFoundError:
            raise StoreError(f"no candidate {candidate_id} in {self.path}") from None

    def candidates(self, campaign_id: int, *statuses: Status) -> list[Candidate]:
        where, args = "campaign_id = ?", [campaign_id]
        if statuses:
            where += f" AND status IN ({','.join('?' * len(statuses))})"
            args += [str(s) for s in statuses]
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


def _open(path: Path) -> sqlite_utils.Database:
    if path.parent and not path.parent.exists():
        raise StoreError(f"cannot create store {path}: folder {path.parent} does not exist")
    try:
        conn = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
        db = sqlite_utils.Database(conn)
        db.enable_wal()
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as err:
        raise StoreError(f"cannot open store {path}: {err}") from None
    return db


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in fields.items():
        if key in _JSON_FIELDS:
            value = json.dumps(list(value) if key == "parent_ids" else value, sort_keys=True)
        elif key == "epsilon" and value is not None:
            value = int(value)
        elif isinstance(value, StrEnum):
            value = str(value)
        out[key] = value
    return out


def _decode(row: dict[str, Any]) -> Candidate:
    data = {k: row[k] for k in Candidate.__dataclass_fields__ if k in row}
    for key, empty in _JSON_FIELDS.items():
        data[key] = json.loads(row.get(key) or empty)
    data["parent_ids"] = tuple(data["parent_ids"])
    if data.get("epsilon") is not None:
        data["epsilon"] = bool(data["epsilon"])
    data["status"] = Status(row["status"])
    data["failure_kind"] = FailureKind(row["failure_kind"]) if row["failure_kind"] else None
    return Candidate(**data)



def upgrade_v1_sql() -> str:
    """Schema 1 -> 2: add the typed columns, move their values out of `extra`, drop them from `extra`."""
    adds = [f"ALTER TABLE candidates ADD COLUMN {col} {typ};" for col, (typ, _) in V2_COLUMNS.items()]
    moved = {col: key for col, (_, key) in V2_COLUMNS.items() if key}
    sets = ", ".join(f"{col} = coalesce(json_extract(extra, '$.{key}'), {col})" for col, key in moved.items())
    removes = ", ".join(f"'$.{key}'" for key in moved.values())
    moves = f"UPDATE candidates SET {sets}; UPDATE candidates SET extra = json_remove(extra, {removes});"
    return " ".join([*adds, moves])
