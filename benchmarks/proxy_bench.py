"""How well do the training-free proxies rank digits architectures, and what do they cost?

Builds >= 30 diverse digits models in code (MLP vs CNN, widths, depths, with/without BatchNorm,
deliberately weak ones), trains each with the digits task's own fixed recipe
(``evals.tasks.digits.DigitsTask`` + ``evals.training.train``), scores each untrained init with
``compute_proxies`` on 64 training images, and prints Kendall τ / Spearman ρ against validation
accuracy. Fitted scorers are evaluated out of sample only (leave-one-out and random half splits).

    python -m benchmarks.proxy_bench [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from archagent.evals.features import static_features
from archagent.evals.predictor import MetricPredictor, RankCombiner, kendall_tau, spearman_rho
from archagent.evals.proxies import compute_proxies, proxy_names
from archagent.evals.tasks.digits import DigitsTask
from archagent.evals.training import predict, train
from torch import nn

Factory = Callable[[], nn.Module]


def mlp(widths: list[int], act: type[nn.Module] | None = nn.ReLU, bn: bool = False) -> Factory:
    def build() -> nn.Module:
        layers: list[nn.Module] = [nn.Flatten()]
        prev = 64
        for w in widths:
            layers.append(nn.Linear(prev, w))
            layers += [nn.BatchNorm1d(w)] if bn else []
            layers += [act()] if act else []
            prev = w
        return nn.Sequential(*layers, nn.Linear(prev, 10))

    return build


def cnn(chans: list[int], bn: bool = False, pool: bool = True, gap: bool = False, k: int = 3,
        act: type[nn.Module] | None = nn.ReLU) -> Factory:
    def build() -> nn.Module:
        layers: list[nn.Module] = []
        prev, side = 1, 8
        for i, c in enumerate(chans):
            layers.append(nn.Conv2d(prev, c, k, padding=k // 2))
            layers += [nn.BatchNorm2d(c)] if bn else []
            layers += [act()] if act else []
            if pool and i < 2 and side > 2:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            prev = c
        head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(prev, 10)] if gap else [
            nn.Flatten(), nn.Linear(prev * side * side, 10)]
        return nn.Sequential(*layers, *head)

    return build


def blind() -> nn.Module:
    """Deliberately weak: averages the whole image to one number before classifying."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 32), nn.ReLU(), nn.Linear(32, 10))


def architectures() -> dict[str, Factory]:
    """The benchmark set: 37 models from hopeless to strong."""
    archs: dict[str, Factory] = {"blind_avgpool": blind, "linear": mlp([], None)}
    for w in (2, 4, 8, 16, 32, 64, 128, 256, 512):
        archs[f"mlp_{w}"] = mlp([w])
    archs |= {
        "mlp_128x2": mlp([128, 128]), "mlp_256x2_bn": mlp([256, 256], bn=True), "mlp_64x4": mlp([64] * 4),
        "mlp_32x6": mlp([32] * 6), "mlp_16x8_bn": mlp([16] * 8, bn=True), "mlp_128_2_128": mlp([128, 2, 128]),
        "mlp_128_4_128_bn": mlp([128, 4, 128], bn=True), "mlp_deep_linear": mlp([128, 128, 128], None),
        "mlp_sigmoid_x8": mlp([32] * 8, nn.Sigmoid), "mlp_tanh_64x2": mlp([64, 64], nn.Tanh),
        "mlp_gelu_256_bn": mlp([256], nn.GELU, bn=True),
    }
    archs |= {
        "cnn_2": cnn([2]), "cnn_4": cnn([4]), "cnn_8": cnn([8]), "cnn_16_bn": cnn([16], bn=True),
        "cnn_16_32": cnn([16, 32]), "cnn_32_64_bn": cnn([32, 64], bn=True), "cnn_8x4": cnn([8] * 4),
        "cnn_4x6_bn": cnn([4] * 6, bn=True), "cnn_32_gap": cnn([32], gap=True), "cnn_16_32_64_gap_bn":
        cnn([16, 32, 64], bn=True, gap=True), "cnn_1_nopool": cnn([1], pool=False), "cnn_linear_16_32":
        cnn([16, 32], act=None), "cnn_64_k5_bn": cnn([64], bn=True, k=5), "cnn_2x4_gap": cnn([2] * 4, gap=True),
        "cnn_32_nopool": cnn([32], pool=False),
    }
    return archs


@dataclass
class Result:
    name: str
    accuracy: float
    proxies: dict[str, float]
    features: dict[str, float]
    proxy_s: float
    train_s: float


