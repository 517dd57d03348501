"""Loading logs: formats, column mapping, and every documented bad-input case."""

import json

import numpy as np
import pandas as pd
import pytest

from evaltools.errors import ConfigError, InputError
from evaltools.monitor import LogColumns, LogError, compute_windows, detect_anomalies, load_logs


def _rows(n=6, start="2024-03-01T10:00:00Z", step_min=10):
    t0 = pd.Timestamp(start)
    return [
        {
            "timestamp": (t0 + pd.Timedelta(minutes=step_min * i)).isoformat().replace("+00:00", "Z"),
            "request_id": f"r{i}",
            "conversation_id": f"c{i // 2}",
            "output": "I can't help with that." if i == 1 else f"answer {i}",
            "latency": 0.5 + i,
            "completion_tokens": 10 + i,
        }
        for i in range(n)
    ]


def _write_jsonl(path, rows, tail=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail, encoding="utf-8")
    return path


def test_jsonl_csv_parquet_and_folder_give_the_same_table(tmp_path):
    rows = _rows()
    df = pd.DataFrame(rows)
    _write_jsonl(tmp_path / "a.jsonl", rows)
    df.to_csv(tmp_path / "b.csv", index=False)
    df.to_parquet(tmp_path / "c.parquet")
    frames = [load_logs(tmp_path / n).to_frame().sort_values("request_id") for n in ("a.jsonl", "b.csv", "c.parquet")]
    for f in frames[1:]:
        assert f["timestamp"].tolist() == frames[0]["timestamp"].tolist()
        assert f["latency"].tolist() == frames[0]["latency"].tolist()
        assert f["output"].tolist() == frames[0]["output"].tolist()
    folder = load_logs(tmp_path)  # a folder of mixed formats is one table
    assert folder.quality.n_rows_used == 3 * len(rows)
    assert len(folder.sources) == 3


def test_column_mapping_and_latency_in_ms(tmp_path):
    df = pd.DataFrame(_rows()).rename(columns={"timestamp": "ts", "latency": "latency_ms", "output": "text"})
    df["latency_ms"] *= 1000
    logs = load_logs(df, columns={"timestamp": "ts", "latency": "latency_ms", "output": "text"}, latency_unit="ms")
    out = logs.to_frame()
    assert out["latency"].tolist() == pytest.approx([0.5 + i for i in range(6)])  # converted to seconds
    assert "output" in logs.available and "latency" in logs.available
    assert isinstance(LogColumns(), LogColumns)


def test_unknown_field_in_mapping_is_a_config_error():
    with pytest.raises(ConfigError, match="Valid fields"):
        load_logs(pd.DataFrame(_rows()), columns={"timestmp": "ts"})


def test_explicitly_mapped_column_must_exist(tmp_path):
    path = _write_jsonl(tmp_path / "logs.jsonl", _rows())
    with pytest.raises(InputError) as err:
        load_logs(path, columns={"latency": "latency_ms"})
    assert err.value.field == "latency_ms"
    assert err.value.path == str(path)


def test_missing_timestamp_column_names_file_and_field(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "timestamp"} for r in _rows()]
    path = _write_jsonl(tmp_path / "logs.jsonl", rows)
    with pytest.raises(InputError) as err:
        load_logs(path)
    assert err.value.path == str(path) and err.value.field == "timestamp"
    assert isinstance(err.value, LogError) and isinstance(err.value, ValueError)


def test_missing_timestamp_values_are_excluded_and_counted(tmp_path):
    rows = _rows()
    rows[2]["timestamp"] = None
    rows[4]["timestamp"] = ""
    logs = load_logs(_write_jsonl(tmp_path / "logs.jsonl", rows))
    assert logs.quality.count("missing_timestamp") == 2
    assert logs.quality.n_rows_read == 6 and logs.quality.n_rows_used == 4
    assert len(logs.to_frame()) == 4


def test_unparseable_timestamp_names_file_line_and_field(tmp_path):
    rows = _rows()
    rows[3]["timestamp"] = "yesterday at noon"
    path = _write_jsonl(tmp_path / "logs.jsonl", rows)
    with pytest.raises(InputError, match="yesterday at noon") as err:
        load_logs(path)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), 4, "timestamp")
    # skip mode: excluded and counted
    logs = load_logs(path, on_bad_rows="skip")
    assert logs.quality.count("unparseable_timestamp") == 1
    assert logs.quality.n_rows_used == 5


