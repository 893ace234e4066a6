"""The cluster executor: each job is a Ray core task that runs one sandboxed child.

    ex = RayExecutor(address="local", workers=2, cluster_cpus=2)    # or address="ray://head:10001"
    job_id = ex.submit(code, job)
    for job_id, result in ex.as_completed(): ...

`workers` caps the tasks in flight (the rest wait here, so cancelling them is free
and the timeout backstop counts from launch). `address="local"` starts a private
in-process cluster (passed explicitly so Ray never attaches to a stale one); any
other address connects to a running cluster.
Inside the task the job runs in a sandboxed child exactly as locally: by default
forked from a warm fork server kept in each Ray worker process (`warm=True`;
`sandbox/forkserver.py`), else through `SubprocessRunner` (a fresh interpreter per
job); the jail (`sandbox.jail`: the worker's fork server in bubblewrap, each job in
namespaces of its own, only the task's public data file and the task's assigned GPU
device nodes bound in), nonce check and wall-clock timeout apply unchanged either way.
With `warm=True` the executor also starts `workers` fork servers at once (`warm_task`),
so the first jobs do not pay for them.
Per job: `num_cpus`, `num_gpus` (a task given a GPU trains on that GPU). A dead
worker (Ray worker or its fork server) is retried `max_retries` times by Ray, then
reported LOST; cancel and the timeout backstop use
`ray.cancel(force=True)`, which kills the task's process. The public data file
travels through the object store, so workers on other nodes need no shared disk.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from archagent.knowledge.records import FailureKind
from archagent.sandbox.collect import RunResult, failed
from archagent.sandbox.executor import Executor, JobId
from archagent.sandbox.limits import SandboxLimits
from archagent.sandbox.protocol import Job

POLL_S = 0.05
BACKSTOP_GRACE_S = 30.0  # beyond the in-task timeout, before the executor force-cancels


_server = None  # this Ray worker process's warm fork server (Ray reuses worker processes across tasks)


def run_job_task(code: str, job: Job, data: bytes, limits: SandboxLimits, threads: int, warm: bool) -> RunResult:
    """The body of one Ray task, on a worker node. Raises ServerDied (Ray retries it) if the warm server died."""
    import ray
    from archagent.sandbox.executor import gpu_device
    from archagent.sandbox.runner import SubprocessRunner

    gpus = ray.get_gpu_ids()  # Ray chose this task's GPU (and set CUDA_VISIBLE_DEVICES for it)
    job = job.model_copy(update={"data_path": str(node_local_copy(job.data_path, data))})
    if not warm:
        job = job.model_copy(update={"device": gpu_device(gpus[0])}) if gpus else job
        return SubprocessRunner(threads=threads, limits=limits).run(code, job)
    return run_warm(code, job, limits, threads, str(gpus[0]) if gpus else None)


def run_warm(code: str, job: Job, limits: SandboxLimits, threads: int, gpu: str | None) -> RunResult:
    global _server
    from archagent.sandbox.forkserver import ForkServer, ServerDied
    from archagent.sandbox.local_executor import run_on_server

    if _server is not None and (not _server.usable or not _server.serves(gpu)):
        _server.close()  # dead, retired after an unclean job, or its jail lacks this task's GPU
        _server = None
    if _server is None:
        _server = ForkServer(threads, limits, gpus=(gpu,) if gpu else ())
    try:
        return run_on_server(_server, code, job, limits, threads, gpu)
    except ServerDied:
        _server.close()
        _server = None
        raise


def node_local_copy(path: str, data: bytes) -> Path:
    """The public data file on this node: the driver's path if it is here, else a cached copy."""
    import hashlib
    import tempfile

    src = Path(path)
    if src.is_file() and src.stat().st_size == len(data):
        return src
    dst = Path(tempfile.gettempdir()) / "archagent-data" / f"{hashlib.sha256(data).hexdigest()[:16]}-{src.name}"
    if not dst.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(dst)
    return dst


