"""Per-window metrics computed in DuckDB, checked against independent computations on the raw rows."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import quantile_test
from statsmodels.stats.proportion import proportion_confint

from evaltools.errors import ConfigError
from evaltools.monitor import compute_windows, estimate_judged_mean, load_logs, order_statistic_ranks
from evaltools.monitor._synthetic import generate_synthetic_logs
from evaltools.scorers.refusal import is_refusal


@pytest.fixture(scope="module")
def syn():
    # 2 days, ~400 requests an hour in the afternoon: windows both above and below n = 368.
    return generate_synthetic_logs(days=2, requests_per_hour=250, incidents=None, seed=11)


@pytest.fixture(scope="module")
def hourly(syn):
    return compute_windows(load_logs(syn.logs), window="hour")


def _by_window(df, freq="h"):
    return df.groupby(df["timestamp"].dt.floor(freq))


def test_counts_quantiles_and_rates_match_pandas(syn, hourly):
    raw = syn.logs
    g = _by_window(raw)
    f = hourly.frame.set_index("window_start")
    exp_n = g.size()
    assert f["n_requests"].to_dict() == exp_n.to_dict()
    # DuckDB quantile_cont == numpy's default linear interpolation
    np.testing.assert_allclose(f["latency_p50"], g["latency"].quantile(0.5), rtol=1e-12)
    np.testing.assert_allclose(f["latency_p99"], g["latency"].quantile(0.99), rtol=1e-12)
    np.testing.assert_allclose(f["length_median"], g["completion_tokens"].quantile(0.5), rtol=1e-12)
    np.testing.assert_allclose(f["length_p90"], g["completion_tokens"].quantile(0.9), rtol=1e-12)
    # refusals: the SQL regex agrees with the Python detector on every row
    ref = raw.assign(r=raw["output"].map(is_refusal)).groupby(raw["timestamp"].dt.floor("h"))["r"].sum()
    assert f["n_refusals"].to_dict() == ref.to_dict()
    hits = (raw["finish_reason"] == "length").groupby(raw["timestamp"].dt.floor("h")).sum()
    np.testing.assert_allclose(f["max_hit_share"], hits / exp_n)
    assert hourly.length_unit == "tokens"


def test_refusal_wilson_interval_matches_statsmodels(hourly):
    f = hourly.frame
    lo, hi = proportion_confint(f["n_refusals"], f["n_output"], alpha=0.05, method="wilson")
    np.testing.assert_allclose(f["refusal_ci_low"], lo)
    np.testing.assert_allclose(f["refusal_ci_high"], hi)


def test_order_statistic_intervals_match_scipy_quantile_test_on_raw_data(syn, hourly):
    raw = syn.logs
    f = hourly.frame.set_index("window_start")
    checked_p99 = 0
    for w, grp in _by_window(raw):
        x = grp["latency"].to_numpy()
        for p, name in ((0.5, "latency_p50"), (0.99, "latency_p99")):
            ci = quantile_test(x, q=float(np.median(x)), p=p).confidence_interval(0.95)
            lo, hi = f.loc[w, f"{name}_ci_low"], f.loc[w, f"{name}_ci_high"]
            assert lo == pytest.approx(ci.low, nan_ok=True), (w, name)
            assert hi == pytest.approx(ci.high, nan_ok=True), (w, name)
            checked_p99 += name == "latency_p99" and np.isfinite(hi)
        if len(x) < 368:
            assert np.isnan(f.loc[w, "latency_p99_ci_high"])  # no finite upper bound on p99 below n = 368
    assert checked_p99 > 5  # the fixture has windows large enough for a finite p99 interval


def test_order_statistic_ranks_known_values():
    # n = 100, median: P(Bin(100, .5) <= 39) = 0.0176 <= 0.025 < P(<= 40) = 0.0284, so l - 1 = 39, l = 40;
    # by symmetry u = 61.
    lo, hi = order_statistic_ranks(100, 0.5)
    assert (lo[0], hi[0]) == (40, 61)
    lo, hi = order_statistic_ranks(np.array([367, 368]), 0.99)
    assert hi.tolist() == [368, 368]  # 368 = n + 1 (no bound) for n = 367, a real rank for n = 368


def test_judge_mean_and_interval(syn, hourly):
    raw = syn.logs
    f = hourly.frame.set_index("window_start")
    g = _by_window(raw.dropna(subset=["judge_score"]))
    for w, grp in list(g)[:10]:
        y = grp["judge_score"].to_numpy()
        assert f.loc[w, "n_judged"] == len(y)
        assert f.loc[w, "judge_mean"] == pytest.approx(y.mean())
        if len(y) > 1:
            se = y.std(ddof=1) / np.sqrt(len(y))
            assert f.loc[w, "judge_ci_low"] == pytest.approx(y.mean() - 1.959963984540054 * se)


def test_weighted_judge_mean_is_hajek_with_linearization_se():
    # Two segments sampled at different rates: the window mean must weight by 1/pi.
    ts = pd.date_range("2024-05-01 10:00", periods=8, freq="5min", tz="UTC")
    y = [5.0, 4.0, 5.0, 1.0, 2.0, 1.0, 2.0, 3.0]
    pi = [0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.05, 0.05]
    df = pd.DataFrame({"timestamp": ts, "judge_score": y, "judge_prob": pi, "latency": 1.0, "output": "ok"})
    f = compute_windows(load_logs(df), min_requests=1).frame
    ref = estimate_judged_mean(y, pi)
    # Hajek: sum(y/pi)/sum(1/pi) = (28 + 180) / (6 + 100) = 1.9623
    assert f.loc[0, "judge_mean"] == pytest.approx(208 / 106)
    assert f.loc[0, "judge_mean"] == pytest.approx(ref.estimate)
    assert f.loc[0, "judge_se"] == pytest.approx(ref.se)


def test_binary_judge_scores_get_a_wilson_interval():
    ts = pd.date_range("2024-05-01 10:00", periods=20, freq="2min", tz="UTC")
    y = [1.0] * 15 + [0.0] * 5
    df = pd.DataFrame({"timestamp": ts, "judge_score": y, "latency": 1.0})
    f = compute_windows(load_logs(df), min_requests=1).frame
    lo, hi = proportion_confint(15, 20, method="wilson")
    assert (f.loc[0, "judge_ci_low"], f.loc[0, "judge_ci_high"]) == pytest.approx((lo, hi))


def test_length_in_characters_and_max_tokens_without_finish_reason():
    ts = pd.date_range("2024-05-01 10:00", periods=4, freq="10min", tz="UTC")
    df = pd.DataFrame(
        {"timestamp": ts, "output": ["ab", "abcd", "abcdef", "abcdefgh"], "completion_tokens": [10, 50, 100, 100]}
    )
    logs = load_logs(df)
    chars = compute_windows(logs, length_unit="chars", min_requests=1)
    assert chars.length_unit == "chars"
    assert chars.frame.loc[0, "length_median"] == pytest.approx(5.0)  # median of 2, 4, 6, 8
    toks = compute_windows(logs, max_tokens=100, min_requests=1)
    assert toks.frame.loc[0, "max_hit_share"] == pytest.approx(0.5)  # 2 of 4 reached the cap
    unknown = compute_windows(logs, min_requests=1)  # no finish_reason, no max_tokens: unknown, not 0
    assert np.isnan(unknown.frame.loc[0, "max_hit_share"])


def test_daily_windows_and_by_segment(syn):
    logs = load_logs(syn.logs)
    daily = compute_windows(logs, window="day")
    assert len(daily.frame) == 2 and daily.frame["n_requests"].sum() == len(syn.logs)
    seg = compute_windows(logs, window="hour", by="segment")
    assert set(seg.frame["segment"]) == {"support", "billing", "sales"}
    assert seg.frame["n_requests"].sum() == len(syn.logs)
    per = seg.frame.groupby("segment")["n_requests"].sum().to_dict()
    assert per == syn.logs.groupby("segment").size().to_dict()


def test_histogram_sums_to_the_window_counts(hourly):
    h = hourly.histograms.groupby("window_start")["count"].sum()
    f = hourly.frame.set_index("window_start")["n_length"]
    assert h.to_dict() == f[f > 0].to_dict()


def test_time_range_and_validation(syn):
    logs = load_logs(syn.logs)
    part = compute_windows(logs, start="2024-01-01 06:00", end="2024-01-01 12:00")
    assert part.frame["window_start"].dt.hour.tolist() == [6, 7, 8, 9, 10, 11]
    with pytest.raises(ConfigError, match="'hour' or 'day'"):
        compute_windows(logs, window="week")
    with pytest.raises(ConfigError, match="'by' parameter"):
        compute_windows(logs, by="conversation_id")
    with pytest.raises(ConfigError, match="min_requests"):
        compute_windows(logs, min_requests=0)


@pytest.mark.parametrize("tz", ["UTC", None])
def test_order_statistics_read_near_the_quantile_equal_those_of_the_whole_sorted_window(tz, monkeypatch):
    # Windows from n = 30 (bounds outside the 0.4-0.6 / >= 0.98 brackets: read from the whole window)
    # to n = 6,000 (read from the brackets), with ties: every bound is the exact order statistic.
    import evaltools.monitor._windows as windows

    rng = np.random.default_rng(8)
    sizes = [30, 80, 200, 369, 1000, 6000]
    rows = []
    for h, n in enumerate(sizes):
        start = pd.Timestamp("2024-05-01", tz="UTC") + pd.Timedelta(hours=h)
        ts = start + pd.to_timedelta(rng.uniform(0, 3599, n), "s")
        lat = np.round(rng.lognormal(0.0, 0.6, n), 1 if h % 2 else 3)  # ties
        rows.append(pd.DataFrame({"timestamp": ts, "latency": lat}))
    df = pd.concat(rows, ignore_index=True)
    if tz is None:
        df["timestamp"] = df["timestamp"].dt.tz_convert(None)
    calls = []
    real = windows.execute
    monkeypatch.setattr(windows, "execute", lambda con, e: calls.append(e) or real(con, e))
    f = compute_windows(load_logs(df), window="hour", min_requests=20).frame
    assert len(calls) == 3  # main (no length: no histogram), the brackets, the whole windows of the small ones
    for h, n in enumerate(sizes):
        x = np.sort(rows[h]["latency"].to_numpy())
        for p, name in ((0.5, "latency_p50"), (0.99, "latency_p99")):
            lo, hi = order_statistic_ranks(n, p)
            want_lo = x[lo[0] - 1] if 1 <= lo[0] <= n else np.nan
            want_hi = x[hi[0] - 1] if 1 <= hi[0] <= n else np.nan
            got = f.iloc[h]
            assert got[f"{name}_ci_low"] == pytest.approx(want_lo, nan_ok=True), (n, name)
            assert got[f"{name}_ci_high"] == pytest.approx(want_hi, nan_ok=True), (n, name)
