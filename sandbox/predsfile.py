"""The predictions file: uncompressed arrays whose headers the parent checks before it touches the data.

    blob = encode({"val": v, "test": t})                       # child side (sandbox/child.py)
    arrays = decode(blob, {"val": (500, 10), "test": (1000, 10)})  # parent side (sandbox/collect.py)

The bytes come from a job that may have arbitrary code execution, so the format is
chosen for the reader: no compression (a 2 MB zip can inflate to gigabytes), no
pickle, no object or string dtypes. The file is `MAGIC`, then per array a 2-byte
name length, the name, and one `.npy` record (numpy's own header, then the raw
C-order data). `decode` reads each header (dtype, order, shape) with numpy's
header reader, checks the dtype against `DTYPES`, the shape against what the
parent expects, and the byte count against what is left, and only then maps the
data: `np.frombuffer`, a read-only view of the bytes already held (no copy, no
inflation). Anything else raises `PredsError` with one line.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Mapping

import numpy as np

MAGIC = b"ARCHPREDS1\n"
DTYPES = {"val": np.dtype("<f4"), "test": np.dtype("<f4"), "weights": np.dtype("u1"), "onnx": np.dtype("u1")}
MAX_HEADER = 1024  # bytes of one .npy header dict (a real one takes ~120)
Shape = tuple[int, ...]


class PredsError(ValueError):
    """A predictions file the parent refuses (one line): not what `encode` writes, so a forgery."""


class PredsShapeError(PredsError):
    """Well-formed, but an array has another shape than the parent expects (an honest model can do that)."""


def encode(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The file for `arrays` (names from `DTYPES`; cast to their dtype, C order)."""
    out = io.BytesIO()
    out.write(MAGIC)
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr, dtype=DTYPES[name])
        out.write(struct.pack("<H", len(name)) + name.encode("ascii"))
        np.lib.format.write_array(out, arr, allow_pickle=False)
    return out.getvalue()


def decode(data: bytes, expected: Mapping[str, Shape] | None = None) -> dict[str, np.ndarray]:
    """Read-only arrays from `data`; every header is checked before its data is mapped.

    `expected`: {name: shape} the parent requires (a name there must be present with that shape)."""
    if not data.startswith(MAGIC):
        raise PredsError("not a predictions file (wrong magic: compressed or foreign formats are refused)")
    view, offset, arrays = memoryview(data), len(MAGIC), {}
    while offset < len(data):
        name, offset = _read_name(view, offset, arrays)
        dtype, shape, offset = _read_header(data, offset, name)
        want = (expected or {}).get(name)
        if want is not None and shape != tuple(want):
            raise PredsShapeError(f"{name} predictions have shape {shape}, expected {tuple(want)}")
        count = math.prod(shape)
        if count * dtype.itemsize > len(data) - offset:
            raise PredsError(f"{name}: header promises {count * dtype.itemsize:,} bytes, "
                             f"{len(data) - offset:,} are left")
        arrays[name] = np.frombuffer(data, dtype, count, offset).reshape(shape)
        offset += count * dtype.itemsize
    missing = [k for k in (expected or {}) if k not in arrays]
    if missing:
        raise PredsShapeError(f"no {missing[0]} predictions in the file")
    return arrays


def _read_name(view: memoryview, offset: int, seen: dict) -> tuple[str, int]:
    if offset + 2 > len(view):
        raise PredsError("truncated predictions file")
    (size,) = struct.unpack_from("<H", view, offset)
    raw = bytes(view[offset + 2 : offset + 2 + size])
    name = raw.decode("ascii", "replace")
    if name not in DTYPES or name in seen:
        raise PredsError(f"unexpected or repeated array {name[:40]!r} in the predictions file")
    return name, offset + 2 + size


def _read_header(data: bytes, offset: int, name: str) -> tuple[np.dtype, Shape, int]:
    """numpy's own header reader on a window of the bytes (its size is bounded by MAX_HEADER)."""
    fp = io.BytesIO(data[offset : offset + 12 + MAX_HEADER])
    try:
        major, _ = np.lib.format.read_magic(fp)
        if major not in (1, 2):
            raise ValueError(f"unsupported .npy version {major}")
        reader = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(fp, max_header_size=MAX_HEADER)
    except (ValueError, TypeError, SyntaxError, struct.error, EOFError) as err:
        raise PredsError(f"{name}: unreadable array header ({str(err)[:200]})") from None
    if fortran or dtype != DTYPES[name] or dtype.hasobject:
        raise PredsError(f"{name}: dtype {dtype} (fortran order {fortran}), expected {DTYPES[name]} in C order")
    if any(d < 0 for d in shape):
        raise PredsError(f"{name}: negative dimension in shape {shape}")
    return dtype, tuple(int(d) for d in shape), offset + fp.tell()
