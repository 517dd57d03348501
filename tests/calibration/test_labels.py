"""Tests for evaltools.calibration._labels: the append-only labels files, CSV import, calibration subsets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from evaltools.calibration._labels import (
    LABEL_FIELDS,
    LabelError,
    LabelWarning,
    append_label,
    calibration_subset,
    labels_from_csv,
    load_labels,
)
from evaltools.errors import GoldenSetError, InputError

DIMS = {"helpfulness": range(1, 6), "refusal": [0, 1]}
ITEMS = ["q1", "q2", "q3"]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_append_writes_one_fsynced_line_per_label(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    append_label(tmp_path, item_id="q1", dimension="helpfulness", value=4, annotator="ana", run_id="r1")
    append_label(tmp_path, item_id="q2", dimension="refusal", value=1, annotator="ana")
    lines = _lines(tmp_path / "ana.jsonl")
    assert len(synced) == 2
    assert [tuple(rec) for rec in lines] == [LABEL_FIELDS, LABEL_FIELDS]
    assert lines[0]["item_id"] == "q1" and lines[0]["run_id"] == "r1" and lines[0]["value"] == 4.0
    assert lines[1]["run_id"] is None


def test_load_validates_against_items_and_scales(tmp_path: Path) -> None:
    append_label(tmp_path, item_id="q1", dimension="helpfulness", value=4, annotator="ana")
    append_label(tmp_path, item_id="q2", dimension="refusal", value=0, annotator="ben")
    frame = load_labels(tmp_path, items=ITEMS, dimensions=DIMS)
    assert list(frame.columns) == list(LABEL_FIELDS)
    assert frame[["item_id", "annotator", "value"]].values.tolist() == [
        ["q1", "ana", 4.0],
        ["q2", "ben", 0.0],
    ]


def _write_line(path: Path, rec: dict, line_end: str = "\n") -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(rec) + line_end)


GOOD = {
    "item_id": "q1",
    "run_id": None,
    "dimension": "helpfulness",
    "value": 3,
    "annotator": "ana",
    "time": "2024-06-01T10:00:00+00:00",
}


@pytest.mark.parametrize(
    ("change", "field", "match"),
    [
        ({"item_id": "q99"}, "item_id", "Label for unknown item 'q99'"),
        (
            {"dimension": "vibes"},
            "dimension",
            r"Unknown dimension 'vibes'; labelled dimensions are \['helpfulness', 'refusal'\]",
        ),
        ({"value": 7}, "value", r"Value 7 is outside the scale of 'helpfulness'"),
        ({"value": True}, "value", "must be a finite number"),
        ({"value": "4"}, "value", "must be a finite number"),
        ({"time": "yesterday"}, "time", "ISO 8601"),
        ({"annotator": ""}, "annotator", "non-empty string"),
        ({"run_id": 5}, "run_id", "string or null"),
    ],
)
def test_bad_labels_name_file_line_and_field(tmp_path: Path, change: dict, field: str, match: str) -> None:
    path = tmp_path / "ana.jsonl"
    _write_line(path, GOOD)
    _write_line(path, {**GOOD, **change})
    with pytest.raises(LabelError, match=match) as info:
        load_labels(tmp_path, items=ITEMS, dimensions=DIMS)
    err = info.value
    assert (err.path, err.line, err.field) == (str(path), 2, field)
    assert str(err).startswith(f"{path}:2, field '{field}': ")
    assert isinstance(err, GoldenSetError) and isinstance(err, ValueError)


def test_malformed_line_in_the_middle_is_an_error_but_a_torn_last_line_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "ana.jsonl"
    _write_line(path, GOOD)
    path.write_text(path.read_text() + '{"item_id": "q2", "dimen')  # killed mid-write: no newline
    with pytest.warns(LabelWarning, match="torn last line"):
        frame = load_labels(tmp_path, items=ITEMS, dimensions=DIMS)
    assert len(frame) == 1
    assert (tmp_path / "ana.jsonl.torn").read_text() == '{"item_id": "q2", "dimen\n'
    _write_line(path, GOOD)
    path.write_text(path.read_text() + "{not json\n")
    _write_line(path, GOOD)
    with pytest.raises(LabelError, match="not valid JSON") as info:
        load_labels(tmp_path)
    assert info.value.line == 3


def test_same_annotator_twice_latest_wins_and_both_stay_in_the_file(tmp_path: Path) -> None:
    append_label(
        tmp_path,
        item_id="q1",
        dimension="helpfulness",
        value=2,
        annotator="ana",
        time="2024-06-01T10:00:00+00:00",
    )
    append_label(
        tmp_path,
        item_id="q1",
        dimension="helpfulness",
        value=5,
        annotator="ana",
        time="2024-06-01T11:00:00+00:00",
    )
    # Written later but stamped earlier (e.g. imported): time decides, not file order.
    append_label(
        tmp_path,
        item_id="q1",
        dimension="helpfulness",
        value=1,
        annotator="ana",
        time="2024-05-01T11:00:00+00:00",
    )
    append_label(tmp_path, item_id="q1", dimension="helpfulness", value=3, annotator="ben")
    append_label(tmp_path, item_id="q1", dimension="helpfulness", value=4, annotator="ana", run_id="r2")
    assert len(_lines(tmp_path / "ana.jsonl")) == 4
    frame = load_labels(tmp_path, dimensions=DIMS)
    ana = frame[(frame["annotator"] == "ana") & frame["run_id"].isna()]
    assert ana["value"].tolist() == [5.0]
    assert sorted(frame["value"].tolist()) == [
        3.0,
        4.0,
        5.0,
    ]  # ben's label and ana's run r2 label are separate


def test_missing_folder_gives_an_empty_table(tmp_path: Path) -> None:
    frame = load_labels(tmp_path / "nothing")
    assert frame.empty and list(frame.columns) == list(LABEL_FIELDS)


def test_bad_annotator_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'annotator' name must be"):
        append_label(tmp_path, item_id="q1", dimension="tone", value=1, annotator="../etc/passwd")


def test_labels_from_csv_long_and_wide(tmp_path: Path) -> None:
    long_csv = tmp_path / "long.csv"
    pd.DataFrame(
        {
            "item_id": ["q1", "q2"],
            "dimension": ["helpfulness", "refusal"],
            "value": [4, 1],
            "annotator": ["cho", "cho"],
        }
    ).to_csv(long_csv, index=False)
    written = labels_from_csv(long_csv, tmp_path / "labels", items=ITEMS, dimensions=DIMS, run_id="r1")
    assert written["run_id"].tolist() == ["r1", "r1"]
    wide_csv = tmp_path / "wide.csv"
    wide_csv.write_text("item_id,helpfulness,refusal,comment\nq1,5,,fine\nq3,2,0,\n")
    labels_from_csv(wide_csv, tmp_path / "labels", annotator="dee", items=ITEMS, dimensions=DIMS)
    frame = load_labels(tmp_path / "labels", items=ITEMS, dimensions=DIMS)
    dee = frame[frame["annotator"] == "dee"]
    assert sorted(zip(dee["item_id"], dee["dimension"], dee["value"], strict=True)) == [
        ("q1", "helpfulness", 5.0),
        ("q3", "helpfulness", 2.0),
        ("q3", "refusal", 0.0),
    ]
    assert set(frame["annotator"]) == {"cho", "dee"}


def test_labels_from_csv_writes_nothing_when_a_row_is_bad(tmp_path: Path) -> None:
    csv = tmp_path / "l.csv"
    csv.write_text("item_id,helpfulness\nq1,4\nq2,9\n")
    with pytest.raises(LabelError, match="outside the scale") as info:
        labels_from_csv(csv, tmp_path / "labels", annotator="eve", items=ITEMS, dimensions=DIMS)
    assert (info.value.line, info.value.field) == (3, "value")  # header is line 1
    assert not (tmp_path / "labels").exists()
    csv.write_text("item_id,helpfulness\nq1,4\n")
    with pytest.raises(InputError, match="pass annotator="):
        labels_from_csv(csv, tmp_path / "labels", dimensions=DIMS)
    with pytest.raises(InputError, match="must be long .* or wide"):
        labels_from_csv(csv, tmp_path / "labels", annotator="eve")


def _pool() -> pd.DataFrame:
    strata = ["common"] * 600 + ["edge"] * 250 + ["adversarial"] * 150
    return pd.DataFrame({"id": [f"i{k}" for k in range(1000)], "stratum": strata})


def test_calibration_subset_largest_remainder_and_seed() -> None:
    pool = _pool()
    sub = calibration_subset(pool, 300, rng=7)
    assert sub.allocation == {"common": 180, "edge": 75, "adversarial": 45}
    assert len(sub.item_ids) == 300 and len(set(sub.item_ids)) == 300
    chosen = pool.set_index("id").loc[list(sub.item_ids), "stratum"].value_counts().to_dict()
    assert chosen == sub.allocation
    assert sub.seed == 7 and calibration_subset(pool, 300, rng=7).item_ids == sub.item_ids
    assert calibration_subset(pool, 300, rng=8).item_ids != sub.item_ids
    assert sub.inclusion_probability == {"common": 0.3, "edge": 0.3, "adversarial": 0.3}
    # 61 at 60/25/15: quotas 36.6 / 15.25 / 9.15 -> floors 36/15/9; the one left goes to the largest
    # remainder (common).
    assert calibration_subset(pool, 61, rng=0).allocation == {"common": 37, "edge": 15, "adversarial": 9}


def test_calibration_subset_targets_and_caps() -> None:
    pool = _pool().iloc[550:]  # 50 common, 250 edge, 150 adversarial
    sub = calibration_subset(pool, 200, targets={"common": 0.5, "edge": 0.3, "adversarial": 0.2}, rng=1)
    assert sub.allocation["common"] == 50  # capped at the stratum size
    assert sum(sub.allocation.values()) == 200
    assert sub.to_frame()["allocated"].sum() == 200
    with pytest.raises(InputError, match=r"must be an int in \[1, 450\]"):
        calibration_subset(pool, 451)
    with pytest.raises(InputError, match="Unknown strata in targets"):
        calibration_subset(pool, 10, targets={"rare": 1.0})


# --------------------------------------------------------------------------- torn tails (issue 10)

TORN_CHILD = """
import os, sys, time
path = sys.argv[1]
# What a kernel killed inside write(2) leaves: the first part of a label line.
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
os.write(fd, b'{"item_id": "q3", "run_id": null, "dimension": "helpful')
os.fsync(fd)
print("written", flush=True)
time.sleep(60)
"""


def test_label_after_a_crash_mid_append_does_not_glue_onto_the_fragment(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    append_label(tmp_path, item_id="q1", dimension="helpfulness", value=4, annotator="ana")
    append_label(tmp_path, item_id="q2", dimension="helpfulness", value=2, annotator="ana")
    path = tmp_path / "ana.jsonl"
    child = subprocess.Popen([sys.executable, "-c", TORN_CHILD, str(path)], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline() == b"written\n"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not path.read_bytes().endswith(b"\n")
    with pytest.warns(LabelWarning, match=r"moved a torn last line .* to .*ana.jsonl.torn"):
        append_label(tmp_path, item_id="q3", dimension="helpfulness", value=5, annotator="ana")
    frame = load_labels(tmp_path, items=ITEMS, dimensions=DIMS)  # no error, no warning left
    assert frame["item_id"].tolist() == ["q1", "q2", "q3"] and frame["value"].tolist() == [4.0, 2.0, 5.0]
    assert (tmp_path / "ana.jsonl.torn").read_bytes().startswith(b'{"item_id": "q3", "run_id": null, "dimension"')
    assert len(path.read_text().splitlines()) == 3


def test_a_complete_last_label_without_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "bo.jsonl"
    rec = {**GOOD, "annotator": "bo"}
    path.write_text(json.dumps(rec))  # hand-edited: whole label, no final newline
    with pytest.warns(LabelWarning, match="had no newline"):
        append_label(tmp_path, item_id="q2", dimension="refusal", value=1, annotator="bo")
    assert len(load_labels(tmp_path, items=ITEMS, dimensions=DIMS)) == 2
    assert not (tmp_path / "bo.jsonl.torn").exists()


def test_labels_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    src = tmp_path / "excel.csv"
    src.write_bytes("item_id,dimension,value\nq1,helpfulness,4\n".encode("utf-8-sig"))
    out = labels_from_csv(src, tmp_path / "labels", annotator="ana", items=ITEMS, dimensions=DIMS)
    assert out["item_id"].tolist() == ["q1"]


def test_padded_item_id_in_a_label_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"' q1' has leading or trailing whitespace; ids are matched exactly. Did you mean 'q1'"):
        append_label(tmp_path, item_id=" q1", dimension="helpfulness", value=4, annotator="ana")
    assert not (tmp_path / "ana.jsonl").exists()
