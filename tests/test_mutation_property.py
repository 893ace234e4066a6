"""Property: every mutation of every built-in task's seeds builds and passes the sandbox's own checks.

For each seed of each built-in task (evals/seeds/*), many children and chains of
children (a child of a child ..., what evolution breeds) are built with the
sandbox child's own steps (`sandbox.steps`: build, shape check, causality for
sequence tasks, and the parameter budget for the classification tasks that
evolution and the agent's mutation arm run on). A mutation that cannot apply must return None
(it is never proposed); one that returns code must pass. The code here is ours
(the seeds, edited by our mutations), so it runs in the test process; campaigns
never execute a child in the parent (see agent/baselines/mutations.py).
"""

import random
import types

import numpy as np
import pytest
import torch
from archagent.agent.baselines.grammar import sample_arch
from archagent.agent.baselines.mutations import mutate
from archagent.agent.baselines.writer import write_code
from archagent.evals.tasks import get_task
from archagent.sandbox.steps import budget_check, build, causality_check, shape_check

TASKS = ("digits", "mnist1d", "charlm")
TRIES, CHAINS, DEPTH = 24, 6, 5


def dummy_input(spec) -> np.ndarray:
    rng = np.random.default_rng(0)
    if spec.input_dtype == "int64":
        return rng.integers(0, spec.n_out, size=(4, *spec.in_shape)).astype(np.int64)
    return rng.standard_normal((4, *spec.in_shape)).astype(np.float32)


def check(code: str, spec) -> None:
    """What the sandboxed child checks before training; raises on any failure."""
    module = types.ModuleType("candidate")
    exec(compile(code, "candidate.py", "exec"), module.__dict__)
    model = build(module, spec)
    x = dummy_input(spec)
    shape_check(model, spec, x, "cpu")
    if spec.kind == "classification":  # the tasks evolution and the mutation arm run on (grammar: classify only);
        budget_check(model, spec)  # charlm's 2M cap is not kept statically (3 layers of LSTM-512 exceed it)
    causality_check(model, spec, {"x_train": x}, "cpu")


def seeds():
    return [(t, name) for t in TASKS for name in get_task(t).seeds()]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.mark.parametrize(("task", "seed_name"), seeds())
def test_every_mutation_of_a_seed_builds_or_is_not_proposed(task, seed_name):
    spec = get_task(task).spec
    code = get_task(task).seeds()[seed_name]
    kinds = set()
    for i in range(TRIES):
        child = mutate(code, spec, random.Random(f"{task}:{seed_name}:{i}"))
        if child is not None:
            assert child.code != code
            check(child.code, spec)
            kinds.add(child.description.split(" ")[0])
    assert kinds, f"no mutation applies to the {task} {seed_name} seed"


@pytest.mark.parametrize(("task", "seed_name"), seeds())
def test_chains_of_mutations_from_a_seed_build(task, seed_name):
    spec = get_task(task).spec
    for chain in range(CHAINS):
        rng, code = random.Random(f"chain:{task}:{seed_name}:{chain}"), get_task(task).seeds()[seed_name]
        for depth in range(DEPTH):
            child = mutate(code, spec, rng)
            if child is None:
                break
            try:
                check(child.code, spec)
            except Exception as err:  # name the failing chain step in the report
                pytest.fail(f"chain {chain} step {depth} ({child.description}) fails: {err}\n{child.code}")
            code = child.code


def test_the_gru_seed_has_recurrent_mutations_of_its_own():
    task = get_task("mnist1d")
    code = task.seeds()["gru"]
    seen = {mutate(code, task.spec, random.Random(i)).description.split(" ")[0:2].__str__() for i in range(40)}
    text = " ".join(seen)
    for what in ("layers", "bidirectional", "front", "width"):
        assert what in text, f"no '{what}' mutation of the gru seed in {sorted(seen)}"


@pytest.mark.parametrize("task", ["digits", "mnist1d"])
def test_mutations_of_grammar_samples_build(task):
    spec, rng = get_task(task).spec, random.Random(5)
    for _ in range(15):
        code = write_code(sample_arch(rng, spec), spec)
        for _ in range(3):
            child = mutate(code, spec, rng)
            assert child is not None
            check(child.code, spec)
            code = child.code


def test_the_strided_conv_width_bug_is_gone():
    """add_block after the mnist1d cnn's strided 32 -> 64 conv inserts a 64 -> 64 conv, not 32 -> 32."""
    from archagent.agent.baselines.ast_mutations import add_block

    code = get_task("mnist1d").seeds()["cnn"]
    inserted = set()
    for i in range(30):
        out = add_block(code, random.Random(i))
        if out is not None:
            new_lines = [ln.strip() for ln in out[0].splitlines() if ln.strip() not in code]
            inserted |= {ln for ln in new_lines if "Conv1d" in ln}
    assert inserted == {"nn.Conv1d(32, 32, 3, padding=1),", "nn.Conv1d(64, 64, 3, padding=1),"}
