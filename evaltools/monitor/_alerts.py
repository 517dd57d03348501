"""Detection settings, the metric catalogue and the alert types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from evaltools.errors import ConfigError

__all__ = ["DETECTORS", "METRICS", "Alert", "Detection", "DetectionConfig", "alerts_frame"]

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
    seasonality: Literal["auto", "week", "day", "none"] = "auto"
    """Seasonal baseline: same hour-of-week (``"week"``; ``"auto"``), same hour-of-day (``"day"``,
    hourly windows only) or none (median of the previous windows)."""
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
        if self.seasonality not in ("auto", "week", "day", "none"):
            raise ConfigError(
                "The 'seasonality' parameter of DetectionConfig must be 'auto', 'week', 'day' or 'none'. "
                f"Got {self.seasonality!r} instead."
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
