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

The parent-side classes of issue 24 follow in the same table: predictions as a
zip bomb or as strings, held-out labels regenerated on mnist1d, a model that is
small when checked and large when trained (run as the fused `probe_full` job),
and two that never reach a job: a source nested 600 deep (the parent's
canonicaliser, `agent.pipeline.fingerprint`) and markup in report.md (rendered
with markdown-it). Their `what the attack saw` also gives the parent's peak-RSS growth.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
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
    ("predictions: zip bomb (1 GB inflated)", "jail_preds_bomb"),
    ("predictions stored as strings", "jail_preds_strings"),
    ("held-out labels regenerated (mnist1d)", "jail_heldout_regen"),
    ("checked small, trained large (fused job)", "jail_size_switch"),
]
TASKS = {"jail_heldout_regen": ("mnist1d", {"epochs": 1})}  # default: digits
STAGES = {"jail_size_switch": "probe_full"}  # default: full
PARENT_ONLY = [("source nested 600 deep (canonicaliser)", "jail_deep_source"),
               ("markup in report.md", "jail_report_markup")]
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


def evaluate(ex: LocalExecutor, task, data: Path, code: str, stage: str = "full"):
    t0 = time.perf_counter()
    ex.submit(code, make_job(task, data, stage=stage, epochs=1))
    (done,) = list(ex.as_completed())
    return judge(task, done.result), done.result, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="fixture names to run")
    ap.add_argument("--isolation", choices=("jail", "process"), default="jail")
    ap.add_argument("--port", type=int, default=PORT, help="host loopback listener (jail_netns_escape targets 47613)")
    args = ap.parse_args()
    task = get_task("digits")
    data = public_data_file(task)
    os.environ["ARCHAGENT_TEST_SECRET"] = secret = "sk-containment-bench-secret"
    limits = SandboxLimits(timeout_s=60, max_disk_mb=64, memory_mb=2048, max_output_kb=16, isolation=args.isolation)
    with LocalExecutor(workers=1, limits=limits) as ex, socket.create_server(("127.0.0.1", args.port)) as listener:
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
            row_task = get_task(*TASKS[name]) if name in TASKS else task
            row_data = public_data_file(row_task) if name in TASKS else data  # before the host snapshot
            before, rss = host_state(data), max_rss_mb()
            ev, result, secs = evaluate(ex, row_task, row_data, (HOSTILE / f"{name}.py").read_text(),
                                        STAGES.get(name, "full"))
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
            if name.startswith(("jail_preds", "jail_heldout", "jail_size")):
                saw = (f"parent RSS +{max_rss_mb() - rss:.0f} MB; {saw}; recorded: "
                       f"{ev.failure_msg or f'params {ev.params}, test {ev.test_metric:.2f}'}")
            print(f"| {label:36} | {outcome:7} | {secs:11.2f} | {secs - benign_s:13.2f} | {host_ok!s:7} | "
                  f"{(nxt.ok and nxt.metric == baseline.metric)!s:7} | {saw.encode('unicode_escape').decode()[:220]}",
                  flush=True)
        for label, name in PARENT_ONLY:
            if not args.only or name in args.only:
                print(parent_row(label, name, ex, task, data, baseline.metric), flush=True)


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parent_row(label: str, name: str, ex: LocalExecutor, task, data: Path, baseline: float) -> str:
    """A class the parent meets before or after the job: its outcome, time, and the next benign score."""
    from archagent.agent.pipeline import fingerprint

    code, rss, t0 = (HOSTILE / f"{name}.py").read_text(), max_rss_mb(), time.perf_counter()
    if name == "jail_deep_source":
        _, refusal = fingerprint(code)
        outcome, saw = ("syntax" if refusal else "missed"), f"failed candidate: {refusal}"
    else:
        outcome, saw = markup_outcome(code)
    secs = time.perf_counter() - t0
    nxt, _, _ = evaluate(ex, task, data, BENIGN.read_text())
    return (f"| {label:36} | {outcome:7} | {secs:11.3f} | {'-':>13} | {'True':7} | "
            f"{(nxt.ok and nxt.metric == baseline)!s:7} | parent RSS +{max_rss_mb() - rss:.0f} MB; {saw[:110]}")


def markup_outcome(code: str) -> tuple[str, str]:
    """The Markdown report's two filters on the candidate's docstring and code, rendered as HTML."""
    import ast

    from archagent.evals.report.render import md_fenced, md_text
    from markdown_it import MarkdownIt

    doc = ast.get_docstring(next(n for n in ast.parse(code).body if isinstance(n, ast.ClassDef)))
    html = MarkdownIt("commonmark").render(f"### {md_text(doc)}\n\n{md_fenced(code, 'python')}\n")
    live = [tag for tag in ("<script", "<img") if tag in html]
    return ("escaped" if not live else "LIVE"), f"live tags in the rendered report: {live or 'none'}"


if __name__ == "__main__":
    sys.exit(main())
