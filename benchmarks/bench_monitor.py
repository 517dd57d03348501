"""Benchmark: production monitoring on 10M SYNTHETIC log rows in Parquet, DuckDB and Spark.

The file has realistic outputs: 5,000 distinct texts of 20-1,500 characters (about 3 % of them
refusals in six languages), dictionary-encoded as a real logger's Parquet writer would, over 60
days of hourly traffic. Each measurement runs in a fresh child process (generation never counts
toward memory), alternating, repeated ``--repeats`` times; medians are printed:

``--outputs distinct`` makes every output its own text (the writer falls back to plain pages),
where no text repeats and the refusal pattern runs on every row.

* **bare DuckDB**: one hand-written hourly aggregation of the same columns (count, length
  median/p90, latency p50/p99, the refusal regex on the first 500 characters), the floor any
  tool built on DuckDB can reach;
* **et.monitor_logs**: the whole pipeline (validation scan, windows with exact quantiles,
  refusals, length histograms, order-statistic intervals, detection), with its peak RSS, and
  once split into its public steps (``load_logs`` / ``compute_windows`` / ``detect_anomalies``).
  Like the bare query's child, which imports duckdb before its clock starts, it is timed with
  its libraries imported; the one-off import time (Ibis, SciPy, statsmodels) is printed apart;
* **CLI end to end**: ``evaltools monitor --logs FILE --out report.html`` (aggregation once,
  then the report rendered from it);
* **Spark local**: ``et.monitor_logs(FILE, engine="spark")`` on a local session (``local[*]``),
  session start-up shown apart.

Targets: monitor_logs within 1.5x the bare DuckDB aggregation, peak RSS under 4 GB, the CLI
under 35 s. The machine may be shared: the load average is printed before and after.

Usage::

    python benchmarks/bench_monitor.py                    # 10M rows, data cached in $TMPDIR
    python benchmarks/bench_monitor.py --rows 1000000     # quicker
    python benchmarks/bench_monitor.py --no-spark --no-cli
    python benchmarks/bench_monitor.py --outputs distinct --no-spark --no-cli   # no output repeats
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 1.5
TARGET_GB = 4.0
TARGET_CLI_S = 35.0
N_TEXTS = 5_000

_WORDS = (
    "the order shipped yesterday and your refund was issued to the original payment method you can track it in "
    "account settings under billing our team reviewed the request please allow three to five business days for "
    "the change to appear if the problem persists contact support with the reference number below thanks for "
    "your patience here is a summary of the steps first open the app then select profile and choose security"
).split()
_REFUSALS = (
    "I'm sorry, but I can't help with that request.",
    "I cannot provide that information.",
    "As an AI language model, I can't do that.",
    "Je ne peux pas vous aider avec cette demande.",
    "Lo siento, pero no puedo ayudarte con eso.",
    "Es tut mir leid, aber ich kann dabei nicht helfen.",
    "Mi dispiace, ma non posso aiutarti con questo.",
    "Desculpe, mas não posso ajudar com isso.",
)


def _texts(rng: object) -> list[str]:
    """5,000 distinct outputs of 20-1,500 characters, about 3 % refusals (some after a preamble)."""
    import numpy as np

    assert isinstance(rng, np.random.Generator)
    out: list[str] = []
    lengths = np.clip(np.exp(rng.normal(5.3, 0.9, N_TEXTS)), 20, 1500).astype(int)
    for i, n in enumerate(lengths):
        words = rng.choice(_WORDS, size=max(4, n // 4))
        body = " ".join(words)
        if rng.random() < 0.03:
            ref = _REFUSALS[int(rng.integers(len(_REFUSALS)))]
            body = (ref + " " + body) if rng.random() < 0.7 else (" ".join(words[:8]) + ". " + ref + " " + body)
        text = f"{body[: n - 8]} #{i:05d}."  # distinct
        out.append(text)
    return out


def _generate(path: Path, rows: int, days: int, seed: int, distinct: bool = False) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    texts = pa.array(_texts(rng))
    start = np.datetime64("2024-01-01T00:00:00", "us").astype(np.int64)
    span = days * 86_400 * 1_000_000
    writer = None
    chunk = 1_000_000
    try:
        for lo in range(0, rows, chunk):
            n = min(chunk, rows - lo)
            ts = np.sort(start + (np.arange(lo, lo + n) * (span / rows)).astype(np.int64) + rng.integers(0, 1000, n))
            idx = rng.integers(0, N_TEXTS, n).astype(np.int32)
            ids = pa.array([f"r{lo + i}" for i in range(n)])
            output: pa.Array = pa.DictionaryArray.from_arrays(pa.array(idx), texts)
            if distinct:  # every output its own text: the writer falls back from dictionary pages to plain
                import pyarrow.compute as pc

                output = pc.binary_join_element_wise(texts.take(pa.array(idx)), ids, " ")
            table = pa.table(
                {
                    "timestamp": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
                    "request_id": ids,
                    "model": pa.DictionaryArray.from_arrays(
                        pa.array(np.zeros(n, np.int32)), pa.array(["assistant-v1"])
                    ),
                    "segment": pa.DictionaryArray.from_arrays(
                        pa.array(rng.integers(0, 3, n).astype(np.int32)), pa.array(["billing", "account", "other"])
                    ),
                    "output": output,
                    "latency": pa.array(np.exp(rng.normal(0.0, 0.5, n))),
                    "prompt_tokens": pa.array(rng.integers(50, 2000, n)),
                    "completion_tokens": pa.array(rng.integers(5, 400, n)),
                    "finish_reason": pa.DictionaryArray.from_arrays(
                        pa.array((rng.random(n) < 0.01).astype(np.int32)), pa.array(["stop", "length"])
                    ),
                }
            )
            if writer is None:
                writer = pq.ParquetWriter(str(path), table.schema, compression="zstd", use_dictionary=True)
            writer.write_table(table, row_group_size=500_000)
    finally:
        if writer is not None:
            writer.close()
    print(f"generated {path} ({path.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t0:.1f} s")


def _bare(path: Path) -> dict[str, float]:
    import duckdb

    from evaltools.scorers.refusal import RefusalDetector

    det = RefusalDetector()
    pattern = det.pattern.replace("'", "''")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    t0 = time.perf_counter()
    rows = con.execute(
        f"""SELECT date_trunc('hour', "timestamp") AS h, count(*) AS n,
                   quantile_cont(length(output), [0.5, 0.9]) AS len_q,
                   quantile_cont(latency, [0.5, 0.99]) AS lat_q,
                   sum(regexp_matches(substring(output, 1, {det.max_chars}), '{pattern}')::INT) AS refusals
            FROM read_parquet('{path}') GROUP BY h"""
    ).fetchall()
    took = time.perf_counter() - t0
    return {"s": took, "windows": float(len(rows)), "refusals": float(sum(r[4] for r in rows)),
            "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}  # fmt: skip


def _import_engine_libraries() -> None:
    """What ``monitor_logs`` imports on first use (Ibis, SciPy, statsmodels), as the bare query's
    child imports duckdb before its clock starts: both sides are timed with their libraries loaded,
    and the one-off import time is printed apart."""
    import ibis.backends.duckdb  # noqa: F401
    import scipy.stats  # noqa: F401
    import statsmodels.stats.proportion  # noqa: F401


def _monitor(path: Path, engine: str) -> dict[str, float]:
    import warnings

    warnings.simplefilter("error")  # a clean call emits no warning
    import evaltools as et

    t_session = 0.0
    conn = None
    if engine == "spark":
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        warnings.simplefilter("default")  # the JVM start-up chatter is not ours
        t0 = time.perf_counter()
        from evaltools.monitor import spark_session

        conn = spark_session()
        conn.sparkContext.setLogLevel("ERROR")
        t_session = time.perf_counter() - t0
    t0 = time.perf_counter()
    _import_engine_libraries()
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = et.monitor_logs(path, window="hour", engine=engine, connection=conn)
    took = time.perf_counter() - t0
    f = result.windows.frame
    return {"s": took, "import_s": t_import, "session_s": t_session, "windows": float(len(f)), "refusals": float(f["n_refusals"].sum()),
            "alerts": float(len(result.alerts)),
            "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}  # fmt: skip


def _split(path: Path) -> dict[str, float]:
    """The same pipeline as ``et.monitor_logs`` through its three public steps, each timed."""
    import warnings

    warnings.simplefilter("error")
    from evaltools.monitor import compute_windows, detect_anomalies, load_logs

    _import_engine_libraries()
    t0 = time.perf_counter()
    logs = load_logs(path)
    t1 = time.perf_counter()
    wm = compute_windows(logs, window="hour")
    t2 = time.perf_counter()
    detect_anomalies(wm)
    t3 = time.perf_counter()
    return {"load_s": t1 - t0, "windows_s": t2 - t1, "detection_s": t3 - t2, "s": t3 - t0}


def _child(kind: str, path: Path) -> dict[str, float]:
    if kind == "split":
        return _split(path)
    if kind == "bare":
        return _bare(path)
    if kind == "cli":
        out = Path(tempfile.mkdtemp(prefix="evaltools_bench_")) / "monitoring.html"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "evaltools.cli", "monitor", "--logs", str(path), "--out", str(out)],
                       check=True, capture_output=True, text=True)  # fmt: skip
        return {"s": time.perf_counter() - t0, "html_mb": out.stat().st_size / 1e6,
                "rss_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2}  # fmt: skip
    return _monitor(path, kind)


def _run(kind: str, path: Path) -> dict[str, float] | None:
    cmd = [sys.executable, __file__, "--child", kind, "--path", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:  # reported, and the other measurements still printed
        print(f"  {kind} FAILED (exit {proc.returncode}); stderr tail:\n{proc.stderr[-3000:]}", flush=True)
        return None
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {kind}: {json.dumps({k: round(v, 3) for k, v in result.items()})}  ({_load()})", flush=True)
    return result


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="runs of bare DuckDB and monitor_logs (medians)")
    ap.add_argument("--outputs", choices=("repeated", "distinct"), default="repeated",
                    help="5,000 texts repeated (dictionary-encoded) or every output distinct (plain pages)")
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument("--no-cli", action="store_true")
    ap.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "evaltools_bench"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--path", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        print(json.dumps(_child(args.child, Path(args.path))))
        return 0

    kind = "" if args.outputs == "repeated" else "_distinct"
    path = Path(args.data_dir) / f"monitor_real{kind}_{args.rows}_{args.days}d_s{args.seed}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _generate(path, args.rows, args.days, args.seed, distinct=args.outputs == "distinct")
    else:
        print(f"using cached {path}")
    print(f"before: {_load()}")
    bare, mon = [], []
    for _ in range(args.repeats):
        bare.append(_run("bare", path))
        mon.append(_run("duckdb", path))
    if None in bare or None in mon:
        print("targets: FAIL (a DuckDB measurement failed, see above)")
        return 1
    split = _run("split", path)
    cli = _run("cli", path) if not args.no_cli else None
    spark = _run("spark", path) if not args.no_spark else None
    print(f"after: {_load()}")

    b = statistics.median(r["s"] for r in bare)
    m = statistics.median(r["s"] for r in mon)
    rss = max(r["rss_gb"] for r in mon)
    ratio = m / b
    print(f"\nrows: {args.rows:,}  hourly windows: {mon[0]['windows']:.0f}  refusals: {mon[0]['refusals']:,.0f} "
          f"(bare query: {bare[0]['refusals']:,.0f})")  # fmt: skip
    print(f"bare DuckDB hourly aggregation: median {b:.2f} s of {[round(r['s'], 2) for r in bare]}")
    print(f"et.monitor_logs (DuckDB):       median {m:.2f} s of {[round(r['s'], 2) for r in mon]}  "
          f"alerts: {mon[0]['alerts']:.0f}")  # fmt: skip
    print(f"ratio monitor_logs / bare:      {ratio:.2f}x (target < {TARGET_RATIO}x); once per process, "
          f"importing Ibis, SciPy and statsmodels: {statistics.median(r['import_s'] for r in mon):.2f} s")  # fmt: skip
    print(f"peak RSS of monitor_logs:       {rss:.2f} GB (target < {TARGET_GB:.0f} GB)")
    ok = ratio < TARGET_RATIO and rss < TARGET_GB and mon[0]["refusals"] == bare[0]["refusals"]
    if split is not None:
        print(
            f"  split (one run, public steps): load_logs {split['load_s']:.2f} s, compute_windows "
            f"{split['windows_s']:.2f} s, detect_anomalies {split['detection_s']:.2f} s; total {split['s']:.2f} s"
        )
    if not args.no_cli and cli is None:
        print("CLI end to end: FAILED (see above)")
        ok = False
    if cli is not None:
        print(f"CLI end to end (aggregation + report): {cli['s']:.1f} s (target < {TARGET_CLI_S:.0f} s), "
              f"report {cli['html_mb']:.1f} MB")  # fmt: skip
        ok = ok and cli["s"] < TARGET_CLI_S
    if not args.no_spark and spark is None:
        print("Spark local: FAILED (see above)")
        ok = False
    if spark is not None:
        print(
            f"Spark local (local[*]) monitor_logs: {spark['s']:.1f} s ({spark['s'] / m:.1f}x DuckDB) + session "
            f"start {spark['session_s']:.1f} s; refusals {spark['refusals']:,.0f}, windows {spark['windows']:.0f}"
        )
        ok = ok and spark["refusals"] == mon[0]["refusals"] and spark["windows"] == mon[0]["windows"]
    print(f"targets: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
