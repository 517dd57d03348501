"""Tests of the ipywidgets item explorer (evaltools.report._explore), driven without a browser."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaltools.errors import ConfigError
from evaltools.report import _explore as explore
from evaltools.report._data import load_report_data

FIXTURE = Path(__file__).parents[1] / "fixtures" / "report_tiny"
RUNS = [FIXTURE / "runs" / r for r in ("baseline", "candidate-b")]


@pytest.fixture()
def explorer() -> explore.ItemExplorer:
    return explore.explore(FIXTURE / "golden", RUNS, page_size=4)


def test_starts_unfiltered_and_paginates(explorer: explore.ItemExplorer) -> None:
    assert len(explorer.item_ids()) == 36
    assert explorer.page.max == 9  # ceil(36 / 4)
    assert explorer.view.value.count("<b>c-001</b>") == 1
    explorer.page.value = 9
    assert "page 9 of 9" in explorer.status.value and "<b>a-005</b>" in explorer.view.value


def test_filters_combine(explorer: explore.ItemExplorer) -> None:
    explorer.controls["run"].value = "candidate-b"
    explorer.controls["verdict"].value = "fail"
    explorer.controls["stratum"].value = "adversarial"
    rows = explorer.matches()
    assert set(rows["run_id"]) == {"candidate-b"} and set(rows["verdict"]) == {"fail"}
    assert set(rows["stratum"]) == {"adversarial"}
    assert explorer.item_ids() == sorted(set(rows["item_id"]))
    explorer.controls["dimension"].value = "helpfulness"
    assert set(explorer.matches()["dimension"]) == {"helpfulness"}
    explorer.controls["tag"].value = "triage"
    assert explorer.item_ids() == [] and "No item matches" in explorer.view.value


def test_filter_change_resets_the_page(explorer: explore.ItemExplorer) -> None:
    explorer.page.value = 3
    explorer.controls["stratum"].value = "edge"
    assert explorer.page.value == 1


def test_outputs_side_by_side_and_escaped(explorer: explore.ItemExplorer) -> None:
    explorer.controls["stratum"].value = "adversarial"
    html = explorer.render(["a-003"])
    assert "Output: baseline" in html and "Output: candidate-b" in html
    assert "<script>" not in html and "<img" not in html and "<a " not in html
    assert "&lt;script&gt;window.__xss = &quot;output&quot;" in html
    assert "&lt;img src=x onerror=" in html  # the query's payload too


def test_missing_output_says_why(explorer: explore.ItemExplorer) -> None:
    data = explorer.data
    failed = data.outputs[data.outputs["output"].isna()]
    item = str(failed["item_id"].iloc[0])
    assert "(no output: timeout" in explorer.render([item])


def test_accepts_loaded_data_and_validates_page_size() -> None:
    data = load_report_data(FIXTURE / "golden", RUNS[:1])
    assert explore.explore(data).data is data
    with pytest.raises(ConfigError, match="page_size"):
        explore.ItemExplorer(data, page_size=0)


def test_displays_as_a_widget(explorer: explore.ItemExplorer) -> None:
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_dropdowns_fit_their_longest_option(explorer: explore.ItemExplorer) -> None:
    for name, control in explorer.controls.items():
        width = control.layout.width
        assert width.endswith("ch"), width
        longest = max(len(str(label)) for label in control.options)
        # the description sits beside the select: both fit, with room for the arrow
        assert int(width[:-2]) >= longest + len(name) + 4, (name, width, longest)
        assert control.style.description_width == "initial"


def test_explorer_uses_jupyterlab_theme_colours(explorer: explore.ItemExplorer) -> None:
    html = explorer.render(["c-001"])
    assert "var(--jp-content-font-color1" in html and "var(--jp-layout-color2" in html
    # no colour that only works on a white page: every hex colour is a fallback inside var(...)
    import re

    bare = [m for m in re.finditer(r"#[0-9a-fA-F]{3,6}\b", html) if not html[: m.start()].rstrip().endswith(",")]
    assert bare == [], [html[m.start() - 40 : m.end()] for m in bare]
