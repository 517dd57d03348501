"""Anomaly detectors on rolling, seasonal baselines (STATS.md section 3).

Every metric is compared with its own recent history, never with a fixed
threshold, and the current window is never part of its own baseline:

* **robust_z** (level metrics: traffic, length median/p90, latency p50/p99, judge
  mean). The expected value is the median of the same hour-of-week (or weekday)
  over the previous ``seasonal_periods`` weeks; the residual is scored against a
  two-part variance: the between-window variance tau^2, estimated robustly
  (MAD, ``scale="normal"``) from the residuals of the previous
  ``baseline_windows`` windows, plus the window's own sampling variance (from
  its size), so quiet night-time windows are not over-alerted. A final MAD
  rescaling of the historical z keeps the score calibrated (Iglewicz & Hoaglin
  1993). Multiplicative metrics are scored on the log scale.
* **ewma** on the standardized deviations, for slow drifts (Roberts 1959; Lucas
  & Saccucci 1990), with limits widened for lag-1 autocorrelation. It alerts
  when it crosses its limit, not at every window beyond it.
* **cusum** (tabular, Page 1954) on the same standardized deviations; optional.
* **laney_p** for proportions (refusal rate, max-token share): Laney's p' chart
  (Laney 2002) with a seasonal centre line. Each window's deviation is turned
  into a z through the mid-p binomial tail (exact for small counts) and divided
  by sigma_z, the robust (MAD) spread of those z over the baseline windows, which
  absorbs the overdispersion of real traffic.
* **binomial_cusum** for small persistent rate increases (Reynolds & Stoumbos
  1999), with the log-likelihood increments divided by sigma_z^2; optional.
* **psi** and **wasserstein** for the output-length distribution: the current
  window's histogram against the pooled histogram of the same hour-of-week in
  previous weeks, PSI on baseline-decile bins (Siddiqi 2006) gated by its
  chi-square significance, and the Wasserstein distance of log length in units
  of the baseline interquartile range.

Windows that are gaps, too small (``low_n``) or still warming up (not enough
history) are never alerted on and never enter a baseline.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, overload

import numpy as np
import pandas as pd

from evaltools.errors import ConfigError, InputError, MonitorWarning
from evaltools.monitor._alerts import (
    DETECTORS,
    METRICS,
    Alert,
    Detection,
    DetectionConfig,
    SeriesDetection,
    alerts_frame,
)
from evaltools.monitor._rules import _Ctx, _distribution, _level, _proportion
from evaltools.monitor._series import _detect_series, _seasonal_period, _steps
from evaltools.monitor._stats import psi
from evaltools.monitor._windows import WindowMetrics

__all__ = [
    "DETECTORS",
    "METRICS",
    "Alert",
    "Detection",
    "DetectionConfig",
    "SeriesDetection",
    "alerts_frame",
    "detect_anomalies",
    "fixed_threshold_alerts",
    "psi",
]


_WINDOW_STEP = {"hour": pd.Timedelta(hours=1), "day": pd.Timedelta(days=1)}


def _period(window: str, seasonality: str) -> int | None:
    """Seasonal lag in windows: the seasonality in time, mapped to the window's length."""
    s = "week" if seasonality == "auto" else seasonality
    if s == "day" and window != "hour":
        raise ConfigError("seasonality='day' needs hourly windows. Use 'week' or 'none' with daily windows.")
    return _seasonal_period(s, _WINDOW_STEP[window])


def _available(frame: pd.DataFrame, metric: str) -> bool:
    m = METRICS[metric]
    if m.kind == "distribution":
        return bool(frame["n_length"].sum() > 0)
    col = m.count if m.kind == "proportion" else m.value
    return bool(np.isfinite(frame[col].to_numpy(float)).any() and frame[m.n].sum() > 0)


