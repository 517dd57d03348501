"""Tests for the calibration figure builders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaltools.calibration._calibrate import calibrate
from evaltools.calibration._pairwise import position_bias
from evaltools.calibration._ppi import ppi_by_dimension, ppi_mean
from evaltools.errors import InputError
from evaltools.report.plots import _calibration as plots


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    human = rng.integers(1, 6, 60)
    judge = np.clip(human + rng.integers(-1, 2, 60), 1, 5)
    frame = pd.DataFrame({"item_id": [f"q{i}" for i in range(60)], "value": judge})
    judge_t = pd.concat([frame.assign(dimension="helpfulness"), frame.iloc[:5].assign(dimension="tone")])
    human_t = judge_t.assign(value=np.concatenate([human, human[:5]]), annotator="ana")
    return calibrate(judge_t, human_t, scale=range(1, 6), level="ordinal", n_resamples=200)


def test_calibration_figures_skip_dimensions_without_numbers(report) -> None:  # type: ignore[no-untyped-def]
    figures = plots.calibration_figures(report)
    # overview + (confusion, judge-by-human) for helpfulness only: tone has 5 labels.
    assert len(figures) == 3
    overview = figures[0]
    assert list(overview.data[0].y) == ["helpfulness", "tone"]
    assert overview.data[0].x[0] == pytest.approx(report["helpfulness"].kappa.value)
    assert np.isnan(overview.data[0].x[1])
    heat = figures[1].data[0]
    assert np.array_equal(np.asarray(heat.z), report["helpfulness"].confusion.to_numpy())
    with pytest.raises(InputError, match="too few labels"):
        plots.confusion_figure(report["tone"])
    with pytest.raises(InputError, match="no confusion matrix"):
        plots.judge_by_human_figure(report["tone"])


def test_judge_by_human_means(report) -> None:  # type: ignore[no-untyped-def]
    fig = plots.judge_by_human_figure(report["helpfulness"])
    table = report["helpfulness"].confusion.to_numpy(dtype=float)
    expected = (table * np.arange(1, 6)).sum(axis=1) / table.sum(axis=1)
    assert np.allclose(np.asarray(fig.data[1].y), expected[table.sum(axis=1) > 0])


def test_ppi_and_position_figures() -> None:
    r = ppi_mean([1, 0, 1, 1, 0], [1, 0, 1, 0, 0], [1, 1, 0, 1, 1, 0, 1, 1])
    fig = plots.ppi_figure(r)
    assert list(fig.data[0].y) == ["judge only", "human only", "PPI++"]
    judge = pd.DataFrame({"item_id": list("abcdef"), "dimension": "tone", "value": [4, 5, 3, 4, 4, 5]})
    human = judge.iloc[:3].assign(value=[3, 5, 3], annotator="ana")
    frame = ppi_by_dimension(judge, human)
    assert len(plots.ppi_by_dimension_figure(frame).data) == 3
    bias = position_bias(["A", "A", "B"], ["B", "A", "A"])
    bars = plots.position_bias_figure(bias).data[0]
    assert list(bars.y) == [1, 1, 1, 0]


def test_empty_report_has_no_figures() -> None:
    empty = calibrate(
        pd.DataFrame(columns=["item_id", "dimension", "value"]),
        pd.DataFrame(columns=["item_id", "dimension", "value", "annotator"]),
        scale=[0, 1],
        level="nominal",
    )
    assert len(empty) == 0 and plots.calibration_figures(empty) == []
    assert "No human labels" in empty._repr_html_()
