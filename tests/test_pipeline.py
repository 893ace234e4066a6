"""The pipeline on the fake executor: one typed record per candidate, one write per event, no re-reads."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from archagent.agent.config import PrefilterConfig, SearchConfig, parse_config
from archagent.agent.loop import Campaign
from archagent.agent.pipeline import Pipeline
from archagent.agent.population import Population
from archagent.agent.prefilter import Prefilter
from archagent.agent.proposer import Proposal
from archagent.evals.tasks import get_task
from archagent.knowledge.records import FailureKind, Status
from archagent.knowledge.store import Store
from archagent.sandbox.judge import Evaluator

from tests.helpers.campaigns import ROOT, replay_config
from tests.helpers.fake_executor import FakeExecutor

TASK = get_task("digits", {"epochs": 2})
MLP = (ROOT / "evals/seeds/digits/mlp.py").read_text()


def variant(width: int) -> str:
    return MLP.replace("128", str(width))


class Traced:
    """A pipeline on a fresh store whose SQL statements on `candidates` are counted (sqlite trace callback)."""

    def __init__(self, tmp: Path, rules=None, **prefilter):
        self.store = Store(tmp / "s.db")
        camp = self.store.create_campaign("c", "digits", "{}")
        self.population = Population(self.store, camp.id, TASK, SearchConfig())
        self.executor, self.events, self.sql = FakeExecutor(TASK, rules), [], []
        cfg = PrefilterConfig(**prefilter)
        self.pipeline = Pipeline(self.store, self.population, Evaluator(TASK), Prefilter(cfg, True), cfg,
                                 self.executor, lambda e, c: self.events.append((e, c)))
        self.store.db.conn.set_trace_callback(self.sql.append)

    def run(self, *codes: str, seeds: tuple[str, ...] = ()) -> None:
        for i, code in enumerate(seeds):
            self.pipeline.seed(f"s{i}", code)
        for code in codes:
            self.pipeline.admit(Proposal(code, (), "replay:x", island=1, operator="rewrite"))
        for done in self.executor.as_completed():
            self.pipeline.on_result(done)

    def statements(self, verb: str) -> list[str]:
        # SQLite traces each statement a trigger runs (schema.sql keeps counts and parent edges) with the text
        # of the statement that fired it, right after it: count every statement once
        once = [s for i, s in enumerate(self.sql) if i == 0 or s != self.sql[i - 1]]
        return [s for s in once if re.match(rf"\s*{verb}\b.*\bcandidates\b", s, re.I | re.S)]


def test_a_trained_candidate_costs_three_writes_and_no_reads(tmp_path):
    t = Traced(tmp_path, warmup=0, top_fraction=1.0, epsilon=0.0)  # a pre-filter that may filter: probe, then train
    t.run(variant(96))
    writes, reads = len(t.statements("INSERT")) + len(t.statements("UPDATE")), t.statements("SELECT")
    (cand,) = t.store.candidates(1)
    assert cand.status == Status.OK and cand.island == 1 and cand.operator == "rewrite"
    assert cand.metric is not None and cand.history == [1.0, 0.5] and cand.features and cand.graph_key
    assert [e for e, _ in t.events] == ["running", "ok"]
    assert [stage for stage, _, _ in t.executor.submitted] == ["probe", "full"]
    assert writes == 3 and len(t.statements("UPDATE")) == 2  # insert, probe, outcome
    assert not reads  # never re-read: the record travels with its jobs
    assert t.events[-1][1] == cand  # what the hooks saw is what was stored


def test_when_the_probe_cannot_stop_training_it_is_fused_with_it(tmp_path):
    """Pre-filter off (or warming up) and seeds: one probe_full job and two writes per trained candidate."""
    t = Traced(tmp_path, enabled=False)
    t.run(variant(96), variant(97), seeds=(MLP,))
    seed, a, b = t.store.candidates(1)
    assert [stage for stage, _, _ in t.executor.submitted] == ["probe_full"] * 3
    assert all(c.status == Status.OK and c.metric is not None and c.graph_key and c.flops for c in (seed, a, b))
    assert a.prefilter_reason and a.prefilter_score is not None  # the pre-filter's record, as after a probe
    assert len(t.statements("INSERT")) == 3 and len(t.statements("UPDATE")) == 3  # insert, outcome
    (tmp_path / "warm").mkdir()
    warm = Traced(tmp_path / "warm", warmup=2, top_fraction=1.0, epsilon=0.0)
    warm.run(*(variant(w) for w in (40, 50, 60, 70)))
    assert [stage for stage, _, _ in warm.executor.submitted][:2] == ["probe_full"] * 2  # the warm-up
    assert "probe" in [stage for stage, _, _ in warm.executor.submitted][2:]  # then probe first


def test_text_and_graph_repeats_are_duplicates_and_never_trained(tmp_path):
    t = Traced(tmp_path, enabled=False)
    t.run(variant(96), variant(96), "# a comment\n" + variant(96))  # same text; same code after canonicalisation
    first, same_text, same_code = t.store.candidates(1)
    assert first.status == Status.OK
    assert (same_text.status, same_text.duplicate_of, same_text.matched_on) == (Status.DUPLICATE, first.id, "text_key")
    assert (same_code.status, same_code.matched_on) == (Status.DUPLICATE, "code_key")
    assert [stage for stage, _, _ in t.executor.submitted] == ["probe_full"]


def test_failures_are_typed_and_written_once(tmp_path):
    t = Traced(tmp_path, rules={"nn.Linear(64, 7)": FailureKind.SHAPE}, enabled=False)
    t.run("class Net(:\n", MLP.replace("nn.Linear(64, n_out)", "nn.Linear(64, 7)"))
    syntax, shape = t.store.candidates(1)
    assert (syntax.status, syntax.failure_kind) == (Status.FAILED, FailureKind.SYNTAX)
    assert (shape.status, shape.failure_kind) == (Status.FAILED, FailureKind.SHAPE)
    assert len(t.statements("UPDATE")) == 2  # one per candidate: the probe's verdict is its outcome


def test_prefilter_and_short_runs_write_typed_columns(tmp_path):
    t = Traced(tmp_path, warmup=0, top_fraction=0.5, epsilon=0.0, low_fidelity_epochs=1)
    t.run(*(variant(w) for w in (40, 50, 60, 70, 80)))
    cands = t.store.candidates(1)
    assert all(c.prefilter_score is not None and c.prefilter_reason for c in cands)
    assert any(c.status == Status.FILTERED for c in cands)
    assert all(c.epsilon is False for c in cands)
    shorts = [c for c in cands if c.low_fidelity_metric is not None]
    assert shorts and all(c.low_fidelity_epochs == 1 for c in shorts)
    assert ("full", variant(40), None) in t.executor.submitted and ("full", variant(40), 1) in t.executor.submitted
    assert all(c.extra == {} for c in cands)  # nothing code branches on lives in `extra`


def test_seeds_are_trained_even_when_they_repeat(tmp_path):
    t = Traced(tmp_path)
    t.run(seeds=(MLP, MLP))
    assert [c.status for c in t.store.candidates(1)] == [Status.OK, Status.OK]
    assert [c.seed_name for c in t.store.candidates(1)] == ["s0", "s1"]


def test_llm_work_runs_off_the_main_thread_and_jobs_arrive_on_the_same_queue(tmp_path, monkeypatch):
    """A replay campaign on the fake executor: every LLM call is made and logged on an LLM thread."""
    import archagent.agent.loop as loop

    threads: list[str] = []
    real = loop.record_call

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "record_call", spy)
    cfg = parse_config(replay_config(tmp_path, proposals=6, prefilter={"enabled": False}))
    executor = FakeExecutor(TASK, {"self.fc = nn.Linear(32, n_out)": FailureKind.SHAPE})
    summary = Campaign(cfg, executor=executor).run()
    # repeats are free (the budget counts what was trained or failed), so the 6 replies run out first
    assert summary.stop_reason == "backend exhausted"
    assert len(threads) == 6 and all(name.startswith("llm") for name in threads)
    assert sum(summary.counts.values()) == 9 and summary.best is not None
    assert executor.pending() == 0


def test_a_fused_candidate_whose_graph_repeats_is_a_duplicate(tmp_path, monkeypatch):
    t = Traced(tmp_path, enabled=False)
    real = t.executor.result
    monkeypatch.setattr(t.executor, "result", lambda code, job: _same_graph(real(code, job)))
    t.run(variant(96), variant(97))
    first, second = t.store.candidates(1)
    assert first.status == Status.OK and (second.status, second.duplicate_of) == (Status.DUPLICATE, first.id)
    assert second.matched_on == "graph_key" and second.metric is None


def _same_graph(result):
    return result.__class__(**{**vars(result), "report": result.report.model_copy(update={"graph_key": "g"})})
