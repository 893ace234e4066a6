"""The population: islands, migration, earlier campaigns' best, parent sampling and a diversity archive.

    pop = Population(store, campaign.id, task, cfg.search)    # reads the campaign once
    draw = pop.draw(rng, plan, kind="local")                  # ONE sampler call: parents of one island, ...
    pop.observe(cand)                                           # the pipeline reports every change

The campaign's candidates live here in memory, in id order, as the pipeline
last wrote them, with the task's insights and each proposal's LLM seconds:
prompts, parent choice, the bandit, dedup and the pre-filter's history read
this copy, never the store. Each `draw` (agent/draw.py) draws the parents of
one proposal from one island (round-robin over `search.islands`); its
candidate records that island (`Candidate.island`).
Seeds, baseline proposals and earlier campaigns' best (`search.transfer`)
belong to every island. Every `search.migration_interval` proposals each island
also sees the other islands' best as of that moment, so one family cannot take
over every island at once (FunSearch's islands, Romera-Paredes et al. 2023).

Parent sampling (`search.sampler`) picks every operator's parents (the
rewrite prompt's exemplars, the edited parent, crossover's pair), ranked by
the campaign's objective (`knowledge.fitness`): `elite` (best first, one per
layer family, a seed kept in view), `best`, `tournament`, `power_law`
(probability ∝ rank^-1) and `weighted` (∝ rank^-1 / (1 + children), after
ShinkaEvolve: a parent's weight falls with each child it already has, so one
parent does not take every slot). `archive()` is a MAP-Elites grid over
(log2 params, layer mix): the best candidate per cell; crossover's second
parent comes from another cell than its first when there is one.
"""

from __future__ import annotations

import math
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from functools import partial

from archagent.agent.config import SearchConfig
from archagent.agent.draw import Draw, IdeaCard, Plan
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
from archagent.knowledge.fitness import Objective, rank
from archagent.knowledge.records import Candidate, LLMCall, Status, ranked
from archagent.knowledge.store import Insight, Store

SEED_BACKEND = "seed"
_LAYER = re.compile(r"\bnn\.([A-Z]\w*)")
FAMILIES = (  # layer mix of a cell: the first family whose layers the code uses
    ("attention", {"MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer"}),
    ("recurrent", {"LSTM", "GRU", "RNN"}),
    ("conv", {"Conv1d", "Conv2d", "Conv3d"}),
)
Sampler = Callable[[list[Candidate], int, random.Random], list[Candidate]]
Cell = tuple[int, str]
# (parents, population) -> idea cards for a proposal on them: the idea library's retrieval (knowledge.ideas)
IdeaRetriever = Callable[[tuple[Candidate, ...], "Population"], tuple[IdeaCard, ...]]


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


def weighted(pool: list[Candidate], n: int, rng: random.Random,
             children: Mapping[int, int] | None = None) -> list[Candidate]:
    """n distinct parents drawn with probability ∝ rank^-1 / (1 + children so far) (ShinkaEvolve's weighting)."""
    children = children or {}
    picked: list[Candidate] = []
    while len(picked) < min(n, len(pool)):
        left = [(i, c) for i, c in enumerate(pool) if c not in picked]
        weights = [1.0 / (i + 1) / (1 + children.get(c.id, 0)) for i, c in left]
        picked.append(rng.choices([c for _, c in left], weights)[0])
    return picked


SAMPLERS: dict[str, Sampler] = {"elite": elite, "best": best, "tournament": tournament, "power_law": power_law,
                                "weighted": weighted}


def label(c: Candidate, campaign_id: int | None = None) -> str:
    if c.backend == SEED_BACKEND:
        return f"seed {c.seed_name or ''}".strip()
    if campaign_id is not None and c.campaign_id != campaign_id:
        return f"candidate #{c.id} from an earlier campaign"
    return f"candidate #{c.id}"


