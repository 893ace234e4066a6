"""Idea cards: one TOML file each, parsed into an immutable, validated record.

    card = parse_card(Path("prompts/ideas/squeeze_excitation.toml"))
    cards = load_cards(Path("my_ideas"))   # the packaged cards, then the user's (same id: the user's wins)

A card names one architectural idea: what it does (`mechanism`), when it helps
(`helps_when`), a minimal PyTorch `sketch`, and where it comes from (`citation`).
`tags` and `applies_to` steer retrieval (knowledge/ideas/search.py); the optional
`[check]` table says how the tests build the sketch and push a tiny input through it.
"""

from __future__ import annotations

import ast
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

from archagent.prompts import TEMPLATE_DIR
from pydantic import BaseModel, ConfigDict, Field, ValidationError

IDEAS_DIR = TEMPLATE_DIR / "ideas"
Family = Literal["image", "signal", "sequence", "vector"]  # the input a task feeds its model (`family_of`)
FAMILIES: tuple[Family, ...] = ("image", "signal", "sequence", "vector")
CARD_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class IdeaCardError(ValueError):
    """A card or card folder that cannot be used (one line naming the file)."""


class CardCheck(BaseModel):
    """How to exercise a card's sketch: `build` is evaluated in the sketch's namespace, then called on a
    tensor of shape `input`; `output`, when given, is the shape it must return."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    build: str = Field(min_length=1, max_length=200)
    input: tuple[int, ...] = Field(strict=False, min_length=1, max_length=5)
    dtype: Literal["float32", "int64"] = "float32"
    output: tuple[int, ...] | None = Field(None, strict=False)


class IdeaCard(BaseModel):
    """One idea, as a prompt shows it. Bounds keep a card small enough for a small model's context."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str  # the file's stem; what a candidate records in its `idea` column
    name: str = Field(min_length=1, max_length=80)
    tags: tuple[str, ...] = Field((), strict=False, max_length=20)
    applies_to: tuple[Family, ...] = Field(FAMILIES, strict=False, min_length=1)
    mechanism: str = Field(min_length=1, max_length=1200)
    helps_when: str = Field(min_length=1, max_length=600)
    sketch: str = Field(min_length=1, max_length=4000)
    citation: str = Field(min_length=1, max_length=400)
    check: CardCheck | None = None
    origin: str = "builtin"  # "builtin", or the user folder it came from

    def applies(self, family: str) -> bool:
        return family in self.applies_to


def parse_card(path: Path, origin: str = "builtin") -> IdeaCard:
    """One card file; any problem raises `IdeaCardError` naming the file and the key."""
    if not CARD_ID.match(path.stem):
        raise IdeaCardError(f"idea card {path}: the file name must be lower-case letters, digits, _ or - "
                            "(it is the card's id)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise IdeaCardError(f"idea card {path}: cannot read it ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise IdeaCardError(f"idea card {path}: not valid TOML ({err})") from None
    try:
        card = IdeaCard.model_validate({**data, "id": path.stem, "origin": origin})
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        what = "unknown key" if first["type"] == "extra_forbidden" else f"bad value ({first['msg']})"
        raise IdeaCardError(f"idea card {path}: {what} for '{key}'") from None
    try:
        ast.parse(card.sketch)
    except SyntaxError as err:
        where = f"line {err.lineno}: {err.msg}"
        raise IdeaCardError(f"idea card {path}: its sketch is not valid Python ({where})") from None
    return card


def load_folder(folder: Path, origin: str | None = None) -> tuple[IdeaCard, ...]:
    """Every `*.toml` card in a folder, by id; a missing or empty folder is an error."""
    if not folder.is_dir():
        raise IdeaCardError(f"idea folder {folder} does not exist (or is not a folder)")
    paths = sorted(folder.glob("*.toml"))
    if not paths:
        raise IdeaCardError(f"idea folder {folder} holds no idea cards (*.toml files)")
    return tuple(parse_card(p, origin or str(folder)) for p in paths)


@cache
def builtin_cards() -> tuple[IdeaCard, ...]:
    """The packaged cards (prompts/ideas/*.toml), read once per process."""
    return load_folder(IDEAS_DIR, "builtin")


def load_cards(user_folder: Path | None = None) -> tuple[IdeaCard, ...]:
    """The packaged cards, then the user's: a user card with a packaged card's id replaces it. By id."""
    cards = {c.id: c for c in builtin_cards()}
    if user_folder is not None:
        cards.update({c.id: c for c in load_folder(user_folder)})
    return tuple(cards[k] for k in sorted(cards))
