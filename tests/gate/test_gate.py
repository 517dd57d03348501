"""Tests of evaltools.gate: verdict rule, renderings, noise floor, simulations, CLI."""

from __future__ import annotations

import argparse
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaltools.cli.gate import add_gate_parser, parse_shares
from evaltools.errors import ConfigError, VersionMismatchError
from evaltools.gate import (
    EXIT_BLOCK,
    EXIT_ERROR,
    EXIT_NEEDS_REVIEW,
    EXIT_PASS,
    Verdict,
    aa_noise_floor,
    gate,
    simulate_gate,
)
from evaltools.scorers import read_scores
from evaltools.stats import UnmatchedItemsError, compare

N = 300


def binary_pair(n_worse: int, n_better: int, *, n: int = N, base_rate: float = 0.85) -> tuple[np.ndarray, np.ndarray]:
    """Baseline/candidate pass-fail vectors with exact discordant counts."""
    n_pass = round(base_rate * n)
    base = np.array([1.0] * n_pass + [0.0] * (n - n_pass))
    cand = base.copy()
    cand[:n_worse] = 0.0  # candidate fails items the baseline passed
    cand[n_pass : n_pass + n_better] = 1.0  # and passes items the baseline failed
    return base, cand


def frame(
    values,
    *,
    run: str,
    dimension: str = "correct",
    kind: str = "binary",
    scale=(0.0, 1.0),
    gating: bool = True,
    strata=None,
    ids=None,
) -> pd.DataFrame:
    n = len(values)
    df = pd.DataFrame(
        {
            "run_id": run,
            "item_id": ids or [f"q{i:03d}" for i in range(n)],
            "dimension": dimension,
            "value": np.asarray(values, dtype=float),
            "kind": kind,
            "scale_min": scale[0],
            "scale_max": scale[1],
            "gating": gating,
        }
    )
    if strata is not None:
        df["stratum"] = strata
    return df


