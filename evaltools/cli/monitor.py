"""``evaltools monitor``: aggregate production logs once, detect, render the report."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaltools._util import EXIT_OK, EXIT_REVIEW
from evaltools.errors import ConfigError
from evaltools.monitor import ENGINES, METRICS, monitor, spark_session


def add_monitor_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``monitor`` subcommand to an ``argparse`` subparsers object.

    Args:
        subparsers: the object returned by ``parser.add_subparsers()``.

    Returns:
        The new subparser; its ``func`` default is :func:`run_monitor_command`.

    Examples:
        >>> root = argparse.ArgumentParser(prog="evaltools")
        >>> _ = add_monitor_parser(root.add_subparsers(dest="command"))
        >>> args = root.parse_args(["monitor", "--logs", "logs/", "--window", "day"])
        >>> args.window, args.out, args.handler is run_monitor_command
        ('day', 'reports/monitoring.html', True)
    """
    p = subparsers.add_parser(
        "monitor",
        help="monitor production logs: per-window metrics and alerts on rolling baselines",
        description="Aggregate production logs per window (DuckDB, or Spark with --engine spark), detect anomalies "
        "against rolling seasonal baselines, and write the monitoring report.",
    )
    p.add_argument("--logs", required=True, nargs="+", help="log files or folders (JSONL, CSV, Parquet)")
    p.add_argument("--window", choices=("hour", "day"), default="hour", help="window size (UTC)")
    p.add_argument("--out", default="reports/monitoring.html", help="report path (HTML)")
    p.add_argument("--by", choices=("segment", "model"), default=None, help="monitor each segment or model separately")
    p.add_argument("--metrics", default=None, help=f"comma-separated subset of: {','.join(METRICS)}")
    p.add_argument("--sensitivity", choices=("low", "medium", "high"), default="medium",
                   help="scales every detector threshold: high alerts on smaller moves")  # fmt: skip
    p.add_argument("--latency-unit", choices=("s", "ms"), default="s", help="unit of the latency column")
    p.add_argument("--assume-timezone", default=None, help="zone of timestamps without an offset, e.g. UTC")
    p.add_argument("--on-bad-rows", choices=("raise", "skip"), default="raise",
                   help="stop at a malformed line or timestamp, or skip and count it")  # fmt: skip
    p.add_argument("--max-tokens", type=int, default=None, help="completion cap when finish_reason is not logged")
    p.add_argument("--min-requests", type=int, default=30, help="windows with fewer requests are low-n")
    p.add_argument(
        "--column", action="append", default=[], metavar="FIELD=NAME",
        help="map a field to a column name, e.g. --column timestamp=ts (repeatable)",
    )  # fmt: skip
    p.add_argument("--engine", choices=ENGINES, default="duckdb", help="the engine that aggregates the logs")
    p.add_argument(
        "--spark-master", default=None, metavar="URL",
        help="with --engine spark: the cluster to run on (spark://host:7077, yarn...); default a local session",
    )  # fmt: skip
    p.add_argument("--fail-on-alert", action="store_true", help="exit with status 3 (review) when there is any alert")
    p.set_defaults(handler=run_monitor_command)
    parser: argparse.ArgumentParser = p
    return parser


def _parse_columns(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(
                f"The --column option must look like FIELD=NAME (e.g. timestamp=ts). Got {item!r} instead."
            )
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def run_monitor_command(args: argparse.Namespace) -> int:
    """Handle ``evaltools monitor``: aggregate once, detect, and render the report from that aggregation.

    The per-window aggregation (the expensive part) runs once, on DuckDB or on Spark
    (``--engine spark``, a local session unless ``--spark-master`` names a cluster). It is
    saved with the detection beside the report (``<stem>_data/``, see
    :meth:`MonitorResult.save_result`) and the monitoring notebook renders from it (its
    ``result_path`` parameter) instead of reading the logs and detecting again.

    Args:
        args: parsed arguments of the ``monitor`` subcommand.

    Returns:
        The exit status: 0, or 3 (review) with ``--fail-on-alert`` when there are alerts.

    Raises:
        InputError: for unreadable logs.
        ConfigError: for invalid options.
    """
    from evaltools.report import render_report

    metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    columns = _parse_columns(args.column)
    logs = args.logs[0] if len(args.logs) == 1 else list(args.logs)
    engine = getattr(args, "engine", "duckdb")
    master = getattr(args, "spark_master", None)
    if master is not None and engine != "spark":
        raise ConfigError("The --spark-master option needs --engine spark.")
    connection = spark_session(master) if engine == "spark" else None
    result = monitor(
        logs, window=args.window, by=args.by, metrics=metrics, sensitivity=args.sensitivity, columns=columns or None,
        latency_unit=args.latency_unit, assume_timezone=args.assume_timezone, on_bad_rows=args.on_bad_rows,
        max_tokens=args.max_tokens, min_requests=args.min_requests, engine=engine, connection=connection,
    )  # fmt: skip
    out = Path(args.out)
    print(
        f"{len(result.alerts)} alert(s) over {len(result.windows.frame)} {args.window} windows "
        f"({result.quality.n_rows_used:,} rows used of {result.quality.n_rows_read:,}; {engine})."
    )
    data_dir = result.save_result(out.with_name(f"{out.stem}_data"))
    params = {
        "logs_path": [str(x) for x in args.logs] if len(args.logs) > 1 else str(args.logs[0]),
        "result_path": str(data_dir.absolute()),
        "window": args.window, "by": args.by, "metrics": metrics, "sensitivity": args.sensitivity,
        "columns": columns, "latency_unit": args.latency_unit, "assume_timezone": args.assume_timezone,
        "on_bad_rows": args.on_bad_rows, "max_tokens": args.max_tokens, "min_requests": args.min_requests,
    }  # fmt: skip
    render_report("monitoring", params, out)
    print(f"Report written to {out} (per-window aggregation in {data_dir}).")
    return EXIT_REVIEW if (args.fail_on_alert and result.alerts) else EXIT_OK

