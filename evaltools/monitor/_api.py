"""The front door: ``monitor()`` from logs to alerts, its result, alert episodes and the CLI hook."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from evaltools.errors import ConfigError
from evaltools.monitor._alerts import Alert, Detection, DetectionConfig
from evaltools.monitor._detectors import detect_anomalies
from evaltools.monitor._logs import DataQuality, LogData, load_logs
from evaltools.monitor._windows import WindowMetrics, compute_windows, load_windows

__all__ = ["MonitorResult", "alert_episodes", "load_result", "monitor"]


@dataclass(frozen=True)
class MonitorResult:
    """Everything :func:`monitor` computed: windows, alerts, data quality, parameters."""

    windows: WindowMetrics
    """Per-window metrics (``windows.frame``), gaps included."""
    detection: Detection
    """Alerts and per-window detector statistics."""
    quality: DataQuality
    """Rows and values excluded while loading, with counts."""
    sources: tuple[str, ...]
    """The files (or ``"<DataFrame>"``) read."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """The parameters of the run (window, sensitivity...), for reports."""

    @property
    def alerts(self) -> tuple[Alert, ...]:
        """The alerts."""
        return self.detection.alerts

    @property
    def gaps(self) -> pd.DataFrame:
        """Runs of empty windows (start, end, n_windows)."""
        return self.windows.gaps

    def to_frame(self) -> pd.DataFrame:
        """The alerts, one row each (the ``group`` column only when monitoring ``by`` a column)."""
        frame = self.detection.to_frame()
        return frame if self.windows.by else frame.drop(columns=["group"])

    def summary(self) -> pd.DataFrame:
        """One row per metric: alerts by detector, first and last alert, latest value and baseline."""
        st = self.detection.stats
        rows = []
        a = self.to_frame()
        for metric in dict.fromkeys(st["metric"]):
            s = st[st["metric"] == metric].sort_values("window_start")
            last = s.dropna(subset=["value"]).tail(1)
            am = a[a["metric"] == metric]
            rows.append(
                {
                    "metric": metric,
                    "detectors": ", ".join(dict.fromkeys(s["detector"])),
                    "n_alerts": len(am),
                    "first_alert": am["window_start"].min() if len(am) else pd.NaT,
                    "last_alert": am["window_start"].max() if len(am) else pd.NaT,
                    "latest_value": float(last["value"].iloc[0]) if len(last) else math.nan,
                    "latest_baseline": float(last["baseline"].iloc[0]) if len(last) else math.nan,
                }
            )
        return pd.DataFrame(rows)

    def episodes(self, *, max_gap: int = 1) -> pd.DataFrame:
        """Alerts merged into episodes; see :func:`alert_episodes` (``group`` only when monitoring ``by``)."""
        ep = alert_episodes(self.detection.to_frame(), window=self.windows.window, max_gap=max_gap,
                            refractory=self.detection.config.refractory)  # fmt: skip
        return ep if self.windows.by else ep.drop(columns=["group"])

    def _repr_html_(self) -> str:
        f = self.windows.frame
        n_req = int(f["n_requests"].sum())
        n_ep = len(self.episodes())
        head = (
            f"<h4>Monitoring: {n_ep} alert episode(s), {len(self.alerts)} alert(s) over {len(f)} "
            f"{self.windows.window} windows, {n_req:,} requests</h4><p>{html.escape(_sources_text(self.sources))}"
            f"; {int(f['gap'].sum())} empty window(s), "
            f"{int(f['low_n'].sum())} low-n window(s); {self.quality.n_rows_read - self.quality.n_rows_used} row(s) "
            "excluded while loading.</p>"
        )
        from evaltools.report import table

        notes = "".join(f"<p>{html.escape(n)}.</p>" for n in self.detection.notes)
        s = self.summary()[["metric", "detectors", "n_alerts", "first_alert", "last_alert"]]
        return head + notes + table(s, max_rows=None)._repr_html_()

    def save_result(self, directory: str | Path) -> Path:
        """Write the whole result to a folder, for :func:`load_result` (the report renders from it).

        The aggregation is written as Parquet and JSON (:meth:`WindowMetrics.save`); the detection
        (alerts, per-window statistics, settings) as a pickle that only the same evaltools version
        reads back.

        Args:
            directory: the folder (created if needed; its files are replaced).

        Returns:
            The folder.
        """
        import pickle

        from evaltools._util import evaltools_version

        d = self.windows.save(directory)
        state = {"version": evaltools_version(), "detection": self.detection, "params": dict(self.params),
                 "sources": list(self.sources)}  # fmt: skip
        (d / "detection.pkl").write_bytes(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
        return d

    def save(self, directory: str | Path, *, prefix: str = "monitoring") -> list[Path]:
        """Write the tables as CSV and the alerts and summary as JSON into ``directory``.

        Args:
            directory: the folder (created if needed).
            prefix: file name prefix.

        Returns:
            The paths written: ``<prefix>_windows.csv``, ``_alerts.csv``, ``_alerts.json``,
            ``_quality.csv``, ``_gaps.csv``, ``_summary.json``.
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        out = []
        a = self.to_frame()
        for name, frame in (
            ("windows", self.windows.frame),
            ("alerts", a),
            ("quality", self.quality.to_frame()),
            ("gaps", self.gaps),
        ):
            p = d / f"{prefix}_{name}.csv"
            frame.to_csv(p, index=False)
            out.append(p)
        p = d / f"{prefix}_alerts.json"
        p.write_text(a.to_json(orient="records", date_format="iso", indent=1), encoding="utf-8")
        out.append(p)
        summary = {
            "params": {k: v for k, v in self.params.items() if _jsonable(v)},
            "sources": list(self.sources),
            "n_windows": len(self.windows.frame),
            "n_requests": int(self.windows.frame["n_requests"].sum()),
            "n_alerts": len(self.alerts),
            "alerts_by_metric": a.groupby("metric").size().to_dict() if len(a) else {},
            "rows_read": self.quality.n_rows_read,
            "rows_used": self.quality.n_rows_used,
            "notes": list(self.detection.notes),
        }
        p = d / f"{prefix}_summary.json"
        p.write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
        out.append(p)
        return out


