"""Dedup recall and false merges of text_key / code_key / graph_key on generated variant pairs.

    python benchmarks/dedup_recall.py

A few base digits CNN specs are written out in three styles (explicit attributes,
nn.Sequential + module activations, ModuleList loop + torch.* activations) and put
through textual rewrites (comments, reformatting, renaming, dead code, literal forms,
import aliases). Each base is also mutated
in one real way (width, kernel, activation, pooling, residual, depth, head, order of
operations) and written in every style. Every pair of generated sources is scored:
same architecture -> equivalent ("rewrite": same style, textual rewrite; "restyle":
different style), otherwise different. Prints recall per key and combined, and false
merges (different architectures sharing a key), which must be 0.
"""

from __future__ import annotations

import ast
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archagent.evals.fingerprint import code_key, text_key  # noqa: E402
from archagent.evals.graph_key import example_input, graph_key  # noqa: E402


@dataclass(frozen=True)
class Spec:
    widths: tuple[int, ...] = (16, 32)
    kernel: int = 3
    act: str = "relu"  # relu | gelu | tanh
    pool: str = "max"  # max | avg
    pool_at: int = -1  # pool after this conv layer (-1: the last)
    residual: bool = False  # skip connection around every width-preserving conv
    hidden: int = 0  # hidden width of a two-layer head, 0 for a linear head


BASES = (
    Spec(),
    Spec(widths=(16, 16, 16), residual=True, pool="avg"),
    Spec(widths=(8, 16), kernel=5, act="gelu", hidden=32),
    Spec(widths=(32,), act="tanh", pool="avg", pool_at=0),
)
_FUNC_ACT = {"relu": "F.relu({})", "gelu": "F.gelu({})", "tanh": "torch.tanh({})"}
_TORCH_ACT = {"relu": "torch.relu({})", "gelu": "nn.functional.gelu({})", "tanh": "{}.tanh()"}
_MODULE_ACT = {"relu": "nn.ReLU()", "gelu": "nn.GELU()", "tanh": "nn.Tanh()"}
_HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def _layers(spec: Spec) -> list[tuple[int, int, bool, bool]]:
    """(c_in, c_out, residual, pool_after) per conv layer; c_in 0 means in_shape[0]."""
    pool_at = spec.pool_at % len(spec.widths)
    ins = (0, *spec.widths[:-1])
    return [(c_in, c_out, spec.residual and c_in == c_out, i == pool_at)
            for i, (c_in, c_out) in enumerate(zip(ins, spec.widths, strict=True))]


def _conv(c_in: int, c_out: int, k: int) -> str:
    return f"nn.Conv2d({c_in or 'in_shape[0]'}, {c_out}, {k}, padding={k // 2})"


def _head_init(spec: Spec, flat: str) -> list[str]:
    if spec.hidden:
        return [f"self.fc1 = nn.Linear({flat}, {spec.hidden})", f"self.fc2 = nn.Linear({spec.hidden}, n_out)"]
    return [f"self.fc = nn.Linear({flat}, n_out)"]


def _head_call(spec: Spec, act: dict[str, str], x: str) -> str:
    if spec.hidden:
        return "self.fc2(" + act[spec.act].format(f"self.fc1({x})") + ")"
    return f"self.fc({x})"


def _module(init: list[str], forward: list[str], extra: str = "") -> str:
    body = "\n".join("        " + s for s in ["super().__init__()", *init])
    fwd = "\n".join("        " + s for s in forward)
    return (f"{_HEADER}{extra}class Net(nn.Module):\n    def __init__(self, in_shape, n_out):\n{body}\n\n"
            f"    def forward(self, x):\n{fwd}\n")


def emit_attrs(spec: Spec) -> str:
    """Explicit attributes, unrolled forward, F.* activations."""
    init, fwd = [], []
    for i, (c_in, c_out, res, pool) in enumerate(_layers(spec)):
        init.append(f"self.conv{i} = {_conv(c_in, c_out, spec.kernel)}")
        y = _FUNC_ACT[spec.act].format(f"self.conv{i}(x)")
        fwd.append(f"x = {y} + x" if res else f"x = {y}")
        if pool:
            fwd.append(f"x = F.{spec.pool}_pool2d(x, 2)")
    init += _head_init(spec, f"{spec.widths[-1]} * 16")
    fwd += ["x = x.flatten(1)", f"return {_head_call(spec, _FUNC_ACT, 'x')}"]
    return _module(init, fwd)


