"""Typed prompt contexts and jinja2 rendering of the templates in `prompts/`.

A user can point `prompts_dir` in the config at a folder of their own
templates; any template missing there falls back to the packaged one.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from archagent.evals.tasks.base import Task
from archagent.knowledge.ideas.cards import IdeaCard
from archagent.knowledge.records import Candidate
from archagent.prompts import TEMPLATE_DIR


@dataclass(frozen=True)
class TaskBrief:
    name: str
    kind: str
    description: str
    input_desc: str
    output_desc: str
    metric_name: str
    higher_is_better: bool
    max_params: int

    @classmethod
    def of(cls, task: Task) -> TaskBrief:
        s = task.spec
        shape = ", ".join(str(d) for d in s.in_shape)
        if s.kind == "sequence":
            inp = f"int64 token ids of shape (batch, {shape})"
            out = f"(batch, {shape}, {s.n_out}) next-token logits; position t may only depend on tokens <= t"
        else:
            inp = f"float32 tensor of shape (batch, {shape})"
            out = f"(batch, {s.n_out}) {'predictions' if s.kind == 'regression' else 'logits'}"
        return cls(s.name, s.kind, task.description, inp, out, task.metric_name, task.higher_is_better,
                   s.max_params)


@dataclass(frozen=True)
class Exemplar:
    code: str
    label: str  # "seed: cnn", "best #3", ...
    id: int | None = None  # candidate id, None for a seed not in the store
    metric: float | None = None
    params: int | None = None


@dataclass(frozen=True)
class ResultRow:
    id: int
    metric: float
    params: int | None
    flops: int | None


@dataclass(frozen=True)
class FailureRow:
    kind: str
    message: str


@dataclass(frozen=True)
class DuplicateRow:
    original_id: int
    summary: str


@dataclass(frozen=True)
class PromptContext:
    """Everything the propose/repair/analyze templates may use."""

    task: TaskBrief
    exemplars: list[Exemplar] = field(default_factory=list)
    results: list[ResultRow] = field(default_factory=list)
    failures: list[FailureRow] = field(default_factory=list)
    duplicates: list[DuplicateRow] = field(default_factory=list)
    insights: list[str] = field(default_factory=list)
    directive: str = ""  # one concrete architectural change to try (prompts/directives.txt)
    island: int | None = None  # the sub-population the exemplars came from (agent/population.py)
    parents: tuple[Candidate, ...] = ()  # the records behind `exemplars`, as the population sampled them
    idea: IdeaCard | None = None  # the idea card to apply (knowledge.ideas.cards.IdeaCard; prompts/_idea.j2), or None


@dataclass(frozen=True)
class RepairContext:
    """`repair.j2`: one failed candidate and its trimmed error."""

    task: TaskBrief
    code: str
    failure_kind: str
    error: str
    attempt: int = 1


@dataclass(frozen=True)
class AnalysisRow:
    """One finished candidate as the analyst sees it."""

    id: int
    status: str  # ok | failed
    metric: float | None
    params: int | None
    flops: int | None
    layers: str  # e.g. "Conv2d x2, Linear x1"
    failure: str = ""  # "[shape] mat1 and mat2 ..." for a failed one


@dataclass(frozen=True)
class AnalyzeContext:
    """`analyze.j2`: finished candidates and the lessons already known."""

    task: TaskBrief
    rows: list[AnalysisRow] = field(default_factory=list)
    insights: list[str] = field(default_factory=list)
    max_lessons: int = 3
    example: str = "depthwise 3x3 convs cut params 4x for -0.3% accuracy vs full convs [ids: 12, 15]"


def trim_error(text: str, max_lines: int = 8, max_chars: int = 600) -> str:
    """The informative tail of an error message or traceback, as untrusted prompt data: control characters
    stripped, its last non-blank lines, no run of backticks that could close the template's fence."""
    from archagent.sandbox.untrusted import for_prompt

    return for_prompt(text, max_lines, max_chars)


