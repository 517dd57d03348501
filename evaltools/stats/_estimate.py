"""Single-variant estimates: Wilson intervals and post-stratified means.

A golden set sampled 60/25/15 across strata is a *disproportionate*
stratified sample: its raw mean is not the production mean. Post-stratifying
reweights each stratum's mean to its production share (Cochran 1977, ch. 5;
Lohr 2021, ch. 3)::

    mean_st = sum_h W_h mean_h
    var_st  = sum_h W_h^2 s_h^2 / n_h            (production strata are large: no FPC)

The interval is ``mean_st +/- q * sqrt(var_st)`` with ``q`` from a t
distribution with Satterthwaite degrees of freedom (default) or the normal.
Proportions use the Wilson score interval (Wilson 1927; Brown, Cai &
DasGupta 2001), never the Wald interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from evaltools._util import check_choice, check_int, check_probability
from evaltools.errors import ConfigError, InputError

CIMethod = Literal["satterthwaite", "normal"]


@dataclass(frozen=True, slots=True)
class ProportionEstimate:
    """A proportion with its confidence interval."""

    count: int
    """Number of successes."""
    n: int
    """Number of trials."""
    proportion: float
    """``count / n``; NaN when ``n`` is 0."""
    ci_low: float
    """Lower bound of the interval; NaN when ``n`` is 0."""
    ci_high: float
    """Upper bound of the interval; NaN when ``n`` is 0."""
    confidence_level: float
    """Two-sided confidence level, e.g. 0.95."""
    method: str = "wilson"
    """The interval method."""


def wilson_interval(count: int, n: int, *, alpha: float = 0.05) -> ProportionEstimate:
    """Wilson score interval for a proportion.

    Uses ``statsmodels.stats.proportion.proportion_confint(method='wilson')``;
    the Wald interval (statsmodels' default) is poor near 0 and 1.

    Args:
        count: number of successes (0 <= count <= n).
        n: number of trials.
        alpha: 1 - confidence level.

    Returns:
        A :class:`ProportionEstimate`. With ``n == 0`` the proportion and the
        bounds are NaN (no data is not a proportion of 0).

    Raises:
        ConfigError: ``count`` or ``n`` is negative, ``count > n`` or
            ``alpha`` is not in (0, 1).

    Examples:
        >>> est = wilson_interval(255, 300)  # STATS.md 1.5: 0.805-0.886
        >>> round(est.ci_low, 3), round(est.ci_high, 3)
        (0.805, 0.886)
    """
    func = "wilson_interval"
    n = check_int(n, "n", func, minimum=0)
    count = check_int(count, "count", func, minimum=0)
    alpha = check_probability(alpha, "alpha", func)
    if count > n:
        raise ConfigError(f"The 'count' parameter of {func} must be <= n. Got count={count}, n={n}.")
    if n == 0:
        return ProportionEstimate(count, 0, math.nan, math.nan, math.nan, 1 - alpha)
    lo, hi = proportion_confint(count, n, alpha=alpha, method="wilson")
    return ProportionEstimate(count, n, count / n, float(lo), float(hi), 1 - alpha)


def bounded_mean_interval(
    values: np.ndarray | list[float], low: float, high: float, *, alpha: float = 0.05
) -> tuple[float, float]:
    """A t interval for the mean of scores on a bounded scale, built on the logit scale so it stays inside.

    The mean is mapped to its share of the scale ``p = (mean - low) / (high
    - low)``, the t interval is formed for ``logit(p)`` with the delta-method
    standard error ``se_p / (p (1 - p))`` and mapped back (the logit
    transformation for bounded means; Agresti, *Categorical Data Analysis*,
    3rd ed., 2013, section 1.4 uses the same idea for proportions). Unlike
    the plain ``mean +/- t * se``, which gives 4.955 [4.860, 5.049] on a 1-5
    scale, the bounds never leave ``[low, high]``; near the middle of the
    scale the two agree.

    Args:
        values: scored values (NaN-free), each in ``[low, high]``.
        low: the scale's minimum.
        high: the scale's maximum (``> low``).
        alpha: 1 - confidence level.

    Returns:
        ``(ci_low, ci_high)``. NaN for fewer than 2 values; ``(mean, mean)``
        when every value is the same (zero variance, also a mean on a bound).

    Raises:
        ConfigError: ``high <= low``, a value outside the scale, or a bad ``alpha``.

    Examples:
        >>> lo, hi = bounded_mean_interval([1, 5, 5, 5], 1, 5)  # plain t: [0.818, 7.182]
        >>> 1 < round(lo, 3) < round(hi, 3) < 5
        True
    """
    func = "bounded_mean_interval"
    alpha = check_probability(alpha, "alpha", func)
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        raise ConfigError(f"The scale of {func} must have high > low. Got low={low!r}, high={high!r} instead.")
    x = np.asarray(values, dtype=float)
    n = x.shape[0]
    if n < 2:
        return math.nan, math.nan
    if x.min() < low - 1e-9 or x.max() > high + 1e-9:
        raise ConfigError(f"The values passed to {func} must lie in [{low:g}, {high:g}]. "
                          f"Got values from {x.min():g} to {x.max():g}.")  # fmt: skip
    mean = float(x.mean())
    sd = float(x.std(ddof=1))
    if sd == 0:
        return mean, mean
    span = high - low
    p = min(max((mean - low) / span, 1e-12), 1 - 1e-12)
    se_logit = sd / math.sqrt(n) / span / (p * (1 - p))
    q = float(stats.t.isf(alpha / 2, n - 1))
    centre = math.log(p / (1 - p))
    lo_p, hi_p = (1 / (1 + math.exp(-(centre + s * q * se_logit))) for s in (-1, 1))
    return low + span * lo_p, low + span * hi_p


@dataclass(frozen=True, slots=True)
class StratumEstimate:
    """One stratum's contribution to a post-stratified mean."""

    stratum: str
    """Stratum name."""
    n: int
    """Scored items in the stratum."""
    mean: float
    """Stratum mean; NaN when ``n`` is 0."""
    sd: float
    """Sample standard deviation (ddof=1); NaN when ``n < 2``."""
    share: float
    """Production share ``W_h``."""
    ci_low: float
    """Lower bound of the stratum's own interval (Wilson for binary, t otherwise)."""
    ci_high: float
    """Upper bound of the stratum's own interval."""


@dataclass(frozen=True, slots=True)
class StratifiedEstimate:
    """Post-stratified (production-weighted) mean beside the raw golden-set mean."""

    dimension: str
    """The score dimension (or a label for a computed quantity)."""
    kind: str
    """Score kind."""
    n: int
    """Scored items used."""
    n_unscored: int
    """Items dropped because their value is NaN."""
    raw_mean: float
    """Unweighted mean over the golden set (not a production estimate)."""
    raw_ci_low: float
    """Lower bound for the raw mean (Wilson for binary, t otherwise)."""
    raw_ci_high: float
    """Upper bound for the raw mean."""
    mean: float
    """Post-stratified mean ``sum_h W_h mean_h``; NaN when a stratum with a
    positive share has no scored item (see ``note``)."""
    se: float
    """Standard error ``sqrt(sum_h W_h^2 s_h^2 / n_h)``; NaN when a stratum
    with a positive share has fewer than 2 items."""
    ci_low: float
    """Lower bound of the post-stratified interval."""
    ci_high: float
    """Upper bound of the post-stratified interval."""
    df: float
    """Satterthwaite degrees of freedom (inf for the normal interval)."""
    ci_method: str
    """``"satterthwaite"`` or ``"normal"``."""
    confidence_level: float
    """Two-sided confidence level."""
    strata: tuple[StratumEstimate, ...]
    """Per-stratum pieces."""
    note: str = ""
    """Why a number is NaN, when one is."""


@dataclass(frozen=True, slots=True)
class PostStratification:
    """Post-stratified estimates for every dimension of a score table."""

    estimates: tuple[StratifiedEstimate, ...]
    """One estimate per dimension, in table order."""
    shares: tuple[tuple[str, float], ...]
    """The production shares used."""

    def get(self, dimension: str) -> StratifiedEstimate:
        """The estimate for ``dimension``.

        Raises:
            ConfigError: no such dimension (the message lists the valid ones).
        """
        for est in self.estimates:
            if est.dimension == dimension:
                return est
        valid = ", ".join(e.dimension for e in self.estimates)
        raise ConfigError(f"Unknown dimension {dimension!r}. Valid dimensions: {valid}.")

    def to_frame(self) -> pd.DataFrame:
        """One row per dimension: raw and post-stratified means with intervals."""
        rows = [
            {
                "dimension": e.dimension,
                "kind": e.kind,
                "n": e.n,
                "n_unscored": e.n_unscored,
                "raw_mean": e.raw_mean,
                "raw_ci_low": e.raw_ci_low,
                "raw_ci_high": e.raw_ci_high,
                "mean": e.mean,
                "se": e.se,
                "ci_low": e.ci_low,
                "ci_high": e.ci_high,
                "df": e.df,
                "ci_method": e.ci_method,
                "note": e.note,
            }
            for e in self.estimates
        ]
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        shares = ", ".join(f"{name} {w:.0%}" for name, w in self.shares)
        head = f"<p><b>Post-stratified to production shares</b> ({shares})</p>"
        return head + str(self.to_frame().to_html(index=False, float_format=lambda v: f"{v:.4g}"))


def check_shares(production_shares: Mapping[str, float], func: str) -> dict[str, float]:
    """Validate production shares: non-negative and summing to 1."""
    if not isinstance(production_shares, Mapping) or not production_shares:
        raise ConfigError(
            f"The 'production_shares' parameter of {func} must be a non-empty mapping of stratum to share. "
            f"Got {production_shares!r} instead."
        )
    shares = {}
    for name, value in production_shares.items():
        w = float(value)
        if not math.isfinite(w) or w < 0:
            raise ConfigError(f"The production share of stratum {name!r} in {func} must be >= 0. Got {value!r}.")
        shares[str(name)] = w
    total = sum(shares.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"The 'production_shares' of {func} must sum to 1. Got {total:.6g} ({shares}).")
    return shares


def _mean_interval(values: np.ndarray, binary: bool, alpha: float) -> tuple[float, float]:
    n = values.shape[0]
    if n == 0:
        return math.nan, math.nan
    if binary:
        est = wilson_interval(int(values.sum()), n, alpha=alpha)
        return est.ci_low, est.ci_high
    if n < 2:
        return math.nan, math.nan
    mean = float(values.mean())
    se = float(values.std(ddof=1)) / math.sqrt(n)
    q = float(stats.t.isf(alpha / 2, n - 1))
    return mean - q * se, mean + q * se


def stratified_mean(
    values: np.ndarray,
    strata: np.ndarray,
    shares: Mapping[str, float],
    *,
    label: str,
    kind: str,
    alpha: float,
    ci_method: str,
    n_unscored: int = 0,
) -> StratifiedEstimate:
    """Post-stratified mean of ``values`` (already NaN-free); inputs trusted."""
    binary = kind == "binary"
    n = int(values.shape[0])
    raw_lo, raw_hi = _mean_interval(values, binary, alpha)
    parts: list[StratumEstimate] = []
    notes: list[str] = []
    for name, w in shares.items():
        v = values[strata == name]
        nh = int(v.shape[0])
        lo, hi = _mean_interval(v, binary, alpha)
        parts.append(
            StratumEstimate(
                stratum=name,
                n=nh,
                mean=float(v.mean()) if nh else math.nan,
                sd=float(v.std(ddof=1)) if nh >= 2 else math.nan,
                share=w,
                ci_low=lo,
                ci_high=hi,
            )
        )
        if w > 0 and nh == 0:
            notes.append(f"stratum {name!r} has a production share of {w:g} but no scored item")
        elif w > 0 and nh == 1:
            notes.append(f"stratum {name!r} has 1 scored item: its variance is unknown")
    weighted = [p for p in parts if p.share > 0]
    mean = math.fsum(p.share * p.mean for p in weighted) if all(p.n > 0 for p in weighted) else math.nan
    terms = [p.share**2 * p.sd**2 / p.n if p.n >= 2 else math.nan for p in weighted]
    var = math.fsum(terms) if all(math.isfinite(t) for t in terms) else math.nan
    se = math.sqrt(var) if math.isfinite(var) else math.nan
    df = math.inf
    if ci_method == "satterthwaite" and math.isfinite(var):
        den = math.fsum(t * t / (p.n - 1) for t, p in zip(terms, weighted, strict=True))
        df = var * var / den if den > 0 else math.nan
    if not math.isfinite(se) or not math.isfinite(mean):
        lo = hi = math.nan
    elif se == 0:
        lo = hi = mean
        notes.append("every stratum has zero variance: the interval is degenerate")
    else:
        q = float(stats.norm.isf(alpha / 2)) if ci_method == "normal" else float(stats.t.isf(alpha / 2, df))
        lo, hi = mean - q * se, mean + q * se
    return StratifiedEstimate(
        dimension=label,
        kind=kind,
        n=n,
        n_unscored=n_unscored,
        raw_mean=float(values.mean()) if n else math.nan,
        raw_ci_low=raw_lo,
        raw_ci_high=raw_hi,
        mean=mean,
        se=se,
        ci_low=lo,
        ci_high=hi,
        df=df if ci_method == "satterthwaite" else math.inf,
        ci_method=ci_method,
        confidence_level=1 - alpha,
        strata=tuple(parts),
        note="; ".join(notes),
    )


def post_stratify(
    scores: pd.DataFrame,
    production_shares: Mapping[str, float],
    *,
    alpha: float = 0.05,
    ci_method: CIMethod = "satterthwaite",
) -> PostStratification:
    """Reweight each dimension's golden-set mean to production stratum shares.

    Method: STATS.md 4.1 (Cochran 1977, ch. 5). Each stratum's mean is
    weighted by its production share; the variance adds the strata's
    ``W_h^2 s_h^2 / n_h``. Use it for claims about production; paired A/B
    gating on the golden set itself stays unweighted.

    Args:
        scores: a long score table of one run (columns ``dimension``,
            ``value``, ``kind``, ``stratum``; see docs/internals.md).
        production_shares: stratum -> share of production traffic, summing
            to 1, e.g. ``{"common": 0.7, "edge": 0.2, "adversarial": 0.1}``.
        alpha: 1 - confidence level.
        ci_method: ``"satterthwaite"`` (t with Satterthwaite df, safer when a
            stratum is small) or ``"normal"``.

    Returns:
        A :class:`PostStratification`, one estimate per dimension. NaN
        values are dropped and counted in ``n_unscored``. The post-stratified
        mean is NaN when a stratum with a positive share has no scored item,
        and its interval is NaN when such a stratum has a single item; the
        ``note`` says which.

    Raises:
        InputError: a required column is missing, or the table has a
            stratum that ``production_shares`` does not name.
        ConfigError: shares that are negative or do not sum to 1, a bad
            ``alpha`` or ``ci_method``.

    Examples:
        >>> import pandas as pd
        >>> rows = [("common", 180, 162), ("edge", 75, 60), ("adversarial", 45, 27)]
        >>> table = pd.DataFrame(
        ...     [{"dimension": "correct", "kind": "binary", "stratum": s, "value": float(i < k)}
        ...      for s, n, k in rows for i in range(n)])
        >>> est = post_stratify(table, {"common": 0.7, "edge": 0.2, "adversarial": 0.1}).get("correct")
        >>> round(est.raw_mean, 3), round(est.mean, 3)  # STATS.md 4.1: 0.830 raw, 0.850 weighted
        (0.83, 0.85)
    """
    func = "post_stratify"
    alpha = check_probability(alpha, "alpha", func)
    check_choice(ci_method, "ci_method", func, ("satterthwaite", "normal"))
    shares = check_shares(production_shares, func)
    if not isinstance(scores, pd.DataFrame):
        raise InputError(f"The 'scores' parameter of {func} must be a pandas DataFrame. Got {type(scores).__name__}.")
    missing = [c for c in ("dimension", "value", "kind", "stratum") if c not in scores.columns]
    if missing:
        raise InputError(
            f"The score table passed to {func} lacks the columns {missing}; see docs/internals.md (score table).",
            field=missing[0],
        )
    unknown = sorted(set(scores["stratum"].dropna().astype(str)) - set(shares))
    if unknown:
        raise InputError(
            f"The score table has strata {unknown} that 'production_shares' does not name. "
            f"Named strata: {sorted(shares)}.",
            field="stratum",
        )
    estimates = []
    for dim, part in scores.groupby("dimension", sort=False):
        kinds = part["kind"].unique()
        if len(kinds) != 1:
            raise InputError(f"Dimension {dim!r} mixes score kinds {list(kinds)}.", field="kind")
        values = part["value"].to_numpy(dtype=float)
        keep = ~np.isnan(values)
        estimates.append(
            stratified_mean(
                values[keep],
                part["stratum"].astype(str).to_numpy()[keep],
                shares,
                label=str(dim),
                kind=str(kinds[0]),
                alpha=alpha,
                ci_method=ci_method,
                n_unscored=int((~keep).sum()),
            )
        )
    return PostStratification(estimates=tuple(estimates), shares=tuple(shares.items()))
