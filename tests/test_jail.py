"""Hostile candidates with arbitrary code execution against the OS-level jail (`sandbox/jail.py`).

    pytest tests/test_jail.py -q

Every attack (tests/fixtures/hostile/jail_*.py) first switches the in-process guard
off, as an attacker would, so nothing here depends on it. Each must end as a
recorded failure or an honest (low) score, with no file changed outside the job
dir, no process left, no secret in any output, and the next benign evaluation
unaffected. All run on one warm jailed worker (real bwrap, real namespaces, real
seccomp, real training); nothing is mocked.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import pytest
from archagent.evals.tasks import get_task
from archagent.sandbox.jail import PROJECT_ROOT, jail_problem
from archagent.sandbox.judge import judge, make_job, public_data_file
from archagent.sandbox.limits import SandboxLimits
from archagent.sandbox.untrusted import for_prompt, for_terminal

pytestmark = pytest.mark.skipif(jail_problem() is not None, reason=f"no jail here: {jail_problem()}")
HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
SECRET = "sk-archagent-test-secret-7f3a9c"
LISTEN_PORT = 47613  # jail_netns_escape.py tries to reach the host here
BENIGN = PROJECT_ROOT / "evals" / "seeds" / "digits" / "mlp.py"


def host_state(data: Path) -> dict:
    """What an attack must not change on the host."""
    caches = [PROJECT_ROOT / p / "__pycache__" for p in ("sandbox", "evals", "knowledge")]
    return {
        "markers": sorted(str(p) for p in Path("/tmp").glob("archagent-jail-marker-*")),
        "pycache": sorted(str(p) for c in caches if c.is_dir() for p in c.glob("zz_archagent_attack*")),
        "project": sorted(str(p) for p in (PROJECT_ROOT / "sandbox").glob("pwned*")),
        "data": hashlib.sha256(data.read_bytes()).hexdigest(),
        "data_dir": sorted(os.listdir(data.parent)),
        "caches": [p for p in ("/tmp/archagent-data/poison.npz", "/root/.cache/archagent/data/poison.npz",
                               "/root/archagent-pwned") if os.path.exists(p)],
    }


def descendants(pid: int) -> list[int]:
    """All live processes below pid (host view)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def marker_processes() -> list[int]:
    hits = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if b"4321.5" in Path(f"/proc/{entry}/cmdline").read_bytes():
                    hits.append(int(entry))
            except OSError:
                continue
    return hits


class Jailed:
    """One warm jailed worker, a secret in the parent's environment, a listener on the host's loopback."""

    def __init__(self, data_dir: Path):
        from archagent.sandbox.local_executor import LocalExecutor

        self.task = get_task("digits")
        self.data = public_data_file(self.task, data_dir)
        self.limits = SandboxLimits(timeout_s=60, max_disk_mb=64, memory_mb=2048, max_output_kb=16)
        self.ex = LocalExecutor(workers=1, limits=self.limits)
        self.listener = socket.create_server(("127.0.0.1", LISTEN_PORT))
        self.listener.setblocking(False)
        self.baseline = self.run(BENIGN.read_text())[0].metric

    def run(self, code: str, epochs: int = 1):
        t0 = time.perf_counter()
        self.ex.submit(code, make_job(self.task, self.data, epochs=epochs))
        (done,) = list(self.ex.as_completed())
        return judge(self.task, done.result), done.result, time.perf_counter() - t0

    def server_pid(self) -> int:
        (pid,) = self.ex.server_pids()
        return pid

    def close(self) -> None:
        self.ex.shutdown()
        self.listener.close()


