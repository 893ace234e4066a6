"""Hostile candidates in real sandboxed processes: each is contained and recorded as a failure.

    pytest tests/test_sandbox_hostile.py -q

Every test spawns a real `python -m sandbox.child`; nothing under test is mocked.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from archagent.evals.tasks import get_task
from archagent.knowledge.records import FailureKind
from archagent.sandbox.judge import Evaluator, make_job, public_data_file
from archagent.sandbox.limits import SandboxLimits
from archagent.sandbox.runner import SubprocessRunner

HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
FORBIDDEN, TIMEOUT, MEMORY = FailureKind.FORBIDDEN, FailureKind.TIMEOUT, FailureKind.MEMORY


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    task = get_task("digits")
    return task, public_data_file(task, tmp_path_factory.mktemp("data"))


def probe(digits, name: str, **limits):
    """Load + build + shape-check one fixture (no training) in a real child."""
    task, data = digits
    runner = SubprocessRunner(threads=1, limits=SandboxLimits(**{"timeout_s": 60, **limits}))
    return runner.run((HOSTILE / f"{name}.py").read_text(), make_job(task, data, stage="probe"))


@pytest.mark.parametrize("name, needle", [
    ("fork_bomb", "os.fork"),
    ("socket_connect", "socket"),
    ("proc_environ", "/environ"),
    ("write_outside", "/tmp/archagent-hostile-was-here.txt"),
    ("kill_parent", "os.kill"),
    ("ctypes_kill", "ctypes"),
    ("subprocess_shell", "subprocess.Popen"),
    ("patch_torch", "patching torch"),
    ("label_snoop", "gc.get_objects"),
    ("thread_escape", "start_new_thread"),
    ("fake_result_file", "result.json"),
    ("exit_early", "exit early"),
    ("os_exit_early", "early exit"),
    ("torch_file_io", "file I/O"),
])
def test_forbidden_attempts_are_refused_and_recorded(digits, name, needle):
    result = probe(digits, name)
    assert result.report.failure_kind == FORBIDDEN, result.report
    assert needle in result.report.failure_msg
    assert not result.preds
    assert not Path("/tmp/archagent-hostile-was-here.txt").exists()
    assert not Path("/tmp/archagent-hostile-shell.txt").exists()
    assert not Path("/tmp/archagent-hostile-torchsave.pt").exists()


def test_infinite_loop_is_killed_at_the_wall_clock_timeout(digits):
    result = probe(digits, "infinite_loop", timeout_s=6)
    assert result.report.failure_kind == TIMEOUT
    assert 6 <= result.wall_s < 9


def test_signal_ignoring_busy_loop_dies_at_the_cpu_limit(digits):
    result = probe(digits, "busy_ignore_signals", timeout_s=60, cpu_s=4)
    assert result.report.failure_kind == TIMEOUT, result.report
    assert "CPU time limit" in result.report.failure_msg
    assert result.wall_s < 30


def test_memory_hog_fails_cleanly_past_the_address_space_limit(digits):
    result = probe(digits, "memory_hog", memory_mb=2048)
    assert result.report.failure_kind == MEMORY, result.report


def test_stdout_flood_is_capped_and_killed(digits):
    result = probe(digits, "stdout_spam", max_output_kb=16)
    assert result.report.failure_kind == FORBIDDEN
    assert "stdout" in result.report.failure_msg
    assert len(result.stderr_tail.encode()) <= 16 * 1024


def test_environment_secrets_never_reach_the_child(digits, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-should-never-leak")
    monkeypatch.setenv("ARCHAGENT_SECRET_TOKEN", "tok-should-never-leak")
    result = probe(digits, "env_secret")
    assert result.report.failure_kind == FailureKind.BUILD
    text = result.report.failure_msg + result.stderr_tail
    assert "ENV=" in text and "should-never-leak" not in text and "OPENAI" not in text


def test_child_runs_under_the_configured_limits(digits):
    result = probe(digits, "limits_probe", memory_mb=3000, cpu_s=77, max_file_mb=5, max_open_files=99)
    msg = result.report.failure_msg
    assert f"'RLIMIT_AS': {3000 * 1024 * 1024}" in msg and "'RLIMIT_CPU': 77" in msg
    assert f"'RLIMIT_FSIZE': {5 * 1024 * 1024}" in msg and "'RLIMIT_NOFILE': 99" in msg and "'RLIMIT_CORE': 0" in msg
    assert "PGID_IS_PID=True" in msg and "CWD=/jobs/job-" in msg  # the jail's job area, not a host path
    assert "NET=['lo']" in msg  # a fresh network namespace: loopback only (we run as root here)
    assert result.report.isolation["network_namespace"] is True


@pytest.mark.parametrize("isolation, cwd", [("jail", "/jobs/job-"), ("process", "{tmp}/archagent-job-")])
def test_job_directory_is_private_and_removed_afterwards(digits, tmp_path, monkeypatch, isolation, cwd):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # host-side job dirs go here, nowhere else
    result = probe(digits, "limits_probe", isolation=isolation)
    assert "CWD=" + cwd.format(tmp=tmp_path) in result.report.failure_msg
    assert result.report.isolation["jail"] is (isolation == "jail")
    assert list(tmp_path.iterdir()) == []


def test_fake_result_lines_do_not_change_the_score(digits):
    task, data = digits
    ev = Evaluator(task, SubprocessRunner(threads=1, limits=SandboxLimits(timeout_s=120)), data.parent)
    result = ev.evaluate((HOSTILE / "fake_result_line.py").read_text(), epochs=1)
    assert result.ok and result.metric < 0.3  # a constant predictor, whatever it printed


@pytest.mark.parametrize("name, needle", [("nan_outputs", "NaN"), ("nan_loss", "loss became nan")])
def test_nan_is_a_failure(digits, name, needle):
    task, data = digits
    ev = Evaluator(task, SubprocessRunner(threads=1, limits=SandboxLimits(timeout_s=120)), data.parent)
    result = ev.evaluate((HOSTILE / f"{name}.py").read_text(), epochs=1)
    assert result.failure_kind == FailureKind.NAN and needle in result.failure_msg


def test_a_benign_seed_trains_and_scores_under_the_full_sandbox(digits):
    task, data = digits
    ev = Evaluator(task, SubprocessRunner(threads=1, limits=SandboxLimits(timeout_s=120)), data.parent)
    result = ev.evaluate(task.seeds()["mlp"], epochs=2)
    assert result.ok and result.metric > 0.5, result.failure_msg
    assert result.timings["vm_peak_mb"] < SandboxLimits().memory_mb


def test_candidate_errors_outside_its_own_methods_are_its_failure_not_a_crash(digits):
    result = probe(digits, "unhashable_net")
    assert not result.report.ok
    assert result.report.failure_kind == FailureKind.BUILD and "unhashable" in result.report.failure_msg
