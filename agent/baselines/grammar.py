"""A small architecture grammar and the code writer that turns an `Arch` into candidate source.

    from archagent.agent.baselines.grammar import sample_arch, write_code
    code = write_code(sample_arch(random.Random(0), task.spec), task.spec)

An `Arch` is a stem plus a list of layers (conv / residual / attention / pool for
image-like inputs, linear / residual for flat ones), an activation, a norm flag,
an optional hidden head and dropout. The written code is one regular
`nn.Sequential` (docs/contracts.md §1) whose first line records the `Arch` as JSON, so a
mutation can read the architecture back without executing anything.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, replace
from typing import Literal

from archagent.evals.tasks.base import TaskSpec

Op = Literal["conv", "res", "attn", "pool", "linear"]
ACTS = {"relu": "ReLU", "gelu": "GELU", "silu": "SiLU", "tanh": "Tanh", "elu": "ELU"}
CONV_WIDTHS = (8, 16, 24, 32, 48, 64, 96)
MLP_WIDTHS = (32, 64, 128, 192, 256, 384)
KERNELS = (1, 3, 5)
DROPOUTS = (0.0, 0.1, 0.25)
MAX_PARAMS = 400_000  # the baselines stay far below the task budgets: training must stay cheap
MAX_MACS = 8_000_000  # multiply-accumulates per example
HEADER = "# arch: "


@dataclass(frozen=True)
class Layer:
    op: Op
    width: int = 0  # output channels/features of conv and linear; 0 for shape-preserving ops
    kernel: int = 3  # conv and res


@dataclass(frozen=True)
class Arch:
    family: Literal["conv", "mlp"]
    layers: tuple[Layer, ...]  # layers[0] is the stem (conv or linear)
    act: str = "relu"
    norm: bool = True
    head: int = 0  # hidden width of the head, 0 = a single linear layer
    dropout: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Arch:
        """Parse and whitelist: the fields end up inside generated code."""
        data = json.loads(text)
        layers = tuple(Layer(str(lay["op"]), int(lay["width"]), int(lay["kernel"])) for lay in data["layers"])
        arch = cls(str(data["family"]), layers, str(data["act"]), bool(data["norm"]), int(data["head"]),
                   float(data["dropout"]))
        if not well_formed(arch):
            raise ValueError("not a well-formed grammar architecture")
        return arch


FAMILY_OPS = {"conv": ("conv", "res", "attn", "pool"), "mlp": ("linear", "res")}
STEM_OP = {"conv": "conv", "mlp": "linear"}


def well_formed(arch: Arch) -> bool:
    """Structure only (the ops fit the family, widths and ranges are sane); `fits` checks the sizes."""
    if arch.family not in FAMILY_OPS or arch.act not in ACTS or not arch.layers:
        return False
    if arch.layers[0].op != STEM_OP[arch.family] or not (0 <= arch.head <= 4096 and 0 <= arch.dropout < 1):
        return False
    for lay in arch.layers:
        sized = lay.op in ("conv", "linear")
        if lay.op not in FAMILY_OPS[arch.family] or lay.kernel not in KERNELS:
            return False
        if (sized and not 1 <= lay.width <= 4096) or (not sized and lay.width != 0):
            return False
    return True


def read_arch(code: str) -> Arch | None:
    """The `Arch` recorded in the first line of grammar-written code, else None."""
    first = code.lstrip().split("\n", 1)[0]
    if not first.startswith(HEADER):
        return None
    try:
        return Arch.from_json(first[len(HEADER):])
    except (ValueError, KeyError, TypeError):
        return None


# -- shapes and cost ---------------------------------------------------------------
def spatial_dims(spec: TaskSpec) -> int:
    """2 for (C, H, W) inputs, 1 for (C, L), 0 when only the MLP family applies."""
    return len(spec.in_shape) - 1 if spec.kind == "classification" and len(spec.in_shape) in (2, 3) else 0


def heads_for(width: int) -> int:
    return 4 if width % 4 == 0 and width >= 32 else 2 if width % 2 == 0 else 1


def cost(arch: Arch, spec: TaskSpec) -> tuple[int, int] | None:
    """(params, MACs per example), or None when the layers do not fit the input (pooling below 1 pixel)."""
    conv = arch.family == "conv"
    ch, size = (spec.in_shape[0], tuple(spec.in_shape[1:])) if conv else (prod(spec.in_shape), ())
    params = macs = 0
    for lay in arch.layers:
        p, m, ch, size = _layer_cost(lay, ch, size)
        if min(size, default=1) < 1:
            return None
        params, macs = params + p, macs + m
    if arch.head:
        params, macs, ch = params + ch * arch.head + arch.head, macs + ch * arch.head, arch.head
    return params + ch * spec.n_out + spec.n_out, macs + ch * spec.n_out


def prod(dims: tuple[int, ...]) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _layer_cost(lay: Layer, ch: int, size: tuple[int, ...]) -> tuple[int, int, int, tuple[int, ...]]:
    """(params, MACs, channels out, spatial size out) of one layer; size is () for flat features."""
    pixels, area = prod(size), lay.kernel ** len(size)
    if lay.op in ("conv", "linear"):
        p = ch * lay.width * area + lay.width
        return p, p * pixels, lay.width, size
    if lay.op == "res":
        p = 2 * (ch * ch * area + ch)
        return p, p * pixels, ch, size
    if lay.op == "attn":
        p = 4 * ch * ch + 6 * ch
        return p, p * pixels + 2 * pixels * pixels * ch, ch, size
    return 0, 0, ch, tuple(s // 2 for s in size)  # pool


def fits(arch: Arch, spec: TaskSpec) -> bool:
    if not well_formed(arch) or (arch.family == "conv" and not spatial_dims(spec)):
        return False
    c = cost(arch, spec)
    return c is not None and c[0] <= min(MAX_PARAMS, spec.max_params) and c[1] <= MAX_MACS


# -- sampling ---------------------------------------------------------------------
def sample_arch(rng: random.Random, spec: TaskSpec) -> Arch:
    """A random architecture that fits the input and the cost caps (rejection sampling)."""
    while True:
        arch = _draw(rng, spec)
        if fits(arch, spec):
            return arch


def _draw(rng: random.Random, spec: TaskSpec) -> Arch:
    family = "conv" if spatial_dims(spec) and rng.random() < 0.75 else "mlp"
    n = rng.randint(1, 5 if family == "conv" else 3)
    layers = [sample_layer(rng, family, stem=True)] + [sample_layer(rng, family) for _ in range(n - 1)]
    return Arch(family, tuple(layers), rng.choice(sorted(ACTS)), rng.random() < 0.7,
                rng.choice((0, 0, 64, 128)), rng.choice(DROPOUTS))


def sample_layer(rng: random.Random, family: str, stem: bool = False) -> Layer:
    if family == "mlp":
        op = "linear" if stem else rng.choice(("linear", "linear", "res"))
        return Layer(op, rng.choice(MLP_WIDTHS) if op == "linear" else 0, 3)
    op = "conv" if stem else rng.choice(("conv", "conv", "res", "pool", "attn"))
    kernel = rng.choice((1, 3, 3, 3, 5)) if op in ("conv", "res") else 3
    return Layer(op, rng.choice(CONV_WIDTHS) if op == "conv" else 0, kernel)


def with_layers(arch: Arch, layers: list[Layer]) -> Arch:
    return replace(arch, layers=tuple(layers))
