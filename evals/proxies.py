"""Training-free proxies: cheap scores of an untrained model that correlate with its trained quality.

Each proxy is ``fn(model, x, y, loss_fn) -> float`` (higher = predicted better) and may mutate the
model it is given; :func:`compute_proxies` hands every proxy its own deep copy of one initialised
model so they cannot interfere. Inputs are one small batch: float ``(B, *in_shape)`` images for
classification, int64 ``(B, T)`` token ids for sequence models (logits ``(B, T, V)``).

Token inputs have no input gradient, so ``jacob_cov`` differentiates w.r.t. the output of the first
``nn.Embedding`` whose output is per-sample (``(B, ...)``), and returns nan when there is none.
Values: ``-inf`` is a legitimate "worst" (e.g. synflow of a network with a zeroed layer, nwot of
identical activation codes); ``nan`` means the proxy could not be computed for this model.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from archagent.evals.features import count_flops, count_params, layer_kind
from torch import Tensor, nn

log = logging.getLogger(__name__)

LossFn = Callable[[Tensor, Tensor], Tensor]
Proxy = Callable[[nn.Module, Tensor, Tensor, LossFn], float]
ModelFactory = Callable[[], nn.Module]

_JACOB_K = 1e-5
_NOT_CODES = (nn.Softmax, nn.LogSoftmax, nn.Softmin, nn.Softmax2d)


class ProxyUnavailable(ArithmeticError):
    """The proxy is undefined for this model/batch (non-finite value, nothing to hook, ...)."""


def flat_cross_entropy(out: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy over ``(B, C)`` logits or ``(B, T, V)`` next-token logits (positions flattened)."""
    return F.cross_entropy(out.reshape(-1, out.shape[-1]).float(), y.reshape(-1))


def _weights(model: nn.Module) -> list[nn.Parameter]:
    """Weight-like tensors (ndim >= 2: conv/linear/embedding/recurrent matrices), as in the papers."""
    return [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]


def _finite(value: float, name: str) -> float:
    if math.isnan(value) or math.isinf(value):
        raise ProxyUnavailable(f"{name}: non-finite value {value}")
    return value


def _backward_loss(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> None:
    model.train()
    model.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    _finite(float(loss.detach()), "loss")
    loss.backward()


def _row_correlation(rows: Tensor) -> Tensor:
    """Correlation between the rows of ``(B, D)``; a zero-variance row correlates 0 with everything.

    That row then adds a zero eigenvalue, the worst case of the score, instead of a nan.
    """
    z = rows.double() - rows.double().mean(dim=1, keepdim=True)
    norm = z.norm(dim=1, keepdim=True)
    z = torch.where(norm > 1e-12 * (1.0 + norm.max()), z / norm.clamp_min(1e-300), torch.zeros_like(z))
    return z @ z.T


def _eigen_score(rows: Tensor) -> float:
    """Mellor et al.'s score of a ``(B, D)`` matrix: -Σ log(λ+k) + 1/(λ+k), λ = eig(corrcoef(rows))."""
    corr = _row_correlation(rows.reshape(rows.shape[0], -1))
    if not bool(torch.isfinite(corr).all()):
        raise ProxyUnavailable("correlation is not finite")
    lam = torch.linalg.eigvalsh(corr)
    return -float(torch.sum(torch.log(lam + _JACOB_K) + 1.0 / (lam + _JACOB_K)))


@contextmanager
def _hooks(modules: list[nn.Module], hook: Callable):
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _synflow_once(model: nn.Module, x: Tensor, dtype: torch.dtype) -> float:
    model = model.to(dtype).eval()
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    inp = torch.ones_like(x[:1], dtype=dtype) if x.is_floating_point() else x[:1]
    model.zero_grad(set_to_none=True)
    model(inp).sum().backward()
    with torch.no_grad():
        total = sum(float((p * p.grad).abs().sum()) for p in _weights(model) if p.grad is not None)
    if total == 0.0:
        return -math.inf
    return _finite(math.log(total), "synflow")


def synflow(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn = flat_cross_entropy) -> float:
    """SynFlow (Tanaka et al. 2020): log Σ|θ ⊙ ∂R/∂θ|, R = Σ f_|θ|(1), float64 when the model allows."""
    try:
        return _synflow_once(copy.deepcopy(model), x, torch.float64)
    except RuntimeError as err:  # e.g. a forward that builds float32 tensors itself
        log.debug("synflow: float64 failed (%s); retrying in float32", err)
        return _synflow_once(model, x, torch.float32)


def _code_modules(model: nn.Module) -> list[nn.Module]:
    acts = [m for m in model.modules() if layer_kind(m) == "activation" and not isinstance(m, _NOT_CODES)]
    if acts:
        return acts
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1:]


