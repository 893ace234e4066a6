"""Source edits located on the AST, for candidates not written by the grammar (seeds, LLM code).

    out = scale_width(code, random.Random(0))  # (new code, description) or None

Each edit finds its targets by walking the AST and splices text at their source
positions, so comments and layout survive. The edits keep shapes consistent on
regular code: a width literal is changed everywhere it is passed to a layer, an
inserted block maps W channels to W, a removed block was W -> W. Code they do
not understand yields None. Nothing here executes candidate code.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Callable

Edit = tuple[int, int, str]  # (start byte, end byte, replacement)
SIZED = ("Conv1d", "Conv2d", "Linear")
RNNS = ("GRU", "LSTM", "RNN")
ACT_MODULES = ("ReLU", "GELU", "SiLU", "Tanh", "ELU", "LeakyReLU", "Mish")
ACT_FUNCS = {"relu": "torch.relu", "gelu": "torch.nn.functional.gelu", "silu": "torch.nn.functional.silu",
             "tanh": "torch.tanh", "elu": "torch.nn.functional.elu"}
NOT_WIDTH_KW = ("kernel_size", "stride", "padding", "dilation", "groups", "dim", "num_heads", "nhead", "p")
MIN_WIDTH = 12  # smaller literals are too often spatial sizes or head counts
MAX_WIDTH = 512  # no wider: chains of doublings would outgrow every task's parameter budget


class Source:
    """The code as bytes, with AST positions turned into byte offsets."""

    def __init__(self, code: str):
        self.code, self.raw = code, code.encode()
        self.tree = ast.parse(code)
        self.starts = [0]
        for line in self.raw.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (self.starts[node.lineno - 1] + node.col_offset, self.starts[node.end_lineno - 1] + node.end_col_offset)

    def text(self, node: ast.AST) -> str:
        s, e = self.span(node)
        return self.raw[s:e].decode()

    def line_indent(self, node: ast.AST) -> str | None:
        """The indentation of the node's line when the node starts that line, else None."""
        before = self.raw[self.starts[node.lineno - 1]: self.span(node)[0]].decode()
        return before if not before.strip() else None

    def apply(self, edits: list[Edit]) -> str | None:
        out = self.raw
        for start, end, text in sorted(edits, reverse=True):
            out = out[:start] + text.encode() + out[end:]
        code = out.decode()
        try:
            compile(code, "candidate.py", "exec")
        except SyntaxError:
            return None
        return code


def callee(node: ast.AST) -> str:
    """`nn.Conv2d(...)` -> "Conv2d", `Block(...)` -> "Block", anything else -> ""."""
    if not isinstance(node, ast.Call):
        return ""
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def out_arg(call: ast.Call) -> ast.expr | None:
    """The output width argument of a Conv/Linear call."""
    if len(call.args) >= 2:
        return call.args[1]
    return next((k.value for k in call.keywords if k.arg in ("out_channels", "out_features")), None)


def layer_width(call: ast.Call) -> ast.expr | None:
    """The output width of a Conv/Linear call, or the hidden size of a GRU/LSTM/RNN call."""
    if callee(call) in SIZED:
        return out_arg(call)
    if callee(call) in RNNS:
        return call.args[1] if len(call.args) >= 2 else next(
            (k.value for k in call.keywords if k.arg == "hidden_size"), None)
    return None


def int_const(node: ast.AST | None) -> int | None:
    ok = isinstance(node, ast.Constant) and type(node.value) is int
    return node.value if ok else None


# -- change a width ------------------------------------------------------------------
def scale_width(code: str, rng: random.Random) -> tuple[str, str] | None:
    """Pick a layer width literal W (conv/linear output, recurrent hidden size) and replace it everywhere
    it is passed to a call."""
    src = Source(code)
    widths = sorted({w for c in calls(src.tree) if (w := int_const(layer_width(c))) is not None and w >= MIN_WIDTH})
    if not widths:
        return None
    old = rng.choice(widths)
    new = min(MAX_WIDTH, max(8, round(old * rng.choice((0.5, 0.75, 1.5, 2.0)) / 8) * 8))
    if new == old:
        return None
    nodes = {id(n): n for c in calls(src.tree) for a in width_args(c) for n in ast.walk(a) if int_const(n) == old}
    code2 = src.apply([(*src.span(n), str(new)) for n in nodes.values()])
    return (code2, f"width {old} -> {new}") if code2 else None


def width_args(call: ast.Call) -> list[ast.expr]:
    return [*call.args, *(k.value for k in call.keywords if k.arg not in NOT_WIDTH_KW)]


# -- swap the activation -----------------------------------------------------------
def act_name(call: ast.Call) -> str | None:
    """"ReLU" for nn.ReLU(...), "relu" for torch.relu(x)/F.relu(x), else None."""
    name = callee(call)
    if name in ACT_MODULES and isinstance(call.func, ast.Attribute):
        return name
    if name in ACT_FUNCS and isinstance(call.func, ast.Attribute) and len(call.args) >= 1:
        return name
    return None


