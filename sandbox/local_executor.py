"""The default executor: N worker threads, each driving jobs through its own warm fork server.

    ex = LocalExecutor(workers=2, threads=1, limits=SandboxLimits(timeout_s=300))
    job_id = ex.submit(code, job)
    for job_id, result in ex.as_completed(): ...
    ex.shutdown()

Each job still runs in its own sandboxed child (new session, scrubbed env,
private directory, wall-clock timeout with killpg); only `import torch` is
shared, paid once per worker. A fork server that dies mid-job (killed, OOM)
is restarted and the job retried `max_retries` times, then reported LOST.
With `gpu_ids`, worker i trains on GPU `gpu_ids[i % len(gpu_ids)]`. The child's
result goes through the same nonce/hash validation (`sandbox.collect`) as the
subprocess runner's.
"""

from __future__ import annotations

import contextlib
import queue
import secrets
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

from knowledge.records import FailureKind
from sandbox.collect import RunResult, collect, failed, read_tail
from sandbox.executor import Executor, JobId, gpu_device
from sandbox.forkserver import OUTPUT_LOG, ChildExit, ForkServer, ServerDied, kill_child
from sandbox.limits import SandboxLimits
from sandbox.protocol import CANDIDATE_FILE, Job


class LocalExecutor(Executor):
    def __init__(self, workers: int = 1, threads: int = 1, limits: SandboxLimits | None = None,
                 max_retries: int = 1, gpu_ids: tuple[int, ...] = (), timeout_s: float | None = None):
        super().__init__()
        limits = limits or SandboxLimits()
        self.limits = limits if timeout_s is None else limits.model_copy(update={"timeout_s": timeout_s})
        self.threads, self.max_retries, self.gpu_ids = threads, max_retries, gpu_ids
        self._jobs: queue.Queue[tuple[JobId, str, Job] | None] = queue.Queue()
        self._running: dict[JobId, int] = {}  # job id -> pid of its sandboxed child
        self._servers: dict[int, ForkServer] = {}  # worker slot -> its live fork server
        self._threads = [threading.Thread(target=self._work, args=(slot,), name=f"archagent-worker-{slot}",
                                          daemon=True) for slot in range(workers)]
        for t in self._threads:
            t.start()

    def server_pids(self) -> list[int]:
        """Pids of the live fork servers (for monitoring and the lost-worker test)."""
        with self._lock:
            return [s.proc.pid for s in self._servers.values()]

    # -- Executor hooks ------------------------------------------------------------
    def _start(self, job_id: JobId, code: str, job: Job) -> None:
        self._jobs.put((job_id, code, job))

    def _stop(self, job_id: JobId) -> None:
        with self._lock:
            pid = self._running.get(job_id)
        if pid is not None:
            kill_child(pid)

    def _close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            t.join(timeout=30)

    # -- one worker thread ---------------------------------------------------------
    def _work(self, slot: int) -> None:
        with contextlib.suppress(ServerDied):  # start warming up before the first job; retried per job
            self._server(slot)
        while (item := self._jobs.get()) is not None:
            job_id, code, job = item
            if self.is_open(job_id):
                self._deliver(job_id, self._run_guarded(slot, job_id, code, job))
        with self._lock:
            server = self._servers.pop(slot, None)
        if server:
            server.close()

    def _server(self, slot: int) -> ForkServer:
        with self._lock:
            server = self._servers.get(slot)
        if server is None:
            server = ForkServer(self.threads)
            with self._lock:
                self._servers[slot] = server
        return server

    def _run_guarded(self, slot: int, job_id: JobId, code: str, job: Job) -> RunResult:
        """Every job gets a result: an error on the parent side (a bug here, or e.g. CPython 3.11's
        thread-unsafe `ast` raising SystemError inside np.load) becomes a recorded CRASH, not a dead
        worker thread and a loop waiting forever."""
        try:
            return self._run_with_retries(slot, job_id, code, job)
        except Exception as err:  # noqa: BLE001 - recorded as the job's failure, with its type and message
            return failed(FailureKind.CRASH, f"executor error: {type(err).__name__}: {err}"[:500])

    def _run_with_retries(self, slot: int, job_id: JobId, code: str, job: Job) -> RunResult:
        why = ""
        for _ in range(self.max_retries + 1):
            if not self.is_open(job_id):
                break
            try:
                return self._run_once(self._server(slot), slot, job_id, code, job)
            except ServerDied as err:
                why = str(err)
                with self._lock:
                    dead = self._servers.pop(slot, None)
                if dead:
                    dead.close()
        return failed(FailureKind.LOST, f"worker lost after {self.max_retries + 1} attempt(s): {why}")

    def _run_once(self, server: ForkServer, slot: int, job_id: JobId, code: str, job: Job) -> RunResult:
        gpu = str(self.gpu_ids[slot % len(self.gpu_ids)]) if self.gpu_ids else None
        try:
            return run_on_server(server, code, job, self.limits, self.threads, gpu,
                                 lambda pid: self._started(job_id, pid))
        finally:
            with self._lock:
                self._running.pop(job_id, None)

    def _started(self, job_id: JobId, pid: int) -> None:
        with self._lock:
            self._running[job_id] = pid
        if not self.is_open(job_id):  # cancelled while it was being forked
            kill_child(pid)


def run_on_server(server: ForkServer, code: str, job: Job, limits: SandboxLimits, threads: int,
                  gpu: str | None = None, on_start=None) -> RunResult:
    """One job in a fresh private directory on a warm server, judged like `SubprocessRunner` judges.

    Raises ServerDied if the server goes away (the caller retries or reports LOST).
    """
    update = {"threads": threads, "limits": limits, **({"device": gpu_device(gpu)} if gpu else {})}
    job_dir, nonce = Path(tempfile.mkdtemp(prefix="archagent-job-")), secrets.token_hex(16)
    try:
        (job_dir / CANDIDATE_FILE).write_text(code)
        (job_dir / "job.json").write_text(job.model_copy(update=update).model_dump_json())
        t0 = time.perf_counter()
        end = server.run(job_dir, nonce, limits.timeout_s, gpu, on_start)
        wall = time.perf_counter() - t0
        output = read_tail(job_dir / OUTPUT_LOG, limits.max_output_kb * 1024)
        return judge(job_dir, end, nonce, wall, output, limits, threads)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)


def judge(job_dir: Path, end: ChildExit, nonce: str, wall: float, output: str, limits: SandboxLimits,
          threads: int) -> RunResult:
    """The same verdicts as `SubprocessRunner`: wall and CPU timeouts, then `collect`."""
    if end.timed_out:
        return failed(FailureKind.TIMEOUT, f"evaluation exceeded {limits.timeout_s:g} s wall clock", wall, output)
    cpu_limit = limits.cpu_seconds(threads)
    if end.code in (-signal.SIGKILL, -signal.SIGXCPU) and end.cpu_s >= cpu_limit - 1:
        return failed(FailureKind.TIMEOUT, f"CPU time limit exceeded ({end.cpu_s:.0f} s > {cpu_limit} s)",
                      wall, output)
    return collect(job_dir, end.code, wall, output, nonce, limits)