@pytest.fixture(scope="module")
def jailed(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHAGENT_TEST_SECRET", SECRET)
        mp.setenv("OPENAI_API_KEY", SECRET)
        harness = Jailed(tmp_path_factory.mktemp("jaildata"))
        yield harness
        harness.close()


ATTACKS = {  # fixture -> (must appear in its output: what it tried and how it went)
    "jail_guard_tables": ["read /etc/shadow: refused", "write the project: refused", "write /root: refused"],
    "jail_signal_frames": ["read /etc/shadow: refused"],
    "jail_dir_fd": ["read /etc/shadow via dir_fd: refused"],
    "jail_torch_alias": ["read /etc/shadow: refused"],
    "jail_nonce_forgery": ["via /proc/self/mem: ", "nonce from frames: True"],
    "jail_dataset_lookup": ["digits.csv.gz found: False"],
    "jail_fifo_result": ["fifos in place"],
    "jail_rethread": ["start a thread: SUCCEEDED"],
    "jail_parent_memory": ["read /proc/1/mem: refused"],
    "jail_setsid_survivor": ["daemon started"],
    "jail_pyc_persistence": ["open existing .pyc for writing: refused"],
    "jail_cache_poison": ["overwrite the data file: refused", "replace the data file: refused"],
    "jail_netns_escape": ["nsenter --net=/proc/PPID/ns/net: refused", "setns into any netns: refused",
                          "connect host loopback: refused", "connect the internet: refused"],
    "jail_markup": [],
    "jail_disk_fill": ["No space left on device"],
    "jail_host_root": ["write /proc/sys/kernel/core_pattern: refused", "write /proc/sys/vm/overcommit_memory: refused",
                       "read /proc/kpageflags: refused", "read /proc/slabinfo: refused",
                       "read /proc/vmallocinfo: refused", "clone(CLONE_NEWUSER): refused",
                       "clone(CLONE_NEWUSER|CLONE_NEWNET): refused", "clone3(CLONE_NEWUSER): refused",
                       "raw packet socket: refused"],
    "jail_scratch_poison": ["note in /dev: refused", "fill /dev: refused", "No space left on device",
                            "deep mode-000 tree in /jobs: SUCCEEDED"],
    "jail_cap_memfd": ["memfd holds 512 MB"],
    "jail_cap_procs": ["start 1000 processes: SUCCEEDED"],
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_contained(jailed, name):
    before, pid = host_state(jailed.data), jailed.server_pid()
    ev, result, seconds = jailed.run((HOSTILE / f"{name}.py").read_text())
    output = result.stderr_tail
    for needle in ATTACKS[name]:
        assert needle in output, output[-2000:]
    assert not ev.ok or ev.metric < 0.3, (ev.status, ev.metric, ev.failure_msg)  # a failure, or an honest low score
    assert result.report.isolation.get("jail") is True and ev.timings["isolation_jail"] == 1.0
    assert SECRET not in f"{ev.failure_msg} {output}" and "SECRET in" not in output
    assert host_state(jailed.data) == before
    assert jailed.server_pid() == pid and len(descendants(pid)) == 1  # bwrap -> the server (PID 1 of its jail)
    assert marker_processes() == []
    with pytest.raises(BlockingIOError):
        jailed.listener.accept()  # nothing reached the host's loopback
    assert seconds < 45
    again, _, _ = jailed.run(BENIGN.read_text())
    assert again.ok and again.metric == jailed.baseline  # the next benign evaluation is unaffected


def sysctls() -> dict[str, str]:
    return {name: Path(f"/proc/sys/{name}").read_text() for name in ("kernel/core_pattern", "vm/overcommit_memory")}


def test_host_root_is_out_of_reach(jailed):
    """Issue 24, host root: as root here, the job is still an unprivileged uid on the host: host-wide
    sysctls and root-only procfs files are out of reach, and no clone() makes it a new user namespace."""
    before = sysctls()
    ev, result, _ = jailed.run((HOSTILE / "jail_host_root.py").read_text())
    assert not ev.ok and "SUCCEEDED" not in result.stderr_tail.split("uid map")[0], result.stderr_tail[-2000:]
    assert sysctls() == before


def test_nothing_carries_over_between_jobs(jailed):
    """Issue 24, channels: notes in /jobs, /tmp, /dev/shm and the job dir, a mode-000 tree nested past
    PATH_MAX and past Python's recursion limit, a full /jobs: the next job finds none of it (same server,
    not lost), and an honest job right after scores as before."""
    pid = jailed.server_pid()
    for _ in range(2):
        ev, result, _ = jailed.run((HOSTILE / "jail_scratch_poison.py").read_text())
        assert "notes from an earlier job: SUCCEEDED 'no note from an earlier job'" in result.stderr_tail, \
            result.stderr_tail[-2000:]
        assert ev.failure_kind is not None and ev.failure_kind.value != "lost"
    assert jailed.server_pid() == pid  # the deep tree no longer kills the fork server
    again, _, _ = jailed.run(BENIGN.read_text())
    assert again.ok and again.metric == jailed.baseline


def caps_in_force(jailed) -> bool:
    (server,) = jailed.ex._servers.values()
    return server.caps.cgroup != "none"


def test_memfd_counts_against_the_memory_cap(jailed):
    """Issue 24, caps: 3.3 GB of memfd pages (outside RLIMIT_AS) under memory_mb = 2048: the job's cgroup
    (memory + disk + scratch allowances = 2240 MB) kills it, and the parent records why."""
    if not caps_in_force(jailed):
        pytest.skip("no per-job cgroup on this host")
    ev, result, _ = jailed.run((HOSTILE / "jail_cap_memfd.py").read_text())
    assert not ev.ok and ev.failure_kind.value == "memory" and "per-job memory cap (2240 MB" in ev.failure_msg
    assert "3264 MB held" not in result.stderr_tail and ev.timings["cgroup_peak_mb"] <= 2240 + 1


def test_process_count_is_capped(jailed):
    """Issue 24, caps: 1,000 forks; at most max_procs (64) tasks for the whole job, whoever runs archagent."""
    _, result, _ = jailed.run((HOSTILE / "jail_cap_procs.py").read_text())
    started = int(result.stderr_tail.split("start 1000 processes: SUCCEEDED '")[1].split(" started")[0])
    assert started <= jailed.limits.max_procs + 1, result.stderr_tail[-500:]  # pids.max: + helper, init, job


def test_the_caps_in_force_are_recorded_per_candidate(jailed):
    if not caps_in_force(jailed):
        pytest.skip("no per-job cgroup on this host")
    ev, result, _ = jailed.run(BENIGN.read_text())
    assert ev.timings["cap_cgroup"] in (1.0, 2.0) and ev.timings["cap_memory_mb"] == 2048 + 64 + 128
    assert ev.timings["cap_pids"] == jailed.limits.max_procs + 4 and 0 < ev.timings["cgroup_peak_mb"] < 2240
    assert result.report.isolation["cgroup_memory"] is True and result.report.isolation["cgroup_pids"] is True


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the check is that root's jail maps to no host root")
def test_jail_problem_refuses_a_jail_that_maps_to_host_root(monkeypatch):
    """The self-check runs in a real jail: bwrap's own user namespace, as root, maps the job to host root."""
    from archagent.sandbox import jail

    monkeypatch.setattr(jail, "drops_root", lambda: False)
    problem = jail.check_running_jail()
    assert problem and "the jail's uid maps to host root" in problem and "\n" not in problem


def test_forged_report_gets_only_what_its_predictions_earn(jailed):
    """The child can forge its own report (nonce from its own memory): it gains nothing the parent scores,
    but its claims (here: 1 parameter, never trained) are claims — docs/security.md says so."""
    ev, _, _ = jailed.run((HOSTILE / "jail_nonce_forgery.py").read_text())
    assert ev.ok and ev.metric < 0.3 and ev.params == 1


def test_fifos_never_block_the_parent(jailed):
    ev, _, seconds = jailed.run((HOSTILE / "jail_fifo_result.py").read_text())
    assert not ev.ok and seconds < 10


def test_injected_markup_is_inert_when_printed_and_prompted(jailed):
    ev, _, _ = jailed.run((HOSTILE / "jail_markup.py").read_text())
    shown, prompted = for_terminal(ev.failure_msg), for_prompt(ev.failure_msg)
    for text in (shown, prompted):
        assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text and "\x07" not in text
    assert "\\[bold green]" in shown  # rich prints it literally
    assert "```" not in prompted and "Ignore all previous instructions" in prompted


def test_an_interpreter_or_checkout_under_tmp_is_refused_in_one_line(monkeypatch):
    """Each jail and job mounts a private /tmp: a venv or checkout there would vanish (a lost worker)."""
    from archagent.sandbox import jail

    jail.jail_problem.cache_clear()
    monkeypatch.setattr(jail, "interpreter_roots", lambda: ["/usr", "/tmp/venv"])
    try:
        problem = jail.jail_problem()
    finally:
        jail.jail_problem.cache_clear()
    assert problem and problem.startswith("/tmp/venv lies under /tmp") and "\n" not in problem