def test_unparseable_timestamp_in_csv_reports_the_physical_line(tmp_path):
    df = pd.DataFrame(_rows())
    df.loc[2, "timestamp"] = "31/02/2024 25:99"
    path = tmp_path / "logs.csv"
    df.to_csv(path, index=False)
    with pytest.raises(InputError) as err:
        load_logs(path)
    assert err.value.line == 4  # header is line 1, row index 2 is line 4


def test_custom_timestamp_format():
    df = pd.DataFrame({"timestamp": ["01/03/2024 10:05", "01/03/2024 11:10"], "latency": [1.0, 2.0]})
    out = load_logs(df, timestamp_format="%d/%m/%Y %H:%M").to_frame()
    assert out["timestamp"].tolist() == [
        pd.Timestamp("2024-03-01 10:05", tz="UTC"),
        pd.Timestamp("2024-03-01 11:10", tz="UTC"),
    ]


def test_offsets_are_converted_to_utc():
    df = pd.DataFrame(
        {
            "timestamp": ["2024-03-01T10:00:00Z", "2024-03-01T12:00:00+02:00", "2024-03-01T05:30:00-0430"],
            "latency": [1.0, 1.0, 1.0],
        }
    )
    out = load_logs(df).to_frame()
    # 12:00+02:00 is 10:00 UTC; 05:30-04:30 is 10:00 UTC
    assert out["timestamp"].dt.hour.tolist() == [10, 10, 10]
    assert str(out["timestamp"].dt.tz) == "UTC"


def test_mixed_naive_and_offset_timestamps_are_an_error_unless_a_zone_is_given(tmp_path):
    rows = _rows(4)
    rows[2]["timestamp"] = "2024-03-01 10:20:00"  # no offset
    path = _write_jsonl(tmp_path / "logs.jsonl", rows)
    with pytest.raises(InputError, match="assume_timezone") as err:
        load_logs(path)
    assert (err.value.line, err.value.field) == (3, "timestamp")
    logs = load_logs(path, assume_timezone="Europe/Paris")
    ts = logs.to_frame().sort_values("request_id")["timestamp"].tolist()
    assert ts[2] == pd.Timestamp("2024-03-01 09:20", tz="UTC")  # Paris is UTC+1 in March
    assert logs.quality.count("naive_timestamp") == 1


def test_naive_only_timestamps_are_read_as_utc():
    df = pd.DataFrame({"timestamp": ["2024-03-01 10:00:00", "2024-03-01 11:00:00"], "latency": [1.0, 2.0]})
    out = load_logs(df).to_frame()
    assert out["timestamp"].tolist()[0] == pd.Timestamp("2024-03-01 10:00", tz="UTC")
    with pytest.raises(ConfigError, match="IANA"):
        load_logs(df, assume_timezone="Mars/Olympus")


def test_numeric_epoch_timestamps_need_a_unit():
    df = pd.DataFrame({"timestamp": [1_709_287_200, 1_709_290_800], "latency": [1.0, 2.0]})
    with pytest.raises(InputError, match="timestamp_unit"):
        load_logs(df)
    out = load_logs(df, timestamp_unit="s").to_frame()
    assert out["timestamp"].iloc[0] == pd.Timestamp("2024-03-01 10:00", tz="UTC")
    out_ms = load_logs(df.assign(timestamp=df["timestamp"] * 1000), timestamp_unit="ms").to_frame()
    assert out_ms["timestamp"].iloc[1] == pd.Timestamp("2024-03-01 11:00", tz="UTC")


def test_negative_latency_is_counted_and_excluded_from_latency_metrics_only():
    rows = _rows(6)
    rows[0]["latency"] = -3.0
    rows[5]["latency"] = float("inf")
    logs = load_logs(pd.DataFrame(rows))
    assert logs.quality.count("invalid_latency") == 2
    wm = compute_windows(logs, window="hour", min_requests=1)
    f = wm.frame
    assert f["n_requests"].sum() == 6  # the requests still count
    assert f["n_latency_invalid"].sum() == 2
    assert f["n_latency"].sum() == 4
    # 10:00 window holds rows 0-5 (10-min steps): valid latencies 1.5, 2.5, 3.5, 4.5 -> median 3.0
    assert f.loc[0, "latency_p50"] == pytest.approx(3.0)


