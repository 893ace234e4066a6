"""Run one job in a separate, killable process: the parent side of the sandbox.

By default the process is jailed (`sandbox.jail`, through a one-shot `sandbox.forkserver`);
what follows describes the unsafe `isolation = "process"` path.

    result = SubprocessRunner(limits=SandboxLimits(timeout_s=60)).run(code, job)

The child gets a private temporary directory (removed afterwards), an
allow-listed environment, its own process group, rlimits and a network
namespace (applied by the child itself, `sandbox.isolation`), and a one-time
nonce on stdin. Its stdout+stderr come back through a pipe, capped (the tail is
kept; a flood kills it). After the wall-clock timeout the whole group is
killed; it is killed again on every exit path. The exit code is never trusted
alone: `sandbox.collect` validates the result file and predictions.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from archagent.knowledge.records import FailureKind
from archagent.sandbox.collect import RunResult, collect, failed, read_tail, stamp_isolation
from archagent.sandbox.forkserver import FLOOD_BYTES
from archagent.sandbox.isolation import PROJECT_ROOT, child_env, require_isolation
from archagent.sandbox.limits import SandboxLimits
from archagent.sandbox.protocol import CANDIDATE_FILE, Job

__all__ = ["PROJECT_ROOT", "RunResult", "SubprocessRunner", "child_env", "collect", "failed", "kill_group", "read_tail"]


class OutputTail:
    """Drains a pipe in a thread, keeping only the last `cap` bytes."""

    def __init__(self, stream, cap: int, on_flood):
        self.cap, self.total, self.buf, self.on_flood = cap, 0, bytearray(), on_flood
        self.thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self.thread.start()

    def _drain(self, stream) -> None:
        with stream:
            while chunk := stream.read1(65536):
                self.total += len(chunk)
                self.buf += chunk
                del self.buf[: max(0, len(self.buf) - self.cap)]
                if self.total > FLOOD_BYTES:
                    self.on_flood()
                    break

    def text(self) -> str:
        self.thread.join(timeout=5)
        return bytes(self.buf).decode("utf-8", "replace")

    @property
    def flooded(self) -> bool:
        return self.total > FLOOD_BYTES


class SubprocessRunner:
    """One fresh process per job (simple, slow start: ~1.5 s of `import torch`).

    With `isolation = "jail"` (the default) that process is a one-shot fork server inside a fresh
    bubblewrap jail (`sandbox.jail`); with "process" it is a plain `python -m sandbox.child`."""

    def __init__(self, timeout_s: float | None = None, threads: int = 1, keep_dirs: bool = False,
                 limits: SandboxLimits | None = None):
        limits = limits or SandboxLimits()
        self.limits = limits if timeout_s is None else limits.model_copy(update={"timeout_s": timeout_s})
        self.threads, self.keep_dirs = threads, keep_dirs

    @property
    def timeout_s(self) -> float:
        return self.limits.timeout_s

    def run(self, code: str, job: Job) -> RunResult:
        if require_isolation(self.limits) == "jail":
            return self._run_jailed(code, job)
        job_dir = Path(tempfile.mkdtemp(prefix="archagent-job-"))
        try:
            (job_dir / CANDIDATE_FILE).write_text(code)
            job = job.model_copy(update={"threads": self.threads, "limits": self.limits})
            (job_dir / "job.json").write_text(job.model_dump_json())
            return self._spawn_and_collect(job_dir, job.preds_shapes)
        finally:
            if not self.keep_dirs:
                shutil.rmtree(job_dir, ignore_errors=True)

    def _run_jailed(self, code: str, job: Job) -> RunResult:
        """A one-shot jailed fork server (no warm-up): the same jail and protocol as the warm pool."""
        from archagent.sandbox.forkserver import ForkServer
        from archagent.sandbox.local_executor import run_on_server

        t0 = time.perf_counter()
        with ForkServer(self.threads, self.limits, warm=False) as server:
            result = run_on_server(server, code, job, self.limits, self.threads)
        return replace(result, wall_s=time.perf_counter() - t0)

    def _spawn_and_collect(self, job_dir: Path, expected: dict | None = None) -> RunResult:
        nonce, t0 = secrets.token_hex(16), time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "archagent.sandbox.child", str(job_dir)],
            cwd=job_dir, env=child_env(job_dir, self.threads), start_new_session=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        output = OutputTail(proc.stdout, self.limits.max_output_kb * 1024, lambda: kill_group(proc.pid))
        end = send_nonce_and_wait(proc, nonce, self.limits.timeout_s)
        wall, text = time.perf_counter() - t0, output.text()
        cpu_limit = self.limits.cpu_seconds(self.threads)
        if end.timed_out:
            return failed(FailureKind.TIMEOUT, f"evaluation exceeded {self.limits.timeout_s:g} s wall clock",
                          wall, text)
        if output.flooded:
            return failed(FailureKind.FORBIDDEN, f"printed over {FLOOD_BYTES >> 20} MB to stdout/stderr", wall,
                          text)
        if end.returncode in (-signal.SIGKILL, -signal.SIGXCPU) and end.cpu_s >= cpu_limit - 1:
            return failed(FailureKind.TIMEOUT, f"CPU time limit exceeded ({end.cpu_s:.0f} s > {cpu_limit} s)",
                          wall, text)
        result = collect(job_dir, end.returncode, wall, text, nonce, self.limits, expected)
        return stamp_isolation(result, "process")


@dataclass(frozen=True)
class Exit:
    returncode: int
    timed_out: bool
    cpu_s: float  # user + system CPU seconds of the child


def _reap(pid: int, flags: int) -> Exit | None:
    got, status, usage = os.wait4(pid, flags)
    if not got:
        return None
    return Exit(os.waitstatus_to_exitcode(status), False, usage.ru_utime + usage.ru_stime)


def send_nonce_and_wait(proc: subprocess.Popen, nonce: str, timeout_s: float, poll_s: float = 0.02) -> Exit:
    """Hand over the nonce, wait; on timeout kill the whole group. Always kills the group at the end."""
    deadline = time.monotonic() + timeout_s
    try:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(nonce.encode() + b"\n")
            proc.stdin.close()
        while (end := _reap(proc.pid, os.WNOHANG)) is None:
            if time.monotonic() >= deadline:
                kill_group(proc.pid)
                end = replace(_reap(proc.pid, 0), timed_out=True)
                break
            time.sleep(poll_s)
        proc.returncode = end.returncode  # reaped here: Popen must not wait for it again
        return end
    finally:
        kill_group(proc.pid)  # grandchildren the candidate may have left behind


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
