"""Stakeholder-first reports: intervals inside the scale, readable tables, headline cards, the index,
the drilldown and the compact notebook views (no kernel, no browser; the browser checks are in
tests/test_report.py)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from scipy import stats

from evaltools import report as analysis
from evaltools import report as show
from evaltools.calibration._ppi import ppi_by_dimension
from evaltools.report import _display
from evaltools.report._export import PLOTLY_MIME, export_html, read_report_meta, write_index
from evaltools.stats import bounded_mean_interval

FIXTURE = Path(__file__).parents[1] / "fixtures" / "report_tiny"
GOLDEN = FIXTURE / "golden"
RUNS = [FIXTURE / "runs" / r for r in ("baseline", "candidate", "candidate-b")]

# The reproductions of the issue: means whose plain t interval runs past the 1-5 scale.
CASES = {
    "helpfulness 4.955 [4.860, 5.049]": ([5.0] * 21 + [4.0], (4.860, 5.049)),
    "factual_accuracy 4.333 [2.620, 6.047]": ([5.0] * 5 + [1.0], (2.620, 6.047)),
    "stratum 4.0 [0.818, 7.182]": ([1.0, 5.0, 5.0, 5.0], (0.818, 7.182)),
}


def _plain_t(values: list[float]) -> tuple[float, float]:
    x = np.asarray(values)
    half = stats.t.isf(0.025, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def _table(values: list[float], dim: str = "helpfulness") -> pd.DataFrame:
    return pd.DataFrame({"run_id": "r", "item_id": [f"i{k}" for k in range(len(values))], "dimension": dim,
                         "value": values, "kind": "ordinal", "scale_min": 1.0, "scale_max": 5.0,
                         "failure": None, "stratum": "edge"})  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_intervals_stay_inside_the_scale(case: str) -> None:
    values, old = CASES[case]
    # the reproduction: the plain t interval the reports used to print
    assert [round(v, 3) for v in _plain_t(values)] == list(old)
    lo, hi = bounded_mean_interval(values, 1.0, 5.0)
    assert 1.0 <= lo < np.mean(values) < hi <= 5.0
    row = analysis.headline_scores(_table(values)).iloc[0]
    assert row["ci_method"] == "logit t"
    assert 1.0 <= row["ci_low"] < row["mean"] < row["ci_high"] <= 5.0
    assert 0.0 <= row["ci_low_scaled"] and row["ci_high_scaled"] <= 1.0
    strata = analysis.stratum_breakdown(_table(values)).iloc[0]
    assert 1.0 <= strata["ci_low"] and strata["ci_high"] <= 5.0


def test_bounded_interval_agrees_with_t_in_the_middle_and_degenerates_cleanly() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(2, 5, size=400).astype(float)  # mean near 3 on 1-5: far from both ends
    lo, hi = bounded_mean_interval(values, 1.0, 5.0)
    t_lo, t_hi = _plain_t(list(values))
    assert abs(lo - t_lo) < 0.01 and abs(hi - t_hi) < 0.01
    assert bounded_mean_interval([5.0, 5.0, 5.0], 1, 5) == (5.0, 5.0)  # zero variance on the bound
    assert all(math.isnan(v) for v in bounded_mean_interval([4.0], 1, 5))
    with pytest.raises(ValueError, match=r"must lie in \[1, 5\]"):
        bounded_mean_interval([0.0, 5.0], 1, 5)


def test_bounded_interval_covers_at_the_nominal_rate_near_the_ceiling() -> None:
    # Not tuned to a file: simulated 1-5 scores with most mass on 5, n = 30.
    rng = np.random.default_rng(1)
    probs = np.array([0.02, 0.03, 0.05, 0.15, 0.75])
    truth = float(np.dot(probs, np.arange(1, 6)))
    hits = 0
    trials = 2000
    for _ in range(trials):
        x = rng.choice(np.arange(1.0, 6.0), size=30, p=probs)
        lo, hi = bounded_mean_interval(x, 1, 5)
        hits += lo <= truth <= hi
    assert 0.92 <= hits / trials <= 0.98


def test_ppi_interval_is_clipped_to_the_scale_and_marked() -> None:
    # Near-ceiling judge and human scores: the symmetric CLT interval runs past 5.
    rng = np.random.default_rng(3)
    judge_values = np.where(rng.random(60) < 0.9, 5, 4).astype(float)
    judge = pd.DataFrame({"item_id": [f"i{k}" for k in range(60)], "dimension": "helpfulness",
                          "value": judge_values})  # fmt: skip
    human = judge.iloc[:8].assign(value=[5, 5, 5, 5, 5, 5, 5, 3], annotator="ana")
    raw = ppi_by_dimension(judge, human)
    assert raw["ci_high"].max() > 5.0  # the reproduction (the issue saw 5.4167)
    clipped = ppi_by_dimension(judge, human, scales={"helpfulness": [1, 2, 3, 4, 5]})
    assert clipped["ci_high"].max() <= 5.0 and clipped["ci_low"].min() >= 1.0
    marked = clipped[clipped["clipped"]]
    assert len(marked) and marked["note"].str.contains("clipped to the 1-5 scale").all()
    html = show.table(clipped.drop(columns=["lam"]), max_rows=None)._repr_html_()
    assert "clipped to the 1-5 scale" in html


# --------------------------------------------------------------------------- tables


def test_tables_have_readable_headers_one_number_format_and_coloured_verdicts() -> None:
    frame = pd.DataFrame({"run_id": ["a", "b"], "n_scored": [10, 12], "diff_scaled": [-0.25, math.nan],
                          "mean": [4.123456, math.nan], "ci_low": [3.9, math.nan], "ci_high": [4.3, math.nan],
                          "pvalue_adjusted": [0.0001, 0.5], "verdict": ["BLOCK", "PASS"],
                          "kappa": [0.5, 0.7], "kappa_low": [0.3, 0.5], "kappa_high": [0.7, 0.9]})  # fmt: skip
    html = show.table(frame, percent=["diff_scaled"])._repr_html_()
    heads = re.findall(r"<th>(.*?)</th>", html)
    assert heads == ["run", "scored", "change", "mean", "95% CI", "adj. p", "verdict", "kappa", "kappa 95% CI"]
    assert "NaN" not in html and "nan" not in html and "4.123456" not in html and "4.123" in html
    assert "[3.900, 4.300]" in html and "&lt; 0.001" in html and "-25.0%" in html
    assert "background:#cf222e" in html and "background:#1a7f37" in html  # BLOCK red, PASS green


# --------------------------------------------------------------------------- headline cards


@pytest.fixture(scope="module")
def data() -> analysis.ReportData:
    return analysis.load_report_data(GOLDEN, RUNS)


@pytest.fixture(scope="module")
def gates(data: analysis.ReportData) -> tuple:
    return analysis.gate_runs(data.scores, untrusted=["helpfulness"], rng=0, n_resamples=500)


def test_comparison_headline_names_the_verdict_the_decisive_dimensions_and_links(data, gates) -> None:
    card = show.comparison_headline(gates)
    worst = max(gates, key=lambda g: g.verdict.severity).verdict.value
    assert card.verdict == worst and card.tone == show.VERDICT_TONES[worst]
    html = card._repr_html_()
    bad = [d for g in gates for d in g.dimensions if d.verdict.value != "PASS"]
    for d in bad[:3]:
        assert show.esc(d.dimension) in html
    assert re.search(r"n=\d+", html)  # n beside every effect
    assert 'href="calibration.html"' in html  # the untrusted dimension links to the calibration report
    assert 'href="#item-' in html  # the largest drop
    bundle, meta = card._repr_mimebundle_()
    assert meta["evaltools"]["verdict"] == worst and meta[show.HEADLINE_KEY] is True


def test_eval_headline_shows_the_weakest_dimension_with_its_interval_and_n(data) -> None:
    headline = analysis.headline_scores(data.scores)
    card = show.eval_headline(headline, analysis.unscored_summary(data.scores))
    text = card._repr_html_()
    assert "weakest dimension" in text and "n=" in text and "NaN" not in text
    assert len(card.points) >= len(data.run_ids)


def test_gate_result_renders_as_the_compact_report_table(gates) -> None:
    g = gates[0]
    html = g._repr_html_()
    heads = re.findall(r"<th>(.*?)</th>", html)
    assert heads == ["dimension", "verdict", "gating", "n", "effect", "95% CI", "adj. p", "MDE", "why"]
    assert "<details>" in html or all(len(d.reasons) <= 1 for d in g.dimensions)  # reasons collapsed
    assert html.count('<tr id="gate-') == len(g.checks)  # the dimensions and the coverage check
    assert "ci_low_scaled" not in html and "NaN" not in html
    assert show.gate_summary([g])._repr_html_().count("<table") == 1
    cmp_html = g.comparison._repr_html_()
    top = cmp_html.split("<details>")[0]  # overall rows first, strata collapsed
    assert len(re.findall(r"<th>", top)) <= 11 and "pvalue_adjusted" not in cmp_html


def test_drilldown_sorted_by_change_with_diff_and_pretty_json(data) -> None:
    changes = analysis.item_changes(data)
    assert len(changes) and changes["diff_scaled"].dropna().is_monotonic_increasing
    html = show.drilldown(changes)._repr_html_()
    assert html.count('class="et-drill-item"') == len(changes)
    assert 'type="search"' in html and 'data-key="dimension"' in html and 'data-key="direction"' in html
    assert "<script" not in html.replace("&lt;script", "")
    assert 'class="et-del"' in html or 'class="et-ins"' in html
    old, new = show.word_diff(_display._pretty('{"a":1,"b":[1,2]}'), _display._pretty('{"a":2,"b":[1,2]}'))
    assert '&quot;b&quot;: [' in new and '<ins class="et-ins">2,</ins>' in new


# --------------------------------------------------------------------------- export and index


def _nb(card: show.Headline) -> object:
    import plotly.graph_objects as go

    html, meta = card._repr_mimebundle_()
    cell = new_code_cell("x")
    cell.outputs = [
        new_output("display_data", data={"text/html": "<p id='first-output'>table</p>", "text/plain": "t"}),
        new_output("display_data", data={PLOTLY_MIME: go.Figure(go.Bar(y=[1], name="</script><b>x")).to_plotly_json(),
                                         "text/plain": "fig"}),
        new_output("display_data", data=html, metadata=meta),
    ]  # fmt: skip
    return new_notebook(cells=[new_markdown_cell("## Section"), cell])


def test_headline_is_moved_above_the_first_output_and_into_the_page_description(tmp_path: Path) -> None:
    card = show.Headline("BLOCK", "bad", "candidate regressed <b>", ("one", ("see calibration", "calibration.html")))
    page, info = export_html(_nb(card), {"title": "Model comparison", "report": "comparison"})
    assert page.index('class="et-headline') < page.index("first-output") < page.index("et-plot-spec")
    assert page.count('<section class="et-headline') == 1 and "candidate regressed &lt;b&gt;" in page
    spec = re.search(r'<script [^>]*class="et-plot-spec"[^>]*>(.*?)</script>', page, re.S)
    assert spec and json.loads(spec.group(1))["data"][0]["name"] == "</script><b>x"  # inert and intact
    path = tmp_path / "comparison.html"
    path.write_text(page)
    meta = read_report_meta(path)
    assert meta["verdict"] == "BLOCK" and meta["tone"] == "bad" and meta["headline"] == "candidate regressed <b>"
    (tmp_path / "gate.md").write_text("## gate")
    index = write_index(tmp_path).read_text()
    assert "BLOCK" in index and "background:#cf222e" in index and "candidate regressed &lt;b&gt;" in index
    assert 'href="gate.md"' in index and 'href="gate.xml"' not in index


# --------------------------------------------------------------------------- monitoring


def test_monitoring_headline_and_one_band_per_episode() -> None:
    from evaltools.monitor import monitor
    from evaltools.monitor._synthetic import Incident, generate_synthetic_logs
    from evaltools.report.plots import _monitor as plots_monitor

    spike = Incident("latency_regression", "2024-01-24 13:00", "2024-01-24 17:00", 2.0)
    logs = generate_synthetic_logs(days=26, requests_per_hour=80, incidents=[spike], seed=31)
    result = monitor(logs.logs, window="hour")
    episodes = result.episodes()
    card = show.monitoring_headline(result, synthetic=True)
    html = card._repr_html_()
    assert card.verdict == f"{len(episodes)} EPISODE(S)" and card.tone == "warn"  # over, not open now
    assert "latency" in html and "SYNTHETIC" in html and "empty window(s)" in html
    repr_html = result._repr_html_()
    assert "&lt;DataFrame&gt;" not in repr_html and "an in-memory table" in repr_html
    fig = plots_monitor.alert_timeline_figure(result.to_frame(), episodes=episodes)
    band = next(t for t in fig.data if t.name == "episode")
    assert sum(x is None for x in band.x) == len(episodes)  # one segment per episode


def test_timeline_groups_a_slow_drift_into_one_band_without_episodes() -> None:
    from evaltools.report.plots import _monitor as plots_monitor

    hours = pd.date_range("2024-02-01", periods=40, freq="h", tz="UTC")
    drift = pd.DataFrame({"metric": "judge_mean", "detector": "ewma", "window_start": hours[::1]})
    spike = pd.DataFrame({"metric": "latency_p99", "detector": "robust_z", "window_start": hours[[3, 20]]})
    fig = plots_monitor.alert_timeline_figure(pd.concat([drift, spike]), window="hour")
    band = next(t for t in fig.data if t.name == "episode")
    segments = [y for y, x in zip(band.y, band.x, strict=True) if x is None]
    assert len(segments) == 3  # the 40-hour drift is one band; two separate spikes are two
    assert band.hovertext[0].count("<br>") >= 1 and "40 alert(s)" in band.hovertext[0]
