"""Detection settings, the metric catalogue and the alert types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from evaltools.errors import ConfigError

__all__ = ["DETECTORS", "METRICS", "Alert", "Detection", "DetectionConfig", "SeriesDetection", "alerts_frame"]

DETECTORS = ("robust_z", "ewma", "cusum", "laney_p", "binomial_cusum", "psi", "wasserstein")
"""Detector names accepted in :attr:`DetectionConfig.detectors`."""


@dataclass(frozen=True, slots=True)
class _Metric:
    kind: Literal["level", "proportion", "distribution"]
    label: str
    value: str = ""
    se: str = ""
    n: str = ""
    log: bool = False
    seasonal: bool = True
    detectors: tuple[str, ...] = ()
    count: str = ""
    unit: str = ""


METRICS: Mapping[str, _Metric] = {
    "n_requests": _Metric("level", "Request count", "n_requests", "se_log_n_requests", "n_requests", True,
                          detectors=("robust_z",), unit="requests"),
    "length_median": _Metric("level", "Median output length", "length_median", "se_log_length_median", "n_length",
                             True, detectors=("robust_z",), unit="length"),
    "length_p90": _Metric("level", "p90 output length", "length_p90", "se_log_length_p90", "n_length", True,
                          detectors=("robust_z",), unit="length"),
    "length_distribution": _Metric("distribution", "Output length distribution", n="n_length",
                                   detectors=("psi", "wasserstein"), unit="length"),
    "max_hit_share": _Metric("proportion", "Share of outputs hitting max tokens", "max_hit_share", n="n_length",
                             count="n_max_hit", detectors=("laney_p",), unit="%"),
    "refusal_rate": _Metric("proportion", "Refusal rate", "refusal_rate", n="n_output", count="n_refusals",
                            detectors=("laney_p", "binomial_cusum"), unit="%"),
    "latency_p50": _Metric("level", "Latency p50", "latency_p50", "se_log_latency_p50", "n_latency", True,
                           detectors=("robust_z", "ewma"), unit="s"),
    "latency_p99": _Metric("level", "Latency p99", "latency_p99", "se_log_latency_p99", "n_latency", True,
                           detectors=("robust_z",), unit="s"),
    "judge_mean": _Metric("level", "Mean judge score", "judge_mean", "judge_se", "n_judged", False, seasonal=True,
                          detectors=("robust_z", "ewma"), unit="points"),
}  # fmt: skip
"""The monitored metrics, with their default detectors."""

_ALLOWED = {
    "level": {"robust_z", "ewma", "cusum"},
    "proportion": {"laney_p", "binomial_cusum"},
    "distribution": {"psi", "wasserstein"},
}
_SENSITIVITY = {"low": 1.25, "medium": 1.0, "high": 0.8}
_ALARM_RATE = {"low": 0.03, "medium": 0.1, "high": 0.3}
"""Series detector: expected false pages per metric per day for each sensitivity."""


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    """Settings of :func:`detect_anomalies`. Defaults were calibrated by replaying SYNTHETIC logs.

    Thresholds are multiplied by 1.25 (``sensitivity="low"``), 1 (``"medium"``)
    or 0.8 (``"high"``). Window counts left as None depend on the window size:
    ``baseline_windows`` is 14 days (336 hourly, 28 daily windows),
    ``min_baseline_windows`` 24 hourly or 10 daily windows, ``warmup_windows`` one
    week of hourly windows or 14 daily ones. With the default 4-week seasonal
    baseline (2 weeks minimum), hourly alerts start after about 3 weeks of logs,
    daily ones after about 4.
    """

    metrics: tuple[str, ...] | None = None
    """Metrics to check (names in :data:`METRICS`); None checks all the logs support."""
    detectors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per-metric detector overrides, e.g. ``{"refusal_rate": ("laney_p", "binomial_cusum")}``."""
    seasonality: Literal["auto", "week", "day", "none", "weekly", "daily"] = "auto"
    """Seasonal baseline, in time: same time of week (``"week"``/``"weekly"``), same time of day
    (``"day"``/``"daily"``, steps under a day only) or none (a rolling baseline). Mapped to the
    step of the data (weekly is 168 hourly windows, 2016 five-minute points). ``"auto"``: weekly for
    log windows (LLM traffic is weekly); for a series, the seasonal baseline (weekly or daily)
    that predicts the series better than the rolling one, else none (see :func:`detect_anomalies`)."""
    seasonal_periods: int = 4
    """How many previous periods (weeks) form the seasonal baseline."""
    min_seasonal_periods: int = 2
    """Fewer usable previous periods: no baseline yet (warm-up)."""
    baseline_windows: int | None = None
    """Windows of history used to estimate the spread (and the level when not seasonal)."""
    min_baseline_windows: int | None = None
    """Fewer usable windows (not gaps, not low-n) in that history: no alert (warm-up)."""
    warmup_windows: int | None = None
    """Windows that must pass after a metric's first scorable window before it can alert, so that
    a spread is never estimated from the first few days alone."""
    sensitivity: Literal["low", "medium", "high"] = "medium"
    """Scales every threshold."""
    z_threshold: float = 5.0
    """robust_z alerts beyond this many (robust) standard deviations."""
    laney_threshold: float = 5.0
    """laney_p alerts beyond this many sigma_z."""
    ewma_lambda: float | None = None
    """EWMA smoothing weight; None means 0.1 for hourly and 0.3 for daily windows."""
    ewma_limit: float = 4.0
    """EWMA control limit, in asymptotic EWMA standard deviations."""
    cusum_k: float = 0.5
    """CUSUM reference value (half the shift to detect, in standard deviations)."""
    cusum_h: float = 8.0
    """CUSUM decision interval."""
    binomial_cusum_ratio: float = 2.5
    """binomial_cusum: the rate to detect, as a multiple of the baseline rate."""
    binomial_cusum_h: float = 8.0
    """binomial_cusum decision interval (log-likelihood units)."""
    psi_threshold: float = 0.25
    """psi alerts when PSI is at least this (0.1-0.25 moderate, > 0.25 large shift)."""
    wasserstein_threshold: float = 0.5
    """wasserstein alerts when the distance of log lengths exceeds this many baseline IQRs."""
    distribution_alpha: float = 1e-5
    """psi and wasserstein alert only when the chi-square test of the decile table (current window
    vs baseline) also has a p-value below this: an effect size *and* significance, so that small
    windows do not alert on noise."""
    min_judged: int = 5
    """Windows with fewer judged requests are not scored on judge_mean."""
    false_alarms_per_day: float | None = None
    """Series: expected false pages per metric per day, which sets the threshold (the two-sided
    Student-t quantile at tail ``false_alarms_per_day / points per day``, with the spread's degrees
    of freedom). None maps ``sensitivity``: low 0.03, medium 0.1, high 0.3 a day."""
    rolling_baseline: str = "24h"
    """Series and log windows: the non-seasonal baseline, the median of this much trailing history
    (at least 7 windows). Used with ``seasonality="none"`` and during the cold start, until a
    seasonal baseline has ``min_seasonal_periods`` periods of history."""
    spread_history: str = "7D"
    """Series: the trailing history of residuals whose robust spread scales the score."""
    spread_floor: float = 0.01
    """Series: the spread is never below this fraction of the level (|rolling baseline|)."""
    episode_gap: str = "1h"
    """Series: anomalous points at most this far apart form one episode (one page)."""
    refractory: str = "6h"
    """Series: after a page, an episode starting within this time is recorded, not paged."""
    persistence: tuple[int, int] | Mapping[str, tuple[int, int]] | None = None
    """Optional k-of-m persistence, e.g. ``(3, 5)``: a point is anomalous only when 3 of the last 5
    are beyond the threshold. A mapping sets it per metric (series name or log metric)."""

    def __post_init__(self) -> None:
        if self.metrics is not None:
            object.__setattr__(self, "metrics", tuple(self.metrics))
            bad = [m for m in self.metrics if m not in METRICS]
            if bad:
                raise ConfigError(
                    f"Unknown metric(s) {bad} in DetectionConfig.metrics. Valid metrics: {list(METRICS)}."
                )
        for m, dets in self.detectors.items():
            if m not in METRICS:
                raise ConfigError(f"Unknown metric {m!r} in DetectionConfig.detectors. Valid metrics: {list(METRICS)}.")
            bad = [d for d in dets if d not in _ALLOWED[METRICS[m].kind]]
            if bad:
                raise ConfigError(
                    f"Detector(s) {bad} do not apply to {m!r}. "
                    f"Valid detectors for it: {sorted(_ALLOWED[METRICS[m].kind])}."
                )
        if self.seasonality not in ("auto", "week", "day", "none", "weekly", "daily"):
            raise ConfigError(
                "The 'seasonality' parameter of DetectionConfig must be 'auto', 'weekly', 'daily' or 'none' "
                f"('week' and 'day' are accepted too). Got {self.seasonality!r} instead."
            )
        object.__setattr__(
            self, "seasonality", {"weekly": "week", "daily": "day"}.get(self.seasonality, self.seasonality)
        )
        if self.false_alarms_per_day is not None and not (
            isinstance(self.false_alarms_per_day, int | float) and self.false_alarms_per_day > 0
        ):
            raise ConfigError(
                "The 'false_alarms_per_day' parameter of DetectionConfig must be a positive number. "
                f"Got {self.false_alarms_per_day!r} instead."
            )
        for name in ("rolling_baseline", "spread_history", "episode_gap", "refractory"):
            v = getattr(self, name)
            try:
                td = pd.Timedelta(v)
            except (ValueError, TypeError):
                td = pd.NaT
            if pd.isna(td) or td < pd.Timedelta(0):
                raise ConfigError(
                    f"The '{name}' parameter of DetectionConfig must be a duration such as '24h' or '7D'. "
                    f"Got {v!r} instead."
                )
        if not (0.0 <= self.spread_floor < 1.0):
            raise ConfigError(f"spread_floor must be in [0, 1). Got {self.spread_floor!r} instead.")
        pers = self.persistence
        items = pers.values() if isinstance(pers, Mapping) else ([] if pers is None else [pers])
        for km in items:
            ok = isinstance(km, tuple | list) and len(km) == 2 and all(isinstance(v, int) for v in km)
            if not (ok and 1 <= km[0] <= km[1]):
                raise ConfigError(
                    "The 'persistence' parameter of DetectionConfig must be (k, m) with 1 <= k <= m, "
                    f"or a mapping of metric to (k, m). Got {pers!r} instead."
                )
        if self.sensitivity not in _SENSITIVITY:
            raise ConfigError(
                "The 'sensitivity' parameter of DetectionConfig must be 'low', 'medium' or 'high'. "
                f"Got {self.sensitivity!r} instead."
            )
        if not (isinstance(self.seasonal_periods, int) and self.seasonal_periods >= 1):
            raise ConfigError(f"seasonal_periods must be an int >= 1. Got {self.seasonal_periods!r} instead.")
        if not (1 <= self.min_seasonal_periods <= self.seasonal_periods):
            raise ConfigError(
                f"min_seasonal_periods must be in [1, seasonal_periods]. Got {self.min_seasonal_periods!r} instead."
            )
        if self.ewma_lambda is not None and not (0.0 < self.ewma_lambda <= 1.0):
            raise ConfigError(f"ewma_lambda must be in (0, 1]. Got {self.ewma_lambda!r} instead.")
        for name in ("z_threshold", "laney_threshold", "ewma_limit", "cusum_h", "binomial_cusum_h", "psi_threshold",
                     "wasserstein_threshold"):  # fmt: skip
            v = getattr(self, name)
            if not (isinstance(v, int | float) and v > 0):
                raise ConfigError(f"The '{name}' parameter of DetectionConfig must be positive. Got {v!r} instead.")
        if not (0.0 < self.distribution_alpha < 1.0):
            raise ConfigError(f"distribution_alpha must be in (0, 1). Got {self.distribution_alpha!r} instead.")
        if not (self.binomial_cusum_ratio > 1.0):
            raise ConfigError(f"binomial_cusum_ratio must be > 1. Got {self.binomial_cusum_ratio!r} instead.")

    @property
    def alarm_rate(self) -> float:
        """Series: expected false pages per metric per day (``false_alarms_per_day`` or the sensitivity's)."""
        return float(self.false_alarms_per_day or _ALARM_RATE[self.sensitivity])

    def persistence_for(self, metric: str) -> tuple[int, int]:
        """The (k, m) persistence of ``metric``; (1, 1) when none is set."""
        p = self.persistence
        if isinstance(p, Mapping):
            p = p.get(metric)
        return (int(p[0]), int(p[1])) if p is not None else (1, 1)

    @property
    def factor(self) -> float:
        """Threshold multiplier for the sensitivity."""
        return _SENSITIVITY[self.sensitivity]

    def detectors_for(self, metric: str) -> tuple[str, ...]:
        """Detectors run on ``metric``."""
        return tuple(self.detectors.get(metric, METRICS[metric].detectors))


