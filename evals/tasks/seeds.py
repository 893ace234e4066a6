"""Seed architectures shipped as files under `evals/seeds/<task>/*.py`."""

from __future__ import annotations

from pathlib import Path

SEED_DIR = Path(__file__).resolve().parent.parent / "seeds"


def load_seeds(task: str) -> dict[str, str]:
    folder = SEED_DIR / task
    return {p.stem: p.read_text() for p in sorted(folder.glob("*.py"))}