@overload
def detect_anomalies(data: WindowMetrics, config: DetectionConfig | None = None, **overrides: Any) -> Detection: ...
@overload
def detect_anomalies(
    data: pd.Series | pd.DataFrame, config: DetectionConfig | None = None, **overrides: Any
) -> SeriesDetection: ...
def detect_anomalies(
    data: WindowMetrics | pd.Series | pd.DataFrame, config: DetectionConfig | None = None, **overrides: Any
) -> Detection | SeriesDetection:
    """Detect anomalies in per-window log metrics, or in any regular metric series.

    **A metric series** (a pandas Series, or a one-column DataFrame, with a DatetimeIndex at
    any regular step from 1 minute to 1 day: a Prometheus range query, a warehouse query, a
    dashboard export). Each point is compared with a baseline computed from the points before
    it: the median of the same time of day or week over the previous ``seasonal_periods``
    periods plus the recent median deviation from it (seasonality in time, mapped to the
    step; ``"auto"`` picks it from the data), or, without seasonality and during the cold
    start, the median of the previous ``rolling_baseline`` (24 hours). The residual is divided
    by a trailing robust spread that cannot collapse on tied, step-like data (IQR floored by
    the central-90 % range, the data's resolution and 1 % of the level; see
    ``_stats._robust_spread``), and compared with the Student-t threshold whose tail gives
    ``false_alarms_per_day`` expected false pages a day. Anomalous points merge into
    episodes; each episode pages once, and not again within ``refractory``.

    Input policy: timestamps out of order are sorted with a :class:`MonitorWarning`
    (reversed exports are common); duplicated timestamps, timestamps off the series' step
    and steps outside 1 minute..1 day are refused with an :class:`InputError` saying how to
    fix them (``series.groupby(level=0).mean()``, ``series.resample(step).mean()``);
    missing steps are gaps: rows with ``gap=True`` and NaN value, never scored and never in a
    baseline. NaN values are gaps too.

    **Log windows** (:class:`WindowMetrics` from :func:`compute_windows`): every metric's
    detectors (robust z with sampling variance, EWMA, Laney p', PSI...), on the same seasonal
    baselines in time, with the same cold-start fallback to a rolling baseline.

    Args:
        data: a :class:`WindowMetrics`, or a Series / one-column DataFrame with a DatetimeIndex.
        config: the settings; defaults to :class:`DetectionConfig`.
        **overrides: fields of :class:`DetectionConfig` to change, e.g. ``sensitivity="high"``.

    Returns:
        For log windows, a :class:`Detection`: alerts (sorted by window, then metric) and the
        per-window statistics; metrics the logs cannot support are skipped; windows before
        the first baseline have NaN statistics. For a series, a :class:`SeriesDetection`
        whose ``frame`` is indexed by the timestamps (``value``, ``baseline``, ``score``,
        ``alert``, ``explanation``...); points before the first baseline have NaN score.

    Raises:
        ConfigError: for invalid settings, or a metric requested in ``config.metrics``
            that the logs cannot support.
        InputError: for a series that is not numeric, not time-indexed, duplicated or irregular.

    Examples:
        >>> from evaltools.monitor import compute_windows, load_logs
        >>> from evaltools.monitor._synthetic import generate_synthetic_logs
        >>> syn = generate_synthetic_logs(days=28, requests_per_hour=60, incidents=None, seed=3)
        >>> det = detect_anomalies(compute_windows(load_logs(syn.logs), window="day"))
        >>> len(det.alerts), sorted(det.stats["metric"].unique())[:3]
        (0, ['judge_mean', 'latency_p50', 'latency_p99'])

        A series at 5-minute steps with a jump on the last day:

        >>> t = pd.date_range("2024-03-01", periods=288 * 10, freq="5min")
        >>> y = pd.Series(50 + np.random.default_rng(0).normal(0, 2, len(t)), index=t, name="cpu")
        >>> y.iloc[-200:] += 30
        >>> res = detect_anomalies(y)
        >>> res.alerts.index.tolist() == [t[-200]], res.seasonality
        (True, 'none')
    """
    cfg = config or DetectionConfig()
    if overrides:
        try:
            cfg = replace(cfg, **overrides)
        except TypeError as exc:
            raise ConfigError(f"Unknown DetectionConfig field in {sorted(overrides)}: {exc}.") from exc
    if isinstance(data, pd.Series | pd.DataFrame):
        return _detect_series(data, cfg)
    if not isinstance(data, WindowMetrics):
        raise InputError(
            "detect_anomalies needs a WindowMetrics (from compute_windows) or a pandas Series / one-column "
            f"DataFrame with a DatetimeIndex. Got {type(data).__name__} instead."
        )
    windows = data
    frame = windows.frame
    window = windows.window
    period = _period(window, cfg.seasonality)
    R = _steps(cfg.rolling_baseline, _WINDOW_STEP[window], 7)
    W = cfg.baseline_windows or (336 if window == "hour" else 28)
    min_hist = cfg.min_baseline_windows or (24 if window == "hour" else 10)
    warmup = cfg.warmup_windows if cfg.warmup_windows is not None else (168 if window == "hour" else 14)
    lam = cfg.ewma_lambda or (0.1 if window == "hour" else 0.3)
    metrics = cfg.metrics or tuple(METRICS)
    supported = [m for m in metrics if _available(frame, m)]
    if cfg.metrics is not None:
        missing = [m for m in cfg.metrics if m not in supported]
        if missing:
            raise ConfigError(f"The logs cannot support the metric(s) {missing}: their fields are missing or empty.")
    groups: list[tuple[str | None, pd.DataFrame, pd.DataFrame | None]] = []
    if windows.by:
        for g, sub in frame.groupby(windows.by, sort=True):
            hs = windows.histograms[windows.histograms[windows.by] == g] if not windows.histograms.empty else None
            groups.append((str(g), sub.reset_index(drop=True), hs))
    else:
        groups.append((None, frame, windows.histograms))
    alerts: list[Alert] = []
    stats: list[pd.DataFrame] = []
    for g, sub, hs in groups:
        sub = sub.copy()
        sub.attrs["min_requests"] = windows.min_requests
        ctx = _Ctx(sub, hs, cfg, window, period, W, min_hist, warmup, windows.length_unit, g, lam, R)
        for name in supported:
            m = METRICS[name]
            dets = cfg.detectors_for(name)
            if not dets:
                continue
            fn = {"level": _level, "proportion": _proportion, "distribution": _distribution}[m.kind]
            a, s = fn(ctx, name, m, dets)
            alerts.extend(a)
            stats.extend(s)
    alerts.sort(key=lambda a: (a.window_start, a.metric, a.detector, a.group or ""))
    cols = ["window_start", "group", "metric", "detector", "value", "baseline", "lower", "upper", "statistic",
            "threshold", "alert"]  # fmt: skip
    st = pd.concat(stats, ignore_index=True) if stats else pd.DataFrame(columns=cols)
    notes = _window_notes(st, frame, cfg, window, supported, windows.min_requests)
    for n in notes:
        if "never scored" in n:
            warnings.warn(n, MonitorWarning, stacklevel=2)
    return Detection(alerts=tuple(alerts), stats=st, config=cfg, window=window, notes=tuple(notes))


