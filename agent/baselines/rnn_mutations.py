"""Source edits of recurrent models (`nn.GRU`, `nn.LSTM`, `nn.RNN` held as `self.<name>`): layers,
direction, a conv front end. The hidden size is `ast_mutations.scale_width`'s (it counts as a width).

    out = rnn_layers(code, random.Random(0))  # (new code, description) or None

Like `ast_mutations`, nothing here executes candidate code: each edit applies only
where the AST shows the output shapes cannot change, and yields None elsewhere.

- `rnn_layers` (1-3 stacked layers) changes the final state's first dimension only:
  it applies when every call of the module reads that state as `state[-1]` (or not at all)
  and passes no initial state. The output sequence keeps its shape.
- `rnn_bidirectional` doubles the output sequence's width, and `state[-1]` stays
  (batch, hidden): it applies when the output sequence is unused (`_`) and the state
  is read only as `state[-1]`. Classification only: a backward pass reads the future,
  which a causal sequence model must not.
- `rnn_conv_front` puts `Conv1d(C, F, k, stride=s) + ReLU` before the recurrence, for the
  pattern `self.rnn(x.transpose(1, 2))` with `x` the (batch, C, length) input: the
  recurrence then reads F features per step, over length/s steps. Classification only.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Callable

from archagent.agent.baselines.ast_mutations import RNNS, Edit, Source, callee, int_const

Mutator = Callable[[str, random.Random], "tuple[str, str] | None"]
FRONT_WIDTHS, FRONT_KERNELS, FRONT_STRIDES = (16, 32, 64), (3, 5), (1, 2)
FRONT_NAME = "front"


def modules(src: Source) -> dict[str, ast.Call]:
    """`self.<name> = nn.GRU(...)` assignments: name -> the constructor call."""
    found = {}
    for node in ast.walk(src.tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and callee(node.value) in RNNS:
            t = node.targets[0]
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                found[t.attr] = node.value
    return found


def uses(src: Source, name: str) -> list[tuple[ast.expr, ast.Call, ast.FunctionDef]] | None:
    """Every `out, state = self.<name>(x)` in the code: (target, call, enclosing function).
    None when the module is used any other way (another call form, an initial state, a bare reference)."""
    found, refs = [], 0
    for fn in (n for n in ast.walk(src.tree) if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(fn):
            if isinstance(node, ast.Attribute) and node.attr == name and isinstance(node.value, ast.Name) \
                    and node.value.id == "self" and isinstance(node.ctx, ast.Load):
                refs += 1
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and is_self_call(node.value, name):
                if len(node.value.args) != 1 or node.value.keywords:
                    return None
                found.append((node.targets[0], node.value, fn))
    return found if found and refs == len(found) else None


def is_self_call(node: ast.AST, name: str) -> bool:
    f = node.func if isinstance(node, ast.Call) else None
    return isinstance(f, ast.Attribute) and f.attr == name and isinstance(f.value, ast.Name) and f.value.id == "self"


def pair(target: ast.expr) -> tuple[str, str] | None:
    """`out, state` as two names (`_` allowed); None for any other target (e.g. `out, (h, c)`)."""
    if isinstance(target, ast.Tuple) and len(target.elts) == 2 and all(isinstance(e, ast.Name) for e in target.elts):
        return target.elts[0].id, target.elts[1].id
    return None


def loads(fn: ast.FunctionDef, name: str) -> list[ast.Name]:
    return [n for n in ast.walk(fn) if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)]


def only_last(fn: ast.FunctionDef, name: str) -> bool:
    """Every read of `name` in `fn` is `name[-1]` (or there is none)."""
    lasts = {id(s.value) for s in ast.walk(fn) if isinstance(s, ast.Subscript) and is_minus_one(s.slice)}
    return all(id(n) in lasts for n in loads(fn, name))


def is_minus_one(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return int_const(node.operand) == 1
    return int_const(node) == -1


def state_only_last(src: Source, name: str, call: ast.Call, out_unused: bool) -> bool:
    """The module's state is read only as state[-1] at every use (and, if asked, its output never)."""
    found = uses(src, name)
    if not found:
        return False
    for target, _, fn in found:
        names = pair(target)
        if names is None or (names[1] != "_" and callee(call) == "LSTM" and loads(fn, names[1])):
            return False  # an LSTM's state is (h, c): state[-1] is c, whose shape also changes
        if not only_last(fn, names[1]) or (out_unused and names[0] != "_" and loads(fn, names[0])):
            return False
    return True


def set_keyword(src: Source, call: ast.Call, key: str, value: str) -> Edit | None:
    """Replace `key=...` in the call, or add it after the last argument."""
    kw = next((k for k in call.keywords if k.arg == key), None)
    if kw is not None:
        return (*src.span(kw.value), value)
    last = [*call.args, *call.keywords]
    if not last:
        return None
    end = src.span(last[-1])[1]
    return (end, end, f", {key}={value}")


