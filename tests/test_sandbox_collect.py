"""The parent's validation of what a child left behind: forged, oversized or tampered results fail.

    pytest tests/test_sandbox_collect.py -q

Real files in a real job directory; `collect` is the code under test.
"""

from __future__ import annotations

import hashlib
import io
import json
import signal
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from archagent.knowledge.records import FailureKind
from archagent.sandbox.collect import collect
from archagent.sandbox.predsfile import MAGIC, encode
from archagent.sandbox.protocol import MAX_REPORT_BYTES, PREDS_FILE, RESULT_FILE, VIOLATIONS_FILE, ChildReport

NONCE = "0123456789abcdef0123456789abcdef"


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def record(name: str, header_and_data: bytes) -> bytes:
    return struct.pack("<H", len(name)) + name.encode() + header_and_data


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    return buf.getvalue()


def write_job(job_dir: Path, preds: bytes = b"", nonce: str | None = NONCE, **fields) -> None:
    sha = hashlib.sha256(preds).hexdigest() if preds else None
    report = ChildReport(ok=True, params=10, nonce=nonce, preds_sha256=sha, **fields)
    (job_dir / RESULT_FILE).write_text(report.model_dump_json())
    (job_dir / PREDS_FILE).write_bytes(preds)


def test_a_genuine_report_and_its_predictions_come_back(tmp_path):
    write_job(tmp_path, encode({"val": np.ones((3, 10), np.float32), "test": np.zeros((2, 10), np.float32)}))
    result = collect(tmp_path, 0, 1.0, "", NONCE, expected={"val": (3, 10), "test": (2, 10)})
    assert result.report.ok and result.preds["val"].shape == (3, 10) and result.preds["val"].dtype == np.float32
    assert not result.preds["val"].flags.writeable  # a view of the bytes received, not a copy


@pytest.mark.parametrize("nonce", [None, "f" * 32])
def test_a_report_without_this_runs_nonce_is_forged(tmp_path, nonce):
    write_job(tmp_path, nonce=nonce)
    result = collect(tmp_path, 0, 1.0, "", NONCE)
    assert result.report.failure_kind == FailureKind.FORBIDDEN and "nonce" in result.report.failure_msg


def test_predictions_replaced_after_the_report_are_rejected(tmp_path):
    write_job(tmp_path, encode({"val": np.ones((3, 10), np.float32)}))
    (tmp_path / PREDS_FILE).write_bytes(encode({"val": np.eye(3, 10, dtype=np.float32)}))
    result = collect(tmp_path, 0, 1.0, "", NONCE)
    assert result.report.failure_kind == FailureKind.FORBIDDEN and not result.preds


def test_pickled_predictions_are_never_unpickled(tmp_path):
    write_job(tmp_path, MAGIC + record("val", npy(np.array([object(), {"a": 1}], dtype=object))))
    result = collect(tmp_path, 0, 1.0, "", NONCE)
    assert result.report.failure_kind == FailureKind.FORBIDDEN and "dtype object" in result.report.failure_msg


