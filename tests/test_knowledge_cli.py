"""`archagent backends check` and `archagent export-replay`, through the real CLI in a subprocess.

The litellm backends talk to a stdlib OpenAI-compatible server on 127.0.0.1
(`tests/test_litellm_backend.py`'s `FakeOpenAI`); litellm itself is real.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from archagent.knowledge.records import Status
from archagent.knowledge.store import Store

from tests.helpers.cli import cli, one_line_error
from tests.helpers.fake_openai import REPLY, FakeOpenAI


@pytest.fixture
def api_base() -> Iterator[str]:
    FakeOpenAI.script, FakeOpenAI.requests, FakeOpenAI.content, FakeOpenAI.delay_s = [200], [], REPLY, 0.0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_backends_check_reports_latency_or_the_exact_error(api_base: str, tmp_path: Path) -> None:
    replay = tmp_path / "r.jsonl"
    replay.write_text(json.dumps({"reply": "OK then", "model": "fixture"}) + "\n")
    (tmp_path / "c.toml").write_text(f"""
[[backends]]
kind = "replay"
path = "{replay}"
[[backends]]
kind = "litellm"
model = "openai/fake"
api_base = "{api_base}"
weight = 0.2
[[backends]]
kind = "litellm"
model = "openai/nobody"
api_base = "http://127.0.0.1:{closed_port()}/v1"
timeout_s = 5
[[backends]]
kind = "replay"
path = "missing.jsonl"
""")
    proc = cli("backends", "check", "c.toml", "--json", cwd=tmp_path)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 1, proc.stderr
    assert [r["ok"] for r in rows] == [True, True, False, False]
    assert rows[0]["detail"] == "OK then" and rows[0]["model"] == "fixture"
    assert rows[1]["latency_s"] > 0 and rows[1]["detail"].startswith("class Net")
    assert FakeOpenAI.requests[0]["body"]["max_tokens"] == 8  # one tiny request
    assert "openai/nobody" in rows[2]["detail"] and "Connection" in rows[2]["detail"]
    assert "replay file not found" in rows[3]["detail"]
    table = cli("backends", "check", "c.toml", cwd=tmp_path)
    assert table.returncode == 1 and "FAILED" in table.stdout and "Traceback" not in table.stdout + table.stderr


def test_backends_check_bad_config_is_one_line(tmp_path: Path) -> None:
    one_line_error(cli("backends", "check", "nope.toml", cwd=tmp_path), "config file not found")


def test_export_replay_writes_every_reply_with_its_purpose(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    camp = store.create_campaign("demo", "digits", "{}")
    second = store.add_llm_call(camp.id, backend="replay:a", model="m", purpose="propose", prompt="[]", reply="B")
    first = store.add_llm_call(camp.id, backend="replay:a", model="m", purpose="propose", prompt="[]", reply="A")
    store.add_llm_call(camp.id, backend="replay:a", model="m", purpose="analyze", prompt="[]", reply="- x [ids: 1]")
    store.add_llm_call(camp.id, backend="replay:a", model="m", purpose="propose", prompt="[]", error="HTTP 500")
    store.add_candidate(camp.id, "a", Status.OK, llm_call_id=first)  # candidate order, not call order
    store.add_candidate(camp.id, "b", Status.OK, llm_call_id=second)
    store.close()
    proc = cli("export-replay", "demo", "--out", "out.jsonl", "--store", "s.db", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 3 replies (1 analyze, 2 propose)" in proc.stdout and "left out 1" in proc.stdout
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    expected = [("A", "propose"), ("B", "propose"), ("- x [ids: 1]", "analyze")]
    assert [(r["reply"], r["purpose"]) for r in rows] == expected
    one_line_error(cli("export-replay", "nope", "--out", "o.jsonl", "--store", "s.db", cwd=tmp_path), "no campaign")
