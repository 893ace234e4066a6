"""The population: islands, migration, earlier campaigns' best, parent sampling and a diversity archive.

    pop = Population(store, campaign.id, task, cfg.search)    # reads the campaign once
    ctx = pop.sample(rng, kind="local")                         # a PromptContext: parents of one island
    pop.observe(cand)                                           # the pipeline reports every change

The campaign's candidates live here in memory, in id order, as the pipeline
last wrote them: prompts, dedup and the pre-filter's history read this copy,
never the store. Each `sample` draws from one island (round-robin over
`search.islands`); its candidate records that island (`Candidate.island`).
Seeds, baseline proposals and earlier campaigns' best (`search.transfer`)
belong to every island. Every `search.migration_interval` proposals each island
also sees the other islands' best as of that moment, so one family cannot take
over every island at once (FunSearch's islands, Romera-Paredes et al. 2023).

Parent sampling (`search.sampler`) picks the parents a prompt shows as exemplars:
`elite` (best first, one per layer family, a seed kept in view), `best`,
`tournament` and `power_law` (probability ∝ rank^-1). `archive()` is a
MAP-Elites grid over (log2 params, layer mix): the best candidate per cell,
for operators that want two parents of different kinds (`parents_from_cells`).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable

from archagent.agent.config import SearchConfig
from archagent.agent.insights import relevant_insights
from archagent.agent.prompting import (
    DuplicateRow,
    Exemplar,
    FailureRow,
    PromptContext,
    ResultRow,
    TaskBrief,
    trim_error,
)
from archagent.evals.tasks.base import Task
from archagent.knowledge.records import Candidate, Status, ranked
from archagent.knowledge.store import Store

SEED_BACKEND = "seed"
_LAYER = re.compile(r"\bnn\.([A-Z]\w*)")
FAMILIES = (  # layer mix of a cell: the first family whose layers the code uses
    ("attention", {"MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer"}),
    ("recurrent", {"LSTM", "GRU", "RNN"}),
    ("conv", {"Conv1d", "Conv2d", "Conv3d"}),
)
Sampler = Callable[[list[Candidate], int, random.Random], list[Candidate]]
Cell = tuple[int, str]


# -- what a candidate is, structurally ------------------------------------------
def layer_types(code: str) -> frozenset[str]:
    """The torch.nn layer types a source uses: a cheap structural family."""
    return frozenset(_LAYER.findall(code))


def layer_mix(code: str) -> str:
    layers = layer_types(code)
    return next((name for name, family in FAMILIES if layers & family), "dense")


def cell(c: Candidate) -> Cell:
    """MAP-Elites cell: (log2 of the parameter count, rounded; layer mix)."""
    return (round(math.log2(c.params)) if c.params else 0, layer_mix(c.code))


def distinct(cands: list[Candidate]) -> list[Candidate]:
    """Drop repeats of the same code or executed graph, keeping the first (best) one."""
    out, seen = [], set()
    for c in cands:
        keys = {k for k in (c.code_key, c.graph_key, c.text_key) if k}
        if not keys & seen:
            out.append(c)
        seen |= keys
    return out


# -- parent sampling strategies: (best-first distinct pool, n, rng) -> parents -----
def elite(pool: list[Candidate], n: int, rng: random.Random) -> list[Candidate]:
    """Best first, one per layer family before any repeat, plus a seed when n >= 2.

    With n == 1 the one parent is the best architecture (seed or not): a one-shot
    prompt must show the model what to improve on.
    """
    seeds = [c for c in pool if c.backend == SEED_BACKEND]
    room = n - 1 if seeds and n >= 2 else n
    families: set[frozenset[str]] = set()
    picked: list[Candidate] = []
    for c in pool:
        if len(picked) < room and layer_types(c.code) not in families:
            picked.append(c)
            families.add(layer_types(c.code))
    for group, limit in ((pool + seeds, room), (seeds + pool, n)):
        for c in group:
            if len(picked) < limit and c not in picked:
                picked.append(c)
    return picked


def best(pool: list[Candidate], n: int, rng: random.Random) -> list[Candidate]:
    return pool[:n]


def tournament(pool: list[Candidate], n: int, rng: random.Random, size: int = 3) -> list[Candidate]:
    """n winners of tournaments of `size` drawn without replacement (the pool is best first)."""
    picked: list[Candidate] = []
    while len(picked) < min(n, len(pool)):
        left = [i for i, c in enumerate(pool) if c not in picked]
        picked.append(pool[min(rng.sample(left, min(size, len(left))))])
    return picked


def power_law(pool: list[Candidate], n: int, rng: random.Random, alpha: float = 1.0) -> list[Candidate]:
    """n distinct parents drawn with probability ∝ rank^-alpha (rank 1 = best)."""
    picked: list[Candidate] = []
    while len(picked) < min(n, len(pool)):
        left = [c for c in pool if c not in picked]
        picked.append(rng.choices(left, [(pool.index(c) + 1) ** -alpha for c in left])[0])
    return picked


SAMPLERS: dict[str, Sampler] = {"elite": elite, "best": best, "tournament": tournament, "power_law": power_law}


def label(c: Candidate, campaign_id: int | None = None) -> str:
    if c.backend == SEED_BACKEND:
        return f"seed {c.seed_name or ''}".strip()
    if campaign_id is not None and c.campaign_id != campaign_id:
        return f"candidate #{c.id} from an earlier campaign"
    return f"candidate #{c.id}"


def prior_best(store: Store, campaign_id: int, task_name: str, higher_is_better: bool, n: int) -> list[Candidate]:
    """The best architectures of earlier campaigns on the same task in this store."""
    others = [c for c in store.campaigns() if c.task == task_name and c.id < campaign_id]
    return ranked([cand for camp in others for cand in store.candidates(camp.id, Status.OK)], higher_is_better)[:n]


class Population:
    """One campaign's candidates in memory, grouped into islands; the source of every prompt's parents."""

    def __init__(self, store: Store, campaign_id: int, task: Task, cfg: SearchConfig, prior_n: int = 3):
        self.campaign_id, self.task, self.cfg = campaign_id, task, cfg
        self.members: dict[int, Candidate] = {c.id: c for c in store.candidates(campaign_id)}
        self._keys: dict[tuple[str, str], list[int]] = {}
        for c in self.members.values():
            self._index(c)
        self.task_name = store.campaign(campaign_id).task
        higher = task.higher_is_better
        self.prior = prior_best(store, campaign_id, self.task_name, higher, prior_n) if cfg.transfer else []
        self._store = store  # insights only: they are shared across campaigns and grow as the analyst writes
        self._next_island = len(self.proposals()) % cfg.islands
        self.sampler = SAMPLERS[cfg.sampler]

    # -- keeping the copy current --------------------------------------------------
    def observe(self, cand: Candidate) -> None:
        """Record a new or changed candidate (the pipeline calls this after every write)."""
        self.members[cand.id] = cand
        self._index(cand)

    def _index(self, c: Candidate) -> None:
        for name in ("text_key", "code_key", "graph_key"):
            value = getattr(c, name)
            ids = self._keys.setdefault((name, value), []) if value else None
            if ids is not None and c.id not in ids:
                ids.append(c.id)

    # -- views ---------------------------------------------------------------------
    def candidates(self, *statuses: Status) -> list[Candidate]:
        return [c for c in self.members.values() if not statuses or c.status in statuses]

    def proposals(self) -> list[Candidate]:
        return [c for c in self.members.values() if c.backend != SEED_BACKEND]

    def ranked(self) -> list[Candidate]:
        """Trained candidates best first; ties broken by fewer params, then age."""
        return ranked(list(self.members.values()), self.task.higher_is_better)

    def best(self) -> Candidate | None:
        top = self.ranked()
        return top[0] if top else None

    def find_duplicate(self, *, text_key: str | None = None, code_key: str | None = None,
                       graph_key: str | None = None, exclude_id: int | None = None) -> tuple[int, str] | None:
        """The earliest non-duplicate candidate sharing a key, tried in this order: (id, key name), or None."""
        for name, value in (("text_key", text_key), ("code_key", code_key), ("graph_key", graph_key)):
            for cid in self._keys.get((name, value), []) if value else []:
                if cid != exclude_id and self.members[cid].status != Status.DUPLICATE:
                    return cid, name
        return None

    def repair_depth(self, cand: Candidate) -> int:
        """How many repairs led to this candidate (0 for a fresh proposal)."""
        depth = 0
        while cand.repair_of is not None and cand.repair_of in self.members:
            depth, cand = depth + 1, self.members[cand.repair_of]
        return depth

    # -- islands and the archive -----------------------------------------------------
    def island_pool(self, island: int) -> list[Candidate]:
        """What one island may draw on: its own candidates, shared ones, and migrants from the last migration."""
        cands = list(self.members.values())
        own = [c for c in cands if c.island in (None, island)]
        proposals = self.proposals()
        settled = proposals[: len(proposals) // self.cfg.migration_interval * self.cfg.migration_interval]
        migrants = []
        for other in sorted({c.island for c in settled} - {None, island}):
            migrants += ranked([c for c in settled if c.island == other], self.task.higher_is_better)[:1]
        return own + migrants

    def archive(self) -> dict[Cell, Candidate]:
        """MAP-Elites: the best trained candidate of each (size, layer mix) cell."""
        cells: dict[Cell, Candidate] = {}
        for c in self.ranked():
            cells.setdefault(cell(c), c)
        return cells

    def parents_from_cells(self, rng: random.Random, n: int = 2) -> list[Candidate]:
        """n elites of different archive cells (fewer when the archive has fewer cells)."""
        elites = list(self.archive().values())
        return rng.sample(elites, min(n, len(elites)))

    def next_island(self) -> int:
        island, self._next_island = self._next_island, (self._next_island + 1) % self.cfg.islands
        return island

    def parents(self, rng: random.Random, n: int, island: int) -> list[Candidate]:
        """n parents for one island (and earlier campaigns' best) by the configured sampling strategy."""
        pool = distinct(ranked(self.island_pool(island) + self.prior, self.task.higher_is_better))
        return self.sampler(pool, n, rng)

    # -- the prompt ----------------------------------------------------------------
    def sample(self, rng: random.Random, kind: str = "", n: int | None = None,
               island: int | None = None) -> PromptContext:
        """The propose prompt's context: parents of one island as exemplars, results, failures, insights."""
        island = self.next_island() if island is None else island
        picked = self.parents(rng, self.cfg.for_kind(kind).n_exemplars if n is None else n, island)
        exemplars = [Exemplar(c.code, label(c, self.campaign_id), c.id, c.metric, c.params) for c in picked]
        cfg, cands = self.cfg, list(self.members.values())
        results = [ResultRow(c.id, c.metric, c.params, c.flops) for c in self.ranked()[: cfg.n_results]]
        failed = [c for c in cands if c.status == Status.FAILED][-cfg.n_failures:] if cfg.n_failures else []
        failures = [FailureRow(str(c.failure_kind), trim_error(c.failure_msg or "")) for c in failed]
        insights = relevant_insights(self._store, self.task_name, self.campaign_id, {c.id for c in picked}, cfg)
        return PromptContext(TaskBrief.of(self.task), exemplars, results, failures, duplicate_rows(cands),
                             insights, island=island, parents=tuple(picked))


def duplicate_rows(cands: list[Candidate], n: int = 3) -> list[DuplicateRow]:
    dups = [c for c in cands if c.status == Status.DUPLICATE and c.duplicate_of][-n:]
    return [DuplicateRow(c.duplicate_of, f"your proposal #{c.id} matched it on {c.matched_on or 'code'}")
            for c in dups]
