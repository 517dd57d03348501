"""``compare``: pair two score tables and test every dimension and stratum."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from statsmodels.stats.multitest import multipletests

from evaltools._util import SeedLike, check_int, check_positive, check_probability, resolve_seed
from evaltools.errors import ConfigError, InputError, VersionMismatchError
from evaltools.stats._paired import analyze_cell
from evaltools.stats._results import Comparison, Family, PairedResult, PairedScores

REQUIRED_COLUMNS = ("item_id", "dimension", "value", "kind", "scale_min", "scale_max")
KINDS = ("binary", "ordinal", "continuous")
STRATUM_ORDER = ("common", "edge", "adversarial")
_SHOW = 5  # ids shown in an error message before "and N more"


class UnmatchedItemsError(InputError):
    """The two score tables do not hold the same (item_id, dimension) pairs.

    Attributes:
        missing_in_candidate: item ids scored in the baseline but not the candidate.
        missing_in_baseline: item ids scored in the candidate but not the baseline.
    """

    def __init__(
        self, message: str, *, missing_in_candidate: Sequence[str] = (), missing_in_baseline: Sequence[str] = ()
    ) -> None:
        self.missing_in_candidate = tuple(missing_in_candidate)
        self.missing_in_baseline = tuple(missing_in_baseline)
        super().__init__(message, field="item_id")


def _listing(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:_SHOW])
    more = f" and {len(ids) - _SHOW} more" if len(ids) > _SHOW else ""
    return f"{shown}{more} ({len(ids)} in total)"


def _check_table(table: object, name: str, func: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"The '{name}' parameter of {func} must be a pandas DataFrame. Got {type(table).__name__}.")
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(
            f"The {name} table lacks the columns {missing}. A score table has one row per (item, dimension) "
            f"with columns {list(REQUIRED_COLUMNS)} (see docs/internals.md).",
            field=missing[0],
        )
    if table.empty:
        raise InputError(f"The {name} table is empty.")
    df = table.copy()
    df["item_id"] = df["item_id"].astype(str)
    df["dimension"] = df["dimension"].astype(str)
    df["value"] = pd.to_numeric(df["value"], errors="raise").astype(float)
    if "run_id" in df.columns:
        runs = sorted(df["run_id"].dropna().astype(str).unique())
        if len(runs) > 1:
            raise InputError(
                f"The {name} table mixes runs {runs}; pass the rows of one run (filter on run_id).", field="run_id"
            )
    dup = df.duplicated(["item_id", "dimension"], keep=False)
    if dup.any():
        pairs = [f"{i}/{d}" for i, d in df.loc[dup, ["item_id", "dimension"]].drop_duplicates().to_numpy()]
        raise InputError(f"The {name} table has duplicate (item_id, dimension) rows: {_listing(pairs)}.")
    bad_kind = sorted(set(df["kind"].astype(str)) - set(KINDS))
    if bad_kind:
        raise InputError(f"The {name} table has unknown kinds {bad_kind}. Valid kinds: {list(KINDS)}.", field="kind")
    for dim, part in df.groupby("dimension", sort=False):
        for col in ("kind", "scale_min", "scale_max"):
            if part[col].nunique(dropna=False) != 1:
                raise InputError(
                    f"Dimension {dim!r} of the {name} table has several values of {col}: "
                    f"{sorted(map(str, part[col].unique()))}.",
                    field=col,
                )
        lo, hi = float(part["scale_min"].iloc[0]), float(part["scale_max"].iloc[0])
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise InputError(
                f"Dimension {dim!r} of the {name} table needs scale_min < scale_max. Got [{lo}, {hi}].",
                field="scale_min",
            )
        values = part["value"]
        scored = values.notna()
        outside = scored & ((values < lo) | (values > hi))
        if part["kind"].iloc[0] == "binary":
            outside |= scored & ~values.isin([0.0, 1.0])
        if outside.any():
            ids = list(part.loc[outside, "item_id"])
            raise InputError(
                f"Dimension {dim!r} of the {name} table has values outside its scale [{lo:g}, {hi:g}]"
                f"{' (binary: 0 or 1)' if part['kind'].iloc[0] == 'binary' else ''} for items {_listing(ids)}.",
                field="value",
            )
    return df


def golden_version_of(table: pd.DataFrame, name: str) -> str | None:
    """The golden set version a score table was scored against, or None when it does not say.

    Raises:
        InputError: the table mixes several versions.
    """
    if "golden_version" not in table.columns:
        return None
    versions = sorted(set(table["golden_version"].dropna().astype(str)))
    if len(versions) > 1:
        raise InputError(
            f"The {name} table mixes rows scored against golden set versions {versions}; rescore the run "
            "against one golden set.",
            field="golden_version",
        )
    return versions[0] if versions else None


def check_golden_versions(base: pd.DataFrame, cand: pd.DataFrame, func: str) -> None:
    """Refuse two score tables scored against different versions of the golden set.

    The same outputs scored against an edited set (say, 30 changed
    ``expected`` fields) differ for reasons that have nothing to do with the
    variants, so a paired test on them would read a golden-set edit as a
    regression.

    Raises:
        VersionMismatchError: both tables name a version and they differ.
    """
    vb, vc = golden_version_of(base, "baseline"), golden_version_of(cand, "candidate")
    if vb is not None and vc is not None and vb != vc:
        raise VersionMismatchError(
            f"{func}: the baseline was scored against golden set version {vb!r} and the candidate against "
            f"version {vc!r}, so their scores are not comparable. Rescore both runs against the same golden "
            f"set (`evaltools score <run> --golden <golden set>`, or score_run in Python), then run {func} again.",
            field="golden_version",
        )


def _check_pairs(base: pd.DataFrame, cand: pd.DataFrame) -> None:
    dims_b, dims_c = list(dict.fromkeys(base["dimension"])), list(dict.fromkeys(cand["dimension"]))
    only_b = [d for d in dims_b if d not in set(dims_c)]
    only_c = [d for d in dims_c if d not in set(dims_b)]
    keys_b = set(zip(base["item_id"], base["dimension"], strict=True))
    keys_c = set(zip(cand["item_id"], cand["dimension"], strict=True))
    miss_c = sorted({i for i, d in keys_b - keys_c if d not in only_b})
    miss_b = sorted({i for i, d in keys_c - keys_b if d not in only_c})
    if not (only_b or only_c or miss_c or miss_b):
        return
    parts = []
    if only_b:
        parts.append(f"dimensions only in the baseline: {only_b}")
    if only_c:
        parts.append(f"dimensions only in the candidate: {only_c}")
    if miss_c:
        parts.append(f"items scored in the baseline but missing from the candidate: {_listing(miss_c)}")
    if miss_b:
        parts.append(f"items scored in the candidate but missing from the baseline: {_listing(miss_b)}")
    raise UnmatchedItemsError(
        "The baseline and candidate tables do not pair by (item_id, dimension); "
        + "; ".join(parts)
        + ". Score both runs on the same golden set version (an unscored item should be a row with "
        "value NaN, not a missing row).",
        missing_in_candidate=miss_c,
        missing_in_baseline=miss_b,
    )


def _gating_map(base: pd.DataFrame, gating: Iterable[str] | None, dims: list[str], func: str) -> dict[str, bool]:
    if gating is not None:
        if isinstance(gating, str):
            raise ConfigError(f"The 'gating' parameter of {func} must be a collection of dimension names, not a str.")
        chosen = set(gating)
        unknown = sorted(chosen - set(dims))
        if unknown:
            raise ConfigError(f"Unknown gating dimensions {unknown}. Valid dimensions: {dims}.")
        return {d: d in chosen for d in dims}
    if "gating" not in base.columns:
        return dict.fromkeys(dims, True)
    out = {}
    for dim, part in base.groupby("dimension", sort=False):
        flags = part["gating"].dropna().astype(bool).unique()
        if len(flags) > 1:
            raise InputError(f"Dimension {dim!r} has both gating True and False rows.", field="gating")
        out[str(dim)] = bool(flags[0]) if len(flags) else True
    return out


def _side_column(merged: pd.DataFrame, col: str, func: str) -> pd.Series | None:
    b, c = f"{col}_b", f"{col}_c"
    if b not in merged.columns and c not in merged.columns:
        return None
    if b in merged.columns and c in merged.columns:
        sb, sc = merged[b], merged[c]
        differ = ~((sb.isna() & sc.isna()) | (sb.astype(str) == sc.astype(str)))
        if differ.any():
            ids = sorted(set(merged.loc[differ, "item_id"]))
            raise InputError(
                f"The baseline and candidate disagree on the {col} of items {_listing(ids)}; both runs must "
                "use the same golden set.",
                field=col,
            )
        return sb
    return merged[b] if b in merged.columns else merged[c]


def pair_tables(
    baseline_scores: pd.DataFrame, candidate_scores: pd.DataFrame, *, gating: Iterable[str] | None, func: str
) -> tuple[list[PairedScores], str, str]:
    """Validate two score tables and pair them by (item_id, dimension)."""
    base = _check_table(baseline_scores, "baseline", func)
    cand = _check_table(candidate_scores, "candidate", func)
    check_golden_versions(base, cand, func)
    _check_pairs(base, cand)
    dims = list(dict.fromkeys(base["dimension"]))
    gate_map = _gating_map(base, gating, dims, func)
    merged = base.merge(cand, on=["item_id", "dimension"], suffixes=("_b", "_c"), validate="one_to_one")
    strata = _side_column(merged, "stratum", func)
    groups = _side_column(merged, "group", func)
    if groups is not None and groups.isna().all():
        groups = None
    if groups is not None:
        # an item without a group is a cluster of its own
        filled = groups.astype(object).where(groups.notna(), "\x00item:" + merged["item_id"])
        merged["_group_code"] = pd.factorize(filled.astype(str))[0]
    paired = []
    for dim in dims:
        rows = merged[merged["dimension"] == dim]
        first = rows.iloc[0]
        for col in ("kind", "scale_min", "scale_max"):
            if str(first[f"{col}_b"]) != str(first[f"{col}_c"]):
                raise InputError(
                    f"Dimension {dim!r} has {col} {first[f'{col}_b']!r} in the baseline but "
                    f"{first[f'{col}_c']!r} in the candidate.",
                    field=col,
                )
        paired.append(
            PairedScores(
                dimension=dim,
                kind=str(first["kind_b"]),
                scale_min=float(first["scale_min_b"]),
                scale_max=float(first["scale_max_b"]),
                gating=gate_map[dim],
                item_ids=rows["item_id"].to_numpy(dtype=object),
                baseline=rows["value_b"].to_numpy(dtype=float),
                candidate=rows["value_c"].to_numpy(dtype=float),
                strata=strata.loc[rows.index]
                .astype(str)
                .where(strata.loc[rows.index].notna(), "")
                .to_numpy(dtype=object)
                if strata is not None
                else None,
                groups=rows["_group_code"].to_numpy(dtype=np.int64) if groups is not None else None,
            )
        )

    def run_name(df: pd.DataFrame, default: str) -> str:
        if "run_id" in df.columns and df["run_id"].notna().any():
            return str(df["run_id"].dropna().iloc[0])
        return default

    return paired, run_name(base, "baseline"), run_name(cand, "candidate")


def _stratum_order(paired: Sequence[PairedScores]) -> list[str]:
    present: set[str] = set()
    for p in paired:
        if p.strata is not None:
            present.update(s for s in p.strata if s != "")
    known = [s for s in STRATUM_ORDER if s in present]
    return known + sorted(present - set(known))


def compare_paired(
    paired: Sequence[PairedScores],
    *,
    baseline_run: str,
    candidate_run: str,
    alpha: float,
    tolerance: float,
    margin: float,
    n_resamples: int,
    seed: int,
    min_items: int,
) -> Comparison:
    """Test already-paired scores (inputs trusted); used by compare and the simulations."""
    strata = _stratum_order(paired)
    n_gating = sum(p.gating for p in paired)
    cells: list[tuple[PairedScores, str | None]] = [(p, None) for p in paired]
    if len(strata) > 1:
        cells += [(p, s) for p in paired for s in strata]
    children = np.random.SeedSequence(seed).spawn(len(cells))
    results = []
    for (p, stratum), child in zip(cells, children, strict=True):
        mask: slice | NDArray[np.bool_] = slice(None)
        if stratum is not None:
            assert p.strata is not None
            mask = np.asarray(p.strata == stratum, dtype=bool)
        results.append(
            analyze_cell(
                p.baseline[mask],
                p.candidate[mask],
                dimension=p.dimension,
                stratum=stratum,
                kind=p.kind,
                scale_min=p.scale_min,
                scale_max=p.scale_max,
                gating=p.gating,
                groups=p.groups[mask] if p.groups is not None else None,
                alpha=alpha,
                simultaneous_alpha=alpha / n_gating if (p.gating and stratum is None) else None,
                tolerance=tolerance,
                n_resamples=n_resamples,
                rng=np.random.default_rng(child),
                min_items=min_items,
            )
        )
    results = _adjust(results, alpha)
    return Comparison(
        results=tuple(results),
        baseline_run=baseline_run,
        candidate_run=candidate_run,
        alpha=alpha,
        tolerance=tolerance,
        margin=margin,
        n_resamples=n_resamples,
        seed=seed,
        min_items=min_items,
        paired=tuple(paired),
    )


def holm(pvalues: Sequence[float] | np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down adjustment (Holm 1979): which hypotheses to reject, and the adjusted p-values.

    The same numbers as ``statsmodels.stats.multitest.multipletests(p,
    alpha, method="holm")`` (a test checks it on random families), without its
    ``gc.collect()`` on every call, which costs 50-200 ms once pandas and scipy
    are loaded and would dominate a gate run or an A/A simulation loop.

    Args:
        pvalues: the family's p-values.
        alpha: the family-wise error rate.

    Returns:
        ``(reject, adjusted)``, in the order given.

    Examples:
        >>> reject, adjusted = holm([0.01, 0.04, 0.03])
        >>> reject.tolist(), [round(float(a), 2) for a in adjusted]
        ([True, False, False], [0.03, 0.06, 0.06])
    """
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate(p[order] * np.arange(m, 0, -1)))
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return adjusted <= alpha, adjusted


