"""Every command in the README's bash blocks works verbatim after the demo (issue 25).

The demo here is `examples/mnist1d.toml` as shipped (same name, store, task, budget, operators), with its
local model swapped for a replay of two replies: a mutation of the cnn seed (the operator the agent's bandit
tries first), then one LLM rewrite, as the real demo makes #4 and #5 (#1-#3 are the task's seeds), in about
a minute.
Every other README command then runs exactly as written, `archagent` being this checkout's
`python -m archagent.agent.cli`, in a folder laid out like the repository. Not run: the install command
and the test command itself.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "archagent.agent.cli"]
NOT_RUN = ("apt-get ", "python -m pytest")  # the install command, and this test suite


def readme_commands() -> list[list[str]]:
    """Each command line of the README's ```bash blocks, split as a shell would (comments dropped)."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [shlex.split(line, comments=True) for block in blocks for line in block.splitlines()
            if line.strip() and not line.startswith(NOT_RUN)]


def demo_folder(tmp: Path) -> Path:
    """The repository's examples/ and the seed files the README names, with the demo on a replay backend."""
    (tmp / "examples").mkdir()
    shutil.copytree(ROOT / "evals" / "seeds", tmp / "evals" / "seeds")
    config = (ROOT / "examples" / "mnist1d.toml").read_text()
    assert config.count('kind = "local"') == 1, "the demo config changed: update this test's replay swap"
    (tmp / "examples" / "mnist1d.toml").write_text(
        config.replace('kind = "local"', 'kind = "replay"\npath = "demo-replay.jsonl"'))
    cnn = (ROOT / "evals" / "seeds" / "mnist1d" / "cnn.py").read_text()
    mutated = cnn.replace("nn.Conv1d(c, 32, kernel_size=5", "nn.Conv1d(c, 32, kernel_size=7").replace(
        "padding=2)", "padding=3)")
    rewrite = cnn.replace("1-D CNN", "Wider 1-D CNN").replace("32", "40")
    assert mutated != cnn and rewrite != cnn
    rows = [{"operator": "mutation", "code": mutated, "parents": [], "backend": "evolution"},
            {"operator": "rewrite", "reply": f"A wider first block.\n```python\n{rewrite}```\n"}]
    (tmp / "examples" / "demo-replay.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp


def run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    env.pop("ARCHAGENT_STORE", None)
    return subprocess.run([*CLI, *args[1:]], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


def serve_once(args: list[str], cwd: Path) -> None:
    """`archagent serve` runs until stopped: start it, fetch its front page, stop it."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 8765)) == 0:
            pytest.skip("port 8765 (the README's `serve` address) is taken on this machine")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*CLI, *args[1:]], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://\S+/", line)
        assert url, line + proc.stderr.read() if proc.poll() is not None else line
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url.group(0), timeout=10) as page:
                    assert page.status == 200 and b"mnist1d-demo" in page.read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_every_readme_command_works_after_the_demo(tmp_path: Path) -> None:
    commands = readme_commands()
    assert commands[0] == ["archagent", "run", "examples/mnist1d.toml"], "the demo comes first"
    assert all(c[0] == "archagent" for c in commands), commands
    cwd = demo_folder(tmp_path)
    for args in commands:
        if args[1] == "serve":
            serve_once(args, cwd)
            continue
        proc = run(args, cwd)
        shown = f"$ {shlex.join(args)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert proc.returncode == 0, shown
        assert "Traceback" not in proc.stderr and "error:" not in proc.stderr, shown
        if args[1] == "run":
            assert "╭" not in proc.stdout, "piped output is plain lines, not the live box"
    assert (cwd / "report.html").stat().st_size > 10_000
