"""Duplicate detection before compute: three fingerprints per candidate, cheapest first.

- `text_key(source)`: hash of the source with all whitespace removed.
- `code_key(source)`: hash of a canonical AST. Docstrings, comments, annotations,
  unused imports and dead definitions are dropped; import aliases are resolved to
  full dotted paths; locals, `self.` attributes, helper methods and helper
  functions/classes are renamed in first-use order; simple literal constants are
  inlined; common `torch.nn` layer calls are normalized (positional == keyword,
  defaults dropped, `(3, 3)` == `3`); `super(C, self)` == `super()`.
  Raises `SyntaxError` on unparsable source and `CanonicalError` (one line) on
  source it will not canonicalise: an AST nested deeper than `MAX_DEPTH` (measured
  iteratively before any recursive pass, so a hostile file cannot exhaust the
  parent's stack) or any other failure of the canonicaliser.
- `graph_key(model, example)`: the executed-graph key, computed inside the sandbox
  (child side, `evals/graph_key.py`).

These two keys are computed in the parent from source text alone; no torch here.
All keys are 32-hex-char blake2b digests, deterministic across processes.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
from typing import Any

DIGEST_BYTES = 16
ENTRY_CLASS = "Net"
MAX_DEPTH = 150  # AST levels; real model files stay under 30, the recursive passes take ~3 frames per level
_WS = re.compile(r"\s+")


class CanonicalError(ValueError):
    """Source the canonicaliser will not handle (too deep, or it failed on it); one line."""


def digest(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.blake2b(raw, digest_size=DIGEST_BYTES).hexdigest()


def text_key(source: str) -> str:
    """Hash of `source` with every whitespace character removed."""
    return digest(_WS.sub("", source))


def code_key(source: str) -> str:
    """Hash of the canonical AST of `source`; raises `SyntaxError` if it does not parse, `CanonicalError`
    if it nests deeper than `MAX_DEPTH` or the canonicaliser fails on it."""
    try:
        tree = ast.parse(source)
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        raise SyntaxError(f"unparsable source: {exc}") from exc
    depth = ast_depth(tree)
    if depth > MAX_DEPTH:
        raise CanonicalError(f"the source nests {depth} levels deep (the canonicaliser's limit is {MAX_DEPTH})")
    try:
        canonicalize(tree)
        tokens: list[str] = []
        _serialize(tree, tokens)
    except (RecursionError, MemoryError, TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise CanonicalError(f"the canonicaliser failed: {type(exc).__name__}: {str(exc)[:200]}") from None
    return digest("\0".join(tokens))


def ast_depth(tree: ast.AST) -> int:
    """The deepest nesting of `tree`, measured with an explicit stack (no recursion)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _serialize(node: ast.AST, out: list[str]) -> None:
    """Unambiguous token stream of `node` (type, then fields in order; lists bracketed).

    About twice as fast as `ast.dump`; `repr` quotes and escapes every string value,
    so no value can be mistaken for a type name, a bracket or the separator.
    """
    out.append(type(node).__name__)
    for name in node._fields:
        if name in _IGNORED_FIELDS:
            continue
        value = getattr(node, name, None)
        if isinstance(value, ast.AST):
            _serialize(value, out)
        elif type(value) is list:
            out.append("[")
            for item in value:
                if isinstance(item, ast.AST):
                    _serialize(item, out)
                else:
                    out.append(repr(item))
            out.append("]")
        else:
            out.append(repr(value))


_IGNORED_FIELDS = frozenset({"kind", "type_comment", "type_ignores"})


def canonical_source(source: str) -> str:
    """The canonical form `code_key` hashes, as (not always valid) Python; for debugging."""
    tree = ast.parse(source)
    if ast_depth(tree) > MAX_DEPTH:
        raise CanonicalError(f"the source nests deeper than {MAX_DEPTH} levels")
    canonicalize(tree)
    return ast.unparse(tree)


# --------------------------------------------------------------------------- code_key

# Modules a candidate may import (docs/contracts.md §1); imports of others are kept verbatim.
_ALLOWED_ROOTS = frozenset({"torch", "math", "typing", "functools", "dataclasses", "__future__"})
# nn.Module methods a subclass may override: never renamed nor removed.
_PROTECTED = frozenset({
    "forward", "extra_repr", "reset_parameters", "train", "eval", "apply", "to", "cpu", "cuda",
    "float", "double", "half", "state_dict", "load_state_dict", "parameters", "named_parameters",
    "buffers", "named_buffers", "children", "named_children", "modules", "named_modules",
    "zero_grad", "register_buffer", "register_parameter", "add_module", "get_submodule",
    "requires_grad_", "training",
})
_BODY_FIELDS = ("body", "orelse", "finalbody")
_WITH_BODY = frozenset({
    ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor,
    ast.While, ast.With, ast.AsyncWith, ast.Try, ast.ExceptHandler, ast.match_case, ast.TryStar,
})


