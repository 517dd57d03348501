"""Detector building blocks on known values, and detectors on small constructed series."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import median_abs_deviation, norm, t

from evaltools.errors import ConfigError, MonitorWarning
from evaltools.monitor import METRICS, DetectionConfig, WindowMetrics, compute_windows, detect_anomalies, load_logs, psi
from evaltools.monitor._stats import _cusum, _ewma, _madn, _robust_sd, _t_threshold
from evaltools.monitor._synthetic import Incident, generate_synthetic_logs


def test_madn_matches_scipy_normal_scale():
    x = np.random.default_rng(0).normal(size=101)
    assert _madn(x) == pytest.approx(median_abs_deviation(x, scale="normal"))


def test_robust_sd_ignores_a_past_incident_but_not_the_spread():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 2.0, 400)
    contaminated = np.concatenate([x, np.full(20, 50.0)])  # an incident in the baseline
    assert _robust_sd(x) == pytest.approx(2.0, rel=0.1)
    assert _robust_sd(contaminated) == pytest.approx(_robust_sd(x), rel=0.05)
    assert np.std(contaminated) > 5  # the plain SD would be inflated 2.5x


def test_t_threshold_keeps_the_normal_tail_probability():
    # P(|z| > 5) under a normal equals P(|T_20| > q) at the returned q.
    q = _t_threshold(5.0, 20)
    assert t.sf(q, 20) == pytest.approx(norm.sf(5.0))
    assert _t_threshold(5.0, 10_000) == pytest.approx(5.0, abs=0.01)
    assert _t_threshold(5.0, 14) > 8  # short histories need a larger threshold


def test_psi_known_value():
    # shares 0.5/0.5 -> 0.6/0.4: 0.1*ln(0.6/0.5) + (-0.1)*ln(0.4/0.5) = 0.01823 + 0.02231 = 0.04055
    assert psi(np.array([50, 50]), np.array([60, 40])) == pytest.approx(0.040546, abs=1e-6)
    assert psi(np.array([1, 2, 3]), np.array([2, 4, 6])) == pytest.approx(0.0)
    assert math.isnan(psi(np.array([0, 0]), np.array([1, 1])))


def test_ewma_recursion_and_limits():
    z = np.array([1.0, np.nan, 1.0, 1.0])
    stat, lim = _ewma(z, 0.5, 3.0, np.zeros(4))
    # z1 = 0.5*1 = 0.5; NaN skipped; z2 = 0.5 + 0.25 = 0.75; z3 = 0.875
    assert stat[0] == 0.5 and np.isnan(stat[1]) and stat[2] == 0.75 and stat[3] == 0.875
    # limit_i = L sqrt(lam/(2-lam) (1 - (1-lam)^(2i))): i=1 -> 3*sqrt(1/3*0.75) = 1.5
    assert lim[0] == pytest.approx(1.5)
    # autocorrelation widens the limits: rho=0.5, lam=0.5 -> sqrt(1.25/0.75)
    _, lim_rho = _ewma(z, 0.5, 3.0, np.full(4, 0.5))
    assert lim_rho[0] == pytest.approx(1.5 * math.sqrt(1.25 / 0.75))


def test_cusum_signals_a_persistent_shift_and_resets():
    z = np.array([0.0] * 5 + [1.5] * 6)
    c = _cusum(z, 0.5, 4.0)
    # each shifted step adds 1.0: 1, 2, 3, 4, 5 (> 4: signal then reset), 1
    assert c[5:].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 1.0]


def _hourly_frame(values, n=400, metric_col="latency_p50"):
    """A WindowMetrics with one level metric, constant n and known sampling SE."""
    T = len(values)
    ws = pd.date_range("2024-01-01", periods=T, freq="h", tz="UTC")
    f = pd.DataFrame({"window_start": ws, "window_end": ws + pd.Timedelta(hours=1)})
    f["n_requests"] = n
    f["gap"] = False
    f["low_n"] = False
    f["n_latency"] = n
    f[metric_col] = values
    f["se_log_latency_p50"] = 0.05 / np.sqrt(n)
    for c in ("n_length", "n_output", "n_judged", "n_refusals"):
        f[c] = 0
    for c in ("length_median", "length_p90", "latency_p99", "judge_mean", "refusal_rate", "max_hit_share", "n_max_hit"):
        f[c] = np.nan
    for c in ("se_log_n_requests", "se_log_length_median", "se_log_length_p90", "se_log_latency_p99", "judge_se"):
        f[c] = np.nan
    return WindowMetrics(f, pd.DataFrame(columns=["window_start", "bin", "count"]), "hour", None, None, 30, 0.95)


def test_a_spike_on_a_seasonal_series_is_caught_and_named():
    rng = np.random.default_rng(2)
    T = 24 * 35
    hour = np.arange(T) % 24
    season = 2.0 + 1.0 * np.sin(2 * np.pi * hour / 24)  # daily cycle: 1 s at night, 3 s in the afternoon
    values = season * np.exp(rng.normal(0, 0.03, T))
    spike = T - 30
    values[spike] *= 1.5  # +50 %, still inside the daily range if the hour is a night hour
    det = detect_anomalies(_hourly_frame(values), metrics=("latency_p50",), detectors={"latency_p50": ("robust_z",)})
    assert [a.window_start for a in det.alerts] == [pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=spike)]
    a = det.alerts[0]
    assert a.metric == "latency_p50" and a.detector == "robust_z" and a.direction == "up"
    assert a.value == pytest.approx(values[spike])
    # the baseline is the median of the same hour in the 4 previous weeks, on the log scale
    lags = [values[spike - 168 * j] for j in (1, 2, 3, 4)]
    assert a.baseline == pytest.approx(np.exp(np.median(np.log(lags))), rel=1e-9)
    assert a.distance > a.threshold
    assert "same hour-of-week over the previous 4 weeks" in a.explanation


def test_the_current_window_is_not_in_its_own_baseline():
    values = np.ones(24 * 30)
    values += np.random.default_rng(3).normal(0, 0.01, len(values))
    values[-1] = 100.0
    det = detect_anomalies(_hourly_frame(values), metrics=("latency_p50",), detectors={"latency_p50": ("robust_z",)})
    last = det.stats[(det.stats["metric"] == "latency_p50")].iloc[-1]
    assert last["baseline"] == pytest.approx(1.0, abs=0.05)  # the 100 s window did not move its own baseline
    assert last["alert"]


def test_warm_up_then_a_cold_start_rolling_baseline_until_the_seasonal_one():
    values = np.ones(24 * 10) + np.random.default_rng(8).normal(0, 0.01, 24 * 10)
    det = detect_anomalies(_hourly_frame(values), metrics=("latency_p50",), detectors={"latency_p50": ("robust_z",)})
    st = det.stats.set_index("window_start")["statistic"]
    # the rolling baseline needs 12 of its 24 windows, then one week of warm-up for the spread; then
    # scored against the 24-hour rolling baseline (the hour-of-week one needs 2 weeks of lags and
    # its own week of warm-up): alerts can start on day 8, not day 22
    first = 12 + 24 * 7
    assert st.iloc[:first].isna().all() and st.iloc[first:].notna().all()
    assert set(det.stats["baseline_kind"].iloc[first:]) == {"rolling"}
    assert det.alerts == ()
    assert "latency_p50: a 24-hour rolling baseline throughout" in det.cold_start


def test_cold_start_is_stated_and_a_jump_during_it_is_caught():
    T = 24 * 25
    values = 2.0 * np.exp(np.random.default_rng(9).normal(0, 0.02, T))
    values[24 * 9 + 5] *= 2.0  # day 10: before the seasonal baseline exists
    det = detect_anomalies(_hourly_frame(values), metrics=("latency_p50",), detectors={"latency_p50": ("robust_z",)})
    assert [a.window_start for a in det.alerts] == [pd.Timestamp("2024-01-10 05:00", tz="UTC")]
    assert "cold start: median of the previous 24 windows" in det.alerts[0].explanation
    # two weeks of the same hour-of-week (from Jan 15) plus a week of its residuals, then the
    # seasonal baseline takes over
    assert det.cold_start == "seasonal baselines from 2024-01-22 (latency_p50); until then a 24-hour rolling baseline"
    kinds = det.stats.set_index("window_start")["baseline_kind"]
    assert kinds[pd.Timestamp("2024-01-21 23:00", tz="UTC")] == "rolling"
    assert kinds[pd.Timestamp("2024-01-22 00:00", tz="UTC")] == "seasonal"


def test_a_metric_that_can_never_be_scored_is_a_warning_naming_the_setting():
    syn = generate_synthetic_logs(days=3, requests_per_hour=20, incidents=None, seed=10)
    wm = compute_windows(load_logs(syn.logs), window="hour", min_requests=1)
    assert wm.frame["n_judged"].max() < 40  # about 5 % of the conversations are judged
    with pytest.warns(
        MonitorWarning, match=r"judge_mean was never scored: no hour window has min_judged=40.*Lower min_j"
    ):
        det = detect_anomalies(wm, metrics=("judge_mean",), min_judged=40)
    assert any("min_judged" in n for n in det.notes)
    with pytest.warns(MonitorWarning, match=r"latency_p50 was never scored: no hour window has min_requests=500"):
        detect_anomalies(
            compute_windows(load_logs(syn.logs), window="hour", min_requests=500), metrics=("latency_p50",)
        )


def test_sensitivity_scales_thresholds():
    values = np.ones(24 * 30) + np.random.default_rng(4).normal(0, 0.01, 24 * 30)
    wm = _hourly_frame(values)
    lo = detect_anomalies(wm, metrics=("latency_p50",), sensitivity="low").stats
    hi = detect_anomalies(wm, metrics=("latency_p50",), sensitivity="high").stats
    pick = (lo["detector"] == "robust_z") & lo["threshold"].notna()
    ratio = (lo.loc[pick, "threshold"] / hi.loc[pick, "threshold"]).to_numpy()
    assert ratio.min() > 1.4  # 1.25 / 0.8 = 1.56 before the t adjustment


def test_gap_where_traffic_is_expected_is_an_alert():
    syn = generate_synthetic_logs(days=22, requests_per_hour=60, incidents=None, seed=5)
    logs = syn.logs
    cut = (logs["timestamp"] >= "2024-01-22 13:00") & (logs["timestamp"] < "2024-01-22 15:00")
    wm = compute_windows(load_logs(logs[~cut]), window="hour")
    assert wm.frame["gap"].sum() == 2
    det = detect_anomalies(wm)
    gaps = [a for a in det.alerts if a.detector == "gap"]
    assert [a.window_start.hour for a in gaps] == [13, 14]
    assert all(a.value == 0 and a.baseline > 30 for a in gaps)
    assert "No requests were logged" in gaps[0].explanation


def test_refusal_spike_on_laney_chart():
    spike = Incident("refusal_spike", "2024-01-24 12:00", "2024-01-24 16:00", 0.10)
    syn = generate_synthetic_logs(days=26, requests_per_hour=150, incidents=[spike], seed=6)
    det = detect_anomalies(compute_windows(load_logs(syn.logs), window="hour"), metrics=("refusal_rate",))
    laney = [a for a in det.alerts if a.detector == "laney_p"]
    assert laney and all(12 <= a.window_start.hour < 16 and a.window_start.day == 24 for a in laney)
    assert "Laney p' z" in laney[0].explanation and laney[0].direction == "up"
    assert laney[0].value > laney[0].baseline


def test_length_shift_is_seen_by_psi_and_wasserstein():
    reg = Incident("length_regression", "2024-01-24 09:00", "2024-01-24 18:00", 1.8)
    syn = generate_synthetic_logs(days=26, requests_per_hour=100, incidents=[reg], seed=7)
    det = detect_anomalies(compute_windows(load_logs(syn.logs), window="hour"), metrics=("length_distribution",))
    by_det = {d: [a for a in det.alerts if a.detector == d] for d in ("psi", "wasserstein")}
    for d, alerts in by_det.items():
        assert alerts, d
        assert all(a.window_start.day == 24 and 9 <= a.window_start.hour < 18 for a in alerts), d
    assert by_det["psi"][0].value > 1.5 * by_det["psi"][0].baseline  # medians, in tokens


def test_config_validation():
    with pytest.raises(ConfigError, match="Valid metrics"):
        DetectionConfig(metrics=("latency_p42",))
    with pytest.raises(ConfigError, match="Valid detectors for it"):
        DetectionConfig(detectors={"refusal_rate": ("robust_z",)})
    with pytest.raises(ConfigError, match="sensitivity"):
        DetectionConfig(sensitivity="paranoid")
    with pytest.raises(ConfigError, match="ewma_lambda"):
        DetectionConfig(ewma_lambda=1.5)
    with pytest.raises(ConfigError, match="needs hourly windows"):
        wm = _hourly_frame(np.ones(10))
        detect_anomalies(WindowMetrics(wm.frame, wm.histograms, "day", None, None, 30, 0.95), seasonality="day")
    with pytest.raises(ConfigError, match="Unknown DetectionConfig field"):
        detect_anomalies(_hourly_frame(np.ones(10)), z_treshold=3)
    assert set(METRICS) >= {"refusal_rate", "latency_p99", "judge_mean", "length_distribution"}


def test_metrics_the_logs_cannot_support_are_skipped_or_refused():
    df = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=50, freq="h", tz="UTC"), "latency": 1.0})
    wm = compute_windows(load_logs(df), min_requests=1)
    det = detect_anomalies(wm)
    assert set(det.stats["metric"]) == {"n_requests", "latency_p50", "latency_p99"}
    with pytest.raises(ConfigError, match="cannot support"):
        detect_anomalies(wm, metrics=("judge_mean",))


@pytest.mark.parametrize("baseline_windows", [2, 3])
def test_a_two_window_baseline_is_scored_not_a_pandas_error(baseline_windows):
    # baseline_windows=2 leaves one pair of consecutive z-scores for the drift's autocorrelation:
    # it has no correlation (NaN, read as none), instead of pandas' "min_periods 2 must be <= window 1".
    syn = generate_synthetic_logs(days=20, requests_per_hour=40, incidents=None, seed=2)
    wm = compute_windows(load_logs(syn.logs), window="day", min_requests=5)
    res = detect_anomalies(wm, baseline_windows=baseline_windows, min_baseline_windows=2, warmup_windows=2)
    assert res.stats["statistic"].notna().any()
