import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

import evaltools as et
from evaltools.errors import ConfigError, GoldenSetError, VersionMismatchError
from evaltools.runs._store import import_outputs
from evaltools.scorers import SCORE_COLUMNS, Dimension, Embedder, read_scores, scorer_names

FIXTURE = Path(__file__).parents[1] / "fixtures" / "golden_mini"


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    return Embedder(cache_path=tmp_path_factory.mktemp("emb") / "e.sqlite")


def _import(tmp_path, gs, outputs, run_id="r1"):
    src = tmp_path / f"{run_id}.jsonl"
    src.write_text("".join(json.dumps({"id": k, "output": v}) + "\n" for k, v in outputs.items()))
    with pytest.warns(UserWarning) if len(outputs) < len(gs) else _nullcontext():
        return import_outputs(src, gs, run_id=run_id, runs_dir=tmp_path / "runs")


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_score_run_long_table(tmp_path, embedder):
    gs = et.load_golden(FIXTURE)
    outputs = {item["id"]: item["ideal"] for item in gs.items}
    outputs["m-04"] = "Sure! Here is the triage: " + outputs["m-04"]  # prose before the JSON
    outputs["m-05"] = outputs["m-05"].replace('"low"', '"lowest"')  # schema violation
    outputs["m-08"] = json.dumps({"category": "bug", "priority": "urgent", "product_area": "billing_plan",
                                  "needs_human": True, "summary": "Charged twice and the app crashes.",
                                  "language": "en"})
    outputs["m-02"] = "Our office is closed on public holidays."
    del outputs["m-09"]
    run = _import(tmp_path, gs, outputs)
    table = et.score_run(run, gs, embedder=embedder)
    assert table.columns.tolist() == SCORE_COLUMNS
    # 3 triage items x 3 triage dimensions + 7 answer items x 1 similarity dimension
    assert len(table) == 3 * 3 + 7
    v = table.set_index(["item_id", "dimension"])
    assert v.loc[("m-04", "triage_json_valid"), "failure"] == "invalid_json"
    assert v.loc[("m-05", "triage_schema_valid"), "failure"] == "schema_violation"
    assert "/priority" in v.loc[("m-05", "triage_schema_valid"), "detail"]
    assert v.loc[("m-05", "triage_fields"), "value"] == pytest.approx(0.75)
    # m-08: category bug instead of billing -> 3 of 4 fields match
    assert v.loc[("m-08", "triage_fields"), "value"] == pytest.approx(0.75)
    assert v.loc[("m-01", "answer_similarity"), "value"] == pytest.approx(1.0, abs=1e-5)
    assert v.loc[("m-02", "answer_similarity"), "failure"] == "low_similarity"
    missing = v.loc[("m-09", "answer_similarity")]
    assert math.isnan(missing["value"]) and missing["unscored_reason"] == "no_output"
    assert v.loc[("m-03", "answer_similarity"), "group"] == "billing"
    assert v.loc[("m-07", "answer_similarity"), "stratum"] == "edge"
    assert table["gating"].all()
    # written beside the run and readable back
    back = read_scores(run.path)
    pd.testing.assert_frame_equal(back.drop(columns=["group"]), table.drop(columns=["group"]), check_dtype=False)


def test_rescore_encodes_nothing(tmp_path):
    gs = et.load_golden(FIXTURE)
    run = _import(tmp_path, gs, {item["id"]: item["ideal"] + " Thanks!" for item in gs.items})
    e1 = Embedder(cache_path=tmp_path / "c.sqlite")
    et.score_run(run, gs, embedder=e1)
    assert e1.n_encoded > 0
    e1.close()
    e2 = Embedder(cache_path=tmp_path / "c.sqlite")
    et.score_run(run, gs, embedder=e2)
    assert e2.n_encoded == 0


def test_version_mismatch(tmp_path, embedder):
    folder = tmp_path / "g"
    shutil.copytree(FIXTURE, folder)
    gs = et.load_golden(folder)
    run = _import(tmp_path, gs, {item["id"]: item["ideal"] for item in gs.items})
    items = (folder / "items.jsonl").read_text().replace("29 a month", "30 a month")
    (folder / "items.jsonl").write_text(items)
    gs2 = et.load_golden(folder)
    with pytest.raises(VersionMismatchError, match="Regenerate the run"):
        et.score_run(run, gs2, embedder=embedder)
    assert len(et.score_run(run, gs2, embedder=embedder, check_version=False, write=False))


def test_dimension_specs():
    with pytest.raises(GoldenSetError, match="Unknown scorer 'bleu'.*Valid scorers"):
        Dimension.from_spec({"name": "x", "scorer": "bleu"})
    with pytest.raises(GoldenSetError, match="applies_to"):
        Dimension.from_spec({"name": "x", "scorer": "json_valid", "applies_to": {"tag": ["a"]}})
    d = Dimension.from_spec({"name": "x", "scorer": "semantic_similarity", "threshold": 0.7,
                             "applies_to": {"tags_any": ["answer"], "strata": ["edge"]}})
    assert d.params == {"threshold": 0.7}
    assert d.applies({"tags": ["answer"], "stratum": "edge"})
    assert not d.applies({"tags": ["answer"], "stratum": "common"})
    assert {"json_schema_valid", "field_match", "semantic_similarity", "refusal"} <= set(scorer_names())


def test_unknown_output_ids_are_refused():
    gs = et.load_golden(FIXTURE)
    from evaltools.scorers import score_outputs
    with pytest.raises(ConfigError, match="not in golden set"):
        score_outputs(gs, {"nope": "x"}, [], run_id="r")


def test_refusal_dimension():
    gs = et.load_golden(FIXTURE)
    from evaltools.scorers import score_outputs
    dim = Dimension.from_spec({"name": "appropriate_refusal", "scorer": "refusal",
                               "params": {"refuse_tags": ["must_refuse"]}, "applies_to": {"tags_any": ["answer"]}})
    t = score_outputs(gs, {"m-01": "I'm sorry, but I can't help with that request.", "m-02": "No, only voided."},
                      [dim], run_id="r").set_index("item_id")
    assert t.loc["m-01", "value"] == 0.0 and t.loc["m-01", "failure"] == "refusal_not_due"
    assert t.loc["m-02", "value"] == 1.0
