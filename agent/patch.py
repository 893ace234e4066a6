"""SEARCH/REPLACE edit blocks: parse an LLM's diff-style reply and apply it to its parent's source.

    code = apply_reply(parent_code, reply)   # the edited file; raises PatchError when it does not apply

A reply holds one or more blocks (aider's format):

    <<<<<<< SEARCH
    nn.Conv1d(1, 32, 5, padding=2),
    =======
    nn.Conv1d(1, 64, 5, padding=2),
    >>>>>>> REPLACE

Each SEARCH text must match whole lines of the parent: exactly, else with
leading/trailing whitespace ignored (the replacement is then re-indented by
the indentation difference of the first line); a one-line SEARCH may also be a
fragment of a line; a block whose closing marker is missing ends at the next
block, a closing ``` fence or the end of the reply. Blocks apply in order; each replaces the first match at
or after the end of the previous block's replacement, else the first match above it. A reply with
no blocks but a whole ```python file holding `class Net` is taken as that file
(small models often answer so). Runs in the parent process on untrusted text:
it only matches and splices strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from archagent.agent.extract import defines_net, extract_code

# The closing `>>>>>>> REPLACE` may be missing (small models drop it): the block then ends at the next
# SEARCH marker, a closing ``` fence, or the end of the reply.
_END = r"(?:\n?>{5,9} ?REPLACE|\n?```|(?=\n?<{5,9} ?SEARCH)|\s*\Z)"
_BLOCK = re.compile(r"<{5,9} ?SEARCH[^\n]*\n(.*?)\n?={5,9}[^\n]*\n(.*?)" + _END, re.DOTALL)


class PatchError(ValueError):
    """The reply's edit blocks do not apply to the parent (the candidate fails with kind `patch`)."""


@dataclass(frozen=True)
class Block:
    search: str
    replace: str


def parse_blocks(reply: str) -> list[Block]:
    return [Block(m.group(1), m.group(2)) for m in _BLOCK.finditer(reply)]


def apply_reply(parent: str, reply: str) -> str:
    """The parent's source with the reply's blocks applied (or the reply's whole file); raises PatchError.

    Blocks that change nothing give the parent back: a copy, which the operator's novelty check re-asks.
    """
    blocks = parse_blocks(reply)
    if not blocks:
        code = extract_code(reply)
        if code is not None and defines_net(code):
            return code
        raise PatchError("the reply held no SEARCH/REPLACE block and no whole file")
    code, after = parent, 0
    for i, block in enumerate(blocks, 1):
        code, after = apply_block(code, block, i, after)
    return code


def apply_block(code: str, block: Block, index: int = 1, after: int = 0) -> tuple[str, int]:
    """(the code with the block applied, the line after its replacement).

    Whole lines first (exact, then ignoring surrounding whitespace), looking from line `after`
    (the end of the previous block) before the lines above it; then a fragment within one line.
    """
    search = block.search.strip("\n")
    if not search.strip():
        raise PatchError(f"edit block {index} has an empty SEARCH part")
    lines, want = code.split("\n"), search.split("\n")
    for same in (lambda a, b: a == b, lambda a, b: a.strip() == b.strip()):
        last = len(lines) - len(want) + 1
        for start in [*range(min(after, last), last), *range(min(after, last))]:
            if all(same(a, b) for a, b in zip(lines[start:start + len(want)], want, strict=True)):
                new = _reindent(block.replace.strip("\n").split("\n"), want[0], lines[start])
                return "\n".join(lines[:start] + new + lines[start + len(want):]), start + len(new)
    if len(want) == 1 and search.strip() in code:
        return _replace_fragment(code, search.strip(), block.replace.strip("\n")), after
    raise PatchError(f"edit block {index}: SEARCH text not found in the parent (first line: {want[0].strip()[:60]!r})")


def _replace_fragment(code: str, fragment: str, new: str) -> str:
    """Replace the first occurrence inside a line; later lines of `new` get that line's indentation."""
    at = code.index(fragment)
    line_start = code.rfind("\n", 0, at) + 1
    indent = code[line_start:at][: len(code[line_start:at]) - len(code[line_start:at].lstrip())]
    first, *rest = new.split("\n")
    rest = [indent + ln.lstrip() if ln.strip() else ln for ln in rest]
    return code[:at] + "\n".join([first, *rest]) + code[at + len(fragment):]


def _reindent(new: list[str], search_first: str, found_first: str) -> list[str]:
    have = len(found_first) - len(found_first.lstrip())
    had = len(search_first) - len(search_first.lstrip())
    shift = have - had
    if shift > 0:
        return [(" " * shift + ln) if ln.strip() else ln for ln in new]
    if shift < 0:
        return [ln[min(-shift, len(ln) - len(ln.lstrip())):] for ln in new]
    return new
