"""Plotly figures for the reports (plotly is imported on first use).

Evaluation and comparison figures take the frames of :mod:`evaltools.report`;
calibration figures take a :class:`~evaltools.calibration.CalibrationReport`;
monitoring figures take a :class:`~evaltools.monitor.MonitorResult` or a
series detection.
"""

from __future__ import annotations

from evaltools.report.plots._base import (
    OUTCOME_COLORS,
    PALETTE,
    VERDICT_COLORS,
    failures_figure,
    forest_figure,
    headline_figure,
    score_distribution_figure,
    strata_figure,
    tag_failures_figure,
    unscored_figure,
    win_tie_loss_figure,
    wrap_hover,
)
from evaltools.report.plots._calibration import (
    agreement_figure,
    calibration_figures,
    confusion_figure,
    judge_by_human_figure,
    position_bias_figure,
    ppi_by_dimension_figure,
    ppi_figure,
)
from evaltools.report.plots._monitor import (
    alert_timeline_figure,
    metric_figure,
    metrics_grid_figure,
    series_figure,
    window_metrics_figure,
)

__all__ = [
    "OUTCOME_COLORS",
    "PALETTE",
    "VERDICT_COLORS",
    "failures_figure",
    "forest_figure",
    "headline_figure",
    "score_distribution_figure",
    "strata_figure",
    "tag_failures_figure",
    "unscored_figure",
    "win_tie_loss_figure",
    "wrap_hover",
    "agreement_figure",
    "calibration_figures",
    "confusion_figure",
    "judge_by_human_figure",
    "position_bias_figure",
    "ppi_by_dimension_figure",
    "ppi_figure",
    "alert_timeline_figure",
    "metric_figure",
    "metrics_grid_figure",
    "series_figure",
    "window_metrics_figure",
]
