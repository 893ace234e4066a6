"""Containment of hostile candidates: the recorded outcome and how long it took, per category.

    nice python benchmarks/containment.py            # all categories (~2-5 min on 2 busy cores)
    nice python benchmarks/containment.py --only memory_hog stdout_spam

Each row is one real sandboxed child (`SubprocessRunner`, probe stage unless the
category needs training). `wall_s` runs from spawn to verdict; `over_benign_s`
subtracts the wall time of a benign probe measured first (interpreter + torch
start-up), i.e. what the hostile behaviour itself cost before it was contained.
The last rows measure the address space a real digits training child needs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from evals.tasks import get_task
from sandbox.judge import Evaluator, make_job, public_data_file
from sandbox.limits import SandboxLimits
from sandbox.runner import SubprocessRunner

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "tests" / "fixtures" / "hostile"
SEED = ROOT / "evals" / "seeds" / "digits" / "cnn.py"
CATEGORIES = [  # (category, fixture, limits, needs training)
    ("fork bomb", "fork_bomb", {}, False),
    ("memory hog (64 x 1 GB, cap 2 GB)", "memory_hog", {"memory_mb": 2048}, False),
    ("infinite loop (timeout 10 s)", "infinite_loop", {"timeout_s": 10}, False),
    ("busy loop ignoring signals (cpu 5 s)", "busy_ignore_signals", {"cpu_s": 5}, False),
    ("socket connect", "socket_connect", {}, False),
    ("env secret via error message", "env_secret", {}, False),
    ("parent env via /proc", "proc_environ", {}, False),
    ("write outside cwd", "write_outside", {}, False),
    ("os.kill(parent)", "kill_parent", {}, False),
    ("ctypes libc kill", "ctypes_kill", {}, False),
    ("subprocess shell", "subprocess_shell", {}, False),
    ("thread escape", "thread_escape", {}, False),
    ("sys.exit(0) early", "exit_early", {}, False),
    ("os._exit(0) early", "os_exit_early", {}, False),
    ("fake result.json/preds.npz", "fake_result_file", {}, False),
    ("patch torch", "patch_torch", {}, False),
    ("torch C++ file I/O (save/from_file)", "torch_file_io", {}, False),
    ("labels from gc/frames", "label_snoop", {}, False),
    ("stdout flood", "stdout_spam", {}, False),
    ("fake result line (1 epoch)", "fake_result_line", {}, True),
    ("NaN predictions (1 epoch)", "nan_outputs", {}, True),
    ("NaN loss (1 epoch)", "nan_loss", {}, True),
]


def run(task, data: Path, code: str, limits: dict, train: bool) -> tuple[str, str, float, dict]:
    runner = SubprocessRunner(threads=1, limits=SandboxLimits(**{"timeout_s": 120, **limits}))
    if train:
        t0 = time.perf_counter()
        ev = Evaluator(task, runner, data.parent).evaluate(code, epochs=1)
        detail = f"metric={ev.metric:.3f}" if ev.ok else (ev.failure_msg or "")
        return ev.status, detail, time.perf_counter() - t0, ev.timings
    res = runner.run(code, make_job(task, data, stage="probe"))
    rep = res.report
    return ("ok" if rep.ok else str(rep.failure_kind)), rep.failure_msg or "", res.wall_s, rep.timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="fixture names to run")
    args = parser.parse_args()
    task = get_task("digits")
    data = public_data_file(task)
    benign = min(run(task, data, SEED.read_text(), {}, False)[2] for _ in range(3))
    print(f"benign probe (cnn seed), best of 3: {benign:.2f} s wall\n")
    print(f"{'category':40s} {'outcome':10s} {'wall_s':>7s} {'over_benign_s':>13s}  message")
    for category, name, limits, train in CATEGORIES:
        if args.only and name not in args.only:
            continue
        status, msg, wall, _ = run(task, data, (HOSTILE / f"{name}.py").read_text(), limits, train)
        print(f"{category:40s} {status:10s} {wall:7.2f} {wall - benign:13.2f}  {msg.splitlines()[0][:90]}",
              flush=True)
    if not args.only:
        memory_rows(task, data)


def memory_rows(task, data: Path) -> None:
    """Peak address space of a real digits training child (what RLIMIT_AS must allow)."""
    print()
    for memory_mb in (6144, 1536, 1024):
        status, msg, wall, timings = run(task, data, SEED.read_text(), {"memory_mb": memory_mb}, True)
        vm, rss = timings.get("vm_peak_mb", float("nan")), timings.get("rss_peak_mb", float("nan"))
        print(f"digits cnn, 1 epoch, memory_mb={memory_mb}: {status} ({msg[:60]}) vm_peak_mb={vm:.0f} "
              f"rss_peak_mb={rss:.0f} wall {wall:.1f} s")


if __name__ == "__main__":
    main()
