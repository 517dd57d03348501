"""Tests of evaltools.report._render: notebooks executed with papermill on the tiny fixture, exported HTML
checked as text and in headless Chromium with networking off."""

from __future__ import annotations

import ast
import json
import re
import shutil
import sys
from html import unescape
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from evaltools.cli import _main as cli
from evaltools.cli.report import parse_param
from evaltools.errors import ConfigError, ReportError, RunError, VersionMismatchError
from evaltools.report._export import export_html, read_report_meta
from evaltools.report._render import (
    ReportCellError,
    ReportParameterError,
    _kernel_manager_class,
    available_reports,
    check_parameters,
    notebook_parameters,
    render_demo_reports,
    render_report,
    resolve_notebook,
)

sys.path.insert(0, str(Path(__file__).parents[1]))
from browser import Chromium, find_chromium  # noqa: E402

FIXTURE = Path(__file__).parents[1] / "fixtures" / "report_tiny"
GOLDEN = FIXTURE / "golden"
RUNS = [FIXTURE / "runs" / r for r in ("baseline", "candidate", "candidate-b")]
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
MY_NOTEBOOKS = ("eval", "comparison", "explore")
SCREENS = Path("/tmp/report_screens")
EXTERNAL = re.compile(r"<(script|link|img|iframe|embed|object)\b[^>]*\b(src|href|data)=[\"']?(https?:)?//", re.I)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("reports")
    done = render_demo_reports(GOLDEN, RUNS, out, timeout=300)
    return {"out": out, **{r.name: r for r in done}}


# --------------------------------------------------------------------------- notebooks


@pytest.mark.parametrize("name", MY_NOTEBOOKS)
def test_notebooks_are_thin(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    forbidden = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.While, ast.If,
                 ast.With, ast.Try, ast.ListComp, ast.DictComp, ast.GeneratorExp)  # fmt: skip
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not cell.get("outputs"), "notebooks are committed without outputs"
        for node in ast.walk(ast.parse(cell.source)):
            assert not isinstance(node, forbidden), f"{name}: {type(node).__name__} in a cell"
            if isinstance(node, ast.ImportFrom):
                assert node.module and node.module.startswith("evaltools")


def test_notebooks_are_found_and_parameters_listed() -> None:
    assert {"eval", "comparison", "explore"} <= set(available_reports())
    assert resolve_notebook("eval") == NOTEBOOKS / "eval.ipynb"
    params = notebook_parameters("comparison")
    assert list(params)[:3] == ["golden", "runs", "baseline"]


def test_unknown_parameter_is_an_error_listing_valid_ones() -> None:
    with pytest.raises(ReportParameterError, match=r"Unknown parameter\(s\) \['goldn'\].*Valid parameters: golden, "
                                                   r"runs") as exc:  # fmt: skip
        render_report("eval", {"goldn": "x", "runs": []})
    assert isinstance(exc.value, ConfigError) and isinstance(exc.value, ValueError)


def test_unknown_report_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError, match=r"Unknown report 'evl'\. Available reports: .*comparison.*eval"):
        render_report("evl", {})


def test_parameters_become_plain_values() -> None:
    params = check_parameters("eval", {"golden": GOLDEN, "runs": tuple(RUNS[:1]), "worst_k": 3})
    assert params == {"golden": str(GOLDEN), "runs": [str(RUNS[0])], "worst_k": 3}


def test_parse_param_errors_and_lists() -> None:
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_param(["golden"])
    declared = notebook_parameters("eval")
    assert parse_param(["runs=runs/a", "alpha=0.1"], declared) == {"runs": ["runs/a"], "alpha": 0.1}
    assert parse_param(['runs=["a", "b"]'], declared) == {"runs": ["a", "b"]}


def test_kernel_is_this_interpreter() -> None:
    km = _kernel_manager_class()(kernel_name="python3")
    spec = km.kernel_spec
    assert spec.argv[0] == sys.executable
    assert spec.env["PLOTLY_RENDERER"] == "plotly_mimetype"


