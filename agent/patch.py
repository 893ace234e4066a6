"""SEARCH/REPLACE edit blocks: parse an LLM's diff-style reply and apply it to its parent's source.

    code = apply_reply(parent_code, reply)   # the edited file; raises PatchError when it does not apply

A reply holds one or more blocks (aider's format):

    <<<<<<< SEARCH
    nn.Conv1d(1, 32, 5, padding=2),
    =======
    nn.Conv1d(1, 64, 5, padding=2),
    >>>>>>> REPLACE

Each SEARCH text must occur in the parent: exactly, else line by line with
leading/trailing whitespace ignored (then the replacement is re-indented by the
indentation difference of the first line). Blocks apply in order. A reply with
no blocks but a whole ```python file holding `class Net` is taken as that file
(small models often answer so). Runs in the parent process on untrusted text:
it only matches and splices strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.extract import extract_code

_BLOCK = re.compile(r"<{5,9} ?SEARCH[^\n]*\n(.*?)\n?={5,9}[^\n]*\n(.*?)\n?>{5,9} ?REPLACE", re.DOTALL)


class PatchError(ValueError):
    """The reply's edit blocks do not apply to the parent (the candidate fails with kind `patch`)."""


@dataclass(frozen=True)
class Block:
    search: str
    replace: str


def parse_blocks(reply: str) -> list[Block]:
    return [Block(m.group(1), m.group(2)) for m in _BLOCK.finditer(reply)]


def apply_reply(parent: str, reply: str) -> str:
    """The parent's source with the reply's blocks applied (or the reply's whole file); raises PatchError."""
    blocks = parse_blocks(reply)
    if not blocks:
        code = extract_code(reply)
        if code is not None and "class Net" in code:
            return code
        raise PatchError("the reply held no SEARCH/REPLACE block and no whole file")
    code = parent
    for i, block in enumerate(blocks, 1):
        code = apply_block(code, block, i)
    if code == parent:
        raise PatchError("the edit blocks changed nothing")
    return code


def apply_block(code: str, block: Block, index: int = 1) -> str:
    if not block.search.strip():
        raise PatchError(f"edit block {index} has an empty SEARCH part")
    if block.search in code:
        return code.replace(block.search, block.replace, 1)
    return _apply_loose(code, block, index)


def _apply_loose(code: str, block: Block, index: int) -> str:
    """Match SEARCH line by line ignoring surrounding whitespace; re-indent REPLACE to the matched lines."""
    lines, want = code.split("\n"), [s.strip() for s in block.search.strip("\n").split("\n")]
    for start in range(len(lines) - len(want) + 1):
        if [ln.strip() for ln in lines[start:start + len(want)]] == want:
            new = _reindent(block.replace.strip("\n").split("\n"), block.search.strip("\n").split("\n")[0],
                            lines[start])
            return "\n".join(lines[:start] + new + lines[start + len(want):])
    first = want[0][:60]
    raise PatchError(f"edit block {index}: SEARCH text not found in the parent (first line: {first!r})")


def _reindent(new: list[str], search_first: str, found_first: str) -> list[str]:
    have = len(found_first) - len(found_first.lstrip())
    had = len(search_first) - len(search_first.lstrip())
    shift = have - had
    if shift > 0:
        return [(" " * shift + ln) if ln.strip() else ln for ln in new]
    if shift < 0:
        return [ln[min(-shift, len(ln) - len(ln.lstrip())):] for ln in new]
    return new
