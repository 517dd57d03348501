"""Tests of evaltools.report._display and evaltools.report._export (no kernel, no browser)."""

from __future__ import annotations

import math
import re

import nbformat
import pandas as pd
import plotly.graph_objects as go
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from evaltools import report as show
from evaltools.errors import InputError
from evaltools.report._export import PLOTLY_MIME, WIDGET_MIME, export_html, header_html, prepare_notebook

PAYLOADS = [
    "<script>window.__xss = 1</script>",
    '<img src=x onerror="window.__xss = 2">',
    '<a href="javascript:window.__xss = 3">click</a>',
    "**bold** [link](javascript:alert(1))",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_table_escapes_every_cell_and_header(payload: str) -> None:
    frame = pd.DataFrame({payload: [payload], "n": [3]})
    html = show.table(frame, caption=payload)._repr_html_()
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;") in html


@pytest.mark.parametrize("payload", PAYLOADS)
def test_cards_escape_texts_details_and_anchor(payload: str) -> None:
    frame = pd.DataFrame({"item_id": [payload], "query": [payload], "ideal": ["ok"], "output": [payload],
                          "failure": ["x"], "detail": [payload], "run_id": ["r"]})  # fmt: skip
    html = show.side_by_side(frame, anchor=True)._repr_html_()
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert re.search(r'id="item-[^"<>]*"', html)  # the anchor value is escaped, quotes included


def test_table_formats_numbers_and_missing_values() -> None:
    frame = pd.DataFrame({"pvalue": [0.0004, 0.2], "share": [0.125, math.nan], "mean": [1 / 3, 2.0],
                          "n_for_tolerance": [120.0, math.nan], "ok": [True, False]})  # fmt: skip
    html = show.table(frame, percent=["share"])._repr_html_()
    assert "&lt; 0.001" in html and "0.200" in html
    assert "12.5%" in html and "&ndash;" in html
    assert "0.333" in html and ">120<" in html and ">yes<" in html


def test_table_cuts_rows_and_says_so() -> None:
    html = show.table(pd.DataFrame({"a": range(10)}), max_rows=3)._repr_html_()
    assert html.count("<tr>") == 4 and "Showing 3 of 10 rows" in html


def test_table_and_cards_validate_columns() -> None:
    with pytest.raises(InputError, match="Unknown column"):
        show.table(pd.DataFrame({"a": [1]}), columns=["b"])
    with pytest.raises(InputError, match="Unknown text column"):
        show.side_by_side(pd.DataFrame({"a": [1]}))


def test_cards_anchor_first_occurrence_only() -> None:
    frame = pd.DataFrame({"item_id": ["x", "x", "y"], "query": "q", "ideal": "i", "output": "o"})
    html = show.side_by_side(frame, anchor=True)._repr_html_()
    assert html.count('id="item-x"') == 1 and html.count('id="item-y"') == 1


def _notebook_with_outputs(payload_html: str) -> nbformat.NotebookNode:
    fig = go.Figure(go.Bar(x=["a"], y=[1])).to_plotly_json()
    cell = new_code_cell("hidden_input_marker = 1")
    cell.outputs = [
        new_output("display_data", data={PLOTLY_MIME: fig, "text/plain": "Figure"}),
        new_output("display_data", data={"text/html": payload_html, "text/plain": "x"}),
        new_output("display_data", data={WIDGET_MIME: {"model_id": "1"}, "text/plain": "VBox()"}),
        new_output("display_data", data={"application/javascript": "window.__xss = 9", "text/plain": "js"}),
        new_output("stream", name="stderr", text="UserWarning: something\n"),
        new_output("display_data", data={"text/plain": "meta"}, metadata={"evaltools": {
            "golden_name": "g", "golden_version": "abc123", "run_ids": ["r1", "r2"]}}),
    ]  # fmt: skip
    nb = new_notebook(cells=[new_markdown_cell("## Section"), cell])
    nb.metadata["widgets"] = {"state": {}}
    return nb


def test_prepare_notebook_converts_figures_and_drops_active_content() -> None:
    nb, info = prepare_notebook(_notebook_with_outputs("<p>hi</p>"))
    outs = nb.cells[1].outputs
    assert info.n_figures == 1
    fig_html = outs[0]["data"]["text/html"]  # a sized placeholder and its JSON as inert data, no code
    assert 'class="et-plot plotly-graph-div"' in fig_html and '<script type="application/json"' in fig_html
    assert "Plotly.newPlot" not in fig_html
    assert all(WIDGET_MIME not in o.get("data", {}) for o in outs)
    assert all("application/javascript" not in o.get("data", {}) for o in outs)
    assert info.stderr == ["UserWarning: something\n"] and info.dropped_widgets == 1
    assert info.header["golden_version"] == "abc123"
    assert "widgets" not in nb.metadata


def test_export_html_is_offline_single_plotlyjs_and_has_header() -> None:
    html, info = export_html(_notebook_with_outputs("<p>hi</p>"), {"title": "T <1>", "evaltools_version": "9.9",
                                                                    "rendered_at": "today"})  # fmt: skip
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=[\"']?(https?:)?//", html)
    assert html.count("Plotly.newPlot(") == 1  # the one figure loader
    from evaltools.report._export import plotly_js

    marker = plotly_js()[:200]
    assert html.count(marker) == 1  # plotly.js embedded exactly once
    # text first: plotly.js comes after the last output, not in the head
    assert html.index("<p>hi</p>") < html.index(marker) and html.index(marker) > html.index("</main>")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "T &lt;1&gt;" in html and "abc123" in html and "r1, r2" in html and "9.9" in html
    assert "hidden_input_marker" not in html  # inputs hidden: the code cell's source is not in the page


def test_export_without_figures_skips_plotlyjs() -> None:
    nb = new_notebook(cells=[new_markdown_cell("text")])
    html, info = export_html(nb, {"title": "T"})
    assert info.n_figures == 0 and "Plotly" not in html
    csp = re.search(r"script-src ([^;]*);", html).group(1)
    assert len(csp.split()) == 1  # only the page script (drilldown filter, anchors)


def test_header_html_falls_back_to_parameters() -> None:
    text = header_html({"title": "x", "parameters": {"logs": "<p>"}, "evaltools_version": "1"})
    assert "Parameters" in text and "&lt;p&gt;" in text
    # the calibration report's parameters read as text, never as a Python dict
    text = header_html({"title": "x", "parameters": {"scales": {"helpfulness": [1, 2, 3, 4, 5]},
                                                     "levels": {"helpfulness": "ordinal"}, "seed": 0}})
    assert "helpfulness: 1-5" in text and "helpfulness: ordinal" in text
    assert "{" not in text and "[" not in text and "'" not in text
    assert 'href="index.html"' in text  # back to the index
