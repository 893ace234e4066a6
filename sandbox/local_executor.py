"""The default executor: N worker threads, each driving jobs through its own warm fork server.

    ex = LocalExecutor(workers=2, threads=1, limits=SandboxLimits(timeout_s=300))
    job_id = ex.submit(code, job)
    for job_id, result in ex.as_completed(): ...
    ex.shutdown()

Each job still runs in its own sandboxed child (by default inside the worker's
bubblewrap jail, in namespaces of its own: `sandbox.jail`); only `import torch`
is shared, paid once per worker. A fork server that dies mid-job (killed, OOM)
is restarted and the job retried `max_retries` times, then reported LOST.
With `gpu_ids`, worker i trains on GPU `gpu_ids[i % len(gpu_ids)]`. The child's
result goes through the same nonce/hash validation (`sandbox.collect`) as the
subprocess runner's.
"""

from __future__ import annotations

import contextlib
import queue
import secrets
import signal
import threading
import time
from dataclasses import replace

from archagent.knowledge.records import FailureKind
from archagent.sandbox.collect import RunResult, collect, failed, stamp_isolation
from archagent.sandbox.executor import Executor, JobId, gpu_device
from archagent.sandbox.forkserver import FLOOD_BYTES, ForkServer, JobReply, JobRequest, ServerDied
from archagent.sandbox.isolation import JailUnavailable, require_isolation
from archagent.sandbox.limits import SandboxLimits
from archagent.sandbox.protocol import Job


class LocalExecutor(Executor):
    def __init__(self, workers: int = 1, threads: int = 1, limits: SandboxLimits | None = None,
                 max_retries: int = 1, gpu_ids: tuple[int, ...] = (), timeout_s: float | None = None):
        super().__init__()
        limits = limits or SandboxLimits()
        self.limits = limits if timeout_s is None else limits.model_copy(update={"timeout_s": timeout_s})
        self.threads, self.max_retries, self.gpu_ids = threads, max_retries, gpu_ids
        require_isolation(self.limits)  # no jail and no explicit opt-out: refuse here, with one clear line
        self._jobs: queue.Queue[tuple[JobId, str, Job] | None] = queue.Queue()
        self._running: dict[JobId, ForkServer] = {}  # job id -> the server running it
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
            server = self._running.get(job_id)
        if server is not None:
            server.cancel()

    def _close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            t.join(timeout=30)

    # -- one worker thread ---------------------------------------------------------
    def _work(self, slot: int) -> None:
        with contextlib.suppress(ServerDied, JailUnavailable):  # warm up before the first job; retried per job
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
        gpu = str(self.gpu_ids[slot % len(self.gpu_ids)]) if self.gpu_ids else None
        with self._lock:
            server = self._servers.get(slot)
            if server is not None and not server.usable:  # dead, or retired after an unclean job
                del self._servers[slot]
        if server is not None and not server.usable:
            server.close()
            server = None
        if server is None:
            server = ForkServer(self.threads, self.limits, gpus=(gpu,) if gpu else ())
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
                                 lambda srv: self._started(job_id, srv))
        finally:
            with self._lock:
                self._running.pop(job_id, None)

    def _started(self, job_id: JobId, server: ForkServer) -> None:
        with self._lock:
            self._running[job_id] = server
        if not self.is_open(job_id):  # cancelled while it was being handed over
            server.cancel()


def run_on_server(server: ForkServer, code: str, job: Job, limits: SandboxLimits, threads: int,
                  gpu: str | None = None, on_start=None) -> RunResult:
    """One job on a warm server, judged like `SubprocessRunner` judges. The server writes the job dir
    (inside its jail), supervises the child and returns what it left; this side only validates bytes.

    Raises ServerDied if the server goes away (the caller retries or reports LOST).
    """
    update = {"threads": threads, "limits": limits, "data_path": server.path_inside(job.data_path),
              **({"device": gpu_device(gpu)} if gpu else {})}
    nonce = secrets.token_hex(16)
    req = JobRequest(code, job.model_copy(update=update).model_dump_json(), nonce, limits.timeout_s,
                     limits.max_output_kb * 1024, gpu)
    t0 = time.perf_counter()
    oom_before = server.cgroup.oom_kills()
    reply = server.run(req, on_start)
    wall = time.perf_counter() - t0
    if server.cgroup.oom_kills() > oom_before and reply.end.code < 0:
        caps = server.caps
        return stamp_caps(failed(FailureKind.MEMORY, f"killed by the per-job memory cap ({caps.memory_mb} MB, "
                                 f"cgroup {caps.cgroup}): memory, memfd, shared memory and files count", wall,
                                 reply.output), server, "jail" if server.jailed else "process")
    result = judge(reply, nonce, wall, limits, threads, "jail" if server.jailed else "process", job.preds_shapes)
    return stamp_caps(result, server, None)


def stamp_caps(result: RunResult, server: ForkServer, isolation: str | None) -> RunResult:
    """Record, from the parent's side, the per-job cgroup caps that were in force (`JobCaps`) and the job's
    peak charged memory as the kernel counted it (`cgroup_peak_mb`, not a claim of the job's)."""
    if isolation is not None:
        result = stamp_isolation(result, isolation)
    rep, peak = result.report, server.cgroup.peak_mb()
    timings = {**rep.timings, **server.caps.as_timings(), **({"cgroup_peak_mb": peak} if peak is not None else {})}
    report = rep.model_copy(update={"isolation": {**rep.isolation, **server.caps.as_flags()}, "timings": timings})
    return replace(result, report=report)


def judge(reply: JobReply, nonce: str, wall: float, limits: SandboxLimits, threads: int,
          isolation: str, expected: dict | None = None) -> RunResult:
    """The same verdicts as `SubprocessRunner`: wall and CPU timeouts, floods, then `collect`."""
    end, output = reply.end, reply.output
    if end.timed_out:
        result = failed(FailureKind.TIMEOUT, f"evaluation exceeded {limits.timeout_s:g} s wall clock", wall, output)
    elif end.flooded:
        result = failed(FailureKind.FORBIDDEN, f"printed over {FLOOD_BYTES >> 20} MB to stdout/stderr", wall, output)
    elif end.code in (-signal.SIGKILL, -signal.SIGXCPU) and end.cpu_s >= limits.cpu_seconds(threads) - 1:
        result = failed(FailureKind.TIMEOUT, f"CPU time limit exceeded ({end.cpu_s:.0f} s > "
                        f"{limits.cpu_seconds(threads)} s)", wall, output)
    else:
        result = collect(reply.files, end.code, wall, output, nonce, limits, expected)
    return stamp_isolation(result, isolation)