class RayExecutor(Executor):
    def __init__(self, address: str = "local", workers: int = 2, threads: int = 1, num_cpus: float = 1.0,
                 num_gpus: float = 0.0, limits: SandboxLimits | None = None, max_retries: int = 1,
                 cluster_cpus: int | None = None, timeout_s: float | None = None, warm: bool = True):
        import ray
        from archagent.sandbox.forkserver import ServerDied
        from archagent.sandbox.isolation import require_isolation

        super().__init__()
        limits = limits or SandboxLimits()
        self.limits = limits if timeout_s is None else limits.model_copy(update={"timeout_s": timeout_s})
        require_isolation(self.limits)  # checked here on the driver; each worker node checks again
        self.workers, self.threads, self.timeout_s, self.warm = workers, threads, self.limits.timeout_s, warm
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            local = address == "local"
            ray.init(address=address, num_cpus=cluster_cpus if local else None, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        self._task = ray.remote(run_job_task).options(num_cpus=num_cpus, num_gpus=num_gpus,
                                                      max_retries=max_retries, retry_exceptions=[ServerDied])
        self._data: dict[str, object] = {}  # data path -> object ref of its bytes
        self._queued: list[tuple[JobId, str, Job]] = []
        self._flying: dict[object, tuple[JobId, float]] = {}  # ref -> (job id, deadline)
        self._cancels: list[JobId] = []
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._dispatch, name="archagent-ray", daemon=True)
        self._thread.start()

    # -- Executor hooks ------------------------------------------------------------
    def _start(self, job_id: JobId, code: str, job: Job) -> None:
        with self._lock:
            self._queued.append((job_id, code, job))
        self._wake.set()

    def _stop(self, job_id: JobId) -> None:
        with self._lock:
            self._queued = [q for q in self._queued if q[0] != job_id]
            self._cancels.append(job_id)
        self._wake.set()

    def _close(self) -> None:
        import ray

        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=60)
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()

    # -- the dispatcher thread: launch, poll, cancel ----------------------------------
    def _dispatch(self) -> None:
        while not self._stopping:
            self._apply_cancels()
            self._launch()
            if self._flying:
                self._collect_ready()
                self._enforce_deadlines()
            else:
                self._wake.wait(POLL_S * 4)
                self._wake.clear()
        self._apply_cancels()

    def _launch(self) -> None:
        import ray

        while len(self._flying) < self.workers:
            with self._lock:
                if not self._queued:
                    return
                job_id, code, job = self._queued.pop(0)
            if job.data_path not in self._data:
                self._data[job.data_path] = ray.put(Path(job.data_path).read_bytes())
            ref = self._task.remote(code, job, self._data[job.data_path], self.limits, self.threads,
                                      self.warm)
            self._flying[ref] = (job_id, time.monotonic() + self.timeout_s + BACKSTOP_GRACE_S)

    def _collect_ready(self) -> None:
        import ray

        ready, _ = ray.wait(list(self._flying), num_returns=len(self._flying), timeout=POLL_S)
        for ref in ready:
            job_id, _ = self._flying.pop(ref)
            self._deliver(job_id, task_result(ref))

    def _enforce_deadlines(self) -> None:
        import ray

        now = time.monotonic()
        for ref, (job_id, deadline) in list(self._flying.items()):
            if now > deadline:
                ray.cancel(ref, force=True)
                del self._flying[ref]
                self._deliver(job_id, failed(FailureKind.TIMEOUT, f"job exceeded {self.timeout_s:.0f} s "
                                             "and was force-cancelled"))

    def _apply_cancels(self) -> None:
        import ray

        with self._lock:
            cancels, self._cancels = set(self._cancels), []
        for ref, (job_id, _) in list(self._flying.items()):
            if job_id in cancels or self._stopping:
                ray.cancel(ref, force=True)
                del self._flying[ref]


def task_result(ref) -> RunResult:
    """A finished task's RunResult, or the Ray failure mapped to a failure kind."""
    import ray
    from ray import exceptions as rex

    try:
        return ray.get(ref)
    except (rex.WorkerCrashedError, rex.NodeDiedError, rex.ActorDiedError, rex.ObjectLostError) as err:
        return failed(FailureKind.LOST, f"worker lost after retries: {type(err).__name__}")
    except rex.OutOfMemoryError:
        return failed(FailureKind.MEMORY, "Ray's memory monitor killed the worker")
    except rex.TaskCancelledError:
        return failed(FailureKind.LOST, "the task was cancelled by Ray")
    except rex.RayTaskError as err:
        if "ServerDied" in type(err).__name__ or "ServerDied" in str(err).splitlines()[-1]:
            return failed(FailureKind.LOST, f"worker lost after retries: {str(err).strip().splitlines()[-1][:300]}")
        return failed(FailureKind.CRASH, f"the Ray task failed: {str(err).strip().splitlines()[-1][:300]}")
    except rex.RayError as err:
        return failed(FailureKind.CRASH, f"the Ray task failed: {str(err).strip().splitlines()[-1][:300]}")
