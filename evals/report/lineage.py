"""Lineage of a campaign: who descends from whom, and what changed.

    from archagent.evals.report.lineage import Lineage, code_diff
    lin = Lineage(store.candidates(campaign_id))
    lin.chain(9)            # (9, 4, 2): the candidate, its parent, its grandparent, ...
    lin.descendants(2)      # Node(2, children=(Node(4, ...), ...))
    code_diff(parent, cand) # unified diff text

A candidate's *parent* is the first of its `parent_ids` (the best exemplar its
prompt showed); the others are co-parents and count as edges in the graph.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass
from functools import cached_property

from archagent.knowledge.records import Candidate

SEED_BACKEND = "seed"


@dataclass(frozen=True)
class Node:
    """One candidate in a descendants tree; `repeat` marks one already shown higher up (a DAG merge)."""

    id: int
    children: tuple[Node, ...] = ()
    repeat: bool = False


class Lineage:
    def __init__(self, cands: list[Candidate] | tuple[Candidate, ...]):
        self.by_id = {c.id: c for c in cands}
        self.kids: dict[int, list[int]] = {}
        for c in cands:
            for p in dict.fromkeys(c.parent_ids):
                self.kids.setdefault(p, []).append(c.id)

    def parent(self, cid: int) -> int | None:
        parents = self.by_id[cid].parent_ids
        return parents[0] if parents else None

    def chain(self, cid: int) -> tuple[int, ...]:
        """The candidate and its first-parent ancestors, nearest first (cycle-safe)."""
        out = [cid]
        while out[-1] in self.by_id and (p := self.parent(out[-1])) is not None and p not in out:
            out.append(p)
        return tuple(out)

    def ancestors(self, cid: int) -> set[int]:
        """Every candidate reachable through any parent edge."""
        seen, todo = set(), list(self.by_id[cid].parent_ids)
        while todo:
            p = todo.pop()
            if p not in seen:
                seen.add(p)
                todo.extend(self.by_id[p].parent_ids if p in self.by_id else ())
        return seen

    def children(self, cid: int) -> list[int]:
        return list(self.kids.get(cid, []))

    def descendants(self, cid: int, max_depth: int = 50) -> Node:
        shown: set[int] = set()

        def walk(i: int, depth: int) -> Node:
            if i in shown or depth > max_depth:
                return Node(i, repeat=True)
            shown.add(i)
            return Node(i, tuple(walk(k, depth + 1) for k in self.children(i)))

        return walk(cid, 0)

    def generation(self, cid: int) -> int:
        """Longest parent path back to a root (seeds are generation 0)."""
        return self.generations.get(cid, 0)

    @cached_property
    def generations(self) -> dict[int, int]:
        gen: dict[int, int] = {}
        for i in sorted(self.by_id):  # parents are older than their children: lower ids come first
            gen[i] = 1 + max((gen[p] for p in self.by_id[i].parent_ids if p in gen), default=-1)
        return gen


def code_diff(old: Candidate, new: Candidate, context: int = 3) -> str:
    """Unified diff of two candidates' source, old → new ('' when identical)."""
    lines = difflib.unified_diff(old.code.splitlines(keepends=True), new.code.splitlines(keepends=True),
                                 fromfile=f"#{old.id}", tofile=f"#{new.id}", n=context)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def no_parents(c: Candidate) -> str:
    """What a candidate without parents is: a seed, or a proposal made from scratch (a random or grammar
    sample, a whole new file), named by how it was made."""
    if c.backend == SEED_BACKEND:
        return "none (seed)"
    return f"none (made from scratch by {c.operator or c.backend})"


def arch_name(c: Candidate, width: int = 40) -> str:
    """A short human name: the seed's name, else the first docstring line of `Net`, else ''."""
    if c.backend == SEED_BACKEND and c.seed_name:
        return f"seed {c.seed_name}"
    doc = _net_docstring(c.code)
    if doc:
        first = doc.strip().splitlines()[0].rstrip(".")
        return first if len(first) <= width else first[: width - 1] + "…"
    return ""


def _net_docstring(code: str) -> str | None:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # candidate text: any nesting, any bytes
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Net":
            return ast.get_docstring(node)
    return None
