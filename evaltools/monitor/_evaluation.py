"""Scoring alerts against known incidents (SYNTHETIC logs), and the fixed-threshold comparison."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from evaltools.errors import ConfigError, InputError
from evaltools.monitor._alerts import Alert, alerts_frame
from evaltools.monitor._detectors import fixed_threshold_alerts

if TYPE_CHECKING:
    from evaltools.monitor._api import MonitorResult

__all__ = ["DetectionScore", "compare_with_fixed_threshold", "score_detection"]


@dataclass(frozen=True)
class DetectionScore:
    """How well alerts match known incidents."""

    incidents: pd.DataFrame
    """One row per incident: kind, start, end, first_alert, delay_windows (NaN when missed),
    detected (within ``max_delay`` windows), metrics_at_first_alert."""
    false_alerts: pd.DataFrame
    """Alerts outside every incident (from its first window to ``grace`` after its end)."""
    max_delay: int
    """The delay (in windows) allowed for a detection."""

    @property
    def n_false_alerts(self) -> int:
        """Number of alerts outside every incident."""
        return len(self.false_alerts)

    @property
    def all_detected(self) -> bool:
        """Whether every incident was detected within ``max_delay`` windows."""
        return bool(self.incidents["detected"].all()) if len(self.incidents) else True

    def to_frame(self) -> pd.DataFrame:
        """The per-incident table."""
        return self.incidents


def score_detection(
    alerts: pd.DataFrame | Sequence[Alert],
    incidents: pd.DataFrame,
    *,
    window: Literal["hour", "day"],
    max_delay: int = 2,
    grace: pd.Timedelta | None = None,
) -> DetectionScore:
    """Score alerts against incidents with known start and end (e.g. from ``generate_synthetic_logs``).

    An incident is detected when an alert on one of the metrics it moves
    (``incidents["metrics"]``; any metric when that column is absent) falls in a window
    starting at most ``max_delay`` windows after the window containing its start.
    Alerts between an incident's first window and ``grace`` after its end are
    attributed to it (including knock-on effects such as latency during a length
    regression); every other alert is a false alert.

    Args:
        alerts: ``MonitorResult.to_frame()``, ``fixed_threshold_alerts(...)`` or a sequence of alerts.
        incidents: columns ``kind``, ``start``, ``end`` and optionally ``metrics``.
        window: the window size the alerts were computed on.
        max_delay: allowed delay, in windows.
        grace: how long after an incident its alerts are still attributed to it (None: one day).

    Returns:
        A :class:`DetectionScore`.

    Raises:
        ConfigError: for an invalid window.
        InputError: when ``incidents`` lacks kind, start or end.

    Examples:
        >>> inc = pd.DataFrame({"kind": ["spike"], "start": [pd.Timestamp("2024-01-02 10:30", tz="UTC")],
        ...                     "end": [pd.Timestamp("2024-01-02 14:00", tz="UTC")], "metrics": [("refusal_rate",)]})
        >>> al = pd.DataFrame({"metric": ["refusal_rate", "latency_p99"],
        ...                    "window_start": pd.to_datetime(["2024-01-02 11:00", "2024-01-05 03:00"], utc=True)})
        >>> s = score_detection(al, inc, window="hour")
        >>> s.incidents["delay_windows"].tolist(), s.n_false_alerts
        ([1.0], 1)
    """
    if window not in ("hour", "day"):
        raise ConfigError(f"The 'window' parameter of score_detection must be 'hour' or 'day'. Got {window!r} instead.")
    _validate_incidents(incidents)
    grace = pd.Timedelta(days=1) if grace is None else pd.Timedelta(grace)
    a = alerts if isinstance(alerts, pd.DataFrame) else alerts_frame(list(alerts))
    step = pd.Timedelta(hours=1) if window == "hour" else pd.Timedelta(days=1)
    freq = "h" if window == "hour" else "D"
    ws = pd.to_datetime(a["window_start"], utc=True) if len(a) else pd.Series([], dtype="datetime64[ns, UTC]")
    attributed = np.zeros(len(a), dtype=bool)
    rows = []
    for _, inc in incidents.iterrows():
        start, end = pd.Timestamp(inc["start"]), pd.Timestamp(inc["end"])
        w0 = start.floor(freq)
        during = ((ws >= w0) & (ws < end + grace)).to_numpy()
        attributed |= during
        relevant = (
            a["metric"].isin(list(inc["metrics"])).to_numpy() if "metrics" in inc and len(a) else np.ones(len(a), bool)
        )
        hits = ws[(ws >= w0) & (ws < end).to_numpy() & relevant] if len(a) else ws
        first = hits.min() if len(hits) else pd.NaT
        delay = float((first - w0) / step) if len(hits) else math.nan
        at_first = sorted(set(a.loc[(ws == first).to_numpy() & relevant, "metric"])) if len(hits) else []
        rows.append(
            {
                "kind": inc["kind"], "start": start, "end": end, "first_alert": first, "delay_windows": delay,
                "detected": bool(np.isfinite(delay) and delay <= max_delay), "metrics_at_first_alert": at_first,
            }
        )  # fmt: skip
    cols = ["kind", "start", "end", "first_alert", "delay_windows", "detected", "metrics_at_first_alert"]
    return DetectionScore(
        incidents=pd.DataFrame(rows, columns=cols),
        false_alerts=a.loc[~attributed].reset_index(drop=True),
        max_delay=max_delay,
    )


def compare_with_fixed_threshold(
    result: MonitorResult, incidents: pd.DataFrame, *, k: float = 3.0, max_delay: int = 2
) -> pd.DataFrame:
    """Score the monitor and the naive fixed-threshold baseline against the same known incidents.

    Args:
        result: from :func:`monitor`.
        incidents: known incidents (e.g. ``generate_synthetic_logs(...).incidents``).
        k: the baseline alerts beyond mean +/- k standard deviations of the whole history.
        max_delay: allowed detection delay, in windows.

    Returns:
        One row per method and incident: ``method`` (``"rolling baselines"`` or
        ``"fixed mean +/- 3 sd"``), ``kind``, ``first_alert``, ``delay_windows`` (NaN when
        missed), ``detected`` and ``false_alerts`` (alerts outside every incident, per method).

    Raises:
        InputError: when ``incidents`` lacks kind, start or end.
    """
    window = result.windows.window
    rows = []
    for label, alerts in (
        ("rolling baselines", result.to_frame()),
        (f"fixed mean +/- {k:g} sd", fixed_threshold_alerts(result.windows, k=k)),
    ):
        s = score_detection(alerts, incidents, window=window, max_delay=max_delay)
        part = s.incidents[["kind", "first_alert", "delay_windows", "detected"]].copy()
        part.insert(0, "method", label)
        part["false_alerts"] = s.n_false_alerts
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


def _validate_incidents(incidents: pd.DataFrame) -> None:
    missing = [c for c in ("kind", "start", "end") if c not in incidents.columns]
    if missing:
        raise InputError(f"The incidents table needs the columns kind, start and end. Missing: {missing}.")
