"""Pull the candidate's Python source out of an LLM reply.

Small models often write `class Net(nn.Module)` without the imports above it;
the missing standard imports (`math`, `torch`, `nn`, `F`) are added when the code uses
the name and nothing in it defines or imports it.
"""

from __future__ import annotations

import ast
import re

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


def extract_code(reply: str) -> str | None:
    """The fenced block that defines `class Net` (else the longest block), or None.

    An unclosed fence (a reply cut off at the token limit) yields what came
    after it; the sandbox then reports the syntax error. A reply with no fence
    that still defines `class Net` is taken whole. A block whose model has another name gets
    `Net = <its last class>` (`name_net`).
    """
    blocks = [b.strip("\n") for b in _FENCE.findall(reply)]
    with_net = [b for b in blocks if re.search(r"^\s*class\s+Net\b", b, re.MULTILINE)]
    if with_net:
        return with_imports(with_net[-1] + "\n")
    if blocks and max(blocks, key=len).strip():
        return name_net(with_imports(max(blocks, key=len) + "\n"))
    if re.search(r"^class\s+Net\b", reply, re.MULTILINE):
        return with_imports(reply.strip() + "\n")
    return None


_IMPORTS = {"math": "import math", "torch": "import torch", "nn": "from torch import nn",
            "F": "import torch.nn.functional as F"}


def with_imports(code: str) -> str:
    """`code` with the standard imports it uses but lacks prepended (unchanged when it has them all)."""
    missing = [line for name, line in _IMPORTS.items()
               if re.search(rf"(?<![\w.]){name}\.", code) and not _binds(code, name)]
    return "\n".join(missing) + "\n\n\n" + code if missing else code


def _binds(code: str, name: str) -> bool:
    """Whether the code imports or assigns `name` at the start of some line (import, from-import, as, =)."""
    return bool(re.search(rf"^\s*(import\s+{name}\b|from\s+\S+\s+import\s+.*\b{name}\b|.*\bas\s+{name}\b|{name}\s*=)",
                          code, re.MULTILINE))


def defines_net(code: str) -> bool:
    """Whether the code binds `Net` at the start of a line: `class Net`, an import or an assignment."""
    return bool(re.search(r"^\s*class\s+Net\b", code, re.MULTILINE)) or _binds(code, "Net")


def name_net(code: str) -> str:
    """`code` with `Net = <its last top-level class>` appended when nothing in it binds `Net` (a reply that
    named its model `WideNet`); unchanged when it binds `Net`, defines no class, or does not parse."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    if not classes or defines_net(code):
        return code
    return code.rstrip("\n") + f"\n\n\nNet = {classes[-1]}  # the reply named its model {classes[-1]}\n"
