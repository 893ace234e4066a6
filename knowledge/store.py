"""The knowledge store: one SQLite file (WAL mode) holding every campaign.

    from archagent.knowledge.store import Store
    store = Store("archagent.db")

Every proposal, valid or not, is a row in `candidates`; every LLM request a row
in `llm_calls`. Reads return the immutable records of `knowledge.records`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlite_utils
from archagent.knowledge.records import Campaign, Candidate, FailureKind, FinalRun, LLMCall, Status

SCHEMA_VERSION = 3
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
V3_COLUMNS = {"idea": "TEXT"}  # schema v3: the idea card a proposal was asked to apply (knowledge/ideas/)
# Fills the trigger-maintained tables (schema.sql) of a store written before they existed; runs once per store.
_BACKFILL = """
DELETE FROM candidate_parents; DELETE FROM status_counts; DELETE FROM campaign_llm_totals;
INSERT OR REPLACE INTO candidate_parents SELECT c.id, p.key, p.value FROM candidates c, json_each(c.parent_ids) p;
INSERT INTO status_counts SELECT campaign_id, status, backend = 'seed', count(*) FROM candidates GROUP BY 1, 2, 3;
INSERT INTO campaign_llm_totals SELECT campaign_id, count(*), sum(prompt_tokens + completion_tokens), sum(cost_usd),
    sum(latency_s) FROM llm_calls GROUP BY campaign_id;