_RESIDUAL_CLASS = ("class Residual(nn.Module):\n    def __init__(self, body):\n        super().__init__()\n"
                   "        self.body = body\n\n    def forward(self, x):\n        return self.body(x) + x\n\n\n")


def emit_sequential(spec: Spec) -> str:
    """One nn.Sequential with module activations; residual layers wrapped in a helper class."""
    items = []
    for c_in, c_out, res, pool in _layers(spec):
        pair = f"{_conv(c_in, c_out, spec.kernel)}, {_MODULE_ACT[spec.act]}"
        items.append(f"Residual(nn.Sequential({pair}))" if res else pair)
        if pool:
            items.append(f"nn.{spec.pool.capitalize()}Pool2d(2)")
    items.append("nn.Flatten()")
    flat = f"{spec.widths[-1] * 16}"
    if spec.hidden:
        items.append(f"nn.Linear({flat}, {spec.hidden}), {_MODULE_ACT[spec.act]}, nn.Linear({spec.hidden}, n_out)")
    else:
        items.append(f"nn.Linear({flat}, n_out)")
    init = ["self.net = nn.Sequential(" + ", ".join(items) + ")"]
    extra = _RESIDUAL_CLASS if spec.residual else ""
    return _module(init, ["return self.net(x)"], extra)


def emit_loop(spec: Spec) -> str:
    """nn.ModuleList built in a loop, torch.* activations, view instead of flatten."""
    layers = _layers(spec)
    init = ["self.convs = nn.ModuleList()", "c = in_shape[0]",
            f"for width in {spec.widths!r}:",
            f"    self.convs.append(nn.Conv2d(c, width, kernel_size=({spec.kernel}, {spec.kernel}), "
            f"padding={spec.kernel // 2}))",
            "    c = width",
            f"self.skip = {[res for *_, res, _ in layers]!r}", f"self.pool_at = {spec.pool_at % len(layers)}"]
    init += _head_init(spec, "c * 16")
    y = _TORCH_ACT[spec.act].format("conv(x)")
    fwd = ["for i, conv in enumerate(self.convs):", f"    y = {y}", "    x = y + x if self.skip[i] else y",
           "    if i == self.pool_at:",
           f"        x = nn.functional.{spec.pool}_pool2d(x, kernel_size=2, stride=2)",
           f"return {_head_call(spec, _TORCH_ACT, 'x.view(x.size(0), -1)')}"]
    return _module(init, fwd)


STYLES: dict[str, Callable[[Spec], str]] = {"attrs": emit_attrs, "sequential": emit_sequential, "loop": emit_loop}


def _rename(src: str) -> str:
    names = dict(x="inp", y="out", c="chans", convs="blocks", net="model", fc="head", fc1="hidden", fc2="proj",
                 conv0="first", conv1="second", conv2="third", skip="use_skip", width="w", conv="layer")
    return re.sub(r"\b(" + "|".join(names) + r")\b", lambda m: names[m.group(1)], src)


REWRITES: dict[str, Callable[[str], str]] = {
    "comments": lambda s: s.replace("class Net(nn.Module):\n", 'class Net(nn.Module):\n    """Candidate."""\n\n')
    .replace("super().__init__()", "super().__init__()  # init"),
    "reformat": lambda s: ast.unparse(ast.parse(s)),
    "rename": _rename,
    "dead_code": lambda s: s.replace("import torch\n", "import math\nimport torch\n")
    .replace("class Net", "def unused_helper(t):\n    return t * math.pi\n\n\nclass Net"),
    "literals": lambda s: re.sub(r"(nn\.Conv2d\([^,]+, [^,]+, )(\d)(,)", r"\1(\2, \2)\3", s)
    .replace("padding=", "padding = "),
    "aliases": lambda s: s.replace("import torch.nn as nn\nimport torch.nn.functional as F",
                                   "from torch import nn\nfrom torch.nn import functional as F"),
}