def load_result(directory: str | Path) -> MonitorResult:
    """Read a result written by :meth:`MonitorResult.save_result` (``evaltools monitor`` writes one beside its report).

    Args:
        directory: the folder.

    Returns:
        The :class:`MonitorResult`, without reading the logs again.

    Raises:
        InputError: when the folder holds no saved result, or one from another evaltools version.
    """
    import pickle

    from evaltools._util import evaltools_version
    from evaltools.errors import InputError

    d = Path(directory)
    wm = load_windows(d)
    try:
        state = pickle.loads((d / "detection.pkl").read_bytes())  # written by save_result, same version only
    except (OSError, pickle.UnpicklingError, AttributeError, ImportError) as exc:
        raise InputError("No saved detection in this folder; write it with MonitorResult.save_result.",
                         path=d / "detection.pkl") from exc  # fmt: skip
    if state.get("version") != evaltools_version():
        raise InputError(
            f"The result was saved by evaltools {state.get('version')}, this is {evaltools_version()}: "
            "rerun the monitoring.",
            path=d / "detection.pkl",
        )
    empty = DataQuality(0, 0, pd.DataFrame(columns=["issue", "count", "handling", "example"]))
    return MonitorResult(windows=wm, detection=state["detection"], quality=wm.quality or empty,
                         sources=tuple(state["sources"]), params=state["params"])  # fmt: skip