def _window_notes(
    st: pd.DataFrame, frame: pd.DataFrame, cfg: DetectionConfig, window: str, metrics: list[str], min_requests: int
) -> list[str]:
    """The cold start in words, and a note naming the setting for each metric never scored."""
    notes: list[str] = []
    roll = _duration_words_windows(cfg.rolling_baseline, window)
    if st.empty or "baseline_kind" not in st:
        first: dict[str, pd.Timestamp] = {}
    else:
        seas = st[st["baseline_kind"] == "seasonal"]
        first = seas.groupby("metric")["window_start"].min().to_dict()
        cold = st[st["baseline_kind"] == "rolling"].groupby("metric")["window_start"].min().to_dict()
        by_date: dict[pd.Timestamp, list[str]] = {}
        for metric, ts in first.items():
            if metric in cold:
                by_date.setdefault(pd.Timestamp(ts).floor("D"), []).append(metric)
        for day, ms in sorted(by_date.items()):
            notes.append(
                f"seasonal baselines from {day:%Y-%m-%d} ({', '.join(ms)}); until then a {roll} rolling baseline"
            )
        never = sorted(set(cold) - set(first))
        if never:
            notes.append(f"{', '.join(never)}: a {roll} rolling baseline throughout (not enough history for a "
                         f"seasonal one: it needs {cfg.min_seasonal_periods} weeks)")  # fmt: skip
    scored = set(st.dropna(subset=["statistic"])["metric"]) if not st.empty else set()
    for name in metrics:
        if name in scored or not cfg.detectors_for(name):
            continue
        m = METRICS[name]
        n = frame[m.n].to_numpy(float) if m.n else frame["n_requests"].to_numpy(float)
        if name == "judge_mean":
            setting, need = "min_judged", cfg.min_judged
        elif name == "n_requests":
            setting, need = "", 1
        else:
            setting, need = "min_requests", min_requests
        most = int(np.nanmax(n)) if len(n) and np.isfinite(n).any() else 0
        if setting and most < need:
            where = "DetectionConfig" if setting == "min_judged" else "compute_windows / monitor"
            notes.append(
                f"{name} was never scored: no {window} window has {setting}={need} observations (the most is {most}). "
                f"Lower {setting} ({where}) or use {'daily' if window == 'hour' else 'longer'} windows."
            )
        else:
            notes.append(
                f"{name} was never scored: {len(frame)} {window} windows are too few for its baseline and warm-up "
                f"(warmup_windows, min_baseline_windows, min_seasonal_periods). Pass a longer history."
            )
    return notes


