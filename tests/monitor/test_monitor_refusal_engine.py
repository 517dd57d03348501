"""The in-engine refusal flag agrees with the Python detector row for row; clean calls emit no warning."""

import json
import warnings
from pathlib import Path

import pandas as pd

from evaltools.monitor import compute_windows, load_logs, monitor
from evaltools.monitor._synthetic import generate_synthetic_logs
from evaltools.monitor._windows import refusal_expr
from evaltools.scorers.refusal import RefusalDetector, is_refusal

ROOT = Path(__file__).resolve().parents[2]

# Texts that stress case folding and the prefilter: each must get the same verdict in both engines.
_TRICKY = [
    "I CAN'T HELP WITH THAT.", "Je Ne Peux Pas Vous Aider.", "NÃO POSSO AJUDAR com isso", "ich kann IHNEN nicht helfen",
    "I can\u2019t help with that", "I can\u212at help", "I\u017fhall not", "Lo \u017fiento, pero no puedo",
    "LO SIENTO, PERO NO PUEDO", "DÉSOLÉ, MAIS JE NE PEUX PAS", "x" * 495 + "I can't help with that",
    "I can't wait to help!", "", "Hi, I cannot assist", "AI cannot help", "i\tcannot\nhelp you",
]  # fmt: skip


def _texts() -> list[str]:
    texts = list(_TRICKY)
    for line in (ROOT / "golden" / "support" / "items.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        texts += [item["ideal"], item["query"]]
    for run in sorted((ROOT / "runs").glob("*/outputs.jsonl")):
        texts += [json.loads(x).get("output") or "" for x in run.read_text(encoding="utf-8").splitlines()]
    syn = generate_synthetic_logs(days=2, requests_per_hour=200, incidents=None, seed=5)
    texts += syn.logs["output"].dropna().tolist()
    return texts


def test_in_engine_and_python_detectors_agree_on_golden_runs_and_synthetic_logs():
    texts = _texts()
    refusals = sum(map(is_refusal, texts))
    assert refusals >= 50 and len(texts) - refusals >= 1000  # both verdicts are well represented
    df = pd.DataFrame({"timestamp": pd.Timestamp("2024-01-01", tz="UTC"), "output": texts + [None]})
    logs = load_logs(df)
    t = logs.table
    got = logs.connection.to_pyarrow(t.select(r=refusal_expr(t.output, RefusalDetector()))).column("r").to_pylist()
    want = [is_refusal(x) for x in texts] + [None]
    bad = [(texts[i], g, w) for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w and i < len(texts)]
    assert not bad
    assert got[-1] is None  # a missing output is neither


def test_window_refusal_counts_are_the_python_detector_s():
    syn = generate_synthetic_logs(days=3, requests_per_hour=150, incidents=None, seed=9)
    wm = compute_windows(load_logs(syn.logs), window="hour")
    det = RefusalDetector()
    expected = syn.logs.assign(r=syn.logs["output"].map(det.is_refusal), w=syn.logs["timestamp"].dt.floor("h"))
    per_window = expected.groupby("w")["r"].sum()
    assert wm.frame.set_index("window_start")["n_refusals"].loc[per_window.index].tolist() == per_window.tolist()


def test_a_clean_monitor_call_on_a_dataframe_emits_no_warning():
    syn = generate_synthetic_logs(days=36, requests_per_hour=30, incidents=None, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # DeprecationWarning, Pandas4Warning, ResourceWarning... all fail
        result = monitor(syn.logs, window="day")  # 36 days: enough to score every metric
        del result
        import gc

        gc.collect()  # a temporary folder left behind would warn here
    assert True


def test_malformed_lines_copies_are_deleted_with_the_logs(tmp_path):
    import gc

    good = {"timestamp": "2024-01-01T00:00:00Z", "output": "ok", "latency": 1.0}
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(good) + "\n" + '{"timestamp": "2024-01-01T00:10:00Z", "outp\n' + json.dumps(good) + "\n")
    logs = load_logs(path, on_bad_rows="skip")
    assert logs.quality.count("malformed_line") == 1
    copies = [Path(f) for f in logs.to_frame()["source_file"].unique()]
    assert all(p.exists() for p in copies) and copies[0] != path
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del logs
        gc.collect()
    assert not any(p.exists() for p in copies)


def _repeated_logs(tmp_path: Path, n: int = 6_000) -> Path:
    """Parquet logs whose outputs repeat (dictionary-encoded, as a logger writes them), refusals included."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = _texts()[:400]
    rng = np.random.default_rng(4)
    idx = rng.integers(0, len(texts), n).astype(np.int32)
    mask = rng.random(n) < 0.02  # some missing outputs
    out = pa.array([None if m else texts[i] for i, m in zip(idx, mask, strict=True)]).dictionary_encode()
    ts = pd.date_range("2024-01-01", periods=n, freq="37s", tz="UTC")
    table = pa.table({"timestamp": pa.array(ts), "output": out, "latency": rng.exponential(1.0, n)})
    path = tmp_path / "repeated.parquet"
    pq.write_table(table, path, use_dictionary=True)
    return path


def test_refusal_flag_per_distinct_text_is_the_per_row_verdict_on_every_row(tmp_path):
    import ibis.expr.operations as ops

    from evaltools.monitor._windows import refusal_flag

    logs = load_logs(_repeated_logs(tmp_path))
    t, con, det = logs.table, logs.connection, RefusalDetector()
    auto = refusal_flag(t, det, con)
    assert isinstance(auto.op(), ops.InSubquery)  # repeated outputs: each text tested once
    row = refusal_flag(t, det, con, strategy="row")
    got = con.to_pyarrow(t.select(a=auto.fill_null(False), r=row.fill_null(False), o=t.output)).to_pandas()
    assert got["r"].sum() > 20  # refusals are present
    assert got["a"].tolist() == got["r"].tolist()
    want = [isinstance(o, str) and is_refusal(o) for o in got["o"]]
    assert got["r"].tolist() == want


def test_refusal_flag_tests_every_row_when_outputs_are_distinct():
    import ibis.expr.operations as ops

    from evaltools.monitor._windows import refusal_flag

    df = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=500, freq="min", tz="UTC"),
                       "output": [f"answer number {i}" for i in range(499)] + ["I can't help with that."]})  # fmt: skip
    logs = load_logs(df)
    flag = refusal_flag(logs.table, RefusalDetector(), logs.connection)
    assert not isinstance(flag.op(), ops.InSubquery)
    assert logs.connection.to_pyarrow(logs.table.aggregate(n=flag.cast("int64").sum())).column("n")[0].as_py() == 1


def test_refusal_flag_rejects_an_unknown_strategy():
    import pytest

    from evaltools.errors import ConfigError
    from evaltools.monitor._windows import refusal_flag

    logs = load_logs(pd.DataFrame({"timestamp": [pd.Timestamp("2024-01-01", tz="UTC")], "output": ["x"]}))
    with pytest.raises(ConfigError, match="'strategy'.*'auto', 'row' or 'distinct'"):
        refusal_flag(logs.table, RefusalDetector(), logs.connection, strategy="fast")  # type: ignore[arg-type]


def test_window_metrics_are_the_same_whichever_way_refusals_are_tested(tmp_path, monkeypatch):
    import evaltools.monitor._windows as windows

    path = _repeated_logs(tmp_path)
    fast = compute_windows(load_logs(path), window="hour", min_requests=5)
    monkeypatch.setattr(windows, "_MAX_DISTINCT_SHARE", -1.0)  # never per distinct text
    slow = compute_windows(load_logs(path), window="hour", min_requests=5)
    assert fast.frame["n_refusals"].sum() > 20
    pd.testing.assert_frame_equal(fast.frame, slow.frame)