def load_directives(user_dir: Path | None = None, task: str | None = None) -> list[str]:
    """The directive list: the user folder's `directives-<task>.txt` or `directives.txt`, else ours (same order)."""
    names = ([f"directives-{task}.txt"] if task else []) + ["directives.txt"]
    folders = ([user_dir] if user_dir else []) + [TEMPLATE_DIR]
    path = next(f / n for f in folders for n in names if (f / n).is_file())
    text = path.read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


class Prompts:
    """Renders `system.j2` + `<purpose>.j2` into chat messages."""

    def __init__(self, user_dir: Path | None = None):
        dirs = [str(user_dir)] if user_dir else []
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([*dirs, str(TEMPLATE_DIR)]),
            undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
        )

    def render(self, name: str, **context) -> str:
        return self.env.get_template(f"{name}.j2").render(**context)

    def messages(self, purpose: str, ctx: PromptContext | RepairContext | AnalyzeContext) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.render("system").strip()},
            {"role": "user", "content": self.render(purpose, **vars(ctx)).strip()},
        ]

    def validate(self, task: TaskBrief) -> None:
        """Render every template with a sample context now, so a broken one fails before any compute.

        Raises `TemplateProblem` (a one-line `ValueError`) naming the file and line.
        """
        samples = sample_contexts(task)
        for name in self.env.list_templates(extensions=["j2"]):
            purpose = name.removesuffix(".j2")
            try:
                template = self.env.get_template(name)
                if purpose == "system" or purpose in samples:
                    template.render(**(vars(samples[purpose]) if purpose in samples else {}))
            except jinja2.TemplateError as err:
                raise TemplateProblem(describe_template_error(err, template_file(self.env, name))) from None


class TemplateProblem(ValueError):
    """A prompt template that does not parse or render (one line: file, line, jinja's message)."""


def sample_contexts(task: TaskBrief) -> dict[str, PromptContext | RepairContext | AnalyzeContext]:
    """One context per purpose with every list non-empty, so each loop and branch of a template runs."""
    code = "import torch\n\n\nclass Net(torch.nn.Module):\n    pass\n"
    prompt = PromptContext(
        task, exemplars=[Exemplar(code, "seed: sample", 1, 0.5, 1000)], results=[ResultRow(1, 0.5, 1000, 2000)],
        failures=[FailureRow("shape", "mat1 and mat2 shapes cannot be multiplied")],
        duplicates=[DuplicateRow(1, "Linear x2")], insights=["a sample lesson [ids: 1]"],
        directive="use depthwise convolutions", island=0)
    repair = RepairContext(task, code, "build", "TypeError: sample")
    rows = [AnalysisRow(1, "ok", 0.5, 1000, 2000, "Linear x2"), AnalysisRow(2, "failed", None, None, None, "", "x")]
    return {"propose": prompt, "repair": repair, "analyze": AnalyzeContext(task, rows, ["a sample lesson"])}


def template_file(env: jinja2.Environment, name: str) -> str:
    source = env.loader.get_source(env, name)[1] if env.loader else None
    return source or name


def describe_template_error(err: jinja2.TemplateError, filename: str) -> str:
    """`prompt template FILE, line N: MESSAGE` (the line from the syntax error or the failing frame)."""
    lineno = getattr(err, "lineno", None)
    path = getattr(err, "filename", None) or filename
    if lineno is None:  # a render-time error: jinja puts the template's own line into the traceback
        tb = sys.exc_info()[2]
        while tb is not None:
            if tb.tb_frame.f_code.co_filename.endswith(".j2"):
                path, lineno = tb.tb_frame.f_code.co_filename, tb.tb_lineno
            tb = tb.tb_next
    where = f", line {lineno}" if lineno else ""
    return f"prompt template {path}{where}: {err.message or type(err).__name__}"
