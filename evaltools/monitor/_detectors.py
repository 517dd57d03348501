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

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from evaltools.errors import ConfigError
from evaltools.monitor._alerts import DETECTORS, METRICS, Alert, Detection, DetectionConfig, alerts_frame
from evaltools.monitor._rules import _Ctx, _distribution, _level, _proportion
from evaltools.monitor._stats import psi
from evaltools.monitor._windows import WindowMetrics

__all__ = [
    "DETECTORS",
    "METRICS",
    "Alert",
    "Detection",
    "DetectionConfig",
    "alerts_frame",
    "detect_anomalies",
    "fixed_threshold_alerts",
    "psi",
]


def _period(window: str, seasonality: str) -> int | None:
    s = "week" if seasonality == "auto" else seasonality
    if s == "none":
        return None
    if s == "day":
        if window != "hour":
            raise ConfigError("seasonality='day' needs hourly windows. Use 'week' or 'none' with daily windows.")
        return 24
    return 168 if window == "hour" else 7


def _available(frame: pd.DataFrame, metric: str) -> bool:
    m = METRICS[metric]
    if m.kind == "distribution":
        return bool(frame["n_length"].sum() > 0)
    col = m.count if m.kind == "proportion" else m.value
    return bool(np.isfinite(frame[col].to_numpy(float)).any() and frame[m.n].sum() > 0)


def detect_anomalies(windows: WindowMetrics, config: DetectionConfig | None = None, **overrides: Any) -> Detection:
    """Run the detectors of every metric on a per-window table.

    Args:
        windows: from :func:`compute_windows`.
        config: the settings; defaults to :class:`DetectionConfig`.
        **overrides: fields of :class:`DetectionConfig` to change, e.g. ``sensitivity="high"``.

    Returns:
        A :class:`Detection`: alerts (sorted by window, then metric) and the per-window
        statistics. Metrics the logs cannot support (no judge scores, no
        ``finish_reason``) are skipped; windows in warm-up have NaN statistics.

    Raises:
        ConfigError: for invalid settings, or a metric requested in ``config.metrics``
            that the logs cannot support.

    Examples:
        >>> from evaltools.monitor import compute_windows, load_logs
        >>> from evaltools.synthetic import generate_synthetic_logs
        >>> syn = generate_synthetic_logs(days=28, requests_per_hour=60, incidents=None, seed=3)
        >>> det = detect_anomalies(compute_windows(load_logs(syn.logs), window="day"))
        >>> len(det.alerts), sorted(det.stats["metric"].unique())[:3]
        (0, ['judge_mean', 'latency_p50', 'latency_p99'])
    """
    cfg = config or DetectionConfig()
    if overrides:
        try:
            cfg = replace(cfg, **overrides)
        except TypeError as exc:
            raise ConfigError(f"Unknown DetectionConfig field in {sorted(overrides)}: {exc}.") from exc
    frame = windows.frame
    window = windows.window
    period = _period(window, cfg.seasonality)
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
        ctx = _Ctx(sub, hs, cfg, window, period, W, min_hist, warmup, windows.length_unit, g, lam)
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
    return Detection(alerts=tuple(alerts), stats=st, config=cfg, window=window)


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
