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