MUTATIONS: dict[str, Callable[[Spec], Spec]] = {
    "width": lambda s: replace(s, widths=(s.widths[0] + 8, *s.widths[1:])),
    "kernel": lambda s: replace(s, kernel=5 if s.kernel == 3 else 3),
    "activation": lambda s: replace(s, act="gelu" if s.act == "relu" else "relu"),
    "pooling": lambda s: replace(s, pool="avg" if s.pool == "max" else "max"),
    "residual": lambda s: replace(s, widths=(16, 16), residual=not s.residual),
    "depth": lambda s: replace(s, widths=(*s.widths, s.widths[-1])),
    "head": lambda s: replace(s, hidden=0 if s.hidden else 64),
    "order": lambda s: replace(s, widths=(*s.widths, s.widths[-1]), pool_at=len(s.widths) - 1),
}


@dataclass(frozen=True)
class Item:
    spec: Spec
    label: str  # base/mutation, style, rewrite
    source: str


def generate(seed: int = 0) -> list[Item]:
    """Every base spec in every style with every rewrite, and every mutation in every style."""
    rng = random.Random(seed)
    items = []
    for b, spec in enumerate(BASES):
        for style, emit in STYLES.items():
            source = emit(spec)
            items.append(Item(spec, f"base{b}:{style}", source))
            items += [Item(spec, f"base{b}:{style}+{r}", fn(source)) for r, fn in REWRITES.items()]
        for m, mutate in MUTATIONS.items():
            other = mutate(spec)
            for style, emit in STYLES.items():
                source = emit(other)
                rewrite = rng.choice([None, *REWRITES])
                items.append(Item(other, f"base{b}:{m}:{style}+{rewrite}",
                                  REWRITES[rewrite](source) if rewrite else source))
    return items


def keys_of(source: str, cache: dict[str, tuple[str, str, str]]) -> tuple[str, str, str]:
    if source not in cache:
        import torch

        namespace: dict = {}
        exec(compile(source, "<candidate>", "exec"), namespace)
        torch.manual_seed(0)
        model = namespace["Net"]((1, 8, 8), 10)
        cache[source] = (text_key(source), code_key(source), graph_key(model, example_input((1, 8, 8), 10)))
    return cache[source]


def _pair_kind(a: Item, b: Item) -> str:
    if a.spec != b.spec:
        return "different"
    return "rewrite" if a.label.split("+")[0] == b.label.split("+")[0] else "restyle"


def main() -> int:
    items = generate()
    cache: dict[str, tuple[str, str, str]] = {}
    columns = ("text", "code", "graph", "text|code", "any")
    counts: dict[str, dict[str, int]] = {k: dict.fromkeys(columns, 0) for k in ("rewrite", "restyle", "different")}
    totals = dict.fromkeys(counts, 0)
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            kind = _pair_kind(a, b)
            eq = [x == y for x, y in zip(keys_of(a.source, cache), keys_of(b.source, cache), strict=True)]
            totals[kind] += 1
            for name, flag in zip(columns, (*eq, eq[0] or eq[1], any(eq)), strict=True):
                counts[kind][name] += flag
            if kind == "different" and any(eq):
                print(f"FALSE MERGE {a.label} ~ {b.label}: {eq}")
    n_specs = len({it.spec for it in items})
    print(f"{len(items)} sources of {n_specs} distinct architectures; all {sum(totals.values())} pairs")
    print(f"{'pairs':<28}" + "".join(f"{c:>11}" for c in columns))
    for kind in ("rewrite", "restyle"):
        row = "".join(f"{counts[kind][c] / totals[kind]:>11.1%}" for c in columns)
        print(f"{kind + ' recall (' + str(totals[kind]) + ')':<28}{row}")
    same = {c: (counts["rewrite"][c] + counts["restyle"][c]) / (totals["rewrite"] + totals["restyle"]) for c in columns}
    print(f"{'equivalent recall (' + str(totals['rewrite'] + totals['restyle']) + ')':<28}"
          + "".join(f"{same[c]:>11.1%}" for c in columns))
    print(f"{'false merges (' + str(totals['different']) + ')':<28}"
          + "".join(f"{counts['different'][c]:>11d}" for c in columns))
    return 1 if counts["different"]["any"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
