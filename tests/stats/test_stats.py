"""Tests of evaltools.stats: paired tests, clustering, corrections, power, estimates.

Reference values come from tests/reference/gen_stats_reference.py (scipy and
statsmodels, not evaltools); the arithmetic of hand-made cases is in comments.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from evaltools.errors import ConfigError, InputError
from evaltools.stats import (
    Comparison,
    UnmatchedItemsError,
    compare,
    mde,
    n_required,
    post_stratify,
    power,
    wilson_interval,
)
from evaltools.stats._bootstrap import bootstrap_mean_difference
from evaltools.stats._compare import _adjust, compare_paired
from evaltools.stats._paired import bonett_price
from evaltools.stats._results import PairedScores

REF_DIR = Path(__file__).resolve().parents[1] / "reference"
REF = json.loads((REF_DIR / "stats_reference.json").read_text())


def _read(name: str) -> pd.DataFrame:
    return pd.read_json(REF_DIR / name, lines=True, dtype={"item_id": str, "run_id": str, "group": object})


@pytest.fixture(scope="module")
def fixture_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _read("stats_baseline.jsonl"), _read("stats_candidate.jsonl")


@pytest.fixture(scope="module")
def unclustered(fixture_tables: tuple[pd.DataFrame, pd.DataFrame]) -> Comparison:
    base, cand = fixture_tables
    return compare(base.drop(columns="group"), cand.drop(columns="group"), rng=1)


@pytest.fixture(scope="module")
def clustered(fixture_tables: tuple[pd.DataFrame, pd.DataFrame]) -> Comparison:
    base, cand = fixture_tables
    return compare(base, cand, rng=1)


def table(
    values: list[float] | np.ndarray,
    *,
    run: str = "A",
    dimension: str = "correct",
    kind: str = "binary",
    scale: tuple[float, float] = (0.0, 1.0),
    strata: list[str] | None = None,
    groups: list[str] | None = None,
    ids: list[str] | None = None,
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
        }
    )
    if strata is not None:
        df["stratum"] = strata
    if groups is not None:
        df["group"] = groups
    return df


def _key(r) -> str:
    return f"{r.dimension}/{r.stratum or 'all'}"


# --------------------------------------------------------------------------- reference values


@pytest.mark.parametrize("cell", ["exact/all", "exact/common", "exact/edge"])
def test_binary_matches_binomtest_and_bonett_price(unclustered: Comparison, cell: str) -> None:
    ref = REF["cells"][cell]
    dim, stratum = cell.split("/")
    r = unclustered.get(dim, None if stratum == "all" else stratum)
    assert (r.n, r.n_unscored, r.n_worse, r.n_better) == (ref["n"], ref["n_unscored"], ref["n_worse"], ref["n_better"])
    assert r.effect == pytest.approx(ref["effect"], abs=1e-12)
    assert r.pvalue == pytest.approx(ref["pvalue"], rel=1e-12)  # exact McNemar == scipy binomtest
    assert (r.ci_low, r.ci_high) == pytest.approx(ref["ci"], abs=1e-12)  # DescrStatsW on augmented d
    assert r.ni_lower == pytest.approx(ref["ni_lower"], abs=1e-12)
    assert r.discordance == pytest.approx(ref["discordance"])
    assert r.status == "ok"


@pytest.mark.parametrize("cell", ["similarity/all", "similarity/common", "similarity/edge", "similarity/adversarial"])
def test_continuous_matches_ttest_rel(unclustered: Comparison, cell: str) -> None:
    ref = REF["cells"][cell]
    dim, stratum = cell.split("/")
    r = unclustered.get(dim, None if stratum == "all" else stratum)
    assert r.n == ref["n"]
    assert r.pvalue == pytest.approx(ref["ttest"]["pvalue"], rel=1e-9)
    assert (r.ci_low, r.ci_high) == pytest.approx(ref["ttest"]["ci"], abs=1e-12)
    assert r.sd_diff == pytest.approx(ref["sd_diff"], rel=1e-12)
    assert r.mde == pytest.approx(ref["mde"], rel=1e-6)  # TTestPower d_z * sd(d)
    assert r.method == "paired t"
    # the secondary BCa bootstrap agrees with the t interval to Monte Carlo and skew precision
    assert r.secondary_ci_low == pytest.approx(r.ci_low, abs=0.3 * r.se * 4)
    assert r.secondary_ci_high == pytest.approx(r.ci_high, abs=0.3 * r.se * 4)


@pytest.mark.parametrize("cell", ["helpful/all", "helpful/common", "helpful/edge", "similarity/all"])
def test_bca_is_scipy_bootstrap_to_the_last_digit(fixture_tables, cell: str) -> None:
    # Same Generator seed -> same index matrix as scipy.stats.bootstrap -> same BCa interval.
    base, cand = fixture_tables
    dim, stratum = cell.split("/")
    a = base[base.dimension == dim]
    b = cand[cand.dimension == dim]
    if stratum != "all":
        a, b = a[a.stratum == stratum], b[b.stratum == stratum]
    d = b["value"].to_numpy() - a["value"].to_numpy()
    d = d[~np.isnan(d)]
    boot = bootstrap_mean_difference(d, np.ones(d.size), 10_000, np.random.default_rng(REF["boot_seed"]))
    assert boot.interval(0.95) == pytest.approx(REF["cells"][cell]["bca_ci_seed_12345"], rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("cell", ["helpful/all", "helpful/common", "helpful/edge"])
def test_ordinal_uses_bootstrap_and_wilcoxon(unclustered: Comparison, cell: str) -> None:
    ref = REF["cells"][cell]
    dim, stratum = cell.split("/")
    r = unclustered.get(dim, None if stratum == "all" else stratum)
    assert r.method.startswith("paired bootstrap BCa")
    assert r.secondary_pvalue == pytest.approx(ref["wilcoxon_zsplit_pvalue"], rel=1e-9)
    # a different seed than the reference: agreement within Monte Carlo error of 10,000 resamples
    # (bootstrap means of n ordinal differences sit on a lattice of step 1/n: allow one step)
    assert (r.ci_low, r.ci_high) == pytest.approx(ref["bca_ci_seed_12345"], abs=1.01 / r.n)
    assert (r.secondary_ci_low, r.secondary_ci_high) == pytest.approx(ref["ttest"]["ci"], abs=1e-12)


@pytest.mark.parametrize("cell", ["exact/all", "exact/common", "exact/edge", "similarity/all", "similarity/common"])
def test_clustered_se_matches_statsmodels_ols_cluster(clustered: Comparison, cell: str) -> None:
    ref = REF["cells"][cell]["cluster"]
    dim, stratum = cell.split("/")
    r = clustered.get(dim, None if stratum == "all" else stratum)
    assert r.n_clusters == ref["n_clusters"]
    assert r.se == pytest.approx(ref["se"], rel=1e-10)
    assert (r.ci_low, r.ci_high) == pytest.approx(ref["ci"], rel=1e-9)
    assert r.pvalue == pytest.approx(ref["pvalue"], rel=1e-8)
    assert r.method.startswith("cluster-robust t")
    if r.kind == "binary":  # McNemar stays as the check that ignores clustering
        assert r.secondary_pvalue == pytest.approx(REF["cells"][cell]["pvalue"])


def test_clustered_ordinal_resamples_clusters(clustered: Comparison) -> None:
    r = clustered.get("helpful")
    assert "of 20 clusters" in r.method
    assert r.n_clusters == 20
    assert r.design_effect >= 1.0


def test_holm_on_gating_overall_rows_and_bh_on_the_rest(clustered: Comparison) -> None:
    rows = clustered.results
    holm = [r for r in rows if r.family == "holm"]
    bh = [r for r in rows if r.family == "fdr_bh"]
    # the fixture's card marks exact and helpful as gating, similarity as not
    assert {r.dimension for r in holm} == {"exact", "helpful"}
    assert all(r.stratum is None for r in holm)
    expected = multipletests([r.pvalue for r in holm], alpha=0.05, method="holm")[1]
    assert [r.pvalue_adjusted for r in holm] == pytest.approx(list(expected))
    expected = multipletests([r.pvalue for r in bh], alpha=0.05, method="fdr_bh")[1]
    assert [r.pvalue_adjusted for r in bh] == pytest.approx(list(expected))
    # too-few-item rows (the 12-item adversarial stratum loses items to NaN) have no family
    none = [r for r in rows if r.family == "none"]
    assert none and all(r.status == "too_few_items" and math.isnan(r.pvalue_adjusted) for r in none)
    assert len(holm) + len(bh) + len(none) == len(rows)


def test_holm_adjustment_arithmetic() -> None:
    # Holm on p = (0.01, 0.04, 0.03): sorted 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    base = compare(table([1.0] * 20), table([1.0] * 20)).get("correct")
    import dataclasses

    rows = [dataclasses.replace(base, dimension=f"d{i}", pvalue=p) for i, p in enumerate([0.01, 0.04, 0.03])]
    adjusted = _adjust(rows, 0.05)
    assert [r.pvalue_adjusted for r in adjusted] == pytest.approx([0.03, 0.06, 0.06])
    assert [r.significant for r in adjusted] == [True, False, False]
    ref = REF["multipletests"]
    rows = [dataclasses.replace(base, dimension=f"d{i}", pvalue=p) for i, p in enumerate(ref["pvals"])]
    assert [r.pvalue_adjusted for r in _adjust(rows, 0.05)] == pytest.approx(ref["holm"])


def test_simultaneous_interval_is_bonferroni_level(unclustered: Comparison) -> None:
    r = unclustered.get("exact")
    n_gating = sum(x.gating for x in unclustered.overall)  # 2
    lo, hi = bonett_price(r.n_worse, r.n_better, r.n, 0.05 / n_gating)
    assert (r.simultaneous_ci_low, r.simultaneous_ci_high) == pytest.approx((lo, hi))
    assert r.simultaneous_ci_low < r.ci_low and r.simultaneous_ci_high > r.ci_high
    assert math.isnan(unclustered.get("similarity").simultaneous_ci_low)  # not gating


# --------------------------------------------------------------------------- power and MDE

# STATS.md 1.5: MDE for n = 300, alpha = 0.05, power 0.8 (percentage points)
MDE_TABLE = [
    # psi, Connor, exact two-sided, Connor one-sided, exact one-sided
    (0.05, 3.60, 3.68, 3.20, 3.34),
    (0.10, 5.09, 5.30, 4.52, 4.71),
    (0.15, 6.24, 6.43, 5.54, 5.77),
    (0.20, 7.21, 7.42, 6.40, 6.65),
    (0.255, 8.14, 8.39, 7.22, 7.51),
]


@pytest.mark.parametrize(("psi", "connor", "exact", "connor1", "exact1"), MDE_TABLE)
def test_binary_mde_matches_stats_md_table(psi, connor, exact, connor1, exact1) -> None:
    assert 100 * mde(300, discordance=psi) == pytest.approx(connor, abs=0.006)
    assert 100 * mde(300, discordance=psi, method="exact") == pytest.approx(exact, abs=0.006)
    assert 100 * mde(300, discordance=psi, alternative="one-sided") == pytest.approx(connor1, abs=0.006)
    assert 100 * mde(300, discordance=psi, alternative="one-sided", method="exact") == pytest.approx(exact1, abs=0.006)


@pytest.mark.parametrize(("psi", "n_table"), [(0.05, 3922), (0.10, 7847), (0.15, 11771), (0.20, 15695)])
def test_n_required_for_one_point(psi: float, n_table: int) -> None:
    # STATS.md rounds Connor's n to the nearest item (3922.08 -> 3922); a sample size is rounded up
    assert n_required(0.01, discordance=psi) in (n_table, n_table + 1)
    assert power(0.01, n_required(0.01, discordance=psi), discordance=psi) >= 0.8


@pytest.mark.parametrize(
    ("sd", "expected"),
    [(0.05, 0.008), (0.10, 0.016), (0.20, 0.032), (0.30, 0.049), (0.5, 0.081), (0.8, 0.129), (1.0, 0.162)],
)
def test_continuous_mde_matches_stats_md_table(sd: float, expected: float) -> None:
    # STATS.md 1.5: MDE = 2.8016 sd / sqrt(300); TTestPower's noncentral t is ~0.3% larger
    for kind in ("continuous", "ordinal"):
        assert mde(300, kind=kind, sd_diff=sd) == pytest.approx(expected, abs=0.0011)
    assert mde(300, kind="continuous", sd_diff=sd) == pytest.approx(REF["ttest_power_dz_n300"] * sd, rel=1e-9)


@pytest.mark.parametrize("case", REF["exact_mcnemar_mc"], ids=lambda c: f"psi{c['psi']}")
def test_exact_power_matches_monte_carlo_of_statsmodels_mcnemar(case) -> None:
    got = power(case["delta"], case["n"], discordance=case["psi"], method="exact")
    se = math.sqrt(case["power"] * (1 - case["power"]) / case["reps"])
    assert got == pytest.approx(case["power"], abs=4 * se)
    assert got == pytest.approx(0.80, abs=0.01)  # the STATS.md exact MDE is where power reaches 0.8


def test_power_mde_n_required_are_consistent() -> None:
    n = n_required(0.02, kind="ordinal", sd_diff=0.6)
    assert power(0.02, n, kind="ordinal", sd_diff=0.6) >= 0.8 > power(0.02, n - 1, kind="ordinal", sd_diff=0.6)
    assert mde(n, kind="ordinal", sd_diff=0.6) <= 0.02 < mde(n - 1, kind="ordinal", sd_diff=0.6)
    n_exact = n_required(0.05, discordance=0.15, method="exact")
    assert power(0.05, n_exact, discordance=0.15, method="exact") >= 0.8
    assert abs(n_exact - n_required(0.05, discordance=0.15)) < 0.1 * n_exact
    assert power(0.0, 300, discordance=0.1, method="exact") <= 0.05  # size of the exact test


def test_t_power_near_one_is_not_nan() -> None:
    # scipy's noncentral t gives NaN for statsmodels' TTestPower at d_z = 3, n = 11 (power ~ 1)
    assert power(3.0, 11, kind="continuous", sd_diff=1.0) == pytest.approx(1.0)
    # d_z = 3: n = 3 has power 0.745 (TTestPower), n = 4 reaches 0.967
    assert n_required(3.0, kind="continuous", sd_diff=1.0) == 4


def test_mde_is_nan_when_no_effect_can_reach_the_power() -> None:
    # psi = 0.002 on 300 items: 0.6 discordant items expected; even delta = psi has power << 0.8
    assert math.isnan(mde(300, discordance=0.002))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"effect": 0.02, "n": 300}, "needs 'discordance'"),
        ({"effect": 0.02, "n": 300, "kind": "ordinal"}, "needs 'sd_diff'"),
        ({"effect": 0.2, "n": 300, "discordance": 0.1}, "cannot exceed the discordance"),
        ({"effect": 0.02, "n": 300, "kind": "ordinal", "sd_diff": 1.0, "method": "exact"}, "only for binary"),
        ({"effect": 0.02, "n": 300, "discordance": 0.1, "alpha": 1.5}, "'alpha' parameter of power must be"),
        ({"effect": 0.02, "n": 300, "kind": "likert", "discordance": 0.1}, "'kind' parameter of power"),
        ({"effect": 0.02, "n": 1, "discordance": 0.1}, "'n' parameter of power must be an int >= 2"),
    ],
)
def test_power_rejects_bad_parameters(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        power(**kwargs)


def test_n_required_rejects_zero_effect() -> None:
    with pytest.raises(ConfigError, match="non-zero"):
        n_required(0.0, discordance=0.1)


# --------------------------------------------------------------------------- estimates


def test_wilson_matches_statsmodels_and_stats_md() -> None:
    est = wilson_interval(255, 300)
    assert (est.ci_low, est.ci_high) == pytest.approx(REF["wilson_255_300"], abs=1e-12)
    assert (round(est.ci_low, 3), round(est.ci_high, 3)) == (0.805, 0.886)  # STATS.md 1.5
    assert est.proportion == 0.85 and est.method == "wilson"
    empty = wilson_interval(0, 0)
    assert math.isnan(empty.proportion) and math.isnan(empty.ci_low)
    with pytest.raises(ConfigError, match="must be <= n"):
        wilson_interval(5, 3)


def _strat_table(dim: str = "correct") -> pd.DataFrame:
    rows = [("common", 180, 162), ("edge", 75, 60), ("adversarial", 45, 27)]
    return pd.DataFrame(
        [
            {"dimension": dim, "kind": "binary", "stratum": s, "value": float(i < k)}
            for s, n, k in rows
            for i in range(n)
        ]
    )


def test_post_stratify_matches_the_formula() -> None:
    ref = REF["post_stratified"]
    shares = {"common": 0.7, "edge": 0.2, "adversarial": 0.1}
    est = post_stratify(_strat_table(), shares).get("correct")
    assert est.raw_mean == pytest.approx(ref["raw_mean"])  # 249 / 300 = 0.83
    assert est.mean == pytest.approx(ref["mean"])  # 0.7*0.9 + 0.2*0.8 + 0.1*0.6 = 0.85
    assert est.se == pytest.approx(ref["se"])
    assert est.df == pytest.approx(ref["df"])
    assert (est.ci_low, est.ci_high) == pytest.approx(ref["t_ci"])
    normal = post_stratify(_strat_table(), shares, ci_method="normal").get("correct")
    assert (normal.ci_low, normal.ci_high) == pytest.approx(ref["normal_ci"])
    assert (normal.ci_high - normal.ci_low) / 2 == pytest.approx(0.0386, abs=5e-4)  # STATS.md: 0.850 +/- 0.038
    # the raw golden mean keeps its Wilson interval beside it
    wilson = wilson_interval(249, 300)
    assert (est.raw_ci_low, est.raw_ci_high) == pytest.approx((wilson.ci_low, wilson.ci_high))
    frame = post_stratify(_strat_table(), shares).to_frame()
    assert list(frame["dimension"]) == ["correct"]


def test_post_stratify_degenerate_strata() -> None:
    df = _strat_table()
    one = pd.concat([df[df.stratum != "adversarial"], df[df.stratum == "adversarial"].head(1)])
    est = post_stratify(one, {"common": 0.7, "edge": 0.2, "adversarial": 0.1}).get("correct")
    assert math.isfinite(est.mean) and math.isnan(est.se) and math.isnan(est.ci_low)
    assert "1 scored item" in est.note
    missing = post_stratify(df[df.stratum != "adversarial"], {"common": 0.7, "edge": 0.2, "adversarial": 0.1})
    assert math.isnan(missing.get("correct").mean)
    assert "no scored item" in missing.get("correct").note


@pytest.mark.parametrize(
    ("shares", "error", "match"),
    [
        ({"common": 0.7, "edge": 0.2}, ConfigError, "must sum to 1"),
        ({"common": 0.7, "edge": 0.4, "adversarial": -0.1}, ConfigError, ">= 0"),
        ({"common": 0.8, "edge": 0.2}, InputError, "does not name"),  # data has 'adversarial'
    ],
)
def test_post_stratify_rejects_bad_shares(shares, error, match) -> None:
    data = _strat_table() if match != "must sum to 1" else _strat_table()
    with pytest.raises(error, match=match):
        post_stratify(data, shares)


# --------------------------------------------------------------------------- degenerate cases


def test_no_discordant_items_is_not_no_difference() -> None:
    values = [1.0] * 250 + [0.0] * 50
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = compare(table(values), table(values, run="B")).get("correct")
    assert r.status == "no_discordant"
    assert r.pvalue == 1.0
    assert "no discordant items" in r.note
    # Bonett-Price with b = c = 0 on 300 items: +/- 1.96 * sqrt(2/302) / sqrt(302) = +/- 0.0092
    assert (r.ci_low, r.ci_high) == pytest.approx((-0.00918, 0.00918), abs=1e-5)
    assert math.isnan(r.mde)


@pytest.mark.parametrize(("kind", "scale", "value"), [("ordinal", (1.0, 5.0), 4.0), ("continuous", (0.0, 1.0), 0.7)])
def test_all_scores_equal_gives_the_degenerate_interval_without_warnings(kind, scale, value) -> None:
    base = table([value] * 40, kind=kind, scale=scale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DegenerateDataWarning, no RuntimeWarning
        r = compare(base, base.assign(run_id="B")).get("correct")
    assert r.status == "no_variation"
    assert (r.ci_low, r.ci_high, r.pvalue, r.effect) == (0.0, 0.0, 1.0, 0.0)
    assert "degenerate" in r.note
    assert math.isnan(r.mde)


def test_constant_nonzero_shift_uses_the_sign_test() -> None:
    base = table([3.0] * 12, kind="ordinal", scale=(1.0, 5.0))
    cand = table([4.0] * 12, run="B", kind="ordinal", scale=(1.0, 5.0))
    r = compare(base, cand).get("correct")
    assert r.status == "no_variation" and (r.ci_low, r.ci_high) == (1.0, 1.0)
    assert r.pvalue == pytest.approx(2 * 0.5**12)  # all 12 items moved up: exact sign test


def test_fewer_than_min_items_reports_no_evidence() -> None:
    base = table([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    cand = table([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0], run="B")
    r = compare(base, cand).get("correct")
    assert r.status == "too_few_items" and "only 7 paired items" in r.note
    assert r.effect == pytest.approx(-4 / 7)  # descriptive only
    for value in (r.ci_low, r.ci_high, r.pvalue, r.mde, r.ni_lower, r.pvalue_adjusted, r.discordance):
        assert math.isnan(value)
    assert r.family == "none" and not r.significant and not r.usable


def test_a_stratum_with_one_item() -> None:
    strata = ["common"] * 29 + ["edge"]
    base = table([1.0] * 30, strata=strata)
    cand = table([1.0] * 25 + [0.0] * 5, run="B", strata=strata)
    cmp = compare(base, cand)
    edge = cmp.get("correct", "edge")
    assert edge.n == 1 and edge.status == "too_few_items" and "only 1 paired item " in edge.note
    assert math.isnan(edge.pvalue) and edge.family == "none"
    common = cmp.get("correct", "common")
    assert common.status == "ok" and common.family == "fdr_bh"


def test_all_unscored_is_empty() -> None:
    r = compare(table([np.nan] * 12), table([1.0] * 12, run="B")).get("correct")
    assert r.status == "empty" and r.n == 0 and r.n_unscored == 12 and math.isnan(r.effect)


def test_unscored_pairs_are_dropped_and_counted() -> None:
    base = table([1.0, np.nan, 1.0, 0.0] * 10)
    cand = table([1.0, 1.0, np.nan, 0.0] * 10, run="B")
    r = compare(base, cand).get("correct")
    assert (r.n, r.n_unscored) == (20, 20)


def test_unmatched_ids_name_the_missing_items() -> None:
    base = table([1.0] * 20)
    cand = table([1.0] * 12, run="B")
    with pytest.raises(UnmatchedItemsError) as info:
        compare(base, cand)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, InputError)
    assert err.missing_in_candidate == tuple(f"q{i:03d}" for i in range(12, 20))
    assert "'q012', 'q013', 'q014', 'q015', 'q016' and 3 more (8 in total)" in str(err)
    assert err.missing_in_baseline == ()


def test_unmatched_dimensions_are_named() -> None:
    base = pd.concat([table([1.0] * 12), table([1.0] * 12, dimension="tone")])
    with pytest.raises(UnmatchedItemsError, match=r"dimensions only in the baseline: \['tone'\]"):
        compare(base, table([1.0] * 12, run="B"))


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda df: df.drop(columns="kind"), "lacks the columns \\['kind'\\]"),
        (lambda df: pd.concat([df, df.head(1)]), "duplicate \\(item_id, dimension\\) rows: 'q000/correct'"),
        (lambda df: df.assign(value=[2.0] + [1.0] * 11), "outside its scale"),
        (lambda df: df.assign(value=[0.5] + [1.0] * 11), "binary: 0 or 1"),
        (lambda df: df.assign(run_id=["A"] * 6 + ["C"] * 6), "mixes runs"),
        (lambda df: df.assign(kind="likert"), "unknown kinds"),
        (lambda df: df.assign(scale_min=1.0, scale_max=1.0), "scale_min < scale_max"),
    ],
)
def test_malformed_tables_raise_input_errors(mutate, match) -> None:
    with pytest.raises(InputError, match=match):
        compare(mutate(table([1.0] * 12)), table([1.0] * 12, run="B"))


def test_sides_must_agree_on_kind_and_stratum() -> None:
    with pytest.raises(InputError, match="binary' in the baseline but 'continuous' in the candidate"):
        compare(table([1.0] * 12), table([1.0] * 12, run="B", kind="continuous"))
    with pytest.raises(InputError, match="disagree on the stratum"):
        compare(table([1.0] * 12, strata=["common"] * 12), table([1.0] * 12, run="B", strata=["edge"] * 12))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 1.5}, "The 'alpha' parameter of compare must be a float in \\(0, 1\\). Got 1.5 instead."),
        ({"n_resamples": 10}, "'n_resamples' parameter of compare must be an int >= 100"),
        ({"tolerance": -0.1}, "'tolerance' parameter of compare"),
        ({"gating": ["nope"]}, "Unknown gating dimensions \\['nope'\\]. Valid dimensions: \\['correct'\\]"),
        ({"gating": "correct"}, "not a str"),
        ({"rng": "seed"}, "'rng' parameter of compare"),
    ],
)
def test_compare_rejects_bad_parameters(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        compare(table([1.0] * 12), table([1.0] * 12, run="B"), **kwargs)


def test_ids_that_look_numeric_stay_strings_and_pair() -> None:
    ids = [f"{i:03d}" for i in range(12)]
    base = table([1.0] * 12, ids=ids)
    cand = table([1.0] * 12, run="B", ids=[int(i) for i in ids])  # e.g. read without dtype=str
    with pytest.raises(UnmatchedItemsError, match="'000'"):
        compare(base, cand)  # '000' != '0': reported, never silently paired


# --------------------------------------------------------------------------- properties


def test_seed_is_recorded_and_reproduces(fixture_tables) -> None:
    base, cand = fixture_tables
    first = compare(base, cand, rng=None, n_resamples=2000)
    again = compare(base, cand, rng=first.seed, n_resamples=2000)
    assert first.get("helpful").ci_low == again.get("helpful").ci_low
    gen = compare(base, cand, rng=np.random.default_rng(5), n_resamples=2000)
    assert compare(base, cand, rng=gen.seed, n_resamples=2000).get("helpful").ci_high == gen.get("helpful").ci_high


def test_swapping_runs_mirrors_the_result(fixture_tables) -> None:
    base, cand = fixture_tables
    ab = compare(base, cand, rng=3)
    ba = compare(cand, base, rng=3)
    for dim in ("exact", "similarity", "helpful"):
        r, s = ab.get(dim), ba.get(dim)
        assert s.effect == pytest.approx(-r.effect)
        assert (s.ci_low, s.ci_high) == pytest.approx((-r.ci_high, -r.ci_low), abs=1e-9)
        assert s.pvalue == pytest.approx(r.pvalue, abs=1e-3 if r.kind == "ordinal" else 1e-12)


def test_bca_pvalue_agrees_with_the_interval() -> None:
    # p < alpha exactly when the interval excludes 0 (the p-value inverts the BCa interval)
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(40):
        n = int(rng.integers(15, 80))
        base = rng.integers(1, 6, n).astype(float)
        cand = np.clip(base + rng.choice([-1, 0, 0, 1], n) + rng.choice([0, 1], n, p=[0.7, 0.3]), 1, 5)
        r = compare(
            table(base, kind="ordinal", scale=(1, 5)),
            table(cand, run="B", kind="ordinal", scale=(1, 5)),
            rng=int(rng.integers(1000)),
            n_resamples=2000,
        ).get("correct")
        if r.status != "ok" or min(abs(r.ci_low), abs(r.ci_high)) < 1e-9:
            continue
        checked += 1
        assert (r.pvalue < 0.05) == (r.ci_low > 0 or r.ci_high < 0)
    assert checked >= 30


def test_list_and_array_values_agree() -> None:
    values = [1.0, 0.0] * 10
    a = compare(table(values), table(values[::-1], run="B")).get("correct")
    b = compare(table(np.array(values)), table(np.array(values[::-1]), run="B")).get("correct")
    assert a == b


def test_frames_and_html(unclustered: Comparison) -> None:
    frame = unclustered.to_frame()
    assert len(frame) == len(unclustered.results) == 3 + 3 * 3
    assert {"effect_scaled", "ci_low", "pvalue_adjusted", "family", "mde_scaled", "status"} <= set(frame.columns)
    helpful = frame[(frame.dimension == "helpful") & frame.stratum.isna()].iloc[0]
    assert helpful.effect_scaled == pytest.approx(helpful.effect / 4)  # 1-5 scale: range 4
    items = unclustered.item_frame()
    assert len(items) == 180 and items["unscored"].sum() > 0
    worst = unclustered.worst_items(5)
    assert len(worst) == 5 and (worst["diff"] < 0).all()
    assert worst["diff_scaled"].is_monotonic_increasing
    html_text = unclustered._repr_html_()
    assert "<table" in html_text and "run-B" in html_text


def test_html_escapes_names() -> None:
    cmp = compare(
        table([1.0] * 12, dimension="<script>x</script>"), table([1.0] * 12, run="B", dimension="<script>x</script>")
    )
    assert "<script>" not in cmp._repr_html_()
    with pytest.raises(ConfigError, match="Dimensions: <script>"):
        cmp.get("other")


# --------------------------------------------------------------------------- calibration by simulation


@pytest.mark.slow
def test_bonett_price_interval_covers_at_the_nominal_rate() -> None:
    # 2,000 paired binary samples, n = 100, psi = 0.10, true difference -0.04
    rng = np.random.default_rng(2024)
    psi, delta, n, reps = 0.10, 0.04, 100, 2000
    counts = rng.multinomial(n, [(psi + delta) / 2, (psi - delta) / 2, 1 - psi], size=reps)
    covered = [lo <= -delta <= hi for lo, hi in (bonett_price(w, b, n, 0.05) for w, b, _ in counts)]
    assert 0.93 <= np.mean(covered) <= 0.975


@pytest.mark.slow
def test_ordinal_bootstrap_test_holds_its_level() -> None:
    # 300 null datasets of 60 ordinal pairs: the BCa-inverted p-value rejects about 5%
    rng = np.random.default_rng(77)
    rejections = 0
    for k in range(300):
        base = rng.integers(1, 6, 60).astype(float)
        noise = rng.choice([-1, 0, 0, 0, 1], 60)
        cand = np.clip(base + noise, 1, 5)
        swap = rng.random(60) < 0.5  # exchangeable under the null
        a, b = np.where(swap, cand, base), np.where(swap, base, cand)
        r = compare(
            table(a, kind="ordinal", scale=(1, 5)),
            table(b, run="B", kind="ordinal", scale=(1, 5)),
            rng=k,
            n_resamples=1000,
        ).get("correct")
        rejections += r.pvalue < 0.05
    # binomial(300, 0.05): 15 expected; allow 2.5%-9% for Monte Carlo and bootstrap slack
    assert 7 <= rejections <= 27


@pytest.mark.slow
def test_clustered_t_interval_covers_where_the_naive_one_does_not() -> None:
    # 40 clusters of 5 items sharing a strong cluster effect on the difference (ICC ~ 0.5)
    rng = np.random.default_rng(99)
    cover_cluster = cover_naive = 0
    reps = 400
    codes = np.repeat(np.arange(40), 5)
    ids = np.array([f"q{i}" for i in range(200)], dtype=object)
    for k in range(reps):
        shift = np.repeat(rng.normal(0, 0.1, 40), 5)
        base = np.clip(0.6 + rng.normal(0, 0.05, 200), 0, 1)
        cand = np.clip(base + shift + rng.normal(0, 0.1, 200), 0, 1)
        true = 0.0  # E[shift] = 0 (clipping is rare at 0.6 +/- 0.2 and symmetric)
        # already-paired input (the table plumbing is tested above); the t interval is primary, so
        # few resamples suffice for the secondary bootstrap
        for grouped in (True, False):
            pair = PairedScores("sim", "continuous", 0.0, 1.0, True, ids, base, cand, None, codes if grouped else None)
            r = compare_paired(
                [pair],
                baseline_run="A",
                candidate_run="B",
                alpha=0.05,
                tolerance=0.01,
                margin=0.01,
                n_resamples=100,
                seed=k,
                min_items=10,
            ).overall[0]
            hit = r.ci_low <= true <= r.ci_high
            if grouped:
                cover_cluster += hit
            else:
                cover_naive += hit
    assert cover_cluster / reps >= 0.92
    assert cover_naive / reps <= 0.85  # ignoring the clusters is overconfident here


def test_stats_reference_script_is_committed() -> None:
    script = (REF_DIR / "gen_stats_reference.py").read_text()
    assert "scipy" in script and "statsmodels" in script
    assert stats.binomtest  # the reference script's independent routes exist in this scipy


def test_holm_matches_statsmodels_on_random_families():
    # Our step-down (no gc.collect per call) must give statsmodels' numbers exactly.
    from statsmodels.stats.multitest import multipletests

    from evaltools.stats import holm

    gen = np.random.default_rng(11)
    for m in (1, 2, 3, 5, 12):
        for _ in range(40):
            p = gen.random(m) ** 3
            if m > 2:
                p[1] = p[0]  # ties keep their order
            reject, adjusted = holm(p, 0.05)
            ref_reject, ref_adjusted, _, _ = multipletests(p, alpha=0.05, method="holm")
            np.testing.assert_allclose(adjusted, ref_adjusted, rtol=0, atol=1e-15)
            assert reject.tolist() == ref_reject.tolist()
