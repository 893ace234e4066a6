"""What a prompt shows: few-shot exemplars from one island, compact tables and insights from the store.

    ctx = build_context(store, campaign_id, task, cfg.search, kind="local")   # agent/loop.py, per proposal

Islands: every LLM proposal draws its exemplars from one sub-population
(round-robin over `search.islands`), and its candidate records that island in
`extra["island"]`. Seeds, baseline proposals and earlier campaigns' best
architectures belong to every island. Every `search.migration_interval`
proposals each island also sees the other islands' best (as of that moment),
so one family cannot take over every island at once.
"""

from __future__ import annotations

import re

from agent.config import SearchConfig
from agent.insights import relevant_insights
from agent.prompting import DuplicateRow, Exemplar, FailureRow, PromptContext, ResultRow, TaskBrief, trim_error
from evals.tasks.base import Task
from knowledge.records import Candidate, Status
from knowledge.records import ranked as rank_by_metric
from knowledge.store import Store

SEED_BACKEND = "seed"
DEFAULT_SHOTS = {"local": 1}
_LAYER = re.compile(r"\bnn\.([A-Z]\w*)")
_PRIOR: dict[tuple[str, int, int], list[Candidate]] = {}  # earlier campaigns are finished: read them once


def ranked(cands: list[Candidate], task: Task) -> list[Candidate]:
    """OK candidates best first; ties broken by fewer params, then age."""
    return rank_by_metric(cands, task.higher_is_better)


def layer_types(code: str) -> frozenset[str]:
    """The torch.nn layer types a source uses: a cheap structural family."""
    return frozenset(_LAYER.findall(code))


def distinct(cands: list[Candidate]) -> list[Candidate]:
    """Drop repeats of the same code or executed graph, keeping the first (best) one."""
    out, seen = [], set()
    for c in cands:
        keys = {k for k in (c.code_key, c.graph_key, c.text_key) if k}
        if not keys & seen:
            out.append(c)
        seen |= keys
    return out


def select_exemplars(cands: list[Candidate], task: Task, n: int) -> list[Candidate]:
    """Best first over distinct architectures, one per layer family before any repeat, plus a seed when n >= 2.

    With n == 1 the one exemplar is the best architecture (seed or not): a
    one-shot prompt must show the model what to improve on.
    """
    pool = distinct(ranked(cands, task))
    seeds = [c for c in pool if c.backend == SEED_BACKEND]
    room = n - 1 if seeds and n >= 2 else n
    families: set[frozenset[str]] = set()
    picked = []
    for c in pool:
        if len(picked) < room and layer_types(c.code) not in families:
            picked.append(c)
            families.add(layer_types(c.code))
    for c in pool + seeds:
        if len(picked) < room and c not in picked:
            picked.append(c)
    for c in seeds + pool:
        if len(picked) < n and c not in picked:
            picked.append(c)
    return picked


def island_pool(cands: list[Candidate], task: Task, island: int, search: SearchConfig) -> list[Candidate]:
    """What one island may draw on: its own candidates, shared ones, and migrants from the last migration."""
    island_of = {c.id: c.extra.get("island") for c in cands}
    own = [c for c in cands if island_of[c.id] in (None, island)]
    proposals = [c for c in cands if c.backend != SEED_BACKEND]
    cutoff = len(proposals) // search.migration_interval * search.migration_interval
    settled = proposals[:cutoff]
    migrants = []
    for other in {island_of[c.id] for c in settled} - {None, island}:
        migrants += ranked([c for c in settled if island_of[c.id] == other], task)[:1]
    return own + migrants


def prior_best(store: Store, campaign_id: int, task: Task, n: int) -> list[Candidate]:
    """The best architectures of earlier campaigns on the same task in this store (read once per campaign)."""
    key = (str(store.path), campaign_id, n)
    if key not in _PRIOR:
        name = store.campaign(campaign_id).task
        others = [c for c in store.campaigns() if c.task == name and c.id < campaign_id]
        _PRIOR[key] = ranked([cand for camp in others for cand in store.candidates(camp.id, Status.OK)], task)[:n]
    return _PRIOR[key]


def label(c: Candidate, campaign_id: int | None = None) -> str:
    if c.backend == SEED_BACKEND:
        return f"seed {c.extra.get('seed_name', '')}".strip()
    if campaign_id is not None and c.campaign_id != campaign_id:
        return f"candidate #{c.id} from an earlier campaign"
    return f"candidate #{c.id}"


def duplicate_rows(cands: list[Candidate], n: int = 3) -> list[DuplicateRow]:
    dups = [c for c in cands if c.status == Status.DUPLICATE and c.duplicate_of][-n:]
    return [DuplicateRow(c.duplicate_of, f"your proposal #{c.id} matched it on {c.extra.get('matched_on', 'code')}")
            for c in dups]


def shots_for(kind: str, search: SearchConfig) -> int:
    """Exemplars per prompt for a backend kind: the configured number, else 1 for the small local model
    (benchmarks/local_validity.py: as valid as 2-3 shots and ~40% faster per proposal), else 3."""
    return search.n_exemplars if search.n_exemplars is not None else DEFAULT_SHOTS.get(kind, 3)


def build_context(store: Store, campaign_id: int, task: Task, search: SearchConfig,
                  island: int | None = None, kind: str = "") -> PromptContext:
    """The propose prompt's context for a `kind` backend: exemplars of one island, results, failures, insights."""
    cands = store.candidates(campaign_id)
    shots = shots_for(kind, search)
    if island is None:
        island = sum(1 for c in cands if c.backend != SEED_BACKEND) % search.islands
    prior = prior_best(store, campaign_id, task, shots) if search.transfer else []
    picked = select_exemplars(island_pool(cands, task, island, search) + prior, task, shots)
    exemplars = [Exemplar(c.code, label(c, campaign_id), c.id, c.metric, c.params) for c in picked]
    results = [ResultRow(c.id, c.metric, c.params, c.flops) for c in ranked(cands, task)[:search.n_results]]
    failed = [c for c in cands if c.status == Status.FAILED][-search.n_failures:] if search.n_failures else []
    failures = [FailureRow(str(c.failure_kind), trim_error(c.failure_msg or "")) for c in failed]
    insights = relevant_insights(store, campaign_id, {c.id for c in picked}, search)
    return PromptContext(TaskBrief.of(task), exemplars, results, failures, duplicate_rows(cands), insights,
                         island=island)
