"""Benchmark: production monitoring on 10M SYNTHETIC log rows in Parquet.

Measures, in a fresh child process (so generation does not count toward memory):

* the full pipeline: ``load_logs`` (validation scan) + ``compute_windows`` (hourly
  windows: counts, exact quantiles, refusal regex, length histograms, order-statistic
  intervals) + ``detect_anomalies`` (all detectors);
* a plain DuckDB scan of the same file in the same process,
  ``SELECT count(*), avg(latency) FROM read_parquet(...)``, as the baseline;

and prints the wall time, rows/s, the ratio to the plain scan, and the peak RSS
(``ru_maxrss`` of the child, which includes DuckDB's native memory). Targets: under
60 s and under 4 GB.

Usage::

    python benchmarks/bench_monitor.py                 # 10M rows, data cached in $TMPDIR
    python benchmarks/bench_monitor.py --rows 1000000  # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 60.0
TARGET_GB = 4.0


def _generate(path: Path, rows: int, days: int, seed: int) -> None:
    from evaltools.synthetic import write_synthetic_parquet

    t0 = time.perf_counter()
    incidents = write_synthetic_parquet(path, rows=rows, days=days, seed=seed)
    size = path.stat().st_size / 1e6
    print(
        f"generated {path} ({size:,.0f} MB) in {time.perf_counter() - t0:.1f} s; incidents: {list(incidents['kind'])}"
    )


def _child(path: Path, window: str, memory_limit: str) -> dict[str, float]:
    """Run in a fresh process: the plain scan, then the pipeline; report times and peak RSS."""
    import warnings

    warnings.simplefilter("ignore")
    import duckdb

    import evaltools.monitor as mon

    con = duckdb.connect()
    t0 = time.perf_counter()
    n, avg = con.execute(f"SELECT count(*), avg(latency) FROM read_parquet('{path}')").fetchone()
    scan = time.perf_counter() - t0
    con.close()

    t0 = time.perf_counter()
    logs = mon.load_logs(path, memory_limit=memory_limit)
    t_load = time.perf_counter() - t0
    wm = mon.compute_windows(logs, window=window)
    t_windows = time.perf_counter() - t0 - t_load
    det = mon.detect_anomalies(wm)
    total = time.perf_counter() - t0
    t_detect = total - t_load - t_windows
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    from evaltools.synthetic import _incident_frame, default_incidents

    days = (wm.frame["window_start"].max() - wm.frame["window_start"].min()).days + 1
    score = mon.score_detection(det.to_frame(), _incident_frame(default_incidents("2024-01-01", days)), window=window)
    return {
        "rows": float(n),
        "avg_latency": float(avg),
        "scan_s": scan,
        "load_s": t_load,
        "windows_s": t_windows,
        "detect_s": t_detect,
        "total_s": total,
        "n_windows": float(len(wm.frame)),
        "n_alerts": float(len(det.alerts)),
        "peak_rss_gb": peak_kb / 1024**2,
        "false_alerts": float(score.n_false_alerts),
        "delays": score.incidents["delay_windows"].tolist(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--window", choices=("hour", "day"), default="hour")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--memory-limit", default="2GB", help="DuckDB memory limit (larger work spills to disk)")
    ap.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "evaltools_bench"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        print(json.dumps(_child(Path(args.child), args.window, args.memory_limit)))
        return 0

    path = Path(args.data_dir) / f"monitor_{args.rows}_{args.days}d_s{args.seed}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _generate(path, args.rows, args.days, args.seed)
    else:
        print(f"using cached {path}")
    cmd = [sys.executable, __file__, "--child", str(path), "--window", args.window, "--memory-limit", args.memory_limit]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    rows = r["rows"]
    print(f"\nrows: {rows:,.0f}  windows: {r['n_windows']:,.0f} ({args.window})  alerts: {r['n_alerts']:.0f}")
    print(f"plain DuckDB scan (count, avg latency): {r['scan_s']:.2f} s ({rows / r['scan_s']:,.0f} rows/s)")
    print(
        f"monitor pipeline: {r['total_s']:.1f} s = load {r['load_s']:.1f} + windows {r['windows_s']:.1f} "
        f"+ detection {r['detect_s']:.1f}  ({rows / r['total_s']:,.0f} rows/s)"
    )
    print(f"ratio pipeline / plain scan: {r['total_s'] / r['scan_s']:.0f}x")
    print(f"detection on these logs: delays (windows) {r['delays']}, false alerts {r['false_alerts']:.0f}")
    print(f"peak RSS of the process: {r['peak_rss_gb']:.2f} GB")
    ok_t = r["total_s"] < TARGET_SECONDS
    ok_m = r["peak_rss_gb"] < TARGET_GB
    print(f"targets: time < {TARGET_SECONDS:.0f} s: {'PASS' if ok_t else 'FAIL'}; "
          f"memory < {TARGET_GB:.0f} GB: {'PASS' if ok_m else 'FAIL'}")  # fmt: skip
    return 0 if (ok_t and ok_m) else 1


if __name__ == "__main__":
    sys.exit(main())
