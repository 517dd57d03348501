"""Hash-based judge sampling and the population estimates from the judged sample."""

import hashlib
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom
from statsmodels.stats.proportion import proportion_confint

from evaltools.errors import ConfigError, InputError
from evaltools.monitor import (
    estimate_judged_mean,
    judge_sample,
    load_logs,
    sampling_unit,
    select_for_judging,
)
from evaltools.monitor._synthetic import generate_synthetic_logs


def test_sampling_unit_is_the_first_52_bits_of_sha256():
    h = hashlib.sha256(b"conv-42").hexdigest()
    assert sampling_unit(["conv-42"])[0] == int(h[:13], 16) / 16**13
    assert sampling_unit(["conv-42"], salt="x")[0] != sampling_unit(["conv-42"])[0]


@pytest.fixture(scope="module")
def syn():
    return generate_synthetic_logs(days=3, requests_per_hour=200, incidents=None, seed=21)


def test_sql_and_python_sampling_agree_and_keep_conversations_whole(syn):
    logs = load_logs(syn.logs)
    sql = select_for_judging(logs, rate=0.05)
    py = select_for_judging(syn.logs, rate=0.05)
    assert sorted(sql["request_id"]) == sorted(py["request_id"])
    # whole conversations: every request of a selected conversation is selected
    chosen = set(py["conversation_id"])
    all_rows = syn.logs[syn.logs["conversation_id"].isin(chosen)]
    assert len(all_rows) == len(py)
    assert (sql["inclusion_prob"] == 0.05).all()


def test_sample_size_is_binomial_in_the_number_of_conversations(syn):
    n_conv = syn.logs["conversation_id"].nunique()
    k = select_for_judging(syn.logs, rate=0.02)["conversation_id"].nunique()
    lo, hi = binom.ppf([0.0005, 0.9995], n_conv, 0.02)  # a 99.9 % range: fails 1 time in 1000 at most
    assert lo <= k <= hi


def test_sampling_is_deterministic_and_nested(syn):
    a = select_for_judging(syn.logs, rate=0.02)
    b = select_for_judging(syn.logs, rate=0.02)
    c = select_for_judging(syn.logs, rate=0.05)
    assert a["request_id"].tolist() == b["request_id"].tolist()
    assert set(a["request_id"]) <= set(c["request_id"])  # u < 0.02 implies u < 0.05


def test_per_segment_rates(syn):
    sample = select_for_judging(load_logs(syn.logs), rate=0.01, segment_rates={"sales": 0.2})
    probs = sample.groupby("segment")["inclusion_prob"].unique().to_dict()
    assert probs["sales"].tolist() == [0.2] and probs["support"].tolist() == [0.01]
    share_sales = (sample["segment"] == "sales").mean()
    assert share_sales > 0.5  # over-sampled 20x against a 15 % traffic share


def test_rate_validation(syn):
    for bad in (0, 1.5, float("nan"), "0.1"):
        with pytest.raises(ConfigError, match="rate"):
            select_for_judging(syn.logs, rate=bad)
    with pytest.raises(InputError, match="conversation_id"):
        select_for_judging(pd.DataFrame({"output": ["x"]}))


def test_judge_sample_batches_and_keeps_unscored_as_nan():
    calls = []

    def judge(texts):
        calls.append(len(texts))
        return [None if t == "bad" else float(len(t)) for t in texts]

    df = pd.DataFrame({"output": ["aa", "bad", "cccc", None, "e"]})
    out = judge_sample(df, judge, batch_size=2)
    assert calls == [2, 2, 1]
    assert out["judge_score"].tolist()[:3] == [2.0, pytest.approx(float("nan"), nan_ok=True), 4.0]
    assert out["judge_unscored"].tolist() == [False, True, False, False, False]  # None text is judged as ""


def test_judge_returning_the_wrong_number_of_scores_is_an_error():
    with pytest.raises(InputError, match="returned 1 scores for a batch of 2"):
        judge_sample(pd.DataFrame({"output": ["a", "b"]}), lambda texts: [1.0])
    with pytest.raises(ConfigError, match="batch_size"):
        judge_sample(pd.DataFrame({"output": ["a"]}), lambda t: [1.0], batch_size=0)


def test_wilson_for_binary_scores_at_equal_rates():
    y = [1] * 70 + [0] * 30
    est = estimate_judged_mean(y, 0.02)
    lo, hi = proportion_confint(70, 100, alpha=0.05, method="wilson")
    assert est.method == "wilson"
    assert (est.estimate, est.ci_low, est.ci_high) == pytest.approx((0.7, lo, hi))
    assert est.se == pytest.approx(math.sqrt(0.7 * 0.3 / 100 * 0.98))  # with the finite-population factor