@dataclass(frozen=True, slots=True)
class Alert:
    """One metric, in one window, far from its baseline according to one detector."""

    metric: str
    """Metric name (see :data:`METRICS`)."""
    window_start: pd.Timestamp
    """Start of the window (UTC)."""
    window_end: pd.Timestamp
    """End of the window (UTC, exclusive)."""
    value: float
    """The metric in this window (natural units: seconds, tokens, share...)."""
    baseline: float
    """What the baseline expected."""
    distance: float
    """How far: a z-score, EWMA or CUSUM statistic, PSI or Wasserstein distance."""
    threshold: float
    """The threshold ``distance`` crossed."""
    detector: str
    """Which detector fired."""
    direction: Literal["up", "down"]
    """Whether the metric went up or down."""
    explanation: str
    """Plain-English explanation."""
    group: str | None = None
    """The segment/model value when monitoring ``by`` a column."""


@dataclass(frozen=True)
class Detection:
    """Alerts plus the per-window detector statistics (for plots)."""

    alerts: tuple[Alert, ...]
    """Alerts, sorted by window then metric."""
    stats: pd.DataFrame
    """Long table: window_start, group, metric, detector, value, baseline, lower, upper, statistic,
    threshold, alert. ``lower``/``upper`` bound the no-alert band in the metric's units."""
    config: DetectionConfig
    """The settings used."""
    window: str
    """``"hour"`` or ``"day"``."""
    notes: tuple[str, ...] = ()
    """Plain-English notes: the cold start of each metric, metrics that could never be scored."""

    @property
    def cold_start(self) -> str:
        """When seasonal baselines took over, in words; empty when there was no cold start.

        E.g. "seasonal baselines from 2024-01-22 (latency_p50, ...); until then a 24-hour rolling baseline".
        """
        return "; ".join(n for n in self.notes if n.startswith("seasonal baselines") or "rolling baseline" in n)

    def to_frame(self) -> pd.DataFrame:
        """The alerts as a DataFrame (one row per alert)."""
        return alerts_frame(self.alerts)


