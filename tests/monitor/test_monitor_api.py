"""monitor() end to end, the result object, episodes, the CLI hook and the figure builders."""

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from evaltools.cli.monitor import add_monitor_parser
from evaltools.errors import ConfigError, InputError
from evaltools.monitor import (
    MonitorResult,
    alert_episodes,
    compare_with_fixed_threshold,
    load_logs,
    monitor,
    score_detection,
)
from evaltools.monitor._synthetic import Incident, generate_synthetic_logs
from evaltools.report.plots import _monitor as plots_monitor


@pytest.fixture(scope="module")
def spiked():
    spike = Incident("latency_regression", "2024-01-24 13:00", "2024-01-24 17:00", 2.0)
    return generate_synthetic_logs(days=26, requests_per_hour=80, incidents=[spike], seed=31)


@pytest.fixture(scope="module")
def result(spiked):
    return monitor(spiked.logs, window="hour")


def test_monitor_end_to_end(result, spiked):
    assert isinstance(result, MonitorResult)
    assert result.params["window"] == "hour" and result.sources == ("<DataFrame>",)
    frame = result.to_frame()
    assert "group" not in frame.columns  # not monitoring by a column
    lat = frame[frame["metric"].str.startswith("latency")]
    assert (
        len(lat)
        and lat["window_start"]
        .between(pd.Timestamp("2024-01-24 13:00", tz="UTC"), pd.Timestamp("2024-01-24 17:00", tz="UTC"))
        .all()
    )
    score = score_detection(result.to_frame(), spiked.incidents, window="hour")
    assert score.all_detected and score.n_false_alerts == 0
    html = result._repr_html_()
    assert "alert episode" in html and "latency_p50" in html


def test_episodes_merge_consecutive_windows(result):
    ep = result.episodes()
    p50 = ep[ep["metric"] == "latency_p50"]
    assert len(p50) == 1  # four consecutive alerted hours: one episode
    row = p50.iloc[0]
    assert row["start"] == pd.Timestamp("2024-01-24 13:00", tz="UTC")
    assert row["end"] == pd.Timestamp("2024-01-24 17:00", tz="UTC")
    assert row["n_alerts"] >= 4 and "robust_z" in row["detectors"]
    assert alert_episodes(result.to_frame().iloc[0:0], window="hour").empty


def test_summary_and_comparison_with_the_fixed_threshold(result, spiked):
    s = result.summary().set_index("metric")
    assert s.loc["latency_p50", "n_alerts"] >= 4 and s.loc["n_requests", "n_alerts"] == 0
    cmp = compare_with_fixed_threshold(result, spiked.incidents)
    assert set(cmp["method"]) == {"rolling baselines", "fixed mean +/- 3 sd"}
    ours = cmp[cmp["method"] == "rolling baselines"].iloc[0]
    assert ours["detected"] and ours["delay_windows"] == 0


def test_monitor_by_segment(spiked):
    res = monitor(spiked.logs, window="day", by="segment", metrics=["latency_p50", "refusal_rate"])
    assert set(res.windows.frame["segment"]) == {"support", "billing", "sales"}
    assert set(res.detection.stats["group"]) == {"support", "billing", "sales"}
    assert "group" in res.to_frame().columns


def test_monitor_passes_loading_options(tmp_path):
    df = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC").strftime("%d/%m/%Y %H:%M"),
            "lat_ms": np.full(48, 1200.0),
        }
    )
    path = tmp_path / "logs.csv"
    df.to_csv(path, index=False)
    with pytest.raises(InputError, match="Could not parse the timestamp"):
        monitor(path, columns={"timestamp": "ts", "latency": "lat_ms"})
    logs = load_logs(path, columns={"timestamp": "ts", "latency": "lat_ms"}, latency_unit="ms",
                     timestamp_format="%d/%m/%Y %H:%M")  # fmt: skip
    res = monitor(logs, min_requests=1)
    assert res.windows.frame["latency_p50"].tolist() == pytest.approx([1.2] * 48)


def test_save_writes_csv_and_json(result, tmp_path):
    paths = result.save(tmp_path / "out", prefix="mon")
    names = sorted(p.name for p in paths)
    assert names == sorted(
        ["mon_windows.csv", "mon_alerts.csv", "mon_alerts.json", "mon_quality.csv", "mon_gaps.csv", "mon_summary.json"]
    )
    summary = json.loads((tmp_path / "out" / "mon_summary.json").read_text())
    assert summary["n_alerts"] == len(result.alerts) and summary["params"]["window"] == "hour"
    alerts = json.loads((tmp_path / "out" / "mon_alerts.json").read_text())
    assert len(alerts) == len(result.alerts) and "explanation" in alerts[0]
    windows = pd.read_csv(tmp_path / "out" / "mon_windows.csv")
    assert len(windows) == len(result.windows.frame)


def _cli(argv):
    root = argparse.ArgumentParser(prog="evaltools")
    add_monitor_parser(root.add_subparsers(dest="command"))
    args = root.parse_args(argv)
    return args.handler(args)