# --------------------------------------------------------------------------- rendering


def test_reports_render_with_index_and_executed_notebooks(rendered: dict) -> None:
    out = rendered["out"]
    for name in ("eval", "comparison"):
        rep = rendered[name]
        assert rep.path == out / f"{name}.html" and rep.size_bytes < 10_000_000
        assert rep.n_figures >= 3
        nb = nbformat.read(rep.executed, as_version=4)
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors
        meta = read_report_meta(rep.path)
        assert meta["report"] == name and meta["run_ids"] == ["baseline", "candidate", "candidate-b"]
    index = (out / "index.html").read_text()
    assert 'href="eval.html"' in index and 'href="comparison.html"' in index
    assert "Model comparison" in index and "Evaluation report" in index


@pytest.mark.parametrize("name", ["eval", "comparison"])
def test_html_is_self_contained_with_header_and_hidden_inputs(rendered: dict, name: str) -> None:
    rep = rendered[name]
    html = rep.path.read_text()
    assert not EXTERNAL.search(html)
    assert html.count("window.PlotlyConfig") <= 1
    from evaltools.report._export import plotly_js

    assert html.count(plotly_js()[:300]) == 1  # plotly.js once per file
    assert html.count('class="et-plot-spec"') == rep.n_figures  # each figure's JSON, drawn by one loader
    assert html.index(plotly_js()[:300]) > html.rindex('class="et-plot-spec"')  # text first, plotly.js last
    from evaltools import __version__

    golden_version = json.loads((RUNS[0] / "manifest.json").read_text())["golden_version"]
    header = html[html.index('<header class="et-header">'):html.index("</header>")]
    for text in (golden_version, "baseline, candidate, candidate-b", __version__, "Rendered"):
        assert text in header
    assert "load_report_data(" not in html and "import analysis" not in html  # inputs hidden


def test_eval_report_sections(rendered: dict) -> None:
    html = rendered["eval"].path.read_text()
    for heading in ("Headline scores", "Per stratum", "Failures by kind", "Failures by tag",
                    "Worst items per dimension", "Unscored items and why"):  # fmt: skip
        assert heading in html
    text = unescape(html)
    assert "schema_violation" in html and "/priority: 'critical' is not one of" in text  # the failing path
    assert "grade_parse_failure" in html and "no_output" in html
    assert "&lt;script&gt;window.__xss" in html and "<script>window.__xss" not in html
    assert '<script>window.__xss = "output"' in text


def test_comparison_report_sections(rendered: dict) -> None:
    html = rendered["comparison"].path.read_text()
    for heading in ("Gate verdict", "Paired effects", "Significance table", "Win / tie / loss per item",
                    "Score distributions", "Item drilldown"):  # fmt: skip
        assert heading in html
    assert re.search(r"(PASS|NEEDS REVIEW|BLOCK)</span> \(exit code [034]\)", html)
    assert 'id="item-a-003"' in html  # the gate's Markdown links here
    assert html.index('class="et-headline') < html.index("Gate verdict")  # the card opens the page
    text = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)  # the page, not plotly.js or the CSS
    for raw in ("DIFF_SCALED", "diff_scaled<", ">ci_low", ">n_scored<", "NaN"):
        assert raw not in text, raw
    assert "&lt;img src=x onerror=" in html and "<img src=x" not in html


def test_missing_run_fails_with_the_cell_and_keeps_the_notebook(tmp_path: Path) -> None:
    out = tmp_path / "eval.html"
    where = r"failed in cell \d+ at line 4 \(`data = report.load_report_data\(golden, runs\)`\)"
    with pytest.raises(ReportCellError, match=where) as exc:
        render_report("eval", {"golden": str(GOLDEN), "runs": [str(tmp_path / "no-such-run")]}, out)
    err = exc.value
    assert isinstance(err, RunError) and isinstance(err, ReportError)
    assert "Run folder not found" in str(err) and err.ename == "RunError"
    assert Path(err.executed).exists() and not out.exists()