def canonicalize(tree: ast.Module) -> None:
    """Rewrite `tree` in place into the canonical form hashed by `code_key`."""
    tree.body = _clean_body([s for s in tree.body if not _is_main_guard(s)], in_function=False)
    aliases = _take_imports(tree)
    walks = [_walk(stmt, strip=True) for stmt in tree.body]  # one walk per top-level statement
    consts, walks = _prune_module(tree, walks)
    nodes = [node for stmt_nodes in walks for node in stmt_nodes]
    method_walks: dict[int, list[ast.AST]] = {}  # id(FunctionDef) -> its nodes, shared by two passes
    attrs = _owned_attributes(nodes, method_walks)
    _drop_dead_methods(nodes, attrs)
    keywords = {k.arg for k in nodes if isinstance(k, ast.keyword) and k.arg}
    _Renamer(aliases, consts, attrs, keywords, method_walks).visit(tree)


def _walk(root: ast.AST, strip: bool = False) -> list[ast.AST]:
    """All nodes under `root` (breadth first), about twice as fast as `ast.walk`.

    With `strip`, each node is cleaned by `_strip_node` before its children are queued,
    so dropped docstrings and annotations are neither kept nor returned.
    """
    out = [root]
    for node in out:  # grows while iterating
        if strip:
            _strip_node(node)
        for name in _child_fields(type(node)):
            value = getattr(node, name, None)
            if isinstance(value, list):
                out.extend(v for v in value if isinstance(v, ast.AST))
            elif isinstance(value, ast.AST):
                out.append(value)
    return out


# Fields that never hold a node worth visiting (identifiers, flags, contexts, operators).
_LEAF_FIELDS = frozenset({"id", "ctx", "kind", "attr", "arg", "name", "asname", "module", "level",
                          "type_comment", "op", "ops", "is_async", "simple", "conversion"})


@functools.cache
def _child_fields(kind: type) -> tuple[str, ...]:
    return tuple(f for f in kind._fields if f not in _LEAF_FIELDS)


def _strip_node(node: ast.AST) -> None:
    """Drop docstrings, bare constants, `pass` and annotations directly under `node`."""
    kind = type(node)
    if kind is ast.arg:
        node.annotation = None
        node.type_comment = None
        return
    if kind not in _WITH_BODY:
        return
    if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
        node.returns = None
        node.type_comment = None
    for name in _BODY_FIELDS:
        body = getattr(node, name, None)
        if body:
            setattr(node, name, _clean_body(body, in_function=kind is ast.FunctionDef))


def _clean_body(body: list[ast.stmt], in_function: bool) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            continue
        if in_function and isinstance(stmt, ast.AnnAssign) and stmt.simple:
            if stmt.value is None:
                continue
            stmt = ast.Assign(targets=[stmt.target], value=stmt.value)
        out.append(stmt)
    return out or [ast.Pass()]


def _is_main_guard(stmt: ast.stmt) -> bool:
    test = getattr(stmt, "test", None)
    return (
        isinstance(stmt, ast.If)
        and isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
    )


def _take_imports(tree: ast.Module) -> dict[str, str]:
    """Remove module-level imports of allowed modules; return {bound name: dotted path}."""
    aliases: dict[str, str] = {}
    kept: list[ast.stmt] = []
    for stmt in tree.body:
        bound = _import_bindings(stmt)
        if bound is None:
            kept.append(stmt)
        else:
            aliases.update(bound)
    tree.body = kept or [ast.Pass()]
    return aliases


def _import_bindings(stmt: ast.stmt) -> dict[str, str] | None:
    if isinstance(stmt, ast.Import):
        if not all(a.name.split(".")[0] in _ALLOWED_ROOTS for a in stmt.names):
            return None
        return {(a.asname or a.name.split(".")[0]): (a.name if a.asname else a.name.split(".")[0])
                for a in stmt.names}
    if isinstance(stmt, ast.ImportFrom):
        mod = stmt.module or ""
        if stmt.level or mod.split(".")[0] not in _ALLOWED_ROOTS or any(a.name == "*" for a in stmt.names):
            return None
        return {(a.asname or a.name): f"{mod}.{a.name}" for a in stmt.names}
    return None