_ALERT_COLUMNS = [
    "metric", "window_start", "window_end", "group", "detector", "direction", "value", "baseline", "distance",
    "threshold", "explanation",
]  # fmt: skip


def alerts_frame(alerts: Sequence[Alert]) -> pd.DataFrame:
    """Alerts as a DataFrame with a fixed column order (empty frame when none)."""
    rows = [{c: getattr(a, c) for c in _ALERT_COLUMNS} for a in alerts]
    return pd.DataFrame(rows, columns=_ALERT_COLUMNS)


def _persist(anomalous: np.ndarray, k: int, m: int) -> np.ndarray:
    """k-of-m persistence: a point counts only when at least k of the last m points (itself included) do."""
    if k <= 1 and m <= 1:
        return anomalous.copy()
    c = np.convolve(anomalous.astype(np.int64), np.ones(m, dtype=np.int64))[: len(anomalous)]
    out: np.ndarray = anomalous & (c >= k)
    return out


def _page(anomalous: np.ndarray, times: np.ndarray, gap: int, refractory: int) -> tuple[np.ndarray, np.ndarray]:
    """Episodes and pages from per-point anomaly flags.

    An episode is a run of anomalous points in which no two consecutive ones are more than
    ``gap`` apart. Each episode pages once, at its first point, unless it starts within
    ``refractory`` of the previous page (then it is recorded, not paged): one incident, one
    page, as on-call tools (PagerDuty, Alertmanager ``group_interval``) do. ``times``, ``gap`` and
    ``refractory`` are in the same integer unit (nanoseconds).

    Returns:
        ``episode`` (int id per point, -1 outside episodes) and ``page`` (bool per point).
    """
    T = len(anomalous)
    episode = np.full(T, -1, dtype=np.int64)
    page = np.zeros(T, dtype=bool)
    idx = np.flatnonzero(anomalous)
    if not len(idx):
        return episode, page
    t = times[idx]
    new = np.r_[True, (t[1:] - t[:-1]) > gap]
    ep = np.cumsum(new) - 1
    episode[idx] = ep
    starts = idx[new]
    last_page: int | None = None
    for s in starts:  # one iteration per episode, not per point
        if last_page is None or times[s] - last_page >= refractory:
            page[s] = True
            last_page = times[s]
    return episode, page


