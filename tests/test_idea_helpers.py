"""The agent completes what a small model leaves out: a card's helpers it uses, and the name `Net`.

The children below are the replies that failed in held-out campaign agent/seed 200 on 7 Dec
(`NameError: conv_block`, `GatedConv`; a rewrite that named its model `WideNet`), with the real
cards; each completed child is built and checked as the sandbox's child checks it.
"""

from __future__ import annotations

import pytest
from archagent.agent.extract import extract_code, name_net
from archagent.agent.patch import apply_reply
from archagent.agent.proposer import finish_code
from archagent.evals.tasks import get_task
from archagent.knowledge.ideas.cards import load_cards
from archagent.knowledge.ideas.helpers import lend_helpers

from tests.test_mutation_property import check

CARDS = {c.id: c for c in load_cards(None)}
SPEC = get_task("mnist1d").spec
CNN = get_task("mnist1d").seeds()["cnn"]


def edited(old: str, new: str) -> str:
    assert old in CNN
    return CNN.replace(old, new)


def test_a_child_calling_the_cards_helper_gets_its_definition_and_builds() -> None:
    child = edited("nn.Conv1d(32, 64, kernel_size=3, stride=2, padding=1),", "conv_block(32, 64, p=0.1),")
    with pytest.raises(NameError, match="conv_block"):
        check(child, SPEC)
    lent = lend_helpers(child, CARDS["channel_dropout"].sketch)
    assert lent.count("def conv_block(") == 1 and lent.index("def conv_block(") < lent.index("class Net(")
    assert "\n\n\n\n" not in lent  # two blank lines between top-level blocks, as in the seed
    check(lent, SPEC)


def test_a_helper_class_is_lent_and_the_childs_own_imports_are_not_repeated() -> None:
    child = edited("nn.Conv1d(c, 32, kernel_size=5, padding=2),", "GatedConv(c, 32, k=5),")
    lent = lend_helpers(child, CARDS["glu_gating"].sketch)
    assert lent.count("class GatedConv(") == 1 and lent.count("import torch\n") == 1
    check(lent, SPEC)


def test_helpers_used_by_lent_helpers_come_too_and_missing_imports_are_added() -> None:
    sketch = ("import math\nfrom torch import nn\n\n\ndef width(c):\n    return int(math.ceil(c * 1.5))\n\n\n"
              "def block(c):\n    return nn.Conv1d(c, width(c), 3, padding=1)\n\n\ndef unused():\n    return 0\n")
    child = "from torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        self.b = block(4)\n"
    lent = lend_helpers(child, sketch)
    assert "def block(" in lent and "def width(" in lent and "def unused(" not in lent
    assert lent.count("import math") == 1 and lent.count("from torch import nn") == 1
    assert lent.index("import math") < lent.index("def width(") < lent.index("def block(") < lent.index("class Net(")


def test_nothing_is_lent_when_the_child_defines_or_does_not_use_the_helper() -> None:
    sketch = CARDS["channel_dropout"].sketch
    assert lend_helpers(CNN, sketch) == CNN  # unused
    own = "def conv_block(a, b, p=0.0):\n    return None\n\n\n" + CNN.replace(
        "nn.ReLU(),\n        )", "conv_block(1, 2),\n        )")
    assert lend_helpers(own, sketch) == own  # the child's own definition wins
    assert lend_helpers("class Net(:\n", sketch) == "class Net(:\n"  # the sandbox reports the syntax error


def test_a_model_named_otherwise_is_named_net() -> None:
    child = CNN.replace("class Net(", "class WideNet(")
    named = name_net(child)
    assert named.rstrip().endswith("Net = WideNet  # the reply named its model WideNet")
    check(named, SPEC)
    assert name_net(CNN) == CNN and name_net("x = 1\n") == "x = 1\n"
    assert name_net("Net = 1\nclass A: pass\n").count("Net") == 1


def test_the_proposal_path_does_both() -> None:
    child = edited("nn.Conv1d(c, 32, kernel_size=5, padding=2),", "GatedConv(c, 32, k=5),").replace(
        "class Net(", "class GatedNet(")
    reply = f"```python\n{child}```"
    for parsed in (extract_code(reply), apply_reply(CNN, reply)):  # rewrite; crossover (and edit) whole files
        done = finish_code(parsed, CARDS["glu_gating"])
        check(done, SPEC)
    assert finish_code(None, CARDS["glu_gating"]) is None and finish_code(CNN, None) == CNN
