"""The sandboxed child: isolate itself, then build, check, (train,) predict one candidate.

    echo NONCE | python -P -m sandbox.child JOB_DIR

Reads JOB_DIR/job.json and JOB_DIR/candidate.py; writes JOB_DIR/result.json and,
after training, JOB_DIR/preds.bin (`sandbox.predsfile`) through descriptors opened *before* any
candidate code runs (the guard refuses the candidate those names). Order:
isolation (rlimits, netns, env) → trusted imports (torch) → audit guard →
candidate. A pre-forked worker calls `run_job(job_dir, nonce)` after fork.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from archagent.knowledge.records import FailureKind
from archagent.sandbox.guard import Guard, install
from archagent.sandbox.isolation import isolate
from archagent.sandbox.loader import CandidateFailure
from archagent.sandbox.protocol import CANDIDATE_FILE, PREDS_FILE, RESULT_FILE, ChildReport, Job
from archagent.sandbox.tamper import Snapshot


def failure(kind: FailureKind, msg: str) -> ChildReport:
    return ChildReport(ok=False, failure_kind=kind, failure_msg=msg[:4000])


def open_outputs(job_dir: Path) -> tuple[int, int]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    return os.open(job_dir / RESULT_FILE, flags, 0o600), os.open(job_dir / PREDS_FILE, flags, 0o600)


def write_fd(fd: int, data: bytes) -> None:
    """Replace the file's content (erasing anything the candidate wrote to the descriptor)."""
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def encode_preds(preds: dict) -> bytes:
    from archagent.sandbox.predsfile import encode

    return encode(preds) if preds else b""


def cap_preds(report: ChildReport, blob: bytes, max_file_mb: int) -> tuple[ChildReport, bytes]:
    """Predictions over the file-size limit fail as `budget` (writing them would die of EFBIG, a false crash)."""
    if len(blob) <= max_file_mb * 2**20:
        return report, blob
    msg = (f"the predictions take {len(blob) / 2**20:.1f} MB, over the sandbox's {max_file_mb} MB file-size limit "
           "(sandbox.max_file_mb)")
    return failure(FailureKind.BUDGET, msg), b""


def guarded_evaluate(job: Job, job_dir: Path, guard: Guard, snapshot: Snapshot) -> tuple[ChildReport, dict]:
    from archagent.sandbox.steps import evaluate_in_child

    def checkpoint() -> None:
        if guard.violations or snapshot.changed():
            raise CandidateFailure(FailureKind.FORBIDDEN, forbidden_message(guard, snapshot))

    try:
        report, preds = evaluate_in_child(job, job_dir, checkpoint)
    except CandidateFailure as fail:
        report, preds = failure(fail.kind, fail.message), {}
    except (SystemExit, KeyboardInterrupt) as exc:
        report, preds = failure(FailureKind.FORBIDDEN, f"the candidate tried to exit early ({exc!r})"), {}
    except MemoryError:
        report, preds = failure(FailureKind.MEMORY, "out of memory"), {}
    if guard.violations or snapshot.changed():  # even if the candidate swallowed the PermissionError
        report, preds = failure(FailureKind.FORBIDDEN, forbidden_message(guard, snapshot)), {}
    return report, preds


def forbidden_message(guard: Guard, snapshot: Snapshot) -> str:
    found = [*guard.violations, *(f"patching {name}" for name in snapshot.changed())]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return f"sandbox violation: {found[0]}{more}"


def memory_peaks() -> dict[str, float]:
    """Peak address space (what RLIMIT_AS caps) and peak resident memory, in MB."""
    fields = {"VmPeak": "vm_peak_mb", "VmHWM": "rss_peak_mb"}
    with open("/proc/self/status") as fh:
        rows = [line.split() for line in fh if line.split(":")[0] in fields]
    return {fields[row[0].rstrip(":")]: int(row[1]) / 1024 for row in rows}


def run_job(job_dir: Path, nonce: str, before_candidate: Callable[[], None] | None = None) -> None:
    """Everything after the job is handed over; never returns (os._exit skips candidate atexit hooks).

    `before_candidate` runs right after `isolate` (the jail's capability drop + seccomp filter)."""
    t0 = time.perf_counter()
    job = Job.model_validate_json((job_dir / "job.json").read_text())
    isolation = isolate(job.limits, job_dir, job.threads)
    if before_candidate is not None:
        before_candidate()
    result_fd, preds_fd = open_outputs(job_dir)
    from archagent.evals.tasks.base import TaskSpec
    from archagent.sandbox.artifacts import prepare as prepare_artifacts
    from archagent.sandbox.steps import warm_up  # torch and the trusted training code, imported before the guard

    warm_up(TaskSpec.from_dict(job.spec))
    prepare_artifacts(job.artifacts)  # trusted imports (and a toy ONNX export) for requested artifacts
    guard = install(job_dir, str(job_dir / CANDIDATE_FILE), read_only=[job.data_path])
    snapshot = Snapshot.take()  # after install: the guard's own refusers replace a few torch entry points
    report, preds = guarded_evaluate(job, job_dir, guard, snapshot)
    report, blob = cap_preds(report, encode_preds(preds), job.limits.max_file_mb)
    timings = {**report.timings, **memory_peaks(), "child_total_s": time.perf_counter() - t0}
    report = report.model_copy(update={
        "timings": timings, "nonce": nonce, "isolation": isolation.as_flags(),
        "preds_sha256": hashlib.sha256(blob).hexdigest() if blob else None,
    })
    write_fd(preds_fd, blob)
    write_fd(result_fd, report.model_dump_json().encode())
    for stream in (sys.__stdout__, sys.__stderr__):  # not sys.stdout: the candidate may have replaced it
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def read_nonce() -> str:
    """The parent's one-time nonce from stdin; stdin is then closed for the candidate."""
    nonce = sys.stdin.buffer.readline(128).decode("ascii", "replace").strip()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return nonce


def main(argv: list[str]) -> int:
    job_dir = Path(argv[1]).resolve()
    sys.path[:] = [p for p in sys.path if p not in ("", ".", str(job_dir))]  # no imports from the job dir
    run_job(job_dir, read_nonce())
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