@dataclass(frozen=True)
class SeriesDetection:
    """Anomalies in one metric series: per-point scores, pages and episodes.

    ``frame`` is indexed by the series' timestamps (regularized to its step; missing points
    are rows with ``gap=True``) and has the columns ``value``, ``baseline`` (what was expected,
    the current point excluded), ``lower``/``upper`` (the no-alert band), ``score`` (robust z:
    residual over the robust spread), ``threshold``, ``anomalous`` (beyond the threshold, after
    the optional k-of-m persistence), ``alert`` (the point pages: first point of an episode,
    outside the refractory period), ``episode`` (id, -1 outside episodes), ``baseline_kind``
    (``"seasonal"``, ``"rolling"`` or ``""`` before the first score), ``gap`` and
    ``explanation`` (non-empty on anomalous points).
    """

    frame: pd.DataFrame
    """One row per point (see the class docstring)."""
    name: str
    """The metric's name (the Series name, the DataFrame column, or ``"value"``)."""
    step: pd.Timedelta
    """The regular step of the series."""
    seasonality: str
    """The seasonality used: ``"week"``, ``"day"`` or ``"none"`` (``"auto"`` resolved)."""
    seasonal_from: pd.Timestamp | None
    """First point scored against the seasonal baseline; None when never."""
    threshold: float
    """The nominal z threshold (before the small-history t adjustment)."""
    config: DetectionConfig
    """The settings used."""
    notes: tuple[str, ...] = ()
    """Plain-English notes about the run: the cold start, gaps, sorting."""

    @property
    def alerts(self) -> pd.DataFrame:
        """The paging points (``frame`` rows with ``alert``)."""
        return self.frame[self.frame["alert"]]

    @property
    def cold_start(self) -> str:
        """What the baseline was when, in words.

        E.g. "seasonal baselines from 2026-12-22 00:00; until then a 24-hour rolling baseline".
        """
        # the rolling baseline spans at least 7 points (7 days of daily data)
        n = max(int(round(pd.Timedelta(self.config.rolling_baseline) / self.step)), 7)
        roll = _duration_words(str(n * self.step))
        if self.seasonality == "none":
            return f"no seasonality: a {roll} rolling baseline throughout"
        what = "weekly" if self.seasonality == "week" else "daily"
        if self.seasonal_from is None:
            return (
                f"not enough history for a {what} seasonal baseline (it needs {self.config.min_seasonal_periods} "
                f"{'weeks' if self.seasonality == 'week' else 'days'}): a {roll} rolling baseline throughout"
            )
        return f"seasonal baselines from {self.seasonal_from:%Y-%m-%d %H:%M}; until then a {roll} rolling baseline"

    @property
    def false_alarms_per_day(self) -> float:
        """Expected false alarms per day at the threshold used, for independent normal residuals.

        ``2 * norm.sf(threshold) * points per day``: the ``false_alarms_per_day`` asked for, or
        fewer when the threshold's floor of 3 applies (hourly and daily steps).
        """
        from scipy.stats import norm

        return float(2 * norm.sf(self.threshold) * (pd.Timedelta(days=1) / self.step))

    def episodes(self) -> pd.DataFrame:
        """One row per episode of anomalous points.

        Columns: start, end (last anomalous point), n_points, paged, direction, peak (timestamp of
        the largest |score|), value, baseline and score at the peak, explanation.
        """
        cols = ["start", "end", "n_points", "paged", "direction", "peak", "value", "baseline", "score",
                "explanation"]  # fmt: skip
        f = self.frame[self.frame["episode"] >= 0]
        if f.empty:
            return pd.DataFrame(columns=cols)
        rows = []
        for _, ep in f.groupby("episode", sort=True):
            pk = ep["score"].abs().idxmax()
            rows.append(
                {
                    "start": ep.index[0], "end": ep.index[-1], "n_points": len(ep), "paged": bool(ep["alert"].any()),
                    "direction": "up" if ep.loc[pk, "score"] > 0 else "down", "peak": pk,
                    "value": ep.loc[pk, "value"], "baseline": ep.loc[pk, "baseline"], "score": ep.loc[pk, "score"],
                    "explanation": ep.loc[pk, "explanation"],
                }
            )  # fmt: skip
        return pd.DataFrame(rows, columns=cols)

    def to_frame(self) -> pd.DataFrame:
        """The pages, one row each (timestamp, value, baseline, score, threshold, explanation)."""
        a = self.alerts
        return a[["value", "baseline", "score", "threshold", "explanation"]].rename_axis("timestamp").reset_index()

    def _repr_html_(self) -> str:
        import html as _html

        f = self.frame
        n_ep = int(f.loc[f["episode"] >= 0, "episode"].nunique())
        head = (
            f"<h4>{_html.escape(self.name)}: {int(f['alert'].sum())} alert(s), {n_ep} episode(s) over {len(f):,} "
            f"points ({_html.escape(pd.tseries.frequencies.to_offset(self.step).freqstr)} steps)</h4><p>"
            f"{_html.escape(self.cold_start)}. Threshold |z| &gt; {self.threshold:.2f} (about "
            f"{self.false_alarms_per_day:.2g} false alarm(s) a day expected).</p>"
        )
        notes = "".join(f"<li>{_html.escape(n)}</li>" for n in self.notes)
        return head + (f"<ul>{notes}</ul>" if notes else "") + str(self.to_frame().to_html(index=False, escape=True))


def _duration_words(d: str) -> str:
    td = pd.Timedelta(d)
    if td % pd.Timedelta(days=1) == pd.Timedelta(0) and td >= pd.Timedelta(days=2):
        return f"{td.days}-day"
    hours = td / pd.Timedelta(hours=1)
    return f"{hours:g}-hour" if hours >= 1 else f"{td / pd.Timedelta(minutes=1):g}-minute"
