"""The card per candidate, end to end on a small real store: the `idea` column, `archagent ideas`,
`archagent show`, the web candidate page, the report; and the prompt partial the LLM operators include."""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict
from pathlib import Path

import pytest
from archagent.agent.config import CampaignConfig
from archagent.agent.operators.crossover import CrossoverContext
from archagent.agent.operators.edit import EditContext
from archagent.agent.prompting import Exemplar, FailureRow, PromptContext, Prompts, TaskBrief
from archagent.agent.web import App
from archagent.evals.report.render import write_report
from archagent.evals.tasks import get_task
from archagent.knowledge.fitness import Objective
from archagent.knowledge.ideas.cards import builtin_cards
from archagent.knowledge.ideas.outcomes import CardOutcome, card_outcomes, store_outcomes
from archagent.knowledge.records import FailureKind, Status
from archagent.knowledge.store import Store

from tests.helpers.cli import cli

SEED = "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n    pass  # seed\n"


@pytest.fixture
def idea_store(tmp_path: Path) -> Path:
    """A digits campaign as the proposal path records it: a seed and children that carried idea cards."""
    path = tmp_path / "ideas.db"
    with Store(path) as store:
        camp = store.create_campaign("idea-demo", "digits", CampaignConfig(name="idea-demo").model_dump_json())
        seed = store.add_candidate(camp.id, SEED, Status.OK, backend="seed", metric=0.90, params=5_000)
        rows = [("squeeze_excitation", Status.OK, 0.93), ("squeeze_excitation", Status.OK, 0.88),
                ("squeeze_excitation", Status.FAILED, None), ("residual", Status.OK, 0.95),
                ("residual", Status.PENDING, None), (None, Status.OK, 0.97)]
        for i, (idea, status, metric) in enumerate(rows):
            store.add_candidate(camp.id, SEED.replace("seed", f"child {i}"), status, parent_ids=[seed], idea=idea,
                                metric=metric, params=6_000, operator="edit", backend="local:test",
                                failure_kind=FailureKind.SHAPE if status == Status.FAILED else None)
    return path


def test_store_outcomes_match_the_in_memory_count(idea_store: Path) -> None:
    with Store(idea_store) as store:
        camp = store.campaign("idea-demo")
        from_sql = store_outcomes(store, camp.id, Objective(), higher=True)
        in_memory = card_outcomes(store.candidates(camp.id), Objective(), higher=True)
    assert from_sql == in_memory == {"squeeze_excitation": CardOutcome(3, 2, 1), "residual": CardOutcome(1, 1, 1)}
    plan = " ".join(Store.open_readonly(idea_store).query_plan(
        "SELECT id FROM candidates WHERE campaign_id = ? AND idea IS NOT NULL", [1]))
    assert "idx_cand_idea" in plan


def test_ideas_cli_lists_uses_validity_and_improvement(idea_store: Path, tmp_path: Path) -> None:
    proc = cli("ideas", "idea-demo", "--store", str(idea_store), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == len(builtin_cards())  # every card; the used ones first
    se, res = rows[0], rows[1]
    assert (se["card"], se["uses"], se["valid"], se["improved"]) == ("squeeze_excitation", 3, 2, 1)
    assert se["validity"] == pytest.approx(2 / 3) and se["improvement_rate"] == pytest.approx(1 / 3)
    assert (res["card"], res["uses"], res["improvement_rate"]) == ("residual", 1, 1.0)  # the pending one not yet
    assert all(r["uses"] == 0 and r["validity"] is None for r in rows[2:])
    table = cli("ideas", "idea-demo", "--store", str(idea_store), "--used", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "squeeze_excitation" in table.stdout and "67% (2)" in table.stdout and "33% (1)" in table.stdout
    assert "residual" in table.stdout and "dropout_head" not in table.stdout
    missing = cli("ideas", "nope", "--store", str(idea_store), cwd=tmp_path)
    assert missing.returncode == 2 and "no campaign 'nope'" in missing.stderr


def test_show_the_web_page_and_the_report_name_the_card(idea_store: Path, tmp_path: Path) -> None:
    proc = cli("show", "2", "--store", str(idea_store), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "idea: squeeze_excitation — Squeeze-and-excitation" in proc.stdout
    assert json.loads(cli("show", "2", "--store", str(idea_store), "--json", cwd=tmp_path).stdout)["idea"] == \
        "squeeze_excitation"
    page = App(idea_store).get("/candidate/2")
    assert page.status == 200 and 'id="idea"' in page.body and "Squeeze-and-excitation" in page.body
    assert 'id="idea"' not in App(idea_store).get("/candidate/1").body  # a seed carries no card
    with Store.open_readonly(idea_store) as store:
        html = write_report(store, "idea-demo", tmp_path / "r.html").read_text()
        md = write_report(store, "idea-demo", tmp_path / "r.md").read_text()
    assert 'id="ideas-table"' in html and "<td>squeeze_excitation</td>" in html and "67%" in html
    assert "idea card: residual" in html  # the top candidate's section names its card
    assert "| squeeze_excitation | Squeeze-and-excitation (channel attention) | 3 | 2 | 67% | 1 | 33% |" in md


def prompt_contexts() -> dict[str, object]:
    task = TaskBrief.of(get_task("mnist1d"))
    a, b = Exemplar(SEED, "seed: a", 1, 0.9, 5000), Exemplar(SEED, "seed: b", 2, 0.8, 4000)
    fails = [FailureRow("shape", "mat1 and mat2")]
    return {"edit": EditContext(task, a, "", [], fails), "crossover": CrossoverContext(task, a, b, fails),
            "propose": PromptContext(task, exemplars=[a], failures=fails)}


@pytest.mark.parametrize("template", ["edit", "crossover", "propose"])
def test_prompt_partial_shows_the_card_and_is_a_no_op_without_one(template: str) -> None:
    prompts, ctx = Prompts(), prompt_contexts()[template]
    card = {c.id: c for c in builtin_cards()}["squeeze_excitation"]
    plain = prompts.render(template, **vars(ctx))
    assert "Idea to apply" not in plain
    assert prompts.render(template, **{**vars(ctx), "idea": None}) == plain
    with_card = prompts.render(template, **{**vars(ctx), "idea": card})
    assert f"Idea to apply — {card.name}: " in with_card and card.sketch.strip() in with_card
    assert "When it helps: " in with_card
    start = with_card.index("\n\nIdea to apply")
    end = with_card.index("\n```", with_card.index("```python", start)) + len("\n```")
    rest = (with_card[:start] + with_card[end:]).splitlines()
    changed = [line[1:] for line in difflib.ndiff(plain.splitlines(), rest) if line.startswith("+ ")]
    # the card block, and where the prompt has an instruction line, that line names the card instead of the directive
    assert changed == [] or (len(changed) == 1 and f"apply the idea above ({card.name})" in changed[0]), changed
    prompts.validate(ctx.task)  # the partial parses beside every template


def test_candidate_json_carries_the_card(idea_store: Path) -> None:
    with Store.open_readonly(idea_store) as store:
        cand = store.candidate(5)
    assert asdict(cand)["idea"] == "residual" and cand.status == Status.OK
