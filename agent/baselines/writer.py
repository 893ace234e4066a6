"""Write an `Arch` as candidate source (docs/contracts.md §1): one regular `nn.Sequential` body plus a head.

    from archagent.agent.baselines.writer import write_code
    print(write_code(arch, task.spec))

The first line records the `Arch` as JSON (`grammar.read_arch` reads it back);
helper blocks (`Residual`, `Attention`) are written only when used.
"""

from __future__ import annotations

from archagent.agent.baselines.grammar import ACTS, HEADER, Arch, Layer, heads_for, prod, spatial_dims
from archagent.evals.tasks.base import TaskSpec

IMPORTS = "import math\n\nimport torch\nfrom torch import nn\n"

RESIDUAL_CONV = '''

class Residual(nn.Module):
    """act(x + conv-norm-act-conv-norm(x)): same channels, same size."""

    def __init__(self, ch: int, k: int):
        super().__init__()
        self.f = nn.Sequential(
            nn.Conv{d}d(ch, ch, k, padding=k // 2), nn.BatchNorm{d}d(ch), nn.{act}(),
            nn.Conv{d}d(ch, ch, k, padding=k // 2), nn.BatchNorm{d}d(ch),
        )
        self.act = nn.{act}()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.f(x))
'''

RESIDUAL_MLP = '''

class Residual(nn.Module):
    """x + linear-act-linear(layernorm(x)): same width."""

    def __init__(self, ch: int, k: int = 0):
        super().__init__()
        self.f = nn.Sequential(nn.LayerNorm(ch), nn.Linear(ch, ch), nn.{act}(), nn.Linear(ch, ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.f(x)
'''

ATTENTION = '''

class Attention(nn.Module):
    """Pre-norm multi-head self-attention across spatial positions, with a residual connection."""

    def __init__(self, ch: int, heads: int):
        super().__init__()
        self.norm = nn.LayerNorm(ch)
        self.attn = nn.MultiheadAttention(ch, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.norm(x.flatten(2).transpose(1, 2))  # (B, positions, C)
        a, _ = self.attn(t, t, t, need_weights=False)
        return x + a.transpose(1, 2).reshape(x.shape)
'''

NET = '''

class Net(nn.Module):
    """{doc}"""

    def __init__(self, in_shape: tuple[int, ...], n_out: int):
        super().__init__()
        self.body = nn.Sequential(
{body}
        )
        self.head = nn.Sequential({head})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)  # {body_shape}
{pool}        return self.head(h)  # (B, n_out)
'''


def write_code(arch: Arch, spec: TaskSpec) -> str:
    """Candidate source for `arch` on inputs shaped like `spec.in_shape`."""
    act, d = ACTS[arch.act], spatial_dims(spec)
    lines, ch, size = body_lines(arch, spec)
    helpers = ""
    if any(lay.op == "res" for lay in arch.layers):
        helpers += (RESIDUAL_CONV if arch.family == "conv" else RESIDUAL_MLP).format(d=d, act=act)
    if any(lay.op == "attn" for lay in arch.layers):
        helpers += ATTENTION
    pool = f"        h = h.flatten(2).mean(dim=2)  # (B, {ch}): global average pool\n" if size else ""
    net = NET.format(doc=describe(arch), body="\n".join(" " * 12 + ln for ln in lines),
                     head=head_code(arch, ch), body_shape=shape_text(ch, size), pool=pool)
    return f"{HEADER}{arch.to_json()}\n{IMPORTS}{helpers}{net}"


def body_lines(arch: Arch, spec: TaskSpec) -> tuple[list[str], int, tuple[int, ...]]:
    """The body's layer lines with shape comments; also the channels and spatial size it ends with."""
    if arch.family == "conv":
        ch, size, first, lines = spec.in_shape[0], tuple(spec.in_shape[1:]), "in_shape[0]", []
    else:
        ch, size, first = prod(spec.in_shape), (), "math.prod(in_shape)"
        lines = [f"nn.Flatten(),  # (B, {ch})"]
    for i, lay in enumerate(arch.layers):
        src = first if i == 0 else str(ch)
        new_lines, ch, size = layer_lines(lay, arch, src, ch, size, spatial_dims(spec))
        lines += new_lines
    return lines, ch, size


def layer_lines(lay: Layer, arch: Arch, src: str, ch: int, size: tuple[int, ...],
                d: int) -> tuple[list[str], int, tuple[int, ...]]:
    act = f"nn.{ACTS[arch.act]}(),"
    if lay.op == "conv":
        lines = [f"nn.Conv{d}d({src}, {lay.width}, {lay.kernel}, padding={lay.kernel // 2}),"
                 f"  # {shape_text(lay.width, size)}"]
        return lines + ([f"nn.BatchNorm{d}d({lay.width}),"] if arch.norm else []) + [act], lay.width, size
    if lay.op == "linear":
        lines = [f"nn.Linear({src}, {lay.width}),  # (B, {lay.width})"]
        return lines + ([f"nn.LayerNorm({lay.width}),"] if arch.norm else []) + [act], lay.width, size
    if lay.op == "res":
        return [f"Residual({ch}, {lay.kernel}),  # {shape_text(ch, size)}"], ch, size
    if lay.op == "attn":
        return [f"Attention({ch}, {heads_for(ch)}),  # {shape_text(ch, size)}"], ch, size
    size = tuple(s // 2 for s in size)
    return [f"nn.MaxPool{d}d(2),  # {shape_text(ch, size)}"], ch, size


def head_code(arch: Arch, ch: int) -> str:
    parts = [f"nn.Dropout({arch.dropout})"] if arch.dropout else []
    if arch.head:
        parts += [f"nn.Linear({ch}, {arch.head})", f"nn.{ACTS[arch.act]}()", f"nn.Linear({arch.head}, n_out)"]
    else:
        parts.append(f"nn.Linear({ch}, n_out)")
    return ", ".join(parts)


def shape_text(ch: int, size: tuple[int, ...]) -> str:
    return "(" + ", ".join(["B", str(ch), *map(str, size)]) + ")"


def describe(arch: Arch) -> str:
    ops = " -> ".join(f"{lay.op}{lay.width or ''}" for lay in arch.layers)
    return f"Grammar-sampled {arch.family}: {ops}; {arch.act}, norm={arch.norm}, head={arch.head or 'linear'}."