def test_version_mismatch_fails_with_version_mismatch_error(tmp_path: Path) -> None:
    run = tmp_path / "baseline"
    shutil.copytree(RUNS[0], run)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["golden_version"] = "feedfacecafe"
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(VersionMismatchError, match="feedfacecafe"):
        render_report("comparison", {"golden": str(GOLDEN), "runs": [str(RUNS[1]), str(run)]}, tmp_path / "c.html")


def test_broken_notebook_names_cell_and_error(tmp_path: Path) -> None:
    params = new_code_cell("divisor = 1")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell("x = 1"), new_code_cell("# why\nratio = 1 / divisor")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ReportCellError) as exc:
        render_report(path, {"divisor": 0}, tmp_path / "broken.html")
    err = exc.value
    assert err.ename == "ZeroDivisionError" and "at line 2 (`ratio = 1 / divisor`)" in str(err)
    assert err.cell_index == 3  # parameters, injected parameters, x = 1, the failing cell
    assert not isinstance(err, ValueError)
    executed = nbformat.read(err.executed, as_version=4)
    assert any(o.output_type == "error" for c in executed.cells for o in c.get("outputs", []))


def test_cli_renders_the_explorer_notebook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "explore", "--list-params"]) == 0
    assert "page_size = 10" in capsys.readouterr().out
    out = tmp_path / "explore.html"
    args = ["report", "explore", "--param", f"golden={GOLDEN}", "--param", f"runs={RUNS[0]}", "--param",
            f"runs={RUNS[2]}", "--param", "page_size=5", "--out", str(out), "--no-keep-executed"]  # fmt: skip
    assert cli.main(args) == 0
    assert out.exists() and not out.with_suffix(".ipynb").exists()
    assert "explore" in capsys.readouterr().out
    assert cli.main(["report", "explore", "--param", "nope=1", "--out", str(out)]) == 2
    assert "Valid parameters: golden, runs, page_size" in capsys.readouterr().err


# --------------------------------------------------------------------------- browser

PLOTS = "document.querySelectorAll('.js-plotly-plot').length"
DRAWN = "Array.from(document.querySelectorAll('.js-plotly-plot')).filter(d => d.querySelector('svg.main-svg')).length"
CHECKS = {
    "plots": PLOTS,
    "drawn": DRAWN,
    "graph_divs": "document.querySelectorAll('.plotly-graph-div').length",
    "xss": "window.__xss === undefined ? null : String(window.__xss)",
    "title": "document.title",
    "imgs": "document.querySelectorAll('img').length",
    "js_links": "Array.from(document.querySelectorAll('a'))"
                ".filter(a => /^\\s*javascript:/i.test(a.getAttribute('href') || '')).length",
    # textContent: the drilldown rows are collapsed (innerText skips closed details); scripts sit after main
    "text": "document.querySelector('main').textContent",
}
# every figure drawn: the loader draws them one by one, so "the drawn ones are all the plots" is not enough
ALL_DRAWN = (f"document.querySelectorAll('.plotly-graph-div').length > 0 && document.querySelectorAll("
             f"'[data-et-pending]').length === 0 && {DRAWN} === document.querySelectorAll('.plotly-graph-div').length")
needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="chromium not installed (apt-get install chromium)")


@pytest.mark.browser
@needs_chromium
def test_reports_in_headless_chromium_offline(rendered: dict, tmp_path: Path) -> None:
    with Chromium(tmp_path / "profile") as browser:
        for name, title in (("eval", "Evaluation report"), ("comparison", "Model comparison")):
            rep = rendered[name]
            shot = tmp_path / f"{name}.png"
            page = browser.open(rep.path, expressions=CHECKS, screenshot=shot, max_height=8000,
                                wait_for=ALL_DRAWN)  # fmt: skip
            assert page.console_errors == [], page.console_errors
            assert page.network_requests == []
            v = page.values
            assert v["plots"] == v["drawn"] == v["graph_divs"] == rep.n_figures
            # the XSS payloads are on the page as text and none of them ran
            assert v["xss"] is None and v["title"] == title
            assert v["imgs"] == 0 and v["js_links"] == 0
            assert '<script>window.__xss = "output"' in v["text"]
            assert shot.stat().st_size > 20_000
            try:
                SCREENS.mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, SCREENS / f"{name}.png")
            except OSError:
                pass


