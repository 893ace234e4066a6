"""Lend a card's helpers to the child that uses them: what the small model names, the agent defines.

    code = lend_helpers(child_code, card.sketch)

An idea card's sketch defines its mechanism as top-level helpers (`GatedConv`,
`conv_block`, ...). Asked to apply the card, the 1.5B model often calls the
helper in its edit without copying the definition, and the child dies of a
`NameError` before training (two of three LLM proposals of one held-out
campaign, 7 Dec). The child is given every helper it uses but does not define,
with the helpers those use and the sketch's imports they need, inserted after
its own imports in the sketch's order. Code that does not parse is returned
unchanged (the sandbox reports its syntax error).
"""

from __future__ import annotations

import ast

Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
Import = ast.Import | ast.ImportFrom


def lend_helpers(code: str, sketch: str) -> str:
    """`code` with the sketch's helpers (and their imports) that it uses but never binds; else unchanged."""
    try:
        child, card = ast.parse(code), ast.parse(sketch)
    except SyntaxError:
        return code
    helpers = {n.name: n for n in card.body if isinstance(n, Definition)}
    bound = _bound(child)
    lent = _closure([n for n in _loaded(child) if n in helpers and n not in bound], helpers, bound)
    if not lent:
        return code
    used = set().union(*(_loaded(helpers[n]) for n in lent))
    imports = [n for n in card.body if isinstance(n, Import) and _names(n) & used and not _names(n) <= bound]
    chunks = [ast.get_source_segment(sketch, n) for n in [*imports, *(h for h in card.body if _is_lent(h, lent))]]
    return _insert(code, child, "\n\n\n".join(chunks))


def _closure(names: list[str], helpers: dict[str, Definition], bound: set[str]) -> set[str]:
    """The helpers named, and every helper they use in turn (not those the child binds itself)."""
    out, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in out:
            out.add(name)
            todo += [n for n in _loaded(helpers[name]) if n in helpers and n not in bound]
    return out


def _is_lent(node: ast.stmt, lent: set[str]) -> bool:
    return isinstance(node, Definition) and node.name in lent


def _loaded(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _names(node: Import) -> set[str]:
    return {(a.asname or a.name).split(".")[0] for a in node.names}


def _bound(tree: ast.Module) -> set[str]:
    """Names the module binds at its top level: definitions, imports and assignments."""
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, Definition):
            out.add(node.name)
        elif isinstance(node, Import):
            out |= _names(node)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            out |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return out


def _insert(code: str, child: ast.Module, block: str) -> str:
    """`block` after the child's last top-level import (at the top when it has none)."""
    ends = [n.end_lineno for n in child.body if isinstance(n, Import)]
    lines = code.split("\n")
    at = max(ends, default=0)
    rest = lines[at:]
    while rest and not rest[0].strip():  # two blank lines either side, as the file had them
        rest.pop(0)
    return "\n".join([*lines[:at], "", "", block, "", "", *rest]).lstrip("\n")