def swap_activation(code: str, rng: random.Random) -> tuple[str, str] | None:
    """Replace every use of one activation by another of the same style (module or function)."""
    src = Source(code)
    found = [(c, n) for c in calls(src.tree) if (n := act_name(c))]
    if not found:
        return None
    old = rng.choice(sorted({n for _, n in found}))
    pool = ACT_MODULES if old in ACT_MODULES else tuple(ACT_FUNCS)
    new = rng.choice([a for a in pool if a not in (old, "LeakyReLU")])
    edits = [(*src.span(c), act_call(src, c, new)) for c, n in found if n == old]
    code2 = src.apply(edits)
    return (code2, f"activation {old} -> {new}") if code2 else None


def act_call(src: Source, call: ast.Call, new: str) -> str:
    if new in ACT_MODULES:
        return f"{src.text(call.func.value)}.{new}()"
    return f"{ACT_FUNCS[new]}({src.text(call.args[0])})"


# -- add or remove a block inside an nn.Sequential ------------------------------------
def sequentials(src: Source) -> list[ast.Call]:
    return [c for c in calls(src.tree) if callee(c) == "Sequential" and c.args]


def user_classes(src: Source) -> set[str]:
    return {n.name for n in src.tree.body if isinstance(n, ast.ClassDef) and n.name != "Net"}


def same_width_block(src: Source, el: ast.expr) -> bool:
    """A user block with one width argument, or W -> W (e.g. `Block(32)`, `Mix(64, 64)`)."""
    if callee(el) not in user_classes(src) or el.keywords or not 1 <= len(el.args) <= 2:
        return False
    return len({src.text(a) for a in el.args}) == 1


def add_block(code: str, rng: random.Random) -> tuple[str, str] | None:
    """Duplicate a W -> W user block, or insert a W -> W conv/linear + activation after an activation."""
    src = Source(code)
    points: list[tuple[ast.expr, list[str]]] = []
    for seq in sequentials(src):
        last = None  # the conv/linear whose output width flows here; None once something may change it
        for el in seq.args:
            if callee(el) in SIZED and out_arg(el) is not None:
                last = el  # strided or not: the inserted block maps *its output* width to itself
            elif same_width_block(src, el):
                points.append((el, [src.text(el)]))
            elif last is not None and isinstance(el, ast.Call) and act_name(el) in ACT_MODULES:
                w = src.text(out_arg(last))
                tail = ")" if callee(last) == "Linear" else ", 3, padding=1)"
                points.append((el, [f"{src.text(last.func)}({w}, {w}{tail}", src.text(el)]))
            elif not keeps_width(el):
                last = None  # e.g. Flatten, a user block W -> W', anything unknown
    if not points:
        return None
    el, texts = rng.choice(points)
    indent = src.line_indent(el)
    sep = f",\n{indent}" if indent is not None else ", "
    end = src.span(el)[1]
    code2 = src.apply([(end, end, sep + sep.join(texts))])
    return (code2, f"add {texts[0].split('(')[0]} block") if code2 else None


def keeps_width(el: ast.expr) -> bool:
    """Norms, activations, dropout and pooling keep the channel/feature width of what precedes them."""
    return is_tail(el) or "Pool" in callee(el)


def has_stride(call: ast.Call) -> bool:
    return len(call.args) >= 4 or any(k.arg == "stride" for k in call.keywords)


def remove_block(code: str, rng: random.Random) -> tuple[str, str] | None:
    """Remove a W -> W block from a Sequential (with the norm/activation that follows a conv/linear)."""
    src = Source(code)
    choices: list[tuple[list[ast.expr], int, int]] = []
    for seq in sequentials(src):
        els = seq.args
        for i, el in enumerate(els):
            if same_width_block(src, el) and len(els) > 1:
                choices.append((els, i, i))
            elif callee(el) in SIZED and removable_layer(src, el) and len(els) > 1:
                j = i
                while j + 1 < len(els) and is_tail(els[j + 1]):
                    j += 1
                choices.append((els, i, j))
    if not choices:
        return None
    els, i, j = rng.choice(choices)
    start = src.span(els[i - 1])[1] if i > 0 else src.span(els[i])[0]
    end = src.span(els[j])[1] if i > 0 or j + 1 == len(els) else src.span(els[j + 1])[0]
    code2 = src.apply([(start, end, "")])
    return (code2, f"remove {callee(els[i])} block") if code2 else None


def removable_layer(src: Source, el: ast.Call) -> bool:
    """Linear(W, W), or Conv(W, W, k, padding=k // 2) that keeps the size (literal odd k, no stride/dilation)."""
    if len(el.args) < 2 or src.text(el.args[0]) != src.text(el.args[1]) or has_stride(el):
        return False
    if callee(el) == "Linear":
        return True
    kw = {k.arg: k.value for k in el.keywords}
    kernel = int_const(el.args[2] if len(el.args) > 2 else kw.get("kernel_size"))
    padding = int_const(kw.get("padding"))
    return kernel is not None and kernel % 2 == 1 and padding == kernel // 2 and "dilation" not in kw


def is_tail(el: ast.expr) -> bool:
    name = callee(el)
    return bool(name.startswith("BatchNorm") or name in ("LayerNorm", "Dropout") or
                (isinstance(el, ast.Call) and act_name(el) in ACT_MODULES))


EDITS: tuple[Callable[[str, random.Random], tuple[str, str] | None], ...] = (
    scale_width, swap_activation, add_block, remove_block,
)