INSERT OR REPLACE INTO meta VALUES ('derived_tables', '1');
"""
# Page sorts: (column, nulls-last segment order). "metric" and "test" follow the task's direction.
SORTS = ("metric", "id", "params", "flops", "test")


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
    """A writable store: created if missing; refuses a file that is not an archagent store.

    One connection per process and thread role: a thread other than the opening one uses `for_thread()`,
    never a new `Store` per call (opening is not free, and every open is one more chance to get the
    file's locks wrong: see `check_store_file`).
    """

    closed = False
    readonly = False

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if str(path) != ":memory:" and not self.path.exists():
            _create(self.path)
        if self.path.exists():
            check_store_file(self.path)
        self._connect()

    def _connect(self, shown: Path | None = None) -> None:
        self.db = _open(self.path, shown or self.path)
        self._threads = ThreadConnections(self)
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
        store._threads, store.readonly = ThreadConnections(store), True
        return store

    def _migrate(self) -> None:
        """Create the schema, or upgrade an older store in place (one transaction per version step)."""
        version = self.schema_version()
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: schema version {version} is newer than this archagent")
        if version == 1:
            self.db.conn.executescript(f"BEGIN; {upgrade_v1_sql()} COMMIT;")
        if version in (1, 2):
            self.db.conn.executescript(f"BEGIN; {upgrade_v2_sql()} COMMIT;")
        self.db.conn.executescript(_SCHEMA)
        if version != SCHEMA_VERSION:  # an up-to-date store is not written to merely by opening it
            with self.db.conn:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        if self.db.execute("SELECT 1 FROM meta WHERE key = 'derived_tables'").fetchone() is None:
            self.db.conn.executescript(f"BEGIN; {_BACKFILL} COMMIT;")

    def schema_version(self) -> int | None:
        """The store's schema version; None for a new, empty file."""
        if not self.db["meta"].exists():
            return None
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else None

    def for_thread(self) -> Store:
        """The calling thread's connection to this store: this one on the thread that opened it, else one
        opened on that thread's first call and reused after (one per thread, never one per call); closed
        with this store."""
        return self._threads.get()

    def close_threads(self) -> None:
        """Close the connections `for_thread` opened for other threads (a thread's next call opens anew)."""
        self._threads.close()

    def close(self) -> None:
        """Close the connection, and those `for_thread` opened for other threads."""
        self._threads.close()
        self.db.conn.close()
        self.closed = True

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_writable(self) -> None:
        """One tiny real write: fails now, not after the seeds trained, on a read-only file, folder or media."""
        try:
            with self.db.conn:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('write_check', ?)", [now()])
        except sqlite3.OperationalError as err:
            raise StoreError(describe_open_error(self.path, err, doing="write to")) from None

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

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.db.conn:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    def set_campaign_config(self, campaign_id: int, config_json: str) -> None:
        """The config of the campaign's latest run (a re-run may raise its budget or time limit)."""
        with self.db.conn:
            self.db["campaigns"].update(campaign_id, {"config_json": config_json, "updated": now()})

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

    def run_seconds(self, campaign_id: int) -> float:
        """Wall seconds the campaign's runs took: each from its start to its end or, for one that died without
        an end (kill -9, power cut), to the last candidate or LLM call it wrote (a wall-time budget spans runs)."""
        if "campaign_runs" not in _tables(self.db):
            return 0.0
        sql = """SELECT sum(julianday(coalesce(r.ended, (SELECT max(t) FROM (
                     SELECT updated AS t FROM candidates WHERE campaign_id = r.campaign_id AND updated >= r.started
                     UNION ALL SELECT created FROM llm_calls WHERE campaign_id = r.campaign_id AND created >= r.started)
                   WHERE t < coalesce((SELECT min(started) FROM campaign_runs n
                                       WHERE n.campaign_id = r.campaign_id AND n.id > r.id), '9999')),
                 r.started)) - julianday(r.started)) * 86400.0
                 FROM campaign_runs r WHERE r.campaign_id = ?"""
        return float(self.db.execute(sql, [campaign_id]).fetchone()[0] or 0.0)

    # -- LLM calls ---------------------------------------------------------
    def add_llm_call(self, campaign_id: int, **fields: Any) -> int:
        return self._insert("llm_calls", {"campaign_id": campaign_id, "created": now(), **fields})

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
        return self._insert("candidates", row)

    def update_candidate(self, candidate_id: int, **fields: Any) -> None:
        row = {**_encode(fields), "updated": now()}
        sql = f"UPDATE candidates SET {', '.join(f'{c} = ?' for c in self._checked('candidates', row))} WHERE id = ?"
        if self._write(sql, [*row.values(), candidate_id]).rowcount == 0:
            raise StoreError(f"no candidate {candidate_id} in {self.path}")

    def add(self, cand: Candidate) -> Candidate:
        """Insert an in-memory record (its id and `created` are ignored); returns it as stored."""
        fields = {k: getattr(cand, k) for k in Candidate.__dataclass_fields__
                  if k not in ("id", "campaign_id", "code", "status", "created")}
        stamp = now()
        row = {"campaign_id": cand.campaign_id, "code": cand.code, "status": str(cand.status), "created": stamp,
               **_encode(fields), "updated": stamp}
        return replace(cand, id=self._insert("candidates", row), created=stamp)

    def update(self, cand: Candidate, **changes: Any) -> Candidate:
        """One UPDATE of the changed columns; returns the record with the changes applied."""
        self.update_candidate(cand.id, **changes)
        return replace(cand, **{k: v for k, v in changes.items() if k in Candidate.__dataclass_fields__})

    def candidate(self, candidate_id: int) -> Candidate:
        rows = self._select("id = ?", [candidate_id])
        if not rows:
            raise StoreError(f"no candidate {candidate_id} in {self.path}")
        return rows[0]

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        """One row in one transaction, by plain SQL (the hot path: ~0.1 ms, no per-call schema introspection)."""
        cols = self._checked(table, row)
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        return self._write(sql, list(row.values())).lastrowid

    def _write(self, sql: str, args: list) -> sqlite3.Cursor:
        """Run one write: committed at once, or at the end of the enclosing `batch()`."""
        if getattr(self, "_batching", False):
            return self.db.conn.execute(sql, args)
        with self.db.conn:
            return self.db.conn.execute(sql, args)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group the writes of one loop event (add_candidate, update_candidate, add_llm_call) into one
        transaction: one commit instead of one per call; rolled back whole if the block raises."""
        if getattr(self, "_batching", False):
            yield
            return
        self._batching = True
        try:
            with self.db.conn:
                yield
        finally:
            self._batching = False

    def _checked(self, table: str, row: dict[str, Any]) -> list[str]:
        """`row`'s keys, which must all be columns of `table` (read once per store)."""
        cache = self.__dict__.setdefault("_columns", {})
        if table not in cache:
            cache[table] = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})").fetchall()}
        unknown = set(row) - cache[table]
        if unknown:
            raise ValueError(f"no column {', '.join(sorted(unknown))} in table {table}")
        return list(row)

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
        if seed_backend != "seed" or not self._derived():
            sql = "SELECT count(*) FROM candidates WHERE campaign_id = ? AND backend != ?"
            return self.db.execute(sql, [campaign_id, seed_backend]).fetchone()[0]
        sql = "SELECT coalesce(sum(n), 0) FROM status_counts WHERE campaign_id = ? AND seed = 0"
        return self.db.execute(sql, [campaign_id]).fetchone()[0]

    def counts(self, campaign_id: int, *, seeds: bool = True) -> dict[str, int]:
        """Candidates per status (seeds=False: proposals only), from a table triggers keep current."""
        if not self._derived():
            sql = ("SELECT status, count(*) FROM candidates WHERE campaign_id = ? AND (? OR backend != 'seed') "
                   "GROUP BY 1")
            return {s: n for s, n in self.db.execute(sql, [campaign_id, seeds]).fetchall()}
        sql = "SELECT status, sum(n) FROM status_counts WHERE campaign_id = ? AND (? OR seed = 0) GROUP BY 1 ORDER BY 1"
        return {s: n for s, n in self.db.execute(sql, [campaign_id, seeds]).fetchall() if n}

    def totals(self, campaign_id: int) -> dict[str, float]:
        if self._derived():
            sql = "SELECT calls, tokens, cost_usd, llm_seconds FROM campaign_llm_totals WHERE campaign_id = ?"
            n, tokens, cost, latency = self.db.execute(sql, [campaign_id]).fetchone() or (0, 0, 0.0, 0.0)
        else:
            sql = ("SELECT count(*), coalesce(sum(prompt_tokens + completion_tokens), 0), "
                   "coalesce(sum(cost_usd), 0), coalesce(sum(latency_s), 0) FROM llm_calls WHERE campaign_id = ?")
            n, tokens, cost, latency = self.db.execute(sql, [campaign_id]).fetchone()
        return {"calls": n, "tokens": tokens, "cost_usd": cost, "llm_seconds": latency}

    def _derived(self) -> bool:
        """Whether the trigger-maintained tables are filled (false on a read-only open of an older store)."""
        if getattr(self, "_has_derived", None) is None:
            try:
                row = self.db.execute("SELECT 1 FROM meta WHERE key = 'derived_tables'").fetchone()
            except sqlite3.OperationalError:
                row = None
            self._has_derived = row is not None
        return self._has_derived

    # -- scale: pages, top-N and lineage without reading a whole campaign ------------------------
    def count(self, campaign_id: int, *statuses: Status) -> int:
        counts = self.counts(campaign_id)
        return sum(n for s, n in counts.items() if not statuses or s in {str(x) for x in statuses})

    def page(self, campaign_id: int, *, sort: str = "metric", higher_is_better: bool = True,
             statuses: tuple[Status, ...] = (), limit: int = 50, offset: int = 0) -> list[Candidate]:
        """One page of a campaign's candidates, sorted on an index; rows without the sort value come last (by id).

        sort "rank": trained (OK) candidates in `ranked` order (best first; ties: fewer params, then id), then
        the rest by id; "metric": any row with a metric, best first (not indexed beyond the status filter: pass
        statuses=(OK,) or use "rank" on big campaigns); "id", "params", "flops", "test".
        """
        where, args = "campaign_id = ?", [campaign_id]
        if statuses:
            where += f" AND status IN ({','.join('?' * len(statuses))})"
            args += [str(s) for s in statuses]
        out: list[Candidate] = []
        for seg_where, order in _segments(sort, higher_is_better):
            if limit <= 0:
                break
            sql_where = f"{where} AND {seg_where}"
            rows = self._select(f"{sql_where} ORDER BY {order} LIMIT ? OFFSET ?", [*args, limit, offset])
            if not rows and offset:  # the page starts past this segment: skip it whole (one count, on its index)
                offset -= min(offset, self.db.execute(f"SELECT count(*) FROM candidates WHERE {sql_where}",
                                                      args).fetchone()[0])
                continue
            out, limit, offset = out + rows, limit - len(rows), 0
        return out

    def top(self, campaign_id: int, higher_is_better: bool, n: int) -> list[Candidate]:
        """The best `n` trained candidates, in `knowledge.records.ranked` order, from the metric index."""
        return self.page(campaign_id, sort="rank", higher_is_better=higher_is_better, statuses=(Status.OK,),
                         limit=n)

    def by_ids(self, ids: list[int] | tuple[int, ...] | set[int]) -> list[Candidate]:
        """The candidates with these ids (any campaign), by id; unknown ids are skipped."""
        ids = sorted(set(ids))
        out: list[Candidate] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            out += self._select(f"id IN ({','.join('?' * len(chunk))}) ORDER BY id", chunk)
        return out

    def first_parent_chain(self, candidate_id: int, depth: int = 100) -> list[int]:
        """The candidate's first-parent ancestors, nearest first (at most `depth`, cycle-safe), by primary key."""
        sql = ("WITH RECURSIVE up(id, d) AS (SELECT parent_id, 1 FROM candidate_parents "
               "WHERE child_id = ? AND pos = 0 UNION SELECT p.parent_id, up.d + 1 FROM up "
               "JOIN candidate_parents p ON p.child_id = up.id AND p.pos = 0 WHERE up.d < ?) "
               "SELECT id FROM up ORDER BY d")
        out: list[int] = []
        for (pid,) in self.db.execute(sql, [candidate_id, depth]).fetchall():
            if pid == candidate_id or pid in out:
                break
            out.append(pid)
        return out

    def child_ids(self, candidate_id: int, limit: int = 1000) -> list[int]:
        """Candidates that name this one among their parents (any position), oldest first."""
        sql = "SELECT DISTINCT child_id FROM candidate_parents WHERE parent_id = ? ORDER BY child_id LIMIT ?"
        return [r[0] for r in self.db.execute(sql, [candidate_id, limit]).fetchall()]

    def subtree_ids(self, candidate_id: int, max_nodes: int = 200, max_depth: int = 50) -> list[int]:
        """Descendants breadth-first (the candidate first), at most `max_nodes` ids."""
        seen, frontier = [candidate_id], [candidate_id]
        for _ in range(max_depth):
            nxt: list[int] = []
            for cid in frontier:
                for kid in self.child_ids(cid, max_nodes):
                    if kid not in seen and len(seen) < max_nodes:
                        seen.append(kid)
                        nxt.append(kid)
            if not nxt:
                break
            frontier = nxt
        return seen

    def trained_series(self, campaign_id: int) -> list[tuple[int, float, bool, float | None, int | None, int | None]]:
        """(id, metric, is seed, pre-filter score, params, flops) of every trained candidate, in id order."""
        sql = ("SELECT id, metric, backend = 'seed', prefilter_score, params, flops FROM candidates "
               "WHERE campaign_id = ? AND status = 'ok' AND metric IS NOT NULL ORDER BY id")
        return [(i, m, bool(s), p, n, f) for i, m, s, p, n, f in self.db.execute(sql, [campaign_id]).fetchall()]

    def prefilter_pairs(self, campaign_id: int) -> list[tuple[float, float, bool]]:
        """(pre-filter score, metric, was an ε-random pick) of every trained candidate with a score."""
        sql = ("SELECT prefilter_score, metric, coalesce(epsilon, 0) FROM candidates "
               "WHERE campaign_id = ? AND status = 'ok' AND metric IS NOT NULL AND prefilter_score IS NOT NULL")
        return [(s, m, bool(e)) for s, m, e in self.db.execute(sql, [campaign_id]).fetchall()]

    def proposal_backends(self, campaign_id: int) -> set[str]:
        """The backends that proposed this campaign's candidates (seeds excluded)."""
        sql = "SELECT DISTINCT backend FROM candidates WHERE campaign_id = ? AND backend != 'seed'"
        return {r[0] for r in self.db.execute(sql, [campaign_id]).fetchall()}

    def llm_usage(self, campaign_id: int) -> list[tuple]:
        """(backend, model, calls, errors, prompt tokens, completion tokens, cost, latency) per backend and model."""
        sql = ("SELECT backend, model, count(*), count(error), sum(prompt_tokens), sum(completion_tokens), "
               "sum(cost_usd), sum(latency_s) FROM llm_calls WHERE campaign_id = ? GROUP BY 1, 2 ORDER BY 1, 2")
        return self.db.execute(sql, [campaign_id]).fetchall()

    def query_plan(self, sql: str, args: list | tuple = ()) -> list[str]:
        """SQLite's EXPLAIN QUERY PLAN lines for `sql` (tests assert hot paths search indexes, never scan)."""
        return [row[-1] for row in self.db.execute(f"EXPLAIN QUERY PLAN {sql}", list(args)).fetchall()]

    def _select(self, where_order: str, args: list) -> list[Candidate]:
        cursor = self.db.execute(f"SELECT * FROM candidates WHERE {where_order}", args)
        cols = [d[0] for d in cursor.description]
        return [_decode(dict(zip(cols, row, strict=True))) for row in cursor.fetchall()]

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


