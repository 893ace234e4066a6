"""OS-level isolation on real processes: network namespace, process-group kill, parent death, env.

    pytest tests/test_sandbox_isolation.py -q
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from archagent.sandbox.isolation import PROJECT_ROOT
from archagent.sandbox.runner import send_nonce_and_wait


def run_py(code: str, env: dict | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(PROJECT_ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


CONNECT = """
import socket, sys
from archagent.sandbox.isolation import enter_network_namespace
entered = enter_network_namespace() if sys.argv[-1] == "isolate" else False
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    print("connected", entered)
except OSError as err:
    print("refused", entered, err.errno)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="a new network namespace needs CAP_SYS_ADMIN")
def test_network_namespace_cuts_off_even_localhost():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        code = CONNECT.format(port=port)
        plain = subprocess.run([sys.executable, "-c", code, "plain"], capture_output=True, text=True,
                               env={"PYTHONPATH": str(PROJECT_ROOT)}, timeout=30)
        isolated = subprocess.run([sys.executable, "-c", code, "isolate"], capture_output=True, text=True,
                                  env={"PYTHONPATH": str(PROJECT_ROOT)}, timeout=30)
    assert plain.stdout.startswith("connected"), plain.stderr
    assert isolated.stdout.startswith("refused True"), isolated.stderr


def test_timeout_kills_the_whole_process_group():
    proc = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!; trap '' TERM; sleep 60"], start_new_session=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    grandchild = int(proc.stdout.readline())
    t0 = time.perf_counter()
    end = send_nonce_and_wait(proc, "nonce", timeout_s=1.0)
    assert end.timed_out and time.perf_counter() - t0 < 3
    time.sleep(0.2)
    assert not alive(grandchild) and not alive(proc.pid)


def test_child_dies_with_its_parent():
    code = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "from sandbox.isolation import die_with_parent; die_with_parent(); print('armed', flush=True); import time; "
    "time.sleep(60)"], stdout=subprocess.PIPE)
child.stdout.readline()
print(child.pid, flush=True)
time.sleep(60)
"""
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": os.environ["PATH"]})
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def test_environment_is_an_allow_list():
    out = run_py("import json, os; from pathlib import Path; from sandbox.isolation import scrub_environ; "
                 "scrub_environ(Path('/tmp'), 1); print(json.dumps(sorted(os.environ)))",
                 env={"OPENAI_API_KEY": "sk-x", "AWS_SECRET_ACCESS_KEY": "y", "HF_TOKEN": "z", "LANG": "C.UTF-8"})
    keys = json.loads(out.stdout)
    assert "LANG" in keys and not {"OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "HF_TOKEN"} & set(keys)


def test_without_a_jail_untrusted_code_is_refused_in_one_line(monkeypatch, tmp_path):
    import archagent.sandbox.isolation as isolation
    from archagent.sandbox import jail
    from archagent.sandbox.limits import SandboxLimits

    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap to be found
    monkeypatch.setattr(isolation, "_warned_unsafe", False)
    jail.jail_problem.cache_clear()
    try:
        with pytest.raises(isolation.JailUnavailable, match="bubblewrap") as err:
            isolation.require_isolation(SandboxLimits())
        assert "\n" not in str(err.value) and 'isolation = "process"' in str(err.value)
        with pytest.warns(RuntimeWarning, match="WITHOUT the OS-level jail"):
            assert isolation.require_isolation(SandboxLimits(isolation="process")) == "process"
    finally:
        jail.jail_problem.cache_clear()


def test_the_cli_refuses_to_evaluate_without_a_jail(tmp_path):
    seed = PROJECT_ROOT / "evals" / "seeds" / "digits" / "mlp.py"
    run = subprocess.run([sys.executable, "-c", "from agent.cli import main; main()", "evaluate", "--task", "digits",
                          str(seed), "--json"], capture_output=True, text=True, timeout=120,
                         env={"PATH": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT)})
    assert run.returncode == 2 and run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to run untrusted candidates" in lines[0] and "bubblewrap" in lines[0]
