"""Known behaviour of the training-free proxies and static features (evals.proxies, evals.features)."""

from __future__ import annotations

import math

import pytest
import torch
from archagent.evals.features import count_flops, count_params, layer_counts, static_features
from archagent.evals.proxies import (
    compute_proxies,
    flat_cross_entropy,
    grad_norm,
    hidden_cov,
    jacob_cov,
    nwot,
    proxy_names,
    snip,
    synflow,
)
from torch import nn

V, T = 20, 12


def digits_batch(b: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(b, 1, 8, 8, generator=g), torch.randint(0, 10, (b,), generator=g)


def token_batch(b: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, V, (b, T), generator=g), torch.randint(0, V, (b, T), generator=g)


def mlp(bias: bool = True, width: int = 64) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, width, bias=bias), nn.ReLU(), nn.Linear(width, width, bias=bias), nn.ReLU(),
        nn.Linear(width, 10, bias=bias),
    )


def cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128, 10)
    )


class LSTMLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb, self.rnn, self.out = nn.Embedding(V, 16), nn.LSTM(16, 32, batch_first=True), nn.Linear(32, V)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(self.emb(x))[0])


class TransformerLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(V, 16), nn.Embedding(T, 16)
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1, batch_first=True)
        self.body, self.out = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), nn.Linear(16, V)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        h = self.tok(x) + self.pos(torch.arange(x.shape[1]))
        return self.out(self.body(h, mask=mask, is_causal=True))


def zero_(module: nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()


def test_synflow_zeroed_layer_is_minus_inf() -> None:
    x, y = digits_batch()
    model = mlp(bias=False)
    healthy = synflow(model, x, y)
    zero_(model[3])
    assert math.isfinite(healthy)
    assert synflow(model, x, y) == -math.inf


def test_synflow_zeroed_layer_with_biases_is_lower() -> None:
    x, y = digits_batch()
    model = mlp()
    healthy = synflow(model, x, y)
    with torch.no_grad():
        model[3].weight.zero_()
    assert synflow(model, x, y) < healthy


def test_synflow_does_not_modify_its_input_model() -> None:
    x, y = digits_batch()
    model = mlp()
    before = [p.clone() for p in model.parameters()]
    synflow(model, x, y)
    assert all(torch.equal(a, b) and b.dtype == torch.float32 for a, b in zip(before, model.parameters(), strict=True))


def test_nwot_lower_when_activations_identical_across_samples() -> None:
    x, y = digits_batch()
    model = mlp()
    healthy = nwot(model, x, y)
    with torch.no_grad():
        model[1].weight.zero_()  # every sample now has the same hidden codes
    assert nwot(model, x, y) < healthy - 10


def test_nwot_grows_with_width() -> None:
    x, y = digits_batch()
    assert nwot(mlp(width=256), x, y) > nwot(mlp(width=8), x, y)


def test_grad_norm_and_snip_zero_when_all_weights_zero() -> None:
    x, y = digits_batch()
    model = mlp()
    zero_(model)
    assert grad_norm(model, x, y) == 0.0
    assert snip(model, x, y) == 0.0
    assert grad_norm(mlp(), x, y) > 0


def test_jacob_cov_degenerate_rows_score_worst() -> None:
    x, y = digits_batch()
    model = mlp()
    healthy = jacob_cov(model, x, y)
    with torch.no_grad():
        model[1].bias.fill_(-100.0)  # all ReLUs dead: zero input-Jacobian for every sample
    assert jacob_cov(model, x, y) < healthy


def test_params_and_flops_exact_on_tiny_nets() -> None:
    lin = nn.Linear(8, 4)
    assert count_params(lin) == 8 * 4 + 4
    assert count_flops(lin, torch.zeros(5, 8)) == 2 * 8 * 4
    conv = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(2 * 8 * 8, 10))
    assert count_params(conv) == 2 * 9 + 128 * 10 + 10
    assert count_flops(conv, torch.zeros(3, 1, 8, 8)) == 2 * (2 * 9 * 64) + 2 * 128 * 10


def test_shared_parameters_counted_once() -> None:
    lin = nn.Linear(4, 4)
    assert count_params(nn.Sequential(lin, lin)) == 20


def test_static_features_layer_counts() -> None:
    feats = static_features(cnn(), digits_batch()[0])
    assert feats["n_conv"] == 1 and feats["n_linear"] == 1 and feats["n_norm"] == 1
    assert feats["n_activation"] == 1 and feats["n_pooling"] == 1 and feats["depth"] == 3
    counts = layer_counts(TransformerLM())
    assert counts["attention"] == 2 and counts["embedding"] == 2 and counts["norm"] == 4
    assert layer_counts(LSTMLM())["recurrent"] == 1


@pytest.mark.parametrize("make", [cnn, mlp])
def test_compute_proxies_classification(make) -> None:
    x, y = digits_batch()
    model = make()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = compute_proxies(model, x, y, sequence=False)
    assert list(out) == proxy_names(sequence=False)
    assert all(math.isfinite(v) for v in out.values()), out
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("make", [LSTMLM, TransformerLM])
def test_compute_proxies_sequence(make) -> None:
    x, y = token_batch()
    out = compute_proxies(make, x, y, flat_cross_entropy, sequence=True)
    assert list(out) == proxy_names(sequence=True) and "hidden_cov" in out
    assert all(math.isfinite(v) for v in out.values()), out


def test_hidden_cov_uses_recurrent_state_and_penalises_constant_state() -> None:
    x, y = token_batch()
    model = LSTMLM()
    healthy = hidden_cov(model, x, y)
    zero_(model.emb)  # every sequence looks the same to the LSTM
    assert hidden_cov(model, x, y) < healthy


def test_jacob_cov_nan_for_token_model_without_embedding() -> None:
    class OneHot(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(V, V)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(nn.functional.one_hot(x, V).float())

    x, y = token_batch()
    out = compute_proxies(OneHot(), x, y, sequence=True)
    assert math.isnan(out["jacob_cov"]) and math.isfinite(out["synflow"])


def test_failing_proxy_returns_nan_not_crash() -> None:
    class Exploding(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(64, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x.flatten(1)) * float("inf")

    x, y = digits_batch()
    out = compute_proxies(Exploding(), x, y, sequence=False)
    assert math.isnan(out["grad_norm"]) and math.isnan(out["snip"]) and out["params"] == 650
