"""Run many sandboxed jobs at once: the `Executor` interface shared by all backends.

    with make_executor(cfg.executor, cfg.sandbox) as ex:   # sandbox/executors.py
        ids = [ex.submit(code, make_job(task, data_path)) for code in codes]
        for job_id, result in ex.as_completed():   # in completion order
            evaluation = judge(task, result)          # sandbox.judge: the trusted verdict

Backends (built by `sandbox/executors.py: make_executor`): `local` (a pool of warm
fork-server workers, `sandbox/local_executor.py`)
and `ray` (Ray core tasks, `sandbox/ray_executor.py`). Every job still runs in its
own sandboxed child process; the executor only decides where and when. When a job is
given a GPU, the executor sets `job.device` (see `gpu_device`); otherwise the job's own
device is kept.

Contract (tested in tests/test_executor_contract.py for every backend):
- `submit` returns at once with a job id; jobs start as workers free up.
- `as_completed` yields `Completed(job_id, result)` as each job finishes, until no
  submitted job is left; jobs submitted while iterating are included.
- A cancelled job yields nothing (`cancel` returns False if its result was already in).
- Failures are results, never exceptions: a timeout is `FailureKind.TIMEOUT`, a worker
  that died (after `max_retries` retries) is `FailureKind.LOST`; `Completed.outcome`
  sorts them into OK / FAILED (the candidate's fault) / TIMEOUT / CRASH / LOST.
- `as_completed(timeout=s)` returns early after s idle seconds; `pending()` counts
  jobs whose result is not yet yielded.
- `on_completed(callback)` delivers each finished job to `callback` (called from a
  backend thread) instead of `as_completed`: a campaign feeds its one completion
  queue with it, beside its LLM futures.
"""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import NamedTuple

from archagent.knowledge.records import FailureKind
from archagent.sandbox.collect import RunResult
from archagent.sandbox.protocol import Job

JobId = int
INFRA_FAILURES = {FailureKind.TIMEOUT: "timeout", FailureKind.CRASH: "crash", FailureKind.LOST: "lost"}


class JobOutcome(StrEnum):
    OK = "ok"  # the child reported success
    FAILED = "failed"  # the candidate failed (syntax, shape, NaN, ...), reported by the child
    TIMEOUT = "timeout"
    CRASH = "crash"  # the sandbox process died without a valid result
    LOST = "lost"  # the worker running it died, retries exhausted


class Completed(NamedTuple):
    job_id: JobId
    result: RunResult

    @property
    def outcome(self) -> JobOutcome:
        rep = self.result.report
        if rep.ok:
            return JobOutcome.OK
        return JobOutcome(INFRA_FAILURES.get(rep.failure_kind, "failed"))


class Executor(ABC):
    """Submit sandboxed jobs; collect results as they finish. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_id = 0
        self._open: set[JobId] = set()  # submitted, neither delivered nor cancelled
        self._done: queue.Queue[Completed | None] = queue.Queue()
        self._unread = 0  # delivered into `_done`, not yet yielded
        self._closed = False
        self._listener: Callable[[Completed], None] | None = None

    # -- the public interface ----------------------------------------------------
    def submit(self, code: str, job: Job) -> JobId:
        with self._lock:
            if self._closed:
                raise RuntimeError("submit() after shutdown()")
            job_id, self._next_id = self._next_id, self._next_id + 1
            self._open.add(job_id)
        self._start(job_id, code, job)
        return job_id

    def cancel(self, job_id: JobId) -> bool:
        """Stop a queued or running job. True if it will yield no result."""
        with self._lock:
            if job_id not in self._open:
                return False
            self._open.discard(job_id)
        self._stop(job_id)
        self._done.put(None)  # wake a waiting consumer: the open set changed
        return True

    def as_completed(self, timeout: float | None = None) -> Iterator[Completed]:
        """Yield finished jobs in completion order until none is open (or `timeout` s pass idle)."""
        while self.pending():
            try:
                item = self._done.get(timeout=timeout)
            except queue.Empty:
                return
            if item is not None:
                with self._lock:
                    self._unread -= 1
                yield item

    def on_completed(self, callback: Callable[[Completed], None] | None) -> None:
        """Hand every job that finishes from now on to `callback` (any thread) instead of `as_completed`."""
        with self._lock:
            self._listener = callback

    def pending(self) -> int:
        """Jobs submitted whose result has not been yielded yet (queued, running or finished-unread)."""
        with self._lock:
            return len(self._open) + self._unread

    def shutdown(self) -> None:
        """Stop everything: running jobs are killed, queued ones dropped, workers ended."""
        with self._lock:
            self._closed = True
            dropped, self._open = self._open, set()
        for job_id in dropped:
            self._stop(job_id)
        self._close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # -- for backends ------------------------------------------------------------
    def _deliver(self, job_id: JobId, result: RunResult) -> None:
        """Hand a finished job to the consumer, unless it was cancelled meanwhile."""
        with self._lock:
            if job_id not in self._open:
                return
            self._open.discard(job_id)
            listener = self._listener
            self._unread += listener is None
        if listener is not None:
            listener(Completed(job_id, result))
        else:
            self._done.put(Completed(job_id, result))

    def is_open(self, job_id: JobId) -> bool:
        with self._lock:
            return job_id in self._open

    @abstractmethod
    def _start(self, job_id: JobId, code: str, job: Job) -> None:
        """Queue or launch the job; call `_deliver` from any thread when it ends."""

    @abstractmethod
    def _stop(self, job_id: JobId) -> None:
        """Kill the job if it runs, drop it if it waits; never deliver it."""

    @abstractmethod
    def _close(self) -> None:
        """End workers and processes; called once by `shutdown`."""


def gpu_device(physical_id: int | str) -> str:
    """The torch device for a GPU, as the sandboxed child will see it.

    The child's environment is an allow-list (`sandbox.isolation.ENV_ALLOW`): if
    CUDA_VISIBLE_DEVICES does not survive it, the child sees every GPU and must
    name the physical index; if it does, the assigned GPU is the child's cuda:0.
    """
    from archagent.sandbox.isolation import ENV_ALLOW

    return "cuda" if "CUDA_VISIBLE_DEVICES" in ENV_ALLOW else f"cuda:{physical_id}"
