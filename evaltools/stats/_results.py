"""Result types of :func:`evaltools.stats.compare`: frozen dataclasses and their tables."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from evaltools.errors import ConfigError

Status = Literal["ok", "no_discordant", "no_variation", "too_few_items", "too_few_clusters", "empty"]
"""Why a :class:`PairedResult` is (or is not) usable as evidence.

* ``ok``: interval and p-value computed.
* ``no_discordant``: binary scores, the variants agreed on every item; p = 1
  and an interval from the item count alone. Not evidence of no difference.
* ``no_variation``: every paired difference is the same number (usually 0);
  the interval is the degenerate ``[effect, effect]``.
* ``too_few_items``: fewer paired items than ``min_items``; interval,
  p-value and MDE are NaN (the observed effect is shown, as description only).
* ``too_few_clusters``: items carry groups but all sit in one cluster; NaN.
* ``empty``: no paired item has a score on both sides; everything NaN.
"""

Family = Literal["holm", "fdr_bh", "none"]
"""Multiplicity family of a row: Holm for gating dimensions (overall), BH for
the exploratory rest, ``none`` when the row has no p-value."""


@dataclass(frozen=True, slots=True)
class PairedResult:
    """Candidate minus baseline on one dimension, overall or within one stratum.

    All effects are in the score's own units (a proportion difference for
    binary scores, points for a 1-5 scale); divide by :attr:`scale_range`
    (or call :meth:`scaled`) for a share of the scale.
    """

    dimension: str
    """The score dimension."""
    stratum: str | None
    """The stratum, or None for the dimension overall."""
    kind: str
    """``binary``, ``ordinal`` or ``continuous``: decides the test."""
    scale_min: float
    """Declared minimum of the scale."""
    scale_max: float
    """Declared maximum of the scale."""
    gating: bool
    """Whether the dimension is in the gating (Holm) family."""
    n: int
    """Paired items with a score on both sides."""
    n_unscored: int
    """Paired items dropped because either side is NaN."""
    baseline_mean: float
    """Mean baseline score over the ``n`` items."""
    candidate_mean: float
    """Mean candidate score over the ``n`` items."""
    effect: float
    """Mean paired difference, candidate minus baseline (negative = regression)."""
    ci_low: float
    """Lower bound of the two-sided ``confidence_level`` interval for the effect."""
    ci_high: float
    """Upper bound of that interval."""
    confidence_level: float
    """``1 - alpha``."""
    pvalue: float
    """Two-sided p-value of the primary test of "no difference" (unadjusted)."""
    method: str
    """The primary test and interval."""
    ni_lower: float
    """One-sided ``1 - alpha`` lower confidence bound for the effect: the
    non-inferiority bound (the effect is certified above it)."""
    sd_diff: float
    """Standard deviation of the per-item differences (ddof=1)."""
    se: float
    """Standard error of the effect behind the primary interval."""
    discordance: float
    """Binary: share of items on which the variants disagree (``psi``); NaN otherwise."""
    n_worse: int
    """Items where the candidate scored lower than the baseline."""
    n_better: int
    """Items where the candidate scored higher."""
    mde: float
    """Minimum detectable effect (score units) at 80 % power, two-sided ``alpha``,
    for this n (and this discordance or sd). NaN when it cannot be estimated."""
    n_for_tolerance: int | None
    """Paired items needed to detect a drop of ``tolerance`` (share of the scale)
    with 80 % power, at this discordance or sd; None when unknown."""
    n_clusters: int | None
    """Number of clusters when clustered standard errors were used, else None."""
    design_effect: float
    """Variance inflation from clustering (at least 1; 1 when unclustered)."""
    secondary_method: str
    """The secondary check ("" when none)."""
    secondary_pvalue: float
    """p-value of the secondary check (NaN when none)."""
    secondary_ci_low: float
    """Lower bound of the secondary interval (NaN when none)."""
    secondary_ci_high: float
    """Upper bound of the secondary interval (NaN when none)."""
    status: Status
    """Whether the row is usable as evidence; see :data:`Status`."""
    note: str
    """Plain-words explanation of a degenerate status ("" when ``ok``)."""
    family: Family = "none"
    """Multiplicity family: ``holm`` (gating, overall), ``fdr_bh`` (exploratory) or ``none``."""
    pvalue_adjusted: float = math.nan
    """p-value adjusted within ``family`` (NaN when the row has no p-value)."""
    significant: bool = False
    """Whether ``pvalue_adjusted <= alpha`` (a difference is shown, either direction)."""
    simultaneous_ci_low: float = math.nan
    """Gating rows: lower bound of the Bonferroni ``1 - alpha/m`` interval that
    matches the Holm decisions; NaN on other rows."""
    simultaneous_ci_high: float = math.nan
    """Gating rows: upper bound of that interval."""

    @property
    def scale_range(self) -> float:
        """``scale_max - scale_min``: the unit of "1 % of the scale"."""
        return self.scale_max - self.scale_min

    def scaled(self, value: float) -> float:
        """``value`` (score units) as a share of the scale range."""
        return value / self.scale_range

    @property
    def usable(self) -> bool:
        """Whether the row carries an interval and p-value usable as evidence."""
        return self.status in ("ok", "no_discordant", "no_variation")

    @property
    def regressed(self) -> bool:
        """A regression is shown: significant after adjustment and the effect is negative."""
        return self.significant and self.effect < 0


@dataclass(frozen=True, slots=True, eq=False)
class PairedScores:
    """The paired item-level scores of one dimension (input to the tests)."""

    dimension: str
    """The score dimension."""
    kind: str
    """Score kind."""
    scale_min: float
    """Declared scale minimum."""
    scale_max: float
    """Declared scale maximum."""
    gating: bool
    """Whether the dimension is in the gating family."""
    item_ids: NDArray[np.object_]
    """Item ids, one per pair."""
    baseline: NDArray[np.float64]
    """Baseline values (NaN = unscored)."""
    candidate: NDArray[np.float64]
    """Candidate values (NaN = unscored)."""
    strata: NDArray[np.object_] | None
    """Stratum per item, or None when the tables have none."""
    groups: NDArray[np.int64] | None
    """Cluster code per item (items without a group get their own), or None."""


@dataclass(frozen=True, slots=True)
class Comparison:
    """Baseline vs candidate on every dimension, overall and per stratum."""

    results: tuple[PairedResult, ...]
    """Overall rows (one per dimension, table order) then dimension x stratum rows."""
    baseline_run: str
    """Run id of the baseline."""
    candidate_run: str
    """Run id of the candidate."""
    alpha: float
    """Significance level; intervals are ``1 - alpha``."""
    tolerance: float
    """Drop (share of the scale) worth reviewing; used for ``n_for_tolerance``."""
    margin: float
    """Non-inferiority margin (share of the scale)."""
    n_resamples: int
    """Bootstrap resamples per cell."""
    seed: int
    """The seed that reproduces every bootstrap (pass it back as ``rng=``)."""
    min_items: int
    """Fewest paired items for a row to be tested."""
    paired: tuple[PairedScores, ...] = field(repr=False, compare=False)
    """The item-level pairs the rows were computed from."""

    @property
    def overall(self) -> tuple[PairedResult, ...]:
        """One row per dimension, all strata pooled."""
        return tuple(r for r in self.results if r.stratum is None)

    @property
    def by_stratum(self) -> tuple[PairedResult, ...]:
        """The exploratory dimension x stratum rows."""
        return tuple(r for r in self.results if r.stratum is not None)

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Dimension names in table order."""
        return tuple(r.dimension for r in self.overall)

    def get(self, dimension: str, stratum: str | None = None) -> PairedResult:
        """The row for ``dimension`` (overall, or within ``stratum``).

        Raises:
            ConfigError: no such row; the message lists the valid names.
        """
        for r in self.results:
            if r.dimension == dimension and r.stratum == stratum:
                return r
        dims = ", ".join(self.dimensions)
        strata = ", ".join(sorted({str(r.stratum) for r in self.by_stratum}))
        raise ConfigError(
            f"No result for dimension={dimension!r}, stratum={stratum!r}. "
            f"Dimensions: {dims}. Strata: {strata or '(none)'}."
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per result; ``effect_scaled`` etc. are shares of the scale range."""
        rows = []
        for r in self.results:
            row = {name: getattr(r, name) for name in PairedResult.__dataclass_fields__}
            rng = r.scale_range
            row["effect_scaled"] = r.effect / rng
            row["ci_low_scaled"] = r.ci_low / rng
            row["ci_high_scaled"] = r.ci_high / rng
            row["mde_scaled"] = r.mde / rng
            rows.append(row)
        return pd.DataFrame(rows)

    def item_frame(self) -> pd.DataFrame:
        """Item-level pairs: one row per (item, dimension) with the difference.

        Columns: item_id, dimension, stratum, baseline, candidate, diff,
        diff_scaled (share of the scale), unscored (either side NaN).
        """
        parts = []
        for p in self.paired:
            diff = p.candidate - p.baseline
            parts.append(
                pd.DataFrame(
                    {
                        "item_id": p.item_ids,
                        "dimension": p.dimension,
                        "stratum": p.strata if p.strata is not None else None,
                        "baseline": p.baseline,
                        "candidate": p.candidate,
                        "diff": diff,
                        "diff_scaled": diff / (p.scale_max - p.scale_min),
                        "unscored": np.isnan(diff),
                    }
                )
            )
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def worst_items(self, k: int = 10, *, dimensions: tuple[str, ...] | None = None) -> pd.DataFrame:
        """The ``k`` item x dimension pairs that regressed most (share of the scale).

        Only pairs with a drop are listed (``diff < 0``), worst first; ties
        are broken by dimension then item id so the order is stable.
        """
        items = self.item_frame()
        if items.empty:
            return items
        if dimensions is not None:
            items = items[items["dimension"].isin(dimensions)]
        items = items[items["diff"] < 0]
        return (
            items.sort_values(["diff_scaled", "dimension", "item_id"], kind="mergesort").head(k).reset_index(drop=True)
        )

    def _repr_html_(self) -> str:
        from evaltools._html import table

        level = 1 - self.alpha
        head = (
            f"<p><b>Comparison</b> {html.escape(self.candidate_run)} (candidate) vs "
            f"{html.escape(self.baseline_run)} (baseline): {len(self.overall)} dimensions, "
            f"{round(100 * level)}% intervals, effects as shares of each dimension's scale, "
            f"seed {self.seed}</p>"
        )
        cols = ["dimension", "stratum", "n", "n_unscored", "baseline_mean", "candidate_mean", "effect_scaled",
                "ci_low_scaled", "ci_high_scaled", "pvalue_adjusted", "mde_scaled", "status"]  # fmt: skip
        frame = self.to_frame()[cols].copy()
        pct = ("effect_scaled", "ci_low_scaled", "ci_high_scaled", "mde_scaled")
        overall = frame[frame["stratum"].isna()].drop(columns="stratum")
        out = head + table(overall, max_rows=None, percent=pct, confidence=level)._repr_html_()
        strata = frame[frame["stratum"].notna()]
        if len(strata):
            shown = table(strata, max_rows=None, percent=pct, confidence=level)._repr_html_()
            out += f"<details><summary>By stratum ({len(strata)} rows, exploratory)</summary>{shown}</details>"
        return out
