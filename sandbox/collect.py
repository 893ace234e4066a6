"""Turn what a finished child left behind into a validated `RunResult`.

Trusts nothing: files are read with `read_untrusted` (no symlinks, no FIFOs, regular
files under a size cap, under a timeout: the parent never blocks on what the child
made), the exit status is only a hint; the report must be a small,
schema-valid `ChildReport` carrying this run's nonce, and predictions count
only if their bytes hash to what that report vouches for and every array's
header (dtype, shape) passes `sandbox.predsfile.decode` before its data is mapped
(no compression, no pickle, no strings: a job's output is hostile bytes).
"""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from archagent.knowledge.records import FailureKind
from archagent.sandbox.limits import SandboxLimits
from archagent.sandbox.predsfile import PredsError, PredsShapeError, Shape, decode
from archagent.sandbox.protocol import (
    MAX_PREDS_BYTES,
    MAX_REPORT_BYTES,
    PREDS_FILE,
    RESULT_FILE,
    VIOLATIONS_FILE,
    ChildReport,
)
from pydantic import ValidationError


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


JobFiles = Mapping[str, "bytes | None"]  # what a child left in its job dir: name -> bytes (None: absent/refused)
RETURNED = {RESULT_FILE: MAX_REPORT_BYTES, PREDS_FILE: MAX_PREDS_BYTES, VIOLATIONS_FILE: 64 * 1024}
READ_TIMEOUT_S = 10.0


def read_untrusted(path: Path, cap: int, tail: bool = False, timeout_s: float = READ_TIMEOUT_S) -> bytes | None:
    """A file the child made, read without trusting it: None if missing, a symlink, not a regular file
    (FIFO, device, directory) or over `cap` bytes (with `tail`: only its last `cap` bytes are read).
    Opened with O_NOFOLLOW | O_NONBLOCK, so neither a link nor a FIFO can redirect or block the reader."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (info.st_size > cap and not tail):
            return None
        if tail:
            os.lseek(fd, max(0, info.st_size - cap), os.SEEK_SET)
        return _read_bounded(fd, cap, time.monotonic() + timeout_s)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_bounded(fd: int, cap: int, deadline: float) -> bytes | None:
    chunks, total = [], 0
    while chunk := os.read(fd, min(1 << 20, cap + 1 - total) or 1):
        chunks.append(chunk)
        total += len(chunk)
        if total > cap or time.monotonic() > deadline:
            return None  # grew while being read, or too slow: refuse rather than wait
    return b"".join(chunks)


def read_job_files(job_dir: Path) -> dict[str, bytes | None]:
    """The files a child may return, each read with `read_untrusted` under its size cap."""
    return {name: read_untrusted(job_dir / name, cap) for name, cap in RETURNED.items()}


def read_capped(path: Path, cap: int) -> bytes | None:
    """The file's bytes, or None if it is missing, not a regular file, or larger than cap."""
    return read_untrusted(path, cap)


def read_tail(path: Path, limit: int = 64 * 1024) -> str:
    """The last `limit` bytes of a log file as text ("" if it is missing or not a regular file)."""
    return (read_untrusted(path, limit, tail=True) or b"").decode("utf-8", "replace")


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


def parse_report(files: JobFiles, nonce: str | None) -> ChildReport | str:
    data = files.get(RESULT_FILE)
    if not data:
        return "no result file (or one over the size cap)"
    try:
        report = ChildReport.model_validate_json(data)
    except ValidationError as err:
        return f"malformed result file: {err.errors()[0]['msg']}"
    if nonce is not None and report.nonce != nonce:
        return "result file not written by this run's child (nonce mismatch)"
    return report


def collect(source: Path | JobFiles, returncode: int, wall: float, output: str, nonce: str | None = None,
            limits: SandboxLimits | None = None, expected: Mapping[str, Shape] | None = None) -> RunResult:
    """Validate the child's result file and predictions; anything off is a failure.

    Pass the nonce handed to the child: without it (legacy callers) a forged report
    is not detected, only its predictions are still checked against their hash.
    `expected` ({split: shape}, `Job.preds_shapes`) is checked on each header before its data is mapped.
    """
    limits = limits or SandboxLimits()
    files = read_job_files(source) if isinstance(source, Path) else source
    report = parse_report(files, nonce)
    if isinstance(report, str) and (attempts := logged_violations(files)):
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
    preds = load_preds(files, report.preds_sha256, expected)
    if isinstance(preds, tuple):
        return failed(*preds, wall, output)
    return RunResult(report, preds, wall, output)


def logged_violations(files: JobFiles) -> list[str]:
    data = files.get(VIOLATIONS_FILE) or b""
    return [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


def load_preds(files: JobFiles, sha256: str | None,
               expected: Mapping[str, Shape] | None = None) -> dict[str, np.ndarray] | tuple[FailureKind, str]:
    """Arrays the report vouches for (read-only views of the bytes, headers checked first), or
    (failure kind, why not): a wrong shape is `shape`, a file `encode` would never write is `forbidden`."""
    if sha256 is None:
        return {}
    data = files.get(PREDS_FILE)
    if data is None or hashlib.sha256(data).hexdigest() != sha256:
        return FailureKind.FORBIDDEN, "predictions file does not match the report (replaced or oversized)"
    try:
        return decode(data, expected)
    except PredsShapeError as err:
        return FailureKind.SHAPE, str(err)
    except PredsError as err:
        return FailureKind.FORBIDDEN, f"unusable predictions file: {err}"


def stamp_isolation(result: RunResult, isolation: str) -> RunResult:
    """Record, from the parent's side (never the child's claim), which isolation the job ran under:
    `report.isolation["jail"]`, and `timings["isolation_jail"]` (1.0 / 0.0) which the store keeps per candidate."""
    jailed = isolation == "jail"
    rep = result.report
    report = rep.model_copy(update={"isolation": {**rep.isolation, "jail": jailed},
                                    "timings": {**rep.timings, "isolation_jail": float(jailed)}})
    return replace(result, report=report)