def alert_episodes(
    alerts: pd.DataFrame, *, window: Literal["hour", "day"], max_gap: int = 1, refractory: str | pd.Timedelta = "6h"
) -> pd.DataFrame:
    """Merge alerts on the same metric (and group) in nearby windows into episodes.

    An incident lasting twelve hours raises a dozen alerts per detector; an episode is
    what a person reads: one metric, from its first to its last alerted window, with the
    strongest alert's explanation.

    Args:
        alerts: ``MonitorResult.to_frame()`` (one row per alert).
        window: the window size of the alerts.
        max_gap: alerted windows at most this many quiet windows apart join one episode.
        refractory: an episode starting within this time of the previous *paged* episode of the
            same metric (and group) is not paged (``paged`` False): one incident, one page.

    Returns:
        One row per episode, sorted by start: ``start``, ``end`` (end of the last alerted
        window), ``group``, ``metric``, ``detectors``, ``n_alerts``, ``direction`` (of the
        strongest alert), ``peak_window``, ``value`` and ``baseline`` at the peak, and the
        peak alert's ``explanation``, and ``paged``. The strongest alert is the one furthest
        beyond its threshold (``distance / threshold``).

    Examples:
        >>> al = pd.DataFrame({"metric": ["latency_p99"] * 3, "group": None, "detector": "robust_z",
        ...                    "window_start": pd.to_datetime(["2024-01-01 03:00", "2024-01-01 04:00",
        ...                                                    "2024-01-01 09:00"], utc=True),
        ...                    "direction": "up", "value": [3.0, 4.0, 3.5], "baseline": 2.0,
        ...                    "distance": [6.0, 9.0, 7.0], "threshold": 5.0, "explanation": ["a", "b", "c"]})
        >>> alert_episodes(al, window="hour")[["start", "n_alerts", "explanation"]].to_numpy().tolist()[0][1:]
        [2, 'b']
    """
    cols = ["start", "end", "group", "metric", "detectors", "n_alerts", "direction", "peak_window", "value",
            "baseline", "explanation", "paged"]  # fmt: skip
    refr = pd.Timedelta(refractory)
    if alerts.empty:
        return pd.DataFrame(columns=cols)
    step = pd.Timedelta(hours=1) if window == "hour" else pd.Timedelta(days=1)
    a = alerts.copy()
    a["group"] = a["group"].astype(object).where(a["group"].notna(), None) if "group" in a else None
    a["_g"] = a["group"].fillna("")
    with np.errstate(divide="ignore", invalid="ignore"):
        a["_strength"] = (a["distance"].abs() / a["threshold"].abs()).replace(np.inf, 1e9).fillna(0.0)
    rows = []
    for (_g, metric), sub in a.groupby(["_g", "metric"], sort=False):
        sub = sub.sort_values("window_start")
        starts = pd.to_datetime(sub["window_start"], utc=True)
        new = starts.diff() > (max_gap + 1) * step
        last_page = None
        for _, ep in sub.groupby(new.cumsum().to_numpy()):
            peak = ep.loc[ep["_strength"].idxmax()]
            t0 = pd.Timestamp(ep["window_start"].min())
            paged = last_page is None or t0 - last_page >= refr
            last_page = t0 if paged else last_page
            rows.append(
                {
                    "start": ep["window_start"].min(), "end": ep["window_start"].max() + step, "group": peak["group"],
                    "metric": metric, "detectors": ", ".join(dict.fromkeys(ep["detector"])), "n_alerts": len(ep),
                    "direction": peak["direction"], "peak_window": peak["window_start"], "value": peak["value"],
                    "baseline": peak["baseline"], "explanation": peak["explanation"], "paged": paged,
                }
            )  # fmt: skip
    return pd.DataFrame(rows, columns=cols).sort_values(["start", "metric"]).reset_index(drop=True)


def _sources_text(sources: Sequence[str]) -> str:
    """Where the logs came from, in words: file names, or "an in-memory table" for a DataFrame."""
    names = ["an in-memory table" if src == "<DataFrame>" else "an ibis table" if src == "<ibis table>" else src
             for src in sources[:3]]  # fmt: skip
    return "Logs from " + ", ".join(names) + (" ..." if len(sources) > 3 else "")


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v, default=str)
        return True
    except (TypeError, ValueError):
        return False


