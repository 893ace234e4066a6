"""Idea cards: every packaged card parses and its sketch builds and runs; bad cards and folders fail in one
line naming the file; a user folder adds and overrides cards; `[ideas]` in the config."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import torch
from archagent.agent.config import ConfigError, load_config
from archagent.knowledge.ideas.cards import IDEAS_DIR, IdeaCard, IdeaCardError, builtin_cards, load_cards, parse_card

ROOT = Path(__file__).resolve().parents[1]
CARDS = builtin_cards()


def test_at_least_40_cards_ship_as_package_data() -> None:
    assert len(CARDS) >= 40
    assert len(list(IDEAS_DIR.glob("*.toml"))) == len(CARDS)
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "ideas/*.toml" in setup["package-data"]["archagent.prompts"]
    assert "archagent.knowledge.ideas" in setup["packages"]


@pytest.mark.parametrize("card", CARDS, ids=[c.id for c in CARDS])
def test_card_parses_and_its_sketch_builds(card: IdeaCard) -> None:
    """Exec the sketch (our own shipped code), build the module its check names, run a tiny input through it."""
    assert card.citation and card.mechanism and card.helps_when and card.check is not None
    namespace: dict = {}
    exec(compile(card.sketch, f"<card {card.id}>", "exec"), namespace)
    module = eval(card.check.build, namespace)  # noqa: S307 - a shipped card's own expression
    assert isinstance(module, torch.nn.Module)
    torch.manual_seed(0)
    shape = card.check.input
    x = torch.randint(0, 10, shape) if card.check.dtype == "int64" else torch.randn(shape, requires_grad=True)
    for training in (True, False):
        module.train(training)
        y = module(x)
        assert torch.isfinite(y).all(), card.id
        if card.check.output is not None:
            assert tuple(y.shape) == card.check.output, (card.id, tuple(y.shape))
    y.sum().backward()  # it trains: gradients flow through it to its parameters (or its input, if it has none)
    params = list(module.parameters())
    assert any(p.grad is not None for p in params) if params else x.grad is not None


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


GOOD = '''name = "My idea"
tags = ["efficient"]
mechanism = "Do the thing."
helps_when = "Always."
citation = "Me, 2025."
sketch = """
import torch
"""
'''


@pytest.mark.parametrize(("name", "text", "needle"), [
    ("bad.toml", "name = [", "not valid TOML"),
    ("extra.toml", GOOD + 'colour = "red"\n', "unknown key for 'colour'"),
    ("nosketch.toml", GOOD.replace('sketch = """\nimport torch\n"""\n', ""), "'sketch'"),
    ("syntax.toml", GOOD.replace("import torch", "def f(:"), "its sketch is not valid Python"),
    ("family.toml", GOOD + 'applies_to = ["audio"]\n', "applies_to"),
    ("Bad Name.toml", GOOD, "the file name must be"),
])
def test_bad_card_is_one_line_naming_the_file(tmp_path: Path, name: str, text: str, needle: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(IdeaCardError) as err:
        parse_card(path)
    message = str(err.value)
    assert str(path) in message and needle in message and "\n" not in message


def test_user_folder_adds_cards_and_overrides_packaged_ones(tmp_path: Path) -> None:
    folder = tmp_path / "my_ideas"
    write(folder, "my_idea.toml", GOOD)
    write(folder, "residual.toml", GOOD.replace("My idea", "My residual"))
    cards = {c.id: c for c in load_cards(folder)}
    assert len(cards) == len(CARDS) + 1
    assert cards["my_idea"].name == "My idea" and cards["my_idea"].origin == str(folder)
    assert cards["residual"].name == "My residual"  # the user's card wins
    assert cards["dropout_head"].origin == "builtin"
    with pytest.raises(IdeaCardError, match="does not exist"):
        load_cards(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IdeaCardError, match="holds no idea cards"):
        load_cards(tmp_path / "empty")


def test_config_ideas_section(tmp_path: Path) -> None:
    write(tmp_path / "my_ideas", "my_idea.toml", GOOD)
    cfg_path = write(tmp_path, "c.toml", '[ideas]\nfolder = "my_ideas"\nk = 2\n')
    cfg = load_config(cfg_path)
    assert cfg.ideas.folder == tmp_path / "my_ideas" and cfg.ideas.k == 2 and cfg.ideas.enabled
    assert load_config(write(tmp_path, "d.toml", "")).ideas.folder is None
    bad = write(tmp_path / "my_ideas", "broken.toml", "name = [")
    with pytest.raises(ConfigError) as err:
        load_config(cfg_path)
    assert str(bad) in str(err.value) and str(err.value).startswith("ideas.folder: idea card")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(write(tmp_path, "e.toml", '[ideas]\nfolder = "nowhere"\n'))
    with pytest.raises(ConfigError, match="ideas.k"):
        load_config(write(tmp_path, "f.toml", "[ideas]\nk = 0\n"))
