"""Tests for position and length bias of pairwise judges."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from evaltools.calibration_pairwise import length_bias, position_bias
from evaltools.errors import InputError


def test_swap_test_counts_and_binomial_p_value() -> None:
    # 10 consistent pairs, 8 where position 1 won both orders, 2 where position 2 did, 3 tie-in-one-order.
    first = ["A"] * 5 + ["B"] * 5 + ["A"] * 8 + ["B"] * 2 + ["tie", "A", "tie"]
    second = ["A"] * 5 + ["B"] * 5 + ["B"] * 8 + ["A"] * 2 + ["A", "tie", "B"]
    r = position_bias(first, second)
    assert r.n_pairs == 23
    assert r.consistency_rate.value == pytest.approx(10 / 23)
    assert (r.n_first_both, r.n_second_both, r.n_tie_one_order) == (8, 2, 3)
    assert r.pvalue == pytest.approx(stats.binomtest(8, 10, 0.5).pvalue)  # 0.109
    # First shown wins: "A" in order 1 (5 + 8 + 1) plus "B" in order 2 (5 + 8 + 1) = 28,
    # of (23 - 2) + (23 - 1) = 43 verdicts that were not ties.
    assert r.prob_prefer_first == pytest.approx(28 / 43)
    assert r.consistency_rate.ci_low < 10 / 23 < r.consistency_rate.ci_high


def test_swap_test_is_two_sided() -> None:
    a = position_bias(["A"] * 12, ["B"] * 12)  # always the first shown
    b = position_bias(["B"] * 12, ["A"] * 12)  # always the second shown
    assert a.pvalue == pytest.approx(b.pvalue) and a.pvalue < 0.001
    assert a.prob_prefer_first == 1.0 and b.prob_prefer_first == 0.0


def test_swap_test_without_flips_has_no_p_value_and_accepts_score_values() -> None:
    r = position_bias([1.0, 0.0, 0.5, None], [1.0, 0.0, 0.5, "A"])  # last pair has one order missing
    assert r.n_pairs == 3 and r.consistency_rate.value == 1.0
    assert math.isnan(r.pvalue)
    empty = position_bias([], [])
    assert empty.n_pairs == 0 and math.isnan(empty.consistency_rate.value)


@pytest.mark.parametrize(
    ("first", "second", "match"),
    [
        (["A"], ["A", "B"], "first_order has 1, second_order has 2"),
        (["A", "left"], ["A", "B"], r"Got 'left' at position 1"),
        ([2, 1], [1, 1], r"Got 2 at position 0"),
    ],
)
def test_swap_test_bad_input(first, second, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=match):
        position_bias(first, second)


def test_prob_prefer_longer_only_counts_pairs_differing_by_more_than_30() -> None:
    judge = ["A", "A", "B", "B", "A", "tie"]
    len_a = [100, 31, 10, 50, 200, 300]
    len_b = [10, 0, 100, 60, 20, 10]  # diffs: 90, 31, -90, -10, 180, 290
    r = length_bias(judge, len_a, len_b)
    # Eligible: 0 (A longer, A chosen), 1 (31 > 30, longer), 2 (B longer, B chosen), 4 (longer);
    # 3 is too close, 5 is a tie.
    assert r.n_eligible == 4
    assert r.prob_prefer_longer.value == 1.0
    assert r.human_prob_prefer_longer is None and math.isnan(r.difference_pvalue)
    assert "regression not fit" in r.notes[0]


def test_length_regression_detects_verbosity_beyond_the_human_label() -> None:
    rng = np.random.default_rng(0)
    n = 600
    human_a = rng.random(n) < 0.5
    dlen = rng.normal(0, 200, n)
    # The judge follows the human label, plus a pull toward the longer output.
    logit = 1.5 * np.where(human_a, 1, -1) + 1.2 * np.tanh(dlen / dlen.std())
    judge_a = rng.random(n) < 1 / (1 + np.exp(-logit))
    len_b = np.full(n, 500.0)
    r = length_bias(
        np.where(judge_a, "A", "B"),
        len_b + dlen,
        len_b,
        human=np.where(human_a, "A", "B"),
        groups=np.arange(n) // 3,
    )
    assert r.length_coef == pytest.approx(1.2, abs=0.45)
    assert r.length_ci[0] > 0 and r.length_pvalue < 0.001
    assert r.prob_prefer_longer.value > r.human_prob_prefer_longer.value
    assert r.difference_pvalue < 0.05

    # A judge that only follows the human label shows no length effect.
    judge_fair = rng.random(n) < 1 / (1 + np.exp(-1.5 * np.where(human_a, 1, -1)))
    fair = length_bias(np.where(judge_fair, "A", "B"), len_b + dlen, len_b, human=np.where(human_a, "A", "B"))
    assert fair.length_ci[0] < 0 < fair.length_ci[1]


def test_perfect_separation_is_reported_not_fit() -> None:
    human = ["A", "B"] * 20
    r = length_bias(human, [100, 10] * 20, [10, 100] * 20, human=human)
    assert math.isnan(r.length_coef)
    assert any("regression not fit" in n for n in r.notes)


def test_length_bias_bad_input() -> None:
    with pytest.raises(InputError, match="one entry per pair"):
        length_bias(["A"], [1, 2], [1, 2])
    with pytest.raises(InputError, match="all outputs .strings. or all lengths"):
        length_bias(["A", "B"], ["text", 3], ["a", "b"])
