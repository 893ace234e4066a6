"""A real OpenAI-compatible HTTP server on 127.0.0.1 (stdlib `http.server` in a thread) with scripted replies.

    FakeOpenAI.script = [429, 200]   # HTTP status per request, the last one repeats
    FakeOpenAI.token_s = 0.5         # a streamed reply (`"stream": true`) sends one token every 0.5 s
    def test_x(server): ...          # the `server` fixture: its /v1 base URL (import it into the test module)
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

REPLY = "class Net(nn.Module):\n    pass\n"
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}  # what the server reports, streamed or not


class FakeOpenAI(BaseHTTPRequestHandler):
    """`/v1/chat/completions`: answers with the next status in `script` (the last one repeats)."""

    script: list[int] = [200]
    requests: list[dict] = []
    content: str | list[str] = REPLY  # a list: one reply per successful request, in order
    delay_s: float = 0.0
    token_s: float = 0.0  # seconds between streamed tokens
    cancelled: int = 0  # streams the client hung up on
    usage: dict = USAGE  # what a stream's last chunk reports (llama-cpp-python's server sends zeros)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        cls.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        status = cls.script[min(len(cls.requests), len(cls.script)) - 1]
        # Take the reply before sleeping: a slow request left over from an earlier test (its client timed
        # out) must not wake up inside the next test and pop that test's scripted reply.
        content = cls.content if isinstance(cls.content, str) or status != 200 else cls.content.pop(0)
        time.sleep(cls.delay_s)
        if status == 200 and body.get("stream"):
            self._stream(body, content)
            return
        self._send(status, _ok_payload(body, content) if status == 200 else _error_payload(status))

    def _stream(self, body: dict, content: str) -> None:
        """Server-sent events as OpenAI streams them: a chunk per token (a word or a newline), then usage."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        tokens = re.findall(r"\s*\S+|\s+", content)
        chunks = [_chunk(body, {"role": "assistant", "content": ""})]
        chunks += [_chunk(body, {"content": t}) for t in tokens] + [_chunk(body, {}, "stop")]
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({**_chunk(body, {}), "choices": [], "usage": type(self).usage})
        try:
            for i, chunk in enumerate(chunks):
                if 0 < i <= len(tokens):
                    time.sleep(type(self).token_s)
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading: a cancelled request
            type(self).cancelled += 1

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the client gave up first (timeout test)
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _ok_payload(body: dict, content: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": USAGE,
    }


def _chunk(body: dict, delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _error_payload(status: int) -> dict:
    return {"error": {"message": f"fake error {status}", "type": "fake", "code": str(status)}}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()
