"""The paired test of one cell (a dimension, overall or within a stratum).

Which test for which score kind (STATS.md 1.1):

* **binary**: exact McNemar (``statsmodels ... mcnemar(exact=True)``) for the
  p-value; the interval for the difference of proportions is the Bonett-Price
  adjusted Wald interval (Bonett & Price 2012; recommended by Fagerland,
  Lydersen & Laake 2013, Stat Med 32:1743), which stays honest when few items
  are discordant and is not degenerate when none is.
* **ordinal**: mean paired difference with a paired BCa bootstrap interval;
  the p-value inverts the BCa interval. Wilcoxon signed-rank
  (``zero_method='zsplit'``, zero differences kept) is the secondary check.
* **continuous**: paired t interval and p-value; the BCa bootstrap is the
  secondary check.

**Clusters.** When items carry a ``group`` and some group holds two or more
items, the primary interval uses the cluster-robust standard error of the
mean difference, computed with the direct formula (Miller 2024, Appendix A;
CR1 small-sample factor ``G/(G-1)``)::

    SE^2 = G/(G-1) * sum_g (sum_{i in g} (d_i - mean(d)))^2 / n^2

with a t reference on ``G - 1`` degrees of freedom. This equals
``OLS(d, ones).fit(cov_type='cluster', cov_kwds={'groups': g}, use_t=True)``
in statsmodels (checked in tests/reference). Ordinal scores resample whole
clusters in the bootstrap instead. The unclustered test is kept as the
secondary check, labelled as ignoring clustering.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from evaltools.stats._bootstrap import bootstrap_mean_difference
from evaltools.stats._power import mde as _mde
from evaltools.stats._power import n_required as _n_required
from evaltools.stats._results import PairedResult

_NAN = math.nan


def bonett_price(n_worse: int, n_better: int, n: int, alpha: float, *, one_sided: bool = False) -> tuple[float, float]:
    """Bonett-Price adjusted Wald interval for a paired difference of proportions.

    Adds one pseudo-item to each discordant cell (``n + 2`` items) and uses
    the Wald interval of the adjusted difference, with the plug-in variance
    ``(p12 + p21 - (p21 - p12)^2) / (n + 2)`` (Bonett & Price 2012, JEBS 37(4)).

    Returns:
        ``(low, high)`` clipped to [-1, 1]; with ``one_sided`` the high end is 1.
    """
    p_worse = (n_worse + 1) / (n + 2)
    p_better = (n_better + 1) / (n + 2)
    diff = p_better - p_worse
    se = math.sqrt((p_worse + p_better - diff * diff) / (n + 2))
    if one_sided:
        return max(-1.0, diff - float(stats.norm.isf(alpha)) * se), 1.0
    z = float(stats.norm.isf(alpha / 2))
    return max(-1.0, diff - z * se), min(1.0, diff + z * se)


def cluster_se(d: NDArray[np.float64], codes: NDArray[np.int64]) -> tuple[float, int]:
    """Cluster-robust (CR1) standard error of ``mean(d)`` and the number of clusters."""
    n = d.shape[0]
    sums = np.bincount(codes, weights=d - d.mean())
    g = sums.shape[0]
    return math.sqrt(g / (g - 1) * float(np.sum(sums**2)) / (n * n)), g


def _t_interval(effect: float, se: float, df: float, alpha: float) -> tuple[float, float, float, float]:
    """Two-sided CI, p-value and one-sided lower bound from a t reference."""
    q = float(stats.t.isf(alpha / 2, df))
    p = float(2 * stats.t.sf(abs(effect) / se, df))
    lower = effect - float(stats.t.isf(alpha, df)) * se
    return effect - q * se, effect + q * se, p, lower


def _contiguous(codes: NDArray[np.int64]) -> NDArray[np.int64]:
    return np.unique(codes, return_inverse=True)[1].astype(np.int64)


@dataclass(frozen=True, slots=True)
class _Spread:
    """Variance pieces shared by the kinds (trusted, internal)."""

    sd: float
    se_naive: float
    se: float  # cluster-robust when clustered, else naive
    codes: NDArray[np.int64] | None
    n_clusters: int | None
    deff: float
    n_eff: int
    tol_units: float


def analyze_cell(
    baseline: NDArray[np.float64],
    candidate: NDArray[np.float64],
    *,
    dimension: str,
    stratum: str | None,
    kind: str,
    scale_min: float,
    scale_max: float,
    gating: bool,
    groups: NDArray[np.int64] | None,
    alpha: float,
    simultaneous_alpha: float | None,
    tolerance: float,
    n_resamples: int,
    rng: np.random.Generator,
    min_items: int,
) -> PairedResult:
    """Run the paired test for one cell; inputs are trusted (validated in compare)."""
    keep = ~(np.isnan(baseline) | np.isnan(candidate))
    base, cand = baseline[keep], candidate[keep]
    n = int(base.shape[0])
    # The template carries the policy for "no evidence": every statistic NaN.
    result = PairedResult(
        dimension=dimension,
        stratum=stratum,
        kind=kind,
        scale_min=scale_min,
        scale_max=scale_max,
        gating=gating,
        n=n,
        n_unscored=int((~keep).sum()),
        baseline_mean=_NAN,
        candidate_mean=_NAN,
        effect=_NAN,
        ci_low=_NAN,
        ci_high=_NAN,
        confidence_level=1 - alpha,
        pvalue=_NAN,
        method="none",
        ni_lower=_NAN,
        sd_diff=_NAN,
        se=_NAN,
        discordance=_NAN,
        n_worse=0,
        n_better=0,
        mde=_NAN,
        n_for_tolerance=None,
        n_clusters=None,
        design_effect=1.0,
        secondary_method="",
        secondary_pvalue=_NAN,
        secondary_ci_low=_NAN,
        secondary_ci_high=_NAN,
        status="empty",
        note="no item has a score on both sides",
    )
    if n == 0:
        return result
    d = cand - base
    result = dataclasses.replace(
        result,
        baseline_mean=float(base.mean()),
        candidate_mean=float(cand.mean()),
        effect=float(d.mean()),
        n_worse=int(np.count_nonzero(d < 0)),
        n_better=int(np.count_nonzero(d > 0)),
    )
    if n < min_items:
        return dataclasses.replace(
            result,
            status="too_few_items",
            note=(
                f"only {n} paired item{'s' if n != 1 else ''} (fewer than {min_items}): no interval, "
                "p-value or MDE is reported; the effect is descriptive only"
            ),
        )
    codes = None
    if groups is not None:
        codes = _contiguous(groups[keep])
        n_groups = int(codes.max()) + 1
        if n_groups == n:
            codes = None  # every item is its own cluster: clustering changes nothing
        elif n_groups < 2:
            return dataclasses.replace(
                result,
                status="too_few_clusters",
                note="every item belongs to the same group: a clustered standard error cannot be estimated",
            )
    sd = float(d.std(ddof=1))
    se_naive = sd / math.sqrt(n)
    se_cl, n_clusters = cluster_se(d, codes) if codes is not None else (se_naive, None)
    deff = max(1.0, (se_cl / se_naive) ** 2) if codes is not None and se_naive > 0 else 1.0
    spread = _Spread(
        sd=sd,
        se_naive=se_naive,
        se=se_cl,
        codes=codes,
        n_clusters=n_clusters,
        deff=deff,
        n_eff=max(2, round(n / deff)),
        tol_units=tolerance * (scale_max - scale_min),
    )
    if kind == "binary":
        return _binary(d, result, spread, alpha, simultaneous_alpha)
    return _graded(d, result, spread, alpha, simultaneous_alpha, n_resamples, rng)


def _n_for(tol_units: float, deff: float, **kwargs: float | str) -> int | None:
    if tol_units <= 0:
        return None
    try:
        return math.ceil(_n_required(tol_units, **kwargs) * deff)  # type: ignore[arg-type]
    except ValueError:
        return None


def _few_clusters_note(n_clusters: int | None) -> str:
    if n_clusters is not None and n_clusters < 30:
        return f"only {n_clusters} clusters: cluster-robust standard errors may be too small"
    return ""


def _cluster_method(n_clusters: int) -> str:
    return f"cluster-robust t ({n_clusters} clusters, CR1, df={n_clusters - 1})"


def _binary(
    d: NDArray[np.float64], result: PairedResult, sp: _Spread, alpha: float, simultaneous_alpha: float | None
) -> PairedResult:
    n, n_worse, n_better, effect = result.n, result.n_worse, result.n_better, result.effect
    psi = (n_worse + n_better) / n
    table = [[int(np.count_nonzero(d == 0)), n_worse], [n_better, 0]]  # McNemar reads the off-diagonal only
    p_exact = float(mcnemar(table, exact=True).pvalue)
    bp_lo, bp_hi = bonett_price(n_worse, n_better, n, alpha)
    bp_ni = bonett_price(n_worse, n_better, n, alpha, one_sided=True)[0]
    sim = bonett_price(n_worse, n_better, n, simultaneous_alpha) if simultaneous_alpha else (_NAN, _NAN)
    p_w, p_b = (n_worse + 1) / (n + 2), (n_better + 1) / (n + 2)
    se_bp = math.sqrt((p_w + p_b - (p_b - p_w) ** 2) / (n + 2))
    result = dataclasses.replace(
        result,
        sd_diff=sp.sd,
        discordance=psi,
        mde=_mde(sp.n_eff, discordance=psi, alpha=alpha) if psi > 0 else _NAN,
        n_for_tolerance=_n_for(sp.tol_units, sp.deff, discordance=psi, alpha=alpha) if psi > 0 else None,
        n_clusters=sp.n_clusters,
        design_effect=sp.deff,
        method="exact McNemar; Bonett-Price interval",
    )
    if n_worse + n_better == 0:
        return dataclasses.replace(
            result,
            ci_low=bp_lo,
            ci_high=bp_hi,
            pvalue=1.0,
            ni_lower=bp_ni,
            se=se_bp,
            status="no_discordant",
            note=(
                f"no discordant items: the variants agreed on all {n} items. p = 1 here is not evidence "
                "of no difference; the interval comes from the number of items alone and the MDE is "
                "unknown (plan with the discordance of a previous comparison)"
            ),
            simultaneous_ci_low=sim[0],
            simultaneous_ci_high=sim[1],
        )
    if sp.codes is not None and sp.n_clusters is not None:
        df = float(sp.n_clusters - 1)
        lo, hi, p, ni = _t_interval(effect, sp.se, df, alpha)
        if simultaneous_alpha:
            sim = _t_interval(effect, sp.se, df, simultaneous_alpha)[:2]
        return dataclasses.replace(
            result,
            ci_low=lo,
            ci_high=hi,
            pvalue=p,
            ni_lower=ni,
            se=sp.se,
            method=_cluster_method(sp.n_clusters),
            secondary_method="exact McNemar (ignores clustering)",
            secondary_pvalue=p_exact,
            secondary_ci_low=bp_lo,
            secondary_ci_high=bp_hi,
            status="ok",
            note=_few_clusters_note(sp.n_clusters),
            simultaneous_ci_low=sim[0],
            simultaneous_ci_high=sim[1],
        )
    return dataclasses.replace(
        result,
        ci_low=bp_lo,
        ci_high=bp_hi,
        pvalue=p_exact,
        ni_lower=bp_ni,
        se=se_bp,
        status="ok",
        note="",
        simultaneous_ci_low=sim[0],
        simultaneous_ci_high=sim[1],
    )


def _graded(
    d: NDArray[np.float64],
    result: PairedResult,
    sp: _Spread,
    alpha: float,
    simultaneous_alpha: float | None,
    n_resamples: int,
    rng: np.random.Generator,
) -> PairedResult:
    n, effect, kind = result.n, result.effect, result.kind
    if sp.sd == 0:
        # Every difference is the same number: no resampling or t interval is
        # defined. The policy is the degenerate interval [effect, effect]; the
        # p-value is 1 for a zero shift, else the exact sign test (all n agree).
        p = 1.0 if effect == 0 else float(stats.binomtest(n, n).pvalue)
        what = (
            "every item scored the same under both variants"
            if effect == 0
            else f"every item moved by exactly {effect:+.4g}"
        )
        return dataclasses.replace(
            result,
            ci_low=effect,
            ci_high=effect,
            pvalue=p,
            ni_lower=effect,
            sd_diff=0.0,
            se=0.0,
            n_clusters=sp.n_clusters,
            method="none (no variation in the differences)",
            status="no_variation",
            note=f"all {n} paired differences are equal ({what}): the interval is the degenerate "
            "[effect, effect] and the MDE is undefined",
            simultaneous_ci_low=effect if simultaneous_alpha else _NAN,
            simultaneous_ci_high=effect if simultaneous_alpha else _NAN,
        )
    if sp.codes is not None and sp.n_clusters is not None:
        sums: NDArray[np.float64] = np.bincount(sp.codes, weights=d).astype(np.float64)
        counts: NDArray[np.float64] = np.bincount(sp.codes).astype(np.float64)
        df = float(sp.n_clusters - 1)
        t_method = _cluster_method(sp.n_clusters)
        of_what = f" of {sp.n_clusters} clusters)"
    else:
        sums, counts = d, np.ones(n)
        df = float(n - 1)
        t_method = "paired t"
        of_what = ")"
    boot = bootstrap_mean_difference(sums, counts, n_resamples, rng)
    b_lo, b_hi = boot.interval(1 - alpha)
    b_p = boot.pvalue(0.0)
    boot_method = f"paired bootstrap {boot.method} ({n_resamples} resamples{of_what}"
    t_lo, t_hi, t_p, t_ni = _t_interval(effect, sp.se, df, alpha)
    result = dataclasses.replace(
        result,
        sd_diff=sp.sd,
        mde=_mde(sp.n_eff, kind=kind, sd_diff=sp.sd, alpha=alpha),  # type: ignore[arg-type]
        n_for_tolerance=_n_for(sp.tol_units, sp.deff, kind=kind, sd_diff=sp.sd, alpha=alpha),
        n_clusters=sp.n_clusters,
        design_effect=sp.deff,
        status="ok",
        note=_few_clusters_note(sp.n_clusters),
    )
    if kind == "ordinal":
        sim = boot.interval(1 - simultaneous_alpha) if simultaneous_alpha else (_NAN, _NAN)
        wilcoxon_p = float(stats.wilcoxon(d, zero_method="zsplit").pvalue)
        clustered = " (Wilcoxon ignores clustering)" if sp.codes is not None else ""
        return dataclasses.replace(
            result,
            ci_low=b_lo,
            ci_high=b_hi,
            pvalue=b_p,
            ni_lower=boot.lower_bound(alpha),
            se=float(boot.distribution.std(ddof=1)),
            method=boot_method,
            secondary_method=f"Wilcoxon signed-rank, zsplit (p); {t_method} (interval){clustered}",
            secondary_pvalue=wilcoxon_p,
            secondary_ci_low=t_lo,
            secondary_ci_high=t_hi,
            simultaneous_ci_low=sim[0],
            simultaneous_ci_high=sim[1],
        )
    sim = _t_interval(effect, sp.se, df, simultaneous_alpha)[:2] if simultaneous_alpha else (_NAN, _NAN)
    return dataclasses.replace(
        result,
        ci_low=t_lo,
        ci_high=t_hi,
        pvalue=t_p,
        ni_lower=t_ni,
        se=sp.se,
        method=t_method,
        secondary_method=boot_method,
        secondary_pvalue=b_p,
        secondary_ci_low=b_lo,
        secondary_ci_high=b_hi,
        simultaneous_ci_low=sim[0],
        simultaneous_ci_high=sim[1],
    )
