"""Turn what a finished child left behind into a validated `RunResult`.

Trusts nothing: the exit status is only a hint; the report must be a small,
schema-valid `ChildReport` carrying this run's nonce, and predictions count
only if their bytes hash to what that report vouches for and they load
without pickle.
"""

from __future__ import annotations

import hashlib
import io
import signal
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from knowledge.records import FailureKind
from sandbox.artifacts import ARTIFACT_KEYS
from sandbox.limits import SandboxLimits
from sandbox.protocol import (
    MAX_PREDS_BYTES,
    MAX_REPORT_BYTES,
    PREDS_FILE,
    RESULT_FILE,
    VIOLATIONS_FILE,
    ChildReport,
)


@dataclass(frozen=True)
class RunResult:
    """What came back from one sandboxed job, already validated."""

    report: ChildReport
    preds: dict[str, np.ndarray] = field(default_factory=dict)
    wall_s: float = 0.0
    stderr_tail: str = ""  # stdout+stderr, the last max_output_kb


def failed(kind: FailureKind, msg: str, wall_s: float = 0.0, output: str = "") -> RunResult:
    return RunResult(ChildReport(ok=False, failure_kind=kind, failure_msg=msg[:4000]), wall_s=wall_s,
                     stderr_tail=output)


def read_capped(path: Path, cap: int) -> bytes | None:
    """The file's bytes, or None if it is missing or larger than cap."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(cap + 1)
    except (FileNotFoundError, IsADirectoryError):
        return None
    return data if len(data) <= cap else None


def read_tail(path: Path, limit: int = 64 * 1024) -> str:
    """The last `limit` bytes of a log file as text ("" if it is missing)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - limit))
            return fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def death_cause(returncode: int, output: str, limits: SandboxLimits) -> tuple[FailureKind, str]:
    """Why a child exited without a valid report."""
    last = (output.strip().splitlines() or [""])[-1][:300]
    if returncode == 0:
        return FailureKind.FORBIDDEN, "the process exited with status 0 without a valid report (early exit)"
    if returncode == -signal.SIGXCPU:
        return FailureKind.TIMEOUT, f"CPU time limit ({limits.cpu_s or 'default'} s) exceeded"
    if returncode == -signal.SIGKILL:
        return FailureKind.MEMORY, f"killed (SIGKILL): memory or CPU hard limit; {last}".rstrip("; ")
    if returncode == -signal.SIGXFSZ:
        return FailureKind.RUNTIME, f"wrote a file over the {limits.max_file_mb} MB limit"
    if returncode < 0:
        return FailureKind.CRASH, f"the evaluation process died of {signal.Signals(-returncode).name}"
    if "MemoryError" in last or "can't allocate memory" in last:
        return FailureKind.MEMORY, f"out of memory: {last}"
    return FailureKind.CRASH, f"the evaluation process died (exit status {returncode}): {last}"


def parse_report(job_dir: Path, nonce: str | None) -> ChildReport | str:
    data = read_capped(job_dir / RESULT_FILE, MAX_REPORT_BYTES)
    if not data:
        return "no result file (or one over the size cap)"
    try:
        report = ChildReport.model_validate_json(data)
    except ValidationError as err:
        return f"malformed result file: {err.errors()[0]['msg']}"
    if nonce is not None and report.nonce != nonce:
        return "result file not written by this run's child (nonce mismatch)"
    return report


def collect(job_dir: Path, returncode: int, wall: float, output: str, nonce: str | None = None,
            limits: SandboxLimits | None = None) -> RunResult:
    """Validate the child's result file and predictions; anything off is a failure.

    Pass the nonce handed to the child: without it (legacy callers) a forged report
    is not detected, only its predictions are still checked against their hash.
    """
    limits = limits or SandboxLimits()
    report = parse_report(job_dir, nonce)
    if isinstance(report, str) and (attempts := logged_violations(job_dir)):
        return failed(FailureKind.FORBIDDEN, f"sandbox violation: {attempts[0]} (then: {report})", wall, output)
    if isinstance(report, str):
        if returncode == 0 and "nonce" in report:
            return failed(FailureKind.FORBIDDEN, report, wall, output)
        kind, msg = death_cause(returncode, output, limits)
        return failed(kind, msg, wall, output)
    if returncode != 0:
        kind, msg = death_cause(returncode, output, limits)
        return failed(kind, msg, wall, output)
    if not report.ok:
        return RunResult(report, {}, wall, output)
    preds = load_preds(job_dir, report.preds_sha256)
    if isinstance(preds, str):
        return failed(FailureKind.FORBIDDEN, preds, wall, output)
    return RunResult(report, preds, wall, output)


def logged_violations(job_dir: Path) -> list[str]:
    data = read_capped(job_dir / VIOLATIONS_FILE, 64 * 1024) or b""
    return [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


def load_preds(job_dir: Path, sha256: str | None) -> dict[str, np.ndarray] | str:
    """Arrays the report vouches for, or why they are unusable."""
    if sha256 is None:
        return {}
    data = read_capped(job_dir / PREDS_FILE, MAX_PREDS_BYTES)
    if data is None or hashlib.sha256(data).hexdigest() != sha256:
        return "predictions file does not match the report (replaced or oversized)"
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: np.asarray(npz[k]) for k in ("val", "test", *ARTIFACT_KEYS) if k in npz.files}
    except (ValueError, OSError) as err:
        return f"unreadable predictions file: {err}"
