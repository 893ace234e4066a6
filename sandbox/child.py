"""The sandboxed child: build, check, (train,) predict one candidate.

    python -m sandbox.child JOB_DIR

Reads JOB_DIR/job.json and JOB_DIR/candidate.py, writes JOB_DIR/result.json
and, after training, JOB_DIR/preds.npz. Runs untrusted code: everything it
writes is validated by the parent, which alone holds the labels.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sandbox.loader import CandidateFailure
from sandbox.protocol import ChildReport, Job
from sandbox.steps import evaluate_in_child


def run(job_dir: Path) -> ChildReport:
    job = Job.model_validate_json((job_dir / "job.json").read_text())
    return evaluate_in_child(job, job_dir)


def main(argv: list[str]) -> int:
    job_dir = Path(argv[1])
    t0 = time.perf_counter()
    try:
        report = run(job_dir)
    except CandidateFailure as fail:
        report = ChildReport(ok=False, failure_kind=fail.kind, failure_msg=fail.message[:4000])
    report.timings["child_total_s"] = time.perf_counter() - t0
    tmp = job_dir / "result.json.tmp"
    tmp.write_text(report.model_dump_json())
    tmp.rename(job_dir / "result.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
