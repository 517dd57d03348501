"""The monitoring notebook: thin (parameters cell, no definitions) and executable end to end."""

import ast
import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "monitoring.ipynb"


def _cells():
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]


def test_first_code_cell_is_the_parameters_cell():
    code = [c for c in _cells() if c["cell_type"] == "code"]
    assert code[0]["metadata"].get("tags") == ["parameters"]
    assert sum("parameters" in c["metadata"].get("tags", []) for c in code) == 1


def test_cells_only_call_evaltools_and_define_nothing():
    for cell in _cells():
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse("".join(cell["source"]))
        for node in ast.walk(tree):
            assert not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda), node
            if isinstance(node, ast.ImportFrom):
                assert node.module.startswith("evaltools"), node.module
            if isinstance(node, ast.Import):
                assert all(a.name.startswith("evaltools") for a in node.names)


@pytest.mark.slow
@pytest.mark.parametrize("source", ["synthetic", "file", "saved"])
def test_notebook_renders(tmp_path, source):
    pytest.importorskip("papermill")
    from evaltools.monitor._synthetic import Incident, generate_synthetic_logs
    from evaltools.report._render import render_report

    params = {"window": "hour", "sensitivity": "medium"}
    if source == "synthetic":
        params.update(synthetic_days=22, synthetic_requests_per_hour=40, seed=1)
    else:
        spike = Incident("refusal_spike", "2024-01-22 10:00", "2024-01-22 14:00", 0.2)
        logs = tmp_path / "logs.parquet"
        generate_synthetic_logs(days=23, requests_per_hour=40, incidents=[spike], seed=2).logs.to_parquet(logs)
        params["logs_path"] = str(logs)
        if source == "saved":  # the aggregation `evaltools monitor` saves: the logs are not read again
            from evaltools.monitor import monitor

            params["result_path"] = str(monitor(str(logs)).save_result(tmp_path / "result"))
            logs.unlink()
    out = tmp_path / "monitoring.html"
    rendered = render_report("monitoring", params, out, index=False)
    html = out.read_text(encoding="utf-8")
    assert "Alert episodes" in html and "Data quality" in html
    # the cold start is stated: 22-23 days are not enough for the 3-week seasonal baseline
    assert "rolling baseline" in html
    if source != "synthetic":
        assert "Real logs: no known incidents" in html
        assert "Refusal rate was" in html or "Refusal rate has drifted" in html  # the spike was alerted on
    assert rendered is not None