def test_cli_renders_through_the_report_machinery(spiked, tmp_path, monkeypatch):
    import evaltools.report._render

    calls = []
    monkeypatch.setattr(evaltools.report, "render_report", lambda name, params, out: calls.append((name, params, out)))
    logs = tmp_path / "logs.parquet"
    spiked.logs.to_parquet(logs)
    out = tmp_path / "reports" / "monitoring.html"
    code = _cli(["monitor", "--logs", str(logs), "--window", "hour", "--out", str(out), "--column", "segment=segment",
                 "--fail-on-alert"])  # fmt: skip
    assert code == 3  # there are alerts (the latency regression): a human must look
    ((name, params, got_out),) = calls
    assert name == "monitoring" and got_out == out
    assert (
        params["logs_path"] == str(logs) and params["window"] == "hour" and params["columns"] == {"segment": "segment"}
    )
    # every parameter the CLI passes is declared in the notebook's parameters cell
    import papermill

    declared = set(papermill.inspect_notebook(str(evaltools.report._render.resolve_notebook("monitoring"))))
    assert set(params) <= declared


def test_cli_aggregates_once_and_the_notebook_renders_from_that(spiked, tmp_path, monkeypatch):
    """The CLI saves its aggregation beside the report; the notebook renders from it, not from the logs."""
    import evaltools.monitor._api as api
    import evaltools.report._render
    from evaltools.monitor import load_result

    calls = []
    real = api.compute_windows
    monkeypatch.setattr(api, "compute_windows", lambda *a, **k: calls.append(1) or real(*a, **k))
    rendered = []
    monkeypatch.setattr(evaltools.report, "render_report", lambda name, params, out: rendered.append(params))
    logs = tmp_path / "logs.parquet"
    spiked.logs.to_parquet(logs)
    out = tmp_path / "reports" / "monitoring.html"
    assert _cli(["monitor", "--logs", str(logs), "--out", str(out)]) == 0
    assert len(calls) == 1
    (params,) = rendered
    result = load_result(params["result_path"])
    again = monitor(str(logs), window="hour")
    pd.testing.assert_frame_equal(result.to_frame(), again.to_frame())
    pd.testing.assert_frame_equal(result.detection.stats, again.detection.stats)
    saved = result.windows
    pd.testing.assert_frame_equal(saved.frame, again.windows.frame)
    pd.testing.assert_frame_equal(saved.histograms, again.windows.histograms)
    assert saved.sources == (str(logs),) and result.quality.n_rows_used == again.quality.n_rows_used
    # monitor() on the saved aggregation alone detects the same alerts without reading the logs
    logs.unlink()
    from_saved = monitor(saved, window="hour")
    assert len(calls) == 2  # the CLI's one and `again`
    pd.testing.assert_frame_equal(from_saved.to_frame(), again.to_frame())
    with pytest.raises(ConfigError, match="window='hour'"):
        monitor(saved, window="day")


def test_cli_spark_master_needs_the_spark_engine(tmp_path):
    with pytest.raises(ConfigError, match="--engine spark"):
        _cli(["monitor", "--logs", str(tmp_path), "--spark-master", "local[1]"])


def test_cli_bad_column_option(tmp_path):
    with pytest.raises(ConfigError, match="FIELD=NAME"):
        _cli(["monitor", "--logs", str(tmp_path), "--column", "timestamp"])


def test_figures_from_a_real_result(result, spiked):
    st = result.detection.stats
    fig = plots_monitor.metric_figure(st, "latency_p50")
    names = [t.name for t in fig.data]
    assert names[:3] == ["no-alert band", "baseline", "value"] and any("alert" in n for n in names[3:])
    grid = plots_monitor.metrics_grid_figure(st, ["latency_p50", "refusal_rate"])
    assert [a.text for a in grid.layout.annotations] == ["latency_p50", "refusal_rate"]
    tl = plots_monitor.alert_timeline_figure(result.to_frame(), incidents=spiked.incidents)
    assert len(tl.layout.shapes) == 1  # the incident is shaded
    wf = plots_monitor.window_metrics_figure(result.windows.frame)
    assert len(wf.data) >= 4
    empty = plots_monitor.metric_figure(st, "no_such_metric")
    assert "No statistics" in empty.layout.annotations[0].text
    with pytest.raises(InputError, match="lacks column"):
        plots_monitor.alert_timeline_figure(pd.DataFrame({"metric": []}))


def test_episodes_within_the_refractory_period_are_not_paged_again():
    ws = pd.to_datetime(["2024-01-01 03:00", "2024-01-01 07:00", "2024-01-01 12:00"], utc=True)
    al = pd.DataFrame({"metric": "latency_p99", "group": None, "detector": "robust_z", "window_start": ws,
                       "direction": "up", "value": 3.0, "baseline": 2.0, "distance": 6.0, "threshold": 5.0,
                       "explanation": "x"})  # fmt: skip
    ep = alert_episodes(al, window="hour")
    # 03:00 pages; 07:00 is 4 h later (inside the 6-hour refractory period); 12:00 is 9 h later
    assert ep["paged"].tolist() == [True, False, True]
    assert alert_episodes(al, window="hour", refractory="0h")["paged"].all()
