"""Generate the fixture score tables and the reference values for tests/test_stats.py.

Run from the repository root:

    .venv/bin/python tests/reference/gen_stats_reference.py

It writes ``stats_baseline.jsonl`` / ``stats_candidate.jsonl`` (two runs of 60
items x 3 dimensions, 3 strata, groups of 3 items, a few unscored values) and
``stats_reference.json`` with values computed *without evaltools' code*:
scipy (binomtest, ttest_rel, wilcoxon, bootstrap, t), statsmodels
(DescrStatsW, OLS with cluster covariance, TTestPower, proportion_confint,
multipletests, mcnemar) and plain numpy arithmetic. The exact-McNemar MDEs are
checked by a Monte Carlo simulation with statsmodels' mcnemar.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

HERE = Path(__file__).resolve().parent
SEED = 20240517
BOOT_SEED = 12345
N = 60
STRATA = ["common"] * 30 + ["edge"] * 18 + ["adversarial"] * 12
GROUPS = [f"doc{i // 3:02d}" for i in range(N)]
DIMS = {"exact": ("binary", 0.0, 1.0), "helpful": ("ordinal", 1.0, 5.0), "similarity": ("continuous", 0.0, 1.0)}


def make_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(SEED)
    ids = [f"item-{i:03d}" for i in range(N)]
    doc_effect = np.repeat(rng.normal(0, 1, N // 3), 3)  # items of one document share difficulty
    rows_a, rows_b = [], []
    for dim, (kind, lo, hi) in DIMS.items():
        if kind == "binary":
            a = (rng.random(N) < 0.8).astype(float)
            b = a.copy()
            lose = (rng.random(N) < 0.2) & (a == 1)
            gain = (rng.random(N) < 0.1) & (a == 0)
            b[lose], b[gain] = 0.0, 1.0
        elif kind == "ordinal":
            a = np.clip(np.round(3.5 + 0.8 * doc_effect + rng.normal(0, 0.7, N)), 1, 5)
            b = np.clip(a + rng.choice([-2, -1, 0, 0, 0, 1], N), 1, 5)
        else:
            a = np.clip(0.7 + 0.08 * doc_effect + rng.normal(0, 0.05, N), 0, 1)
            b = np.clip(a - 0.02 + 0.03 * doc_effect + rng.normal(0, 0.04, N), 0, 1)
        a[rng.random(N) < 0.04] = np.nan
        b[rng.random(N) < 0.04] = np.nan
        for run, values, rows in (("run-A", a, rows_a), ("run-B", b, rows_b)):
            for i in range(N):
                rows.append(
                    {
                        "run_id": run,
                        "item_id": ids[i],
                        "dimension": dim,
                        "value": None if np.isnan(values[i]) else round(float(values[i]), 6),
                        "kind": kind,
                        "scale_min": lo,
                        "scale_max": hi,
                        "unscored_reason": None,
                        "failure": None,
                        "detail": None,
                        "stratum": STRATA[i],
                        "group": GROUPS[i],
                        "gating": dim != "similarity",
                    }
                )
    return pd.DataFrame(rows_a), pd.DataFrame(rows_b)


def cell_refs(a: np.ndarray, b: np.ndarray, kind: str, groups: np.ndarray) -> dict[str, object]:
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b, g = a[keep], b[keep], groups[keep]
    d = b - a
    n = len(d)
    out: dict[str, object] = {"n": n, "n_unscored": int((~keep).sum()), "effect": float(d.mean())}
    if kind == "binary":
        worse, better = int((d < 0).sum()), int((d > 0).sum())
        out |= {"n_worse": worse, "n_better": better}
        # exact McNemar == two-sided exact binomial test on the discordant items
        out["pvalue"] = float(stats.binomtest(better, worse + better, 0.5).pvalue) if worse + better else 1.0
        # Bonett & Price (2012): Wald interval of the mean after adding one pseudo-item to each
        # discordant cell, with the plug-in (ddof=0) variance over n + 2 items
        d_adj = np.concatenate([d, [-1.0, 1.0]])
        desc = DescrStatsW(d_adj)
        se = float(np.sqrt(desc.var / desc.nobs))
        z = stats.norm.isf(0.025)
        out["ci"] = [float(desc.mean - z * se), float(desc.mean + z * se)]
        out["ni_lower"] = float(desc.mean - stats.norm.isf(0.05) * se)
        out["discordance"] = (worse + better) / n
    else:
        res = stats.ttest_rel(b, a)
        ci = res.confidence_interval(0.95)
        out["ttest"] = {"pvalue": float(res.pvalue), "ci": [float(ci.low), float(ci.high)]}
        if d.std() > 0:
            out["wilcoxon_zsplit_pvalue"] = float(stats.wilcoxon(d, zero_method="zsplit").pvalue)
            boot = stats.bootstrap(
                (d,), np.mean, n_resamples=10_000, method="BCa", rng=np.random.default_rng(BOOT_SEED), vectorized=True
            )
            out["bca_ci_seed_12345"] = [float(boot.confidence_interval.low), float(boot.confidence_interval.high)]
            out["sd_diff"] = float(d.std(ddof=1))
            d_z = TTestPower().solve_power(nobs=n, alpha=0.05, power=0.8, alternative="two-sided")
            out["mde"] = abs(float(np.asarray(d_z).item())) * float(d.std(ddof=1))
    # cluster-robust (CR1) OLS of d on a constant, t with G - 1 df
    codes = pd.factorize(g)[0]
    fit = sm.OLS(d, np.ones(n)).fit(cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
    out["cluster"] = {
        "se": float(fit.bse[0]),
        "ci": [float(v) for v in fit.conf_int(alpha=0.05)[0]],
        "pvalue": float(fit.pvalues[0]),
        "n_clusters": int(codes.max() + 1),
    }
    return out


def exact_mcnemar_monte_carlo(delta: float, psi: float, n: int, reps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    p10, p01 = (psi + delta) / 2, (psi - delta) / 2
    counts = rng.multinomial(n, [p10, p01, 1 - psi], size=reps)
    hits = 0
    for worse, better, _ in counts:
        hits += mcnemar([[0, worse], [better, 0]], exact=True).pvalue <= 0.05
    return hits / reps


def post_strat_reference() -> dict[str, object]:
    # STATS.md 4.1: accuracies 0.90 / 0.80 / 0.60 on 180 / 75 / 45 items, shares 70 / 20 / 10
    n_h = np.array([180, 75, 45])
    k_h = np.array([162, 60, 27])
    w_h = np.array([0.7, 0.2, 0.1])
    p_h = k_h / n_h
    s2_h = p_h * (1 - p_h) * n_h / (n_h - 1)
    mean = float(np.sum(w_h * p_h))
    terms = w_h**2 * s2_h / n_h
    var = float(terms.sum())
    df = var**2 / float(np.sum(terms**2 / (n_h - 1)))
    return {
        "mean": mean,
        "se": var**0.5,
        "raw_mean": float(k_h.sum() / n_h.sum()),
        "normal_ci": [mean - stats.norm.isf(0.025) * var**0.5, mean + stats.norm.isf(0.025) * var**0.5],
        "df": df,
        "t_ci": [mean - stats.t.isf(0.025, df) * var**0.5, mean + stats.t.isf(0.025, df) * var**0.5],
    }


def main() -> None:
    base, cand = make_tables()
    for name, df in (("stats_baseline.jsonl", base), ("stats_candidate.jsonl", cand)):
        df.to_json(HERE / name, orient="records", lines=True)
    ref: dict[str, object] = {"seed": SEED, "boot_seed": BOOT_SEED, "cells": {}}
    cells: dict[str, object] = {}
    for dim, (kind, _, _) in DIMS.items():
        a = base.loc[base.dimension == dim, "value"].to_numpy(dtype=float)
        b = cand.loc[cand.dimension == dim, "value"].to_numpy(dtype=float)
        strata = np.array(STRATA)
        groups = np.array(GROUPS)
        cells[f"{dim}/all"] = cell_refs(a, b, kind, groups)
        for s in ("common", "edge", "adversarial"):
            m = strata == s
            cells[f"{dim}/{s}"] = cell_refs(a[m], b[m], kind, groups[m])
    ref["cells"] = cells
    pvals = [0.001, 0.012, 0.03, 0.04, 0.2, 0.5]
    ref["multipletests"] = {
        "pvals": pvals,
        "holm": [float(v) for v in multipletests(pvals, alpha=0.05, method="holm")[1]],
        "fdr_bh": [float(v) for v in multipletests(pvals, alpha=0.05, method="fdr_bh")[1]],
    }
    ref["wilson_255_300"] = [float(v) for v in proportion_confint(255, 300, alpha=0.05, method="wilson")]
    ref["post_stratified"] = post_strat_reference()
    ref["ttest_power_dz_n300"] = float(TTestPower().solve_power(nobs=300, alpha=0.05, power=0.8))
    # exact McNemar power at the STATS.md 1.5 exact MDEs, by Monte Carlo with statsmodels' mcnemar
    ref["exact_mcnemar_mc"] = [
        {
            "psi": psi,
            "delta": delta,
            "n": 300,
            "reps": 20_000,
            "power": exact_mcnemar_monte_carlo(delta, psi, 300, 20_000, seed=7 + k),
        }
        for k, (psi, delta) in enumerate([(0.10, 0.0530), (0.15, 0.0643)])
    ]
    (HERE / "stats_reference.json").write_text(json.dumps(ref, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
