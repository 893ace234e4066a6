"""A synthetic knowledge store of N candidates, for measuring the store, CLI, report and web app at scale.

    python benchmarks/synth_store.py --n 100000 --out /tmp/synth100k.db      # ~1 minute on 2 cores
    from benchmarks.synth_store import generate
    info = generate(Path("/tmp/s.db"), 10_000)

What it writes is shaped like a real digits campaign: seeds from `evals/seeds/digits`, then proposals whose
code is a mutation of their parent's (widths, activations, an extra layer, a new docstring), first parents
picked from the proposal's island (4 islands, best-biased), a co-parent now and then, and one LLM call per
proposal whose prompt (system + few-shot exemplars + results table, JSON chat messages, ~2.7 KB) and reply
(~1.3 KB) are as big as the local backend's. Status mix: ~55% ok, 18% failed, 10% duplicate, 15% filtered,
a few pending/running. Rows go in with `executemany`, as a restore would: indexes and triggers are dropped
first, and reopening the store rebuilds them and back-fills the derived tables (counts, parent edges, LLM
totals) with the store's own migration code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from archagent.agent.config import parse_config
from archagent.knowledge.store import Store, now

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "evals" / "seeds" / "digits"
SYSTEM = (ROOT / "prompts" / "system.j2").read_text()
ACTS = ["ReLU", "GELU", "SiLU", "Tanh", "ELU", "LeakyReLU"]
FAILURES = [("build", "RuntimeError: mat1 and mat2 shapes cannot be multiplied (32x1024 and 64x10)"),
            ("shape", "expected output (B, 10), got (B, 64)"), ("syntax", "SyntaxError: invalid syntax (line 12)"),
            ("runtime", "RuntimeError: Given groups=1, weight of size [64, 32, 3, 3], expected input"),
            ("no_code", "the reply held no code block"), ("budget", "412,000 params over the 200,000 budget"),
            ("timeout", "training exceeded 180 s")]
WORDS = ["wider", "deeper", "residual", "gated", "depthwise", "squeeze", "bottleneck", "dilated", "mixed", "pooled",
         "normalised", "attention", "stacked", "dense", "light", "compact", "dual", "branch"]


@dataclass(frozen=True)
class SynthInfo:
    path: Path
    campaign: str
    campaign_id: int
    n: int
    seconds: float
    bytes: int


def mutate(code: str, rng: random.Random) -> str:
    """A plausible edit of a parent's code: widths, an activation, maybe a layer, always a new docstring."""
    code = re.sub(r"\b(16|32|48|64|96|128|192|256)\b", lambda m: str(rng.choice((16, 32, 48, 64, 96, 128, 192))),
                  code, count=rng.randint(1, 3))
    code = re.sub(r"nn\.(ReLU|GELU|SiLU|Tanh|ELU|LeakyReLU)\(\)", f"nn.{rng.choice(ACTS)}()", code, count=1)
    if rng.random() < 0.3 and "nn.Sequential(" in code and code.count("nn.Identity()") < 3:
        code = code.replace("nn.Sequential(", f"nn.Sequential(\n            nn.Identity(),  # {rng.choice(WORDS)}", 1)
    doc = f'"""{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} net v{rng.randint(1, 10**6)}."""'
    return re.sub(r'""".*?"""', doc, code, count=1, flags=re.S) if '"""' in code else code


def prompt_json(parents: list[str], table: str, directive: str) -> str:
    shots = "\n\n".join(f"### Example {i + 1}\n```python\n{code}```" for i, code in enumerate(parents))
    user = (f"Task: digits, 8x8 grayscale images, 10 classes, validation accuracy (higher is better).\n"
            f"Budget: at most 200,000 parameters.\n\n{shots}\n\n### Results so far\n{table}\n\n"
            f"### Your turn\n{directive}\nReply with one complete Python file in a ```python block.")
    return json.dumps([{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}])


