"""The import graph: no cycles between modules, and layers import only downward.

Every module's imports are read with `ast`, including imports inside functions
(lazy imports) and under `if TYPE_CHECKING:`; `knowledge/`, `sandbox/` and
`evals/` must never import `agent/`, and no two modules may import each other,
directly or through others.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "sandbox", "knowledge", "evals", "prompts")
LOWER = ("knowledge", "sandbox", "evals")  # never import agent/


def module_name(path: Path) -> str:
    """`agent/loop.py` -> `archagent.agent.loop` (the folders install as one namespace)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(("archagent", *(parts[:-1] if parts[-1] == "__init__" else parts)))


def layer_of(module: str) -> str:
    return module.split(".")[1]


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module a dotted import name refers to (`a.b.c` -> `a.b` if `a.b.c` is not a module)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(mod: str, path: Path, known: dict[str, Path]) -> set[str]:
    out = set()
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        out |= {r for n in names if (r := resolve(n, known)) and r != mod}
    return out


def graph() -> dict[str, set[str]]:
    """module -> the modules it imports (a package's `__init__` seen from inside the package is not an edge)."""
    known = modules()
    return {mod: {d for d in imports_of(mod, path, known) if not mod.startswith(d + ".")}
            for mod, path in known.items()}


def test_no_import_cycles() -> None:
    g = graph()
    try:
        tuple(TopologicalSorter(g).static_order())
    except CycleError as err:
        pytest.fail("import cycle: " + " -> ".join(err.args[1]))


@pytest.mark.parametrize("layer", LOWER)
def test_lower_layers_never_import_agent(layer: str) -> None:
    upward = sorted((a, b) for a, deps in graph().items() for b in deps
                    if layer_of(a) == layer and layer_of(b) == "agent")
    assert not upward, f"{layer}/ imports agent/: {upward}"


def test_evals_never_imports_sandbox() -> None:
    """evals/ is the child side and presentation; parent-side scoring (`sandbox.judge`) sits above it."""
    upward = sorted((a, b) for a, deps in graph().items() for b in deps
                    if layer_of(a) == "evals" and layer_of(b) == "sandbox"
                    and not a.startswith("archagent.evals.report"))
    assert not upward, f"evals/ imports sandbox/: {upward}"
