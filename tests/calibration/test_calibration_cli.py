"""The ``evaltools calibrate`` subcommand on a tiny golden set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from evaltools.calibration._labels import append_label
from evaltools.cli._main import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    folder = tmp_path / "golden"
    shutil.copytree(FIXTURES / "golden_tiny", folder)
    card = yaml.safe_load((folder / "card.yaml").read_text())
    (folder / "rubrics").mkdir()
    shutil.copy(
        Path(__file__).resolve().parents[2] / "evaltools" / "scorers" / "rubrics" / "tone.yaml", folder / "rubrics" / "t.yaml"
    )
    card["dimensions"] = [
        {"name": "helpfulness", "scorer": "judge", "rubric": "helpfulness"},
        {"name": "tone", "scorer": "judge", "rubric": "rubrics/t.yaml"},  # relative to the golden folder
        {"name": "answer_exact", "scorer": "exact_match"},
    ]
    (folder / "card.yaml").write_text(yaml.safe_dump(card))
    return folder


def _ids(golden: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (golden / "items.jsonl").read_text().splitlines() if line.strip()]


def test_calibrate_command_prints_verdicts_and_writes_a_table(golden: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ids = _ids(golden)
    rng = np.random.default_rng(0)
    rows = []
    for rep in range(2):  # two runs, so 2 x 8 = 16 paired labels per dimension
        for item in ids:
            value = int(rng.integers(1, 6))
            rows.append({"run_id": f"r{rep}", "item_id": item, "dimension": "helpfulness", "value": value})
            append_label(
                golden / "labels", item_id=item, run_id=f"r{rep}", dimension="helpfulness", value=value, annotator="ana"
            )
    scores = tmp_path / "scores.jsonl"
    pd.DataFrame(rows).to_json(scores, orient="records", lines=True)
    out = tmp_path / "out" / "calibration.csv"
    code = main(["calibrate", str(scores), "--golden", str(golden), "--n-resamples", "200", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "helpfulness: NOT TRUSTED (n=16, kappa 1.00 [1.00, 1.00]) - too few labels: 16 paired labels" in printed
    table = pd.read_csv(out)
    assert table["dimension"].tolist() == ["helpfulness"] and table["kappa"].iloc[0] == 1.0


def test_calibrate_command_rejects_labels_for_unknown_dimensions(golden: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    append_label(golden / "labels", item_id=_ids(golden)[0], dimension="answer_exact", value=1, annotator="ana")
    scores = tmp_path / "scores.jsonl"
    scores.write_text(json.dumps({"run_id": "r", "item_id": "x", "dimension": "helpfulness", "value": 3}) + "\n")
    assert main(["calibrate", str(scores), "--golden", str(golden)]) == 2
    err = capsys.readouterr().err
    assert "ana.jsonl:1, field 'dimension': Unknown dimension 'answer_exact'" in err
    assert "['helpfulness', 'tone']" in err
