"""Grammar-constrained replies (agent/reply_grammar.py), checked without a model.

The grammar text is read by an independent GBNF recognizer (tests/helpers/gbnf.py): replies
made of runs of the parent's lines are accepted and apply; anything else is rejected. Every
SEARCH text the grammar allows is enumerated for short parents and checked to be a run of
parent lines. `parse_edit` (the same structure read directly) agrees with the grammar text.
With the `local` extra installed, llama.cpp's own grammar engine (the model's vocabulary only,
no weights evaluated) parses the grammars and agrees on sample replies.
"""

from __future__ import annotations

import itertools
import random

import pytest
from archagent.agent.config import BackendConfig, OperatorsConfig
from archagent.agent.draw import Draw
from archagent.agent.llm.base import Completion, LLMBackend
from archagent.agent.llm.model_files import DEFAULT_MODEL, PRESETS
from archagent.agent.operators.base import LLMAsk
from archagent.agent.operators.edit import Edit
from archagent.agent.operators.rewrite import Rewrite
from archagent.agent.patch import apply_reply
from archagent.agent.prompting import Exemplar, PromptContext, Prompts, TaskBrief
from archagent.agent.reply_grammar import EditShape, code_grammar, edit_grammar, literal, parse_edit, replace_cap
from archagent.evals.tasks import get_task

from tests.helpers.gbnf import Grammar, llama_accepts

PARENTS = {f"{t}/{name}": code for t in ("digits", "mnist1d") for name, code in get_task(t).seeds().items()}


def block(search: list[str], replace: list[str]) -> str:
    body = "".join(line + "\n" for line in replace)
    return "<<<<<<< SEARCH\n" + "".join(line + "\n" for line in search) + "=======\n" + body + ">>>>>>> REPLACE"


def random_reply(parent: str, rng: random.Random) -> tuple[str, list[tuple[int, int]]]:
    """A reply the grammar allows: 1-3 ordered runs of usable parent lines, each with a changed replacement."""
    shape, blocks, spans, after = EditShape.of(parent), [], [], -1
    for _ in range(rng.randint(1, 3)):
        starts = shape.starts(after)
        if not starts:
            break
        start = rng.choice(starts[:6])
        end = start
        while shape.in_run(end + 1) and rng.random() < 0.5:
            end += 1
        search = list(shape.lines[start:end + 1])
        replace = [ln.replace("32", "48").replace("ReLU", "GELU") + "  # edited" for ln in search if ln.strip()]
        blocks.append(block(search, replace))
        spans.append((start, end))
        after = end
    return "\n\n".join(blocks), spans


@pytest.mark.parametrize("name", sorted(PARENTS))
def test_sampled_grammar_replies_are_accepted_and_apply(name: str) -> None:
    parent, rng = PARENTS[name], random.Random(name)
    grammar = Grammar(edit_grammar(parent))
    for _ in range(15):
        reply, spans = random_reply(parent, rng)
        assert grammar.accepts(reply), reply
        parsed = parse_edit(parent, reply)
        lines = EditShape.of(parent).lines
        assert parsed is not None and [lines[a:b + 1] for a, b, _ in parsed] == [lines[a:b + 1] for a, b in spans]
        out = apply_reply(parent, reply)
        assert out != parent and out.count("# edited") == sum(
            1 for a, b in spans for ln in EditShape.of(parent).lines[a:b + 1] if ln.strip())


def test_every_search_text_the_grammar_allows_is_a_run_of_parent_lines() -> None:
    """Enumerate all one-block replies over a parent's line sequences of length <= 3: accepted iff a run."""
    parent = PARENTS["mnist1d/gru"]
    lines = EditShape.of(parent).lines
    grammar = Grammar(edit_grammar(parent))
    pool = sorted(set(lines))
    for k in (1, 2, 3):
        for search in itertools.product(pool, repeat=k) if k == 1 else _near_runs(lines, k):
            reply = block(list(search), ["x = 1"])
            is_run = search[0].strip() != "" and any(
                lines[i:i + len(search)] == tuple(search) for i in range(len(lines)))
            assert grammar.accepts(reply) == is_run, search
            assert (parse_edit(parent, reply) is not None) == is_run, search


def _near_runs(lines: tuple[str, ...], k: int):
    """Runs of k lines and their one-line perturbations (a line swapped, skipped or re-indented)."""
    for i in range(len(lines) - k + 1):
        run = list(lines[i:i + k])
        yield tuple(run)
        yield tuple(run[::-1])
        yield tuple([run[0], *lines[i + 2:i + k + 1]])
        yield tuple([run[0].strip(), *run[1:]])
        yield tuple([*run[:-1], run[-1] + " "])


