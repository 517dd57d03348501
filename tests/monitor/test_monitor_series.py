"""detect_anomalies on a plain metric series: input policy, seasonality in time, spread floor, paging."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import evaltools as et
from evaltools.errors import ConfigError, InputError, MonitorWarning
from evaltools.monitor import DetectionConfig, SeriesDetection
from evaltools.monitor._series import _seasonal_period
from evaltools.monitor._stats import _robust_spread

COLUMNS = {"value", "baseline", "lower", "upper", "score", "threshold", "anomalous", "alert", "episode",
           "baseline_kind", "gap", "explanation"}  # fmt: skip


def _daily(days=14, freq="5min", noise=1.0, seed=0, start="2024-03-01"):
    t = pd.date_range(start, periods=int(days * pd.Timedelta("1D") / pd.Timedelta(freq)), freq=freq)
    hours = (t.hour + t.minute / 60).to_numpy()
    y = 50 + 20 * np.sin(2 * np.pi * hours / 24) + np.random.default_rng(seed).normal(0, noise, len(t))
    return pd.Series(y, index=t, name="requests")


def test_a_night_spike_on_a_daily_series_pages_once_and_is_explained():
    s = _daily()
    at = s.index.get_loc(pd.Timestamp("2024-03-12 18:00"))
    s.iloc[at] += 15  # at 6 pm the level is ~30: 45 is still far inside the daily range (30..70)
    res = et.detect_anomalies(s)
    assert isinstance(res, SeriesDetection)
    assert COLUMNS <= set(res.frame.columns) and res.frame.index.equals(s.index)
    assert res.seasonality == "day" and res.step == pd.Timedelta("5min")
    assert res.alerts.index.tolist() == [pd.Timestamp("2024-03-12 18:00")]
    row = res.frame.loc["2024-03-12 18:00"]
    assert row["baseline_kind"] == "seasonal" and row["score"] > row["threshold"]
    assert row["baseline"] == pytest.approx(50 + 20 * np.sin(2 * np.pi * 18 / 24), abs=1.5)
    assert "robust standard deviations above its baseline" in row["explanation"]
    assert "same time of day over the previous 4 days" in row["explanation"]
    assert res.frame["explanation"].eq("").sum() == len(s) - int(res.frame["anomalous"].sum())
    # a daily range check (a fixed threshold) would not see it: 30 + 15 = 45 < the daily max
    assert s.iloc[at] < s.max() - 20


@pytest.mark.parametrize(("freq", "week"), [("1min", 10080), ("5min", 2016), ("1h", 168), ("1D", 7)])
def test_seasonality_is_in_time_and_mapped_to_the_step(freq, week):
    assert _seasonal_period("week", pd.Timedelta(freq)) == week
    if freq != "1D":
        assert _seasonal_period("day", pd.Timedelta(freq)) == week // 7
    else:
        with pytest.raises(ConfigError, match="daily' needs steps shorter than a day"):
            _seasonal_period("day", pd.Timedelta(freq))


def test_weekly_seasonality_on_hourly_data_uses_the_same_hour_of_week():
    t = pd.date_range("2024-01-01", periods=24 * 7 * 5, freq="h", tz="UTC")
    weekend = (t.dayofweek >= 5).astype(float)
    y = pd.Series(100 - 60 * weekend + np.random.default_rng(1).normal(0, 2, len(t)), index=t)
    res = et.detect_anomalies(y, seasonality="weekly")
    assert res.seasonality == "week" and res.frame.index.tz is not None
    # two weeks of lags, 6 hours of deviations from them and a day of its residuals, then the
    # seasonal baseline; before it a 24-hour rolling one
    assert res.seasonal_from == pd.Timestamp("2024-01-16 06:00", tz="UTC")
    assert res.cold_start == "seasonal baselines from 2024-01-16 06:00; until then a 24-hour rolling baseline"
    assert set(res.frame.loc[:"2024-01-14 23:00", "baseline_kind"]) <= {"", "rolling"}
    sat = res.frame.loc["2024-01-27 12:00"]
    assert sat["baseline"] == pytest.approx(40, abs=3)  # a Saturday is compared with Saturdays
    assert et.detect_anomalies(y).seasonality == "week"  # auto finds it


def test_auto_seasonality_finds_none_on_noise_and_daily_on_a_daily_cycle():
    rng = np.random.default_rng(2)
    t = pd.date_range("2024-03-01", periods=288 * 10, freq="5min")
    assert et.detect_anomalies(pd.Series(rng.normal(size=len(t)), index=t)).seasonality == "none"
    assert et.detect_anomalies(_daily(days=10)).seasonality == "day"
    res = et.detect_anomalies(pd.Series(rng.normal(size=len(t)), index=t))
    assert res.cold_start == "no seasonality: a 24-hour rolling baseline throughout"


def test_reversed_order_is_sorted_with_a_warning_and_one_column_frames_work():
    s = _daily(days=4)
    with pytest.warns(MonitorWarning, match="reverse time order; it was sorted"):
        res = et.detect_anomalies(s.iloc[::-1].to_frame())
    assert res.frame.index.is_monotonic_increasing and res.name == "requests"
    assert any("reverse" in n for n in res.notes)


def test_gaps_are_rows_never_scored_and_never_in_a_baseline():
    s = _daily(days=6)
    cut = s.drop(s.loc["2024-03-05 10:00":"2024-03-05 11:55"].index)
    res = et.detect_anomalies(cut)
    assert len(res.frame) == len(s) and res.frame.index.equals(s.index)  # back on the regular grid
    g = res.frame.loc["2024-03-05 10:00":"2024-03-05 11:55"]
    assert g["gap"].all() and g["score"].isna().all() and not g["alert"].any()
    assert any("24 missing point(s)" in n for n in res.notes)
    assert np.isfinite(res.frame.loc["2024-03-05 12:30", "baseline"])


def test_duplicates_and_jitter_are_regularized_irregular_series_refused():
    s = _daily(days=3)
    dup = pd.concat([s, s.iloc[[100]] + 2.0]).sort_index()
    with pytest.warns(MonitorWarning, match="1 point.s. sharing a 5min slot"):
        res = et.detect_anomalies(dup)
    assert len(res.frame) == len(s)
    assert res.frame["value"].iloc[100] == pytest.approx(s.iloc[100] + 1.0)  # the two were averaged
    # a clock that drifts by a minute once (a DST glitch in a CloudWatch export) keeps its timestamps
    shifted = s.copy()
    shifted.index = s.index.where(s.index < "2024-03-02", s.index - pd.Timedelta("1min"))
    r2 = et.detect_anomalies(shifted)
    assert r2.frame.index.equals(shifted.index)
    irregular = pd.Series(
        1.0, index=pd.to_datetime(np.cumsum(np.random.default_rng(3).integers(1, 600, 500)), unit="s")
    )
    with pytest.raises(InputError, match=r"irregular: .*resample\('401s'\)"):
        et.detect_anomalies(irregular)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (pd.Series([1.0, 2.0, 3.0]), "needs a DatetimeIndex"),
        (pd.Series(1.0, index=pd.date_range("2024-01-01", periods=10, freq="s")), "handles steps from 1 minute"),
        (pd.Series(1.0, index=pd.date_range("2024-01-01", periods=10, freq="7D")), "handles steps from 1 minute"),
        (
            pd.DataFrame({"a": [1.0, 2], "b": [1.0, 2]}, index=pd.date_range("2024-01-01", periods=2, freq="h")),
            "one-column DataFrame",
        ),
        (pd.Series(["x", "y"], index=pd.date_range("2024-01-01", periods=2, freq="h")), "must be numeric"),
    ],
)
def test_bad_series_are_refused_with_a_clear_error(data, match):
    with pytest.raises(InputError, match=match):
        et.detect_anomalies(data)


def test_the_spread_cannot_collapse_on_step_like_data():
    # A CPU-like series: 24 distinct values, 56 % of the points at the lowest (as the EC2 series
    # of NAB), independent from point to point: nothing in it is an anomaly.
    rng = np.random.default_rng(4)
    levels = np.round(np.linspace(0.066, 0.2, 24), 3)
    t = pd.date_range("2024-03-01", periods=288 * 14, freq="5min")
    s = pd.Series(rng.choice(levels, size=len(t), p=np.r_[0.56, np.full(23, 0.44 / 23)]), index=t, name="cpu")
    r = s.to_numpy() - np.median(s.to_numpy())
    assert np.median(np.abs(r - np.median(r))) == 0  # MAD (like Sn and Qn) is 0: every step is "infinite z"
    res = et.detect_anomalies(s)
    assert res.frame["alert"].sum() <= 2, res.alerts
    # 70 % ties in the middle: the IQR is 0 as well; the central-90 % and 99 % |r| spreads floor it
    mid = rng.choice([0.08, 0.1, 0.12], size=len(t), p=[0.15, 0.7, 0.15])
    sigma, parts = _robust_spread(mid - 0.1, np.full(len(t), 0.1), 2016, 288, resolution=0.001, rel_floor=0.01)
    assert np.nanmax(parts["iqr"]) == 0 and np.nanmin(sigma[288:]) > 0.01
    quiet = et.detect_anomalies(pd.Series(mid, index=t))
    assert quiet.frame["alert"].sum() <= 2


def test_a_level_shift_is_one_episode_and_one_page_refractory_and_persistence():
    rng = np.random.default_rng(5)
    t = pd.date_range("2024-03-01", periods=288 * 8, freq="5min")
    y = pd.Series(10 + rng.normal(0, 0.5, len(t)), index=t)
    y.loc["2024-03-07 10:00":"2024-03-07 12:00"] += 6  # two hours of a higher level
    y.loc["2024-03-07 14:00"] += 20  # a spike two hours after the shift ends
    res = et.detect_anomalies(y)
    ep = res.episodes()
    assert res.alerts.index.tolist() == [pd.Timestamp("2024-03-07 10:00")]
    # the shift is one episode until the spread's 99 % quantile has absorbed it (the documented
    # masking of the floor: about 1.7 hours in a 7-day history)
    assert ep["paged"].tolist()[0] and ep.iloc[0]["n_points"] >= 12
    spike = ep[ep["start"] == pd.Timestamp("2024-03-07 14:00")]
    assert len(spike) == 1 and not spike["paged"].iloc[0]  # inside the 6-hour refractory period
    assert len(et.detect_anomalies(y, refractory="1h").alerts) == 2
    # 3-of-5 persistence: the one-point spike is no longer anomalous, the shift pages 2 points late
    k = et.detect_anomalies(y, persistence={"value": (3, 5)})
    assert k.alerts.index.tolist() == [pd.Timestamp("2024-03-07 10:10")]
    assert not k.frame.loc["2024-03-07 14:00", "anomalous"]


def test_sensitivity_is_an_expected_false_alarm_rate_per_day():
    rng = np.random.default_rng(6)
    t = pd.date_range("2024-03-01", periods=288 * 40, freq="5min")
    s = pd.Series(rng.normal(size=len(t)), index=t)
    res = {k: et.detect_anomalies(s, sensitivity=k) for k in ("low", "medium", "high")}
    # medium: 0.1 false alarms a day at 288 points a day -> |z| > norm.isf(0.1 / 288 / 2) = 3.57
    assert res["medium"].threshold == pytest.approx(norm.isf(0.1 / 288 / 2))
    assert res["low"].threshold > res["medium"].threshold > res["high"].threshold
    assert et.detect_anomalies(s, false_alarms_per_day=0.1).threshold == res["medium"].threshold
    assert res["medium"].false_alarms_per_day == pytest.approx(0.1)
    # daily data: 0.1 a day would be z = 1.64 (one point in ten); the threshold never goes below 3
    d = pd.Series(rng.normal(size=200), index=pd.date_range("2024-01-01", periods=200, freq="D"))
    daily = et.detect_anomalies(d)
    assert daily.threshold == 3.0 and daily.false_alarms_per_day == pytest.approx(2 * norm.sf(3.0))
    assert "median of the previous 7 days" in " ".join(daily.frame["explanation"]) or not daily.frame["anomalous"].any()
    # on 39 scored days of white noise the pages stay near their budget (0.03 / 0.1 / 0.3 a day;
    # the 99 %-quantile floor of the spread makes it conservative)
    pages = {k: int(r.frame["alert"].sum()) for k, r in res.items()}
    assert pages["low"] <= pages["medium"] <= pages["high"] <= 0.3 * 39 * 2, pages
    with pytest.raises(ConfigError, match="false_alarms_per_day"):
        DetectionConfig(false_alarms_per_day=0)


def test_a_series_too_short_to_score_is_a_warning_naming_the_setting():
    s = _daily(days=0.5)
    with pytest.warns(MonitorWarning, match="never scored.*shorten rolling_baseline"):
        res = et.detect_anomalies(s)
    assert res.frame["score"].isna().all() and not res.frame["alert"].any()


def test_invalid_series_settings():
    with pytest.raises(ConfigError, match="'refractory' parameter .* duration"):
        DetectionConfig(refractory="soon")
    with pytest.raises(ConfigError, match="persistence"):
        DetectionConfig(persistence=(5, 3))
    with pytest.raises(ConfigError, match="'weekly', 'daily' or 'none'"):
        DetectionConfig(seasonality="hourly")


def test_the_readme_series_example_runs_as_printed():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- readme-series-example -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    ns: dict = {}
    exec(compile(block, "README.md", "exec"), ns)  # noqa: S102 - our own README
    res = ns["res"]
    assert res.seasonality == "day"
    assert res.alerts.index.tolist() == [pd.Timestamp("2024-03-12 02:00")]
    assert res.cold_start == "seasonal baselines from 2024-03-04 06:00; until then a 24-hour rolling baseline"
    assert len(res.episodes()) == 1


def test_series_figure_marks_pages_and_states_the_cold_start():
    pytest.importorskip("plotly")
    from evaltools.report.plots import _monitor as plots_monitor

    s = _daily(days=6)
    s.loc["2024-03-05 18:00"] += 25
    fig = plots_monitor.series_figure(et.detect_anomalies(s))
    by_name = {t.name: t for t in fig.data}
    assert list(by_name) == ["no-alert band", "baseline", "value", "anomalous", "page"]
    assert [pd.Timestamp(x) for x in by_name["page"].x] == [pd.Timestamp("2024-03-05 18:00")]
    assert "seasonal baselines from 2024-03-04 06:00" in fig.layout.title.text
    short = plots_monitor.series_figure(et.detect_anomalies(s.iloc[:50]))
    assert "was scored" in short.layout.annotations[0].text
