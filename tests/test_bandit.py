"""The operator bandit: every arm once, a floor per arm, then UCB1 on improvements per second."""

import pytest
from archagent.agent.bandit import Bandit, Pull

ARMS = ["edit", "crossover", "mutation"]


def pulls(arm: str, n: int, improved: int, seconds: float, pending: int = 0) -> list[Pull]:
    done = [Pull(arm, True, i < improved, seconds) for i in range(n)]
    return done + [Pull(arm, False) for _ in range(pending)]


def test_every_arm_is_tried_once_in_order_first():
    b = Bandit(ARMS)
    assert b.choose([]) == "edit"
    assert b.choose(pulls("edit", 1, 1, 10)) == "crossover"
    assert b.choose(pulls("edit", 1, 1, 10) + pulls("crossover", 0, 0, 0, pending=1)) == "mutation"


def test_same_improvement_rate_the_faster_arm_wins():
    history = pulls("edit", 10, 3, 40.0) + pulls("crossover", 10, 3, 40.0) + pulls("mutation", 10, 3, 2.0)
    assert Bandit(ARMS).choose(history) == "mutation"


def test_a_slow_arm_that_improves_much_more_often_per_second_wins():
    history = pulls("edit", 20, 16, 10.0) + pulls("crossover", 20, 0, 10.0) + pulls("mutation", 20, 0, 8.0)
    assert Bandit(ARMS).choose(history) == "edit"


def test_a_weak_arm_is_used_less_but_never_below_its_floor():
    b, history = Bandit(ARMS, floor=0.1), []
    for _ in range(60):
        arm = b.choose(history)
        history.append(Pull(arm, True, arm == "mutation", 2.0 if arm == "mutation" else 50.0))
    shares = {a: sum(p.arm == a for p in history) / len(history) for a in ARMS}
    assert shares["mutation"] > 0.6
    assert min(shares["edit"], shares["crossover"]) >= 0.1 - 1 / len(history)


def test_choice_is_a_function_of_the_pulls():
    history = pulls("edit", 3, 1, 30.0) + pulls("crossover", 2, 1, 35.0) + pulls("mutation", 4, 1, 3.0, pending=1)
    assert len({Bandit(ARMS).choose(history) for _ in range(5)}) == 1


def test_bad_floors_are_rejected():
    with pytest.raises(ValueError):
        Bandit(ARMS, floor=0.4)
    with pytest.raises(ValueError):
        Bandit([])