@pytest.mark.parametrize("reply", [
    "",  # nothing
    "Here is the change:\n<<<<<<< SEARCH\n        super().__init__()\n=======\n        pass\n>>>>>>> REPLACE",
    "<<<<<<< SEARCH\n        super().__init__()\n=======\n        pass\n",  # no closing marker
    "<<<<<<< SEARCH\n        super().__init__()\n=======\n        pass\n>>>>>>> REPLACE\n```",  # text after the end
    "<<<<<<< SEARCH\n        super().__init__()\n=======\n```python\n>>>>>>> REPLACE",  # a fence in REPLACE
    "<<<<<<< SEARCH\n        super().__init__()\n=======\n=======\n>>>>>>> REPLACE",  # a marker line in REPLACE
    "<<<<<<< SEARCH\n\n=======\nx\n>>>>>>> REPLACE",  # a blank SEARCH
    "<<<<<<< SEARCH\n    super().__init__()\n=======\nx\n>>>>>>> REPLACE",  # wrong indentation
])
def test_replies_outside_the_grammar_are_rejected(reply: str) -> None:
    parent = PARENTS["mnist1d/cnn"]
    assert not Grammar(edit_grammar(parent)).accepts(reply)
    assert parse_edit(parent, reply) is None


def test_blocks_must_follow_the_parent_order() -> None:
    parent = PARENTS["mnist1d/cnn"]
    first = block(["        super().__init__()"], ["        super().__init__()  # a"])
    later = block(["        self.head = nn.Linear(64, n_out)"], ["        self.head = nn.Linear(64, n_out)  # b"])
    grammar = Grammar(edit_grammar(parent))
    assert grammar.accepts(first + "\n\n" + later) and not grammar.accepts(later + "\n\n" + first)
    assert not grammar.accepts(first + "\n\n" + first)  # the same line twice: the second run must start later


def test_a_repeated_line_searched_twice_edits_both_places_in_order() -> None:
    parent = PARENTS["mnist1d/cnn"]
    relu = ["            nn.ReLU(),"]
    reply = "\n\n".join([block(relu, ["            nn.GELU(),"])] * 3)
    assert Grammar(edit_grammar(parent)).accepts(reply)
    out = apply_reply(parent, reply)
    assert "nn.ReLU()" not in out and out.count("nn.GELU()") == 3


def test_a_replace_part_holds_at_most_the_parent_lines_up_to_its_search_end_plus_slack() -> None:
    parent = PARENTS["mnist1d/cnn"]
    grammar, lines = Grammar(edit_grammar(parent)), EditShape.of(parent).lines
    head = "        self.head = nn.Linear(64, n_out)"
    cap = replace_cap(lines.index(head))
    for n, ok in ((0, True), (cap, True), (cap + 1, False)):
        reply = block([head], ["        self.head = nn.Linear(64, n_out)  # x"] * n)
        assert grammar.accepts(reply) is ok and (parse_edit(parent, reply) is not None) is ok


def test_a_whole_class_can_be_searched_and_rewritten_with_room_to_spare() -> None:
    """The failure a fixed 16-line cap caused: 25 lines searched, the rewrite cut off after 16."""
    parent = PARENTS["mnist1d/cnn"]
    lines = EditShape.of(parent).lines
    start = lines.index("class Net(nn.Module):")
    whole = list(lines[start:])
    wider = [ln.replace("64", "96") for ln in whole] + ["        # two more lines", "        # of change"]
    reply = block(whole, wider)
    assert Grammar(edit_grammar(parent)).accepts(reply) and parse_edit(parent, reply) is not None
    assert apply_reply(parent, reply).count("96") == parent.count("64")


def test_lines_that_look_like_markers_are_never_searched() -> None:
    parent = "class Net:\n    # =======\n    x = 1\n    s = '```'\n    y = 2\n"
    grammar = Grammar(edit_grammar(parent))
    assert grammar.accepts(block(["    x = 1"], ["    x = 3"]))
    assert not grammar.accepts(block(["    x = 1", "    s = '```'"], ["    x = 3"]))
    assert not grammar.accepts(block(["    # ======="], ["    # -"]))
    with pytest.raises(ValueError, match="no line"):
        edit_grammar("\n# =======\n\n")