def call_groups(calls: list[LLMCall]) -> dict[int, list[LLMCall]]:
    """Proposal call id -> that call and the re-asked repeats ("propose-copy") made just before it."""
    out, pending = {}, []
    for call in sorted(calls, key=lambda c: c.id):
        if call.purpose == "propose-copy":
            pending.append(call)
        elif call.purpose == "propose":
            out[call.id], pending = [*pending, call], []
    return out


def prior_best(store: Store, campaign_id: int, task_name: str, higher_is_better: bool, n: int) -> list[Candidate]:
    """The best architectures of earlier campaigns on the same task in this store."""
    others = [c for c in store.campaigns() if c.task == task_name and c.id < campaign_id]
    return ranked([cand for camp in others for cand in store.candidates(camp.id, Status.OK)], higher_is_better)[:n]


class Population:
    """One campaign's candidates in memory, grouped into islands; the source of every proposal's parents."""

    def __init__(self, store: Store, campaign_id: int, task: Task, cfg: SearchConfig, prior_n: int = 3):
        self.campaign_id, self.task, self.cfg = campaign_id, task, cfg
        self.objective = Objective(cfg.objective, cfg.size_penalty)
        self.members: dict[int, Candidate] = {}
        self.children: Counter[int] = Counter()  # candidate id -> proposals naming it as a parent
        self._keys: dict[tuple[str, str], list[int]] = {}
        self._lock = threading.Lock()  # the dedup index: LLM threads ask `seen` while the main thread observes
        for c in store.candidates(campaign_id):
            self.observe(c)
        self.task_name = store.campaign(campaign_id).task
        higher = task.higher_is_better
        self.prior = prior_best(store, campaign_id, self.task_name, higher, prior_n) if cfg.transfer else []
        self.insights: list[Insight] = store.insights(self.task_name, limit=200) if cfg.n_insights else []
        groups = call_groups(store.llm_calls(campaign_id))
        self.llm_seconds: dict[int, float] = {cid: sum(c.latency_s for c in g) for cid, g in groups.items()}
        self.ideas: IdeaRetriever | None = None  # the idea library's retrieval, when one is configured
        self._next_island = len(self.proposals()) % cfg.islands
        self.sampler = SAMPLERS[cfg.sampler]
        if cfg.sampler == "weighted":
            self.sampler = partial(weighted, children=self.children)

    # -- keeping the copy current --------------------------------------------------
    def observe(self, cand: Candidate) -> None:
        """Record a new or changed candidate (the pipeline calls this after every write)."""
        with self._lock:
            if cand.id not in self.members:
                self.children.update(set(cand.parent_ids))
            self.members[cand.id] = cand
            self._index(cand)

    def _index(self, c: Candidate) -> None:
        for name in ("text_key", "code_key", "graph_key"):
            value = getattr(c, name)
            ids = self._keys.setdefault((name, value), []) if value else None
            if ids is not None and c.id not in ids:
                ids.append(c.id)

    def learn(self, insights: list[Insight]) -> None:
        """New insights from the analyst (any thread): the next draws show them."""
        self.insights = [*reversed(insights), *self.insights]  # newest first, one atomic rebinding

    def spent(self, llm_call_id: int | None, seconds: float) -> None:
        """The LLM seconds a proposal's call (re-asks included) took: the bandit's cost of its arm."""
        if llm_call_id is not None:
            self.llm_seconds[llm_call_id] = seconds

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
        with self._lock:
            for name, value in (("text_key", text_key), ("code_key", code_key), ("graph_key", graph_key)):
                for cid in self._keys.get((name, value), []) if value else []:
                    if cid != exclude_id and self.members[cid].status != Status.DUPLICATE:
                        return cid, name
        return None

    def seen(self, code: str) -> int | None:
        """The earlier candidate this code repeats (same text or canonical AST), if any (safe from any thread)."""
        from archagent.evals.fingerprint import CanonicalError, code_key, text_key

        try:
            ck = code_key(code)
        except (SyntaxError, CanonicalError):
            ck = None
        found = self.find_duplicate(text_key=text_key(code), code_key=ck)
        return found[0] if found else None

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

    def pool(self, island: int) -> list[Candidate]:
        """One island's distinct trained architectures (and earlier campaigns' best), best first by the objective."""
        return distinct(rank(self.island_pool(island) + self.prior, self.objective, self.task.higher_is_better))

    def parents(self, rng: random.Random, n: int, island: int, other_cells: bool = False) -> list[Candidate]:
        """n parents for one island by the configured sampling strategy; with `other_cells`, each one after
        the first from another MAP-Elites cell than the first when the island has one (crossover)."""
        pool = self.pool(island)
        if not other_cells or n < 2:
            return self.sampler(pool, n, rng)
        picked = self.sampler(pool, 1, rng)
        for _ in range(n - 1 if picked else 0):
            rest = [c for c in pool if c not in picked]
            picked += self.sampler([c for c in rest if cell(c) != cell(picked[0])] or rest, 1, rng)
        return picked

    def recorded(self, refs: tuple[int | str, ...]) -> list[Candidate]:
        """The parents a replay row names (candidate ids, or text keys in exports), as found in this campaign."""
        out = []
        for ref in refs:
            cid = ref if isinstance(ref, int) else (self.find_duplicate(text_key=ref) or (None,))[0]
            if cid in self.members:
                out.append(self.members[cid])
        return out

    # -- the one sampler call --------------------------------------------------------
    def draw(self, rng: random.Random, plan: Plan | None = None, kind: str = "", directive: str = "") -> Draw:
        """One proposal's inputs: the island and its parents (drawn, or a replay row's), the prompt's results,
        failures, repeats and insights, the idea cards for those parents, and the members as they are now."""
        plan = plan or Plan()
        island = self._island(plan)
        parents = self._parents(rng, plan, kind, island)
        exemplars = [Exemplar(c.code, label(c, self.campaign_id), c.id, c.metric, c.params) for c in parents]
        cfg, cands = self.cfg, tuple(self.members.values())
        results = [ResultRow(c.id, c.metric, c.params, c.flops) for c in self.ranked()[: cfg.n_results]]
        failed = [c for c in cands if c.status == Status.FAILED][-cfg.n_failures:] if cfg.n_failures else []
        failures = [FailureRow(str(c.failure_kind), trim_error(c.failure_msg or "")) for c in failed]
        insights = relevant_insights(self.insights, self.campaign_id, {c.id for c in parents}, cfg)
        ideas = self.ideas(tuple(parents), self) if self.ideas and parents and plan.llm else ()
        ctx = PromptContext(TaskBrief.of(self.task), exemplars, results, failures, duplicate_rows(list(cands)),
                            insights, directive, island=island, parents=tuple(parents),
                            idea=ideas[0] if ideas else None)
        return Draw(ctx, plan.operator, ideas, cands, self.seen)

    def _island(self, plan: Plan) -> int | None:
        """A replay row's island; none for an arm that draws no parents (an AST mutation's child lands on its
        parent's island); else the next one round-robin."""
        if plan.island is not None:
            return plan.island
        return None if not plan.llm or plan.n_parents == 0 else self.next_island()

    def _parents(self, rng: random.Random, plan: Plan, kind: str, island: int | None) -> list[Candidate]:
        if plan.recorded and (found := self.recorded(plan.recorded)):
            return found
        if island is None:
            return []
        n = self.cfg.for_kind(kind).n_exemplars if plan.n_parents is None else plan.n_parents
        return self.parents(rng, n, island, plan.other_cells)

    def sample(self, rng: random.Random, kind: str = "", n: int | None = None,
               island: int | None = None) -> PromptContext:
        """The propose prompt's context alone: `draw` for n parents (default: the kind's exemplars), on `island`."""
        return self.draw(rng, Plan(n_parents=n, island=island), kind).ctx


def duplicate_rows(cands: list[Candidate], n: int = 3) -> list[DuplicateRow]:
    dups = [c for c in cands if c.status == Status.DUPLICATE and c.duplicate_of][-n:]
    return [DuplicateRow(c.duplicate_of, f"your proposal #{c.id} matched it on {c.matched_on or 'code'}")
            for c in dups]
