"""Second-round attacks on the parent (issue 24): a job's output is hostile bytes, its source hostile text, its
scores must not lie and its text must not run in a report.

    pytest tests/test_jail_parent.py -q

Each hostile file (tests/fixtures/hostile/jail_{preds_bomb,preds_strings,deep_source,heldout_regen,size_switch,
report_markup}.py) switches the in-process guard off first. Every one runs through the real jail (bubblewrap,
namespaces, seccomp: nothing mocked), once on a warm jailed worker where its own output can be read, and once
inside one real mnist1d campaign (replay LLM) that must end `finished`, survive a resume, and score the honest
candidate that follows them exactly as a clean run does.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from archagent.evals.tasks import get_task
from archagent.knowledge.records import FailureKind, Status
from archagent.sandbox.jail import jail_problem
from archagent.sandbox.judge import Evaluator, judge
from archagent.sandbox.limits import SandboxLimits

pytestmark = pytest.mark.skipif(jail_problem() is not None, reason=f"no jail here: {jail_problem()}")
ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "fixtures" / "hostile"
ATTACKS = ("jail_preds_bomb", "jail_preds_strings", "jail_deep_source", "jail_heldout_regen", "jail_size_switch",
           "jail_report_markup")
HONEST = '''import torch
from torch import nn


class Net(nn.Module):
    """A plain MLP that comes after the attacks."""

    def __init__(self, in_shape, n_out):
        super().__init__()
        size = 1
        for d in in_shape:
            size *= d
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(size, 48), nn.ReLU(), nn.Linear(48, n_out))

    def forward(self, x):
        return self.body(x)
'''
LIMITS = SandboxLimits(timeout_s=120, max_disk_mb=64, max_output_kb=64)


def code(name: str) -> str:
    return (HOSTILE / f"{name}.py").read_text()


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Jailed:
    """One warm jailed worker on mnist1d (1 epoch); `run` gives (evaluation, raw result, seconds)."""

    def __init__(self, data_dir: Path):
        from archagent.sandbox.local_executor import LocalExecutor

        self.task = get_task("mnist1d", {"epochs": 1})
        self.jobs = Evaluator(self.task, data_dir=data_dir)
        self.ex = LocalExecutor(workers=1, threads=1, limits=LIMITS)

    def run(self, source: str, stage: str = "probe_full"):
        t0 = time.perf_counter()
        self.ex.submit(source, self.jobs.job(stage))
        (done,) = list(self.ex.as_completed())
        return judge(self.task, done.result, stage), done.result, time.perf_counter() - t0


@pytest.fixture(scope="module")
def jailed(tmp_path_factory):
    harness = Jailed(tmp_path_factory.mktemp("data"))
    harness.honest = harness.run(HONEST, "full")[0]
    yield harness
    harness.ex.shutdown()


def test_a_compressed_prediction_bomb_is_refused_by_its_header_in_bounded_memory(jailed):
    before = max_rss_mb()
    ev, result, seconds = jailed.run(code("jail_preds_bomb"))
    assert "zip bomb of" in result.stderr_tail
    assert ev.failure_kind == FailureKind.FORBIDDEN and "wrong magic" in ev.failure_msg, ev.failure_msg
    assert max_rss_mb() - before < 200 and seconds < 60  # the 1 GB it inflates to was never allocated


def test_string_predictions_fail_the_candidate_not_the_judge(jailed):
    ev, result, _ = jailed.run(code("jail_preds_strings"))
    assert "string predictions for ['test', 'val']" in result.stderr_tail
    assert ev.failure_kind == FailureKind.FORBIDDEN and "<U3" in ev.failure_msg, ev.failure_msg


def nearest_neighbour_accuracy(task, split: str) -> float:
    """What answering with the label of the nearest published (seed-42) signal earns: learning, not a leak."""
    from archagent.evals.tasks.mnist1d_gen import make_dataset

    data, s = make_dataset(), task.splits()
    ref_x = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)
    ref_y = np.concatenate([data["y"], data["y_test"]])
    x, y = (s.x_val, s.y_val) if split == "val" else (s.x_test, s.y_test)
    dist = ((x[:, 0, None, :] - ref_x[None]) ** 2).sum(-1)
    return float((ref_y[dist.argmin(1)] == y).mean())


def test_the_heldout_split_cannot_be_regenerated_in_the_jail(jailed):
    """Before: exact matches for all 1,500 held-out signals and accuracy 1.0. Now: no match, and the score is what
    a nearest-neighbour classifier over the generator's published signals earns (~0.6), no more."""
    ev, result, _ = jailed.run(code("jail_heldout_regen"))
    out = result.stderr_tail
    assert "regenerated 5000 published signals" in out and "exact matches 0" in out, out[-2000:]
    assert not re.search(r"exact matches [1-9]", out), out[-2000:]
    assert ev.ok and ev.metric < 0.8 and ev.test_metric < 0.8, (ev.status, ev.metric, ev.test_metric)
    assert abs(ev.metric - nearest_neighbour_accuracy(jailed.task, "val")) < 0.01
    assert abs(ev.test_metric - nearest_neighbour_accuracy(jailed.task, "test")) < 0.01


