"""The agent: an evolving population whose offspring come from operators chosen by a bandit.

    [operators]
    use = ["mutation", "edit", "crossover", "rewrite"]   # the default (the bandit tries them once, in this order)

Per proposal: the bandit (`agent.bandit`) picks an operator from the
campaign's record of pulls (improvement over the parents per second, read from
the store), parents are drawn from the trained candidates ranked by the
campaign's objective (`knowledge.fitness`), and the operator makes the code.
Every candidate records its operator. A replay backend's rows name the
operator and parents they were made with (`archagent export-replay`), and the
agent follows them, so an exported campaign re-runs exactly; a recorded AST
mutation carries its code.
"""

from __future__ import annotations

import copy
import random
import threading
from functools import partial

from archagent.agent.bandit import Bandit, Pull
from archagent.agent.llm import BackendExhausted
from archagent.agent.operators.base import Operator, OperatorCall
from archagent.agent.population import SEED_BACKEND, cell, distinct, label, tournament
from archagent.agent.prompting import Exemplar, PromptContext
from archagent.agent.proposer import CallRecorder, LLMProposer, Proposal
from archagent.evals.fingerprint import CanonicalError, code_key, text_key
from archagent.knowledge.fitness import Objective, improves, rank
from archagent.knowledge.records import Candidate, LLMCall, Status
from archagent.knowledge.store import Store

FINISHED = (Status.OK, Status.FAILED, Status.DUPLICATE, Status.FILTERED)


def operator_of(c: Candidate) -> str:
    return c.operator or ""


def call_groups(calls: list[LLMCall]) -> dict[int, list[LLMCall]]:
    """Proposal call id -> that call and the re-asked repeats ("propose-copy") made just before it."""
    out, pending = {}, []
    for call in sorted(calls, key=lambda c: c.id):
        if call.purpose == "propose-copy":
            pending.append(call)
        elif call.purpose == "propose":
            out[call.id], pending = [*pending, call], []
    return out


class AgentProposer(LLMProposer):
    """Operators over one LLM backend (`backend` is None when no LLM operator is in use)."""

    def __init__(self, ops: dict[str, Operator], arms: list[str], bandit: Bandit, objective: Objective,
                 higher: bool, store: Store, campaign_id: int, seed: int, llm=None):
        self.ops, self.arms, self.bandit, self.objective, self.higher = ops, arms, bandit, objective, higher
        self.store_path, self.campaign_id, self.seed = store.path, campaign_id, seed
        self.backend, self.cfg, self.prompts = (llm.backend, llm.cfg, llm.prompts) if llm else (None, None, None)
        self.name = llm.name if llm else "agent"
        self.kind = self.backend.kind if self.backend else "agent"
        self._next, self._lock = 0, threading.Lock()

    def without_llm(self) -> AgentProposer | None:
        """The same population and pulls with only the operators that need no LLM (AST mutation)."""
        arms = [a for a in self.arms if not self.ops[a].uses_llm]
        if not arms:
            return None
        out = copy.copy(self)
        out.arms, out.bandit = arms, Bandit(arms, self.bandit.floor, self.bandit.min_seconds)
        return out

    def history(self) -> Store:
        """A fresh connection for this proposer thread; `with self.history() as store:` closes it."""
        return Store(self.store_path)

    def propose(self, ctx: PromptContext, record_call: CallRecorder) -> Proposal:
        with self.history() as store:
            cands = store.candidates(self.campaign_id)
            hint = self.replay_row()
            if hint is not None and hint.get("operator") == "mutation":
                self.backend.skip(1)
                parents = tuple(p.id for p in self.recorded_parents(store, hint))
                return Proposal(hint["code"], parents, hint.get("backend", "evolution"), operator="mutation")
            pulls = self.pulls(cands, store.llm_calls(self.campaign_id)) if hint is None else []
            name = hint.get("operator", "rewrite") if hint is not None else self.bandit.choose(pulls)
            op = self.ops[name]
            parents = self.recorded_parents(store, hint) if hint is not None else self.parents(op, ctx, cands)
            if len(parents) < op.n_parents:  # too few distinct architectures yet: a whole-file proposal
                op, parents = self.ops["rewrite"], ()
            if op.name == "rewrite" and not parents:
                parents = tuple(ctx.exemplars)
            return op.propose(OperatorCall(ctx, parents, record_call, partial(self.seen, store)))

    # -- choosing --------------------------------------------------------------
    def pulls(self, cands: list[Candidate], calls: list[LLMCall]) -> list[Pull]:
        """Every earlier proposal of this agent's arms: did it beat its parents, and its seconds (LLM + training)."""
        by_id, groups = {c.id: c for c in cands}, call_groups(calls)
        out = []
        for c in cands:
            arm = operator_of(c)
            if c.backend == SEED_BACKEND or arm not in self.arms:
                continue
            parents = [by_id[p] for p in c.parent_ids if p in by_id]
            improved = c.status == Status.OK and improves(c, parents, self.objective, self.higher)
            llm_s = sum(x.latency_s for x in groups.get(c.llm_call_id, []))
            seconds = llm_s + float(c.timings.get("wall_s", 0.0))
            out.append(Pull(arm, c.status in FINISHED, improved, seconds))
        return out

    def parents(self, op: Operator, ctx: PromptContext, cands: list[Candidate]) -> tuple[Exemplar, ...]:
        """Tournaments over the distinct trained architectures ranked by the objective (`agent.population`);
        crossover's second parent comes from another MAP-Elites cell (size x layer mix) when there is one."""
        if not op.n_parents:
            return ()
        rng = self.rng(len(cands))
        pool = distinct(rank(cands, self.objective, self.higher))
        if not pool:
            return ()
        (a,) = tournament(pool, 1, rng)
        picked = [a]
        if op.n_parents == 2:
            others = [c for c in pool if cell(c) != cell(a)] or [c for c in pool if c is not a]
            picked += tournament(others, 1, rng)
        return tuple(exemplar(c, self.campaign_id) for c in picked)

    def rng(self, n: int) -> random.Random:
        """Seeded per (config seed, candidates so far); concurrent calls take distinct indices."""
        with self._lock:
            n = max(n, self._next)
            self._next = n + 1
        return random.Random(f"agent:{self.seed}:{n}")

    def seen(self, store: Store, code: str) -> int | None:
        """The earlier candidate this code repeats (same text or canonical AST), if any."""
        try:
            ck = code_key(code)
        except (SyntaxError, CanonicalError):
            ck = None
        found = store.find_duplicate(self.campaign_id, text_key=text_key(code), code_key=ck)
        return found[0] if found else None

    # -- replay ----------------------------------------------------------------
    def replay_row(self) -> dict | None:
        """The next row when the backend replays a file (rows without "operator" are rewrites), else None."""
        peek = getattr(self.backend, "peek", None)
        if peek is None:
            return None
        row = peek()
        if row is None:
            raise BackendExhausted(f"replay file {self.backend.path.name} is exhausted")
        return row

    def recorded_parents(self, store: Store, hint: dict) -> tuple[Exemplar, ...]:
        """The parents a replay row names (text keys in exports, or candidate ids), as found in this campaign."""
        out = []
        for ref in hint.get("parents", []):
            cid = ref if isinstance(ref, int) else (store.find_duplicate(self.campaign_id, text_key=ref) or [None])[0]
            if cid is not None:
                out.append(exemplar(store.candidate(cid), self.campaign_id))
        return tuple(out)

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()


def exemplar(c: Candidate, campaign_id: int) -> Exemplar:
    return Exemplar(c.code, label(c, campaign_id), c.id, c.metric, c.params)