def monitor(
    logs: str | Path | Sequence[str | Path] | pd.DataFrame | LogData | WindowMetrics | Any,
    *,
    window: Literal["hour", "day"] = "hour",
    by: str | None = None,
    metrics: Sequence[str] | None = None,
    sensitivity: Literal["low", "medium", "high"] = "medium",
    columns: Mapping[str, str] | None = None,
    latency_unit: Literal["s", "ms"] = "s",
    assume_timezone: str | None = None,
    on_bad_rows: Literal["raise", "skip"] = "raise",
    max_tokens: int | None = None,
    min_requests: int = 30,
    confidence: float = 0.95,
    config: DetectionConfig | None = None,
    start: Any = None,
    end: Any = None,
    engine: Literal["duckdb", "spark"] = "duckdb",
    connection: Any = None,
) -> MonitorResult:
    """Monitor production logs: load, aggregate per window, detect anomalies on rolling baselines.

    Args:
        logs: a path, folder, list of files, DataFrame, Ibis table (DuckDB, Spark or any backend with
            quantiles, regex search and ordered arrays), :class:`LogData`, or an aggregation already
            computed (:class:`WindowMetrics`, e.g. from :func:`load_windows`), which is not recomputed.
        window: ``"hour"`` or ``"day"``.
        by: monitor each ``"segment"`` (or ``"model"``) separately.
        metrics: metric names to check (see ``evaltools.monitor.METRICS``); None for all the logs support.
        sensitivity: ``"low"``, ``"medium"`` or ``"high"`` (scales every threshold).
        columns: column-name overrides for :func:`load_logs`.
        latency_unit: ``"s"`` or ``"ms"``.
        assume_timezone: zone of timestamps without an offset (see :func:`load_logs`).
        on_bad_rows: ``"raise"`` or ``"skip"`` (and count) malformed lines and unparseable timestamps.
        max_tokens: completion cap, when the logs have no ``finish_reason``.
        min_requests: windows with fewer requests are flagged low-n and not alerted on.
        confidence: confidence level of the per-window intervals.
        config: full detection settings; ``metrics`` and ``sensitivity`` override its fields.
        start: first instant to monitor; None for all.
        end: end of the monitored range (exclusive); None for all.
        engine: the engine that reads log files: ``"duckdb"`` or ``"spark"`` (see :func:`load_logs`).
        connection: an Ibis DuckDB or PySpark backend, or a ``SparkSession``, to read files with.

    Returns:
        A :class:`MonitorResult`.

    Raises:
        InputError: for unreadable logs (see :func:`load_logs`).
        ConfigError: for invalid settings.

    Examples:
        >>> from evaltools.monitor._synthetic import generate_synthetic_logs
        >>> syn = generate_synthetic_logs(days=21, requests_per_hour=40, incidents=None, seed=2)
        >>> result = monitor(syn.logs, window="day")
        >>> len(result.windows.frame), len(result.alerts)
        (21, 0)
    """
    if isinstance(logs, WindowMetrics):
        if (window, by) != (logs.window, logs.by):
            raise ConfigError(
                f"The aggregation passed to monitor has window={logs.window!r}, by={logs.by!r}; got window={window!r}, "
                f"by={by!r}. Pass the same values, or recompute it from the logs."
            )
        wm = logs
        empty = DataQuality(0, 0, pd.DataFrame(columns=["issue", "count", "handling", "example"]))
        quality, sources = (wm.quality or empty), wm.sources
    else:
        data = logs if isinstance(logs, LogData) else load_logs(
            logs,
            columns=columns,
            latency_unit=latency_unit,
            assume_timezone=assume_timezone,
            on_bad_rows=on_bad_rows,
            engine=engine,
            connection=connection,
        )  # fmt: skip
        wm = compute_windows(
            data, window=window, by=by, max_tokens=max_tokens, min_requests=min_requests, confidence=confidence,
            start=start, end=end,
        )  # fmt: skip
        quality, sources = data.quality, data.sources
    cfg = config or DetectionConfig()
    overrides: dict[str, Any] = {"sensitivity": sensitivity}
    if metrics is not None:
        overrides["metrics"] = tuple(metrics)
    det = detect_anomalies(wm, cfg, **overrides)
    params = {
        "window": window, "by": by, "metrics": list(metrics) if metrics is not None else None,
        "sensitivity": sensitivity, "latency_unit": latency_unit, "assume_timezone": assume_timezone,
        "on_bad_rows": on_bad_rows, "max_tokens": max_tokens, "min_requests": min_requests, "confidence": confidence,
    }  # fmt: skip
    return MonitorResult(windows=wm, detection=det, quality=quality, sources=sources, params=params)