def test_truncated_jsonl_line_raises_with_file_and_line(tmp_path):
    path = _write_jsonl(tmp_path / "logs.jsonl", _rows(4), tail='{"timestamp": "2024-03-01T11:00:00Z", "outp')
    with pytest.raises(InputError, match="truncated mid-line") as err:
        load_logs(path)
    assert (err.value.path, err.value.line) == (str(path), 5)


def test_truncated_jsonl_line_can_be_skipped_with_a_count(tmp_path):
    rows = _rows(4)
    text = (
        json.dumps(rows[0]) + "\n" + '{"timestamp": "2024-03-01T1\n' + "".join(json.dumps(r) + "\n" for r in rows[1:])
    )
    path = tmp_path / "logs.jsonl"
    path.write_text(text, encoding="utf-8")
    logs = load_logs(path, on_bad_rows="skip")
    assert logs.quality.count("malformed_line") == 1
    issue = logs.quality.to_frame().set_index("issue").loc["malformed_line"]
    assert issue["example"] == f"{path}:2"
    assert logs.quality.n_rows_used == 4


def test_line_numbers_refer_to_the_original_file_after_skipping(tmp_path):
    rows = _rows(4)
    rows[3]["timestamp"] = "2024-03-01 10:30:00"  # naive among offset timestamps: ambiguous
    text = json.dumps(rows[0]) + "\n{broken\n" + "".join(json.dumps(r) + "\n" for r in rows[1:])
    path = tmp_path / "logs.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="mix timestamps") as err:
        load_logs(path, on_bad_rows="skip")  # the broken line 2 is skipped; the naive one is on line 5
    assert (err.value.path, err.value.line) == (str(path), 5)