FIRST_PAINT = ("performance.getEntriesByType('paint').filter(e => e.name === 'first-contentful-paint')"
               ".map(e => Math.round(e.startTime))[0] || null")
CARD = ("(() => { const c = document.querySelector('.et-headline'); if (!c) return null; const r = "
        "c.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, verdict: "
        "c.querySelector('.et-verdict').textContent, text: c.innerText}; })()")
INTERVALS = """Array.from(document.querySelectorAll('table.et-table')).filter(t => /Headline scores|Scores per stratum/
  .test(t.caption ? t.caption.textContent : '')).flatMap(t => { const h = Array.from(t.querySelectorAll('th'))
  .map(x => x.textContent); return Array.from(t.querySelectorAll('tbody tr')).map(r => { const c = Array.from(
  r.children).map(x => x.textContent); return [c[h.indexOf('dimension')], c[h.indexOf('95% CI')]]; }); })"""
FILTER = """(() => { const root = document.querySelector('.et-drill'); const items = () => Array.from(
  root.querySelectorAll('.et-drill-item')).filter(i => !i.hidden).length; const out = {all: items()};
  const box = root.querySelector('input[type=search]'); box.value = 'a-003'; box.dispatchEvent(new Event('input'));
  out.search = items(); out.search_ids = Array.from(root.querySelectorAll('.et-drill-item')).filter(i => !i.hidden)
  .map(i => i.textContent.includes('a-003')); box.value = ''; box.dispatchEvent(new Event('input'));
  const sel = root.querySelector('select[data-key=direction]'); sel.value = 'fixed';
  sel.dispatchEvent(new Event('change')); out.fixed = items(); out.fixed_dirs = Array.from(
  root.querySelectorAll('.et-drill-item')).filter(i => !i.hidden).map(i => i.getAttribute('data-direction'));
  out.count = root.querySelector('.et-drill-count').textContent; return out; })()"""


@pytest.mark.browser
@needs_chromium
def test_reports_open_on_a_headline_and_the_drilldown_filters(rendered: dict, tmp_path: Path) -> None:
    from evaltools.report._tables import load_report_data

    data = load_report_data(GOLDEN, RUNS)
    scale = {d: (float(g["scale_min"].iloc[0]), float(g["scale_max"].iloc[0]))
             for d, g in data.scores.groupby("dimension")}  # fmt: skip
    with Chromium(tmp_path / "profile") as browser:
        for name in ("eval", "comparison"):
            page = browser.open(rendered[name].path, expressions={"card": CARD, "first_paint": FIRST_PAINT,
                                                                  "intervals": INTERVALS},
                                wait_for=ALL_DRAWN)  # fmt: skip
            card = page.values["card"]
            assert card is not None and 0 <= card["top"] and card["bottom"] <= browser.height  # above the fold
            assert card["verdict"] and "NaN" not in card["text"]
            assert page.values["first_paint"] is not None
            for dim, ci in page.values["intervals"]:
                if ci in ("\u2013", ""):
                    continue
                lo, hi = (float(v.rstrip("%")) / (100 if v.endswith("%") else 1) for v in ci.strip("[]").split(", "))
                assert scale[dim][0] - 1e-9 <= lo <= hi <= scale[dim][1] + 1e-9, (dim, ci)
        comparison = rendered["comparison"].path
        page = browser.open(comparison, expressions={"filter": FILTER})
        f = page.values["filter"]
        assert f["all"] > f["search"] >= 1 and all(f["search_ids"])
        assert 0 < f["fixed"] < f["all"] and set(f["fixed_dirs"]) == {"fixed"}
        assert f["count"] == f"{f['fixed']} of {f['all']} shown"
        page = browser.open(comparison.as_uri() + "#item-a-003", expressions={
            "open": "document.getElementById('item-a-003').open", "target": "document.querySelector(':target').id",
            "outline": "getComputedStyle(document.querySelector(':target')).outlineStyle"})  # fmt: skip
        assert page.values == {"open": True, "target": "item-a-003", "outline": "solid"}
        index = browser.open(rendered["out"] / "index.html", expressions={
            "verdicts": "Array.from(document.querySelectorAll('td .verdict')).map(e => e.textContent)",
            "rows": "document.querySelectorAll('tbody tr').length"})  # fmt: skip
        assert index.values["rows"] == 2 and len(index.values["verdicts"]) == 2
        assert index.console_errors == []


