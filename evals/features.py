"""Static features of a built model: parameter count, forward FLOPs and layer-type counts.

These are the cheap, training-free gates (max params / max FLOPs per task) and the static half of
the learned predictor's input. Nothing here trains or needs labels.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules import activation as act_mod
from torch.nn.modules import batchnorm, conv, dropout, pooling
from torch.utils.flop_counter import FlopCounterMode

_NORM = (batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.RMSNorm)
_POOL = (
    pooling._MaxPoolNd,
    pooling._AvgPoolNd,
    pooling._AdaptiveAvgPoolNd,
    pooling._AdaptiveMaxPoolNd,
    pooling._LPPoolNd,
)

LAYER_KINDS: tuple[str, ...] = (
    "conv",
    "linear",
    "norm",
    "attention",
    "recurrent",
    "activation",
    "pooling",
    "dropout",
    "embedding",
)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters (shared tensors counted once)."""
    seen = {id(p): p for p in model.parameters() if p.requires_grad}
    return sum(p.numel() for p in seen.values())


def count_flops(model: nn.Module, example: torch.Tensor) -> int:
    """Forward FLOPs for one sample, as counted by ``torch.utils.flop_counter`` (eval mode, no grad).

    FlopCounterMode counts matmul/conv/attention kernels (2 FLOPs per multiply-add); cheap
    element-wise ops (activations, norms) count as zero.
    """
    was_training = model.training
    model.eval()
    # Frozen for the count: FlopCounterMode's module tracker asserts on an output that is a no-grad
    # view of a parameter (a model that ignores its input), a false failure; forward FLOPs are the same.
    frozen = [p for p in model.parameters() if p.requires_grad]
    try:
        for p in frozen:
            p.requires_grad_(False)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example[:1])
    finally:
        for p in frozen:
            p.requires_grad_(True)
        model.train(was_training)
    return int(counter.get_total_flops())


def layer_kind(module: nn.Module, *, by_name: bool = True) -> str | None:
    """The coarse kind of a module (one of LAYER_KINDS) or None for containers/unknown modules.

    With ``by_name``, custom modules whose class name mentions attention/attn count as attention.
    """
    name = type(module).__name__.lower()
    if isinstance(module, nn.MultiheadAttention) or (by_name and ("attention" in name or "attn" in name)):
        return "attention"
    checks: tuple[tuple[str, tuple[type, ...]], ...] = (
        ("conv", (conv._ConvNd,)),
        ("linear", (nn.Linear, nn.Bilinear)),
        ("norm", _NORM),
        ("recurrent", (nn.RNNBase, nn.RNNCellBase)),
        ("pooling", _POOL),
        ("dropout", (dropout._DropoutNd,)),
        ("embedding", (nn.Embedding, nn.EmbeddingBag)),
    )
    for kind, types in checks:
        if isinstance(module, types):
            return kind
    if type(module).__module__ == act_mod.__name__:
        return "activation"
    return None


def layer_counts(model: nn.Module) -> dict[str, int]:
    """Count modules of each kind in LAYER_KINDS (attention internals are not double counted)."""
    counts = dict.fromkeys(LAYER_KINDS, 0)
    skip: set[int] = set()
    for module in model.modules():
        if id(module) in skip:
            continue
        kind = layer_kind(module, by_name=module is not model)
        if kind is not None:
            counts[kind] += 1
        if kind == "attention":
            skip.update(id(m) for m in module.modules())
    return counts


def param_depth(model: nn.Module) -> int:
    """Number of modules that own parameters directly (leaf layers with weights, plus e.g. MHA)."""
    return sum(1 for m in model.modules() if any(True for _ in m.parameters(recurse=False)))


def static_features(model: nn.Module, example: torch.Tensor) -> dict[str, float]:
    """Static features of a built model: sizes (raw and log10), depth and layer-type counts."""
    params = count_params(model)
    flops = count_flops(model, example)
    depth = param_depth(model)
    feats: dict[str, float] = {
        "params": float(params),
        "log_params": math.log10(1 + params),
        "flops": float(flops),
        "log_flops": math.log10(1 + flops),
        "depth": float(depth),
        "log_params_per_layer": math.log10(1 + params / max(depth, 1)),
    }
    for kind, n in layer_counts(model).items():
        feats[f"n_{kind}"] = float(n)
    return feats
