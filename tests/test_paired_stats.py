"""Paired statistics of the search benchmark on constructed examples with known answers."""

import pytest
from archagent.evals.paired_stats import bootstrap_ci, paired, wilcoxon_p


def test_all_positive_differences_give_the_exact_smallest_p():
    a = {s: 0.95 + s / 1000 for s in range(8)}
    b = {s: 0.90 for s in range(8)}
    cmp = paired(a, b)
    assert cmp.seeds == list(range(8)) and cmp.wins == 8 and cmp.losses == 0
    assert cmp.p_wilcoxon == pytest.approx(2 / 2**8)  # exact test: both all-plus and all-minus of 256 sign sets
    assert cmp.mean == pytest.approx(0.0535)
    assert 0.05 < cmp.ci[0] < cmp.mean < cmp.ci[1] < 0.057 and not cmp.covers_zero()


def test_one_negative_rank_two_gives_six_of_256():
    # ranks 1..8 with rank 2 negative: W- = 2; P(W <= 2) = 3/256 (sign sets {}, {1}, {2}), two-sided 6/256
    assert wilcoxon_p([1, -2, 3, 4, 5, 6, 7, 8]) == pytest.approx(6 / 256)


def test_constant_differences_have_a_degenerate_interval_and_ties_are_counted():
    cmp = paired({1: 0.5, 2: 0.6, 3: 0.7}, {1: 0.49, 2: 0.59, 3: 0.69}, tie=0.02)
    assert cmp.ci == pytest.approx((0.01, 0.01)) and cmp.ties == 3 and cmp.wins == cmp.losses == 0


def test_all_zero_differences_have_no_p_value_and_only_common_seeds_count():
    cmp = paired({1: 0.9, 2: 0.8, 9: 0.1}, {1: 0.9, 2: 0.8, 7: 0.5})
    assert cmp.seeds == [1, 2] and cmp.p_wilcoxon is None and cmp.covers_zero()
    with pytest.raises(ValueError, match="no search seed in common"):
        paired({1: 0.9}, {2: 0.9})


def test_bootstrap_interval_of_a_symmetric_sample_is_centred_and_seeded():
    lo, hi = bootstrap_ci([-1.0, 1.0] * 10)
    assert lo == pytest.approx(-hi, abs=0.05) and 0.3 < hi < 0.5  # sd of the mean = 1/sqrt(20) = 0.22
    assert bootstrap_ci([0.1, 0.4, 0.2], seed=3) == bootstrap_ci([0.1, 0.4, 0.2], seed=3)
