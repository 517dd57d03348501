"""Plotly figures for the monitoring report: a DataFrame in, a ``plotly.graph_objects.Figure`` out.

The builders draw tables computed by :mod:`evaltools.monitor` and compute
nothing new: ``Detection.stats`` (value, baseline and no-alert band per window
and detector), ``MonitorResult.to_frame()`` (alerts) and
``WindowMetrics.frame`` (per-window metrics with their intervals). plotly is
imported lazily. Text that comes from data (metric names, explanations) is
HTML-escaped before it reaches plotly; model outputs never go into a figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaltools.report.plots._base import _LAYOUT, _empty, _esc, _go, wrap_hover
from evaltools.report.plots._base import _check as _check_frame

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from evaltools.monitor import SeriesDetection

__all__ = ["alert_timeline_figure", "metric_figure", "metrics_grid_figure", "series_figure", "window_metrics_figure"]

_DETECTOR_COLORS = {
    "robust_z": "#C44E52",
    "laney_p": "#DD8452",
    "binomial_cusum": "#937860",
    "ewma": "#8172B3",
    "cusum": "#DA8BC3",
    "psi": "#4C72B0",
    "wasserstein": "#64B5CD",
    "gap": "#8C8C8C",
}
_INTERVALS = {
    "refusal_rate": ("refusal_ci_low", "refusal_ci_high"),
    "latency_p50": ("latency_p50_ci_low", "latency_p50_ci_high"),
    "latency_p99": ("latency_p99_ci_low", "latency_p99_ci_high"),
    "judge_mean": ("judge_ci_low", "judge_ci_high"),
}


def _check(frame: Any, columns: Sequence[str], func: str) -> None:
    _check_frame(frame, columns, func, source="evaltools.monitor")


def _band_polygons(x: pd.Series, lower: pd.Series, upper: pd.Series) -> tuple[list[Any], list[Any]]:
    """One closed polygon per run of windows with a band, separated by None (warm-up, gaps)."""
    ok = (lower.notna() & upper.notna()).to_numpy()
    xs: list[Any] = []
    ys: list[Any] = []
    xv, lo, hi = list(x), lower.to_numpy(float), upper.to_numpy(float)
    i = 0
    while i < len(ok):
        if not ok[i]:
            i += 1
            continue
        j = i
        while j < len(ok) and ok[j]:
            j += 1
        xs += xv[i:j] + xv[i:j][::-1] + [None]
        ys += list(hi[i:j]) + list(lo[i:j][::-1]) + [None]
        i = j
    return xs, ys


def _band_and_lines(
    fig: Any, s: pd.DataFrame, *, row: int | None = None, col: int | None = None, legend: bool = True
) -> None:
    go = _go()
    kw = {"row": row, "col": col} if row is not None else {}
    x = s["window_start"]
    if s["lower"].notna().any():
        bx, by = _band_polygons(x, s["lower"], s["upper"])
        fig.add_trace(
            go.Scatter(
                x=bx, y=by, mode="lines", line={"width": 0}, fill="toself", fillcolor="rgba(76,114,176,0.18)",
                name="no-alert band", hoverinfo="skip", showlegend=legend,
            ),
            **kw,
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=x, y=s["baseline"], mode="lines", line={"color": "#4C72B0", "dash": "dot", "width": 1},
                   name="baseline", showlegend=legend),
        **kw,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=x, y=s["value"], mode="lines", line={"color": "#333333", "width": 1.2}, name="value",
                   showlegend=legend),
        **kw,
    )  # fmt: skip


def metric_figure(
    stats: pd.DataFrame, metric: str, *, detector: str | None = None, title: str | None = None
) -> go.Figure:
    """One metric over time: its value, its rolling baseline, the no-alert band and the alerts.

    Args:
        stats: ``Detection.stats`` (or ``MonitorResult.detection.stats``).
        metric: the metric to draw (e.g. ``"latency_p99"``).
        detector: which detector's baseline and band to draw; None picks the first one
            with a band (``robust_z`` or ``laney_p``). Alerts of every detector are marked.
        title: figure title; defaults to the metric name.

    Returns:
        A plotly Figure (a placeholder with a message when the metric has no statistics).

    Raises:
        InputError: when ``stats`` lacks the expected columns.

    Examples:
        >>> st = pd.DataFrame({"window_start": pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC"),
        ...                    "group": None, "metric": "latency_p50", "detector": "robust_z",
        ...                    "value": [1.0, 1.1, 3.0], "baseline": [1.0, 1.0, 1.0], "lower": [0.8] * 3,
        ...                    "upper": [1.2] * 3, "statistic": [0.0, 1.0, 9.0], "threshold": 5.0,
        ...                    "alert": [False, False, True]})
        >>> len(metric_figure(st, "latency_p50").data)  # band, baseline, value, alerts
        4
    """
    _check(
        stats, ["window_start", "metric", "detector", "value", "baseline", "lower", "upper", "alert"], "metric_figure"
    )
    go = _go()
    s = stats[stats["metric"] == metric]
    if s.empty:
        return _empty(title or metric, f"No statistics for {metric}.")
    dets = list(dict.fromkeys(s["detector"]))
    if detector is None:
        with_band = [d for d in dets if s.loc[s["detector"] == d, "lower"].notna().any()]
        detector = with_band[0] if with_band else dets[0]
    main = s[s["detector"] == detector].sort_values("window_start")
    fig = go.Figure()
    _band_and_lines(fig, main)
    al = s[s["alert"]]
    for det, g in al.groupby("detector", sort=False):
        fig.add_trace(
            go.Scatter(
                x=g["window_start"], y=g["value"], mode="markers",
                marker={"color": _DETECTOR_COLORS.get(str(det), "#C44E52"), "size": 8, "symbol": "x"},
                name=f"alert ({_esc(det)})",
            )
        )  # fmt: skip
    fig.update_layout(**_LAYOUT, title=_esc(title or metric), height=320)
    return fig


def series_figure(result: SeriesDetection, *, title: str | None = None) -> go.Figure:
    """A metric series against its baseline: value, baseline, no-alert band, anomalous points and pages.

    Args:
        result: from ``detect_anomalies(series)``.
        title: figure title; defaults to the series name and the cold-start note.

    Returns:
        A plotly Figure (a placeholder with a message when nothing was scored).

    Examples:
        >>> import evaltools as et
        >>> t = pd.date_range("2024-03-01", periods=288 * 3, freq="5min")
        >>> y = pd.Series(np.random.default_rng(0).normal(10, 1, len(t)), index=t, name="cpu")
        >>> y.iloc[-50] += 20
        >>> [tr.name for tr in series_figure(et.detect_anomalies(y)).data]
        ['no-alert band', 'baseline', 'value', 'anomalous', 'page']
    """
    go = _go()
    f = result.frame
    name = title or f"{result.name}: {result.cold_start}"
    if not f["score"].notna().any():
        return _empty(name, f"No point of {result.name} was scored.")
    s = f.rename_axis("window_start").reset_index()
    fig = go.Figure()
    _band_and_lines(fig, s)
    for col, label, style in (("anomalous", "anomalous", {"color": "#DD8452", "size": 5}),
                              ("alert", "page", {"color": "#C44E52", "size": 10, "symbol": "x"})):  # fmt: skip
        g = s[s[col]]
        fig.add_trace(go.Scatter(x=g["window_start"], y=g["value"], mode="markers", marker=style, name=label))
    fig.update_layout(**_LAYOUT, title=_esc(name), height=340)
    return fig


def metrics_grid_figure(
    stats: pd.DataFrame, metrics: Sequence[str] | None = None, *, title: str = "Metrics against their rolling baselines"
) -> go.Figure:
    """Small multiples: one panel per metric with value, baseline, band and alerts (shared time axis).

    Args:
        stats: ``Detection.stats``.
        metrics: metrics to draw, in order; None draws every metric with a band.
        title: figure title.

    Returns:
        A plotly Figure with one row per metric.

    Raises:
        InputError: when ``stats`` lacks the expected columns.

    Examples:
        >>> st = pd.DataFrame({"window_start": pd.date_range("2024-01-01", periods=2, freq="D", tz="UTC"),
        ...                    "group": None, "metric": ["refusal_rate"] * 2, "detector": "laney_p",
        ...                    "value": [0.02, 0.09], "baseline": [0.02, 0.02], "lower": [0.0, 0.0],
        ...                    "upper": [0.05, 0.05], "statistic": [0.1, 7.0], "threshold": 4.0,
        ...                    "alert": [False, True]})
        >>> len(metrics_grid_figure(st).layout.annotations)
        1
    """
    _check(
        stats,
        ["window_start", "metric", "detector", "value", "baseline", "lower", "upper", "alert"],
        "metrics_grid_figure",
    )
    from plotly.subplots import make_subplots

    go = _go()
    if metrics is None:
        banded = stats.groupby(["metric", "detector"], sort=False)["lower"].apply(lambda v: v.notna().any())
        metrics = list(dict.fromkeys(m for (m, _d), ok in banded.items() if ok))
    metrics = [m for m in metrics if (stats["metric"] == m).any()]
    if not metrics:
        return _empty(title, "No metric statistics to draw.")
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, subplot_titles=[_esc(m) for m in metrics],
                        vertical_spacing=min(0.08, 0.5 / len(metrics)))  # fmt: skip
    for i, m in enumerate(metrics, start=1):
        s = stats[stats["metric"] == m]
        dets = [d for d in dict.fromkeys(s["detector"]) if s.loc[s["detector"] == d, "lower"].notna().any()]
        main = s[s["detector"] == (dets[0] if dets else s["detector"].iloc[0])].sort_values("window_start")
        _band_and_lines(fig, main, row=i, col=1, legend=i == 1)
        al = s[s["alert"]]
        if len(al):
            fig.add_trace(
                go.Scatter(x=al["window_start"], y=al["value"], mode="markers", name="alert",
                           marker={"color": "#C44E52", "size": 7, "symbol": "x"}, showlegend=i == 1),
                row=i, col=1,
            )  # fmt: skip
    fig.update_layout(**_LAYOUT, title=_esc(title), height=max(260, 190 * len(metrics)))
    return fig


def alert_timeline_figure(
    alerts: pd.DataFrame,
    incidents: pd.DataFrame | None = None,
    *,
    episodes: pd.DataFrame | None = None,
    window: str = "hour",
    title: str = "Alerts over time",
) -> go.Figure:
    """Alerts as points (time by metric, coloured by detector), episodes as bands, known incidents shaded.

    Alerts on one metric in consecutive windows are one thing to look at: each
    episode is drawn as a thick bar from its first to its last alerted window
    on its metric's row, so a slow drift that alerts for days reads as one
    episode, not a hundred points. Without ``episodes``, consecutive alerts of
    one metric (at most one quiet window apart) are grouped here the same way.

    Args:
        alerts: ``MonitorResult.to_frame()`` (columns metric, window_start, detector; explanation is
            shown on hover when present) or ``fixed_threshold_alerts(...)``.
        incidents: optional table with ``start``, ``end`` and ``kind`` (e.g. the SYNTHETIC
            generator's incident table), drawn as shaded spans.
        episodes: ``MonitorResult.episodes()`` (``start``, ``end``, ``metric``, ``n_alerts``);
            None groups the alerts as described above.
        window: the window size (``hour`` or ``day``), used to group alerts without ``episodes``.
        title: figure title.

    Returns:
        A plotly Figure (a placeholder with a message when there is no alert and no incident).

    Raises:
        InputError: when ``alerts`` lacks the expected columns.

    Examples:
        >>> al = pd.DataFrame({"metric": ["refusal_rate"], "detector": ["laney_p"],
        ...                    "window_start": pd.to_datetime(["2024-01-02 10:00"], utc=True),
        ...                    "explanation": ["Refusal rate was <b>high</b>."]})
        >>> fig = alert_timeline_figure(al)
        >>> "&lt;b&gt;" in fig.data[-1].hovertext[0]
        True
    """
    _check(alerts, ["metric", "window_start", "detector"], "alert_timeline_figure")
    go = _go()
    if alerts.empty and (incidents is None or incidents.empty):
        return _empty(title, "No alerts.")
    fig = go.Figure()
    bands = episodes if episodes is not None else _group_alerts(alerts, window)
    if bands is not None and not bands.empty:
        xs: list[Any] = []
        ys: list[Any] = []
        texts: list[Any] = []
        for _, ep in bands.iterrows():
            label = (f"{_esc(ep['metric'])}: one episode, {int(ep['n_alerts'])} alert(s)<br>"
                     f"{ep['start']:%Y-%m-%d %H:%M} to {ep['end']:%Y-%m-%d %H:%M}")  # fmt: skip
            if "explanation" in ep and isinstance(ep["explanation"], str):
                label += "<br>" + _esc(ep["explanation"])
            xs += [ep["start"], ep["end"], None]
            ys += [_esc(ep["metric"])] * 2 + [None]
            texts += [wrap_hover(label)] * 2 + [None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="episode", hovertext=texts, hoverinfo="text",
                                 line={"color": "rgba(207,34,46,0.35)", "width": 14}))  # fmt: skip
    for det, g in alerts.groupby("detector", sort=False):
        hover = (
            [wrap_hover(_esc(t)) for t in g["explanation"]]
            if "explanation" in g.columns
            else [f"{_esc(m)} ({_esc(det)})" for m in g["metric"]]
        )
        fig.add_trace(
            go.Scatter(
                x=g["window_start"], y=[_esc(m) for m in g["metric"]], mode="markers", name=_esc(det),
                marker={"color": _DETECTOR_COLORS.get(str(det), "#555555"), "size": 7}, hovertext=hover,
                hoverinfo="text+x",
            )
        )  # fmt: skip
    if incidents is not None and not incidents.empty:
        _check(incidents, ["start", "end", "kind"], "alert_timeline_figure")
        for _, inc in incidents.iterrows():
            fig.add_vrect(x0=inc["start"], x1=inc["end"], fillcolor="rgba(221,132,82,0.18)", line_width=0,
                          annotation_text=_esc(inc["kind"]), annotation_position="top left")  # fmt: skip
    n_metrics = max(1, alerts["metric"].nunique())
    fig.update_layout(**_LAYOUT, title=_esc(title), height=max(260, 60 + 35 * n_metrics), hoverlabel={"align": "left"})
    return fig


def _group_alerts(alerts: pd.DataFrame, window: str) -> pd.DataFrame:
    """Consecutive alerts of one metric (at most one quiet window apart) as bands: start, end, metric, n_alerts."""
    if alerts.empty:
        return pd.DataFrame(columns=["start", "end", "metric", "n_alerts"])
    step = pd.Timedelta(days=1) if window == "day" else pd.Timedelta(hours=1)
    rows = []
    for metric, g in alerts.groupby("metric", sort=False):
        starts = pd.Series(pd.to_datetime(g["window_start"], utc=True).drop_duplicates().sort_values().to_numpy())
        run = (starts.diff() > 2 * step).cumsum()
        for _, ep in starts.groupby(run.to_numpy()):
            rows.append({"start": ep.min(), "end": ep.max() + step, "metric": metric,
                         "n_alerts": int(((g["window_start"] >= ep.min()) & (g["window_start"] <= ep.max())).sum())})
    return pd.DataFrame(rows)


def window_metrics_figure(
    windows: pd.DataFrame,
    metrics: Sequence[str] = ("n_requests", "refusal_rate", "latency_p99", "judge_mean"),
    *,
    by: str | None = None,
    title: str = "Per-window metrics with their intervals",
) -> go.Figure:
    """Raw per-window metrics with their confidence intervals; gaps appear as breaks, never as zeros.

    Args:
        windows: ``WindowMetrics.frame`` (or ``MonitorResult.windows.frame``).
        metrics: columns to draw, one panel each.
        by: the grouping column when the windows were computed ``by`` segment or model
            (one line per group); None for one line.
        title: figure title.

    Returns:
        A plotly Figure; low-n windows are drawn as hollow markers.

    Raises:
        InputError: when ``windows`` lacks ``window_start``, ``low_n`` or a requested column.

    Examples:
        >>> f = pd.DataFrame({"window_start": pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC"),
        ...                   "low_n": [False, True, False], "n_requests": [100, 3, np.nan]})
        >>> len(window_metrics_figure(f, ["n_requests"]).data)
        2
    """
    _check(windows, ["window_start", "low_n", *metrics, *([by] if by else [])], "window_metrics_figure")
    from plotly.subplots import make_subplots

    go = _go()
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, subplot_titles=[_esc(m) for m in metrics],
                        vertical_spacing=min(0.08, 0.5 / max(len(metrics), 1)))  # fmt: skip
    groups = list(windows.groupby(by, sort=True)) if by else [(None, windows)]
    palette = ("#333333", "#4C72B0", "#DD8452", "#55A868", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")
    for i, m in enumerate(metrics, start=1):
        for j, (g, sub) in enumerate(groups):
            sub = sub.sort_values("window_start")
            color = palette[j % len(palette)]
            y = sub[m].astype(float)
            ci = _INTERVALS.get(m)
            err = None
            if ci and ci[0] in sub.columns and ci[1] in sub.columns and by is None:
                lo, hi = sub[ci[0]].astype(float), sub[ci[1]].astype(float)
                err = {"type": "data", "symmetric": False, "array": (hi - y).to_numpy(),
                       "arrayminus": (y - lo).to_numpy(), "thickness": 0.8, "width": 0, "color": "#999999"}  # fmt: skip
            fig.add_trace(
                go.Scatter(x=sub["window_start"], y=y, mode="lines+markers", connectgaps=False, error_y=err,
                           marker={"size": 3, "color": color}, line={"width": 1, "color": color},
                           name=_esc(g if g is not None else m), showlegend=by is not None and i == 1),
                row=i, col=1,
            )  # fmt: skip
            low = sub["low_n"].to_numpy(dtype=bool) & np.isfinite(y.to_numpy())
            if low.any():
                fig.add_trace(
                    go.Scatter(x=sub.loc[low, "window_start"], y=y[low], mode="markers", name="low-n window",
                               marker={"size": 7, "color": "rgba(0,0,0,0)", "line": {"color": "#C44E52", "width": 1}},
                               showlegend=i == 1 and j == 0),
                    row=i, col=1,
                )  # fmt: skip
    fig.update_layout(**_LAYOUT, title=_esc(title), height=max(260, 190 * len(metrics)))
    return fig
