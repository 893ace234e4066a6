"""Every template renders with every field of its typed context."""

from agent.prompting import DuplicateRow, Exemplar, FailureRow, PromptContext, Prompts, ResultRow, TaskBrief
from evals.tasks import get_task


def full_context() -> PromptContext:
    return PromptContext(
        task=TaskBrief.of(get_task("digits")),
        exemplars=[Exemplar("class Net: pass", "seed cnn", 1, 0.97, 1234), Exemplar("class Net: pass", "x", None)],
        results=[ResultRow(1, 0.97, 1234, 5678)],
        failures=[FailureRow("shape", "line 3: x\nRuntimeError: mat1")],
        duplicates=[DuplicateRow(1, "candidate #1")],
        insights=["depthwise convs cut params"],
    )


def test_propose_renders_every_field():
    text = Prompts().messages("propose", full_context())[1]["content"]
    for needle in ("accuracy 0.9700", "1,234 params", "| 1 | 0.9700 | 1,234 | 5,678 |", "[shape] line 3: x | Runtime",
                   "architecture 1", "depthwise convs", "(batch, 1, 8, 8)", "2,000,000 parameters"):
        assert needle in text, needle


def test_user_template_dir_overrides(tmp_path):
    (tmp_path / "propose.j2").write_text("custom {{ task.name }}")
    msgs = Prompts(tmp_path).messages("propose", full_context())
    assert msgs[1]["content"] == "custom digits"
    assert "class Net" in msgs[0]["content"]  # system falls back to the packaged template
