"""The local llama.cpp backend: model resolution, and one real completion.

The real-model tests assemble the default preset (Qwen2.5-Coder-1.5B) from the installed chunk
packages (into the default model cache, so later runs reuse it) and asks it
for a short PyTorch snippet. It is skipped unless the `local` extra is there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from archagent.agent.config import BackendConfig
from archagent.agent.llm.base import LLMError
from archagent.agent.llm.local import resolve_model
from archagent.agent.llm.model_files import DEFAULT_MODEL, PRESETS


def test_unknown_model_name_is_one_line_error() -> None:
    with pytest.raises(LLMError, match="neither a preset"):
        resolve_model("gpt-5")


def test_missing_gguf_path_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match="not found"):
        resolve_model(str(tmp_path / "nope.gguf"))


def test_existing_gguf_path_is_used_as_is(tmp_path: Path) -> None:
    (tmp_path / "tiny.gguf").write_bytes(b"GGUF")
    assert resolve_model(str(tmp_path / "tiny.gguf")) == ("tiny", tmp_path / "tiny.gguf")


@pytest.mark.local_llm
def test_real_completion_from_assembled_model() -> None:
    pytest.importorskip("llama_cpp")
    for module in PRESETS[DEFAULT_MODEL].part_modules:
        pytest.importorskip(module)
    from archagent.agent.llm.local import LocalBackend

    # One thread: with 2 cores shared by other work, llama.cpp's 2 spinning threads run ~5x slower.
    backend = LocalBackend(BackendConfig(kind="local", n_ctx=1024), seed=1, n_threads=1)
    try:
        messages = [
            {"role": "system", "content": "You write short PyTorch code. Reply with code only."},
            {"role": "user", "content": "A PyTorch nn.Linear layer from 8 to 4 features, in one line."},
        ]
        out = backend.complete(messages, temperature=0.0, max_tokens=32)
    finally:
        backend.close()
    assert out.prompt_tokens > 0 and out.completion_tokens > 0
    assert out.text.strip() and out.latency_s > 0 and out.cost_usd == 0.0
    assert out.model == DEFAULT_MODEL


@pytest.mark.local_llm
def test_stop_sequence_ends_the_reply() -> None:
    pytest.importorskip("llama_cpp")
    for module in PRESETS[DEFAULT_MODEL].part_modules:
        pytest.importorskip(module)
    from archagent.agent.llm.local import LocalBackend

    messages = [{"role": "user", "content": "Count from 1 to 12, separated by commas. Nothing else."}]
    backend = LocalBackend(BackendConfig(kind="local", n_ctx=512, stop=["7"]), seed=1, n_threads=1)
    try:
        out = backend.complete(messages, temperature=0.0, max_tokens=48)
    finally:
        backend.close()
    assert "3" in out.text and "7" not in out.text and "12" not in out.text


@pytest.mark.local_llm
def test_tokens_stream_to_the_display_and_a_cancel_stops_the_reply() -> None:
    """The live display sees the count grow while the model writes; a cancelled campaign stops it mid-reply."""
    import threading
    import time

    pytest.importorskip("llama_cpp")
    for module in PRESETS[DEFAULT_MODEL].part_modules:
        pytest.importorskip(module)
    from archagent.agent.llm.activity import RequestCancelled, Requests, track
    from archagent.agent.llm.local import LocalBackend

    backend = LocalBackend(BackendConfig(kind="local", n_ctx=1024), seed=1, n_threads=1)
    messages = [{"role": "user", "content": "Write a long PyTorch CNN for CIFAR-10 with many comments."}]
    requests, counts = Requests(), []

    def watch() -> None:  # the display's view, from another thread
        while not requests.cancelled:
            counts.extend(r.tokens for r in requests.snapshot())
            if counts and counts[-1] >= 12:
                requests.cancel()
            time.sleep(0.05)

    try:
        watcher = threading.Thread(target=watch)
        watcher.start()
        with requests.bound(), track("rewrite", "local"), pytest.raises(RequestCancelled):
            backend.complete(messages, temperature=0.0, max_tokens=400)
        watcher.join(5)
        requests2 = Requests()
        with requests2.bound(), track("rewrite", "local"):
            out = backend.complete(messages, temperature=0.0, max_tokens=16)  # the model is usable after a cancel
    finally:
        backend.close()
    assert len(set(counts)) >= 3 and counts == sorted(counts)  # it grew, token by token
    assert 12 <= counts[-1] < 40  # stopped within a few tokens of the cancel, far short of 400
    assert out.completion_tokens in range(14, 18) and out.prompt_tokens > 10
