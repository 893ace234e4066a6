"""MNIST-1D, generated procedurally with numpy (Greydanus 2020), never downloaded.

    python -c "from evals.tasks.mnist1d_gen import load_mnist1d; print(load_mnist1d()['x'].shape)"

A re-implementation of `mnist1d.data.make_dataset` with its default arguments:
ten hand-made 12-point templates of the digits are padded with zeros, dilated,
scaled, circularly translated, filled with correlated noise where zero, given
iid noise, sheared, and subsampled to 40 points. The random draws follow the
reference implementation call for call (legacy `RandomState(42)`), so the
arrays match the published generator to floating-point rounding. The result
(4,000 train / 1,000 test) is cached as an `.npz` under `$ARCHAGENT_CACHE` (or
`~/.cache/archagent/data`) after the first generation.

`make_heldout(n, seed)` draws fresh examples of the same process from a secret
seed (`evals/tasks/heldout.py`), scaled like the published set: the task's
validation/test split, which no job can regenerate.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

_TEMPLATES = np.asarray([
    [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
    [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
    [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
    [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
    [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
    [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
    [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
    [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
])


@dataclass(frozen=True)
class Mnist1dArgs:
    """The published defaults of `mnist1d.data.get_dataset_args()`."""

    num_samples: int = 5000
    train_split: float = 0.8
    template_len: int = 12
    padding: tuple[int, int] = (36, 60)
    scale_coeff: float = 0.4
    max_translation: int = 48
    corr_noise_scale: float = 0.25
    iid_noise_scale: float = 2e-2
    shear_scale: float = 0.75
    final_seq_length: int = 40
    seed: int = 42


def templates() -> np.ndarray:
    """(10, 12) whitened digit templates that start and end at 0."""
    x = _TEMPLATES - _TEMPLATES.mean(1, keepdims=True)
    x = x / x.std(1, keepdims=True)
    return (x - x[:, :1]) / 6.0


def interpolate(x: np.ndarray, n: int) -> np.ndarray:
    """Linear resampling of a 1-D signal onto n evenly spaced points."""
    return np.interp(np.linspace(0, 1, n), np.linspace(0, 1, len(x)), x)


def gaussian_smooth(x: np.ndarray, sigma: float = 2.0, truncate: float = 4.0) -> np.ndarray:
    """`scipy.ndimage.gaussian_filter` for 1-D input (mode 'reflect')."""
    radius = int(truncate * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    padded = np.pad(x, radius, mode="symmetric")
    return np.convolve(padded, k / k.sum(), mode="valid")


def transform(x: np.ndarray, args: Mnist1dArgs, rng: np.random.RandomState) -> np.ndarray:
    """One random example from a template; the draws mirror the reference order."""
    low, high = args.padding
    p = low + int(rng.rand() * (high - low + 1))
    x = interpolate(np.concatenate([x + 1e-8, np.zeros(p)]), args.template_len + high)  # pad, dilate
    x = x * (1 + args.scale_coeff * (rng.rand() - 0.5))  # scale
    k = rng.choice(args.max_translation)
    x = np.concatenate([x[-k:], x[:-k]])  # circular translation (k == 0 leaves x as is)
    mask = x != 0
    x = mask * x + (1 - mask) * gaussian_smooth(args.corr_noise_scale * rng.randn(len(x)))
    x = x + args.iid_noise_scale * rng.randn(len(x))
    x = x - args.shear_scale * (rng.rand() - 0.5) * np.linspace(-0.5, 0.5, len(x))  # shear
    return interpolate(x, args.final_seq_length)


def draw(args: Mnist1dArgs, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """`num_samples` unscaled examples, class-balanced, shuffled: (N, 40) float64, (N,) int64."""
    temps = templates()
    per_class = args.num_samples // len(temps)
    xs = [transform(temps[label], args, rng) for label in range(len(temps)) for _ in range(per_class)]
    ys = np.repeat(np.arange(len(temps)), per_class)
    order = rng.permutation(len(ys))
    return np.stack(xs)[order], ys[order]


def make_dataset(args: Mnist1dArgs = Mnist1dArgs()) -> dict[str, np.ndarray]:
    """{'x', 'y', 'x_test', 'y_test'}: float64 (N, 40) signals, int64 labels; also 'scale' = [mean, std]
    of the raw signals (what `make_heldout` scales by)."""
    x, y = draw(args, np.random.RandomState(args.seed))
    mean, std = x.mean(), x.std()
    x = (x - mean) / std
    cut = int(len(y) * args.train_split)
    return {"x": x[:cut], "y": y[:cut], "x_test": x[cut:], "y_test": y[cut:], "scale": np.array([mean, std])}


def make_heldout(n: int, seed: int, scale: np.ndarray, args: Mnist1dArgs = Mnist1dArgs()) -> tuple[np.ndarray,
                                                                                                     np.ndarray]:
    """n fresh examples (rounded up to whole classes, then cut to n) from a 128-bit secret seed, scaled by the
    published set's `scale`: (n, 40) float64, (n,) int64."""
    words = [(seed >> (32 * i)) & 0xFFFFFFFF for i in range(4)]
    per_class = -(-n // 10)
    x, y = draw(replace(args, num_samples=10 * per_class), np.random.RandomState(words))
    return (x[:n] - scale[0]) / scale[1], y[:n]


def cache_dir() -> Path:
    return Path(os.environ.get("ARCHAGENT_CACHE") or Path.home() / ".cache" / "archagent" / "data")


def load_mnist1d(args: Mnist1dArgs = Mnist1dArgs()) -> dict[str, np.ndarray]:
    """The dataset, generated once per argument set and then read from the cache."""
    key = hashlib.blake2b(json.dumps(asdict(args), sort_keys=True).encode(), digest_size=6).hexdigest()
    path = cache_dir() / f"mnist1d-{key}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as f:
            if "scale" in f.files:  # caches written before 'scale' existed are regenerated
                return {k: f[k] for k in f.files}
    data = make_dataset(args)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **data)
    tmp.replace(path)
    return data
