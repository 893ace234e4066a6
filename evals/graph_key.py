"""The executed-graph key, computed inside the sandbox (child side; the parent never runs candidate code).

- `graph_key(model, example)`: hash of the aten ops the model actually executes
  (a `TorchDispatchMode` trace in eval and train mode, so any Python control flow
  works), with operands named by first use (input, parameters, values), every
  shape, dtype and non-tensor argument, plus the parameter/buffer shapes and coarse
  value signatures. Sequential == attributes, F.relu == nn.ReLU, loop == unrolled.
- `example_input(in_shape, n_out)`: the fixed dummy batch it traces.

The parent-side source keys (`text_key`, `code_key`) are in `evals/fingerprint.py`.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

from archagent.evals.fingerprint import digest

if TYPE_CHECKING:
    import torch


# Ops that return their input unchanged (as far as the computation is concerned).
_IDENTITY_OPS = frozenset({"alias", "detach", "lift_fresh", "clone", "contiguous"})
_VIEW_OPS = frozenset({"view", "_unsafe_view", "reshape", "_reshape_alias"})


def example_input(in_shape: tuple[int, ...], n_out: int, *, tokens: bool = False,
                  batch: int = 2) -> torch.Tensor:
    """The fixed dummy batch for `graph_key`: seeded float32 normal `(batch, *in_shape)`,
    or with `tokens=True` (sequence tasks) int64 token ids in `[0, n_out)`."""
    import torch

    gen = torch.Generator().manual_seed(0)
    if tokens:
        return torch.randint(0, n_out, (batch, *in_shape), generator=gen)
    return torch.randn((batch, *in_shape), generator=gen)


def graph_key(model: torch.nn.Module, example: torch.Tensor) -> str:
    """Hash of what `model(example)` executes, in eval and in train mode, plus its state.

    Runs under `torch.no_grad` on one intra-op thread (tiny models only lose from more)
    with a forked RNG; restores every module's mode, all buffers (batch-norm statistics)
    and the thread count afterwards. Raises whatever the forward raises.
    """
    import torch

    modes = [m.training for m in model.modules()]
    saved = {name: buf.detach().clone() for name, buf in model.named_buffers()}
    parts = [_state_signature(model)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            for train in (False, True):
                model.train(train)
                parts.append(_Tracer(model).run(example.clone()))  # a forward may write to its input
    finally:
        torch.set_num_threads(threads)
        for m, mode in zip(model.modules(), modes, strict=True):
            m.training = mode
        with torch.no_grad():
            for name, buf in model.named_buffers():
                buf.copy_(saved[name])
    return digest("\n".join(parts))


def _state_signature(model: torch.nn.Module) -> str:
    """Order-free summary of all parameters and buffers: count, shapes, dtypes, value class."""
    params = sorted(_tensor_sig(p) for p in model.parameters())
    buffers = sorted(_tensor_sig(b) for b in model.buffers())
    count = sum(p.numel() for p in model.parameters())
    return f"params={count} {params} buffers={buffers}"


def _tensor_sig(t: torch.Tensor) -> str:
    return f"{list(t.shape)}:{str(t.dtype).removeprefix('torch.')}:{_value_sig(t)}"


def _value_sig(t: torch.Tensor) -> str:
    """Coarse, seed-robust description of a tensor's values.

    Exact hash when the values are all small dyadic numbers or integers (zeros, ones,
    masks, indices); otherwise the octave of the standard deviation (tensors of >= 256
    elements only: smaller ones are too noisy to bucket reliably) to tell init schemes apart.
    """
    import torch

    t = t.detach().cpu()
    if t.numel() == 0:
        return "empty"
    if not t.is_floating_point() and not t.is_complex():
        return "x" + digest(t.contiguous().numpy().tobytes())[:12]
    scaled = t.double() * 8
    if bool(torch.all((scaled == scaled.round()) | torch.isinf(scaled))):
        return "x" + digest(t.contiguous().numpy().tobytes())[:12]
    if t.numel() < 256:
        return "r"
    std = float(t.double().std())
    return f"r{round(math.log2(std)) if std > 0 and math.isfinite(std) else std}"


class _Tracer:
    """Records aten ops with operands named by first use (input, parameters, values)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.state = {id(t): t for t in (*model.parameters(), *model.buffers())}
        self.labels: dict[int, str] = {}
        self.keep: list[Any] = []  # strong refs so that ids stay unique during the trace
        self.lines: list[str] = []
        self.n_state = self.n_const = self.n_value = 0

    def run(self, example: torch.Tensor) -> str:
        self.labels[id(example)] = "in"
        self.lines.append(f"in={_tensor_meta(example)}")
        with _dispatch_mode_class()(self):
            out = self.model(example)
        self.lines.append(f"out={self.encode(out)}")
        return "\n".join(self.lines)

    def record(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        name = func.overloadpacket.__name__
        functional = name[:-1] if name.endswith("_") and not name.endswith("__") else name
        values = _schema_values(func, args, kwargs)
        first = values[0] if values else None
        if functional in _IDENTITY_OPS and _is_tensor(first) and _is_tensor(out):
            self.alias(out, self.operand(first))
        elif functional in _VIEW_OPS and _is_tensor(out):
            src = self.operand(first)
            self.define(out, f"view({src})") if list(first.shape) != list(out.shape) else self.alias(out, src)
        else:
            values = _normalize_pool(functional, values)
            self.define(out, f"{functional}.{func._overloadname}({','.join(self.encode(v) for v in values)})")

    def define(self, out: Any, expr: str) -> None:
        metas = []
        for t in _flat_tensors(out):
            self.keep.append(t)
            self.labels[id(t)] = f"v{self.n_value}"
            self.n_value += 1
            metas.append(f"{self.labels[id(t)]}:{_tensor_meta(t)}")
        self.lines.append(f"{' '.join(metas) or '-'} = {expr}")

    def alias(self, out: Any, label: str) -> None:
        self.keep.append(out)
        self.labels[id(out)] = label

    def operand(self, t: Any) -> str:
        """The label of tensor `t`, declaring parameters/buffers/constants on first use."""
        key = id(t)
        if key not in self.labels:
            self.keep.append(t)
            if key in self.state:
                label, self.n_state = f"p{self.n_state}", self.n_state + 1
            else:
                label, self.n_const = f"k{self.n_const}", self.n_const + 1
            self.labels[key] = label
            self.lines.append(f"{label}={_tensor_sig(t)}")
        return self.labels[key]

    def encode(self, v: Any) -> str:
        if _is_tensor(v):
            return self.operand(v)
        if isinstance(v, list | tuple):
            return "[" + ",".join(self.encode(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ",".join(f"{k}:{self.encode(x)}" for k, x in sorted(v.items())) + "}"
        if isinstance(v, float):
            return f"{v:.10g}"
        if isinstance(v, bool | int | str) or v is None:
            return repr(v)
        return _encode_other(v)


@functools.cache
def _dispatch_mode_class() -> type:
    """A TorchDispatchMode that hands every aten call to a `_Tracer` (built lazily: torch import)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Mode(TorchDispatchMode):
        def __init__(self, tracer: _Tracer) -> None:
            super().__init__()
            self.tracer = tracer

        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            return False  # else the first call imports torch._dynamo: ~2 s per fresh process

        def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
            out = func(*args, **(kwargs or {}))
            self.tracer.record(func, args, kwargs or {}, out)
            return out

    return _Mode


def _encode_other(v: Any) -> str:
    import torch

    if isinstance(v, torch.device):
        return "dev"  # the device never changes the architecture
    if isinstance(v, torch.dtype | torch.layout | torch.memory_format):
        return str(v).removeprefix("torch.")
    return type(v).__name__


def _schema_values(func: Any, args: tuple, kwargs: dict) -> list[Any]:
    """All schema arguments in order, defaults filled in, so call style does not matter."""
    values = []
    for i, arg in enumerate(func._schema.arguments):
        if i < len(args) and not arg.kwarg_only:
            values.append(args[i])
        elif arg.name in kwargs:
            values.append(kwargs[arg.name])
        else:
            values.append(arg.default_value if arg.has_default_value() else None)
    return values


def _normalize_pool(name: str, values: list[Any]) -> list[Any]:
    """Pooling's empty stride means stride == kernel_size."""
    if "pool" in name and len(values) > 2 and isinstance(values[2], list | tuple) and not values[2]:
        values = [*values[:2], values[1], *values[3:]]
    return values


def _is_tensor(v: Any) -> bool:
    import torch

    return isinstance(v, torch.Tensor)


def _flat_tensors(v: Any) -> list[Any]:
    if _is_tensor(v):
        return [v]
    if isinstance(v, list | tuple):
        return [t for x in v for t in _flat_tensors(x)]
    return []


def _tensor_meta(t: torch.Tensor) -> str:
    return f"{list(t.shape)}:{str(t.dtype).removeprefix('torch.')}"