def _symbol_of(stmt: ast.stmt) -> str | None:
    """The module-level name a statement defines, if it defines exactly one."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return stmt.name
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id
    return None


def _prune_module(tree: ast.Module, walks: list[list[ast.AST]]) -> tuple[dict[str, ast.expr], list[list[ast.AST]]]:
    """Drop definitions unreachable from `Net`, and literal constants (returned, to inline).

    `walks` holds the nodes of each top-level statement; returns those of the kept ones.
    """
    symbols = [_symbol_of(s) for s in tree.body]
    uses = [{n.id for n in nodes if type(n) is ast.Name} for nodes in walks]
    if ENTRY_CLASS not in symbols:
        return {}, walks
    live = _reachable(symbols, uses)
    declared = {n for nodes in walks for node in nodes if isinstance(node, ast.Global | ast.Nonlocal)
                for n in node.names}
    consts = _literal_constants(tree, symbols, declared)
    keep = [(name is None or name in live) and name not in consts for name in symbols]
    tree.body = [s for s, k in zip(tree.body, keep, strict=True) if k] or [ast.Pass()]
    return consts, [w for w, k in zip(walks, keep, strict=True) if k]


def _reachable(symbols: list[str | None], uses: list[set[str]]) -> set[str]:
    defined: dict[str, list[int]] = {}
    for i, name in enumerate(symbols):
        if name is not None:
            defined.setdefault(name, []).append(i)
    todo = [i for i, name in enumerate(symbols) if name is None or name == ENTRY_CLASS]
    live = {ENTRY_CLASS}
    while todo:
        for name in uses[todo.pop()] & defined.keys() - live:
            live.add(name)
            todo.extend(defined[name])
    return live


def _literal_constants(tree: ast.Module, symbols: list[str | None], declared: set[str]) -> dict[str, ast.expr]:
    """Module-level `NAME = <literal>` bound exactly once and never declared `global`."""
    out: dict[str, ast.expr] = {}
    for stmt, name in zip(tree.body, symbols, strict=True):
        if name is None or name in declared or symbols.count(name) != 1 or name == ENTRY_CLASS:
            continue
        if isinstance(stmt, ast.Assign) and _is_literal(stmt.value):
            out[name] = stmt.value
    return out


def _is_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return isinstance(node.operand, ast.Constant)
    return isinstance(node, ast.Tuple) and all(_is_literal(e) for e in node.elts)




def _self_name(fn: ast.FunctionDef) -> str | None:
    args = fn.args.posonlyargs + fn.args.args
    if not args or any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in fn.decorator_list):
        return None
    return args[0].arg


def _owned_attributes(nodes: list[ast.AST], method_walks: dict[int, list[ast.AST]]) -> set[str]:
    """Attribute names that belong to the candidate's own classes and can be renamed safely.

    Owned: assigned as `self.N = ...`, a helper method, or a class-body name. Excluded:
    names also read off anything other than `self` (maybe a torch attribute), names that
    appear as string constants (getattr/register_buffer), dunders and nn.Module API names.
    """
    owned: set[str] = set()
    self_access: set[int] = set()
    for cls in nodes:
        if not isinstance(cls, ast.ClassDef):
            continue
        for stmt in cls.body:
            if isinstance(stmt, ast.FunctionDef):
                owned.add(stmt.name)
                method_walks[id(stmt)] = _walk(stmt)
                self_access |= _collect_self_attrs(stmt, method_walks[id(stmt)], owned)
            else:
                owned |= {n.id for n in _walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    foreign = {n.attr for n in nodes if isinstance(n, ast.Attribute) and id(n) not in self_access}
    strings = {n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return {n for n in owned - foreign - strings - _PROTECTED if not n.startswith("__")}


def _collect_self_attrs(fn: ast.FunctionDef, nodes: list[ast.AST], owned: set[str]) -> set[int]:
    """Add `self.N = ...` targets of `fn` to `owned`; return ids of all `self.N` nodes."""
    me = _self_name(fn)
    seen: set[int] = set()
    for node in nodes:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == me:
            seen.add(id(node))
            if isinstance(node.ctx, ast.Store):
                owned.add(node.attr)
    return seen


def _drop_dead_methods(nodes: list[ast.AST], owned: set[str]) -> None:
    """Remove helper methods that nothing references."""
    used = {n.attr for n in nodes if isinstance(n, ast.Attribute)}
    for cls in (n for n in nodes if isinstance(n, ast.ClassDef)):
        body = [s for s in cls.body
                if not (isinstance(s, ast.FunctionDef) and s.name in owned and s.name not in used)]
        cls.body = body or [ast.Pass()]


# Layer signatures for call normalization: positional parameter names and defaults.
_CONV = ("in_channels out_channels kernel_size stride padding dilation groups bias padding_mode",
         {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True, "padding_mode": "zeros"})
_MAXPOOL = ("kernel_size stride padding dilation return_indices ceil_mode",
            {"stride": None, "padding": 0, "dilation": 1, "return_indices": False, "ceil_mode": False})
_AVGPOOL = ("kernel_size stride padding ceil_mode count_include_pad divisor_override",
            {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True,
             "divisor_override": None})
_BN = ("num_features eps momentum affine track_running_stats",
       {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True})
_SIGNATURES: dict[str, tuple[str, dict[str, Any]]] = {
    "Linear": ("in_features out_features bias", {"bias": True}),
    "Conv1d": _CONV, "Conv2d": _CONV, "MaxPool1d": _MAXPOOL, "MaxPool2d": _MAXPOOL,
    "AvgPool1d": _AVGPOOL, "AvgPool2d": _AVGPOOL, "BatchNorm1d": _BN, "BatchNorm2d": _BN,
    "LayerNorm": ("normalized_shape eps elementwise_affine bias",
                  {"eps": 1e-5, "elementwise_affine": True, "bias": True}),
    "Dropout": ("p inplace", {"p": 0.5, "inplace": False}),
    "ReLU": ("inplace", {"inplace": False}),
    "GELU": ("approximate", {"approximate": "none"}),
    "Flatten": ("start_dim end_dim", {"start_dim": 1, "end_dim": -1}),
    "AdaptiveAvgPool1d": ("output_size", {}), "AdaptiveAvgPool2d": ("output_size", {}),
    "Embedding": ("num_embeddings embedding_dim padding_idx", {"padding_idx": None}),
}
_TUPLE_PARAMS = frozenset({"kernel_size", "stride", "padding", "dilation", "output_size"})


def _normalize_layer_call(call: ast.Call, layer: str) -> None:
    """`nn.Conv2d(1, 8, (3, 3), padding=1)` -> `nn.Conv2d(in_channels=1, ..., kernel_size=3, padding=1)`."""
    names, defaults = _SIGNATURES[layer]
    params = names.split()
    if len(call.args) > len(params) or any(isinstance(a, ast.Starred) for a in call.args):
        return
    given = dict(zip(params, call.args, strict=False))
    for kw in call.keywords:
        if kw.arg is None or kw.arg not in params or kw.arg in given:
            return
        given[kw.arg] = kw.value
    for name in _TUPLE_PARAMS & given.keys():
        given[name] = _collapse_tuple(given[name], layer)
    if "stride" in given and ast.dump(given["stride"]) == ast.dump(given.get("kernel_size", ast.Pass())):
        given["stride"] = ast.Constant(None)
    call.args = []
    call.keywords = [ast.keyword(arg=p, value=given[p]) for p in params
                     if p in given and not _is_default(given[p], defaults, p)]


def _collapse_tuple(node: ast.expr, layer: str) -> ast.expr:
    dims = 2 if layer.endswith("2d") else 1
    if isinstance(node, ast.Tuple | ast.List) and len(node.elts) == dims:
        first = ast.dump(node.elts[0])
        if all(ast.dump(e) == first for e in node.elts) and isinstance(node.elts[0], ast.Constant):
            return node.elts[0]
    return node


def _is_default(node: ast.expr, defaults: dict[str, Any], name: str) -> bool:
    if name not in defaults or not isinstance(node, ast.Constant):
        return False
    want = defaults[name]
    return type(node.value) is type(want) and node.value == want


class _Renamer(ast.NodeTransformer):
    """One source-order pass: rename locals/attributes/globals, resolve imports, inline constants."""

    def __init__(self, aliases: dict[str, str], consts: dict[str, ast.expr], attrs: set[str],
                 keywords: set[str], method_walks: dict[int, list[ast.AST]]) -> None:
        self.aliases, self.consts, self.attrs, self.keywords = aliases, consts, attrs, keywords
        self.method_walks = method_walks
        self.globals: dict[str, str] = {ENTRY_CLASS: ENTRY_CLASS}
        self.attr_map: dict[str, str] = {}
        self.module_names: set[str] = set()
        self.locals: dict[str, str] | None = None  # canonical names of the current function's locals
        self.local_names: set[str] = set()
        self.kept: set[str] = set()  # locals that keep their name (args passed by keyword)
        self.class_name: str | None = None

    def visit(self, node: ast.AST) -> ast.AST:
        method = getattr(self, "visit_" + type(node).__name__, None)
        return method(node) if method else self.generic_visit(node)

    def generic_visit(self, node: ast.AST) -> ast.AST:
        """In-place, lighter `NodeTransformer.generic_visit` (no node is ever deleted here)."""
        for name in _child_fields(type(node)):
            value = getattr(node, name, None)
            if type(value) is list:
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        value[i] = self.visit(item)
            elif isinstance(value, ast.AST):
                setattr(node, name, self.visit(value))
        return node

    def visit_Module(self, node: ast.Module) -> ast.Module:
        self.module_names = {name for s in node.body if (name := _symbol_of(s)) is not None}
        self.generic_visit(node)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        outer, node.name = self.class_name, self._scoped(node.name)
        self.class_name = node.name
        for stmt in node.body:  # class-body names are attributes
            if isinstance(stmt, ast.FunctionDef) and stmt.name in self.attrs:
                stmt.name = self._attr(stmt.name)
        self.generic_visit(node)
        self.class_name = outer
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        if self.locals is not None:  # nested function: part of the enclosing scope
            node.name = self._local(node.name)
            self.generic_visit(node)
            return node
        if self.class_name is None:
            node.name = self._global(node.name)
        nodes = self.method_walks.get(id(node)) or _walk(node)
        self.locals, self.local_names = {}, _local_names(node, nodes)
        args = {a.arg for a in node.args.posonlyargs + node.args.args}
        self.kept = args & self.keywords
        if self.class_name == ENTRY_CLASS and node.name == "__init__":
            self.kept = args  # the harness may build Net(in_shape=..., n_out=...)
        self.generic_visit(node)
        self.locals, self.local_names, self.kept = None, set(), set()
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self._maybe_local(node.arg)
        return node

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id in self.local_names:
            node.id = self._maybe_local(node.id)
        elif self.locals is None and self.class_name is not None and node.id in self.attrs:
            node.id = self._attr(node.id)  # class-body name: a class attribute
        elif node.id in self.consts and isinstance(node.ctx, ast.Load):
            return self.consts[node.id]
        elif node.id in self.aliases:
            node.id = "@" + self.aliases[node.id]
        elif node.id in self.module_names:
            node.id = self._global(node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.value, ast.Name) and node.value.id.startswith("@"):
            return ast.Name(id=f"{node.value.id}.{node.attr}", ctx=node.ctx)
        if node.attr in self.attrs:
            node.attr = self._attr(node.attr)
        return node

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Name) and func.id.startswith("@torch.nn."):
            layer = func.id.rpartition(".")[2]
            if layer in _SIGNATURES:
                _normalize_layer_call(node, layer)
        elif isinstance(func, ast.Name) and func.id == "super" and len(node.args) == 2:
            cls, me = node.args
            if isinstance(cls, ast.Name) and cls.id == self.class_name and isinstance(me, ast.Name):
                node.args = []
        return node

    def _local(self, name: str) -> str:
        assert self.locals is not None
        return self.locals.setdefault(name, f"%v{len(self.locals)}")

    def _maybe_local(self, name: str) -> str:
        if name not in self.local_names or name in self.kept:
            return name
        return self._local(name)

    def _scoped(self, name: str) -> str:
        if self.locals is not None:
            return self._local(name)
        return self._global(name) if self.class_name is None else name

    def _global(self, name: str) -> str:
        return self.globals.setdefault(name, f"%g{len(self.globals)}")

    def _attr(self, name: str) -> str:
        return self.attr_map.setdefault(name, f"%a{len(self.attr_map)}")


def _local_names(fn: ast.FunctionDef, nodes: list[ast.AST]) -> set[str]:
    """Names local to `fn` (nested scopes included); keyword-only args keep their names."""
    names: set[str] = set()
    declared: set[str] = set()
    kwonly = {a.arg for a in fn.args.kwonlyargs}
    for node in nodes:
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef) and node is not fn:
            names.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            declared.update(node.names)
    return names - declared - kwonly
