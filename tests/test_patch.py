"""SEARCH/REPLACE edit blocks: applied exactly or by whitespace-tolerant lines; anything else is a PatchError."""

import pytest
from archagent.agent.patch import PatchError, apply_reply, parse_blocks

PARENT = '''import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, in_shape, n_out):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(in_shape[0], 32, 5, padding=2),
            nn.ReLU(),
        )
        self.head = nn.Linear(32, n_out)

    def forward(self, x):
        return self.head(self.body(x).mean(dim=2))
'''


def block(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def test_exact_blocks_apply_in_order():
    reply = ("Widen it:\n" + block("            nn.Conv1d(in_shape[0], 32, 5, padding=2),",
                                   "            nn.Conv1d(in_shape[0], 64, 5, padding=2),")
             + block("        self.head = nn.Linear(32, n_out)", "        self.head = nn.Linear(64, n_out)"))
    out = apply_reply(PARENT, reply)
    assert "Conv1d(in_shape[0], 64, 5" in out and "nn.Linear(64, n_out)" in out
    assert out.replace("64", "32") == PARENT
    compile(out, "c.py", "exec")


def test_blocks_inside_a_code_fence_with_other_indentation_apply_line_by_line():
    reply = "```python\n" + block("nn.ReLU(),", "nn.GELU(),\nnn.Dropout(0.1),") + "```"
    out = apply_reply(PARENT, reply)
    assert "            nn.GELU(),\n            nn.Dropout(0.1),\n        )" in out
    compile(out, "c.py", "exec")


def test_a_search_text_not_in_the_parent_is_a_patch_error():
    with pytest.raises(PatchError, match="not found"):
        apply_reply(PARENT, block("nn.Conv2d(3, 32, 3)", "nn.Conv2d(3, 64, 3)"))


def test_no_change_is_a_copy_of_the_parent_and_no_blocks_a_patch_error():
    assert apply_reply(PARENT, block("nn.ReLU(),", "nn.ReLU(),")) == PARENT  # the novelty check re-asks copies
    with pytest.raises(PatchError, match="no SEARCH/REPLACE"):
        apply_reply(PARENT, "I would widen the first convolution.")


def test_a_whole_file_instead_of_blocks_is_taken_as_the_proposal():
    other = PARENT.replace("32", "48")
    assert apply_reply(PARENT, f"```python\n{other}```") == other
    assert parse_blocks(f"```python\n{other}```") == []


@pytest.mark.parametrize("ending", ["", "\n", "\n```", "\n```\nThat widens the head.",
                                    "\n<<<<<<< SEARCH\nnn.ReLU(),\n=======\nnn.GELU(),\n>>>>>>> REPLACE"])
def test_a_block_missing_its_replace_marker_ends_at_the_next_block_a_fence_or_the_end(ending: str):
    """Small models drop the closing `>>>>>>> REPLACE`; the block's extent is still unambiguous."""
    reply = ("```python\n<<<<<<< SEARCH\n        self.head = nn.Linear(32, n_out)\n=======\n"
             "        self.head = nn.Linear(32, n_out * 1)" + ending)
    out = apply_reply(PARENT, reply)
    assert "nn.Linear(32, n_out * 1)\n\n    def forward" in out and "```" not in out
    assert ("nn.GELU()" in out) == ("GELU" in ending)
    compile(out, "c.py", "exec")