class ThreadConnections:
    """A store's connections for other threads (`Store.for_thread`): one per thread, opened on first use."""

    def __init__(self, store: Store):
        self.store, self.owner = store, threading.current_thread()
        self._local, self._opened, self._lock = threading.local(), [], threading.Lock()

    def get(self) -> Store:
        if threading.current_thread() is self.owner or str(self.store.path) == ":memory:":
            return self.store
        mine = getattr(self._local, "store", None)
        if mine is None or mine.closed:
            path = self.store.path
            mine = self._local.store = Store.open_readonly(path) if self.store.readonly else Store(path)
            with self._lock:
                self._opened.append(mine)
        return mine

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for store in opened:
            store.close()


def check_store_file(path: Path) -> None:
    """Refuse an empty file before SQLite would turn it into a store.

    By `stat` only: never a plain `open()` of the database file. On Linux closing *any* descriptor of a
    file drops *all* of the process's POSIX locks on it, SQLite's included, and a process that may hold
    a connection to the store (every campaign does) would then look to the others like no reader at
    all: the next one to close its connection checkpoints, truncates and unlinks the -wal and -shm
    files under the running campaign (issue 25). A header that is not SQLite's is found by SQLite
    itself on the first read ("file is not a database", `describe_open_error`).
    """
    try:
        st = path.stat()
    except OSError as err:
        raise StoreError(f"cannot read store {path}: {err.strerror}") from None
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not an archagent knowledge store")
    if st.st_size == 0:
        raise StoreError(f"{path} is an empty file, not an archagent knowledge store (delete it to start afresh)")