def evaluate_one(name: str, factory: Factory, task: DigitsTask, seed: int) -> Result:
    """Init with a fixed seed, score the init with all proxies, then train that same init."""
    s = task.splits()
    xb, yb = torch.from_numpy(s.x_train[:64]), torch.from_numpy(s.y_train[:64])
    torch.manual_seed(seed)
    model = factory()
    t0 = time.perf_counter()
    proxies = compute_proxies(model, xb, yb, sequence=False)
    t1 = time.perf_counter()
    train(model, s.x_train, s.y_train, task.spec)
    t2 = time.perf_counter()
    acc = task.score(predict(model, s.x_val), "val")
    return Result(name, acc, proxies, static_features(factory(), xb), t1 - t0, t2 - t1)


def loo_scores(rows: list[dict[str, float]], y: list[float], make: Callable) -> list[float]:
    """Out-of-sample score of each point from a scorer fitted on all the other points."""
    out = []
    for i in range(len(rows)):
        rest = [j for j in range(len(rows)) if j != i]
        out.append(make([rows[j] for j in rest], [y[j] for j in rest], [rows[i]])[0])
    return out


def split_taus(rows: list[dict[str, float]], y: list[float], make: Callable, reps: int = 20) -> float:
    """Mean τ on the held-out half over random half/half splits."""
    rng, taus = np.random.default_rng(0), []
    for _ in range(reps):
        perm = rng.permutation(len(rows))
        fit_i, test_i = perm[: len(rows) // 2], perm[len(rows) // 2 :]
        pred = make([rows[j] for j in fit_i], [y[j] for j in fit_i], [rows[j] for j in test_i])
        taus.append(kendall_tau(pred, [y[j] for j in test_i]))
    return float(np.nanmean(taus))


def combiner_make(rows, y, new):
    return RankCombiner().fit(rows, y).score(new)


def predictor_make(rows, y, new):
    return MetricPredictor().fit(rows, y).predict(new)


def report(results: list[Result]) -> dict[str, float]:
    """Print and return the τ/ρ table and the cost of scoring relative to training."""
    acc = [r.accuracy for r in results]
    rows = [r.proxies for r in results]
    table: dict[str, tuple[float, float]] = {
        n: (kendall_tau([p[n] for p in rows], acc), spearman_rho([p[n] for p in rows], acc))
        for n in proxy_names(sequence=False)
    }
    default = RankCombiner().score(rows)
    table["combined (default weights, unfitted)"] = (kendall_tau(default, acc), spearman_rho(default, acc))
    loo = loo_scores(rows, acc, combiner_make)
    table["combined (RankCombiner, leave-one-out)"] = (kendall_tau(loo, acc), spearman_rho(loo, acc))
    feat_rows = [{**r.proxies, **{f"f_{k}": v for k, v in r.features.items()}} for r in results]
    loo_p = loo_scores(feat_rows, acc, predictor_make)
    table["MetricPredictor (random forest, leave-one-out)"] = (kendall_tau(loo_p, acc), spearman_rho(loo_p, acc))
    print(f"\n{'scorer':44s} {'kendall_tau':>11s} {'spearman':>9s}")
    for name, (tau, rho) in table.items():
        print(f"{name:44s} {tau:11.3f} {rho:9.3f}")
    halves = {"combined": split_taus(rows, acc, combiner_make), "predictor": split_taus(feat_rows, acc, predictor_make)}
    print(f"held-out-half mean τ (20 splits): combiner {halves['combined']:.3f}, predictor {halves['predictor']:.3f}")
    cost = [100 * r.proxy_s / r.train_s for r in results]
    print(f"proxy cost / training time: median {statistics.median(cost):.2f}%, max {max(cost):.2f}%")
    return {**{k: v[0] for k, v in table.items()}, **{f"halves_{k}": v for k, v in halves.items()},
            "cost_median_pct": statistics.median(cost), "cost_max_pct": max(cost)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both scoring and training")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write per-architecture results and the summary here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    task, archs = DigitsTask(), architectures()
    compute_proxies(mlp([8])(), torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long), sequence=False)
    results = []
    for name, factory in archs.items():
        r = evaluate_one(name, factory, task, args.seed)
        results.append(r)
        print(f"{name:22s} acc={r.accuracy:.3f} params={r.features['params']:>8.0f} "
              f"proxy={1000 * r.proxy_s:6.1f}ms train={r.train_s:5.2f}s", flush=True)
    summary = report(results)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"summary": summary, "results": [r.__dict__ for r in results]}, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
