"""Reproduce the published PandaLM agreement figures (Wang et al., ICLR 2024, arXiv:2306.05087).

Data: ../shared/data/pandalm (see its README). 999 pairwise items, three human
annotators and two LLM judges; labels 0 = tie, 1 = response1 better,
2 = response2 better. Gold = majority vote of the annotators; a judge reply
"garbage" is unscored and, as in the published table, counted as a tie.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaltools.calibration._calibrate import calibrate
from evaltools.calibration._pairwise import length_bias

_DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "data"
DATA = Path(os.environ.get("EVALTOOLS_SHARED_DATA", _DEFAULT)) / "pandalm"

pytestmark = pytest.mark.skipif(
    not (DATA / "testset-v1.json").exists(),
    reason=f"PandaLM public data not found at {DATA} (set EVALTOOLS_SHARED_DATA to the shared data folder)",
)

GPT_CODES = {"1": 1.0, "2": 2.0, "Tie": 0.0, "garbage": np.nan}


@pytest.fixture(scope="module")
def pandalm() -> pd.DataFrame:
    items = pd.DataFrame(json.loads((DATA / "testset-v1.json").read_text()))
    gpt = pd.DataFrame(json.loads((DATA / "gpt-3.5-turbo-testset-v1.json").read_text()))
    panda = pd.DataFrame(json.loads((DATA / "pandalm-7b-testset-v1.json").read_text()))
    frame = items.merge(gpt[["idx", "gpt_result"]], on="idx", validate="one_to_one")
    frame = frame.merge(panda[["idx", "pandalm_result"]], on="idx", validate="one_to_one")
    frame["gpt"] = frame["gpt_result"].map(GPT_CODES)
    frame["pandalm"] = frame["pandalm_result"].astype(float)
    assert len(frame) == 999
    return frame


def _humans(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["annotator1", "annotator2", "annotator3"]].astype(float)


def test_annotator_kappas_and_gold_counts(pandalm: pd.DataFrame) -> None:
    res = calibrate(pandalm["gpt"], _humans(pandalm), scale=[0, 1, 2], level="nominal", unscored_as=0, n_resamples=500)
    dim = res["score"]
    kappas = {(r.annotator_a, r.annotator_b): r.kappa for r in dim.human_pairwise.itertuples()}
    # Published: 0.85 / 0.88 / 0.86
    assert round(kappas[("annotator1", "annotator2")], 2) == 0.85
    assert round(kappas[("annotator1", "annotator3")], 2) == 0.88
    assert round(kappas[("annotator2", "annotator3")], 2) == 0.86
    # Gold (majority) label counts 0 / 1 / 2 = 105 / 422 / 472; no three-way ties.
    assert dim.confusion.sum(axis=1).tolist() == [105, 422, 472]
    assert dim.n_no_consensus == 0
    assert dim.n_multi_labelled == 999


@pytest.mark.parametrize(
    ("judge", "published"),
    [
        ("gpt", (71.07, 58.79, 57.36, 57.55)),
        ("pandalm", (66.77, 57.38, 57.50, 57.43)),
    ],
)
def test_judge_accuracy_and_macro_prf(pandalm: pd.DataFrame, judge: str, published: tuple[float, ...]) -> None:
    dim = calibrate(pandalm[judge], _humans(pandalm), scale=[0, 1, 2], level="nominal", unscored_as=0, n_resamples=500)[
        "score"
    ]
    got = tuple(
        round(100 * e.value, 2) for e in (dim.raw_agreement, dim.macro_precision, dim.macro_recall, dim.macro_f1)
    )
    assert got == published
    assert dim.n_paired == 999
    # Neither judge reaches the annotators' own agreement (the ceiling).
    assert dim.alpha.value < dim.human_alpha.value
    assert dim.verdict == "not_trusted"


def test_gpt_garbage_replies_are_reported_as_unscored(pandalm: pd.DataFrame) -> None:
    as_tie = calibrate(
        pandalm["gpt"], _humans(pandalm), scale=[0, 1, 2], level="nominal", unscored_as=0, n_resamples=200
    )
    left_out = calibrate(pandalm["gpt"], _humans(pandalm), scale=[0, 1, 2], level="nominal", n_resamples=200)
    assert as_tie["score"].n_judge_unscored == 25
    assert left_out["score"].n_judge_unscored == 25
    assert left_out["score"].n_paired == 974
    # 25 of 999 unscored (2.5%) is under the 10% limit, so it is not a reason by itself.
    assert not [r for r in left_out["score"].reasons if "no score" in r]


def test_length_bias_on_real_pairs_matches_a_direct_count(pandalm: pd.DataFrame) -> None:
    gold = _humans(pandalm).mode(axis=1)[0]
    prefs = {0.0: "tie", 1.0: "A", 2.0: "B"}
    judge = pandalm["gpt"].map(prefs)
    # Six responses are JSON booleans in the file (the model answered "True"); length_bias wants text.
    r1, r2 = pandalm["response1"].map(str), pandalm["response2"].map(str)
    with pytest.raises(ValueError, match="Got True at position"):
        length_bias(judge, pandalm["response1"], pandalm["response2"])
    res = length_bias(judge, r1, r2, human=gold.map(prefs), groups=pandalm["instruction"])
    dlen = r1.str.len() - r2.str.len()
    longer = np.where(dlen > 0, 1.0, 2.0)
    eligible = (dlen.abs() > 30) & pandalm["gpt"].isin([1.0, 2.0])
    assert res.n_eligible == int(eligible.sum())
    assert res.prob_prefer_longer.value == pytest.approx(float((pandalm["gpt"][eligible] == longer[eligible]).mean()))
    human_ok = (dlen.abs() > 30) & gold.isin([1.0, 2.0])
    assert res.human_prob_prefer_longer.value == pytest.approx(float((gold[human_ok] == longer[human_ok]).mean()))
    assert res.n_logit == int(pandalm["gpt"].isin([1.0, 2.0]).sum())
    assert np.isfinite(res.length_coef) and res.length_ci[0] < res.length_coef < res.length_ci[1]


# Through the pairwise workflow: the codes are stated once, for judges and annotators alike.
PAIRWISE_CODES = {0: "tie", 1: "A", 2: "B", "Tie": "tie", "garbage": None}


@pytest.mark.parametrize(
    ("judge", "column", "published"),
    [
        ("gpt-3.5-turbo-testset-v1.json", "gpt_result", (71.07, 58.79, 57.36, 57.55)),
        ("pandalm-7b-testset-v1.json", "pandalm_result", (66.77, 57.38, 57.50, 57.43)),
    ],
)
def test_published_figures_through_calibrate_pairwise(judge: str, column: str, published: tuple[float, ...]) -> None:
    from sklearn.metrics import cohen_kappa_score

    from evaltools import calibrate_pairwise

    items = pd.DataFrame(json.loads((DATA / "testset-v1.json").read_text()))
    verdicts = pd.DataFrame(json.loads((DATA / judge).read_text()))
    assert (verdicts["idx"] == items["idx"]).all()
    humans = items[["annotator1", "annotator2", "annotator3"]]
    r = calibrate_pairwise(
        verdicts[column].tolist(),
        None,  # PandaLM asked each judge in one order only
        humans,
        codes=PAIRWISE_CODES,
        unscored_as="tie",  # as the published table counted "garbage"
        output_a=items["response1"].map(str),
        output_b=items["response2"].map(str),
        n_resamples=500,
    )
    got = tuple(round(100 * e.value, 2) for e in (r.accuracy, r.macro_precision, r.macro_recall, r.macro_f1))
    assert got == published
    assert r.human_counts == {"A": 422, "B": 472, "tie": 105} and r.n_no_consensus == 0
    kappas = r.human_pairwise.set_index(["annotator_a", "annotator_b"])["kappa"].round(2)
    assert kappas.tolist() == [0.85, 0.88, 0.86]  # published annotator kappas 1-2 / 1-3 / 2-3
    assert kappas.index.tolist() == [
        ("annotator1", "annotator2"),
        ("annotator1", "annotator3"),
        ("annotator2", "annotator3"),
    ]
    assert r.n_judge_unscored == (25 if column == "gpt_result" else 0)
    # Our kappa, checked against sklearn on the majority label (garbage counted as a tie).
    gold = humans.mode(axis=1)[0].map({0: "tie", 1: "A", 2: "B"})
    judged = verdicts[column].map({0: "tie", 1: "A", 2: "B", "1": "A", "2": "B", "Tie": "tie", "garbage": "tie"})
    assert r.kappa.value == pytest.approx(cohen_kappa_score(gold, judged))
    # Below the annotators' own agreement (the ceiling), and untrusted: one order, kappa under 0.6.
    assert r.kappa.ci_high < r.human_kappa.ci_low
    assert not r.trusted and "asked in one order only" in r.reasons[0]
