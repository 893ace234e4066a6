"""Grammar-constrained edits with the real local model: every reply parses and applies.

The default preset (Qwen2.5-Coder-1.5B) edits each seed of digits and mnist1d once
through the product's edit operator (SEARCH/REPLACE blocks, the grammar built from
that seed); every reply must be a sentence of the grammar and apply to the seed.
Slow: the prompt evaluation alone took 265 s per reply at load 15 on 2 cores (seconds when idle).
"""

from __future__ import annotations

import os

import pytest
from archagent.agent.config import BackendConfig
from archagent.agent.draw import Draw
from archagent.agent.llm.model_files import DEFAULT_MODEL, PRESETS
from archagent.agent.operators.base import LLMAsk
from archagent.agent.operators.edit import Edit
from archagent.agent.patch import apply_reply
from archagent.agent.prompting import Exemplar, PromptContext, Prompts, TaskBrief, load_directives
from archagent.agent.reply_grammar import parse_edit
from archagent.evals.tasks import get_task

pytestmark = [pytest.mark.slow, pytest.mark.local_llm, pytest.mark.timeout(7200),
              pytest.mark.skipif(not os.environ.get("ARCHAGENT_SLOW_LLM"),
                                 reason="opt-in (ARCHAGENT_SLOW_LLM=1): several minutes of real generation")]


@pytest.fixture(scope="module")
def backend():
    pytest.importorskip("llama_cpp")
    for module in PRESETS[DEFAULT_MODEL].part_modules:
        pytest.importorskip(module)
    from archagent.agent.llm.local import LocalBackend

    b = LocalBackend(BackendConfig(kind="local", n_ctx=4096), seed=3, n_threads=1)
    yield b
    b.close()


def test_constrained_edits_of_the_seeds_always_apply(backend) -> None:
    cfg = BackendConfig(kind="local")
    edit = Edit(LLMAsk(backend, cfg, Prompts(), "local", 0), whole_file=False)
    replies: list[tuple[str, str]] = []

    def record(name, model, purpose, messages, completion, error) -> int:
        assert error is None, error
        replies.append((purpose, completion.text))
        return len(replies)

    applied = []
    for task_name in ("mnist1d", "digits"):
        task = get_task(task_name)
        directives = load_directives(task=task_name)
        for i, (name, code) in enumerate(sorted(task.seeds().items())):
            parent = Exemplar(code, f"seed {name}", 1)
            ctx = PromptContext(TaskBrief.of(task), [parent], directive=directives[i % len(directives)])
            prop = edit.propose(Draw(ctx), record)
            reply = replies[-1][1]
            assert prop.failure_kind is None, (name, prop.failure_msg, reply)
            assert parse_edit(code, reply) is not None, reply  # a sentence of the grammar, not just parseable
            assert prop.code == apply_reply(code, reply)
            applied.append(prop.code != code)
    assert len(applied) == 6  # (an edit that changes nothing is a copy of its seed; the campaign re-asks it)
