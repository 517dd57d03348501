"""Tests for the PPI++ mean and paired-difference estimates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from evaltools.calibration._ppi import ppi_mean, ppi_mean_difference
from evaltools.errors import InputError


def _reference_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    i, u = np.arange(60), np.arange(600)
    y = (i * 7 % 5 + 1).astype(float)
    yhat = np.clip(y + (i % 3 == 0) - (i % 7 == 0) + (i % 11 == 0), 1, 5).astype(float)
    yhat_u = ((u * 3) % 5 + 1 + (u % 4 == 0)).clip(1, 5).astype(float)
    return y, yhat, yhat_u


# Reference values from the independent implementation ppi-python 0.2.3 (MIT), produced once in an
# isolated environment (it needs numba, so it is not a dependency) with:
#     from ppi_py import ppi_mean_ci, ppi_mean_pointestimate
#     y, yhat, yhat_u = _reference_data()
#     for lam in (None, 1.0, 0.0, 0.4):
#         lo, hi = ppi_mean_ci(y, yhat, yhat_u, alpha=0.05, lam=lam)
#         pe = ppi_mean_pointestimate(y, yhat, yhat_u, lam=lam)
PPI_PY_0_2_3 = {
    None: (2.9724529755458775, 2.7908601146553838, 3.1540458364363713),
    1.0: (2.966666666666667, 2.7748155093796845, 3.158517823953649),
    0.0: (3.0, 2.6421611712565687, 3.3578388287434313),
    0.4: (2.986666666666667, 2.744499094272585, 3.2288342390607485),
}


@pytest.mark.parametrize("lam", list(PPI_PY_0_2_3))
def test_matches_ppi_py_reference_values(lam: float | None) -> None:
    y, yhat, yhat_u = _reference_data()
    r = ppi_mean(y, yhat, yhat_u, lam=lam)
    point, low, high = PPI_PY_0_2_3[lam]
    assert r.estimate.value == pytest.approx(point, abs=1e-12)
    assert (r.estimate.ci_low, r.estimate.ci_high) == pytest.approx((low, high), abs=1e-12)


def test_lambda_zero_is_the_classical_human_only_interval() -> None:
    y, yhat, yhat_u = _reference_data()
    r = ppi_mean(y, yhat, yhat_u, lam=0.0)
    # mean(y) = 3.0; half-width = 1.96 * std(y, ddof=0) / sqrt(60)
    half = stats.norm.ppf(0.975) * y.std() / math.sqrt(60)
    assert r.estimate.value == pytest.approx(3.0)
    assert r.estimate.ci_high - r.estimate.value == pytest.approx(half)
    assert (r.human_only.ci_low, r.human_only.ci_high) == pytest.approx((r.estimate.ci_low, r.estimate.ci_high))


def test_tuned_lambda_is_clipped_and_uses_the_formula() -> None:
    y, yhat, yhat_u = _reference_data()
    r = ppi_mean(y, yhat, yhat_u)
    n, big_n = len(y), len(yhat_u)
    # lam* = Cov(Y, Yhat) / ((1 + n/N) Var(Yhat pooled)); Cov with ddof=0, pooled variance with ddof=1.
    cov = np.mean((y - y.mean()) * (yhat - yhat.mean()))
    var = np.var(np.concatenate([yhat, yhat_u]), ddof=1)
    assert r.lam == pytest.approx(np.clip(cov / ((1 + n / big_n) * var), 0, 1))
    # A judge unrelated to the labels gets lam = 0 (clipped from a negative covariance or ~0).
    r0 = ppi_mean(y, -yhat, -yhat_u)
    assert r0.lam == 0.0


def test_ppi_is_unbiased_and_narrower_than_human_only_with_a_biased_judge() -> None:
    rng = np.random.default_rng(0)
    reps, n, big_n, truth = 300, 150, 3000, 3.2
    covered = 0
    widths_ppi, widths_human, judge_means = [], [], []
    for _ in range(reps):
        y_all = np.clip(np.round(rng.normal(truth, 1.0, n + big_n)), 1, 5)
        judge_all = np.clip(y_all + rng.choice([0, 0, 1, 1, -1], n + big_n), 1, 5)  # lenient and noisy
        r = ppi_mean(y_all[:n], judge_all[:n], judge_all[n:])
        mu = y_all.mean()  # the population here is the n + N items
        covered += r.estimate.ci_low <= mu <= r.estimate.ci_high
        widths_ppi.append(r.estimate.width)
        widths_human.append(r.human_only.width)
        judge_means.append(r.judge_only.value - mu)
    assert covered / reps > 0.9  # nominal 0.95; CLT intervals run slightly short (STATS.md 2.4)
    assert np.mean(widths_ppi) < 0.85 * np.mean(widths_human)
    assert np.mean(judge_means) > 0.1  # the judge alone is biased upward


def test_paired_difference_applies_ppi_to_per_item_differences() -> None:
    hb, hc = np.array([3, 4, 2, 5, 3.0]), np.array([4, 4, 3, 5, 4.0])
    jb, jc = np.array([3, 4, 3, 4, 3.0]), np.array([4, 5, 3, 5, 4.0])
    ub, uc = np.array([2, 3, 4, 4, 5, 3.0]), np.array([3, 3, 5, 4, 5, 4.0])
    r = ppi_mean_difference(hb, hc, jb, jc, ub, uc, lam=0.5)
    direct = ppi_mean(hc - hb, jc - jb, uc - ub, lam=0.5)
    assert r.estimate == direct.estimate
    # 0.5 * mean(1, 0, 1, 0, 0, 1) + mean(Y - 0.5 * Yhat) = 0.25 + mean(0.5, -0.5, 1, -0.5, 0.5) = 0.25 + 0.2
    assert r.estimate.value == pytest.approx(0.45)


def test_frame_and_effective_labels() -> None:
    y, yhat, yhat_u = _reference_data()
    r = ppi_mean(y, yhat, yhat_u)
    frame = r.to_frame()
    assert frame["estimator"].tolist() == ["judge only", "human only", "PPI++"]
    assert frame["n"].tolist() == [660, 60, 660]
    assert r.effective_labels > 60  # the judge adds information
    assert "PPI++" in r._repr_html_()


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([1, 2, 3], [1, 2], [1]), {}, "human has 3, judge_labeled has 2"),
        (([1], [1], [1]), {}, "at least 2 labelled and 1 unlabelled"),
        (([1, float("nan")], [1, 2], [1]), {}, "drop unscored"),
        (([1, 2], [1, 2], [1]), {"confidence": 95}, "'confidence' parameter of ppi_mean"),
        (([1, 2], [1, 2], [1]), {"lam": 2.0}, "'lam' parameter of ppi_mean"),
    ],
)
def test_bad_input(args, kwargs, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=match):
        ppi_mean(*args, **kwargs)


def test_difference_bad_input_lists_lengths() -> None:
    with pytest.raises(InputError, match="human_baseline=2, human_candidate=3"):
        ppi_mean_difference([1, 2], [1, 2, 3], [1, 2], [1, 2], [1], [1])
    with pytest.raises(InputError, match="they have 1 and 2 items"):
        ppi_mean_difference([1, 2], [1, 2], [1, 2], [1, 2], [1], [1, 2])


def test_from_tables_pairs_items_and_averages_annotators() -> None:
    import pandas as pd

    from evaltools.calibration._ppi import ppi_by_dimension, ppi_mean_from_tables

    judge = pd.DataFrame(
        {
            "run_id": "r1",
            "item_id": [f"q{i}" for i in range(6)] * 2,
            "dimension": ["tone"] * 6 + ["refusal"] * 6,
            "value": [4, 5, 3, 4, float("nan"), 5, 1, 0, 1, 1, 0, 1],
        }
    )
    human = pd.DataFrame(
        {
            "run_id": "r1",
            "item_id": ["q0", "q0", "q1", "q2", "q0"],
            "dimension": ["tone", "tone", "tone", "tone", "refusal"],
            "value": [3, 5, 5, 3, 1],
            "annotator": ["ana", "ben", "ana", "ana", "ana"],
        }
    )
    r = ppi_mean_from_tables(judge, human, dimension="tone", lam=1.0)
    # Labelled q0 (human mean 4), q1, q2; unlabelled q3, q5 (q4 unscored is left out).
    # mean(4, 5) + mean(4 - 4, 5 - 5, 3 - 3) = 4.5
    assert (r.n_labeled, r.n_unlabeled) == (3, 2)
    assert r.estimate.value == pytest.approx(4.5)
    table = ppi_by_dimension(judge, human)
    refusal = table[table["dimension"] == "refusal"]
    assert len(refusal) == 1 and "at least 2 judged items with human labels" in refusal["note"].iloc[0]
    assert table[table["dimension"] == "tone"]["estimator"].tolist() == ["judge only", "human only", "PPI++"]
