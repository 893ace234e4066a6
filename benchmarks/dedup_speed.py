"""Speed of the dedup gates: text_key + code_key + store lookup, and graph_key.

    python benchmarks/dedup_speed.py [--store-size 10000]

Sources are the digits seeds plus the generated candidates of `dedup_recall.py`.
The lookup runs against `knowledge.store.Store.find_duplicate` on a store holding
`--store-size` synthetic candidates of one campaign (falls back to an indexed
SQLite table of its own when the store module is unavailable, and says so).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archagent.evals.fingerprint import code_key, text_key  # noqa: E402
from archagent.evals.graph_key import example_input, graph_key  # noqa: E402
from dedup_recall import generate  # noqa: E402

Lookup = Callable[[str, str], object]


def sources() -> list[str]:
    seeds = sorted((ROOT / "evals" / "seeds" / "digits").glob("*.py"))
    return [p.read_text() for p in seeds] + [item.source for item in generate()]


def _fake_key(i: int, kind: str) -> str:
    return hashlib.blake2b(f"{kind}{i}".encode(), digest_size=16).hexdigest()


def store_lookup(tmp: Path, size: int, code: str) -> tuple[Lookup, str]:
    """A `find_duplicate` over `size` stored candidates, and a description of it."""
    try:
        from archagent.knowledge.records import Status
        from archagent.knowledge.store import Store
    except ImportError as exc:
        return own_table_lookup(tmp, size), f"own indexed sqlite table (knowledge.store unavailable: {exc})"
    store = Store(tmp / "bench.db")
    campaign = store.create_campaign("dedup-bench", "digits", "{}").id
    start = time.perf_counter()
    for i in range(size):
        store.add_candidate(campaign, code, Status.OK, text_key=_fake_key(i, "t"), code_key=_fake_key(i, "c"),
                            graph_key=_fake_key(i, "g"))
    took = time.perf_counter() - start
    return (lambda t, c: store.find_duplicate(campaign, text_key=t, code_key=c),
            f"archagent.knowledge.store.Store.find_duplicate, {size} candidates (inserted in {took:.1f} s)")


def own_table_lookup(tmp: Path, size: int) -> Lookup:
    db = sqlite3.connect(tmp / "own.db")
    db.execute("CREATE TABLE candidates (id INTEGER PRIMARY KEY, campaign_id INT, text_key TEXT, code_key TEXT)")
    db.execute("CREATE INDEX i_t ON candidates(campaign_id, text_key)")
    db.execute("CREATE INDEX i_c ON candidates(campaign_id, code_key)")
    db.executemany("INSERT INTO candidates (campaign_id, text_key, code_key) VALUES (1, ?, ?)",
                   [(_fake_key(i, "t"), _fake_key(i, "c")) for i in range(size)])
    db.commit()

    def lookup(t: str, c: str) -> object:
        for col, key in (("text_key", t), ("code_key", c)):
            row = db.execute(f"SELECT id FROM candidates WHERE campaign_id = 1 AND {col} = ? LIMIT 1", [key]).fetchone()
            if row:
                return row
        return None

    return lookup


def _summary(ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"median {statistics.median(ms):.3f} ms, p95 {p95:.3f} ms, max {ms[-1]:.3f} ms (n={len(ms)})"


def _timed(clock: Callable[[], float], fn: Callable[[], object]) -> tuple[object, float]:
    start = clock()
    out = fn()
    return out, (clock() - start) * 1e3


def time_code_gates(srcs: list[str], lookup: Lookup, rounds: int) -> dict[str, list[float]]:
    """Per-candidate milliseconds, wall clock and process CPU (the machine may be shared)."""
    timings: dict[str, list[float]] = {}
    for clock_name, clock in (("wall", time.perf_counter), ("cpu", time.process_time)):
        for _ in range(rounds):
            for src in srcs:
                tk, t_text = _timed(clock, lambda src=src: text_key(src))
                ck, t_code = _timed(clock, lambda src=src: code_key(src))
                _, t_look = _timed(clock, lambda tk=tk, ck=ck: lookup(tk, ck))
                for name, ms in (("text_key", t_text), ("code_key", t_code), ("lookup", t_look),
                                 ("total", t_text + t_code + t_look)):
                    timings.setdefault(f"{name} ({clock_name})", []).append(ms)
    return timings


def time_graph_key(srcs: list[str], clock: Callable[[], float]) -> tuple[float, list[float]]:
    example = example_input((1, 8, 8), 10)
    times = []
    for src in srcs:
        namespace: dict = {}
        exec(compile(src, "<candidate>", "exec"), namespace)
        model = namespace["Net"]((1, 8, 8), 10)
        times.append(_timed(clock, lambda model=model: graph_key(model, example))[1])
    return times[0], times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    srcs = sources()
    lines = [len(s.splitlines()) for s in srcs]
    print(f"{len(srcs)} candidate sources, {min(lines)}-{max(lines)} lines (median {statistics.median(lines)})")
    with tempfile.TemporaryDirectory() as tmp:
        lookup, how = store_lookup(Path(tmp), args.store_size, srcs[0])
        print(f"lookup: {how}")
        for name, ms in time_code_gates(srcs, lookup, args.rounds).items():
            print(f"  {name:<16} {_summary(ms)}")
    for clock_name, clock in (("wall", time.perf_counter), ("cpu", time.process_time)):
        first, rest = time_graph_key(srcs[:3] + srcs[3::6], clock)
        print(f"graph_key ({clock_name}): first call in process {first:.1f} ms; then {_summary(rest)}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