def activation_codes(model: nn.Module, x: Tensor) -> Tensor:
    """Binary ``(B, N)`` codes: sign of the inputs to activation modules (pre-logit features if none)."""
    batch = x.shape[0]
    parts: list[Tensor] = []

    def hook(_m: nn.Module, inp: tuple, _out: object) -> None:
        if inp and isinstance(inp[0], Tensor) and inp[0].shape[:1] == (batch,):
            parts.append((inp[0].detach().reshape(batch, -1) > 0).double())

    model.train()
    with _hooks(_code_modules(model), hook), torch.no_grad():
        out = model(x)
    if not parts:
        parts.append((out.detach().reshape(batch, -1) > 0).double())
    return torch.cat(parts, dim=1)


def nwot(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn = flat_cross_entropy) -> float:
    """NASWOT (Mellor et al. 2021): log det(K + I), K_ij = number of units where samples i, j share a code.

    The ``+ I`` ridge is ours: K is singular whenever there are fewer units than samples or codes
    repeat, where the exact log det is -inf and floating point returns noise; with many units the
    ridge changes the value negligibly.
    """
    codes = activation_codes(model, x)
    kernel = codes @ codes.T + (1.0 - codes) @ (1.0 - codes).T
    kernel += torch.eye(kernel.shape[0], dtype=kernel.dtype)
    return float(torch.linalg.slogdet(kernel).logabsdet)


def _input_gradient(model: nn.Module, x: Tensor) -> Tensor:
    """∂(Σ outputs)/∂input per sample; for token ids, w.r.t. the first per-sample embedding output."""
    model.train()
    model.zero_grad(set_to_none=True)
    if x.is_floating_point():
        xin = x.clone().requires_grad_(True)
        out = model(xin).sum()
        if not out.requires_grad:
            raise ProxyUnavailable("jacob_cov: the output has no gradient (it does not depend on any parameter)")
        out.backward()
        if xin.grad is None:  # the output does not depend on the input (a constant or learned-bias model)
            raise ProxyUnavailable("jacob_cov: the output has no gradient w.r.t. the input")
        return xin.grad.reshape(x.shape[0], -1)
    seen: list[Tensor] = []

    def hook(_m: nn.Module, _inp: tuple, out: Tensor) -> None:
        if not seen and out.requires_grad and out.shape[:1] == x.shape[:1]:
            out.retain_grad()
            seen.append(out)

    with _hooks([m for m in model.modules() if isinstance(m, nn.Embedding)], hook):
        model(x).sum().backward()
    if not seen or seen[0].grad is None:
        raise ProxyUnavailable("jacob_cov: token model without a per-sample nn.Embedding output")
    return seen[0].grad.reshape(x.shape[0], -1)


def jacob_cov(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn = flat_cross_entropy) -> float:
    """Jacobian covariance (Mellor et al. 2020, arXiv v1): eigen-score of corrcoef of input Jacobians."""
    return _eigen_score(_input_gradient(model, x))


def gradient_stats(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn = flat_cross_entropy) -> dict[str, float]:
    """grad_norm and snip from one shared backward pass (neither changes the weights)."""
    _backward_loss(model, x, y, loss_fn)
    grads = [(p, p.grad) for p in _weights(model) if p.grad is not None]
    with torch.no_grad():
        norm = sum(float(g.norm()) for _, g in grads)
        saliency = sum(float((g * p).abs().sum()) for p, g in grads)
    return {"grad_norm": _finite(norm, "grad_norm"), "snip": _finite(saliency, "snip")}


def grad_norm(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn = flat_cross_entropy) -> float:
    """grad_norm (Abdelfattah et al. 2021): Σ over weight tensors of ‖∂L/∂W‖₂ on one batch."""
    return gradient_stats(model, x, y, loss_fn)["grad_norm"]


def snip(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn = flat_cross_entropy) -> float:
    """SNIP saliency (Lee et al. 2019): Σ |∂L/∂W ⊙ W| over weight tensors on one batch."""
    return gradient_stats(model, x, y, loss_fn)["snip"]


def _recurrent_output(out: object, module: nn.Module) -> Tensor:
    hidden = out[0] if isinstance(out, tuple) else out
    if isinstance(module, nn.RNNBase) and not module.batch_first and hidden.dim() == 3:
        hidden = hidden.transpose(0, 1)
    return hidden


