"""Strings that came from a candidate (failure messages, stdout) are data, never commands.

    console.print(f"[red]{kind}[/]: {for_terminal(msg)}")   # no escape sequences, no rich markup
    prompt_text = for_prompt(msg)                            # trimmed, fence-proof, control-free

A candidate controls its own failure message (it can raise any exception text) and
everything it prints. Printed raw, an escape sequence can rewrite the terminal (or a
title bar, or a clipboard via OSC 52) and rich markup can forge output; pasted raw into
the next prompt, text can close the code fence and speak to the LLM as instructions.
"""

from __future__ import annotations

import re

# ANSI/VT escape sequences (CSI, OSC, DCS/PM/APC strings, two-byte escapes), then any other
# C0/C1 control character except newline and tab, and Unicode bidi overrides (text reordering).
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[\]PX^_].*?(?:\x07|\x1b\\|$)|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]",
                      re.DOTALL)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_FENCE = re.compile(r"`{3,}|~{3,}")


def printable(text: str | None) -> str:
    """The text without escape sequences and control characters (newlines and tabs are kept)."""
    if not text:
        return ""
    return _CONTROLS.sub("", _ESCAPES.sub("", text.replace("\r\n", "\n").replace("\r", "\n")))


def for_terminal(text: str | None) -> str:
    """Safe to hand to a rich console: printable, with rich markup escaped."""
    from rich.markup import escape

    return escape(printable(text))


def trim(text: str, max_lines: int = 8, max_chars: int = 600) -> str:
    """The informative tail of a message: its last non-blank lines, at most `max_chars`."""
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    tail = "\n".join(lines[-max_lines:])
    return tail if len(tail) <= max_chars else "..." + tail[-max_chars:]


def for_prompt(text: str | None, max_lines: int = 8, max_chars: int = 600) -> str:
    """Ready to sit inside a fenced block of a prompt: printable, trimmed, and unable to close the fence
    (runs of three or more backticks or tildes are broken up)."""
    clean = trim(printable(text), max_lines, max_chars)
    return _FENCE.sub(lambda m: " ".join(m.group(0)), clean)
