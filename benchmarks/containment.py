"""Containment of hostile candidates: per attack class, the recorded outcome and how long it took.

    nice python benchmarks/containment.py                 # jail (the default), ~2-4 min on 2 busy cores
    nice python benchmarks/containment.py --only jail_fifo_result jail_disk_fill
    nice python benchmarks/containment.py --isolation process   # the unsafe opt-out, for comparison

Each row is one real candidate file from tests/fixtures/hostile/ evaluated as a
campaign would (a warm `LocalExecutor` worker, 1 training epoch, trusted scoring).
The `jail_*` attacks first switch the in-process guard off (docs/security.md: the
attacker has arbitrary code execution in its job). `contained_s` runs from submit
to verdict; `over_benign_s` subtracts a benign 1-epoch evaluation measured first.
`host_ok` checks the host afterwards: no marker file outside the job dir, the
project's __pycache__ and the data file unchanged, no process left, nothing reached
a listener on the host's loopback. `next_ok`: the next benign evaluation scored
exactly as before. `what the attack saw` is the start of its own report line.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import sys
import time
from pathlib import Path

from archagent.evals.tasks import get_task
from archagent.sandbox.judge import judge, make_job, public_data_file
from archagent.sandbox.limits import SandboxLimits
from archagent.sandbox.local_executor import LocalExecutor

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "tests" / "fixtures" / "hostile"
BENIGN = ROOT / "evals" / "seeds" / "digits" / "mlp.py"
CLASSES = [  # (attack class, fixture)
    ("guard-table rebinding", "jail_guard_tables"),
    ("signal-handler frame walk", "jail_signal_frames"),
    ("dir_fd read/write + symlinks", "jail_dir_fd"),
    ("torch C alias (from_file)", "jail_torch_alias"),
    ("/proc/self/mem nonce forgery", "jail_nonce_forgery"),
    ("dataset-file lookup (digits.csv.gz)", "jail_dataset_lookup"),
    ("FIFO result/output files", "jail_fifo_result"),
    ("re-imported _thread", "jail_rethread"),
    ("parent memory / environ", "jail_parent_memory"),
    ("setsid survivor", "jail_setsid_survivor"),
    (".pyc persistence", "jail_pyc_persistence"),
    ("cache poisoning", "jail_cache_poison"),
    ("netns escape (nsenter/setns)", "jail_netns_escape"),
    ("markup/escape injection", "jail_markup"),
    ("disk fill", "jail_disk_fill"),
    ("host root: sysctl, root-only procfs, clone(NEWUSER)", "jail_host_root"),
    ("scratch poison: notes, deep 000 tree, full /jobs", "jail_scratch_poison"),
    ("scratch poison, second run (finds nothing)", "jail_scratch_poison"),
    ("memfd past memory_mb (cgroup memory cap)", "jail_cap_memfd"),
    ("1,000 processes (cgroup pids cap)", "jail_cap_procs"),
    ("fork bomb (guard on)", "fork_bomb"),
    ("memory hog (guard on)", "memory_hog"),
    ("stdout flood (guard on)", "stdout_spam"),
]
PORT = 47613


def host_state(data: Path) -> tuple:
    caches = [ROOT / p / "__pycache__" for p in ("sandbox", "evals", "knowledge")]
    return (sorted(Path("/tmp").glob("archagent-jail-marker-*")),
            sorted(p for c in caches if c.is_dir() for p in c.glob("zz_archagent_attack*")),
            hashlib.sha256(data.read_bytes()).hexdigest(), sorted(os.listdir(data.parent)),
            [p for p in ("/tmp/archagent-data/poison.npz", "/root/archagent-pwned") if os.path.exists(p)],
            [Path(f"/proc/sys/{k}").read_text() for k in ("kernel/core_pattern", "vm/overcommit_memory")])


def leftovers() -> int:
    """Processes carrying the setsid survivor's marker argv."""
    count = 0
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            count += b"4321.5" in Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
    return count


def evaluate(ex: LocalExecutor, task, data: Path, code: str):
    t0 = time.perf_counter()
    ex.submit(code, make_job(task, data, epochs=1))
    (done,) = list(ex.as_completed())
    return judge(task, done.result), done.result, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="fixture names to run")
    ap.add_argument("--isolation", choices=("jail", "process"), default="jail")
    args = ap.parse_args()
    task = get_task("digits")
    data = public_data_file(task)
    os.environ["ARCHAGENT_TEST_SECRET"] = secret = "sk-containment-bench-secret"
    limits = SandboxLimits(timeout_s=60, max_disk_mb=64, memory_mb=2048, max_output_kb=16, isolation=args.isolation)
    with LocalExecutor(workers=1, limits=limits) as ex, socket.create_server(("127.0.0.1", PORT)) as listener:
        listener.setblocking(False)
        evaluate(ex, task, data, BENIGN.read_text())  # the server's start-up
        baseline, _, benign_s = evaluate(ex, task, data, BENIGN.read_text())
        (server,) = ex._servers.values()
        print(f"per-job caps: {server.caps}")
        print(f"isolation={args.isolation}; benign 1-epoch evaluation {benign_s:.2f} s, metric {baseline.metric:.4f}; "
              f"load average {os.getloadavg()[0]:.2f}\n")
        print(f"| {'attack class':36} | outcome | {'contained_s':>11} | {'over_benign_s':>13} | host_ok | next_ok "
              f"| what the attack saw / the recorded failure")
        print(f"|{'-' * 38}|---------|{'-' * 13}|{'-' * 15}|---------|---------|---")
        for label, name in CLASSES:
            if args.only and name not in args.only:
                continue
            before = host_state(data)
            ev, result, secs = evaluate(ex, task, data, (HOSTILE / f"{name}.py").read_text())
            try:
                listener.accept()
                reached = True
            except BlockingIOError:
                reached = False
            host_ok = host_state(data) == before and leftovers() == 0 and not reached
            host_ok = host_ok and secret not in f"{ev.failure_msg} {result.stderr_tail}"
            nxt, _, _ = evaluate(ex, task, data, BENIGN.read_text())
            outcome = f"ok {ev.metric:.2f}" if ev.ok else str(ev.failure_kind)
            saw = next((ln[7:] for ln in result.stderr_tail.splitlines() if ln.startswith("ATTACK ")),
                       (ev.failure_msg or "").splitlines()[-1] if ev.failure_msg else "")
            print(f"| {label:36} | {outcome:7} | {secs:11.2f} | {secs - benign_s:13.2f} | {host_ok!s:7} | "
                  f"{(nxt.ok and nxt.metric == baseline.metric)!s:7} | {saw.encode('unicode_escape').decode()[:150]}",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
