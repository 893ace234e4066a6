"""What `archagent run` shows a person (issue 25): on a terminal, in a pipe, and on Ctrl-C.

A real `archagent run` in a pseudo-terminal (pexpect), its screen rebuilt by a terminal emulator (pyte),
while its one LLM request goes to a real OpenAI-compatible server on 127.0.0.1 that streams a token every
`token_s` seconds (tests/helpers/fake_openai.py), through the real litellm backend. The campaign is
digits with a 1-epoch recipe and the rewrite operator only, so the LLM is asked right after the seeds.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from archagent.knowledge.store import Store

from tests.helpers.fake_openai import FakeOpenAI, server  # noqa: F401  (the server fixture)

pexpect = pytest.importorskip("pexpect")
pyte = pytest.importorskip("pyte")
pytest.importorskip("litellm")

ROOT = Path(__file__).resolve().parents[1]
REWRITE = (ROOT / "evals" / "seeds" / "digits" / "mlp.py").read_text().replace("128", "160")  # a new architecture
COLS, ROWS = 100, 30


@pytest.fixture
def slow_llm(server: str) -> Iterator[str]:  # noqa: F811  (the imported fixture)
    """The fake server, streaming the reply one token every 0.4 s (~60 tokens: ~25 s)."""
    FakeOpenAI.script, FakeOpenAI.requests, FakeOpenAI.delay_s = [200], [], 0.0
    FakeOpenAI.content, FakeOpenAI.token_s, FakeOpenAI.cancelled = f"```python\n{REWRITE}```\n", 0.4, 0
    yield server
    FakeOpenAI.token_s = 0.0


def config(tmp: Path, api_base: str, **budget: float) -> Path:
    lines = ['name = "live"', 'store = "live.db"', "[task]", 'name = "digits"', "options = { epochs = 1 }",
             "[budget]", "proposals = 1", *(f"{k} = {v}" for k, v in budget.items()),
             "[[backends]]", 'kind = "litellm"', 'model = "openai/fake"', f'api_base = "{api_base}"',
             "[operators]", 'use = ["rewrite"]']
    path = tmp / "live.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Terminal:
    """`archagent run CONFIG` in a pty; `screen()` is what a person sees now."""

    def __init__(self, cfg: Path):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLUMNS": str(COLS),
               "LINES": str(ROWS)}
        self.child = pexpect.spawn(sys.executable, ["-m", "archagent.agent.cli", "run", str(cfg)], cwd=str(cfg.parent),
                                   env=env, dimensions=(ROWS, COLS), encoding="utf-8", codec_errors="replace")
        self.emulator = pyte.Screen(COLS, ROWS)
        self.stream = pyte.Stream(self.emulator)

    def pump(self, seconds: float) -> None:
        """Feed the emulator what the program writes for `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.stream.feed(self.child.read_nonblocking(65536, timeout=0.1))
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                return

    def screen(self) -> str:
        return "\n".join(line.rstrip() for line in self.emulator.display)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(0.25)
            found = re.search(pattern, self.screen())
            if found:
                return found
        raise AssertionError(f"{pattern!r} not on screen within {timeout} s:\n{self.screen()}")

    def finish(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.child.isalive() and time.monotonic() < deadline:
            self.pump(0.2)
        self.pump(0.3)
        assert not self.child.isalive(), f"still running after {timeout} s:\n{self.screen()}"
        self.child.close()
        return self.child.exitstatus if self.child.exitstatus is not None else 128 + self.child.signalstatus


LLM_LINE = r"LLM rewrite \(litellm:openai/fake\): (\d+) s(?:, (\d+) tokens)?"
STREAMING = r"LLM rewrite \(litellm:openai/fake\): (\d+) s, (\d+) tokens"  # the reply is arriving
CLOCK = r"elapsed\s+(\d+):(\d\d)"


def seconds(match: re.Match) -> int:
    return int(match.group(1)) * 60 + int(match.group(2))


def test_the_clock_and_the_llm_request_move_while_the_model_writes(tmp_path: Path, slow_llm: str) -> None:
    term = Terminal(config(tmp_path, slow_llm))
    first = term.wait_for(STREAMING, timeout=240)
    clock0 = seconds(re.search(CLOCK, term.screen()))
    term.pump(3.0)  # the model is still writing (~25 s in all): nothing else happens meanwhile
    screen = term.screen()
    later = re.search(LLM_LINE, screen)
    assert later, screen
    assert seconds(re.search(CLOCK, screen)) >= clock0 + 2, screen  # the clock moved
    assert int(later.group(1)) >= int(first.group(1)) + 2, screen  # so did the request's seconds
    assert int(later.group(2) or 0) >= int(first.group(2)) + 3, screen  # and its streamed token count
    assert term.finish(timeout=120) == 0, term.screen()
    final = term.screen()
    assert final.count("╭") == 1 and "live: proposal budget (1) spent" in final, final
    assert re.search(r"proposals\s+1/1", final), final


def test_ctrl_c_stops_at_once_with_one_line(tmp_path: Path, slow_llm: str) -> None:
    FakeOpenAI.token_s = 2.0  # ~2 minutes for the reply: an exit well before that did not wait for it
    term = Terminal(config(tmp_path, slow_llm))
    term.wait_for(STREAMING, timeout=240)
    t0 = time.monotonic()
    term.child.sendintr()  # Ctrl-C: the terminal sends SIGINT to the whole foreground process group
    status = term.finish(timeout=30)
    took = time.monotonic() - t0
    screen = term.screen()
    assert status == 130, screen
    # ~2.5 s on an idle box; the bound only says it did not wait for the reply (load stretches the exit)
    assert took < 45, f"Ctrl-C took {took:.1f} s to exit"
    assert "interrupted — run the same command to resume" in screen, screen
    assert screen.count("╭") == 1 and screen.count("╰") == 1, screen  # the box once, not redrawn
    assert "Traceback" not in screen, screen
    with Store(tmp_path / "live.db") as store:
        assert store.campaign("live").state == "interrupted"
        assert not store.llm_calls(store.campaign("live").id)  # the abandoned reply is not recorded
    deadline = time.monotonic() + 10
    while not FakeOpenAI.cancelled and time.monotonic() < deadline:
        time.sleep(0.2)
    assert FakeOpenAI.cancelled == 1  # the server saw the client hang up mid-reply


def test_a_time_limit_drops_the_reply_in_flight_and_spans_runs(tmp_path: Path, slow_llm: str) -> None:
    """wall_time_s bounds the campaign: the slow reply is dropped at the limit, and a re-run has no time left."""
    from archagent.agent.config import load_config
    from archagent.agent.loop import Campaign

    FakeOpenAI.token_s = 2.0  # ~2 minutes for the reply: far past the limit
    cfg = load_config(config(tmp_path, slow_llm, wall_time_s=40))
    t0 = time.monotonic()
    summary = Campaign(cfg).run()
    took = time.monotonic() - t0
    assert "wall-time budget (40 s) spent" in summary.stop_reason
    assert took < 40 + 10, f"the run took {took:.0f} s against a 40 s limit"
    again = Campaign(cfg).run()
    assert "wall-time budget" in again.stop_reason and again.run_s < 10
    assert again.elapsed_s >= 40  # the campaign's total, over both runs
