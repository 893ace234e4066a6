"""What a new user trips over (issue 25), run as a user would: the real CLI in a subprocess.

Piped output is plain lines; a re-run counts the whole campaign; `status` and `list` read at 80 columns;
`evaluate` says its recipe and keeps `--json` clean; `--version`; flags without `<bool>`; a config
without `[task]` says which task it runs; the docs' Python block names nothing it does not import.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from archagent.agent.cli.campaign import plan_line
from archagent.agent.config import parse_config
from archagent.agent.display import describe, made_by
from archagent.knowledge.records import Candidate, Status

from tests.helpers.cli import ROOT, cli, one_line_error

EVOLUTION = """name = "evo"
store = "evo.db"
[task]
name = "digits"
options = { epochs = 1 }
[budget]
proposals = %d
[[backends]]
kind = "evolution"
"""


@pytest.fixture(scope="module")
def piped_runs(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """`archagent run` with its output in a pipe: 2 proposals, then the same campaign resumed with a budget of 3."""
    tmp = tmp_path_factory.mktemp("piped")
    (tmp / "evo.toml").write_text(EVOLUTION % 2)
    first = cli("run", "evo.toml", cwd=tmp)
    (tmp / "evo.toml").write_text(EVOLUTION % 3)
    second = cli("run", "evo.toml", cwd=tmp)
    return tmp, first, second


def test_piped_output_is_one_plain_line_per_event(piped_runs) -> None:
    _, first, _ = piped_runs
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert not re.search("[╭╮╰╯│─]", first.stdout), first.stdout  # no box
    assert lines[0].startswith("evo: task digits, at most 2 proposals")
    events = [line for line in lines if re.match(r"\s*\d+:\d\d  ", line)]
    assert len([e for e in events if "training #" in e]) == 5  # 3 seeds, 2 proposals
    assert len([e for e in events if re.search(r"#\d ok 0\.\d{4} \(", e)]) == 5
    assert events[-1].endswith("[proposals 2/2]")
    summary = [line for line in lines if line.startswith("evo: proposal budget (2) spent after ")]
    assert len(summary) == 1 and "candidates: 5 ok" in summary[0], first.stdout  # on its own line


def test_a_rerun_counts_the_whole_campaign(piped_runs) -> None:
    _, _, second = piped_runs
    assert second.returncode == 0, second.stderr
    events = [line for line in second.stdout.splitlines() if "[proposals" in line]
    assert len(events) == 1 and events[0].endswith("[proposals 3/3]"), second.stdout  # 2 earlier + 1 now
    assert "training #1 " not in second.stdout  # the seeds are not trained again


def test_status_and_list_read_at_80_columns(piped_runs) -> None:
    tmp, _, _ = piped_runs
    for args in (("status",), ("list", "evo")):
        out = cli(*args, "--store", "evo.db", cwd=tmp)  # the helper sets COLUMNS=80
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert all(len(line) <= 80 for line in lines), out.stdout
        assert "…" not in out.stdout, out.stdout  # nothing cut short
    status = cli("status", "--store", "evo.db", cwd=tmp).stdout
    assert re.search(r"proposals\s+3 / ", status) and re.search(r"candidates\s+ok=6", status), status
    assert re.search(r"wall time\s+\d+:\d\d\s*\n", status), status


def test_version_and_flags_in_help(tmp_path: Path) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert cli("--version", cwd=tmp_path).stdout.strip() == f"archagent {version}"
    for command in ("list", "status", "export", "evaluate"):
        out = cli(command, "--help", cwd=tmp_path).stdout
        assert re.search(r"^\s+--json\s+print JSON", out, re.M), out
        assert "<bool>" not in out, out


def test_evaluate_says_its_recipe_on_stderr_and_keeps_json_clean(tmp_path: Path) -> None:
    seed = ROOT / "evals" / "seeds" / "digits" / "mlp.py"
    out = cli("evaluate", "--task", "digits", "-o", "epochs=2", str(seed), "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "ok"  # stdout is the JSON object alone
    assert "2 epochs, batch 64, adam lr 0.003, seed 0 (the task's recipe with epochs=2" in out.stderr
    assert re.search(r"mlp\.py: ok in \d+ s", out.stderr), out.stderr


def test_a_task_option_typo_names_the_valid_options(tmp_path: Path) -> None:
    seed = ROOT / "evals" / "seeds" / "digits" / "mlp.py"
    one_line_error(cli("evaluate", "--task", "mnist1d", "-o", "epoch=2", str(seed), cwd=tmp_path),
                   "task 'mnist1d' has no option 'epoch' (valid: val_size, epochs, batch_size, lr")


def test_the_plan_says_which_task_a_config_without_one_runs() -> None:
    assert "task digits (the default: the config has no [task])" in plan_line(parse_config({}))
    assert "(the default" not in plan_line(parse_config({"task": {"name": "digits"}}))
    timed = plan_line(parse_config({"budget": {"proposals": 8, "wall_time_s": 210}}))
    assert "at most 8 proposals, stops by 3.5 min of wall time in all (earlier runs count)" in timed


@pytest.mark.parametrize(("status", "fields", "words"), [
    (Status.DUPLICATE, {"duplicate_of": 3, "operator": "rewrite"}, "#6 duplicate of #3 (rewrite)"),
    (Status.FILTERED, {"operator": "edit", "parent_ids": (4,), "prefilter_reason": "ranked 5 of 6"},
     "#6 filtered (edit of #4): ranked 5 of 6"),
    (Status.FAILED, {"operator": "crossover", "parent_ids": (4, 5), "failure_kind": "shape"},
     "#6 failed (crossover of #4 + #5): shape"),
    (Status.OK, {"backend": "seed", "metric": 0.5}, "#6 ok 0.5000 (seed)"),
])
def test_event_lines_say_each_thing_once(status: Status, fields: dict, words: str) -> None:
    cand = Candidate(6, 1, "code", status, **{"backend": "local:m", **fields})
    line = describe(cand)
    assert line == words
    assert not re.search(r"\b(\w+) \1\b", line)  # no "duplicate duplicate", "filtered filtered"


def test_made_by_names_parents_only_for_operators_that_have_them() -> None:
    assert made_by(Candidate(9, 1, "c", Status.OK, parent_ids=(1, 2, 3), operator="rewrite")) == "rewrite"
    assert made_by(Candidate(9, 1, "c", Status.OK, parent_ids=(4,), operator="mutation")) == "mutation of #4"


def test_the_api_docs_python_block_names_nothing_it_does_not_define() -> None:
    """docs/api.md's example, checked by ruff for undefined names (it once used Path without importing it)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)
    code = "\n".join(b for b in blocks if "from archagent import" in b)
    out = subprocess.run(["ruff", "check", "--select", "F821", "--stdin-filename", "api_example.py", "-"],
                         input=code, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def test_the_onnx_extra_can_run_the_exported_model() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("onnxruntime") for req in extras["onnx"])


def test_run_ends_with_the_best_proposal_against_the_best_seed():
    from archagent.agent.cli.campaign import discovery_line
    from archagent.knowledge.records import Candidate, Status

    def cand(i, metric, backend, **kw):
        return Candidate(i, 1, "", Status.OK, backend=backend, metric=metric, **kw)

    seed = cand(1, 0.964, "seed", seed_name="cnn")
    found = cand(9, 0.978, "evolution", operator="mutation")
    line = discovery_line([found, seed], higher=True)
    assert line == "best proposal #9 (mutation) 0.9780 vs best seed #1 (cnn) 0.9640: +0.0140 better"
    assert discovery_line([seed, cand(4, 0.95, "local", operator="edit")], True).endswith(
        "-0.0140 (the seed is still best)")
    assert discovery_line([cand(2, 0.5, "seed", seed_name="mlp"), cand(3, 0.4, "random")], False).endswith(
        "+0.1000 better")  # lower is better
    assert discovery_line([seed], True) is None  # nothing proposed yet