def test_the_instance_that_trains_is_the_instance_that_was_checked(jailed):
    """The fused job used to train a second, unchecked build (~4M parameters, recorded as 61)."""
    ev, result, _ = jailed.run(code("jail_size_switch"))
    trained = re.search(r"training an instance of (\d+) parameters \(build (\d+)", result.stderr_tail)
    assert trained and trained.group(2) == "1", result.stderr_tail[-2000:]
    assert ev.ok and ev.params == int(trained.group(1)) == 61, (ev.status, ev.params, ev.failure_msg)
    full, result, _ = jailed.run(code("jail_size_switch"), "full")  # a separate training job builds big
    assert full.failure_kind == FailureKind.BUDGET and "parameters > budget" in full.failure_msg


def test_a_model_that_grows_while_training_fails_its_budget(jailed):
    growth = '''        self.calls = getattr(self, "calls", 0) + self.training
        if self.calls == 20:  # well into training, after every check and the probe
            self.extra = nn.Linear(4096, 4096)  # 16M parameters appear
        return self.body(x)
'''
    grower = HONEST.replace("        return self.body(x)\n", growth)
    ev, _, _ = jailed.run(grower)
    assert ev.failure_kind == FailureKind.BUDGET and "changed size" in ev.failure_msg, ev.failure_msg


def test_fused_and_separate_training_give_the_same_score(jailed):
    fused, _, _ = jailed.run(HONEST, "probe_full")
    assert fused.ok and fused.metric == jailed.honest.metric and fused.params == jailed.honest.params
    assert fused.flops == jailed.honest.flops  # the full job now counts (and gates) FLOPs too


# -- one real campaign with every attack, then the honest candidate ----------------------------------------
def replay(path: Path, sources: list[str]) -> Path:
    rows = [{"reply": f"```python\n{s}\n```", "model": "fixture", "prompt_tokens": 100, "completion_tokens": 50}
            for s in sources]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def campaign_config(tmp: Path, name: str, sources: list[str]):
    from archagent.agent.config import parse_config

    return parse_config({
        "name": name, "store": str(tmp / "store.db"), "task": {"name": "mnist1d", "options": {"epochs": 1}},
        "budget": {"proposals": len(sources)}, "prefilter": {"enabled": False},
        "backends": [{"kind": "replay", "path": str(replay(tmp / f"{name}.jsonl", sources))}],
        "sandbox": LIMITS.model_dump(),
    })


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    from archagent.agent.loop import Campaign
    from archagent.knowledge.store import Store

    tmp = tmp_path_factory.mktemp("hostile-campaign")
    cfg = campaign_config(tmp, "hostile", [*(code(n) for n in ATTACKS), HONEST])
    before = max_rss_mb()
    Campaign(cfg).run()
    grew = max_rss_mb() - before
    Campaign(cfg).run()  # a resume: the attacks must not fail it either
    store = Store(cfg.store)
    camp = store.campaign(cfg.name)
    cands = [c for c in store.candidates(camp.id) if c.backend != "seed"]
    yield cfg, store, camp, dict(zip([*ATTACKS, "honest"], cands, strict=True)), grew
    store.close()


def test_the_campaign_goes_on_and_records_each_attack(campaign):
    _, _, camp, cands, grew = campaign
    assert camp.state == "finished" and grew < 300, (camp.state, grew)
    expect = {"jail_preds_bomb": FailureKind.FORBIDDEN, "jail_preds_strings": FailureKind.FORBIDDEN,
              "jail_deep_source": FailureKind.SYNTAX}
    for name, kind in expect.items():
        assert cands[name].status == Status.FAILED and cands[name].failure_kind == kind, cands[name].failure_msg
    assert "nests 6" in cands["jail_deep_source"].failure_msg
    assert cands["jail_heldout_regen"].status == Status.OK and cands["jail_heldout_regen"].metric < 0.8
    assert cands["jail_size_switch"].status == Status.OK and cands["jail_size_switch"].params == 61
    assert cands["jail_report_markup"].status == Status.OK


