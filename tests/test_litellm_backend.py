"""The litellm backend against a real OpenAI-compatible HTTP server on 127.0.0.1.

The server is stdlib `http.server` in a thread; litellm is the real library,
driven through `model="openai/fake"` and `api_base`. Each test sets the
server's mode (a scripted list of HTTP statuses) and checks what the backend
returns or raises, and how many requests reached the server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from archagent.agent.config import BackendConfig
from archagent.agent.llm import LLMError, TransientLLMError, complete_with_retry, make_backend
from archagent.agent.llm.litellm_backend import LiteLLMBackend

from tests.helpers.fake_openai import REPLY, USAGE, FakeOpenAI, server  # noqa: F401  (the server fixture)

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-map fetch at import
pytest.importorskip("litellm")

KEY_ENV = "ARCHAGENT_TEST_FAKE_KEY"
MESSAGES = [{"role": "user", "content": "Propose a CNN."}]


@pytest.fixture
def api_base(server: str) -> str:  # noqa: F811  (the imported fixture)
    FakeOpenAI.script, FakeOpenAI.requests = [200], []
    FakeOpenAI.content, FakeOpenAI.delay_s, FakeOpenAI.usage = REPLY, 0.0, USAGE
    return server


@pytest.fixture(scope="module")
def backend(server: str) -> Iterator[LiteLLMBackend]:  # noqa: F811
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, "sk-test-123")
        yield LiteLLMBackend(_cfg(server, api_key_env=KEY_ENV))


def _cfg(api_base: str, model: str = "openai/fake", **kwargs: object) -> BackendConfig:
    return BackendConfig(kind="litellm", model=model, api_base=api_base, **kwargs)


def _retry(backend: LiteLLMBackend):
    return complete_with_retry(backend, MESSAGES, temperature=0.3, max_tokens=50, attempts=3, max_wait_s=0.01)


def test_completion_text_tokens_and_request(api_base: str, backend: LiteLLMBackend) -> None:
    out = backend.complete(MESSAGES, temperature=0.3, max_tokens=50)
    assert out.text == REPLY
    assert (out.prompt_tokens, out.completion_tokens) == (11, 7)
    assert out.cost_usd == 0.0 and out.latency_s > 0
    (request,) = FakeOpenAI.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test-123"
    assert request["body"]["model"] == "fake"
    assert request["body"]["messages"] == MESSAGES
    assert request["body"]["max_tokens"] == 50


def test_a_server_reporting_no_usage_gets_one_completion_token_per_streamed_chunk(
        api_base: str, backend: LiteLLMBackend) -> None:
    FakeOpenAI.usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}  # llama-cpp-python's server
    out = backend.complete(MESSAGES, temperature=0.3, max_tokens=50)
    assert out.text == REPLY and out.completion_tokens == len(re.findall(r"\s*\S+|\s+", REPLY)) == 4


def test_make_backend_builds_it(api_base: str) -> None:
    assert make_backend(_cfg(api_base)).complete(MESSAGES, temperature=0.0, max_tokens=5).text == REPLY


def test_rate_limit_is_retried(api_base: str, backend: LiteLLMBackend) -> None:
    FakeOpenAI.script = [429, 200]
    with pytest.raises(TransientLLMError):
        backend.complete(MESSAGES, temperature=0.3, max_tokens=50)
    assert len(FakeOpenAI.requests) == 1  # litellm and the openai client do not retry on their own
    FakeOpenAI.script, FakeOpenAI.requests = [429, 200], []
    assert _retry(backend).text == REPLY
    assert len(FakeOpenAI.requests) == 2


def test_server_error_is_transient_until_attempts_run_out(api_base: str, backend: LiteLLMBackend) -> None:
    FakeOpenAI.script = [500]
    with pytest.raises(TransientLLMError, match="500") as err:
        _retry(backend)
    assert "\n" not in str(err.value)
    assert len(FakeOpenAI.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_are_permanent(api_base: str, backend: LiteLLMBackend, status: int) -> None:
    FakeOpenAI.script = [status]
    with pytest.raises(LLMError) as err:
        _retry(backend)
    assert not isinstance(err.value, TransientLLMError)
    assert "\n" not in str(err.value)
    assert len(FakeOpenAI.requests) == 1


def test_empty_reply_is_transient(api_base: str, backend: LiteLLMBackend) -> None:
    FakeOpenAI.content = "  "
    with pytest.raises(TransientLLMError, match="empty"):
        backend.complete(MESSAGES, temperature=0.3, max_tokens=50)


def test_timeout_is_transient(api_base: str) -> None:
    FakeOpenAI.delay_s = 1.0
    with pytest.raises(TransientLLMError):
        LiteLLMBackend(_cfg(api_base, timeout_s=0.2)).complete(MESSAGES, temperature=0.3, max_tokens=50)


def test_connection_refused_is_transient() -> None:
    with pytest.raises(TransientLLMError):
        LiteLLMBackend(_cfg("http://127.0.0.1:9/v1")).complete(MESSAGES, temperature=0.3, max_tokens=50)


def test_missing_key_env_var_is_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARCHAGENT_NO_SUCH_KEY", raising=False)
    cfg = BackendConfig(kind="litellm", model="openai/fake", api_key_env="ARCHAGENT_NO_SUCH_KEY")
    with pytest.raises(LLMError, match=r"\$ARCHAGENT_NO_SUCH_KEY"):
        LiteLLMBackend(cfg)


def test_hosted_model_without_key_is_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMError, match=r"needs \$OPENAI_API_KEY"):
        LiteLLMBackend(BackendConfig(kind="litellm", model="openai/gpt-4o-mini"))


def test_cost_comes_from_litellm_price_map(api_base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test-123")
    cfg = _cfg(api_base, model="openai/gpt-4o-mini", api_key_env=KEY_ENV)
    out = LiteLLMBackend(cfg).complete(MESSAGES, temperature=0.3, max_tokens=50)
    assert 0.0 < out.cost_usd < 0.001  # 11 + 7 tokens at gpt-4o-mini prices


def test_stop_sequences_reach_the_server(api_base: str) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, "sk-test-123")
        LiteLLMBackend(_cfg(api_base, api_key_env=KEY_ENV, stop=["\n```\n"])).complete(
            MESSAGES, temperature=0.0, max_tokens=5)
    (request,) = FakeOpenAI.requests
    assert request["body"]["stop"] == ["\n```\n"]