def describe_open_error(path: Path, err: sqlite3.DatabaseError, doing: str = "open") -> str:
    """One line for an SQLite error met opening (or first writing to) the store."""
    text = str(err)
    if "not a database" in text:
        return f"{path} is not an archagent knowledge store (not an SQLite file, or its header is damaged)"
    if "malformed" in text:
        return f"store {path} is damaged ({err}); restore a copy, or use another store"
    if read_only_media(path):
        return f"cannot write to store {path}: it is on read-only media ({err}); use a store on writable storage"
    if "readonly" in text:
        return f"cannot write to store {path}: it is read-only ({err})"
    return f"cannot {doing} store {path}: {err}"


def read_only_media(path: Path) -> bool:
    """Whether the file system holding `path` (or its folder, for a file not made yet) is mounted read-only."""
    for where in (path, path.parent):
        try:
            return bool(os.statvfs(where).f_flag & os.ST_RDONLY)
        except OSError:
            continue
    return False


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


def _create(path: Path) -> None:
    """A new store, made whole under a temporary name and then linked into place: no other process ever
    finds it empty or half made (two campaigns started at once on a new store); if another process made
    it first, theirs is kept. Where the file system has no hard links, the store is made in place."""
    if path.parent and not path.parent.exists():
        raise StoreError(f"cannot create store {path}: folder {path.parent} does not exist")
    tmp = path.with_name(f"{path.stem}.new-{os.getpid()}-{threading.get_ident()}{path.suffix}")
    try:
        fresh = Store.__new__(Store)
        fresh.path = tmp
        fresh._connect(shown=path)
        fresh.close()
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    except OSError:
        pass  # no hard links here: `Store` opens (creates) the path itself
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            with contextlib.suppress(OSError):  # missing, or on read-only media (EROFS even then)
                leftover.unlink()


