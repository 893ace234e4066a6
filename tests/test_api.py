"""The Python API: cheap to import, typed records, and the example tour runs end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = (ROOT / "evals" / "seeds" / "digits" / "mlp.py").read_text()


def run_python(code_or_args: list[str], cwd: Path = ROOT, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *code_or_args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_import_is_cheap_and_names_resolve_lazily():
    res = run_python(["-c", "import sys, archagent\n"
                            "print('torch' in sys.modules, 'archagent.agent.loop' in sys.modules)\n"
                            "print(archagent.Campaign.__name__, archagent.load_config.__module__)\n"
                            "print(sorted(set(archagent.__all__) - set(dir(archagent))))"])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "False False"
    assert lines[1] == "Campaign archagent.agent.config"
    assert lines[2] == "[]"


def test_unknown_name_is_an_attribute_error():
    import archagent

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        archagent.nope  # noqa: B018


def test_fingerprint_without_a_task_needs_no_sandbox():
    from archagent import Fingerprint, fingerprint

    fp = fingerprint(SEED)
    assert isinstance(fp, Fingerprint) and fp.graph_key is None and fp.code_key and fp.error is None
    bad = fingerprint("def (:\n")
    assert bad.code_key is None and bad.error.startswith("syntax error")


@pytest.mark.slow
def test_evaluate_and_score_run_in_the_sandbox():
    from archagent import Evaluation, evaluate, score

    ev = evaluate("digits", SEED, options={"epochs": 1})
    assert isinstance(ev, Evaluation) and ev.ok and 0.0 < ev.metric <= 1.0 and ev.test_metric is not None
    broken = "import torch\nclass Net(torch.nn.Module):\n    def __init__(self, a, b):\n        raise ValueError('x')\n"
    good, bad = score("digits", [SEED, broken], options={"epochs": 1})
    assert good.status == "ok" and good.params == ev.params and good.flops and good.proxies
    assert bad.status == "build" and bad.score is None and "ValueError" in bad.error


def test_store_candidates_by_name_and_status(tmp_path):
    from archagent import Status, Store

    store = Store(tmp_path / "s.db")
    camp = store.create_campaign("c", "digits", "{}")
    store.add_candidate(camp.id, "x", Status.OK, metric=0.5)
    store.add_candidate(camp.id, "y", Status.FAILED)
    assert [c.code for c in store.candidates("c", status="ok")] == ["x"]
    assert len(store.candidates(camp.id)) == 2
    with pytest.raises(ValueError):
        store.candidates("c", status="nonsense")


@pytest.mark.slow
def test_api_tour_example_runs(tmp_path):
    res = run_python([str(ROOT / "examples" / "api_tour.py"), str(tmp_path)], timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "TOUR OK" in res.stdout
    assert (tmp_path / "winner" / "model.py").exists() and (tmp_path / "winner" / "weights.safetensors").exists()


COMMANDS = ["run", "status", "list", "show", "diff", "lineage", "report", "serve", "evaluate", "score",
            "fingerprint", "export-replay", "final", "export", "backends check"]


def test_every_command_help_has_an_example():
    from archagent.agent.cli import app
    from typer.testing import CliRunner

    runner = CliRunner()
    for command in COMMANDS:
        res = runner.invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})
        assert res.exit_code == 0, (command, res.output)
        assert f"Example: archagent {command}" in res.output, command
    assert "global" in runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output


def test_cli_fingerprint_and_score_print_the_api_records(tmp_path):
    import json

    from archagent.agent.cli import app
    from typer.testing import CliRunner

    from archagent import fingerprint

    src = tmp_path / "m.py"
    src.write_text(SEED)
    res = CliRunner().invoke(app, ["fingerprint", str(src), "--json"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.output)
    want = fingerprint(SEED).as_dict()
    want.pop("graph_key")
    assert row == {"file": str(src), **want}
