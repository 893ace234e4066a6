"""Pull the candidate's Python source out of an LLM reply."""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


def extract_code(reply: str) -> str | None:
    """The fenced block that defines `class Net` (else the longest block), or None.

    An unclosed fence (a reply cut off at the token limit) yields what came
    after it; the sandbox then reports the syntax error. A reply with no fence
    that still defines `class Net` is taken whole.
    """
    blocks = [b.strip("\n") for b in _FENCE.findall(reply)]
    with_net = [b for b in blocks if re.search(r"^\s*class\s+Net\b", b, re.MULTILINE)]
    if with_net:
        return with_net[-1] + "\n"
    if blocks and max(blocks, key=len).strip():
        return max(blocks, key=len) + "\n"
    if re.search(r"^class\s+Net\b", reply, re.MULTILINE):
        return reply.strip() + "\n"
    return None