def _open(path: Path, shown: Path) -> sqlite_utils.Database:
    """A writable connection (WAL mode); errors name the store as `shown`."""
    if path.parent and not path.parent.exists():
        raise StoreError(f"cannot create store {shown}: folder {path.parent} does not exist")
    conn = None
    try:
        conn = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
        db = sqlite_utils.Database(conn)
        tables = _tables(db)
        if tables and "meta" not in tables:
            conn.close()
            raise StoreError(f"{shown} is an SQLite file but not an archagent knowledge store")
        db.enable_wal()
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as err:
        if conn is not None:
            conn.close()
        raise StoreError(describe_open_error(shown, err)) from None
    return db


def _segments(sort: str, higher_is_better: bool) -> list[tuple[str, str]]:
    """(WHERE, ORDER BY) per segment of a page sort: rows with the sort value first, then the rest by id."""
    down = "DESC" if higher_is_better else "ASC"
    match sort:
        case "id":
            return [("1", "id")]
        case "rank":  # `records.ranked` order (params NULL sorts as 0 there, first here: same for params >= 0)
            return [("status = 'ok' AND metric IS NOT NULL", f"metric {down}, params, id"),
                    ("NOT (status = 'ok' AND metric IS NOT NULL)", "id")]
        case "metric" | "test" | "params" | "flops":
            col = {"metric": "metric", "test": "test_metric"}.get(sort, sort)
            order = f"{col} {down}" if sort in ("metric", "test") else col
            tie = ", params, id" if sort == "metric" else ", id"
            return [(f"{col} IS NOT NULL", order + tie), (f"{col} IS NULL", "id")]
    raise ValueError(f"unknown sort '{sort}' (use {', '.join(SORTS)} or rank)")


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


def upgrade_v2_sql() -> str:
    """Schema 2 -> 3: the `idea` column (NULL for every earlier candidate)."""
    return " ".join(f"ALTER TABLE candidates ADD COLUMN {col} {typ};" for col, typ in V3_COLUMNS.items())


def _final_run(row: dict[str, Any]) -> FinalRun:
    kind = row["failure_kind"]
    return FinalRun(**{**row, "status": Status(row["status"]), "failure_kind": FailureKind(kind) if kind else None,
                       "preds_sample": json.loads(row["preds_sample"]), "has_weights": bool(row["has_weights"])})
