"""Production monitoring: logs to windows to metrics to alerts on rolling seasonal baselines.

The pipeline is four plain functions, each usable on its own::

    logs = load_logs("logs/")                      # JSONL / CSV / Parquet, lazy (DuckDB or Spark, via Ibis)
    windows = compute_windows(logs, window="hour")  # aggregated in the database
    detection = detect_anomalies(windows)           # rolling baselines, robust statistics
    detection.to_frame()                            # one row per alert, with an explanation

``detect_anomalies`` also takes any metric series (a pandas Series with a DatetimeIndex, 1 minute
to 1 day steps) and returns a :class:`SeriesDetection` indexed by its timestamps.

or one call: ``monitor("logs/", window="hour")``. Judge sampling of production
traffic lives here too: :func:`select_for_judging`, :func:`judge_sample` and
:func:`estimate_judged_mean`. Methods and references: ``STATS.md`` sections 3 and 4.
"""

from evaltools.monitor._alerts import DETECTORS, METRICS, Alert, Detection, DetectionConfig, SeriesDetection
from evaltools.monitor._api import (
    MonitorResult,
    alert_episodes,
    load_result,
    monitor,
)
from evaltools.monitor._detectors import detect_anomalies, fixed_threshold_alerts
from evaltools.monitor._evaluation import DetectionScore, compare_with_fixed_threshold, score_detection
from evaltools.monitor._logs import DataQuality, LogColumns, LogData, LogError, load_logs
from evaltools.monitor._readers import ENGINES, spark_session
from evaltools.monitor._sampling import (
    PopulationEstimate,
    estimate_judged_mean,
    judge_sample,
    rubric_judge_fn,
    sampling_unit,
    select_for_judging,
)
from evaltools.monitor._stats import psi
from evaltools.monitor._synthetic import Incident, SyntheticLogs, generate_synthetic_logs
from evaltools.monitor._windows import WindowMetrics, compute_windows, load_windows, order_statistic_ranks

__all__ = [
    "DETECTORS",
    "METRICS",
    "Alert",
    "DataQuality",
    "Detection",
    "DetectionConfig",
    "DetectionScore",
    "LogColumns",
    "LogData",
    "LogError",
    "MonitorResult",
    "PopulationEstimate",
    "SeriesDetection",
    "WindowMetrics",
    "alert_episodes",
    "compare_with_fixed_threshold",
    "compute_windows",
    "detect_anomalies",
    "estimate_judged_mean",
    "fixed_threshold_alerts",
    "judge_sample",
    "rubric_judge_fn",
    "load_logs",
    "load_result",
    "load_windows",
    "monitor",
    "order_statistic_ranks",
    "psi",
    "sampling_unit",
    "score_detection",
    "select_for_judging",
    "spark_session",
    "ENGINES",
    "Incident",
    "SyntheticLogs",
    "generate_synthetic_logs",
]
