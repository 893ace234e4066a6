"""Run one job in a separate, killable process: the parent side of the sandbox.

The child gets a private temporary directory, a scrubbed environment, its own
process group and a wall-clock timeout after which the whole group is killed.
Its result file is size-capped and schema-validated; predictions are loaded
with allow_pickle=False. Nothing the child writes is ever executed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from knowledge.records import FailureKind
from sandbox.protocol import CANDIDATE_FILE, MAX_REPORT_BYTES, ChildReport, Job

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_ALLOW = ("PATH", "LANG", "LC_ALL", "TZ")
MAX_LOG_BYTES = 64 * 1024


@dataclass(frozen=True)
class RunResult:
    """What came back from one sandboxed job, already validated."""

    report: ChildReport
    preds: dict[str, np.ndarray] = field(default_factory=dict)
    wall_s: float = 0.0
    stderr_tail: str = ""


def child_env(job_dir: Path, threads: int) -> dict[str, str]:
    env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
    env.update(HOME=str(job_dir), TMPDIR=str(job_dir), PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=str(PROJECT_ROOT), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def failed(kind: FailureKind, msg: str, wall_s: float = 0.0, stderr: str = "") -> RunResult:
    return RunResult(ChildReport(ok=False, failure_kind=kind, failure_msg=msg[:4000]), wall_s=wall_s,
                     stderr_tail=stderr)


class SubprocessRunner:
    """One fresh Python process per job (simple, slow start: ~1.5 s of `import torch`)."""

    def __init__(self, timeout_s: float = 300.0, threads: int = 1, keep_dirs: bool = False):
        self.timeout_s, self.threads, self.keep_dirs = timeout_s, threads, keep_dirs

    def run(self, code: str, job: Job) -> RunResult:
        job_dir = Path(tempfile.mkdtemp(prefix="archagent-job-"))
        try:
            (job_dir / CANDIDATE_FILE).write_text(code)
            (job_dir / "job.json").write_text(job.model_copy(update={"threads": self.threads}).model_dump_json())
            return self._spawn_and_collect(job_dir)
        finally:
            if not self.keep_dirs:
                shutil.rmtree(job_dir, ignore_errors=True)

    def _spawn_and_collect(self, job_dir: Path) -> RunResult:
        t0 = time.perf_counter()
        with open(job_dir / "stderr.log", "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sandbox.child", str(job_dir)],
                cwd=job_dir, env=child_env(job_dir, self.threads),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
            )
            timed_out = wait_or_kill(proc, self.timeout_s)
        wall = time.perf_counter() - t0
        stderr = read_tail(job_dir / "stderr.log")
        if timed_out:
            return failed(FailureKind.TIMEOUT, f"evaluation exceeded {self.timeout_s:.0f} s wall clock", wall, stderr)
        return collect(job_dir, proc.returncode, wall, stderr)


def wait_or_kill(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Wait for the child; on timeout kill its whole process group. True if it timed out."""
    try:
        proc.wait(timeout=timeout_s)
        return False
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        proc.wait()
        return True
    finally:
        kill_group(proc.pid)  # reap grandchildren the candidate may have left behind


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def read_tail(path: Path, limit: int = MAX_LOG_BYTES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - limit))
            return fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def collect(job_dir: Path, returncode: int, wall: float, stderr: str) -> RunResult:
    """Validate the child's result file and predictions; anything off is a failure."""
    result = job_dir / "result.json"
    if returncode != 0 or not result.is_file():
        kind = FailureKind.MEMORY if returncode == -signal.SIGKILL else FailureKind.CRASH
        last = stderr.strip().splitlines()[-1:] or [f"exit status {returncode}"]
        return failed(kind, f"the evaluation process died: {last[0][:300]}", wall, stderr)
    if result.stat().st_size > MAX_REPORT_BYTES:
        return failed(FailureKind.CRASH, "result file over the size cap", wall, stderr)
    try:
        report = ChildReport.model_validate_json(result.read_bytes())
    except ValidationError as err:
        return failed(FailureKind.CRASH, f"malformed result file: {err.errors()[0]['msg']}", wall, stderr)
    return RunResult(report, load_preds(job_dir) if report.ok else {}, wall, stderr)


def load_preds(job_dir: Path) -> dict[str, np.ndarray]:
    path = job_dir / "preds.npz"
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.asarray(data[k]) for k in ("val", "test") if k in data.files}
    except (ValueError, OSError):
        return {}