def test_the_honest_candidate_after_the_attacks_scores_as_in_a_clean_campaign(campaign, tmp_path):
    from archagent.agent.loop import Campaign
    from archagent.knowledge.store import Store

    cands = campaign[3]
    cfg = campaign_config(tmp_path, "clean", [HONEST])
    Campaign(cfg).run()
    store = Store(cfg.store)
    (clean,) = [c for c in store.candidates(store.campaign("clean").id) if c.backend != "seed"]
    store.close()
    honest = cands["honest"]
    assert honest.status == clean.status == Status.OK and honest.metric == clean.metric
    assert honest.test_metric == clean.test_metric and honest.params == clean.params


def test_report_md_shows_candidate_markup_as_text(campaign, tmp_path):
    from archagent.evals.report.render import write_report
    from markdown_it import MarkdownIt

    cfg, store, camp, cands, _ = campaign
    out = write_report(store, camp.name, tmp_path / "report.md", top=20)
    text = out.read_text()
    assert "#" + str(cands["jail_report_markup"].id) in text and "pwned-doc" in text
    html = MarkdownIt("commonmark").render(text)  # HTML blocks and inline HTML on, as on GitHub-like renderers
    assert "<script" not in html and "<img src=x" not in html and "javascript:" not in html.replace(
        "javascript:alert(2))", "")
    assert "&lt;script&gt;alert" in html  # shown, as text


def test_candidate_code_cannot_close_the_report_code_fence():
    from archagent.evals.report.render import md_fenced, md_text
    from markdown_it import MarkdownIt

    code = "x = 1\n```\n<script>alert(1)</script>\n````\n<img src=x onerror=alert(2)>\n"
    html = MarkdownIt("commonmark").render(md_fenced(code, "python") + "\n\n| a |\n|---|\n| " + md_text(
        "x | <b>y</b> [l](javascript:z)") + " |\n")
    assert "<script" not in html and "<img" not in html and "<b>" not in html and 'href="javascript' not in html


# -- the parent's own tools on hostile text (no job needed) ----------------------------------------------------
def test_fingerprint_and_evaluate_give_a_per_file_error_not_a_traceback(tmp_path):
    deep, plain = tmp_path / "deep.py", tmp_path / "plain.py"
    deep.write_text(code("jail_deep_source"))
    plain.write_text(HONEST)
    run = subprocess.run([sys.executable, "-m", "archagent.agent.cli", "fingerprint", str(deep), str(plain), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert rows[0]["code_key"] is None and "nests 6" in rows[0]["error"]
    assert rows[1]["code_key"] and not rows[1]["error"]
    run = subprocess.run([sys.executable, "-m", "archagent.agent.cli", "evaluate", "--task", "digits", str(deep),
                          "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert json.loads(run.stdout)["status"] == "syntax"


def test_the_judge_never_raises_on_what_a_job_returned():
    """Whatever got past collect (or a scoring bug it triggers) is that candidate's failure."""
    from archagent.sandbox.collect import RunResult
    from archagent.sandbox.protocol import ChildReport

    task = get_task("digits")
    s = task.splits()
    for preds in ({"val": np.full((len(s.x_val), 10), "x"), "test": np.zeros((len(s.x_test), 10), np.float32)},
                  {"val": np.zeros((len(s.x_val), 10), object), "test": None},
                  {"val": [[0.0] * 10] * len(s.x_val)}):
        ev = judge(task, RunResult(ChildReport(ok=True, params=1), preds))
        assert not ev.ok and ev.failure_kind == FailureKind.SHAPE, ev

    class Broken(type(task)):
        def score(self, preds, split):
            raise RecursionError("maximum recursion depth exceeded")

    ok = {"val": np.zeros((len(s.x_val), 10), np.float32), "test": np.zeros((len(s.x_test), 10), np.float32)}
    ev = judge(Broken(), RunResult(ChildReport(ok=True, params=1), ok))
    assert not ev.ok and "RecursionError" in ev.failure_msg


def test_a_resume_under_another_heldout_secret_is_refused(tmp_path, monkeypatch):
    from archagent.agent.run_guard import check_heldout
    from archagent.knowledge.store import Store, StoreError

    store = Store(tmp_path / "s.db")
    camp = store.create_campaign("c", "mnist1d", "{}")
    check_heldout(store, camp.id, get_task("mnist1d"))
    check_heldout(store, camp.id, get_task("mnist1d"))  # same secret: fine
    monkeypatch.setenv("ARCHAGENT_HELDOUT_SECRET", "a different install")
    with pytest.raises(StoreError, match="held-out split"):
        check_heldout(store, camp.id, get_task("mnist1d"))
    store.close()
