"""Exemplar selection: best first, one per layer family, a seed kept in view when there is room."""

from agent.exemplars import select_exemplars
from evals.tasks import get_task
from knowledge.records import Candidate, Status

TASK = get_task("digits")
CONV = "class Net(nn.Module):\n    def __init__(self):\n        self.c = nn.Conv2d(1, {w}, 3)\n"
MLP = "class Net(nn.Module):\n    def __init__(self):\n        self.l = nn.Linear(64, {w})\n"


def cand(cid: int, code: str, metric: float | None, backend: str = "local:m", status=Status.OK) -> Candidate:
    return Candidate(cid, 1, code, status, backend=backend, metric=metric, code_key=f"k{cid}", params=1000)


POOL = [
    cand(1, MLP.format(w=64), 0.95, backend="seed"),
    cand(2, CONV.format(w=32), 0.97, backend="seed"),
    cand(3, CONV.format(w=64), 0.99),
    cand(4, CONV.format(w=96), 0.98),
    cand(5, MLP.format(w=128), 0.96),
    cand(6, MLP.format(w=256), None, status=Status.FAILED),
]


def ids(picked: list[Candidate]) -> list[int]:
    return [c.id for c in picked]


def test_one_shot_shows_the_best_architecture_not_a_seed():
    assert ids(select_exemplars(POOL, TASK, 1)) == [3]


def test_two_shots_keep_the_best_seed_in_view():
    assert ids(select_exemplars(POOL, TASK, 2)) == [3, 2]


def test_families_come_before_repeats_and_failures_never_show():
    picked = ids(select_exemplars(POOL, TASK, 4))
    assert picked[:2] == [3, 5]  # the best conv, then the best MLP, before a second conv
    assert 6 not in picked and len(picked) == 4


def test_duplicates_of_a_better_candidate_are_skipped():
    twin = Candidate(7, 1, CONV.format(w=64), Status.OK, backend="local:m", metric=0.985, code_key="k3")
    assert 7 not in ids(select_exemplars([*POOL, twin], TASK, 5))


def test_shots_default_per_backend_kind_and_config_wins():
    from agent.config import SearchConfig
    from agent.exemplars import shots_for

    assert shots_for("local", SearchConfig()) == 1  # the 0.5B model: one exemplar (benchmarks/local_validity.py)
    assert shots_for("litellm", SearchConfig()) == 3
    assert shots_for("local", SearchConfig(n_exemplars=2)) == 2