def test_literals_escape_quotes_backslashes_and_tabs() -> None:
    text = 'a "b" \\n\tc'
    assert literal(text) == '"a \\"b\\" \\\\n\\tc"'
    assert Grammar(f"root ::= {literal(text)}").accepts(text)


def test_grammar_size_grows_linearly_with_the_parent() -> None:
    parent = PARENTS["digits/resnet"]
    small, big = len(edit_grammar(parent)), len(edit_grammar(parent * 4))
    assert big < 5 * small


def test_code_grammar_takes_exactly_one_python_block_defining_a_class() -> None:
    g = Grammar(code_grammar())
    code = PARENTS["mnist1d/mlp"].strip("\n") + "\n"
    assert g.accepts(f"```python\n{code}```")
    assert not g.accepts(f"Sure:\n```python\n{code}```")
    assert not g.accepts(f"```python\n{code}```\nDone.")
    # another name may close the block (name_net names it Net): requiring `class Net(` once trapped the model
    # writing comments until its token limit after it had written `class WideNet(`
    assert g.accepts(f"```python\n{code.replace('class Net', 'class Model')}```")
    assert not g.accepts("```python\nimport torch\nx = 1\n```")  # no class at all
    assert not g.accepts(f"```python\n{code}```\n```python\n{code}```")


@pytest.fixture(scope="module")
def llama_vocab():
    """llama.cpp with the default preset's vocabulary only (no weights evaluated): its own grammar engine."""
    llama_cpp = pytest.importorskip("llama_cpp")
    for module in PRESETS[DEFAULT_MODEL].part_modules:
        pytest.importorskip(module)
    from archagent.agent.llm.local import resolve_model

    llm = llama_cpp.Llama(model_path=str(resolve_model(None)[1]), vocab_only=True, verbose=False)
    yield llm
    llm.close()


@pytest.mark.local_llm
@pytest.mark.parametrize("name", sorted(PARENTS))
def test_llama_cpp_parses_the_grammars_and_agrees_on_replies(llama_vocab, name: str) -> None:
    parent, rng = PARENTS[name], random.Random(name)
    grammar = edit_grammar(parent)
    for _ in range(3):
        reply, _ = random_reply(parent, rng)
        assert llama_accepts(llama_vocab, grammar, reply), reply
        assert not llama_accepts(llama_vocab, grammar, reply.replace("<<<<<<< SEARCH\n", "<<<<<<< SEARCH\n# x\n"))
    code = f"```python\n{parent.strip(chr(10))}\n```"
    assert llama_accepts(llama_vocab, code_grammar(), code)
    assert not llama_accepts(llama_vocab, code_grammar(), "Here it is:\n" + code)


class GrammarRecorder(LLMBackend):
    """Answers every call with one fixed reply and records the grammar it was asked to follow."""

    kind, model = "local", "recorder"

    def __init__(self, constrains: bool, reply: str):
        self.constrains, self.reply, self.grammars = constrains, reply, []

    def complete(self, messages, *, temperature: float, max_tokens: int, grammar: str | None = None) -> Completion:
        self.grammars.append(grammar)
        return Completion(self.reply, self.model)


@pytest.mark.parametrize("constrains", [True, False])
def test_operators_pass_their_reply_grammar_only_to_constraining_backends(constrains: bool) -> None:
    parent_code = PARENTS["mnist1d/cnn"]
    reply = block(["            nn.ReLU(),"], ["            nn.GELU(),"])
    backend = GrammarRecorder(constrains, reply)
    llm = LLMAsk(backend, BackendConfig(kind="local"), Prompts(), "local", 0)
    parent = Exemplar(parent_code, "seed cnn", 1)
    draw, record = Draw(PromptContext(TaskBrief.of(get_task("mnist1d")), [parent])), lambda *a: 0
    prop = Edit(llm).propose(draw, record)
    assert prop.code == apply_reply(parent_code, reply) and prop.failure_kind is None
    Edit(llm, whole_file=True).propose(draw, record)
    Rewrite(llm).propose(draw, record)
    expected = [edit_grammar(parent_code), code_grammar(), code_grammar()] if constrains else [None] * 3
    assert backend.grammars == expected


@pytest.mark.parametrize(("kind", "constrained", "edit_format", "whole_file"), [
    ("local", True, None, False), ("local", False, None, True), ("litellm", True, None, False),
    ("local", True, "file", True), ("local", False, "blocks", False),
])
def test_constrained_local_models_edit_with_blocks_by_default(kind, constrained, edit_format, whole_file) -> None:
    assert OperatorsConfig(edit_format=edit_format).edit_whole_file(kind, constrained) is whole_file