def _duration_words_windows(d: str, window: str) -> str:
    td = pd.Timedelta(d)
    if window == "day" and td < pd.Timedelta(days=7):
        return "7-day"
    hours = td / pd.Timedelta(hours=1)
    return f"{hours:g}-hour" if hours < 48 else f"{td.days}-day"


_FIXED_METRICS = (
    "n_requests", "length_median", "length_p90", "max_hit_share", "refusal_rate", "latency_p50", "latency_p99",
    "judge_mean",
)  # fmt: skip


def fixed_threshold_alerts(
    windows: WindowMetrics, *, k: float = 3.0, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """The naive comparison baseline: alert when a metric leaves mean +/- k sigma of its whole history.

    This is what the detectors above improve on; it exists to measure that, not
    to be used for monitoring (it ignores seasonality, uses the future, and lets
    incidents inflate sigma).

    Args:
        windows: from :func:`compute_windows`.
        k: the number of standard deviations.
        metrics: columns of ``windows.frame`` to check; None checks the usual level and rate metrics.

    Returns:
        One row per alert: metric, window_start, group, value, baseline (the mean),
        distance (in sigmas), detector ``"fixed_3sigma"``. Gaps and ``low_n`` windows are skipped.

    Examples:
        >>> import pandas as pd
        >>> from evaltools.monitor import compute_windows, load_logs
        >>> df = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=40, freq="h", tz="UTC"),
        ...                    "latency": [1.0] * 39 + [50.0], "output": "ok"})
        >>> wm = compute_windows(load_logs(df), min_requests=1)
        >>> fixed_threshold_alerts(wm, metrics=["latency_p50"])["metric"].tolist()
        ['latency_p50']
    """
    f = windows.frame
    cols = tuple(metrics) if metrics is not None else _FIXED_METRICS
    bad = [c for c in cols if c not in f.columns]
    if bad:
        raise ConfigError(f"Unknown metric column(s) {bad} for fixed_threshold_alerts. Valid: {list(_FIXED_METRICS)}.")
    rows = []
    keys = [windows.by] if windows.by else []
    parts = f.groupby(keys, sort=True) if keys else [(None, f)]
    for g, sub in parts:
        ok = ~sub["gap"] & ~sub["low_n"]
        for c in cols:
            x = sub.loc[ok, c].astype(float)
            x = x[np.isfinite(x)]
            if len(x) < 3:
                continue
            mu, sd = float(x.mean()), float(x.std(ddof=1))
            if not sd > 0:
                continue
            zz = (x - mu) / sd
            for i in zz.index[np.abs(zz) > k]:
                rows.append(
                    {
                        "metric": c,
                        "window_start": sub.loc[i, "window_start"],
                        "group": (g[0] if isinstance(g, tuple) else g) if keys else None,
                        "value": float(sub.loc[i, c]),
                        "baseline": mu,
                        "distance": float(zz[i]),
                        "detector": f"fixed_{k:g}sigma",
                    }
                )
    out = pd.DataFrame(rows, columns=["metric", "window_start", "group", "value", "baseline", "distance", "detector"])
    return out.sort_values(["window_start", "metric"]).reset_index(drop=True)
