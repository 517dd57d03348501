"""Plotly figures for judge calibration: result in, Figure out.

Each builder takes a result computed by :mod:`evaltools.calibration._calibrate` (compute
first, plot second) and returns a ``plotly.graph_objects.Figure``. plotly is
imported lazily.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from evaltools.calibration import CalibrationReport, DimensionCalibration, PositionBiasResult, PPIResult
from evaltools.errors import InputError
from evaltools.report.plots._base import _go

__all__ = [
    "agreement_figure",
    "calibration_figures",
    "confusion_figure",
    "judge_by_human_figure",
    "position_bias_figure",
    "ppi_by_dimension_figure",
    "ppi_figure",
]

_GREEN, _RED, _GREY = "#1a7f37", "#b42318", "#6e7781"


def agreement_figure(report: CalibrationReport) -> Any:
    """Kappa per dimension with its interval, the trust floor, and the human-human ceiling.

    Args:
        report: the result of :func:`evaltools.calibrate`.

    Returns:
        A Figure: one point per dimension (green trusted, red not), error bars
        for the interval, a dashed line at the floor, and a diamond for the
        human-human alpha where it exists. Dimensions without a kappa (too
        few labels) are listed with no point.

    Examples:
        >>> from evaltools.calibration._calibrate import calibrate
        >>> judge, human = [1, 2, 3, 4, 5] * 3, [1, 2, 3, 4, 4] * 3
        >>> r = calibrate(judge, human, scale=range(1, 6), level="ordinal", n_resamples=100)
        >>> len(agreement_figure(r).data)
        2
    """
    go = _go()
    dims = [d.dimension for d in report]
    kappa = [d.kappa.value if d.kappa else math.nan for d in report]
    low = [d.kappa.value - d.kappa.ci_low if d.kappa else math.nan for d in report]
    high = [d.kappa.ci_high - d.kappa.value if d.kappa else math.nan for d in report]
    colours = [_GREEN if d.trusted else _RED for d in report]
    text = [d.summary() for d in report]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=kappa,
            y=dims,
            mode="markers",
            marker={"color": colours, "size": 11},
            error_x={"type": "data", "symmetric": False, "array": high, "arrayminus": low},
            name="judge vs human kappa",
            hovertext=text,
            hoverinfo="text",
        )
    )
    ceiling = [d.human_alpha.value if d.human_alpha else math.nan for d in report]
    fig.add_trace(
        go.Scatter(
            x=ceiling,
            y=dims,
            mode="markers",
            marker={"symbol": "diamond", "color": _GREY, "size": 10},
            name="human-human alpha (ceiling)",
        )
    )
    floors = {d.kappa_floor for d in report}
    for floor in floors:
        fig.add_vline(x=floor, line_dash="dash", line_color=_RED, annotation_text=f"floor {floor:.2f}")
    fig.update_layout(
        title="Judge agreement with humans",
        xaxis_title="Cohen's kappa (quadratic-weighted for ordinal)",
        xaxis_range=[-0.2, 1.05],
        height=120 + 60 * max(1, len(dims)),
        template="plotly_white",
    )
    return fig


def confusion_figure(result: DimensionCalibration) -> Any:
    """Heatmap of the confusion matrix (rows = human, columns = judge).

    Args:
        result: one dimension of a calibration.

    Returns:
        A Figure with counts annotated.

    Raises:
        InputError: the dimension has no confusion matrix (fewer than 10 paired labels).
    """
    if result.confusion is None:
        raise InputError(f"Dimension '{result.dimension}' has no confusion matrix: {'; '.join(result.reasons)}.")
    go = _go()
    c = result.confusion
    fig = go.Figure(
        go.Heatmap(
            z=c.to_numpy(),
            x=[str(v) for v in c.columns],
            y=[str(v) for v in c.index],
            colorscale="Blues",
            text=c.to_numpy(),
            texttemplate="%{text}",
            hovertemplate="human %{y}, judge %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{result.dimension}: human vs judge",
        xaxis_title="judge",
        yaxis_title="human",
        yaxis_autorange="reversed",
        template="plotly_white",
        width=420,
        height=400,
    )
    return fig


def judge_by_human_figure(result: DimensionCalibration) -> Any:
    """Mean judge score for each human value, against the diagonal of perfect agreement.

    Points above the diagonal show a lenient judge, below a harsh one.

    Args:
        result: one dimension of a calibration.

    Returns:
        A Figure.

    Raises:
        InputError: the dimension has no confusion matrix.
    """
    if result.confusion is None:
        raise InputError(f"Dimension '{result.dimension}' has no confusion matrix: {'; '.join(result.reasons)}.")
    go = _go()
    table = result.confusion.to_numpy(dtype=float)
    values = np.asarray(result.scale, dtype=float)
    n = table.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (table * values[None, :]).sum(axis=1) / n
    keep = n > 0
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=values, y=values, mode="lines", line={"dash": "dot", "color": _GREY}, name="perfect agreement")
    )
    fig.add_trace(
        go.Scatter(
            x=values[keep],
            y=mean[keep],
            mode="markers+lines",
            marker={"size": 6 + 20 * n[keep] / n.max()},
            name="mean judge score",
            text=[f"n={int(k)}" for k in n[keep]],
        )
    )
    fig.update_layout(
        title=f"{result.dimension}: judge score by human label",
        xaxis_title="human label",
        yaxis_title="mean judge score",
        template="plotly_white",
    )
    return fig


def ppi_figure(result: PPIResult, *, title: str = "Mean quality") -> Any:
    """Judge-only, human-only and PPI++ estimates with their intervals.

    Args:
        result: a :class:`~evaltools.calibration.PPIResult`.
        title: figure title.

    Returns:
        A Figure with three points and interval bars.
    """
    go = _go()
    frame = result.to_frame()
    fig = go.Figure(
        go.Scatter(
            x=frame["value"],
            y=frame["estimator"],
            mode="markers",
            marker={"size": 11, "color": [_GREY, _GREY, _GREEN]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": frame["ci_high"] - frame["value"],
                "arrayminus": frame["value"] - frame["ci_low"],
            },
            text=[f"n={n}" for n in frame["n"]],
        )
    )
    fig.update_layout(
        title=f"{title} ({result.confidence:.0%} intervals; PPI++ lambda={result.lam:.2f})",
        template="plotly_white",
        height=260,
    )
    return fig


def ppi_by_dimension_figure(frame: Any) -> Any:
    """Judge-only, human-only and PPI++ means for every dimension, one row of intervals each.

    Args:
        frame: the output of :func:`evaltools.calibration.ppi_by_dimension`.

    Returns:
        A Figure; dimensions without enough data are absent.
    """
    go = _go()
    fig = go.Figure()
    colours = {"judge only": _GREY, "human only": "#0969da", "PPI++": _GREEN}
    data = frame.dropna(subset=["value"])
    for estimator, colour in colours.items():
        part = data[data["estimator"] == estimator]
        fig.add_trace(
            go.Scatter(
                x=part["value"],
                y=part["dimension"],
                mode="markers",
                name=estimator,
                marker={"color": colour, "size": 10},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": part["ci_high"] - part["value"],
                    "arrayminus": part["value"] - part["ci_low"],
                },
            )
        )
    fig.update_layout(
        title="Mean quality per dimension: judge only, human only and PPI++",
        scattermode="group",
        template="plotly_white",
        height=140 + 70 * max(1, data["dimension"].nunique()),
    )
    return fig


def position_bias_figure(result: PositionBiasResult) -> Any:
    """Bar chart of the swap test: consistent pairs and the three kinds of flips.

    Args:
        result: a :class:`~evaltools.calibration.PositionBiasResult`.

    Returns:
        A Figure.
    """
    go = _go()
    consistent = round(result.consistency_rate.value * result.n_pairs) if result.n_pairs else 0
    labels = ["consistent", "first shown won both", "second shown won both", "tie in one order"]
    counts = [consistent, result.n_first_both, result.n_second_both, result.n_tie_one_order]
    fig = go.Figure(go.Bar(x=labels, y=counts, marker_color=[_GREEN, _RED, _RED, _GREY]))
    fig.update_layout(
        title=f"Position bias: {result.n_pairs} pairs, flip test p = {result.pvalue:.3g}",
        yaxis_title="pairs",
        template="plotly_white",
    )
    return fig


def calibration_figures(report: CalibrationReport) -> list[Any]:
    """Every figure of a calibration report, in reading order.

    Args:
        report: the result of :func:`evaltools.calibrate`.

    Returns:
        The agreement overview, then for each dimension with at least 10
        paired labels its confusion matrix and its judge-by-human plot.
        Empty when the report has no dimensions.
    """
    if not report.dimensions:
        return []
    figures = [agreement_figure(report)]
    for dim in report:
        if dim.confusion is not None:
            figures += [confusion_figure(dim), judge_by_human_figure(dim)]
    return figures