@pytest.mark.browser
@needs_chromium
def test_csp_stops_markup_that_escaped_escaping(tmp_path: Path) -> None:
    # Second line of defence: even raw HTML in an output (a display bug) cannot run script, and the
    # exporter's own figure script still runs.
    import plotly.graph_objects as go
    from nbformat.v4 import new_output

    cell = new_code_cell("x")
    cell.outputs = [
        new_output("display_data", data={"application/vnd.plotly.v1+json": go.Figure(go.Bar(y=[1, 2])).to_plotly_json(),
                                         "text/plain": "fig"}),
        new_output("display_data", data={"text/html": '<img src=x onerror="window.__xss=1"><script>window.__xss=2'
                                                      '</script><a id="l" href="javascript:window.__xss=3">l</a>'}),
    ]  # fmt: skip
    html, _ = export_html(new_notebook(cells=[cell]), {"title": "csp"})
    path = tmp_path / "csp.html"
    path.write_text(html)
    with Chromium(tmp_path / "profile") as browser:
        page = browser.open(path, expressions={"click": "document.getElementById('l').click(), 1", **CHECKS},
                            wait_for=f"{DRAWN} === 1")  # fmt: skip
    assert page.values["drawn"] == 1
    assert page.values["xss"] is None
    assert any("Content Security Policy" in m["text"] for m in page.console)
    assert page.network_requests == []  # the img src=x was not even fetched


def test_bad_out_and_timeout_are_config_errors(tmp_path: Path) -> None:
    params = {"golden": str(GOLDEN), "runs": [str(RUNS[0])]}
    with pytest.raises(ConfigError, match="must be an .html file"):
        render_report("eval", params, tmp_path / "report.pdf")
    with pytest.raises(ConfigError, match="'timeout' parameter"):
        render_report("eval", params, tmp_path / "report.html", timeout=0)


def test_notebook_search_path_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat.write(new_notebook(cells=[new_code_cell("a = 1")]), tmp_path / "custom.ipynb")
    monkeypatch.setenv("EVALTOOLS_NOTEBOOKS", str(tmp_path))
    assert resolve_notebook("custom") == tmp_path / "custom.ipynb"
    assert "custom" in available_reports()
    with pytest.raises(ReportParameterError, match="no cell tagged 'parameters'"):
        check_parameters("custom", {"a": 2})


def test_index_lists_reports_escaped(tmp_path: Path) -> None:
    from evaltools.report._render import write_index

    meta = {"title": "<b>T</b>", "report": "eval", "golden_name": "g", "golden_version": "v1",
            "run_ids": ["r<1>"], "rendered_at": "2026-01-01 00:00 UTC"}  # fmt: skip
    content = json.dumps(meta).replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    (tmp_path / "a report.html").write_text(f'<html><head><meta name="evaltools-report" content="{content}">')
    (tmp_path / "other.html").write_text("<html></html>")
    page = write_index(tmp_path).read_text()
    assert 'href="a%20report.html"' in page and "&lt;b&gt;T&lt;/b&gt;" in page and "r&lt;1&gt;" in page
    assert 'href="other.html"' in page and "<b>T" not in page
    assert 'href="index.html"' not in page