def test_clt_for_graded_scores_at_equal_rates():
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    est = estimate_judged_mean(y)  # no inclusion probability: no finite-population correction
    # mean 3, s = sqrt(2.5), se = sqrt(2.5 / 5) = 0.7071
    assert est.method == "clt"
    assert est.se == pytest.approx(math.sqrt(0.5))
    assert est.ci_low == pytest.approx(3 - 1.959963984540054 * math.sqrt(0.5))


def test_hajek_with_linearization_variance_by_hand():
    y = np.array([4.0, 2.0, 5.0])
    pi = np.array([0.5, 0.25, 0.1])
    w = 1 / pi  # 2, 4, 10
    mean = (w * y).sum() / w.sum()  # (8 + 8 + 50) / 16 = 4.125
    var = (w**2 * (1 - pi) * (y - mean) ** 2).sum() / w.sum() ** 2 * 3 / 2
    est = estimate_judged_mean(y, pi)
    assert est.method == "hajek"
    assert est.estimate == pytest.approx(4.125)
    assert est.se == pytest.approx(math.sqrt(var))


def test_clustered_variance_sums_residuals_within_conversations():
    y = np.array([1.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    conv = ["a", "a", "b", "b", "c", "d"]
    est = estimate_judged_mean(y, 0.05, clusters=conv)
    # mean 0.5; cluster sums of (y - 0.5): a: 1, b: -1, c: 0.5, d: -0.5 -> sum of squares 2.5
    # var = (1 - 0.05) * 2.5 * w^2 / (6 w)^2 * 4/3 = 0.95 * 2.5 / 36 * 4 / 3
    assert est.method == "clt-clustered" and est.n_clusters == 4
    assert est.se == pytest.approx(math.sqrt(0.95 * 2.5 / 36 * 4 / 3))


def test_unscored_rows_are_excluded_and_counted_and_empty_gives_nan():
    est = estimate_judged_mean([1.0, np.nan, 0.0, np.nan], 0.1)
    assert est.n == 2 and est.n_unscored == 2
    empty = estimate_judged_mean([np.nan], 0.1)
    assert empty.n == 0 and math.isnan(empty.estimate) and math.isnan(empty.ci_low)


def test_estimate_validation():
    with pytest.raises(InputError, match="different lengths: 3 and 2"):
        estimate_judged_mean([1, 2, 3], [0.1, 0.2])
    with pytest.raises(InputError, match="inclusion probability"):
        estimate_judged_mean([1, 2], [0.0, 0.5])
    with pytest.raises(ConfigError, match="confidence"):
        estimate_judged_mean([1, 2], confidence=95)


def test_hajek_interval_covers_the_population_mean():
    # Unequal-probability Bernoulli samples from a fixed population: ~95 % of the intervals cover.
    rng = np.random.default_rng(7)
    N = 20_000
    segment = rng.random(N) < 0.2
    y = np.where(segment, rng.normal(2.0, 1.0, N), rng.normal(4.0, 1.0, N))  # the rare segment scores lower
    pi = np.where(segment, 0.10, 0.02)
    truth = y.mean()
    covered = 0
    reps = 300
    for _ in range(reps):
        take = rng.random(N) < pi
        est = estimate_judged_mean(y[take], pi[take])
        covered += est.ci_low <= truth <= est.ci_high
    # 300 reps: 95 % coverage gives 285 +- 3.8 (sd); below 270 would be a real failure
    assert covered >= 270
    naive = y[rng.random(N) < pi].mean()
    assert abs(naive - truth) > 0.2  # ignoring the weights is biased (over-sampled low segment)


def test_rubric_judge_adapter_scores_the_sample():
    """A real RubricJudge (fake client) scores the judged sample; unparsable verdicts stay NaN."""
    import json as _json

    from evaltools.monitor import rubric_judge_fn
    from evaltools.scorers.judge import RubricJudge

    class Scripted:
        model = "judge"

        def __init__(self):
            self.calls = 0

        def complete(self, messages, *, response_format=None):
            self.calls += 1
            text = messages[-1]["content"]
            if "gibberish" in text:
                return "I think it is fine"
            return _json.dumps({"score": 2 if "rude" in text else 5, "reason": "ok"})

    client = Scripted()
    judge = RubricJudge(client, "tone", judge_model="judge", judge_more_capable=True)
    sample = pd.DataFrame({"output": ["Happy to help!", "That is a rude question.", "gibberish"]})
    judged = judge_sample(sample, rubric_judge_fn(judge))
    assert judged["judge_score"].tolist()[:2] == [5.0, 2.0]
    assert judged["judge_unscored"].tolist() == [False, False, True]
    assert client.calls == 3
