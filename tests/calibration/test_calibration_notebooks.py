"""Execute notebooks/calibration.ipynb and notebooks/annotate.ipynb with papermill on tiny data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from evaltools.calibration._labels import append_label, load_labels

papermill = pytest.importorskip("papermill")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
FIXTURES = ROOT / "tests" / "fixtures"


def _execute(name: str, tmp_path: Path, parameters: dict) -> nbformat.NotebookNode:
    out = tmp_path / f"out-{name}"
    papermill.execute_notebook(
        str(NOTEBOOKS / name),
        str(out),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    return nbformat.read(out, as_version=4)


def _text(nb: nbformat.NotebookNode) -> str:
    chunks = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            chunks.append(output.get("text", ""))
            chunks.extend(str(v) for v in output.get("data", {}).values())
    return "\n".join(chunks)


@pytest.mark.parametrize("name", ["calibration.ipynb", "annotate.ipynb"])
def test_notebooks_are_thin(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    for cell in code:
        assert "def " not in cell.source and "class " not in cell.source and "lambda" not in cell.source
        for line in cell.source.splitlines():
            if line.startswith(("import ", "from ")):
                assert line.startswith(("from evaltools", "import evaltools")), line


@pytest.mark.slow
def test_calibration_notebook_runs_on_tiny_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    human = rng.integers(1, 6, 80)
    judge = np.clip(human + rng.integers(-1, 2, 80), 1, 5)
    rows = [
        {
            "run_id": "r1",
            "item_id": f"q{i}",
            "dimension": "helpfulness",
            "value": float(judge[i]),
            "kind": "ordinal",
            "scale_min": 1.0,
            "scale_max": 5.0,
            "stratum": "common",
        }
        for i in range(80)
    ]
    (tmp_path / "scores.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    for i in range(60):  # 60 of 80 judged items labelled: 20 left for PPI's unlabelled set
        append_label(
            tmp_path / "labels",
            item_id=f"q{i}",
            run_id="r1",
            dimension="helpfulness",
            value=int(human[i]),
            annotator="ana",
        )
    # A pairwise judge that sides with the output shown first on a third of the pairs.
    truth = rng.choice(["A", "B"], 90)
    verdicts = []
    for i, t in enumerate(truth):
        first, second = ("A", "B") if i % 3 == 0 else (t, t)
        verdicts.append(
            {
                "item_id": f"p{i}",
                "first": first,
                "second": second,
                "human": t,
                "output_a": "a" * (40 + i),
                "output_b": "b" * 60,
            }
        )
    (tmp_path / "verdicts.jsonl").write_text("\n".join(json.dumps(v) for v in verdicts) + "\n")
    nb = _execute(
        "calibration.ipynb",
        tmp_path,
        {
            "score_paths": [str(tmp_path / "scores.jsonl")],
            "labels_dir": str(tmp_path / "labels"),
            "scales": {"helpfulness": [1, 2, 3, 4, 5]},
            "levels": {"helpfulness": "ordinal"},
            "n_resamples": 300,
            "pairwise_verdicts": str(tmp_path / "verdicts.jsonl"),
        },
    )
    text = _text(nb)
    assert "helpfulness: " in text and "n=60 labels" in text and "kappa " in text  # the headline card
    assert "Confusion matrix (rows = human, columns = judge)" in text
    assert "PPI++" in text
    assert "pairwise judge: NOT TRUSTED (n=90" in text
    assert "positional consistency 0.67" in text and "correct_both" in text
    assert "Position bias: 90 pairs" in text


@pytest.mark.slow
def test_annotate_notebook_runs_on_a_fixture_run(tmp_path: Path) -> None:
    from evaltools.runs._store import import_outputs

    golden_dir = tmp_path / "golden_tiny"
    shutil.copytree(FIXTURES / "golden_tiny", golden_dir)
    ids = [json.loads(line)["id"] for line in (golden_dir / "items.jsonl").read_text().splitlines() if line.strip()]
    src = tmp_path / "outputs.jsonl"
    src.write_text("\n".join(json.dumps({"id": i, "output": f"answer to {i} <b>bold?</b>"}) for i in ids) + "\n")
    run = import_outputs(src, golden_dir, run_id="tiny-run", runs_dir=tmp_path / "runs")
    nb = _execute(
        "annotate.ipynb",
        tmp_path,
        {
            "golden_dir": str(golden_dir),
            "run_dir": str(run.path),
            "annotator": "tester",
            "dimensions": {"helpfulness": [1, 2, 3, 4, 5]},
            "subset_size": 4,
        },
    )
    text = _text(nb)
    assert "(0, 4)" in text  # progress: nothing labelled yet, 4 items in the subset
    assert load_labels(golden_dir / "labels").empty