def generate(path: Path, n: int, seed: int = 0, campaign: str = "synth", islands: int = 4) -> SynthInfo:
    """Write a store at `path` (replaced) holding one campaign of 3 seeds + `n - 3` proposals."""
    t0, rng = time.perf_counter(), random.Random(seed)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = Store(path)
    cfg = parse_config({"name": campaign, "store": str(path), "task": {"name": "digits"},
                        "budget": {"proposals": n}, "backends": [{"kind": "replay", "path": "synth.jsonl"}]})
    camp = store.create_campaign(campaign, "digits", cfg.model_dump_json())
    _drop_indexes_and_triggers(store)
    store.db.execute("PRAGMA synchronous = OFF")
    writer = _Writer(store, camp.id, rng, islands)
    first = writer.next_id
    for name in sorted(p.stem for p in SEEDS.glob("*.py")):
        writer.seed(name, (SEEDS / f"{name}.py").read_text())
    for _ in range(n - writer.next_id + first):
        writer.proposal()
    writer.flush()
    with store.db.conn:
        store.db.execute("DELETE FROM meta WHERE key = 'derived_tables'")
    store.close()
    Store(path).close()  # the schema again: indexes built in one sorted pass, derived tables back-filled
    return SynthInfo(path, campaign, camp.id, n, time.perf_counter() - t0, path.stat().st_size)


def _drop_indexes_and_triggers(store: Store) -> None:
    """Bulk load as a restore does: no per-row index or trigger work (the next open rebuilds both)."""
    rows = store.db.execute("SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger') "
                            "AND name NOT LIKE 'sqlite_autoindex%'").fetchall()
    with store.db.conn:
        for kind, name in rows:
            store.db.execute(f"DROP {kind.upper()} {name}")