# -- edits -------------------------------------------------------------------------
def rnn_layers(code: str, rng: random.Random) -> tuple[str, str] | None:
    src = Source(code)
    choices = [(n, c) for n, c in modules(src).items() if len(c.args) <= 2 and state_only_last(src, n, c, False)]
    if not choices:
        return None
    name, call = rng.choice(sorted(choices, key=lambda x: x[0]))
    kw = next((k.value for k in call.keywords if k.arg == "num_layers"), None)
    old = 1 if kw is None else int_const(kw)
    if old is None:
        return None
    new = rng.choice([n for n in (1, 2, 3) if n != old])
    code2 = src.apply([set_keyword(src, call, "num_layers", str(new))])
    return (code2, f"{callee(call)} layers {old} -> {new}") if code2 else None


def rnn_bidirectional(code: str, rng: random.Random) -> tuple[str, str] | None:
    src = Source(code)
    choices = [(n, c) for n, c in modules(src).items() if len(c.args) <= 2 and state_only_last(src, n, c, True)]
    if not choices:
        return None
    name, call = rng.choice(sorted(choices, key=lambda x: x[0]))
    kw = next((k.value for k in call.keywords if k.arg == "bidirectional"), None)
    if kw is not None and not (isinstance(kw, ast.Constant) and isinstance(kw.value, bool)):
        return None
    new = not (kw is not None and kw.value)
    edit = set_keyword(src, call, "bidirectional", str(new))
    code2 = src.apply([edit]) if edit else None
    return (code2, f"{callee(call)} bidirectional {not new} -> {new}") if code2 else None


def rnn_conv_front(code: str, rng: random.Random) -> tuple[str, str] | None:
    src = Source(code)
    if FRONT_NAME in {n.attr for n in ast.walk(src.tree) if isinstance(n, ast.Attribute)}:
        return None
    for name, call in sorted(modules(src).items()):
        found, size = uses(src, name), input_size(call)
        if found and size is not None and isinstance(call.func, ast.Attribute):
            fronts = [transposed_input(src, c, fn) for _, c, fn in found]
            if all(fronts):
                return add_front(src, name, call, size, fronts, rng)
    return None


def input_size(call: ast.Call) -> ast.expr | None:
    return call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "input_size"), None)


def transposed_input(src: Source, call: ast.Call, fn: ast.FunctionDef) -> ast.expr | None:
    """`x.transpose(1, 2)` passed straight to the module (or through one name), x forward's input."""
    arg = call.args[0]
    if isinstance(arg, ast.Name):  # seq = x.transpose(1, 2); ... self.rnn(seq)
        defs = [n.value for n in ast.walk(fn) if isinstance(n, ast.Assign) and len(n.targets) == 1
                and isinstance(n.targets[0], ast.Name) and n.targets[0].id == arg.id]
        arg = defs[0] if len(defs) == 1 and len(loads(fn, arg.id)) == 1 else None
    params = [a.arg for a in fn.args.args]
    ok = (isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr == "transpose"
          and [int_const(a) for a in arg.args] == [1, 2] and isinstance(arg.func.value, ast.Name)
          and len(params) == 2 and arg.func.value.id == params[1])
    return arg.func.value if ok else None


def add_front(src: Source, name: str, call: ast.Call, size: ast.expr, fronts: list[ast.expr],
              rng: random.Random) -> tuple[str, str] | None:
    width, kernel, stride = rng.choice(FRONT_WIDTHS), rng.choice(FRONT_KERNELS), rng.choice(FRONT_STRIDES)
    nn = src.text(call.func.value)
    stmt = next(n for n in ast.walk(src.tree) if isinstance(n, ast.Assign) and n.value is call)
    indent = src.line_indent(stmt)
    if indent is None:
        return None
    line = (f"self.{FRONT_NAME} = {nn}.Sequential({nn}.Conv1d({src.text(size)}, {width}, {kernel}, "
            f"stride={stride}, padding={kernel // 2}), {nn}.ReLU())\n{indent}")
    at = src.span(stmt)[0]
    edits = [(at, at, line), (*src.span(size), str(width))]
    edits += [(*src.span(x), f"self.{FRONT_NAME}({src.text(x)})") for x in fronts]
    code2 = src.apply(edits)
    return (code2, f"conv front end {width}x{kernel}/{stride} before {callee(call)}") if code2 else None


CAUSAL_EDITS: tuple[Mutator, ...] = (rnn_layers,)  # keep position t blind to tokens after t
EDITS: tuple[Mutator, ...] = (rnn_layers, rnn_bidirectional, rnn_conv_front)
