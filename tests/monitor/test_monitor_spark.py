"""The window aggregation on a real local Spark (Ibis's PySpark backend) agrees with DuckDB on the same logs.

One module-scoped local session (``local[2]``, bound to 127.0.0.1, no UI); small logs. Spark's
``percentile`` (what Ibis compiles quantiles to) is exact with linear interpolation, like DuckDB's
``quantile_cont``, so quantiles agree to floating-point rounding; counts and refusal rates exactly.
"""

import argparse
import json
import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

import evaltools as et  # noqa: E402
from evaltools.cli.monitor import add_monitor_parser
from evaltools.errors import LogError  # noqa: E402
from evaltools.monitor import load_result, spark_session
from evaltools.monitor._synthetic import Incident, generate_synthetic_logs  # noqa: E402

pytestmark = pytest.mark.slow

_COUNTS = ["n_requests", "n_output", "n_refusals", "n_length", "n_max_hit", "n_latency", "n_latency_invalid",
           "n_judged", "gap", "low_n"]  # fmt: skip
_QUANTILES = ["length_median", "length_p90", "latency_p50", "latency_p99", "latency_p50_ci_low", "latency_p50_ci_high",
              "latency_p99_ci_low", "latency_p99_ci_high", "judge_mean", "judge_ci_low", "judge_ci_high"]  # fmt: skip


@pytest.fixture(scope="module")
def spark():
    session = spark_session("local[2]")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """SYNTHETIC logs with a refusal spike, plus rows that stress the engines' differences."""
    spike = Incident("refusal_spike", "2024-01-16 09:00", "2024-01-16 13:00", 0.3)
    df = generate_synthetic_logs(days=16, requests_per_hour=12, incidents=[spike], seed=4).logs
    extra = pd.DataFrame({
        "timestamp": pd.to_datetime(["2024-01-16 10:05", "2024-01-16 10:06", "2024-01-16 10:07", "2024-01-16 10:08"],
                                    utc=True),
        "output": ["NÃO POSSO AJUDAR com isso.", "JE NE PEUX PAS VOUS AIDER.", None, "I can\u2019t help with that"],
        "latency": [-1.0, np.nan, 2.0, 1.5],
    })  # fmt: skip
    df = pd.concat([df, extra], ignore_index=True).sort_values("timestamp", ignore_index=True)
    d = tmp_path_factory.mktemp("spark_logs")
    path = d / "logs.parquet"
    df.to_parquet(path, coerce_timestamps="us", allow_truncated_timestamps=True)  # Spark reads micro-seconds
    return df, path


@pytest.fixture(scope="module")
def duck(logs):
    return et.monitor_logs(str(logs[1]), window="hour")


def _assert_windows_agree(a, b):
    fa, fb = a.windows.frame, b.windows.frame
    assert len(fa) == len(fb) > 300
    assert fa["window_start"].tolist() == fb["window_start"].tolist()  # Timestamps, whatever the unit
    for c in _COUNTS:
        assert fa[c].fillna(-1).tolist() == fb[c].fillna(-1).tolist(), c
    np.testing.assert_array_equal(fa["refusal_rate"].to_numpy(), fb["refusal_rate"].to_numpy())
    for c in _QUANTILES:
        np.testing.assert_allclose(fa[c].to_numpy(float), fb[c].to_numpy(float), rtol=1e-9, equal_nan=True, err_msg=c)
    pd.testing.assert_frame_equal(
        a.windows.histograms.reset_index(drop=True), b.windows.histograms.reset_index(drop=True), check_dtype=False
    )
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame(), check_dtype=False)


def test_spark_files_agree_with_duckdb(spark, logs, duck):
    on_spark = et.monitor_logs(str(logs[1]), window="hour", engine="spark", connection=spark)
    assert on_spark.windows.frame["n_refusals"].sum() == duck.windows.frame["n_refusals"].sum() > 20
    _assert_windows_agree(duck, on_spark)
    assert on_spark.quality.n_rows_used == duck.quality.n_rows_used == len(logs[0])
    assert on_spark.quality.count("invalid_latency") == duck.quality.count("invalid_latency") == 1
    spike = on_spark.windows.frame.set_index("window_start")["refusal_rate"]
    assert spike.loc["2024-01-16 09:00":"2024-01-16 12:00"].mean() > 3 * spike.loc[:"2024-01-15"].mean()


def test_an_ibis_table_from_a_spark_session(spark, logs, duck):
    import ibis

    spark.read.parquet(str(logs[1])).createOrReplaceTempView("prod_logs")
    table = ibis.pyspark.connect(spark).table("prod_logs")
    _assert_windows_agree(duck, et.monitor_logs(table, window="hour"))


def test_spark_reads_jsonl_and_names_a_malformed_line(spark, tmp_path):
    rows = [{"timestamp": f"2024-03-01T10:{m:02d}:00+01:00", "output": "ok", "latency": 1.0} for m in range(3)]
    lines = [json.dumps(r) for r in rows]
    (tmp_path / "a.jsonl").write_text("\n".join(lines[:2] + ['{"timestamp": "2024-03-01T10:09', lines[2]]) + "\n")
    with pytest.raises(LogError, match=r"a\.jsonl:3: Malformed JSON line"):
        et.load_logs(tmp_path / "a.jsonl", engine="spark", connection=spark)
    logs = et.load_logs(tmp_path / "a.jsonl", engine="spark", connection=spark, on_bad_rows="skip")
    assert logs.quality.count("malformed_line") == 1 and logs.quality.n_rows_used == 3
    assert logs.to_frame()["timestamp"].dt.hour.tolist() == [9, 9, 9]  # +01:00 converted to UTC


def test_cli_engine_spark(spark, logs, duck, tmp_path, monkeypatch):
    import evaltools.report

    rendered = []
    monkeypatch.setattr(evaltools.report, "render_report", lambda name, params, out: rendered.append(params))
    root = argparse.ArgumentParser(prog="evaltools")
    add_monitor_parser(root.add_subparsers(dest="command"))
    args = root.parse_args(["monitor", "--engine", "spark", "--logs", str(logs[1]), "--out", str(tmp_path / "m.html")])
    assert args.handler(args) == 0
    _assert_windows_agree(duck, load_result(rendered[0]["result_path"]))


def test_spark_refusals_per_distinct_text_equal_the_pattern_on_every_row(spark, logs):
    import ibis.expr.operations as ops

    from evaltools.monitor import load_logs
    from evaltools.monitor._windows import refusal_flag
    from evaltools.scorers.refusal import RefusalDetector

    data = load_logs(str(logs[1]), connection=spark)
    t, con, det = data.table, data.connection, RefusalDetector()
    auto = refusal_flag(t, det, con)
    assert isinstance(auto.op(), ops.InSubquery)  # the synthetic outputs repeat
    got = con.execute(t.select(rid=t.request_id, a=auto.fill_null(False),
                               r=refusal_flag(t, det, con, strategy="row").fill_null(False)))  # fmt: skip
    assert got["r"].sum() > 20
    assert got["a"].tolist() == got["r"].tolist()
