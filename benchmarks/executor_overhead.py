"""Sandbox + process overhead per candidate, and executor throughput, on digits.

    nice python benchmarks/executor_overhead.py                  # ~3-6 min on 2 busy cores
    nice python benchmarks/executor_overhead.py --jobs 20 --epochs 2 --throughput-jobs 12 --no-ray

Overhead: the digits CNN seed, one job at a time; per job, overhead = wall time as
the caller sees it (submit → validated result) − the training time the child
reports (`train_s`). Compared: `SubprocessRunner` (a fresh process per job) and
`LocalExecutor` (a warm fork server; its start-up is excluded, it is paid once per
worker), each under `isolation = "jail"` (bubblewrap jail, per-job namespaces,
seccomp: the default) and `"process"` (the unsafe opt-out). The train_s columns check that training in a forked child
runs as fast as in a fresh process.
Throughput: `--throughput-jobs` CNN trainings submitted at once; jobs per minute
with 1 and 2 local workers and on a private 2-CPU Ray cluster, warm and cold (Ray
start-up shown apart; the first tasks on warm Ray also start each worker's fork
server). Each job uses one torch thread.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from archagent.evals.tasks import get_task
from archagent.sandbox.executor import Executor
from archagent.sandbox.judge import make_job, public_data_file
from archagent.sandbox.limits import SandboxLimits
from archagent.sandbox.local_executor import LocalExecutor
from archagent.sandbox.runner import SubprocessRunner

SEED = Path(__file__).resolve().parent.parent / "evals" / "seeds" / "digits" / "cnn.py"


def quantiles(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs), xs[min(len(xs) - 1, round(0.9 * (len(xs) - 1)))]


def runner_samples(code: str, job, n: int, isolation: str = "jail") -> list[tuple[float, float]]:
    """(wall_s, train_s) per job through a fresh (jailed) process each."""
    runner, out = SubprocessRunner(threads=1, limits=SandboxLimits(timeout_s=300, isolation=isolation)), []
    for _ in range(n):
        t0 = time.perf_counter()
        res = runner.run(code, job)
        assert res.report.ok, res.report.failure_msg
        out.append((time.perf_counter() - t0, res.report.timings["train_s"]))
    return out


def executor_samples(ex: Executor, code: str, job, n: int) -> list[tuple[float, float]]:
    """(wall_s, train_s) per job, one at a time, through an already started executor."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        ex.submit(code, job)
        (done,) = list(ex.as_completed())
        assert done.result.report.ok, done.result.report.failure_msg
        out.append((time.perf_counter() - t0, done.result.report.timings["train_s"]))
    return out


def throughput(ex: Executor, code: str, job, n: int) -> float:
    """Jobs per minute with n jobs submitted at once."""
    t0 = time.perf_counter()
    for _ in range(n):
        ex.submit(code, job)
    results = [c.result for c in ex.as_completed()]
    assert all(r.report.ok for r in results)
    return 60.0 * n / (time.perf_counter() - t0)


def overhead_rows(code: str, job, n: int) -> list[str]:
    rows = []
    samples: dict[str, list[tuple[float, float]]] = {}
    with (LocalExecutor(workers=1, limits=SandboxLimits(timeout_s=300)) as jail,
          LocalExecutor(workers=1, limits=SandboxLimits(timeout_s=300, isolation="process")) as proc):
        executor_samples(jail, code, job, 1)  # waits out the fork servers' start-up
        executor_samples(proc, code, job, 1)
        for _ in range(n):  # interleaved, so all see the same background load
            for name, got in (("SubprocessRunner, jail (fresh)", runner_samples(code, job, 1)),
                              ("SubprocessRunner, process (fresh)", runner_samples(code, job, 1, "process")),
                              ("LocalExecutor, jail (warm)", executor_samples(jail, code, job, 1)),
                              ("LocalExecutor, process (warm)", executor_samples(proc, code, job, 1))):
                samples.setdefault(name, []).extend(got)
    for name, got in samples.items():
        over, train = quantiles([w - t for w, t in got]), quantiles([t for _, t in got])
        rows.append(f"| {name:<33} | {over[0]:.3f} s | {over[1]:.3f} s | {train[0]:.3f} s | {train[1]:.3f} s |")
    return rows


def throughput_rows(code: str, job, n: int, with_ray: bool) -> list[str]:
    rows = []
    if n == 0:
        return rows
    for workers in (1, 2):
        with LocalExecutor(workers=workers, timeout_s=300) as ex:
            executor_samples(ex, code, job, workers)  # warm every server (approximately) first
            rows.append(f"| {f'local, {workers} worker(s)':<30} | {throughput(ex, code, job, n):6.1f} | - |")
    if with_ray:
        from archagent.sandbox.ray_executor import RayExecutor

        for warm in (True, False):
            t0 = time.perf_counter()
            with RayExecutor(address="local", workers=2, cluster_cpus=2, timeout_s=300, warm=warm) as ex:
                start = time.perf_counter() - t0
                name = "ray, 2 CPUs, " + ("warm workers" if warm else "fresh process/job")
                rows.append(f"| {name:<30} | {throughput(ex, code, job, n):6.1f} | {start:.1f} s |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=20, help="sequential jobs per runner for the overhead median")
    ap.add_argument("--epochs", type=int, default=2, help="training epochs per job (the recipe has 15)")
    ap.add_argument("--throughput-jobs", type=int, default=12)
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    task = get_task("digits", {})
    job, code = make_job(task, public_data_file(task), epochs=args.epochs), SEED.read_text()
    print(f"digits CNN seed, {args.epochs} epochs, 1 torch thread per job, {args.jobs} jobs per runner\n")
    print("| runner                            | overhead median | overhead p90 | train_s median | train_s p90 |")
    print("|-----------------------------------|-----------------|--------------|----------------|-------------|")
    print("\n".join(overhead_rows(code, job, args.jobs)))
    print(f"\nthroughput, {args.throughput_jobs} jobs submitted at once\n")
    print("| executor                       | jobs/min | start-up |")
    print("|--------------------------------|----------|----------|")
    print("\n".join(throughput_rows(code, job, args.throughput_jobs, not args.no_ray)))


if __name__ == "__main__":
    main()
