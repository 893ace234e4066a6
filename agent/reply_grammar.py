"""GBNF grammars that make a local model's reply parse and apply by construction (llama.cpp).

    edit_grammar(parent)   SEARCH/REPLACE blocks whose SEARCH text is a run of the parent's own lines
    code_grammar()         exactly one ```python block that defines a class

An edit reply is one or more blocks in `agent.patch`'s format. Each SEARCH part
is a contiguous run of the parent's lines, copied exactly, and each block's run
starts after the previous block's run ends, so the blocks apply in order to the
untouched text (`agent.patch.apply_reply` looks after the previous block
first). The grammar is linear in the parent: per usable line i,

    run_i  ::= "<line i>\\n" (run_{i+1} | tail_i)        # extend the run, or end it at line i
    tail_i ::= "=======\\n" rep ">>>>>>> REPLACE" ("\\n\\n<<<<<<< SEARCH\\n" from_{i+1})?
    from_i ::= run_i | from_{next usable line}          # the next block starts at line i or later

A run never starts on a blank line nor holds a line that looks like a block
marker or a fence (`usable`); a REPLACE line never starts with `<`, `=` or `>`
and holds no backtick, so the parser cannot end a block early. A REPLACE part
holds at most `replace_cap(i)` lines for a SEARCH run ending at line i: the
parent's lines up to there plus `REPLACE_SLACK`. The 1.5B model, asked for one
change, once copied a 10-line block as SEARCH and repeated its conv layers in
REPLACE until the token limit (900 tokens, 20 min at load 17): a cap ends such
a loop. A fixed cap of 16 lines cut off a whole-class edit mid-expression
(25 lines searched, 16 written: "'(' was never closed"), so the cap grows with
the text the block may replace. Only llama.cpp backends take grammars; hosted
models keep the free-form prompt.

A whole-file reply (rewrite, crossover) is one fenced block that must define a
class before it may close; the model may name it otherwise (`extract.name_net`
then names it `Net`). Requiring `class Net(` itself once trapped the model: it
had written `class WideNet(` and, unable to close the fence, wrote comment lines
until its token limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEARCH, DIVIDER, REPLACE = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
_MARKER = re.compile(r"<{5}|={5}|>{5}|```")
FREE_LINE = r'free ::= ([^`<=>\n] [^`\n]*)? "\n"'
REPLACE_SLACK = 8  # lines a REPLACE part may hold beyond the parent's lines up to its SEARCH's end


def replace_cap(end: int) -> int:
    """The most lines a REPLACE part may hold when its SEARCH run ends at line `end` (0-based)."""
    return end + 1 + REPLACE_SLACK


def _bounded(rule: str, item: str, most: int) -> list[str]:
    """`rule` ::= at most `most` `item`s, as nested optional rules (no `{m,n}` needed)."""
    return [f"{rule}{k} ::= ({item} {rule}{k - 1})?" if k > 1 else f"{rule}1 ::= {item}?" for k in range(most, 0, -1)]


def literal(text: str) -> str:
    """`text` as a GBNF string literal."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + out.replace("\t", "\\t") + '"'


def usable(line: str) -> bool:
    """Whether a parent line may be part of a SEARCH run (nothing the block parser would read as a marker)."""
    return _MARKER.search(line) is None and "\r" not in line


@dataclass(frozen=True)
class EditShape:
    """The parent's lines as the edit grammar sees them: which may be in a run, which may start one."""

    lines: tuple[str, ...]

    @classmethod
    def of(cls, parent: str) -> EditShape:
        return cls(tuple(parent.strip("\n").split("\n")))

    def in_run(self, i: int) -> bool:
        return 0 <= i < len(self.lines) and usable(self.lines[i])

    def starts(self, after: int = -1) -> list[int]:
        """Lines after line `after` where a SEARCH run may start (usable and not blank)."""
        return [i for i in range(after + 1, len(self.lines)) if self.in_run(i) and self.lines[i].strip()]


def edit_grammar(parent: str) -> str:
    """The GBNF of an edit reply against `parent`; raises ValueError when no line can be searched."""
    shape = EditShape.of(parent)
    starts = shape.starts()
    if not starts:
        raise ValueError("the parent has no line an edit block could search for")
    rules = [f'root ::= "{SEARCH}\\n" from{starts[0]}', FREE_LINE,
             *_bounded("rep", "free", replace_cap(len(shape.lines) - 1))]
    for k, i in enumerate(starts):
        rules.append(f"from{i} ::= run{i}" + (f" | from{starts[k + 1]}" if k + 1 < len(starts) else ""))
    for i, line in enumerate(shape.lines):
        if shape.in_run(i):
            rules += _run_rules(shape, i, line)
    return "\n".join(rules) + "\n"


def _run_rules(shape: EditShape, i: int, line: str) -> list[str]:
    """run_i and tail_i: line i, then more of the run or the block's end (and perhaps the next block)."""
    more = f"(run{i + 1} | tail{i})" if shape.in_run(i + 1) else f"tail{i}"
    nxt = shape.starts(i)
    again = f' ("\\n\\n{SEARCH}\\n" from{nxt[0]})?' if nxt else ""
    return [f'run{i} ::= {literal(line + chr(10))} {more}',
            f'tail{i} ::= "{DIVIDER}\\n" rep{replace_cap(i)} "{REPLACE}"{again}']


def code_grammar() -> str:
    """The GBNF of a reply that is one ```python block defining a class (the whole file)."""
    return "\n".join([
        'root ::= "```python\\n" line* cls line* "```"',
        r'line ::= [^`\n]* "\n"',
        r'cls ::= "class " [A-Za-z_] [^`\n]* "\n"',
    ]) + "\n"


def parse_edit(parent: str, reply: str) -> list[tuple[int, int, str]] | None:
    """The (first line, last line, replacement) of each block if `reply` is in the edit grammar's language, else None.

    A direct reading of the same structure as `edit_grammar`, for checking replies without llama.cpp.
    """
    shape, out, after = EditShape.of(parent), [], -1
    chunks = reply.split(f"\n\n{SEARCH}\n")
    if not chunks[0].startswith(f"{SEARCH}\n"):
        return None
    chunks[0] = chunks[0][len(SEARCH) + 1:]
    for chunk in chunks:
        block = _parse_block(shape, chunk, after)
        if block is None:
            return None
        out.append(block)
        after = block[1]
    return out


def _parse_block(shape: EditShape, chunk: str, after: int) -> tuple[int, int, str] | None:
    head, sep, rest = chunk.partition(f"{DIVIDER}\n")
    if not sep or not rest.endswith(REPLACE) or not head.endswith("\n"):
        return None
    search, replace = head[:-1].split("\n"), rest[: -len(REPLACE)]
    free = replace.split("\n")[:-1] if replace else []
    if replace and not replace.endswith("\n"):
        return None
    if any(not re.fullmatch(r"(?:[^`<=>\n][^`\n]*)?", ln) for ln in free):
        return None
    for start in shape.starts(after):
        end = start + len(search) - 1
        if (shape.lines[start:end + 1] == tuple(search) and all(shape.in_run(j) for j in range(start, end + 1))
                and len(free) <= replace_cap(end)):
            return start, end, replace
    return None
