"""Tests of evaltools.report._tables (report tables) and evaltools.report._data (loading)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from evaltools import report as analysis
from evaltools.errors import ConfigError, InputError, RunError, VersionMismatchError
from evaltools.report._data import ReportData, load_report_data, query_text

FIXTURE = Path(__file__).parents[1] / "fixtures" / "report_tiny"
GOLDEN = FIXTURE / "golden"
RUNS = [FIXTURE / "runs" / r for r in ("baseline", "candidate", "candidate-b")]


def table(run: str, values: list[float], *, dimension: str = "d", kind: str = "binary", failures=None,
          strata=None, scale=(0.0, 1.0), reasons=None, details=None) -> pd.DataFrame:  # fmt: skip
    n = len(values)
    return pd.DataFrame({
        "run_id": run, "item_id": [f"q{i}" for i in range(n)], "dimension": dimension, "value": values,
        "kind": kind, "scale_min": scale[0], "scale_max": scale[1],
        "unscored_reason": reasons if reasons is not None else [None if v == v else "no_output" for v in values],
        "failure": failures if failures is not None else [None] * n,
        "detail": details if details is not None else [None] * n,
        "stratum": strata if strata is not None else ["common"] * n, "group": None, "gating": True,
    })  # fmt: skip


@pytest.fixture(scope="module")
def data() -> ReportData:
    return load_report_data(GOLDEN, RUNS)


# --------------------------------------------------------------------------- loading


def test_load_report_data_reads_every_run(data: ReportData) -> None:
    assert data.run_ids == ["baseline", "candidate", "candidate-b"]
    assert set(data.scores["run_id"]) == set(data.run_ids)
    # 36 items x 3 runs outputs; 13 triage items x 3 dims + 23 answer items x 2 dims = 85 rows per run
    assert len(data.outputs) == 36 * 3
    assert len(data.scores) == 3 * (13 * 3 + 23 * 2)
    head = data.header()
    assert head["golden_version"] == data.golden.version and head["run_ids"] == data.run_ids


def test_report_data_display_publishes_header_metadata(data: ReportData) -> None:
    bundle, meta = data._repr_mimebundle_()
    assert meta["evaltools"]["golden_version"] == data.golden.version
    assert "report-tiny" in bundle["text/html"]


def test_query_text_flattens_chat_messages() -> None:
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert query_text(msgs) == "user: a\nassistant: b"
    assert query_text(None) == ""


@pytest.mark.parametrize("golden, runs, error, words", [
    (None, RUNS, ConfigError, "'golden' parameter"),
    (GOLDEN, [], ConfigError, "'runs' parameter"),
    (GOLDEN, None, ConfigError, "'runs' parameter"),
    (GOLDEN, [FIXTURE / "runs" / "nope"], RunError, "Run folder not found"),
    (GOLDEN, [RUNS[0], RUNS[0]], ConfigError, "more than once"),
], ids=["no-golden", "empty-runs", "none-runs", "missing-run", "duplicate-run"])  # fmt: skip
def test_load_report_data_errors(golden, runs, error, words) -> None:
    with pytest.raises(error, match=words):
        load_report_data(golden, runs)


def _copy_run(tmp_path: Path, name: str = "baseline") -> Path:
    dst = tmp_path / name
    shutil.copytree(FIXTURE / "runs" / name, dst)
    return dst


def test_version_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    run = _copy_run(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["golden_version"] = "000000000000"
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(VersionMismatchError, match="made against golden set version '000000000000'") as exc:
        load_report_data(GOLDEN, [run])
    assert isinstance(exc.value, ValueError)  # input errors are ValueErrors too
    assert load_report_data(GOLDEN, [run], check_version=False).run_ids == ["baseline"]


def test_missing_scores_say_how_to_score(tmp_path: Path) -> None:
    run = _copy_run(tmp_path)
    (run / "scores.jsonl").unlink()
    with pytest.raises(RunError, match="Score the run first"):
        load_report_data(GOLDEN, [run])


def test_scores_of_another_run_are_refused(tmp_path: Path) -> None:
    run = _copy_run(tmp_path)
    text = (run / "scores.jsonl").read_text().replace('"run_id": "baseline"', '"run_id": "other"')
    (run / "scores.jsonl").write_text(text)
    with pytest.raises(RunError, match="names run"):
        load_report_data(GOLDEN, [run])


def test_scores_with_unknown_items_are_a_version_mismatch(tmp_path: Path) -> None:
    run = _copy_run(tmp_path)
    text = (run / "scores.jsonl").read_text().replace('"item_id": "c-001"', '"item_id": "zz-999"')
    (run / "scores.jsonl").write_text(text)
    with pytest.raises(VersionMismatchError, match="zz-999"):
        load_report_data(GOLDEN, [run])


def test_fixture_is_what_the_script_writes(tmp_path: Path) -> None:
    # The committed fixture must be reproducible from its script (deterministic in the seed). A
    # subprocess keeps the script's stand-in scorers out of this process's scorer registry.
    out = tmp_path / "again"
    subprocess.run([sys.executable, str(FIXTURE.parent / "make_report_fixture.py"), str(out)], check=True,
                   capture_output=True, cwd=FIXTURE.parents[2])  # fmt: skip
    files = sorted(p.relative_to(FIXTURE) for p in FIXTURE.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_text() == (FIXTURE / rel).read_text(), rel


# --------------------------------------------------------------------------- eval tables


def test_headline_binary_uses_wilson_from_an_independent_implementation() -> None:
    t = table("r", [1.0] * 7 + [0.0] * 3)
    row = analysis.headline_scores(t).iloc[0]
    lo, hi = proportion_confint(7, 10, alpha=0.05, method="wilson")
    assert row["ci_method"] == "wilson"
    assert row["mean"] == pytest.approx(0.7)  # 7 of 10
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))
    # Wald would give 0.7 +/- 1.96 * sqrt(0.21 / 10) = (0.416, 0.984); Wilson is shifted towards 0.5
    assert row["ci_high"] < 0.984 - 0.05


def test_headline_graded_uses_a_logit_t_interval_inside_the_scale() -> None:
    vals = [1.0, 2.0, 4.0, 5.0, 5.0]
    t = table("r", vals, kind="ordinal", scale=(1.0, 5.0))
    row = analysis.headline_scores(t, alpha=0.1).iloc[0]
    # t on the logit of the mean's share of the scale, delta-method SE, mapped back (independent arithmetic)
    p = (np.mean(vals) - 1) / 4
    se = sps.sem(vals) / 4 / (p * (1 - p))
    q = sps.t.ppf(0.95, 4)
    lo, hi = (1 + 4 / (1 + np.exp(-(np.log(p / (1 - p)) + s * q * se))) for s in (-1, 1))
    assert row["ci_method"] == "logit t"
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))
    plain = sps.t.interval(0.9, 4, loc=np.mean(vals), scale=sps.sem(vals))
    assert plain[1] > 5.0 and 1.0 < row["ci_low"] < row["ci_high"] < 5.0  # the plain t ran past the scale
    assert row["mean_scaled"] == pytest.approx((3.4 - 1) / 4)  # mean 17/5 = 3.4 on a 1-5 scale


def test_headline_degenerate_cases() -> None:
    t = pd.concat([
        table("r", [math.nan, math.nan], dimension="none_scored", kind="continuous"),
        table("r", [0.5], dimension="one", kind="continuous"),
        table("r", [0.5, 0.5, 0.5], dimension="flat", kind="continuous"),
    ])  # fmt: skip
    h = analysis.headline_scores(t).set_index("dimension")
    assert math.isnan(h.loc["none_scored", "mean"]) and h.loc["none_scored", "n_unscored"] == 2
    assert h.loc["one", "mean"] == 0.5 and math.isnan(h.loc["one", "ci_low"])
    assert h.loc["flat", "ci_low"] == h.loc["flat", "ci_high"] == 0.5


def test_headline_rejects_bad_alpha_and_tables() -> None:
    with pytest.raises(ConfigError, match="'alpha' parameter"):
        analysis.headline_scores(table("r", [1.0]), alpha=1.5)
    with pytest.raises(InputError, match="lacks column"):
        analysis.headline_scores(pd.DataFrame({"value": [1.0]}))


def test_headline_on_fixture_counts(data: ReportData) -> None:
    h = analysis.headline_scores(data.scores).set_index(["run_id", "dimension"])
    # answer items: 23; baseline has one generation error -> 22 scored similarity values
    row = h.loc[("baseline", "answer_overlap")]
    assert (row["n"], row["n_scored"], row["n_unscored"]) == (23, 22, 1)
    expected = data.scores.query("run_id == 'baseline' and dimension == 'answer_overlap'")["value"].mean()
    assert row["mean"] == pytest.approx(expected)


def test_stratum_breakdown_orders_strata(data: ReportData) -> None:
    b = analysis.stratum_breakdown(data.scores)
    dims = b[(b["run_id"] == "baseline") & (b["dimension"] == "answer_overlap")]
    assert dims["stratum"].tolist() == ["common", "edge", "adversarial"]
    assert dims["n"].sum() == 23


def test_worst_items_side_by_side(data: ReportData) -> None:
    w = analysis.worst_items(data, k=2)
    assert w.groupby(["run_id", "dimension"]).size().max() <= 2
    assert set(w["verdict"]) == {"fail"}
    assert {"query", "ideal", "output", "detail"} <= set(w.columns)
    # lowest first within a group
    for _, g in w.groupby(["run_id", "dimension"]):
        assert g["value"].is_monotonic_increasing
    # the XSS output is listed verbatim (escaping is the display's job)
    xss = w[(w["run_id"] == "candidate-b") & (w["item_id"] == "a-003")]
    assert not xss.empty and "<script>" in xss["output"].iloc[0]
    with pytest.raises(ConfigError, match="'k' parameter"):
        analysis.worst_items(data, k=0)
    with pytest.raises(ConfigError, match="Unknown run"):
        analysis.worst_items(data, runs=["nope"])


def test_worst_items_can_rank_passing_items(data: ReportData) -> None:
    w = analysis.worst_items(data, k=3, failed_only=False)
    assert w.groupby(["run_id", "dimension"]).size().eq(3).all()


def test_failures_by_kind_counts() -> None:
    t = table("r", [0.0, 0.0, 0.0, 1.0, math.nan], failures=["invalid_json", "schema_violation", "invalid_json",
                                                           None, None],
              details=["Expecting value", "/priority: bad", "Expecting value", None, None])  # fmt: skip
    f = analysis.failures_by_kind(t)
    assert f["failure"].tolist() == ["invalid_json", "schema_violation"]  # most frequent first
    assert f["n"].tolist() == [2, 1]
    assert f["share"].tolist() == pytest.approx([2 / 4, 1 / 4])  # 4 scored items (one NaN)
    assert f["details"].iloc[0] == "Expecting value (2)"


def test_failures_by_kind_empty_when_nothing_failed() -> None:
    f = analysis.failures_by_kind(table("r", [1.0, 1.0]))
    assert f.empty and "share" in f.columns


def test_failures_by_tag_counts_each_tag(data: ReportData) -> None:
    by_tag = analysis.failures_by_tag(data)
    scores = analysis.add_verdicts(data.scores)
    tags = data.golden.frame.set_index("id")["tags"]
    # independent count: baseline, tag "triage", dimension triage_json_valid
    has_tag = scores["item_id"].map(lambda i: "triage" in tags[i])
    sel = scores[(scores["run_id"] == "baseline") & (scores["dimension"] == "triage_json_valid") & has_tag
                 & (scores["verdict"] != "unscored")]  # fmt: skip
    row = by_tag.set_index(["run_id", "tag", "dimension"]).loc[("baseline", "triage", "triage_json_valid")]
    assert row["n_scored"] == len(sel)
    assert row["n_failed"] == int((sel["verdict"] == "fail").sum())
    only = analysis.failures_by_tag(data, min_failed=1)
    assert (only["n_failed"] >= 1).all() and len(only) < len(by_tag)


def test_unscored_summary_reasons() -> None:
    t = table("r", [1.0, math.nan, math.nan, math.nan], kind="ordinal", scale=(1, 5),
              reasons=[None, "no_output", "grade_parse_failure", None])  # fmt: skip
    u = analysis.unscored_summary(t)
    assert dict(zip(u["reason"], u["n"], strict=True)) == {"no_output": 1, "grade_parse_failure": 1, "unknown": 1}
    assert u["share"].tolist() == pytest.approx([0.25] * 3)  # 1 of 4 items each
    assert analysis.unscored_summary(table("r", [1.0])).empty


def test_add_verdicts_partition() -> None:
    t = table("r", [1.0, 0.4, math.nan], kind="continuous", failures=[None, "low_similarity", None])
    assert analysis.add_verdicts(t)["verdict"].tolist() == ["pass", "fail", "unscored"]


# --------------------------------------------------------------------------- paired tables


def two_runs() -> pd.DataFrame:
    # 6 items: q0 tie(1,1), q1 loss(1,0), q2 win(0,1), q3 tie(0,0), q4 unscored on B, q5 loss(1,0)
    a = table("A", [1.0, 1.0, 0.0, 0.0, 1.0, 1.0], failures=[None, None, "x", "x", None, None])
    b = table("B", [1.0, 0.0, 1.0, 0.0, math.nan, 0.0], failures=[None, "x", None, "x", None, "x"])
    return pd.concat([a, b], ignore_index=True)


def test_win_tie_loss_counts() -> None:
    w = analysis.win_tie_loss(two_runs()).iloc[0]
    assert (w["win"], w["tie"], w["loss"], w["unscored"], w["n"]) == (1, 2, 2, 1, 6)
    assert w["loss_share"] == pytest.approx(2 / 5)  # shares of the 5 scored pairs


def test_item_outcomes_worst_first() -> None:
    out = analysis.item_outcomes(two_runs())
    assert out["net"].is_monotonic_increasing
    assert out.set_index("item_id").loc["q2", "win"] == 1


def test_paired_errors() -> None:
    scores = two_runs()
    with pytest.raises(ConfigError, match="Unknown baseline run 'Z'"):
        analysis.paired_items(scores, "Z")
    with pytest.raises(ConfigError, match="cannot also be a candidate"):
        analysis.paired_items(scores, "A", ["A"])
    with pytest.raises(ConfigError, match="at least two runs"):
        analysis.paired_items(scores[scores["run_id"] == "A"])


def test_changed_verdicts_directions(data: ReportData) -> None:
    changed = analysis.changed_verdicts(data, "baseline", ["candidate"])
    assert not changed.empty
    assert (changed["baseline_verdict"] != changed["candidate_verdict"]).all()
    regressed = changed[changed["direction"] == "regressed"]
    assert ((regressed["baseline_verdict"] == "pass") & (regressed["candidate_verdict"] == "fail")).all()
    assert changed["direction"].map({"regressed": 0, "fixed": 1, "scoring changed": 2}).is_monotonic_increasing
    assert changed["baseline_output"].notna().any() and changed["query"].notna().all()
    counts = analysis.change_counts(changed)
    assert counts[["regressed", "fixed", "scoring changed"]].to_numpy().sum() == len(changed)


def test_compare_runs_wraps_stats_compare(data: ReportData) -> None:
    comps = analysis.compare_runs(data.scores, "baseline", n_resamples=200)
    assert [c.candidate_run for c in comps] == ["candidate", "candidate-b"]
    eff = analysis.effects_table(comps)
    row = eff[(eff["candidate"] == "candidate-b") & (eff["dimension"] == "triage_json_valid")
              & (eff["stratum"] == "(all)")].iloc[0]  # fmt: skip
    pairs = analysis.paired_items(data.scores, "baseline", "candidate-b")
    sel = pairs[(pairs["dimension"] == "triage_json_valid")].dropna(subset=["diff"])
    assert row["effect"] == pytest.approx(sel["diff"].mean())  # mean paired difference
    assert row["n"] == len(sel)


def test_gate_runs_and_regressed_items(data: ReportData) -> None:
    gates = analysis.gate_runs(data.scores, "baseline", ["candidate-b"], n_resamples=200)
    assert len(gates) == 1 and gates[0].verdict.value in ("PASS", "NEEDS_REVIEW", "BLOCK")
    g = analysis.gate_table(gates)
    assert set(g["candidate"]) == {"candidate-b"} and len(g) == 5 + 1  # 5 dimensions and the coverage check
    assert g.iloc[-1]["check"] == "coverage"
    reg = analysis.regressed_items(data, gates, k=3)
    assert len(reg) <= 3 and (reg["diff_scaled"] < 0).all()
    assert reg["candidate_output"].notna().all() and reg["query"].notna().all()
    # effects of a gate are its comparison's (nothing computed twice)
    from_gates = analysis.effects_table(gates)
    assert from_gates.drop(columns="verdict").equals(analysis.effects_table([gates[0].comparison]).drop(
        columns="verdict"))  # fmt: skip
    overall = from_gates[from_gates["stratum"] == "(all)"]
    assert dict(zip(overall["dimension"], overall["verdict"], strict=True)) == {
        d.dimension: d.verdict.value for d in gates[0].dimensions}  # fmt: skip
    assert from_gates.loc[from_gates["stratum"] != "(all)", "verdict"].isna().all()


def test_item_table_and_filters(data: ReportData) -> None:
    items = analysis.item_table(data)
    assert len(items) == len(data.scores)
    fails = analysis.filter_items(items, run="candidate", verdict="fail", stratum="common")
    assert set(fails["verdict"]) == {"fail"} and set(fails["stratum"]) == {"common"}
    billing = analysis.filter_items(items, tag="billing")
    assert billing["tags"].str.contains("billing").all() and len(billing) > 0
    with pytest.raises(ConfigError, match="Valid verdicts"):
        analysis.filter_items(items, verdict="maybe")


def test_off_target_strata_become_header_notes(tmp_path: Path) -> None:
    shutil.copytree(GOLDEN, tmp_path / "golden")
    card = tmp_path / "golden" / "card.yaml"
    card.write_text(card.read_text().replace("targets: {common: 0.60, edge: 0.25, adversarial: 0.15}",
                                             "targets: {common: 0.30, edge: 0.40, adversarial: 0.30}"))  # fmt: skip
    loaded = load_report_data(tmp_path / "golden", RUNS[:1])  # the card is not part of the version hash
    assert len(loaded.notes) == 3 and all("against a target" in n for n in loaded.notes)
    assert loaded.header()["notes"] == list(loaded.notes)
    assert "against a target" in loaded._repr_html_()