class _Writer:
    """Builds rows in memory and inserts them in batches (ids assigned here, in insertion order)."""

    def __init__(self, store: Store, campaign_id: int, rng: random.Random, islands: int):
        self.store, self.cid, self.rng, self.islands = store, campaign_id, rng, islands
        self.codes: dict[int, str] = {}
        self.best: list[list[tuple[float, int]]] = [[] for _ in range(islands)]  # per island: (metric, id), best few
        self.recent: deque[int] = deque(maxlen=200)  # recent distinct candidates: what duplicates repeat
        self.cands: list[tuple] = []
        self.calls: list[tuple] = []
        self.next_call = 1 + (store.db.execute("SELECT max(id) FROM llm_calls").fetchone()[0] or 0)
        self.next_id = 1 + (store.db.execute("SELECT max(id) FROM candidates").fetchone()[0] or 0)
        self.step = 0

    def seed(self, name: str, code: str) -> None:
        metric = 0.93 + 0.03 * self.rng.random()
        cid = self._row(code, "ok", [], "seed", None, metric=metric, seed_name=name)
        for isl in range(self.islands):
            self.best[isl].append((metric, cid))

    def proposal(self) -> None:
        rng, self.step = self.rng, self.step + 1
        island = self.step % self.islands
        pool = self.best[island]
        parent = pool[min(int(rng.expovariate(0.7)), len(pool) - 1)][1]
        parents = [parent] + ([self.rng.choice(pool)[1]] if rng.random() < 0.25 and len(pool) > 1 else [])
        parents = list(dict.fromkeys(parents))
        code = mutate(self.codes[parent], rng)
        call = self._call(parents, code, island)
        roll = rng.random()
        if roll < 0.10 and self.step > 10:
            twin = rng.choice(self.recent)
            self._row(self.codes[twin], "duplicate", parents, "local", call, duplicate_of=twin, island=island)
        elif roll < 0.28:
            kind, msg = rng.choice(FAILURES)
            self._row("" if kind == "no_code" else code, "failed", parents, "local", call, island=island,
                      failure=(kind, msg))
        elif roll < 0.43:
            self._row(code, "filtered", parents, "local", call, island=island, score=rng.gauss(0, 1))
        elif roll < 0.432:
            self._row(code, rng.choice(("pending", "running")), parents, "local", call, island=island)
        else:
            drift = min(0.03, self.step / 3e6)
            metric = min(0.995, max(0.1, rng.gauss(0.935 + drift, 0.04)))
            cid = self._row(code, "ok", parents, "local", call, metric=metric, island=island, score=rng.gauss(0, 1))
            pool.append((metric, cid))
            pool.sort(reverse=True)
            del pool[8:]
        if len(self.cands) >= 5000:
            self.flush()
            live = {i for pool in self.best for _, i in pool} | set(self.recent)
            self.codes = {i: c for i, c in self.codes.items() if i in live}  # memory stays flat at 100k

    def _call(self, parents: list[int], code: str, island: int) -> int:
        table = "\n".join(f"#{p}: accuracy {m:.4f}" for m, p in self.best[island][:6])
        directive = f"Try a {self.rng.choice(WORDS)} variant; keep it under budget."
        reply = f"Here is a {self.rng.choice(WORDS)} variant of the exemplar.\n\n```python\n{code}```\n" \
                f"It changes the widths and the activation while staying under the parameter budget."
        prompt = prompt_json([self.codes[p] for p in parents], table, directive)
        tokens = len(prompt) // 4, len(reply) // 4
        call_id, self.next_call = self.next_call, self.next_call + 1
        self.calls.append((call_id, self.cid, "local", "qwen2.5-coder-1.5b", "propose", prompt, reply, *tokens,
                           round(self.rng.uniform(6, 11), 3), 0.0, None, now()))
        return call_id

    def _row(self, code: str, status: str, parents: list[int], backend: str, call: int | None, *,
             metric: float | None = None, island: int | None = None, score: float | None = None,
             duplicate_of: int | None = None, failure: tuple[str, str] | None = None,
             seed_name: str | None = None) -> int:
        rng, cid = self.rng, self.next_id
        self.next_id += 1
        text_key = hashlib.sha256(code.encode()).hexdigest()[:32] if code else None
        if code and duplicate_of is None:
            self.recent.append(cid)
        self.codes[cid] = code or self.codes.get(parents[0] if parents else cid, "")
        built = status in ("ok", "filtered") or duplicate_of is not None
        params = rng.randint(8_000, 190_000) if built else None
        history = [round(2.3 * 0.8 ** e + 0.05 * rng.random(), 4) for e in range(15)] if metric is not None else []
        epsilon = (rng.random() < 0.1) if metric is not None else None
        matched_on = "text_key" if duplicate_of is not None else None
        proxies = {"synflow": rng.gauss(10, 3), "naswot": rng.gauss(200, 20), "grad_norm": rng.random()} \
            if built else {}
        timings = {"probe_s": 0.1 + 0.05 * rng.random(), "train_s": 3 * rng.random()} if metric else {}
        stamp = now()
        self.cands.append((
            cid, self.cid, code, status, json.dumps(parents), backend, call, text_key,
            text_key and text_key[::-1], built and hashlib.md5(code.encode()).hexdigest(), duplicate_of,
            failure and failure[0], failure and failure[1], metric, metric and metric - rng.uniform(0, 0.02),
            params, params and params * rng.randint(2, 40), score, json.dumps(proxies), json.dumps(timings),
            "{}", None, stamp, stamp, seed_name, island, matched_on, json.dumps(history), epsilon))
        return cid

    def flush(self) -> None:
        db = self.store.db.conn
        with db:
            db.executemany("INSERT INTO llm_calls (id, campaign_id, backend, model, purpose, prompt, reply, "
                           "prompt_tokens, completion_tokens, latency_s, cost_usd, error, created) "
                           f"VALUES ({','.join('?' * 13)})", self.calls)
            db.executemany(
                "INSERT INTO candidates (id, campaign_id, code, status, parent_ids, backend, llm_call_id, text_key, "
                "code_key, graph_key, duplicate_of, failure_kind, failure_msg, metric, test_metric, params, flops, "
                "prefilter_score, proxies, timings, extra, heartbeat, created, updated, seed_name, island, matched_on, "
                f"history, epsilon) VALUES ({','.join('?' * 29)})", self.cands)
        self.cands, self.calls = [], []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    info = generate(args.out, args.n, args.seed)
    print(f"wrote {info.n:,} candidates to {info.path} in {info.seconds:.1f} s ({info.bytes / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
