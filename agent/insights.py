"""Insights: every `search.insight_every` finished proposals an analyst prompt distils lessons into the store.

    [search]
    insight_every = 5   # 0 = never; default 5, or 0 when the analyst backend is local
    analyst = 1         # index into [[backends]]; default: the first LLM backend

The analyst answers one lesson per line, `- <lesson> [ids: 3, 7]`; lessons that
cite no candidate of this campaign are dropped, a reply with none yields no
insights (never an error). Insights are stored per task, so a later campaign on
the same task in the same store starts with them; `relevant_insights` picks
those citing the current exemplars first, then the most recent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from archagent.agent.config import SearchConfig
from archagent.agent.prompting import AnalysisRow, AnalyzeContext, Prompts, TaskBrief, trim_error
from archagent.agent.proposer import CallRecorder
from archagent.agent.sources import Source
from archagent.evals.tasks.base import Task
from archagent.knowledge.records import Candidate, Status
from archagent.knowledge.store import Insight, Store, now

_LESSON = re.compile(  # "- lesson [ids: 3, 7]", also "1. lesson (id 3)", "* lesson [ids=#3,#7]."
    r"^\s*(?:[-*•]|\d+[.)])?\s*(?P<text>.+?)\s*[\[(]\s*ids?\s*[:=]?\s*(?P<ids>[#\d,\s]+)[\])]\s*\.?\s*$", re.IGNORECASE)
_LAYER = re.compile(r"\bnn\.([A-Z]\w*)")
_BRACKETS = re.compile(r"<[^>]*>|\[[^\]]*\]")  # template placeholders and stray [id: ...] groups
MAX_LESSON_CHARS = 240
FINISHED = (Status.OK, Status.FAILED)
_CONTAINERS = {"Module", "Sequential", "ModuleList", "ModuleDict", "Parameter", "ParameterList", "Identity"}


@dataclass(frozen=True)
class Lesson:
    text: str
    candidate_ids: tuple[int, ...]


def parse_lessons(reply: str, known_ids: set[int], limit: int = 5, example: str = "") -> list[Lesson]:
    """Lines `- lesson [ids: 3, 7]` citing a known candidate; placeholders, the prompt's example, repeats: dropped."""
    lessons: dict[str, Lesson] = {}
    for line in reply.splitlines():
        m = _LESSON.match(line.replace("`", ""))
        if not m:
            continue
        ids = tuple(dict.fromkeys(int(x) for x in re.findall(r"\d+", m["ids"]) if int(x) in known_ids))
        text = _BRACKETS.sub("", m["text"]).strip().rstrip(",;:")[:MAX_LESSON_CHARS]
        copied = example and text.lower() == _LESSON.sub(r"\g<text>", example).strip().lower()
        if ids and len(text.split()) >= 3 and not copied and text.lower() not in lessons:
            lessons[text.lower()] = Lesson(text, ids)
    return list(lessons.values())[:limit]


def layer_summary(code: str) -> str:
    """'Conv2d x2, Linear x1': the layer types a source names, with counts."""
    names = [n for n in _LAYER.findall(code) if n not in _CONTAINERS]
    return ", ".join(f"{n} x{names.count(n)}" for n in dict.fromkeys(names))


def analysis_rows(cands: list[Candidate], task: Task, n_best: int = 5, n_recent: int = 10) -> list[AnalysisRow]:
    """The best few and the most recent finished candidates, oldest first."""
    finished = [c for c in cands if c.status in FINISHED]
    sign = -1.0 if task.higher_is_better else 1.0
    best = sorted((c for c in finished if c.metric is not None), key=lambda c: sign * c.metric)[:n_best]
    chosen = sorted({c.id: c for c in best + finished[-n_recent:]}.values(), key=lambda c: c.id)
    return [AnalysisRow(c.id, str(c.status), c.metric, c.params, c.flops, layer_summary(c.code),
                        f"[{c.failure_kind}] {trim_error(c.failure_msg or '', max_lines=1)}" if c.failure_kind else "")
            for c in chosen]


def relevant_insights(pool: list[Insight], campaign_id: int, exemplar_ids: set[int],
                      search: SearchConfig) -> list[str]:
    """Up to `n_insights` of the task's lessons (`pool`, newest first, kept in memory by the population):
    those citing the current exemplars first, then the newest."""
    if not search.n_insights:
        return []
    if not search.transfer:
        pool = [i for i in pool if i.campaign_id == campaign_id]
    citing = [i for i in pool if set(i.candidate_ids) & exemplar_ids]
    picked = list({i.id: i for i in citing + pool}.values())[: search.n_insights]
    return [f"{i.text} (from #{', #'.join(map(str, i.candidate_ids))})" for i in picked]


class Analyst:
    """Counts finished (ok or failed) proposals and asks for lessons every `every` of them.

    `due` runs on the main thread at each finished candidate; `analyze` on an LLM
    thread, with its own store connection and the candidates as they were when due.
    """

    def __init__(self, task: Task, task_name: str, campaign_id: int, every: int, source: Source, prompts: Prompts,
                 finished: int):
        self.task, self.task_name, self.campaign_id, self.every = task, task_name, campaign_id, every
        self.source, self.prompts = source, prompts
        self.finished = finished  # finished proposals (seeds excluded: the analyst learns from what the search tried)
        self.rounds = finished // every  # a resumed campaign does not re-analyse what it has analysed
        self.exhausted = False

    def due(self, cand: Candidate) -> bool:
        """Call once per candidate that finished (ok or failed): True when an analysis is due now."""
        self.finished += cand.backend != "seed"
        if self.exhausted or self.finished // self.every <= self.rounds:
            return False
        self.rounds = self.finished // self.every
        return True

    def analyze(self, store: Store, cands: list[Candidate], record: CallRecorder) -> list[Insight]:
        """One analysis request; returns the insights it added (often none), as stored."""
        known = [i.text for i in store.insights(self.task_name, limit=20)]
        ctx = AnalyzeContext(TaskBrief.of(self.task), analysis_rows(cands, self.task), known)
        reply, call_id = self.source.ask(self.prompts.messages("analyze", ctx), record)
        if reply is None:
            self.exhausted = call_id is None
            return []
        lessons = [le for le in parse_lessons(reply.text, {c.id for c in cands}, example=ctx.example)
                   if le.text not in known]
        return [Insight(store.add_insight(self.campaign_id, self.task_name, le.text, le.candidate_ids, call_id),
                        self.campaign_id, self.task_name, le.text, le.candidate_ids, call_id, now())
                for le in lessons[: ctx.max_lessons]]