def test_truncated_csv_line_raises_with_file_and_line(tmp_path):
    df = pd.DataFrame(_rows(5))
    path = tmp_path / "logs.csv"
    text = df.to_csv(index=False)
    path.write_text(text + '2024-03-01T12:00:00Z,r9,c9,"unterminated', encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_logs(path)
    assert (err.value.path, err.value.line) == (str(path), 7)
    logs = load_logs(path, on_bad_rows="skip")
    assert logs.quality.count("malformed_line") == 1 and logs.quality.n_rows_used == 5


def test_missing_path_and_unsupported_extension(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_logs(tmp_path / "nope.jsonl")
    (tmp_path / "logs.txt").write_text("x")
    with pytest.raises(InputError, match="Unsupported log file extension"):
        load_logs(tmp_path / "logs.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no log files"):
        load_logs(empty)


def test_no_usable_row_is_an_error():
    df = pd.DataFrame({"timestamp": [None, ""], "latency": [1.0, 2.0]})
    with pytest.raises(InputError, match="No row has a usable timestamp"):
        load_logs(df)


def test_empty_windows_are_gaps_never_zeros():
    ts = ["2024-03-01T10:05:00Z", "2024-03-01T10:25:00Z", "2024-03-01T13:40:00Z"]
    df = pd.DataFrame({"timestamp": ts, "latency": [1.0, 2.0, 3.0], "output": ["a", "b", "c"]})
    wm = compute_windows(load_logs(df), window="hour", min_requests=1)
    f = wm.frame
    assert f["window_start"].dt.hour.tolist() == [10, 11, 12, 13]
    assert f["gap"].tolist() == [False, True, True, False]
    gap_rows = f[f["gap"]]
    assert (gap_rows["n_requests"] == 0).all()
    for col in ("refusal_rate", "latency_p50", "latency_p99", "length_median", "judge_mean"):
        assert gap_rows[col].isna().all(), col  # NaN, never 0
    gaps = wm.gaps
    assert len(gaps) == 1 and gaps.loc[0, "n_windows"] == 2
    assert gaps.loc[0, "start"] == pd.Timestamp("2024-03-01 11:00", tz="UTC")
    assert gaps.loc[0, "end"] == pd.Timestamp("2024-03-01 13:00", tz="UTC")


def test_window_with_three_requests_is_low_n_without_order_statistic_ci():
    rng = np.random.default_rng(0)
    big = pd.date_range("2024-03-01 10:00", periods=500, freq="7s", tz="UTC")  # 500 requests at 10:xx
    small = pd.DatetimeIndex(["2024-03-01 11:10", "2024-03-01 11:20", "2024-03-01 11:30"], tz="UTC")
    df = pd.DataFrame({"timestamp": big.append(small), "latency": rng.lognormal(0, 0.5, 503), "output": "ok"})
    wm = compute_windows(load_logs(df), window="hour", min_requests=30)
    f = wm.frame.set_index(wm.frame["window_start"].dt.hour)
    assert f.loc[11, "n_requests"] == 3 and f.loc[11, "low_n"]
    assert not f.loc[10, "low_n"]
    # metrics are still shown for the small window...
    assert np.isfinite(f.loc[11, "latency_p50"])
    # ...but no order-statistic interval (and none at all for p99 below n = 368)
    assert np.isnan(f.loc[11, ["latency_p50_ci_low", "latency_p50_ci_high"]].astype(float)).all()
    assert np.isfinite(
        f.loc[10, ["latency_p50_ci_low", "latency_p50_ci_high", "latency_p99_ci_high"]].astype(float)
    ).all()
    # and it is never alerted on
    det = detect_anomalies(wm)
    assert not [a for a in det.alerts if a.window_start.hour == 11 and a.metric != "n_requests"]


def test_invalid_numbers_are_counted_not_coerced():
    df = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-03-01", periods=4, freq="10min", tz="UTC"),
            "completion_tokens": ["12", "lots", "-3", "40"],
            "judge_score": [4.0, float("inf"), None, 2.0],
        }
    )
    logs = load_logs(df)
    assert logs.quality.count("invalid_completion_tokens") == 2  # "lots" and -3
    assert logs.quality.count("invalid_judge_score") == 1  # inf; None is simply not judged
    out = logs.to_frame()
    assert out["completion_tokens"].isna().sum() == 2 and out["judge_score"].notna().sum() == 2


def test_typed_timestamps_with_a_zone_keep_the_exact_instant(tmp_path):
    # Parquet TIMESTAMPTZ is converted without DuckDB's per-row calendar cast: the same instants,
    # to the microsecond, before 1970 and across offsets, and NULL stays NULL.
    ts = pd.Series(pd.to_datetime(["1969-12-31T23:59:59.999999Z", "2024-03-31T01:30:00.000001+02:00",
                                   "2024-10-27T02:59:59.5-05:00", None], utc=True, format="ISO8601"))  # fmt: skip
    df = pd.DataFrame({"timestamp": ts, "latency": [1.0, 2.0, 3.0, 4.0]})
    df.to_parquet(tmp_path / "tz.parquet")
    logs = load_logs(tmp_path / "tz.parquet")
    assert logs.quality.count("missing_timestamp") == 1
    got = logs.to_frame().sort_values("latency")["timestamp"].reset_index(drop=True)
    pd.testing.assert_series_equal(got.dt.tz_convert("UTC").astype("datetime64[us, UTC]"),
                                   ts.iloc[:3].astype("datetime64[us, UTC]"), check_names=False)  # fmt: skip


def test_nanosecond_timestamps_with_a_zone_are_read(tmp_path):
    raw = ["2024-03-31T01:30:00.123456789+02:00", "2024-03-31T03:00:00Z"]
    ts = pd.Series(pd.to_datetime(raw, utc=True, format="ISO8601")).astype("datetime64[ns, UTC]")
    pd.DataFrame({"timestamp": ts, "latency": [1.0, 2.0]}).to_parquet(tmp_path / "ns.parquet")
    got = load_logs(tmp_path / "ns.parquet").to_frame().sort_values("latency")["timestamp"]
    assert [x.isoformat() for x in got.dt.tz_convert("UTC").dt.floor("us")] == [
        "2024-03-30T23:30:00.123457+00:00", "2024-03-31T03:00:00+00:00"]  # fmt: skip (rounded to the microsecond)