def zip_bomb(tmp_path: Path) -> bytes:
    """A ~1 MB compressed .npz that inflates to 1 GB (what np.load would have decompressed)."""
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, zf.open("val.npy", "w",
                                                                                        force_zip64=True) as fh:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (2**28,)})
        fh.write(header.getvalue())
        zeros = bytes(2**24)
        for _ in range(2**30 // len(zeros)):
            fh.write(zeros)
    return path.read_bytes()


@pytest.mark.parametrize("make, kind, needle", [
    (lambda tmp: zip_bomb(tmp), FailureKind.FORBIDDEN, "wrong magic"),
    (lambda tmp: npz_bytes(val=np.zeros((3, 10), np.float32)), FailureKind.FORBIDDEN, "wrong magic"),
    (lambda tmp: MAGIC + record("val", npy(np.array(["1.0"] * 30).reshape(3, 10))), FailureKind.FORBIDDEN, "<U3"),
    (lambda tmp: MAGIC + record("val", npy(np.zeros((3, 10), ">f4"))), FailureKind.FORBIDDEN, ">f4"),
    (lambda tmp: MAGIC + record("val", npy(np.zeros((3, 10), np.float64))), FailureKind.FORBIDDEN, "float64"),
    (lambda tmp: MAGIC + record("val", npy(np.zeros((3, 10), np.float32))[:-8]), FailureKind.FORBIDDEN, "left"),
    (lambda tmp: encode({"val": np.zeros((3, 10))}) + record("test", npy(np.zeros((2, 10), np.float32))[:-20]),
     FailureKind.FORBIDDEN, "left"),
    (lambda tmp: MAGIC + record("evil", npy(np.zeros(3, np.float32))), FailureKind.FORBIDDEN, "unexpected"),
    (lambda tmp: encode({"val": np.zeros((3, 10)), "test": np.zeros((2, 9))}), FailureKind.SHAPE, "(2, 9)"),
    (lambda tmp: encode({"val": np.zeros((3, 10))}), FailureKind.SHAPE, "no test predictions"),
])
def test_hostile_prediction_files_are_refused_from_their_headers(tmp_path, make, kind, needle):
    """Compressed, string, big-endian, wrong-width, truncated or mis-shaped arrays: refused before any data is
    read, in bounded memory (the zip below inflates ~1000x)."""
    write_job(tmp_path, make(tmp_path))
    tracemalloc.start()
    t0 = time.perf_counter()
    result = collect(tmp_path, 0, 1.0, "", NONCE, expected={"val": (3, 10), "test": (2, 10)})
    seconds, (_, peak) = time.perf_counter() - t0, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.report.failure_kind == kind and needle in result.report.failure_msg, result.report.failure_msg
    assert peak < 64 * 2**20 and seconds < 5


def test_oversized_or_unknown_fields_in_the_report_are_rejected(tmp_path):
    (tmp_path / RESULT_FILE).write_text(json.dumps({"ok": True, "metric": 1.0, "nonce": NONCE}))
    assert not collect(tmp_path, 0, 1.0, "", NONCE).report.ok
    (tmp_path / RESULT_FILE).write_bytes(b" " * (MAX_REPORT_BYTES + 1))
    assert not collect(tmp_path, 0, 1.0, "", NONCE).report.ok


def test_a_valid_report_with_a_bad_exit_status_is_not_trusted(tmp_path):
    write_job(tmp_path)
    result = collect(tmp_path, -signal.SIGSEGV, 1.0, "", NONCE)
    assert result.report.failure_kind == FailureKind.CRASH and "SIGSEGV" in result.report.failure_msg


@pytest.mark.parametrize("code, output, kind", [
    (-signal.SIGXCPU, "", FailureKind.TIMEOUT),
    (-signal.SIGKILL, "", FailureKind.MEMORY),
    (1, "Traceback...\nMemoryError", FailureKind.MEMORY),
    (1, "Traceback...\nValueError: boom", FailureKind.CRASH),
    (0, "", FailureKind.FORBIDDEN),  # status 0 and no report: an early exit
])
def test_deaths_without_a_report_get_a_kind(tmp_path, code, output, kind):
    assert collect(tmp_path, code, 1.0, output, NONCE).report.failure_kind == kind


def test_guard_violations_logged_before_an_abrupt_exit_are_reported(tmp_path):
    (tmp_path / VIOLATIONS_FILE).write_text("os.kill(4242, 9)\n")
    result = collect(tmp_path, -signal.SIGKILL, 1.0, "", NONCE)
    assert result.report.failure_kind == FailureKind.FORBIDDEN and "os.kill" in result.report.failure_msg


def test_fifos_and_symlinks_in_the_job_dir_never_block_or_redirect_the_reader(tmp_path):
    """A FIFO at result.json would block a plain open() forever; a symlink would read a file the child chose."""
    import os
    import threading

    from archagent.sandbox.collect import read_job_files, read_tail

    secret = tmp_path / "secret.txt"
    secret.write_text('{"ok": true}')
    job = tmp_path / "job"
    job.mkdir()
    os.mkfifo(job / RESULT_FILE)
    os.symlink(secret, job / PREDS_FILE)
    os.mkfifo(job / "output.log")
    got: dict = {}
    reader = threading.Thread(target=lambda: got.update(files=read_job_files(job), tail=read_tail(job / "output.log")))
    reader.start()
    reader.join(timeout=5)
    assert not reader.is_alive(), "the parent blocked on a FIFO the child made"
    assert got["files"][RESULT_FILE] is None and got["files"][PREDS_FILE] is None and got["tail"] == ""
    result = collect(job, 0, 1.0, "", NONCE)
    assert not result.report.ok and "without a valid report" in result.report.failure_msg
