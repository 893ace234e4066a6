"""Every template renders with every field of its typed context."""

import dataclasses

import pytest
from archagent.agent.prompting import (
    AnalysisRow,
    AnalyzeContext,
    DuplicateRow,
    Exemplar,
    FailureRow,
    PromptContext,
    Prompts,
    RepairContext,
    ResultRow,
    TaskBrief,
    trim_error,
)
from archagent.evals.tasks import get_task


def full_context() -> PromptContext:
    return PromptContext(
        task=TaskBrief.of(get_task("digits")),
        exemplars=[Exemplar("class Net: pass", "seed cnn", 1, 0.97, 1234), Exemplar("class Net: pass", "x", None)],
        results=[ResultRow(1, 0.97, 1234, 5678)],
        failures=[FailureRow("shape", "line 3: x\nRuntimeError: mat1")],
        duplicates=[DuplicateRow(1, "candidate #1")],
        insights=["depthwise convs cut params"],
        directive="halve the widths",
        island=1,
    )


def idea_context() -> PromptContext:
    """With an idea card, the card replaces the directive (one instruction, not two competing ones)."""
    from archagent.knowledge.ideas.cards import load_cards

    (card,) = [c for c in load_cards(None) if c.id == "squeeze_excitation"]
    return dataclasses.replace(full_context(), idea=card)


def repair_context() -> RepairContext:
    return RepairContext(TaskBrief.of(get_task("digits")), "class Net:\n    bad = 1\n", "shape",
                         "RuntimeError: mat1 and mat2 shapes cannot be multiplied (4x512 and 256x10)", attempt=2)


def analyze_context() -> AnalyzeContext:
    rows = [AnalysisRow(3, "ok", 0.9512, 20_000, 40_000, "Conv2d x2, Linear x1"),
            AnalysisRow(4, "failed", None, None, None, "", "[shape] mat1 | mat2")]
    return AnalyzeContext(TaskBrief.of(get_task("digits")), rows, ["wider is better"], max_lessons=2)


def test_propose_renders_every_field():
    text = Prompts().messages("propose", full_context())[1]["content"]
    for needle in ("accuracy 0.9700", "1,234 params", "| 1 | 0.9700 | 1,234 | 5,678 |", "[shape] line 3: x | Runtime",
                   "architecture 1", "depthwise convs", "(batch, 1, 8, 8)", "2,000,000 parameters",
                   "halve the widths", "(seed cnn)", "candidate #1"):
        assert needle in text, needle


def test_repair_renders_every_field():
    text = Prompts().messages("repair", repair_context())[1]["content"]
    for needle in ("shape error (repair attempt 2)", "bad = 1", "(4x512 and 256x10)", "(batch, 1, 8, 8)",
                   "2,000,000 parameters", "```python"):
        assert needle in text, needle


def test_analyze_renders_every_field():
    text = Prompts().messages("analyze", analyze_context())[1]["content"]
    for needle in ("| 3 | ok | 0.9512 | 20,000 | 40,000 | Conv2d x2, Linear x1 |", "| 4 | failed | - | - | - | - |",
                   "[shape] mat1 / mat2", "- wider is better", "at most 2 new", "- depthwise 3x3 convs",
                   "[ids: 12, 15]", "accuracy"):
        assert needle in text, needle


@pytest.mark.parametrize("purpose,make", [("propose", full_context), ("propose", idea_context),
                                          ("repair", repair_context), ("analyze", analyze_context)])
def test_every_field_reaches_the_prompt(purpose, make):
    """Blanking any one field changes the rendered prompt: no context field is silently unused."""
    ctx = make()
    full = Prompts().messages(purpose, ctx)[1]["content"]
    # island: recorded on the candidate; parents: the records behind `exemplars` (rendered through them)
    unused = {"propose": {"island", "parents"}}.get(purpose, set())
    unused |= {"directive"} if getattr(ctx, "idea", None) else {"idea"} if purpose == "propose" else set()
    for f in dataclasses.fields(ctx):
        if f.name in unused or f.name == "task":
            continue
        value = getattr(ctx, f.name)
        blank = None if f.name == "idea" else type(value)() if not isinstance(value, int) else value + 1
        assert Prompts().messages(purpose, dataclasses.replace(ctx, **{f.name: blank}))[1]["content"] != full, f.name


def test_user_template_dir_overrides(tmp_path):
    (tmp_path / "propose.j2").write_text("custom {{ task.name }}")
    msgs = Prompts(tmp_path).messages("propose", full_context())
    assert msgs[1]["content"] == "custom digits"
    assert "class Net" in msgs[0]["content"]  # system falls back to the packaged template
    assert "repair attempt" in Prompts(tmp_path).messages("repair", repair_context())[1]["content"]


def test_trim_error_keeps_the_tail():
    tb = "Traceback (most recent call last):\n" + "\n".join(f'  File "x.py", line {i}' for i in range(50))
    trimmed = trim_error(tb + "\nRuntimeError: boom\n\n", max_lines=3)
    assert trimmed.endswith("RuntimeError: boom") and trimmed.count("\n") == 2


def test_directives_prefer_the_task_list_and_the_users_folder(tmp_path):
    from archagent.agent.prompting import load_directives

    digits, generic = load_directives(task="digits"), load_directives(task="mnist1d")
    assert any("nn.Conv2d" in d for d in digits) and not any("nn.Conv2d" in d for d in generic)
    assert all(not d.startswith("#") for d in digits + generic)
    (tmp_path / "directives.txt").write_text("# mine\nUse only linear layers.\n")
    assert load_directives(tmp_path, "digits") == ["Use only linear layers."]  # the user's general list wins
    (tmp_path / "directives-digits.txt").write_text("Try a 7x7 stem.\n")
    assert load_directives(tmp_path, "digits") == ["Try a 7x7 stem."]