def hidden_states(model: nn.Module, x: Tensor) -> Tensor:
    """``(B, D)`` hidden states: output of the last-called RNN/LSTM/GRU module, else pre-logit features."""
    recurrent = [m for m in model.modules() if isinstance(m, nn.RNNBase | nn.RNNCellBase)]
    found: list[Tensor] = []

    def rnn_hook(module: nn.Module, _inp: tuple, out: object) -> None:
        found.append(_recurrent_output(out, module))

    def linear_hook(_m: nn.Module, inp: tuple, _out: object) -> None:
        found.append(inp[0])

    linears = [m for m in model.modules() if isinstance(m, nn.Linear)][-1:]
    modules, hook = (recurrent, rnn_hook) if recurrent else (linears, linear_hook)
    model.train()
    with _hooks(modules, hook), torch.no_grad():
        model(x)
    if not found or found[-1].shape[:1] != x.shape[:1]:
        raise ProxyUnavailable("hidden_cov: no per-sample recurrent or pre-logit hidden state")
    return found[-1].reshape(x.shape[0], -1)


def hidden_cov(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn = flat_cross_entropy) -> float:
    """Hidden covariance (Serianni & Kalita 2023): jacob_cov's eigen-score on corrcoef of hidden states."""
    return _eigen_score(hidden_states(model, x))


def params(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn = flat_cross_entropy) -> float:
    """Number of trainable parameters (the baseline every zero-cost proxy paper compares against)."""
    return float(count_params(model))


def flops(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn = flat_cross_entropy) -> float:
    """Forward FLOPs per sample via torch.utils.flop_counter (the FLOPs baseline of the same papers)."""
    return float(count_flops(model, x))


PROXIES: dict[str, Proxy] = {
    "synflow": synflow,
    "nwot": nwot,
    "jacob_cov": jacob_cov,
    "grad_norm": grad_norm,
    "snip": snip,
    "params": params,
    "flops": flops,
}
SEQUENCE_PROXIES: dict[str, Proxy] = {**PROXIES, "hidden_cov": hidden_cov}


def proxy_names(*, sequence: bool) -> list[str]:
    """Names of the proxies :func:`compute_proxies` returns for this kind of task."""
    return list(SEQUENCE_PROXIES if sequence else PROXIES)


_NO_COPY = frozenset({"synflow", "params", "flops"})  # synflow copies itself; the others only read
_GROUPS: dict[str, tuple[tuple[str, ...], Callable[..., dict[str, float]]]] = {
    "grad_norm": (("grad_norm", "snip"), gradient_stats),
    "snip": (("grad_norm", "snip"), gradient_stats),
}


def run_proxy(
    fn: Callable[..., float | dict[str, float]],
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss_fn: LossFn,
    *,
    copy_model: bool = True,
) -> float | dict[str, float]:
    """One proxy (or proxy group) seeded, on a private copy of ``model``; numerical failure -> nan."""
    torch.manual_seed(0)
    try:
        return fn(copy.deepcopy(model) if copy_model else model, x, y, loss_fn)
    except (ArithmeticError, RuntimeError, ValueError) as err:
        log.info("proxy %s failed: %s: %s", getattr(fn, "__name__", fn), type(err).__name__, err)
        return math.nan


def compute_proxies(
    model_factory: ModelFactory | nn.Module,
    x: Tensor,
    y: Tensor,
    loss_fn: LossFn = flat_cross_entropy,
    *,
    sequence: bool,
) -> dict[str, float]:
    """All proxies for one model on one small batch; each sees its own copy of the same init weights.

    ``model_factory`` is called once (or the module is used as is, never modified); grad_norm and
    snip share one backward pass. Values are floats; nan marks a proxy that failed numerically.
    """
    model = model_factory if isinstance(model_factory, nn.Module) else model_factory()
    out: dict[str, float] = {}
    for name, fn in (SEQUENCE_PROXIES if sequence else PROXIES).items():
        if name in out:
            continue
        if name in _GROUPS:
            names, group_fn = _GROUPS[name]
            values = run_proxy(group_fn, model, x, y, loss_fn)
            out |= {n: math.nan for n in names} if isinstance(values, float) else values
        else:
            out[name] = float(run_proxy(fn, model, x, y, loss_fn, copy_model=name not in _NO_COPY))
    return {name: out[name] for name in proxy_names(sequence=sequence)}