def _adjust(results: list[PairedResult], alpha: float) -> list[PairedResult]:
    """Holm across gating dimensions (overall rows); BH across every other row."""
    out = list(results)
    holm_rows = [i for i, r in enumerate(results) if r.gating and r.stratum is None and math.isfinite(r.pvalue)]
    bh = [i for i, r in enumerate(results) if i not in set(holm_rows) and math.isfinite(r.pvalue)]
    families: tuple[tuple[Family, list[int]], ...] = (("holm", holm_rows), ("fdr_bh", bh))
    for family, idx in families:
        if not idx:
            continue
        pvals = np.array([results[i].pvalue for i in idx])
        if family == "holm":
            reject, adjusted = holm(pvals, alpha)
        else:
            reject, adjusted, _, _ = multipletests(pvals, alpha=alpha, method=family)
        for i, rej, adj in zip(idx, reject, adjusted, strict=True):
            out[i] = dataclasses.replace(
                results[i],
                family=family,
                pvalue_adjusted=float(adj),
                significant=bool(rej),
            )
    return out


def compare(
    baseline_scores: pd.DataFrame,
    candidate_scores: pd.DataFrame,
    *,
    gating: Iterable[str] | None = None,
    alpha: float = 0.05,
    tolerance: float = 0.01,
    margin: float | None = None,
    rng: SeedLike = 0,
    n_resamples: int = 10_000,
    min_items: int = 10,
) -> Comparison:
    """Compare a candidate run with a baseline run on the same golden items.

    Pairs the two long score tables by ``(item_id, dimension)`` and, for every
    dimension overall and every dimension x stratum, reports the effect
    (candidate minus baseline, in the score's units), its ``1 - alpha``
    interval, a two-sided p-value from the paired test for the score kind,
    the discordance (binary) or sd of the differences, and the minimum
    detectable effect at 80 % power for this n:

    * binary: exact McNemar p; Bonett-Price interval on the paired difference.
    * ordinal: paired BCa bootstrap interval and p (by inverting the interval);
      Wilcoxon signed-rank (zsplit) as the secondary check.
    * continuous: paired t interval and p; BCa bootstrap as the secondary check.

    Items with a ``group`` get cluster-robust standard errors (direct CR1
    formula, t with G-1 df) or, for ordinal scores, a cluster bootstrap.
    Holm adjusts the gating dimensions (overall rows); Benjamini-Hochberg
    adjusts every other row (non-gating dimensions and the exploratory
    dimension x stratum table). See STATS.md 1.1-1.5.

    Args:
        baseline_scores: long score table of the baseline run
            (docs/internals.md: item_id, dimension, value, kind, scale_min,
            scale_max, and optionally run_id, stratum, group, gating).
        candidate_scores: the same for the candidate run.
        gating: dimension names that gate a merge (Holm family). None reads
            the table's ``gating`` column, or makes every dimension gating
            when there is none.
        alpha: significance level; intervals are ``1 - alpha``.
        tolerance: drop worth a review, as a share of the scale range
            (0.01 = 1 % of the scale); used for ``n_for_tolerance``.
        margin: non-inferiority margin, share of the scale; None means
            ``tolerance``. Recorded for :func:`evaltools.gate.gate`.
        rng: seed or Generator for the bootstrap; the seed used is recorded
            in the result.
        n_resamples: bootstrap resamples per cell (at least 100).
        min_items: fewest paired items for a row to get an interval and a
            p-value (at least 2).

    Returns:
        A :class:`Comparison`. Pairs where either side is NaN are dropped and
        counted in ``n_unscored``. Degenerate rows carry a ``status`` and a
        ``note``: no discordant items (p = 1, "no discordant items", an
        interval from n alone), no variation (degenerate interval
        ``[effect, effect]``), too few items (NaN interval, p and MDE),
        a stratum with one item (too few items).

    Raises:
        UnmatchedItemsError: the tables do not hold the same (item, dimension)
            pairs; the message names a few missing ids and their count.
        InputError: a malformed table (missing column, duplicate rows, values
            outside the scale, mixed runs or kinds).
        ConfigError: a parameter out of range or an unknown gating dimension.

    Examples:
        >>> import pandas as pd
        >>> def table(run, values):
        ...     return pd.DataFrame({"run_id": run, "item_id": [f"q{i}" for i in range(len(values))],
        ...         "dimension": "correct", "value": values, "kind": "binary",
        ...         "scale_min": 0.0, "scale_max": 1.0})
        >>> base = table("A", [1.0] * 40 + [0.0] * 10)
        >>> cand = table("B", [1.0] * 30 + [0.0] * 18 + [1.0] * 2)  # 10 items lost, 2 gained
        >>> r = compare(base, cand).get("correct")
        >>> r.effect, r.n_worse, r.n_better  # (2 - 10) / 50
        (-0.16, 10, 2)
        >>> round(r.pvalue, 4)  # exact McNemar: 2 * P(Bin(12, 0.5) <= 2)
        0.0386
    """
    func = "compare"
    alpha = check_probability(alpha, "alpha", func)
    tolerance = check_positive(tolerance, "tolerance", func, allow_zero=True)
    margin = tolerance if margin is None else check_positive(margin, "margin", func, allow_zero=True)
    n_resamples = check_int(n_resamples, "n_resamples", func, minimum=100)
    min_items = check_int(min_items, "min_items", func, minimum=2)
    seed = resolve_seed(rng, func)
    paired, base_run, cand_run = pair_tables(baseline_scores, candidate_scores, gating=gating, func=func)
    return compare_paired(
        paired,
        baseline_run=base_run,
        candidate_run=cand_run,
        alpha=alpha,
        tolerance=tolerance,
        margin=margin,
        n_resamples=n_resamples,
        seed=seed,
        min_items=min_items,
    )
