"""Tests for evaltools.calibration._calibrate: agreement metrics, intervals, verdicts, inputs."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score, precision_recall_fscore_support
from statsmodels.stats.inter_rater import cohens_kappa

from evaltools.calibration import _metrics as cm
from evaltools.calibration._calibrate import MIN_PAIRED, calibrate
from evaltools.errors import InputError


def _random_pair(rng: np.random.Generator, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    human = rng.integers(0, k, n)
    noise = rng.integers(-1, 2, n) * (rng.random(n) < 0.4)
    judge = np.clip(human + noise, 0, k - 1)
    return human, judge


# ---------------------------------------------------------------- table formulas vs reference libraries


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_table_statistics_match_reference_libraries(k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, j = _random_pair(rng, k, 80)
    t = cm.confusion_table(h, j, k)
    values = np.linspace(1, 5, k) if k > 2 else np.arange(k, dtype=float)
    assert cm.agreement_from_tables(t) == pytest.approx(np.mean(h == j), abs=1e-12)
    for weights in (None, "linear", "quadratic"):
        ref = cohen_kappa_score(h, j, labels=range(k), weights=weights)
        assert cm.kappa_from_tables(t, weights) == pytest.approx(ref, abs=1e-12)
    for level in ("nominal", "ordinal", "interval"):
        ref = krippendorff.alpha(
            reliability_data=np.vstack([values[h], values[j]]),
            value_domain=values,
            level_of_measurement=level,
        )
        assert cm.alpha_from_tables(t, values, level) == pytest.approx(ref, abs=1e-12)
    assert cm.kendall_tau_b_from_tables(t) == pytest.approx(stats.kendalltau(h, j, variant="b").statistic, abs=1e-12)
    assert cm.spearman_from_tables(t) == pytest.approx(stats.spearmanr(h, j).statistic, abs=1e-12)
    assert cm.mean_bias_from_tables(t, values) == pytest.approx(np.mean(values[j] - values[h]), abs=1e-12)
    classes = np.unique(np.concatenate([h, j]))
    p, r, f, _ = precision_recall_fscore_support(h, j, labels=classes, average="macro", zero_division=0)
    mp, mr, mf = cm.macro_prf_from_tables(t, classes)
    assert (mp, mr, mf) == pytest.approx((p, r, f), abs=1e-12)


def test_table_statistics_are_vectorized_over_a_stack() -> None:
    rng = np.random.default_rng(5)
    tables = np.stack([cm.confusion_table(*_random_pair(rng, 4, 50), 4) for _ in range(6)])
    stacked = cm.kappa_from_tables(tables, "quadratic")
    one_by_one = [float(cm.kappa_from_tables(t, "quadratic")) for t in tables]
    assert stacked.shape == (6,)
    assert stacked == pytest.approx(one_by_one, abs=1e-12)
    alpha_stack = cm.alpha_from_tables(tables, [1, 2, 3, 4], "ordinal")
    assert alpha_stack == pytest.approx([float(cm.alpha_from_tables(t, [1, 2, 3, 4], "ordinal")) for t in tables])


def test_unit_coincidences_reproduce_krippendorff_with_missing_labels() -> None:
    rng = np.random.default_rng(11)
    data = rng.integers(1, 6, size=(3, 40)).astype(float)  # raters x units
    data[rng.random(data.shape) < 0.3] = np.nan
    counts = np.stack([(data.T == v).sum(axis=1) for v in range(1, 6)], axis=1).astype(float)
    o = cm.unit_coincidences(counts).sum(axis=0)
    for level in ("nominal", "ordinal", "interval"):
        ref = krippendorff.alpha(reliability_data=data, value_domain=[1, 2, 3, 4, 5], level_of_measurement=level)
        assert cm.alpha_from_coincidences(o, [1, 2, 3, 4, 5], level) == pytest.approx(ref, abs=1e-12)


def test_degenerate_tables_are_nan_not_a_number() -> None:
    t = np.array([[10.0, 0.0], [0.0, 0.0]])  # both raters used one category only
    assert math.isnan(float(cm.kappa_from_tables(t)))
    assert math.isnan(float(cm.alpha_from_tables(t, [0, 1], "nominal")))
    assert math.isnan(float(cm.kendall_tau_b_from_tables(t)))
    assert math.isnan(float(cm.spearman_from_tables(t)))


def test_bootstrap_tables_keep_n_and_are_seeded() -> None:
    t = np.array([[40.0, 10.0], [5.0, 45.0]])
    a = cm.bootstrap_tables(t, 500, np.random.default_rng(3))
    b = cm.bootstrap_tables(t, 500, np.random.default_rng(3))
    assert a.shape == (500, 2, 2)
    assert (a.sum(axis=(1, 2)) == 100).all()
    assert np.array_equal(a, b)
    # The resampled cell shares average to the observed shares.
    assert a.mean(axis=0) == pytest.approx(t, abs=1.5)


# ---------------------------------------------------------------- calibrate: numbers


def _from_table(table: list[list[int]], values: list[float]) -> tuple[list[float], list[float]]:
    human, judge = [], []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            human += [values[i]] * count
            judge += [values[j]] * count
    return judge, human


def test_kappa_and_interval_agree_with_statsmodels_asymptotic_ci() -> None:
    # kappa = (0.85 - 0.5) / (1 - 0.5) = 0.70: p_o = 85/100, p_e = .5*.45 + .5*.55 = .5
    judge, human = _from_table([[40, 10], [5, 45]], [0, 1])
    res = calibrate(judge, human, scale=[0, 1], level="nominal", n_resamples=4000, rng=1)["score"]
    ref = cohens_kappa(np.array([[40, 10], [5, 45]]))
    assert res.kappa.value == pytest.approx(0.70, abs=1e-12)
    assert res.kappa.value == pytest.approx(ref.kappa, abs=1e-12)
    # Percentile bootstrap vs asymptotic 0.56-0.84: same interval within Monte Carlo error.
    assert res.kappa.ci_low == pytest.approx(ref.kappa_low, abs=0.03)
    assert res.kappa.ci_high == pytest.approx(ref.kappa_upp, abs=0.03)
    assert res.raw_agreement.value == pytest.approx(0.85)
    assert res.confusion.to_numpy().tolist() == [[40, 10], [5, 45]]  # rows = human
    assert res.kappa_weights is None
    assert res.confidence == 0.95 and res.n_resamples == 4000 and res.seed == 1


def test_lenient_judge_has_perfect_rank_correlation_but_positive_bias() -> None:
    human = [1, 2, 3, 4] * 15
    judge = [2, 3, 4, 5] * 15  # always one point higher
    res = calibrate(judge, human, scale=range(1, 6), level="ordinal", n_resamples=500)["score"]
    assert res.kendall_tau_b.value == pytest.approx(1.0)
    assert res.spearman.value == pytest.approx(1.0)
    assert res.mean_bias.value == pytest.approx(1.0)
    assert (res.mean_bias.ci_low, res.mean_bias.ci_high) == (1.0, 1.0)
    assert res.raw_agreement.value == 0.0
    assert res.kappa_weights == "quadratic"
    # Quadratic kappa rewards the near misses: far above the unweighted 0-agreement.
    assert res.kappa.value == pytest.approx(cohen_kappa_score(human, judge, labels=range(1, 6), weights="quadratic"))
    assert res.alpha.value == pytest.approx(
        krippendorff.alpha(
            reliability_data=[human, judge], value_domain=[1, 2, 3, 4, 5], level_of_measurement="ordinal"
        )
    )


def test_intervals_contain_the_point_estimate_and_shrink_with_n() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for n in (60, 600):
        h, j = _random_pair(rng, 5, n)
        res = calibrate(j + 1, h + 1, scale=range(1, 6), level="ordinal", n_resamples=1000, rng=2)["score"]
        for est in (res.kappa, res.alpha, res.kendall_tau_b, res.spearman, res.mean_bias, res.raw_agreement):
            assert est.ci_low <= est.value <= est.ci_high
        widths.append(res.kappa.width)
    assert widths[1] < widths[0] / 2  # ~ 1/sqrt(10)


def test_nominal_scale_with_three_categories_has_no_rank_metrics() -> None:
    rng = np.random.default_rng(4)
    h, j = _random_pair(rng, 3, 50)
    res = calibrate(j, h, scale=[0, 1, 2], level="nominal", n_resamples=200)["score"]
    assert res.kendall_tau_b is None and res.spearman is None and res.mean_bias is None
    assert res.kappa_weights is None
    assert res.kappa.value == pytest.approx(cohen_kappa_score(h, j))


def test_seed_is_recorded_and_reproduces_intervals() -> None:
    rng = np.random.default_rng(9)
    h, j = _random_pair(rng, 5, 80)
    a = calibrate(j, h, scale=range(5), level="ordinal", n_resamples=300, rng=42)["score"]
    b = calibrate(j, h, scale=range(5), level="ordinal", n_resamples=300, rng=42)["score"]
    c = calibrate(j, h, scale=range(5), level="ordinal", n_resamples=300, rng=np.random.default_rng(1))["score"]
    d = calibrate(j, h, scale=range(5), level="ordinal", n_resamples=300, rng=c.seed)["score"]
    assert a.kappa == b.kappa and a.seed == 42
    assert c.kappa == d.kappa
    assert a.kappa.value == c.kappa.value


# ---------------------------------------------------------------- verdicts


def test_fewer_than_ten_paired_labels_give_a_reason_not_a_number() -> None:
    res = calibrate([1, 2, 3, 4, 5, 1, 2, 3, 4], [1, 2, 3, 4, 5, 1, 2, 3, 4], scale=range(1, 6), level="ordinal")
    dim = res["score"]
    assert dim.n_paired == MIN_PAIRED - 1
    assert dim.verdict == "not_trusted" and not dim.trusted
    assert dim.reasons[0].startswith("too few labels: 9 paired labels; at least 10 are needed")
    for name in ("raw_agreement", "kappa", "alpha", "kendall_tau_b", "spearman", "mean_bias", "macro_f1"):
        assert getattr(dim, name) is None
    assert dim.confusion is None
    frame = res.to_frame()
    assert math.isnan(frame.loc[0, "kappa"])
    assert "too few labels" in frame.loc[0, "reasons"]


def test_perfect_judge_with_enough_labels_is_trusted() -> None:
    human = [1, 2, 3, 4, 5] * 20
    res = calibrate(human, human, scale=range(1, 6), level="ordinal", n_resamples=300)
    dim = res["score"]
    assert dim.verdict == "trusted" and dim.reasons == ()
    assert dim.kappa.value == pytest.approx(1.0) and dim.kappa.width == 0
    assert res.trusted == ("score",)


def test_kappa_below_floor_is_not_trusted() -> None:
    rng = np.random.default_rng(1)
    human = rng.integers(0, 2, 400)
    judge = np.where(rng.random(400) < 0.6, human, 1 - human)  # kappa about 0.2
    dim = calibrate(judge, human, scale=[0, 1], level="nominal", n_resamples=300)["score"]
    assert dim.kappa.value < 0.4
    assert any(r.startswith(f"kappa {dim.kappa.value:.2f} is below the floor 0.60") for r in dim.reasons)
    assert dim.verdict == "not_trusted"


def test_wide_interval_is_not_trusted_even_with_a_high_kappa() -> None:
    judge, human = _from_table([[8, 2], [1, 9]], [0, 1])  # kappa 0.7 on 20 items
    dim = calibrate(judge, human, scale=[0, 1], level="nominal", min_labels=10, n_resamples=1000)["score"]
    assert dim.kappa.value == pytest.approx(0.7)
    assert dim.kappa.width > 0.4
    assert [r for r in dim.reasons if "wide" in r]
    assert not [r for r in dim.reasons if "floor" in r]


def test_unscored_judge_replies_are_counted_excluded_or_substituted() -> None:
    human = [1, 2, 3, 4, 5] * 12
    judge = [float(v) for v in human]
    for i in range(0, 60, 6):  # 10 unscored replies
        judge[i] = math.nan
    dim = calibrate(judge, human, scale=range(1, 6), level="ordinal", n_resamples=200)["score"]
    assert dim.n_judge_unscored == 10 and dim.n_paired == 50
    assert any("no score on 10 of 60" in r for r in dim.reasons)  # 17% > 10%
    sub = calibrate(judge, human, scale=range(1, 6), level="ordinal", unscored_as=1, n_resamples=200)["score"]
    assert sub.n_paired == 60 and sub.n_judge_unscored == 10
    assert any("counted as 1" in n for n in sub.notes)
    assert sub.raw_agreement.value == pytest.approx(52 / 60)  # 50 exact + 2 unscored items whose human said 1


def test_majority_consensus_leaves_ties_out_and_median_keeps_them() -> None:
    human = np.array([[1, 1, 2], [3, 4, np.nan], [5, 5, 5]] * 10, dtype=float)
    judge = [1, 3, 5] * 10
    maj = calibrate(judge, human, scale=range(1, 6), level="ordinal", n_resamples=200)["score"]
    assert maj.n_no_consensus == 10 and maj.n_paired == 20
    med = calibrate(judge, human, scale=range(1, 6), level="ordinal", consensus="median", n_resamples=200)["score"]
    assert med.n_no_consensus == 0 and med.n_paired == 30
    assert med.raw_agreement.value == 1.0  # lower median of (3, 4) is 3


def test_human_ceiling_on_double_labelled_items() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(1, 6, 60).astype(float)
    b = np.clip(a + rng.integers(-1, 2, 60), 1, 5)
    b[40:] = np.nan  # second annotator labelled 40 of 60
    res = calibrate(a, np.column_stack([a, b]), scale=range(1, 6), level="ordinal", consensus="median", n_resamples=300)
    dim = res["score"]
    assert dim.n_multi_labelled == 40 and dim.n_annotators == 2
    ref = krippendorff.alpha(
        reliability_data=np.vstack([a[:40], b[:40]]),
        value_domain=[1, 2, 3, 4, 5],
        level_of_measurement="ordinal",
    )
    assert dim.human_alpha.value == pytest.approx(ref)
    assert dim.human_alpha.ci_low <= ref <= dim.human_alpha.ci_high
    row = dim.human_pairwise.iloc[0]
    assert row["n"] == 40
    assert row["kappa"] == pytest.approx(cohen_kappa_score(a[:40], b[:40], weights="quadratic", labels=range(1, 6)))


def test_single_annotator_has_no_ceiling() -> None:
    dim = calibrate([1, 2] * 10, [1, 2] * 10, scale=[1, 2], level="nominal", n_resamples=100)["score"]
    assert dim.human_alpha is None and dim.human_pairwise is None and dim.n_multi_labelled == 0


# ---------------------------------------------------------------- long tables


def _long_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    items = [f"q{i}" for i in range(30)]
    judge = pd.DataFrame(
        {
            "run_id": ["r1"] * 60,
            "item_id": items * 2,
            "dimension": ["helpfulness"] * 30 + ["refusal"] * 30,
            "value": [(i % 5) + 1 for i in range(30)] + [i % 2 for i in range(30)],
        }
    )
    human = pd.DataFrame(
        {
            "run_id": ["r1"] * 60,
            "item_id": items * 2,
            "dimension": ["helpfulness"] * 30 + ["refusal"] * 30,
            "value": [(i % 5) + 1 for i in range(30)] + [i % 2 for i in range(30)],
            "annotator": "ana",
            "time": "2024-06-01T10:00:00+00:00",
        }
    )
    return judge, human


def test_long_tables_are_paired_per_dimension_with_their_own_scale() -> None:
    judge, human = _long_inputs()
    res = calibrate(
        judge,
        human,
        scale={"helpfulness": range(1, 6), "refusal": [0, 1]},
        level={"helpfulness": "ordinal", "refusal": "nominal"},
        n_resamples=200,
        min_labels=20,
    )
    assert [d.dimension for d in res] == ["helpfulness", "refusal"]
    assert res["helpfulness"].n_paired == 30 and res["refusal"].scale == (0.0, 1.0)
    assert set(res.trusted) == {"helpfulness", "refusal"}
    with pytest.raises(KeyError, match="dimensions: helpfulness, refusal"):
        res["tone"]


def test_latest_label_of_an_annotator_wins() -> None:
    judge, human = _long_inputs()
    fix = human.iloc[[0]].assign(value=5, time="2024-06-02T10:00:00+00:00")
    older = human.iloc[[1]].assign(value=1, time="2024-05-01T10:00:00+00:00")  # an older relabel loses
    res = calibrate(
        judge,
        pd.concat([fix, human, older]),
        scale={"helpfulness": range(1, 6), "refusal": [0, 1]},
        level="ordinal",
        n_resamples=100,
        min_labels=10,
    )
    # q0 was 1 for the judge and is now 5 for the human: one disagreement of 30.
    assert res["helpfulness"].raw_agreement.value == pytest.approx(29 / 30)


def test_run_ids_must_match_for_a_pair() -> None:
    judge, human = _long_inputs()
    res = calibrate(
        judge.assign(run_id="other"),
        human,
        scale={"helpfulness": range(1, 6), "refusal": [0, 1]},
        level="ordinal",
    )
    dim = res["helpfulness"]
    assert dim.n_paired == 0 and dim.n_missing_judge == 30
    assert any("check that item_id (and run_id) match" in n for n in dim.notes)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda j, h: (pd.concat([j, j.iloc[[0]]]), h), "rows for the same item and dimension"),
        (
            lambda j, h: (j, h.assign(value=h["value"].where(h.index != 3, 9))),
            r"on the declared scale .* Got \[9.0\]",
        ),
        (
            lambda j, h: (j.assign(value=j["value"].where(j.index != 3, 0)), h),
            "Judge values of dimension 'helpfulness'",
        ),
        (lambda j, h: (j, h.assign(value="good")), "Human label values must be numbers"),
        (lambda j, h: (j["value"].to_numpy(), h), "same form"),
    ],
)
def test_bad_long_inputs_raise_input_errors(mutate, match) -> None:  # type: ignore[no-untyped-def]
    judge, human = _long_inputs()
    j, h = mutate(judge, human)
    with pytest.raises(InputError, match=match):
        calibrate(j, h, scale={"helpfulness": range(1, 6), "refusal": [0, 1]}, level="ordinal")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"level": "ratio"}, "'level' parameter of calibrate must be one of"),
        ({"scale": "1-5"}, "'scale' parameter of calibrate must be a sequence"),
        ({"scale": [3]}, "at least two finite values"),
        ({"min_labels": 5}, "'min_labels' parameter of calibrate must be an int >= 10"),
        ({"confidence": 1.5}, r"'confidence' parameter of calibrate must be a float in \(0, 1\). Got 1.5"),
        ({"kappa_floor": 2}, "'kappa_floor' parameter"),
        ({"n_resamples": 10}, "'n_resamples' parameter"),
        ({"consensus": "mean"}, "'consensus' parameter"),
        ({"rng": "seed"}, "'rng' parameter"),
        ({"scale": {"other": [1, 2]}}, "no entry for dimension"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, match) -> None:  # type: ignore[no-untyped-def]
    args = {"scale": range(1, 6), "level": "ordinal", **kwargs}
    with pytest.raises(InputError, match=match):
        calibrate([1, 2, 3] * 5, [1, 2, 3] * 5, **args)


def test_length_mismatch_reports_both_lengths() -> None:
    with pytest.raises(InputError, match="judge has 3, human has 2"):
        calibrate([1, 2, 3], [1, 2], scale=[1, 2, 3], level="ordinal")


# ---------------------------------------------------------------- display


def test_frames_and_html_escape_names() -> None:
    judge = pd.DataFrame(
        {"item_id": [str(i) for i in range(20)], "dimension": "<script>x</script>", "value": [1, 2] * 10}
    )
    human = judge.assign(annotator="a<b>")
    res = calibrate(judge, human, scale=[1, 2], level="nominal", n_resamples=100)
    page = res._repr_html_()
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    metrics = res["<script>x</script>"].to_frame()
    assert metrics["metric"].tolist()[:3] == ["raw_agreement", "kappa", "alpha"]
    assert {"kappa_low", "kappa_high", "verdict", "human_alpha"} <= set(res.to_frame().columns)
    assert "NOT TRUSTED" in res.summary() and "fewer than the 50 required" in res.summary()


def test_non_numeric_judge_scores_are_an_error_not_unscored() -> None:
    with pytest.raises(InputError, match="Got 'four' at position 1"):
        calibrate([1, "four", 3], [1, 2, 3], scale=[1, 2, 3], level="ordinal")
    with pytest.raises(InputError, match="1-D array of scores"):
        calibrate([[1, 2]], [1, 2], scale=[1, 2], level="ordinal")


def test_degenerate_inputs_are_clear_errors_or_notes() -> None:
    # Empty arrays: an error, not an empty report.
    with pytest.raises(InputError, match="empty arrays"):
        calibrate([], [], scale=[0, 1], level="nominal")
    # A frame missing columns names them (it used to fail on its shape).
    frame = pd.DataFrame({"item_id": ["a", "b"], "value": [1.0, 0.0]})
    with pytest.raises(InputError, match=r"judge frame passed to calibrate lacks column\(s\) \['dimension'\]"):
        calibrate(frame, [1, 0], scale=[0, 1], level="nominal")
    with pytest.raises(InputError, match=r"human frame passed to calibrate lacks column\(s\) \['dimension'\]"):
        calibrate([1.0, 0.0], frame, scale=[0, 1], level="nominal")
    # NaN human labels in arrays are left out with a note saying how many.
    human = np.array([1, 0] * 30, dtype=float)
    human[:7] = np.nan
    dim = calibrate(np.array([1, 0] * 30, dtype=float), human, scale=[0, 1], level="nominal", n_resamples=200)["score"]
    assert dim.n_paired == 53
    assert "7 items have no human label (NaN) and are left out." in dim.notes
    with pytest.raises(InputError, match="None of the 3 items has a human label"):
        calibrate([1, 0, 1], [np.nan] * 3, scale=[0, 1], level="nominal")
    # A long table with no labels yet is a report that says so.
    empty = calibrate(
        pd.DataFrame(columns=["item_id", "dimension", "value"]),
        pd.DataFrame(columns=["item_id", "dimension", "value", "annotator"]),
        scale=[0, 1],
        level="nominal",
    )
    assert empty.summary().startswith("no human labels")
