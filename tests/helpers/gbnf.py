"""A small GBNF reader and recognizer for tests: does a grammar's text accept a string?

Covers the subset `agent.reply_grammar` writes: rules `name ::= alternatives`, string literals
with escapes, character classes (negated too), rule references, groups, and `?`, `*`, `+`.
Matching is by sets of end positions, memoized, so ambiguity costs no backtracking. It is
written independently of llama.cpp, to check the grammar text itself without a model.
`llama_accepts` asks llama.cpp's own grammar sampler the same question, token by token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

_TOKEN = re.compile(r'\s*(?:(?P<lit>"(?:\\.|[^"\\])*")|(?P<cls>\[(?:\\.|[^\]\\])*\])|(?P<name>[A-Za-z][\w-]*)'
                    r"|(?P<op>[()|?*+]))")
_ESC = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "]": "]", "[": "[", "-": "-", "^": "^"}


def _unescape(body: str) -> list[str]:
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\":
            out.append(_ESC[body[i + 1]])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return out


@dataclass(frozen=True)
class Node:
    kind: str  # lit | cls | ref | seq | alt | opt | star | plus
    value: object


def _char_class(text: str) -> Node:
    chars = _unescape(text[1:-1])
    negate = chars[:1] == ["^"] and not text.startswith("[\\^")
    chars = chars[1:] if negate else chars
    ranges, i = [], 0
    while i < len(chars):
        if i + 2 < len(chars) and chars[i + 1] == "-":
            ranges.append((chars[i], chars[i + 2]))
            i += 3
        else:
            ranges.append((chars[i], chars[i]))
            i += 1
    return Node("cls", (negate, tuple(ranges)))


class Grammar:
    def __init__(self, text: str):
        self.rules: dict[str, Node] = {}
        for line in text.strip().splitlines():
            name, _, body = line.partition("::=")
            tokens = [m for m in _TOKEN.finditer(body) if m.group().strip()]
            node, rest = self._alt(tokens)
            assert not rest, f"unparsed: {body!r}"
            self.rules[name.strip()] = node

    def _alt(self, tokens: list) -> tuple[Node, list]:
        seqs, (seq, tokens) = [], self._seq(tokens)
        seqs.append(seq)
        while tokens and tokens[0].group("op") == "|":
            seq, tokens = self._seq(tokens[1:])
            seqs.append(seq)
        return Node("alt", tuple(seqs)), tokens

    def _seq(self, tokens: list) -> tuple[Node, list]:
        items = []
        while tokens and tokens[0].group("op") not in ("|", ")"):
            tok, tokens = tokens[0], tokens[1:]
            if tok.group("lit"):
                item = Node("lit", "".join(_unescape(tok.group("lit")[1:-1])))
            elif tok.group("cls"):
                item = _char_class(tok.group("cls"))
            elif tok.group("name"):
                item = Node("ref", tok.group("name"))
            else:
                assert tok.group("op") == "(", tok.group()
                item, tokens = self._alt(tokens)
                assert tokens[0].group("op") == ")"
                tokens = tokens[1:]
            while tokens and tokens[0].group("op") in ("?", "*", "+"):
                item = Node({"?": "opt", "*": "star", "+": "plus"}[tokens[0].group("op")], item)
                tokens = tokens[1:]
            items.append(item)
        return Node("seq", tuple(items)), tokens

    def accepts(self, text: str) -> bool:
        assert "root" in self.rules, "a grammar needs a root rule"
        for name, node in self.rules.items():
            _check_refs(node, self.rules, name)

        @cache
        def ends(node: Node, pos: int) -> frozenset[int]:
            k, v = node.kind, node.value
            if k == "lit":
                return frozenset([pos + len(v)]) if text.startswith(v, pos) else frozenset()
            if k == "cls":
                negate, ranges = v
                hit = pos < len(text) and any(a <= text[pos] <= b for a, b in ranges)
                return frozenset([pos + 1]) if pos < len(text) and hit != negate else frozenset()
            if k == "ref":
                return ends(self.rules[v], pos)
            if k == "alt":
                return frozenset().union(*(ends(s, pos) for s in v))
            if k == "seq":
                at = frozenset([pos])
                for item in v:
                    at = frozenset().union(*(ends(item, p) for p in at)) if at else at
                return at
            if k == "opt":
                return ends(v, pos) | {pos}
            frontier = {pos} if k == "star" else set(ends(v, pos))  # star/plus: repeat to a fixpoint
            reach = set(frontier)
            while frontier:
                frontier = set().union(*(ends(v, p) for p in frontier)) - reach
                reach |= frontier
            return frozenset(reach)

        return len(text) in ends(self.rules["root"], 0)


def _check_refs(node: Node, rules: dict, where: str) -> None:
    if node.kind == "ref":
        assert node.value in rules, f"{where} refers to undefined rule {node.value}"
    elif node.kind in ("alt", "seq"):
        for n in node.value:
            _check_refs(n, rules, where)
    elif node.kind in ("opt", "star", "plus"):
        _check_refs(node.value, rules, where)


def llama_accepts(llm, grammar: str, text: str) -> bool:
    """Whether llama.cpp's grammar sampler lets `llm` (a vocab-only `llama_cpp.Llama`) emit `text` then stop."""
    import ctypes

    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, grammar.encode(), b"root")
    assert sampler, "llama.cpp could not parse the grammar"
    eos = llm.token_eos()
    try:
        for token in [*llm.tokenize(text.encode(), add_bos=False, special=False), eos]:
            data = (llama_cpp.llama_token_data * 1)()
            data[0].id, data[0].logit = token, 0.0
            one = llama_cpp.llama_token_data_array(data=data, size=1, selected=-1, sorted=False)
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(one))
            if data[0].logit == float("-inf"):
                return False
            if token != eos:
                llama_cpp.llama_sampler_accept(sampler, token)
        return True
    finally:
        llama_cpp.llama_sampler_free(sampler)