def runs(*dims) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build (baseline, candidate) tables from (name, base, cand, kwargs) tuples."""
    a = pd.concat([frame(b, run="A", dimension=name, **kw) for name, b, _, kw in dims], ignore_index=True)
    c = pd.concat([frame(x, run="B", dimension=name, **kw) for name, _, x, kw in dims], ignore_index=True)
    return a, c


STRATA = ["common"] * 180 + ["edge"] * 75 + ["adversarial"] * 45


# --------------------------------------------------------------------------- verdict rule


def test_shown_regression_on_a_gating_dimension_blocks() -> None:
    base, cand = binary_pair(30, 3)  # effect (3 - 30) / 300 = -0.09, exact McNemar p ~ 1e-6
    ok_b, ok_c = binary_pair(4, 4)
    a, b = runs(("correct", base, cand, {}), ("format", ok_b, ok_c, {}))
    result = gate(a, b, margin=0.05)
    assert result.verdict is Verdict.BLOCK and result.exit_code == EXIT_BLOCK == 4
    d = result.get("correct")
    assert d.verdict is Verdict.BLOCK and d.result.family == "holm"
    assert "regression shown: -9.0% of the scale" in d.message and "Holm-adjusted p < 0.001" in d.message
    assert "BLOCK" in result.summary and "correct" in result.summary


def test_regression_on_a_non_gating_dimension_only_needs_review() -> None:
    base, cand = binary_pair(30, 3)
    ok_b, ok_c = binary_pair(2, 2)
    a, b = runs(("tone", base, cand, {"gating": False}), ("correct", ok_b, ok_c, {}))
    result = gate(a, b, margin=0.05)
    tone = result.get("tone")
    assert tone.verdict is Verdict.NEEDS_REVIEW and tone.result.family == "fdr_bh"
    assert "regression shown on a non-gating dimension" in tone.message
    assert result.verdict is Verdict.NEEDS_REVIEW and result.exit_code == EXIT_NEEDS_REVIEW == 3


def test_an_unshown_drop_of_the_tolerance_needs_review_and_says_what_it_would_take() -> None:
    base, cand = binary_pair(12, 6)  # observed -2 pp, exact p = 0.24: not shown
    a, b = runs(("correct", base, cand, {}))
    d = gate(a, b, tolerance=0.01, margin=0.10).get("correct")
    assert d.verdict is Verdict.NEEDS_REVIEW
    msg = d.message
    assert "observed drop of 2.0% of the scale (tolerance 1%) is not statistically shown" in msg
    # MDE at psi = 18/300 = 0.06 and the Connor n for 1 point at that discordance
    assert f"detects changes of {100 * d.result.mde:.1f}% of the scale or more" in msg
    assert f"detecting 1% needs about {d.result.n_for_tolerance:,} items" in msg
    assert 4000 < d.result.n_for_tolerance < 5000  # Connor: (1.96 sqrt(.06) + .84 sqrt(.0599))^2 / 1e-4 ~ 4,700


def test_pass_certifies_the_margin() -> None:
    base, cand = binary_pair(3, 3)  # psi = 0.02, effect 0
    a, b = runs(("correct", base, cand, {}))
    result = gate(a, b, margin=0.03)
    d = result.get("correct")
    assert result.verdict is Verdict.PASS and result.exit_code == EXIT_PASS == 0
    # Bonett-Price one-sided lower bound: -1.645 * sqrt((8/302) / 302) = -0.0154
    assert d.certified_margin == pytest.approx(0.0154, abs=2e-4)
    assert "certified: no worse than 1.5% of the scale" in d.message


def test_set_too_small_to_certify_the_margin_needs_review() -> None:
    base, cand = binary_pair(20, 20)  # psi = 0.133, effect 0: SE ~ 2.1 pp
    a, b = runs(("correct", base, cand, {}))
    d = gate(a, b, tolerance=0.01).get("correct")  # margin defaults to the tolerance (1%)
    assert d.verdict is Verdict.NEEDS_REVIEW
    assert "cannot rule out a drop of 1%" in d.message
    assert "detecting 1% needs about" in d.message
    assert gate(a, b, margin=0.05).get("correct").verdict is Verdict.PASS


def test_tolerance_is_a_share_of_the_scale_range() -> None:
    # 1-5 scale: 1% of the range is 0.04 points. 12 of 300 items drop one point -> -0.04 points = -1%.
    base = np.full(N, 4.0)
    cand = base.copy()
    cand[:12] = 3.0
    a, b = runs(("helpful", base, cand, {"kind": "ordinal", "scale": (1.0, 5.0), "gating": False}))
    d = gate(a, b, tolerance=0.01, n_resamples=2000).get("helpful")
    assert d.result.effect == pytest.approx(-0.04)
    assert d.result.scaled(d.result.effect) == pytest.approx(-0.01)
    assert "observed drop of 1.0% of the scale" in d.message or "regression shown" in d.message
    cand[:12] = 4.0
    cand[:9] = 3.0  # -0.03 points = -0.75% of the scale: below the tolerance
    a, b = runs(("helpful", base, cand, {"kind": "ordinal", "scale": (1.0, 5.0), "gating": False}))
    assert not any("observed drop" in r for r in gate(a, b, n_resamples=2000).get("helpful").reasons)


def test_untrusted_dimension_never_passes_nor_blocks() -> None:
    base, cand = binary_pair(30, 3)
    ok_b, ok_c = binary_pair(2, 2)
    a, b = runs(("judge_tone", base, cand, {}), ("correct", ok_b, ok_c, {}))
    result = gate(a, b, margin=0.05, untrusted={"judge_tone", "not_in_the_tables"})
    tone = result.get("judge_tone")
    assert not tone.trusted and tone.gating  # configured gating, but out of the Holm family
    assert tone.result.family == "fdr_bh"
    assert tone.verdict is Verdict.NEEDS_REVIEW and "untrusted judge" in tone.message
    assert result.get("correct").verdict is Verdict.PASS
    assert result.verdict is Verdict.NEEDS_REVIEW
    # an untrusted dimension with no change still cannot pass
    a, b = runs(("judge_tone", ok_b, ok_c, {}), ("correct", ok_b, ok_c, {}))
    tone = gate(a, b, margin=0.05, untrusted=["judge_tone"]).get("judge_tone")
    assert tone.verdict is Verdict.NEEDS_REVIEW and "cannot pass on its own" in tone.message


def test_no_trusted_gating_dimension_cannot_pass() -> None:
    ok_b, ok_c = binary_pair(2, 2)
    a, b = runs(("tone", ok_b, ok_c, {"gating": False}))
    result = gate(a, b, margin=0.05)
    assert result.get("tone").verdict is Verdict.PASS  # nothing wrong with the dimension itself
    assert result.verdict is Verdict.NEEDS_REVIEW and "no trusted gating dimension" in result.summary


def test_too_few_items_needs_review() -> None:
    a, b = runs(("correct", [1.0] * 8, [0.0] * 8, {}))
    result = gate(a, b)
    d = result.get("correct")
    assert d.verdict is Verdict.NEEDS_REVIEW and "cannot be tested: only 8 paired items" in d.message
    assert math.isnan(d.certified_margin)


def test_stratum_regression_reason_when_overall_is_not_shown() -> None:
    # edge loses 7 items, common gains 5: overall -2/300, not shown; edge 7 vs 0 -> p = 0.016 (BH over 3 strata)
    base = np.array([1.0] * 170 + [0.0] * 10 + [1.0] * 75 + [1.0] * 45)
    cand = base.copy()
    cand[170:175] = 1.0
    cand[180:187] = 0.0
    a, b = runs(("correct", base, cand, {"strata": STRATA}))
    result = gate(a, b, margin=0.2)
    d = result.get("correct")
    edge = result.comparison.get("correct", "edge")
    assert edge.regressed
    assert d.verdict is Verdict.NEEDS_REVIEW and "stratum 'edge' regressed" in d.message


def test_production_shares_add_post_stratified_estimates() -> None:
    base, cand = binary_pair(6, 3)
    a, b = runs(("correct", base, cand, {"strata": STRATA}))
    result = gate(a, b, production_shares={"common": 0.7, "edge": 0.2, "adversarial": 0.1})
    assert result.production is not None
    pe = result.production[0]
    assert pe.effect.raw_mean == pytest.approx(result.get("correct").result.effect)
    assert pe.baseline.mean == pytest.approx(
        0.7 * base[:180].mean() + 0.2 * base[180:255].mean() + 0.1 * base[255:].mean()
    )
    assert "Production-weighted" in result.to_markdown()
    with pytest.raises(ConfigError, match="must sum to 1"):
        gate(a, b, production_shares={"common": 0.7})
    a2, b2 = runs(("correct", base, cand, {}))
    with pytest.raises(ConfigError, match="stratum"):
        gate(a2, b2, production_shares={"common": 1.0})


def test_gate_validates_parameters_and_pairs() -> None:
    base, cand = binary_pair(2, 2)
    a, b = runs(("correct", base, cand, {}))
    with pytest.raises(ConfigError, match="'margin' parameter of gate"):
        gate(a, b, margin=-1)
    with pytest.raises(ConfigError, match="not a str"):
        gate(a, b, untrusted="correct")
    with pytest.raises(UnmatchedItemsError, match="q299"):
        gate(a, b.iloc[:-1])


def test_exit_codes_are_distinct_constants() -> None:
    codes = {EXIT_PASS, EXIT_NEEDS_REVIEW, EXIT_BLOCK, EXIT_ERROR}
    assert len(codes) == 4 and 1 not in codes  # 1 stays the code of an uncaught exception
    assert [v.exit_code for v in Verdict] == [0, 3, 4]


# --------------------------------------------------------------------------- renderings


@pytest.fixture(scope="module")
def mixed_result():
    rng = np.random.default_rng(3)
    base, cand = binary_pair(30, 3)
    h_base = rng.integers(2, 6, N).astype(float)
    h_cand = np.clip(h_base + rng.choice([-1, 0, 0, 1], N), 1, 5)
    a, b = runs(
        ("correct", base, cand, {"strata": STRATA}),
        ("help|ful", h_base, h_cand, {"kind": "ordinal", "scale": (1.0, 5.0), "strata": STRATA}),
    )
    a.loc[a.item_id == "q000", "item_id"] = "id with space/&"
    b.loc[b.item_id == "q000", "item_id"] = "id with space/&"
    return gate(a, b, margin=0.05, n_resamples=2000)


def test_markdown_summary(mixed_result) -> None:
    text = mixed_result.to_markdown(report_url="https://ci.example/r.html", max_items=3)
    assert text.startswith("## evaltools gate: ❌ BLOCK")
    assert "| correct | ❌ BLOCK | yes | pass/fail | 300 | -9.0% |" in text  # the verdict is the second column
    assert "help\\|ful" in text  # pipes escaped inside table cells
    assert "[id with space/&](https://ci.example/r.html#item-id%20with%20space%2F%26)" in text
    worst = text.split("### Worst regressed items")[1].split("<details>")[0]
    assert worst.count("https://ci.example/r.html#item-") == 3
    assert "By stratum (exploratory; Benjamini-Hochberg adjusted)" in text
    assert "https://" not in mixed_result.to_markdown()  # no links without a report URL


def test_junit_xml(mixed_result) -> None:
    root = ET.fromstring(mixed_result.to_junit_xml())
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["correct", "help|ful", "coverage"]
    assert cases[0].find("failure").get("type") == "regression"
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["verdict"] == "BLOCK" and props["exit_code"] == "4"
    helpful = mixed_result.get("help|ful")
    failure = cases[1].find("failure")
    if helpful.verdict is Verdict.PASS:
        assert failure is None and cases[1].find("system-out") is not None
    else:
        assert failure.get("type") == ("needs_review" if helpful.verdict is Verdict.NEEDS_REVIEW else "regression")
    assert suite.get("failures") == str(sum(d.verdict is not Verdict.PASS for d in mixed_result.dimensions))
    assert cases[2].find("failure") is None  # no item lost: the coverage check passes


def test_frame_and_html(mixed_result) -> None:
    df = mixed_result.to_frame()
    assert list(df["dimension"]) == ["correct", "help|ful", "coverage"]
    assert list(df["check"]) == ["dimension", "dimension", "coverage"]
    assert df.loc[0, "verdict"] == "BLOCK" and df.loc[0, "effect_scaled"] == pytest.approx(-0.09)
    html = mixed_result._repr_html_()  # the compact table of the report, reasons collapsed
    # the coverage check has its own row, as in the Markdown and JUnit views
    assert "BLOCK</span>" in html and html.count('<tr id="gate-') == 3 and "ci_low_scaled" not in html


# --------------------------------------------------------------------------- noise floor and simulations


def test_aa_noise_floor_reports_rates_and_the_observed_gate() -> None:
    # two runs of one variant: each item has its own pass probability, the runs draw independently
    rng = np.random.default_rng(8)
    p_item = np.where(rng.random(N) < 0.85, 0.97, 0.03)
    a = (rng.random(N) < p_item).astype(float)
    a2 = (rng.random(N) < p_item).astype(float)  # discordance ~ 2 * 0.97 * 0.03 = 6%
    t1, t2 = runs(("correct", a, a2, {"strata": STRATA}))
    floor = aa_noise_floor(t1, t2, margin=0.05, n_sim=100, rng=4)
    assert floor.block_rate + floor.review_rate + floor.pass_rate == pytest.approx(1.0)
    assert floor.block_rate <= 0.10
    assert floor.observed.verdict in set(Verdict)
    again = aa_noise_floor(t1, t2, margin=0.05, n_sim=100, rng=4)
    assert again.block_rate == floor.block_rate and again.review_rate == floor.review_rate
    text = floor.to_markdown()
    assert "A/A noise floor" in text and "false BLOCK rate" in text and "## evaltools gate:" in text
    assert list(floor.to_frame()["dimension"]) == ["correct"]
    # with a 1% margin an unchanged 300-item set rarely certifies (SE ~ sqrt(0.06/300) = 1.4 pp, so the
    # one-sided bound sits ~2.3 pp under the effect): most unchanged systems go to review
    strict = aa_noise_floor(t1, t2, margin=0.01, n_sim=50, rng=4)
    assert strict.review_rate >= 0.6 and strict.review_rate > floor.review_rate


def test_aa_noise_floor_flips_whole_clusters() -> None:
    # clustered A/A differences: flipping items one by one would understate the noise
    rng = np.random.default_rng(12)
    groups = [f"doc{i // 10}" for i in range(N)]
    a = np.clip(0.7 + rng.normal(0, 0.05, N), 0, 1)
    a2 = np.clip(a + np.repeat(rng.normal(0, 0.05, 30), 10) + rng.normal(0, 0.01, N), 0, 1)
    t1, t2 = runs(("similarity", a, a2, {"kind": "continuous"}))
    t1["group"], t2["group"] = groups, groups
    floor = aa_noise_floor(t1, t2, margin=0.05, n_sim=60, rng=1, sim_resamples=200)
    assert "clusters swapped" in floor.method
    assert floor.block_rate <= 0.15


@pytest.mark.slow
def test_simulated_aa_block_rate_is_at_most_five_percent() -> None:
    # 5 gating binary dimensions, n = 300, psi = 0.15, 1,000 A/A replications
    sim = simulate_gate(n_items=300, n_dimensions=5, discordance=0.15, n_sim=1000, rng=20240601)
    print("\nA/A:", sim.summary)
    assert sim.block_rate <= 0.05
    assert sim.block_rate_ci.ci_high < 0.05  # not just below 5% by Monte Carlo luck


@pytest.mark.slow
def test_simulated_eight_point_drop_is_blocked_at_least_eighty_percent() -> None:
    sim = simulate_gate(
        n_items=300, n_dimensions=5, discordance=0.15, baseline_rate=0.85, drops=0.08, n_sim=1000, rng=20240602
    )
    print("\n8-point drop:", sim.summary)
    assert sim.block_rate >= 0.80
    assert sim.block_rate_by_dimension[0] >= 0.80 and max(sim.block_rate_by_dimension[1:]) <= 0.02


def test_simulate_gate_rejects_impossible_cells() -> None:
    with pytest.raises(ConfigError, match="negative cell probability"):
        simulate_gate(discordance=0.05, drops=0.08, n_sim=1)
    with pytest.raises(ConfigError, match="one value per dimension"):
        simulate_gate(drops=[0.0, 0.1], n_sim=1)


# --------------------------------------------------------------------------- CLI


def write_run(root: Path, run_id: str, table: pd.DataFrame) -> Path:
    run = root / "runs" / run_id
    run.mkdir(parents=True)
    table.assign(run_id=run_id).to_json(run / "scores.jsonl", orient="records", lines=True)
    return run


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="evaltools")
    add_gate_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


@pytest.fixture
def run_dirs(tmp_path: Path) -> tuple[Path, Path]:
    base, cand = binary_pair(30, 3)
    a, b = runs(("correct", base, cand, {"strata": STRATA}))
    return write_run(tmp_path, "A", a), write_run(tmp_path, "B", b)


def test_cli_blocks_and_writes_outputs(run_dirs, tmp_path, monkeypatch, capsys) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("previous step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    a, b = run_dirs
    code = cli(
        [
            "gate",
            "--baseline",
            str(a),
            "--candidate",
            str(b),
            "--margin",
            "0.03",
            "--junit",
            str(tmp_path / "gate.xml"),
            "--markdown",
            str(tmp_path / "gate.md"),
            "--production-shares",
            "common=0.7,edge=0.2,adversarial=0.1",
            "--n-resamples",
            "1000",
        ]
    )
    assert code == EXIT_BLOCK
    out = capsys.readouterr().out
    # The terminal gets a plain table, the file the Markdown (no pipes or backslash escapes on screen).
    assert out.startswith("evaltools gate: BLOCK\n") and "|" not in out and "\\" not in out
    row = next(line for line in out.splitlines() if line.startswith("correct "))
    assert row.split()[:3] == ["correct", "BLOCK", "yes"]
    assert (tmp_path / "gate.md").read_text().startswith("## evaltools gate: ❌ BLOCK")
    assert ET.parse(tmp_path / "gate.xml").getroot().find("testsuite/testcase").get("name") == "correct"
    step = summary.read_text()
    assert step.startswith("previous step\n") and "## evaltools gate" in step


def test_cli_pass_and_aa(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    base, cand = binary_pair(3, 3)
    a, b = runs(("correct", base, cand, {}))
    ra, rb = write_run(tmp_path, "A", a), write_run(tmp_path, "A2", b)
    assert cli(["gate", "--baseline", str(ra), "--candidate", str(rb), "--margin", "0.03"]) == EXIT_PASS
    code = cli(
        [
            "gate",
            "--baseline",
            str(ra),
            "--candidate",
            str(rb / "scores.jsonl"),
            "--margin",
            "0.03",
            "--aa",
            "--aa-sims",
            "20",
        ]
    )
    assert code == EXIT_PASS
    assert "A/A noise floor" in capsys.readouterr().out


def test_cli_reports_bad_input_with_exit_code_2(tmp_path, capsys) -> None:
    assert cli(["gate", "--baseline", str(tmp_path / "nope"), "--candidate", str(tmp_path)]) == EXIT_ERROR
    assert "No score table found" in capsys.readouterr().err
    base, cand = binary_pair(3, 3)
    a, b = runs(("correct", base, cand, {}))
    ra, rb = write_run(tmp_path, "A", a), write_run(tmp_path, "B", b.iloc[:-5])
    assert cli(["gate", "--baseline", str(ra), "--candidate", str(rb)]) == EXIT_ERROR
    assert "(5 in total)" in capsys.readouterr().err
    assert cli(["gate", "--baseline", str(ra), "--candidate", str(ra), "--production-shares", "common"]) == EXIT_ERROR


def test_evaltools_cli_runs_the_gate(run_dirs, monkeypatch, capsys) -> None:
    from evaltools.cli._main import main

    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    a, b = run_dirs
    assert main(["gate", "--baseline", str(a), "--candidate", str(b), "--n-resamples", "1000"]) == EXIT_BLOCK
    assert "BLOCK" in capsys.readouterr().out


def test_read_scores_keeps_ids_as_strings(tmp_path) -> None:
    path = tmp_path / "scores.jsonl"
    rows = [
        {
            "run_id": "0001",
            "item_id": "007",
            "dimension": "d",
            "value": 1.0,
            "kind": "binary",
            "scale_min": 0,
            "scale_max": 1,
            "group": None,
            "stratum": "edge",
        }
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    df = read_scores(path)
    assert df.loc[0, "item_id"] == "007" and df.loc[0, "run_id"] == "0001"
    assert parse_shares("common=0.7, edge=0.3") == {"common": 0.7, "edge": 0.3}


# --------------------------------------------------------------------------- golden-set version (issue 10, case 1)

REPO = Path(__file__).resolve().parents[2]


def test_gate_refuses_tables_scored_against_two_golden_versions() -> None:
    base, cand = binary_pair(3, 3)
    a, b = runs(("correct", base, cand, {}))
    a["golden_version"], b["golden_version"] = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
    with pytest.raises(VersionMismatchError) as err:
        gate(a, b)
    text = str(err.value)
    assert "'aaaaaaaaaaaa'" in text and "'bbbbbbbbbbbb'" in text and "evaltools score" in text
    with pytest.raises(VersionMismatchError):  # the comparison refuses the same pair
        compare(a, b)
    b["golden_version"] = "aaaaaaaaaaaa"
    assert gate(a, b, margin=0.05).verdict is Verdict.PASS


def _score_triage(run_dir: Path, golden: Path) -> pd.DataFrame:
    import evaltools as et

    gs = et.load_golden(golden, warn=False)
    dims = [d for d in et.dimensions_from_card(gs) if d.name.startswith("triage")]
    return et.score_run(run_dir, gs, dims)


def _import_run(tmp_path: Path, golden: Path, run_id: str, outputs: dict[str, str | None]) -> Path:
    import warnings

    from evaltools.runs._store import import_outputs

    src = tmp_path / f"{run_id}.jsonl"
    src.write_text("".join(json.dumps({"id": k, "output": v}) + "\n" for k, v in outputs.items()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a run with missing items warns; that is the point here
        run = import_outputs(src, golden, run_id=run_id, runs_dir=tmp_path / "runs")
    return Path(run.path)


def _recorded_outputs(run: str = "support-prompt-v2") -> dict[str, str | None]:
    lines = (REPO / "runs" / run / "outputs.jsonl").read_text().splitlines()
    return {rec["id"]: rec["output"] for rec in map(json.loads, lines)}


def test_cli_refuses_the_same_outputs_scored_against_an_edited_golden_set(tmp_path, capsys) -> None:
    # Reproduction: byte-identical outputs (the recorded prompt-v2 run); the candidate is scored against
    # a copy of golden/support where 30 expected.priority fields were edited, those the model had right first.
    import shutil

    from evaltools.scorers import parse_json_output

    edited = tmp_path / "golden" / "support"
    shutil.copytree(REPO / "golden" / "support", edited)
    outputs = _recorded_outputs("support-prompt-v2")
    items = [json.loads(line) for line in (edited / "items.jsonl").read_text().splitlines()]

    def said(item: dict) -> object:
        value, _ = parse_json_output(outputs.get(item["id"]) or "", allow_code_fence=True)
        return value.get("priority") if isinstance(value, dict) else None

    triage = [i for i in items if "priority" in (i.get("expected") or {})]
    order = sorted(triage, key=lambda i: said(i) != i["expected"]["priority"])  # right ones first
    for item in order[:30]:
        taken = {item["expected"]["priority"], said(item)}
        item["expected"]["priority"] = next(p for p in ("low", "normal", "high", "urgent") if p not in taken)
    (edited / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    a = _import_run(tmp_path, REPO / "golden" / "support", "base", outputs)
    b = _import_run(tmp_path, edited, "cand", outputs)
    ta, tb = _score_triage(a, REPO / "golden" / "support"), _score_triage(b, edited)
    # Without the version check the gate reads the edit as a regression (what main did: BLOCK, exit 4).
    blind = gate(ta.drop(columns="golden_version"), tb.drop(columns="golden_version"))
    assert blind.verdict is Verdict.BLOCK and blind.get("triage_fields").verdict is Verdict.BLOCK

    code = cli(["gate", "--baseline", str(a), "--candidate", str(b), "--margin", "0.06"])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    va, vb = ta["golden_version"].iloc[0], tb["golden_version"].iloc[0]
    assert va != vb and f"'{va}'" in err and f"'{vb}'" in err
    assert f"evaltools score {a} --golden golden/support" in err and f"evaltools score {b} --golden" in err

    # A score table written before tables carried the version: the manifests still tell them apart.
    for run in (a, b):
        table = read_scores(run).drop(columns="golden_version")
        table.to_json(run / "scores.jsonl", orient="records", lines=True)
    assert cli(["gate", "--baseline", str(a), "--candidate", str(b)]) == EXIT_ERROR
    assert "golden set version" in capsys.readouterr().err


# --------------------------------------------------------------------------- coverage check (issue 10, cases 2 and 11)


def _with_missing(values: np.ndarray, missing: int) -> np.ndarray:
    out = values.astype(float).copy()
    out[:missing] = np.nan
    return out


def test_fifty_missing_outputs_of_250_block_on_coverage() -> None:
    # Reproduction: no output for 50 of 250 items; the 200 scored ones are identical. main: PASS at margin 0.06.
    rng = np.random.default_rng(3)
    base = rng.uniform(0.3, 0.9, 250)
    a, b = runs(("similarity", base, _with_missing(base, 50), {"kind": "continuous"}))
    b.loc[b["value"].isna(), "unscored_reason"] = "no_output"
    result = gate(a, b, margin=0.06)
    assert result.verdict is Verdict.BLOCK and result.exit_code == EXIT_BLOCK
    cov = result.coverage
    assert cov is not None and cov.verdict is Verdict.BLOCK
    assert (cov.result.n_worse, cov.result.n_better, cov.result.n) == (50, 0, 250)
    assert cov.result.pvalue == pytest.approx(2 * 0.5**50)  # exact McNemar: 50 lost, none gained
    assert "no_output 50" in cov.message and "coverage loss shown" in cov.message
    dim = result.get("similarity")
    assert dim.verdict is Verdict.NEEDS_REVIEW  # 20% unscored > 6% margin: the dimension cannot pass either
    assert "50 of 250 items (20%) are unscored (no_output 50)" in dim.message
    # its own row in every view
    md_text = result.to_markdown()
    assert "| coverage | ❌ BLOCK | yes (check) | items scored | 250 |" in md_text  # verdict second
    assert "coverage loss shown: 50 of 250 items" in md_text
    cases = ET.fromstring(result.to_junit_xml()).find("testsuite").findall("testcase")
    assert cases[-1].get("name") == "coverage" and cases[-1].find("failure").get("type") == "coverage_loss"
    frame_ = result.to_frame()
    assert frame_.iloc[-1]["check"] == "coverage" and frame_.iloc[-1]["verdict"] == "BLOCK"
    assert "coverage loss shown" in result._repr_html_()


def test_one_lost_item_can_never_pass_but_is_not_shown() -> None:
    base, cand = binary_pair(0, 0)
    a, b = runs(("correct", base, _with_missing(cand, 1), {}))
    result = gate(a, b, margin=0.05)
    assert result.coverage.verdict is Verdict.NEEDS_REVIEW
    assert result.verdict is Verdict.NEEDS_REVIEW and "coverage" in result.summary
    assert "1 of 300 items scored in the baseline are missing or unscored" in result.coverage.message
    assert "too few for the exact test" in result.coverage.message
    # the same pair without the lost item passes: the lost item alone is what stops it
    assert gate(a, b.fillna({"value": 1.0}), margin=0.05).verdict is Verdict.PASS


def test_no_coverage_change_leaves_the_holm_family_alone() -> None:
    base, cand = binary_pair(20, 5)
    other_b, other_c = binary_pair(4, 4)
    a, b = runs(("correct", base, cand, {}), ("other", other_b, other_c, {}))
    result = gate(a, b, margin=0.05)
    plain = compare(a, b, margin=0.05)
    assert result.coverage.verdict is Verdict.PASS and result.coverage.result.family == "none"
    for name in ("correct", "other"):
        assert result.comparison.get(name).pvalue_adjusted == plain.get(name).pvalue_adjusted
    # a shown coverage loss joins the family (Holm over 3 gating checks now)
    b2 = b.copy()
    b2.loc[(b2.dimension == "other") & (b2.item_id.isin([f"q{i:03d}" for i in range(100, 140)])), "value"] = np.nan
    joined = gate(a, b2, margin=0.05)
    assert joined.coverage.result.family == "holm" and joined.coverage.verdict is Verdict.BLOCK
    cov = joined.coverage.result
    assert cov.pvalue_adjusted == pytest.approx(3 * cov.pvalue)  # the smallest of 3 Holm p-values


def test_an_item_gained_and_an_item_lost_on_an_untrusted_dimension_do_not_count() -> None:
    base, cand = binary_pair(0, 0)
    judged_b = np.full(N, 4.0)
    judged_c = _with_missing(judged_b, 30)
    a, b = runs(("correct", base, cand, {}), ("helpful", judged_b, judged_c, {"kind": "ordinal", "scale": (1, 5)}))
    result = gate(a, b, untrusted=["helpful"], margin=0.05)
    # coverage counts the gating family: the untrusted judge's holes are reported on its own row
    assert result.coverage.verdict is Verdict.PASS
    assert "30 of 300 items (10%) are unscored" in result.get("helpful").message


def test_planted_verdicts_that_unscore_every_judged_answer_block() -> None:
    # Reproduction (case 11): verdicts planted in all 72 judged answers make the judge's scores unscored
    # (injection_suspected); main turned the shown BLOCK into NEEDS_REVIEW with "0 (72 unscored)".
    rng = np.random.default_rng(5)
    judged = rng.integers(3, 6, 72).astype(float)
    planted = np.full(72, np.nan)
    a, b = runs(("helpfulness", judged, planted, {"kind": "ordinal", "scale": (1.0, 5.0)}))
    b["unscored_reason"] = "injection_suspected"
    result = gate(a, b, margin=0.05)
    assert result.verdict is Verdict.BLOCK and result.coverage.verdict is Verdict.BLOCK
    dim = result.get("helpfulness")
    assert dim.verdict is Verdict.NEEDS_REVIEW
    assert "72 of 72 items (100%) are unscored (injection_suspected 72)" in dim.message


def test_a_high_unscored_share_on_both_sides_stops_a_pass() -> None:
    # The judge failed on the same 20% of items in both runs: coverage is unchanged, but the
    # scored 80% cannot certify the dimension.
    rng = np.random.default_rng(6)
    values = rng.integers(3, 6, N).astype(float)
    holes = _with_missing(values, 60)
    a, b = runs(("helpfulness", holes, holes, {"kind": "ordinal", "scale": (1.0, 5.0)}))
    a["unscored_reason"] = b["unscored_reason"] = np.where(np.isnan(holes), "grade_parse_failure", None)
    result = gate(a, b, margin=0.05, n_resamples=1000)
    assert result.coverage.verdict is Verdict.PASS
    dim = result.get("helpfulness")
    assert dim.verdict is Verdict.NEEDS_REVIEW
    assert "60 of 300 items (20%) are unscored (grade_parse_failure 60)" in dim.message
    # Items the dimension does not apply to (item-level reasons) are not holes.
    a["unscored_reason"] = b["unscored_reason"] = np.where(np.isnan(holes), "no_expected", None)
    assert gate(a, b, margin=0.05, n_resamples=1000).get("helpfulness").verdict is Verdict.PASS


def test_cli_fifty_missing_outputs_on_the_demo_set_do_not_pass(tmp_path, capsys) -> None:
    outputs = _recorded_outputs()
    golden = REPO / "golden" / "support"
    # Reproduction on the demo set: the candidate has no output for 50 of the 250 items (every fifth:
    # half of them a failed request, half no line at all); the other 200 outputs are identical.
    dropped = dict(outputs)
    for i, item_id in enumerate(list(outputs)[::5]):
        if i % 2:
            dropped[item_id] = None
        else:
            del dropped[item_id]
    a = _import_run(tmp_path, golden, "base", outputs)
    b = _import_run(tmp_path, golden, "cand", dropped)
    _score_triage(a, golden)
    tb = _score_triage(b, golden)
    lost = tb.loc[tb["value"].isna() & (tb["unscored_reason"] == "no_output"), "item_id"].nunique()
    assert lost > 0
    code = cli(
        ["gate", "--baseline", str(a), "--candidate", str(b), "--margin", "0.06", "--junit", str(tmp_path / "g.xml")]
    )
    out = capsys.readouterr().out
    assert code == EXIT_BLOCK  # main: PASS (exit 0), "(15 unscored)" only in the n column
    row = next(line for line in out.splitlines() if line.startswith("coverage "))  # the terminal table's row
    assert "BLOCK" in row and "yes (check)" in row and f"{lost} of " in out
    assert ET.parse(tmp_path / "g.xml").getroot().findall("testsuite/testcase")[-1].get("name") == "coverage"


def test_cli_takes_untrusted_judge_dimensions_from_calibration(tmp_path, monkeypatch, capsys) -> None:
    import json
    import shutil

    from evaltools.calibration._labels import append_label

    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    mini = Path(__file__).parents[1] / "fixtures" / "golden_mini"
    golden = tmp_path / "golden" / "mini"
    shutil.copytree(mini, golden)
    with (golden / "card.yaml").open("a") as card:
        card.write("  - {name: helpfulness, scorer: judge, rubric: helpfulness, params: {judge_model: m}}\n")
    ids = [json.loads(line)["id"] for line in (golden / "items.jsonl").read_text().splitlines()]
    rng = np.random.default_rng(0)
    judged = rng.integers(1, 6, len(ids)).astype(float)
    for item, value in zip(ids, judged, strict=True):
        append_label(golden / "labels", item_id=item, dimension="helpfulness", value=value, annotator="ana",
                     run_id="A")  # fmt: skip
    tables = []
    for run, values in (("A", judged), ("B", judged)):
        t = frame(values, run=run, dimension="helpfulness", kind="ordinal", scale=(1.0, 5.0), ids=ids)
        tables.append(pd.concat([t, frame(np.ones(len(ids)), run=run, ids=ids)], ignore_index=True))
    a, b = write_run(tmp_path, "A", tables[0]), write_run(tmp_path, "B", tables[1])
    (b / "manifest.json").write_text(json.dumps({"run_id": "B", "golden_name": "mini"}))
    monkeypatch.chdir(tmp_path)
    # Before: without --untrusted, a judge that was never shown to agree with people gated like any scorer.
    # After: the golden set (found from the candidate's manifest) is calibrated; 10 labels < 50 is not trusted.
    code = cli(["gate", "--baseline", str(a), "--candidate", str(b), "--n-resamples", "500"])
    captured = capsys.readouterr()
    assert "judge calibration against golden/mini/labels: untrusted helpfulness" in captured.err
    row = next(line for line in captured.out.splitlines() if line.startswith("helpfulness "))
    assert "untrusted" in row and code != EXIT_PASS
    assert cli(["gate", "--baseline", str(a), "--candidate", str(b), "--n-resamples", "500", "--untrusted", ""]) in (
        EXIT_PASS, 3)  # fmt: skip
    assert "judge calibration" not in capsys.readouterr().err
