"""Tests of evaltools.report.plots._base: one figure per analysis table, escaped labels, empty inputs."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from evaltools import report as analysis
from evaltools.errors import InputError
from evaltools.report import plots
from evaltools.report._data import ReportData, load_report_data

FIXTURE = Path(__file__).parents[1] / "fixtures" / "report_tiny"


@pytest.fixture(scope="module")
def data() -> ReportData:
    runs = [FIXTURE / "runs" / r for r in ("baseline", "candidate", "candidate-b")]
    return load_report_data(FIXTURE / "golden", runs)


@pytest.fixture(scope="module")
def effects(data: ReportData) -> pd.DataFrame:
    return analysis.effects_table(analysis.compare_runs(data.scores, "baseline", n_resamples=200))


def _builders(data: ReportData, effects: pd.DataFrame) -> dict[str, tuple]:
    return {
        "headline": (plots.headline_figure, analysis.headline_scores(data.scores)),
        "strata": (plots.strata_figure, analysis.stratum_breakdown(data.scores)),
        "failures": (plots.failures_figure, analysis.failures_by_kind(data.scores)),
        "tags": (plots.tag_failures_figure, analysis.failures_by_tag(data)),
        "unscored": (plots.unscored_figure, analysis.unscored_summary(data.scores)),
        "forest": (plots.forest_figure, effects),
        "wtl": (plots.win_tie_loss_figure, analysis.win_tie_loss(data.scores)),
        "distributions": (plots.score_distribution_figure, data.scores),
    }


BUILDERS = ["headline", "strata", "failures", "tags", "unscored", "forest", "wtl", "distributions"]


@pytest.mark.parametrize("name", BUILDERS)
def test_builders_return_figures_with_data(name: str, data: ReportData, effects: pd.DataFrame) -> None:
    build, frame = _builders(data, effects)[name]
    fig = build(frame)
    assert isinstance(fig, go.Figure)
    assert len(fig.data) >= 1
    assert fig.layout.title.text
    fig.to_json()  # serializable for the report


@pytest.mark.parametrize("name", BUILDERS)
def test_builders_handle_empty_tables(name: str, data: ReportData, effects: pd.DataFrame) -> None:
    build, frame = _builders(data, effects)[name]
    fig = build(frame.iloc[0:0])
    assert isinstance(fig, go.Figure) and len(fig.data) == 0
    assert fig.layout.annotations  # says why it is empty


@pytest.mark.parametrize("name", BUILDERS)
def test_builders_reject_frames_without_their_columns(name: str, data: ReportData, effects: pd.DataFrame) -> None:
    build, _ = _builders(data, effects)[name]
    with pytest.raises(InputError, match="lacks column"):
        build(pd.DataFrame({"x": [1]}))


def test_headline_one_trace_per_run_with_interval_bars(data: ReportData) -> None:
    headline = analysis.headline_scores(data.scores)
    fig = plots.headline_figure(headline)
    assert [t.name for t in fig.data] == ["baseline", "candidate", "candidate-b"]
    base = headline[headline["run_id"] == "baseline"]
    trace = fig.data[0]
    assert list(trace.x) == pytest.approx(base["mean_scaled"].tolist())
    # bars reach the (clipped) interval bounds
    upper = [m + e for m, e in zip(trace.x, trace.error_x.array, strict=True)]
    assert upper == pytest.approx(base["ci_high_scaled"].clip(0, 1).tolist())


def test_forest_marks_significance_and_tolerance(effects: pd.DataFrame) -> None:
    fig = plots.forest_figure(effects, tolerance=0.05)
    traces = [t for t in fig.data if t.name == "candidate-b"]
    assert [t.meta for t in traces] == list(dict.fromkeys(effects["dimension"]))  # one panel per dimension
    for trace in traces:
        rows = effects[(effects["candidate"] == "candidate-b") & (effects["dimension"] == trace.meta)]
        filled = [c != "white" for c in trace.marker.color]
        assert filled == rows["significant"].fillna(False).astype(bool).tolist()
    assert any(s.type == "rect" and s.x0 == -0.05 for s in fig.layout.shapes)


def test_forest_panels_are_symmetric_and_coloured_by_verdict(data: ReportData) -> None:
    gates = analysis.gate_runs(data.scores, rng=0, n_resamples=300)
    effects = analysis.effects_table(gates)
    fig = plots.forest_figure(effects, tolerance=0.01)
    axes = [fig.layout[k] for k in fig.layout if k.startswith("xaxis")]
    assert len(axes) == effects["dimension"].nunique()
    for ax in axes:  # symmetric around zero, at least three tolerances wide
        lo, hi = ax.range
        assert lo == -hi and hi >= 0.03
    verdicts = {(g.comparison.candidate_run, d.dimension): d.verdict.value for g in gates for d in g.dimensions}
    for trace in fig.data:
        if trace.meta is None:
            continue
        rows = effects[(effects["candidate"] == trace.name) & (effects["dimension"] == trace.meta)]
        overall = rows["stratum"].tolist().index("(all)")
        colour = trace.marker.line.color[overall]
        assert colour == plots.VERDICT_COLORS[verdicts[(trace.name, trace.meta)]]


def test_labels_are_escaped_so_plotly_shows_them_as_text() -> None:
    frame = pd.DataFrame({
        "run_id": ['<a href="javascript:alert(1)">x</a>'], "dimension": ["<b>dim</b>"], "mean": [0.5],
        "ci_low": [0.4], "ci_high": [0.6], "mean_scaled": [0.5], "ci_low_scaled": [0.4], "ci_high_scaled": [0.6],
        "n": [10], "n_scored": [10], "n_failed": [5], "ci_method": ["wilson"],
    })  # fmt: skip
    fig = plots.headline_figure(frame)
    assert fig.data[0].name == '&lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt;'
    assert fig.data[0].y[0] == "&lt;b&gt;dim&lt;/b&gt;"
    html = pio.to_html(fig, include_plotlyjs=False, full_html=False)
    assert "<b>dim" not in html and "</script><" not in html.split("<script", 1)[1].split("</script>")[0]


def test_distribution_bins_follow_the_scale(data: ReportData) -> None:
    fig = plots.score_distribution_figure(data.scores)
    judge = [t for t in fig.data if t.xaxis == "x5"]  # helpfulness (1-5) is the 5th panel
    assert [list(t.x) for t in judge][0] == [1, 2, 3, 4, 5]  # one bar per level
    base = data.scores.query("run_id == 'baseline' and dimension == 'helpfulness'")["value"].dropna()
    expected = [100 * (base == level).mean() for level in (1, 2, 3, 4, 5)]
    assert list(judge[0].y) == pytest.approx(expected)
    overlap = [t for t in fig.data if t.xaxis == "x4"][0]  # continuous: ten bins, the top one includes 1.0
    vals = data.scores.query("run_id == 'baseline' and dimension == 'answer_overlap'")["value"].dropna()
    assert len(overlap.x) == 10 and overlap.y[-1] == pytest.approx(100 * (vals >= 0.9).mean())
    assert sum(overlap.y) == pytest.approx(100)


def test_win_tie_loss_shares_add_up(data: ReportData) -> None:
    wtl = analysis.win_tie_loss(data.scores)
    fig = plots.win_tie_loss_figure(wtl)
    totals = [sum(t.x[i] for t in fig.data) for i in range(len(wtl))]
    assert all(math.isclose(v, 1.0) for v in totals)
