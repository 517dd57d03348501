"""The SYNTHETIC production-log generator: determinism, seasonality, incidents."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from evaltools.errors import ConfigError
from evaltools.monitor import sampling_unit
from evaltools.monitor._synthetic import Incident, default_incidents, generate_synthetic_logs, write_synthetic_parquet
from evaltools.scorers.refusal import is_refusal


@pytest.fixture(scope="module")
def syn():
    return generate_synthetic_logs(days=14, requests_per_hour=100, incidents=None, seed=41)


def test_same_seed_same_logs_and_different_seed_different_logs(syn):
    again = generate_synthetic_logs(days=14, requests_per_hour=100, incidents=None, seed=41)
    pd.testing.assert_frame_equal(syn.logs, again.logs)
    other = generate_synthetic_logs(days=14, requests_per_hour=100, incidents=None, seed=42)
    assert len(other.logs) != len(syn.logs) or not other.logs["latency"].equals(syn.logs["latency"])


def test_schema_and_basic_ranges(syn):
    df = syn.logs
    assert list(df.columns) == [
        "timestamp", "request_id", "conversation_id", "model", "segment", "output", "latency", "prompt_tokens",
        "completion_tokens", "finish_reason", "judge_score",
    ]  # fmt: skip
    assert str(df["timestamp"].dt.tz) == "UTC" and df["timestamp"].is_monotonic_increasing
    assert df["request_id"].is_unique
    assert (df["latency"] > 0).all() and (df["completion_tokens"].between(1, 1024)).all()
    assert set(df["finish_reason"]) <= {"stop", "length"}
    judged = df["judge_score"].dropna()
    assert judged.isin([1, 2, 3, 4, 5]).all()
    assert 0.03 < len(judged) / len(df) < 0.07  # the 5 % conversation sample


def test_daily_and_weekly_seasonality(syn):
    df = syn.logs
    per_hour = df.groupby(df["timestamp"].dt.floor("h")).size()
    by_hour = per_hour.groupby(per_hour.index.hour).mean()
    assert by_hour[14] > 3 * by_hour[3]  # afternoon peak vs night
    per_day = df.groupby(df["timestamp"].dt.floor("D")).size()
    weekday = per_day[per_day.index.dayofweek < 5].mean()
    weekend = per_day[per_day.index.dayofweek >= 5].mean()
    assert weekday > 1.3 * weekend
    lat = df.groupby(df["timestamp"].dt.hour)["latency"].median()
    assert lat[14] > 1.2 * lat[3]  # slower under load


def test_judge_sample_is_the_hash_based_conversation_sample(syn):
    df = syn.logs
    judged_convs = set(df.loc[df["judge_score"].notna(), "conversation_id"])
    u = dict(zip(df["conversation_id"].unique(), sampling_unit(df["conversation_id"].unique()), strict=True))
    assert judged_convs == {c for c, v in u.items() if v < 0.05}


def test_refusal_texts_are_detected_and_near_misses_are_not(syn):
    df = syn.logs.iloc[:8000]  # the Python regex takes ~0.1 ms an output; a sample is enough
    flags = df["output"].map(is_refusal)
    assert 0.01 < flags.mean() < 0.04
    near = df["output"].str.startswith("I can't wait to help")
    assert near.any() and not flags[near].any()


def test_each_incident_moves_its_metrics():
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    incs = [
        Incident("length_regression", t0 + pd.Timedelta(days=2), t0 + pd.Timedelta(days=3), 2.0),
        Incident("refusal_spike", t0 + pd.Timedelta(days=4), t0 + pd.Timedelta(days=5), 0.2),
        Incident("latency_regression", t0 + pd.Timedelta(days=6), t0 + pd.Timedelta(days=7), 3.0),
        Incident("quality_drift", t0 + pd.Timedelta(days=8), t0 + pd.Timedelta(days=10), 1.0),
    ]
    syn = generate_synthetic_logs(days=11, requests_per_hour=150, incidents=incs, seed=43)
    df = syn.logs
    day = (df["timestamp"] - t0).dt.days
    tokens = df.groupby(day)["completion_tokens"].median()
    assert tokens[2] > 1.6 * tokens[[1, 3]].mean()
    near = df[day.between(3, 5)]
    refusals = near.assign(r=near["output"].map(is_refusal)).groupby(day)["r"].mean()
    assert refusals[4] > refusals[[3, 5]].mean() + 0.15
    latency = df.groupby(day)["latency"].median()
    assert latency[6] > 2.5 * latency[[5, 7]].mean()
    judge = df.groupby(day)["judge_score"].mean()
    assert judge[9] < judge[7] - 1.0  # a day and a half into a 1-point-a-day drift
    assert abs(judge[10] - judge[7]) < 0.3  # recovered after the end
    assert list(syn.incidents["kind"]) == [i.kind for i in incs]
    assert syn.incidents.loc[0, "metrics"] == ("length_median", "length_p90", "length_distribution", "max_hit_share")


def test_default_incidents_fit_the_range():
    assert [i.kind for i in default_incidents(days=60)] == [
        "length_regression", "refusal_spike", "latency_regression", "quality_drift",
    ]  # fmt: skip
    assert default_incidents(days=30) == ()


def test_validation():
    with pytest.raises(ConfigError, match="kind"):
        Incident("outage", "2024-01-01", "2024-01-02", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="end after it starts"):
        Incident("refusal_spike", "2024-01-02", "2024-01-01", 0.1)
    with pytest.raises(ConfigError, match="days"):
        generate_synthetic_logs(days=0)
    with pytest.raises(ConfigError, match="judge_rate"):
        generate_synthetic_logs(days=1, judge_rate=0)


def test_write_synthetic_parquet_streams_day_by_day(tmp_path):
    path = tmp_path / "logs.parquet"
    incidents = write_synthetic_parquet(path, rows=20_000, days=4, incidents=None, seed=44, row_group_size=3_000)
    meta = pq.ParquetFile(path).metadata
    assert 17_000 < meta.num_rows < 23_000
    assert meta.num_row_groups >= 4
    assert incidents.empty
    ids = pq.read_table(path, columns=["request_id"]).column(0).to_pylist()
    assert len(set(ids)) == len(ids)
    assert np.isfinite(pq.read_table(path, columns=["latency"]).column(0).to_numpy()).all()
