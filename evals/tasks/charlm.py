"""The built-in `charlm` task: character-level language modelling, metric bits per character.

Corpus: by default `STDLIB_FILES`, a fixed list of the running Python's own
standard-library sources (read from `sysconfig.get_paths()["stdlib"]` in that
order, ~1.4 MB on CPython 3.11; the text differs slightly between Python
versions), or the text file(s) named by the `files` option. Characters map to
`VOCAB` (newline, tab, printable ASCII; anything else shares id 0). The text is
cut into contiguous blocks, 80% train / 10% validation / 10% test, and each block
into non-overlapping chunks of seq_len + 1 characters: inputs are chunk[:-1],
targets chunk[1:]. Because chunks do not overlap, the last target of a window is
never an input of any window, so the child cannot read validation targets
beyond what the causal inputs already show. The child gets `eval_windows`
evenly spaced validation/test windows (inputs only) and returns logits
(N, seq_len, V); bits per character is computed here (lower is better).

    archagent evaluate --task charlm evals/seeds/charlm/transformer.py --json
"""

from __future__ import annotations

import math
import string
import sysconfig
from functools import cache
from pathlib import Path

import numpy as np
from archagent.evals.tasks.base import Recipe, Split, Splits, Task, TaskSpec
from archagent.evals.tasks.seeds import load_seeds

STDLIB_FILES: tuple[str, ...] = (
    "argparse.py", "ast.py", "base64.py", "bisect.py", "calendar.py", "collections/__init__.py",
    "configparser.py", "contextlib.py", "copy.py", "csv.py", "dataclasses.py", "difflib.py", "enum.py",
    "fractions.py", "functools.py", "heapq.py", "inspect.py", "json/__init__.py", "json/decoder.py",
    "json/encoder.py", "logging/__init__.py", "operator.py", "pprint.py", "random.py", "shlex.py", "shutil.py",
    "statistics.py", "string.py", "tempfile.py", "textwrap.py", "threading.py", "tokenize.py", "typing.py",
    "warnings.py",
)
VOCAB: str = "\x00\n\t" + "".join(c for c in string.printable if 32 <= ord(c) < 127)  # id 0: any other char


def stdlib_paths() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return [root / name for name in STDLIB_FILES if (root / name).is_file()]


def encode(text: str) -> np.ndarray:
    """(len(text),) int64 ids in VOCAB; characters outside it become 0."""
    lut = np.zeros(128, np.int64)
    lut[[ord(c) for c in VOCAB[1:]]] = np.arange(1, len(VOCAB))
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return np.where(codes < 128, lut[np.minimum(codes, 127)], 0)


def read_corpus(files: tuple[str, ...] | None) -> str:
    paths = [Path(f).expanduser() for f in files] if files else stdlib_paths()
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        raise FileNotFoundError(f"corpus file(s) not found: {', '.join(missing) or '(none given)'}")
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in paths)


def windows(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping chunks of seq_len + 1 ids → inputs (N, T) and next-char targets (N, T)."""
    n = len(ids) // (seq_len + 1)
    chunks = ids[: n * (seq_len + 1)].reshape(n, seq_len + 1)
    return np.ascontiguousarray(chunks[:, :-1]), np.ascontiguousarray(chunks[:, 1:])


def spread(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k windows evenly spaced over the block (all of them if there are fewer)."""
    idx = np.unique(np.linspace(0, len(x) - 1, min(k, len(x))).round().astype(int))
    return x[idx], y[idx]


@cache
def _charlm_splits(files: tuple[str, ...] | None, seq_len: int, eval_windows: int) -> Splits:
    ids = encode(read_corpus(files))
    a, b = int(0.8 * len(ids)), int(0.9 * len(ids))
    x_tr, y_tr = windows(ids[:a], seq_len)
    x_va, y_va = spread(*windows(ids[a:b], seq_len), eval_windows)
    x_te, y_te = spread(*windows(ids[b:], seq_len), eval_windows)
    if min(len(x_tr), len(x_va), len(x_te)) == 0:
        raise ValueError(f"corpus of {len(ids):,} characters is too short for seq_len {seq_len}")
    return Splits(x_tr, y_tr, x_va, y_va, x_te, y_te)


def bits_per_char(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean next-character cross-entropy in bits: logits (N, T, V), targets (N, T)."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=-1))  # (N, T)
    picked = np.take_along_axis(z, targets[..., None], axis=-1)[..., 0]  # (N, T)
    return float((log_norm - picked).mean() / math.log(2))


class CharLMTask(Task):
    name = "charlm"
    metric_name = "bpc"
    higher_is_better = False

    def __init__(self, files: list[str] | None = None, seq_len: int = 128, eval_windows: int = 256,
                 max_steps: int = 400, batch_size: int = 32, lr: float = 2e-3,
                 max_params: int = 2_000_000, max_flops: int = 1_000_000_000):
        if seq_len < 2 or eval_windows < 1 or max_steps < 1:
            raise ValueError("seq_len must be >= 2, eval_windows and max_steps >= 1")
        self.files = tuple(str(f) for f in files) if files else None
        self.seq_len, self.eval_windows = seq_len, eval_windows
        source = "the given text file(s)" if files else "Python standard-library source code"
        self.description = (f"Character-level language model on {source}: predict the next character at every one "
                            f"of {seq_len} positions (vocabulary {len(VOCAB)}); causal, metric bits per character.")
        self._spec = TaskSpec(
            name="charlm", kind="sequence", in_shape=(seq_len,), n_out=len(VOCAB), input_dtype="int64",
            recipe=Recipe(epochs=1000, batch_size=batch_size, lr=lr, optimizer="adamw", weight_decay=0.01,
                          max_steps=max_steps),
            max_params=max_params, max_flops=max_flops,
        )

    @property
    def spec(self) -> TaskSpec:
        return self._spec

    def splits(self) -> Splits:
        return _charlm_splits(self.files, self.seq_len, self.eval_windows)

    def score(self, preds: np.ndarray, split: Split) -> float:
        s = self.splits()
        return bits_per_char(preds, s.y_val if split == "val" else s.y_test)

    def seeds(self) -> dict[str, str]:
        return load_seeds("charlm")
