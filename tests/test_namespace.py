"""One import namespace: everything is imported as archagent.*, and the wheel lists every subpackage."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE = re.compile(r"^\s*(from|import)\s+(agent|sandbox|evals|knowledge|prompts)\b", re.M)
FOLDERS = ("agent", "sandbox", "evals", "knowledge", "prompts")


def python_files():
    for folder in (*FOLDERS, "archagent", "tests", "benchmarks", "examples"):
        yield from (p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def test_no_bare_top_level_imports():
    """`import agent` would collide with unrelated PyPI distributions (OpenAI's `evals` among them)."""
    offenders = [f"{p.relative_to(ROOT)}: {m.group(0).strip()}" for p in python_files()
                 for m in BARE.finditer(p.read_text())]
    assert offenders == []


def test_wheel_lists_every_subpackage():
    tree = {".".join(("archagent", *init.parent.relative_to(ROOT).parts))
            for folder in FOLDERS for init in (ROOT / folder).rglob("__init__.py")}
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    assert tree | {"archagent"} == listed


def test_checkout_resolves_the_namespace():
    import archagent.agent.config as config

    assert Path(config.__file__).resolve().parent == ROOT / "agent"
