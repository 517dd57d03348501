"""The gate's decision: verdict types and the rule applied to a Comparison."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaltools._util import SeedLike, check_int, check_positive, check_probability, resolve_seed
from evaltools.errors import ConfigError
from evaltools.gate._outcome import Verdict, pct
from evaltools.gate._render import gate_html, gate_junit, gate_markdown
from evaltools.scorers import ITEM_LEVEL_REASONS
from evaltools.stats import (
    Comparison,
    PairedResult,
    PairedScores,
    StratifiedEstimate,
    analyze_cell,
    check_shares,
    compare_paired,
    holm,
    pair_tables,
    stratified_mean,
)


def _pvalue(p: float) -> str:
    """``"= 0.035"`` or ``"< 0.001"``, to follow "p "."""
    if not math.isfinite(p):
        return "= n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


@dataclass(frozen=True, slots=True)
class DimensionVerdict:
    """The gate's verdict on one dimension, with its reasons."""

    dimension: str
    """The score dimension."""
    verdict: Verdict
    """PASS, NEEDS_REVIEW or BLOCK."""
    gating: bool
    """Whether the dimension gates a merge (as configured; untrusted ones included)."""
    trusted: bool
    """False when the dimension's judge is flagged untrusted (it cannot PASS or BLOCK)."""
    result: PairedResult
    """The overall paired result the verdict rests on."""
    reasons: tuple[str, ...]
    """Plain-words reasons, most important first."""
    certified_margin: float
    """Drop (share of the scale) ruled out by the one-sided lower bound: ``max(0, -lower)``;
    NaN when the row has no bound."""

    @property
    def message(self) -> str:
        """The verdict and its reasons in one line."""
        return f"{self.verdict.value}: " + "; ".join(self.reasons)


def _mde_sentence(r: PairedResult, tolerance: float) -> str:
    mde = r.scaled(r.mde)
    if math.isfinite(mde):
        detect = f"this set (n = {r.n}) detects changes of {100 * mde:.1f}% of the scale or more (80% power)"
    elif r.status == "no_discordant" or (r.kind == "binary" and r.discordance == r.discordance):
        detect = f"the MDE is unknown with {r.n_worse + r.n_better} discordant items out of {r.n}"
    else:
        detect = "the MDE is unknown (no variation in the differences)"
    if r.n_for_tolerance is not None and tolerance > 0:
        return f"{detect}; detecting {100 * tolerance:g}% needs about {r.n_for_tolerance:,} items"
    return detect


def _decide_dimension(
    r: PairedResult,
    strata_rows: list[PairedResult],
    *,
    gating: bool,
    trusted: bool,
    tolerance: float,
    margin: float,
    level: int,
    unscored: Mapping[str, Holes] | None = None,
) -> DimensionVerdict:
    eff, lower = r.scaled(r.effect), r.scaled(r.ni_lower)
    interval = f"{level}% CI {pct(r.scaled(r.ci_low))} to {pct(r.scaled(r.ci_high))}"
    certified = max(0.0, -lower) if math.isfinite(lower) else math.nan
    adj = "Holm" if r.family == "holm" else "BH"

    def verdict(v: Verdict, reasons: list[str]) -> DimensionVerdict:
        return DimensionVerdict(r.dimension, v, gating, trusted, r, tuple(reasons), certified)

    holes = unscored.get(r.dimension) if unscored else None
    n_holes = holes.n_unscored if holes is not None else r.n_unscored
    n_applicable = r.n + n_holes
    share = n_holes / n_applicable if n_applicable else 0.0
    limit = margin if r.gating else tolerance
    hole_reason = None
    if n_holes and share > limit + 1e-12:
        # Worst case: each unscored item could move the effect by the whole scale, so a share
        # of unscored items above the margin leaves the dimension uncertifiable whatever the
        # scored items say (and a judge that refuses to grade planted outputs cannot hide a drop).
        hole_reason = (
            f"{n_holes} of {n_applicable} items ({100 * share:.0f}%) are unscored"
            f"{holes.describe() if holes is not None else ''}: more than the {100 * limit:g}% "
            f"{'margin' if r.gating else 'tolerance'}, so it cannot pass (scored, they alone could move the "
            "effect by more than that)"
        )

    if not r.usable:
        reasons = [f"cannot be tested: {r.note}"]
        if hole_reason:
            reasons.append(hole_reason)
        if not trusted:
            reasons.append("its judge is not calibrated (untrusted)")
        return verdict(Verdict.NEEDS_REVIEW, reasons)
    if r.gating and r.regressed:
        return verdict(
            Verdict.BLOCK,
            [f"regression shown: {pct(eff)} of the scale ({interval}), Holm-adjusted p {_pvalue(r.pvalue_adjusted)}"],
        )
    review: list[str] = []
    if r.regressed:
        who = "an untrusted judge" if not trusted else "a non-gating dimension"
        review.append(
            f"regression shown on {who}: {pct(eff)} of the scale ({interval}), "
            f"{adj}-adjusted p {_pvalue(r.pvalue_adjusted)}"
        )
    elif eff <= -tolerance + 1e-12 and tolerance > 0:
        review.append(
            f"observed drop of {100 * -eff:.1f}% of the scale (tolerance {100 * tolerance:g}%) is not statistically "
            f"shown (p {_pvalue(r.pvalue)}, {interval}); {_mde_sentence(r, tolerance)}"
        )
    if r.gating and not lower > -margin:
        review.append(
            f"cannot rule out a drop of {100 * margin:g}% (one-sided {level}% lower bound {pct(lower)}): "
            f"{_mde_sentence(r, tolerance)}"
        )
    if r.gating:
        review.extend(
            f"stratum {s.stratum!r} regressed: {pct(s.scaled(s.effect))} of the scale "
            f"(BH-adjusted p {_pvalue(s.pvalue_adjusted)}, n = {s.n})"
            for s in strata_rows
            if s.regressed
        )
    if hole_reason:
        review.append(hole_reason)
    if not trusted:
        review.append("its judge is not calibrated (untrusted): reported, but it cannot pass on its own")
    info = ["no discordant items: the variants agreed on every item"] if r.status == "no_discordant" else []
    if review:
        return verdict(Verdict.NEEDS_REVIEW, review + info)
    if r.gating:
        text = (
            f"non-inferior: one-sided {level}% lower bound {pct(lower)} is above -{100 * margin:g}% "
            f"(certified: no worse than {100 * certified:.1f}% of the scale); effect {pct(eff)} ({interval})"
        )
    else:
        text = f"not gating; no drop of {100 * tolerance:g}% or more observed (effect {pct(eff)}, {interval})"
    return verdict(Verdict.PASS, [text, *info])


@dataclass(frozen=True, slots=True)
class Holes:
    """Unscored pairs of one dimension, item-level "does not apply" pairs left out."""

    n_unscored: int
    """Pairs unscored on either side, except those unscored on both sides for an item-level reason."""
    reasons: tuple[tuple[str, int], ...]
    """Candidate-side (else baseline-side) unscored reasons and their counts, most frequent first."""

    def describe(self) -> str:
        """`` (injection_suspected 72, no_output 3)``, or "" when no reason is known."""
        return f" ({', '.join(f'{k} {v}' for k, v in self.reasons)})" if self.reasons else ""


UnscoredReasons = Mapping[tuple[str, str], str]
"""(item_id, dimension) -> unscored reason, for the NaN rows of one score table."""


def unscored_reasons(table: pd.DataFrame) -> dict[tuple[str, str], str]:
    """The unscored reason of every NaN row of a score table ("unscored" when it gives none)."""
    values = pd.to_numeric(table["value"], errors="coerce")
    nan = table[values.isna()]
    if "unscored_reason" in nan.columns:
        why = [str(v) if isinstance(v, str) and v else "unscored" for v in nan["unscored_reason"]]
    else:
        why = ["unscored"] * len(nan)
    return dict(zip(zip(nan["item_id"].astype(str), nan["dimension"].astype(str), strict=True), why, strict=True))


def _holes(p: PairedScores, base: UnscoredReasons, cand: UnscoredReasons) -> Holes:
    counts: Counter[str] = Counter()
    n = 0
    for item, b, c in zip(p.item_ids, p.baseline, p.candidate, strict=True):
        nb, nc = math.isnan(b), math.isnan(c)
        if not (nb or nc):
            continue
        key = (str(item), p.dimension)
        rb, rc = base.get(key, "unscored"), cand.get(key, "unscored")
        if nb and nc and rb == rc and rb in ITEM_LEVEL_REASONS:
            continue  # the dimension does not apply to this item, in either run
        n += 1
        counts[rc if nc else rb] += 1
    return Holes(n, tuple(counts.most_common()))


COVERAGE = "coverage"
"""Name of the gate's coverage row."""


def _coverage_pairs(comparison: Comparison) -> tuple[PairedScores, list[PairedScores], dict[str, str]]:
    """Per item, 1 when the side scored every gating dimension that either side scored."""
    family = [p for p in comparison.paired if p.gating] or list(comparison.paired)
    lost: dict[str, bool] = {}
    gained: dict[str, bool] = {}
    for p in family:
        sb, sc = ~np.isnan(p.baseline), ~np.isnan(p.candidate)
        for item, b, c in zip(p.item_ids, sb, sc, strict=True):
            if not (b or c):
                continue
            key = str(item)
            lost[key] = lost.get(key, False) or bool(b and not c)
            gained[key] = gained.get(key, False) or bool(c and not b)
    ids = list(lost)
    names = {p.dimension for p in comparison.paired}
    name = COVERAGE if COVERAGE not in names else f"{COVERAGE} (gate check)"
    pairs = PairedScores(
        dimension=name,
        kind="binary",
        scale_min=0.0,
        scale_max=1.0,
        gating=True,
        item_ids=np.array(ids, dtype=object),
        baseline=np.array([0.0 if gained[i] else 1.0 for i in ids]),
        candidate=np.array([0.0 if lost[i] else 1.0 for i in ids]),
        strata=None,
        groups=None,
    )
    return pairs, family, {i: "lost" for i in ids if lost[i] and not gained[i]}


def coverage_check(
    comparison: Comparison, candidate_reasons: UnscoredReasons | None = None
) -> tuple[DimensionVerdict, Comparison]:
    """The gate's coverage check: items scored in the baseline but not in the candidate.

    An item is *covered* by a run when it is scored on every gating dimension
    that either run scored it on; a missing output, a failed request or an
    item the judge could not grade uncovers it. The check is a paired binary
    comparison of coverage, tested with the exact McNemar test on the
    discordant items (lost vs gained). It gates like a dimension:

    * PASS only when the candidate lost no item;
    * BLOCK when the loss is shown: the coverage p-value joins the Holm
      family of the gating dimensions and is significant with fewer items
      covered. It joins only when its exact test can reach significance
      there (at least ``log2(2 (m + 1) / alpha)`` discordant items for ``m``
      gating dimensions: Tarone's screening of discrete tests, 1990), so a
      gate with no coverage change keeps its full power;
    * NEEDS_REVIEW otherwise (some items lost, the loss not shown).

    Args:
        comparison: the comparison of the score dimensions.
        candidate_reasons: the candidate's unscored reasons, to say why items were lost.

    Returns:
        The coverage verdict and the comparison with Holm-adjusted p-values
        recomputed when the coverage test joined the family.
    """
    pairs, family, lost_ids = _coverage_pairs(comparison)
    alpha = comparison.alpha
    cell = analyze_cell(
        pairs.baseline,
        pairs.candidate,
        dimension=pairs.dimension,
        stratum=None,
        kind="binary",
        scale_min=0.0,
        scale_max=1.0,
        gating=False,
        groups=None,
        alpha=alpha,
        simultaneous_alpha=None,
        tolerance=comparison.tolerance,
        n_resamples=comparison.n_resamples,
        rng=np.random.default_rng(comparison.seed),
        min_items=comparison.min_items,
    )
    holm_rows = [i for i, r in enumerate(comparison.results) if r.family == "holm"]
    k = cell.n_worse + cell.n_better
    joins = k > 0 and math.isfinite(cell.pvalue) and min(1.0, 2 * 0.5**k) <= alpha / (len(holm_rows) + 1)
    results = list(comparison.results)
    if joins:
        pvals = np.array([results[i].pvalue for i in holm_rows] + [cell.pvalue])
        reject, adjusted = holm(pvals, alpha)
        for j, i in enumerate(holm_rows):
            results[i] = dataclasses.replace(
                results[i], pvalue_adjusted=float(adjusted[j]), significant=bool(reject[j])
            )
        cell = dataclasses.replace(
            cell, gating=True, family="holm", pvalue_adjusted=float(adjusted[-1]), significant=bool(reject[-1])
        )
        comparison = dataclasses.replace(comparison, results=tuple(results))
    why: Counter[str] = Counter()
    if candidate_reasons is not None:
        for item in lost_ids:
            found = [candidate_reasons.get((item, p.dimension)) for p in family]
            why[next((f for f in found if f), "unscored")] += 1
    because = f" ({', '.join(f'{r} {c}' for r, c in why.most_common())})" if why else ""
    level = round(100 * (1 - alpha))
    dims = ", ".join(p.dimension for p in family)
    lost, gained, n = cell.n_worse, cell.n_better, cell.n
    interval = f"{level}% CI {pct(cell.ci_low)} to {pct(cell.ci_high)}"
    if lost == 0:
        extra = f"; {gained} more scored in the candidate" if gained else ""
        verdict, reasons = (
            Verdict.PASS,
            [f"every item scored in the baseline is scored in the candidate ({n} items on {dims}){extra}"],
        )
    elif cell.regressed:
        verdict, reasons = (
            Verdict.BLOCK,
            [
                f"coverage loss shown: {lost} of {n} items scored in the baseline are missing or unscored in the "
                f"candidate{because}, {gained} the other way; coverage {pct(cell.effect)} ({interval}), exact "
                f"McNemar Holm-adjusted p {_pvalue(cell.pvalue_adjusted)}"
            ],
        )
    else:
        shown = (
            f"exact McNemar p {_pvalue(cell.pvalue)}"
            if joins
            else f"{k} discordant item(s) are too few for the exact test to reach significance"
        )
        verdict, reasons = (
            Verdict.NEEDS_REVIEW,
            [
                f"{lost} of {n} items scored in the baseline are missing or unscored in the candidate{because}, "
                f"{gained} the other way: a candidate that loses items cannot pass; the loss is not shown ({shown})"
            ],
        )
    row = DimensionVerdict(pairs.dimension, verdict, True, True, cell, tuple(reasons), math.nan)
    return row, comparison


def decide(
    comparison: Comparison,
    *,
    configured_gating: Mapping[str, bool],
    untrusted: frozenset[str],
    coverage: DimensionVerdict | None = None,
    unscored: Mapping[str, Holes] | None = None,
) -> tuple[Verdict, tuple[DimensionVerdict, ...], str]:
    """Apply the gate rule to a comparison (see the package docstring).

    ``coverage`` (from :func:`coverage_check`) takes part in the overall
    verdict; ``unscored`` gives each dimension's unscored pairs and reasons.
    """
    level = round(100 * (1 - comparison.alpha))
    dims = []
    for r in comparison.overall:
        strata_rows = [s for s in comparison.by_stratum if s.dimension == r.dimension]
        dims.append(
            _decide_dimension(
                r,
                strata_rows,
                gating=configured_gating.get(r.dimension, r.gating),
                trusted=r.dimension not in untrusted,
                tolerance=comparison.tolerance,
                margin=comparison.margin,
                level=level,
                unscored=unscored,
            )
        )
    checks = [*dims, coverage] if coverage is not None else dims
    worst = max((d.verdict for d in checks), key=lambda v: v.severity, default=Verdict.NEEDS_REVIEW)
    trusted_gating = [d for d in dims if d.gating and d.trusted]
    if worst is Verdict.BLOCK:
        blocked = ", ".join(d.dimension for d in checks if d.verdict is Verdict.BLOCK)
        summary = f"BLOCK: a regression is shown on {blocked}"
    elif not trusted_gating:
        worst = Verdict.NEEDS_REVIEW
        summary = "NEEDS_REVIEW: no trusted gating dimension, so nothing certifies this change"
    elif worst is Verdict.NEEDS_REVIEW:
        names = [d.dimension for d in checks if d.verdict is Verdict.NEEDS_REVIEW]
        what = "dimensions" if coverage is None else "checks"
        summary = f"NEEDS_REVIEW: {len(names)} of {len(checks)} {what} need a human look ({', '.join(names)})"
    else:
        summary = (
            f"PASS: every gating dimension is non-inferior within {100 * comparison.margin:g}% of its scale, "
            "no dimension dropped by the tolerance"
            + (" and every item scored in the baseline is scored in the candidate" if coverage is not None else "")
        )
    return worst, tuple(dims), summary


@dataclass(frozen=True, slots=True)
class ProductionEstimate:
    """Golden-set and production-weighted (post-stratified) numbers for one dimension."""

    dimension: str
    """The score dimension."""
    baseline: StratifiedEstimate
    """Baseline mean, raw and post-stratified."""
    candidate: StratifiedEstimate
    """Candidate mean, raw and post-stratified."""
    effect: StratifiedEstimate
    """Paired difference (candidate - baseline), raw and post-stratified, with its interval."""


def _post_stratified(
    values: np.ndarray,
    kind: str,
    shares: Mapping[str, float],
    alpha: float,
    *,
    strata: Any,
    label: Any,
    n_unscored: Any,
) -> StratifiedEstimate:
    return stratified_mean(
        values,
        strata,
        shares,
        label=str(label),
        kind=kind,
        alpha=alpha,
        ci_method="satterthwaite",
        n_unscored=int(n_unscored),
    )


def production_estimates(comparison: Comparison, shares: Mapping[str, float]) -> tuple[ProductionEstimate, ...]:
    """Post-stratify each dimension's baseline, candidate and paired effect."""
    out = []
    alpha = comparison.alpha
    for p in comparison.paired:
        if p.strata is None:
            raise ConfigError("production_shares needs a 'stratum' column in the score tables.")
        keep = ~(np.isnan(p.baseline) | np.isnan(p.candidate))
        pieces = {"strata": p.strata[keep], "label": p.dimension, "n_unscored": int((~keep).sum())}
        base, cand = p.baseline[keep], p.candidate[keep]
        out.append(
            ProductionEstimate(
                dimension=p.dimension,
                baseline=_post_stratified(base, p.kind, shares, alpha, **pieces),
                candidate=_post_stratified(cand, p.kind, shares, alpha, **pieces),
                effect=_post_stratified(cand - base, "difference", shares, alpha, **pieces),
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class GateResult:
    """The gate's verdict overall and per dimension, with CI-friendly renderings."""

    verdict: Verdict
    """The overall verdict: the worst dimension verdict (NEEDS_REVIEW when
    no trusted gating dimension exists)."""
    summary: str
    """One line saying why."""
    dimensions: tuple[DimensionVerdict, ...]
    """One verdict per dimension, in table order."""
    comparison: Comparison
    """The statistics the verdicts rest on."""
    untrusted: frozenset[str]
    """Dimensions flagged untrusted (their judge failed calibration)."""
    production: tuple[ProductionEstimate, ...] | None = None
    """Post-stratified numbers when production shares were given."""
    production_shares: tuple[tuple[str, float], ...] | None = None
    """The production shares used."""
    coverage: DimensionVerdict | None = None
    """The coverage check (items scored in the baseline but not in the candidate), gated
    like a dimension; None for results built without it (the A/A simulations)."""

    @property
    def checks(self) -> tuple[DimensionVerdict, ...]:
        """The dimensions, then the coverage check: every row of the gate's table."""
        return self.dimensions + ((self.coverage,) if self.coverage is not None else ())

    @property
    def exit_code(self) -> int:
        """Process exit code: 0 PASS, 3 NEEDS_REVIEW, 4 BLOCK."""
        return self.verdict.exit_code

    @property
    def tolerance(self) -> float:
        """Drop (share of the scale) that needs review."""
        return self.comparison.tolerance

    @property
    def margin(self) -> float:
        """Non-inferiority margin (share of the scale) a gating dimension must certify to PASS."""
        return self.comparison.margin

    def get(self, dimension: str) -> DimensionVerdict:
        """The verdict of ``dimension``.

        Raises:
            ConfigError: unknown dimension; the message lists the valid ones.
        """
        for d in self.dimensions:
            if d.dimension == dimension:
                return d
        raise ConfigError(
            f"Unknown dimension {dimension!r}. Valid dimensions: {', '.join(d.dimension for d in self.dimensions)}."
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per dimension, then the coverage row: verdict, effect and bounds as shares of the scale, reasons."""
        rows = []
        for d in self.checks:
            r = d.result
            rows.append(
                {
                    "dimension": d.dimension,
                    "check": "coverage" if d is self.coverage else "dimension",
                    "verdict": d.verdict.value,
                    "gating": d.gating,
                    "trusted": d.trusted,
                    "kind": r.kind,
                    "n": r.n,
                    "n_unscored": r.n_unscored,
                    "effect_scaled": r.scaled(r.effect),
                    "ci_low_scaled": r.scaled(r.ci_low),
                    "ci_high_scaled": r.scaled(r.ci_high),
                    "ni_lower_scaled": r.scaled(r.ni_lower),
                    "pvalue": r.pvalue,
                    "pvalue_adjusted": r.pvalue_adjusted,
                    "family": r.family,
                    "mde_scaled": r.scaled(r.mde),
                    "n_for_tolerance": r.n_for_tolerance,
                    "certified_margin": d.certified_margin,
                    "reasons": "; ".join(d.reasons),
                }
            )
        return pd.DataFrame(rows)

    def to_markdown(self, report_url: str | None = None, *, max_items: int = 10) -> str:
        """Markdown summary for a PR comment or ``$GITHUB_STEP_SUMMARY``.

        Args:
            report_url: URL of the HTML report; worst items link to
                ``report_url#item-<id>`` when given.
            max_items: how many worst regressed items to list.

        Returns:
            The Markdown text.
        """
        return gate_markdown(self, report_url=report_url, max_items=max_items)

    def to_junit_xml(self) -> str:
        """JUnit XML with one test case per dimension.

        BLOCK is a ``<failure type="regression">``; NEEDS_REVIEW is a
        ``<failure type="needs_review">`` (a review is required, so it must
        not look green); PASS is a passing case whose ``<system-out>`` holds
        the certified margin. The suite's properties carry the overall verdict.

        Returns:
            The XML document as a string.
        """
        return gate_junit(self)

    def _repr_html_(self) -> str:
        return gate_html(self)


def _check_untrusted(untrusted: Iterable[str] | None) -> frozenset[str]:
    if untrusted is None:
        return frozenset()
    if isinstance(untrusted, str):
        raise ConfigError("The 'untrusted' parameter of gate must be a collection of dimension names, not a str.")
    return frozenset(str(u) for u in untrusted)


def prepare(paired: list[PairedScores], untrusted: frozenset[str]) -> tuple[list[PairedScores], dict[str, bool]]:
    """Drop untrusted dimensions from the gating (Holm) family; keep the configured flags."""
    configured = {p.dimension: p.gating for p in paired}
    return [dataclasses.replace(p, gating=p.gating and p.dimension not in untrusted) for p in paired], configured


def build_result(
    comparison: Comparison,
    configured: Mapping[str, bool],
    untrusted: frozenset[str],
    production_shares: Mapping[str, float] | None,
    *,
    baseline_reasons: UnscoredReasons | None = None,
    candidate_reasons: UnscoredReasons | None = None,
) -> GateResult:
    """Check coverage, decide and wrap a comparison into a :class:`GateResult`."""
    coverage, comparison = coverage_check(comparison, candidate_reasons)
    holes = {p.dimension: _holes(p, baseline_reasons or {}, candidate_reasons or {}) for p in comparison.paired}
    verdict, dims, summary = decide(
        comparison, configured_gating=configured, untrusted=untrusted, coverage=coverage, unscored=holes
    )
    production = shares = None
    if production_shares is not None:
        checked = check_shares(production_shares, "gate")
        production = production_estimates(comparison, checked)
        shares = tuple(checked.items())
    return GateResult(verdict, summary, dims, comparison, untrusted, production, shares, coverage)


def gate(
    baseline_scores: pd.DataFrame,
    candidate_scores: pd.DataFrame,
    *,
    gating: Iterable[str] | None = None,
    untrusted: Iterable[str] | None = None,
    alpha: float = 0.05,
    tolerance: float = 0.01,
    margin: float | None = None,
    production_shares: Mapping[str, float] | None = None,
    rng: SeedLike = 0,
    n_resamples: int = 10_000,
    min_items: int = 10,
) -> GateResult:
    """Decide whether a candidate run may replace the baseline: PASS, NEEDS_REVIEW or BLOCK.

    The rule (STATS.md 1.5, "Recommended gate design"), per dimension, with
    effects as shares of the scale range (so 1 % means 0.04 points on 1-5):

    * **BLOCK**: a gating dimension regressed and it is statistically shown
      (Holm-adjusted p <= alpha across the gating dimensions, effect < 0).
    * **NEEDS_REVIEW**: the dimension cannot be tested (too few items); or an
      observed drop of at least ``tolerance`` is not shown; or (gating
      dimensions) the one-sided ``1 - alpha`` lower bound does not rule out a
      drop of ``margin`` (the set is too small to certify it); or a stratum
      regressed (BH-adjusted); or a regression is shown on a non-gating or
      untrusted dimension; or the dimension is untrusted. The reason states
      the MDE and how many items it would take to detect ``tolerance``.
    * **PASS**: otherwise; for a gating dimension, the lower bound is above
      ``-margin`` (non-inferiority certified, the margin is reported).

    The overall verdict is the worst dimension verdict, and NEEDS_REVIEW when
    no trusted gating dimension exists.

    Args:
        baseline_scores: long score table of the baseline run.
        candidate_scores: long score table of the candidate run.
        gating: dimensions that gate (None: the tables' ``gating`` column,
            or all dimensions when absent).
        untrusted: dimensions whose judge failed calibration: reported, never
            PASS, never BLOCK, and left out of the Holm family. Names not in
            the tables are ignored.
        alpha: significance level.
        tolerance: drop that needs a review, share of the scale (0.01 = 1 %).
        margin: non-inferiority margin to certify for PASS, share of the
            scale; None means ``tolerance``.
        production_shares: stratum -> production share; adds post-stratified
            (production-weighted) baseline, candidate and effect estimates.
        rng: seed or Generator for the bootstrap (recorded).
        n_resamples: bootstrap resamples per cell.
        min_items: fewest paired items for a dimension to be tested.

    Returns:
        A :class:`GateResult`; ``exit_code`` is 0 (PASS), 3 (NEEDS_REVIEW) or
        4 (BLOCK).

    Raises:
        UnmatchedItemsError: the runs do not pair by (item, dimension).
        InputError: a malformed score table.
        ConfigError: a parameter out of range.

    Examples:
        >>> import pandas as pd
        >>> def table(run, values):
        ...     return pd.DataFrame({"run_id": run, "item_id": [f"q{i}" for i in range(len(values))],
        ...         "dimension": "correct", "value": values, "kind": "binary",
        ...         "scale_min": 0.0, "scale_max": 1.0})
        >>> base = table("A", [1.0] * 250 + [0.0] * 50)
        >>> cand = table("B", [1.0] * 220 + [0.0] * 80)  # 30 items lost, none gained
        >>> result = gate(base, cand)
        >>> result.verdict.value, result.exit_code
        ('BLOCK', 4)
        >>> gate(base, base, margin=0.03).verdict.value  # identical runs certify a 3% margin
        'PASS'
    """
    func = "gate"
    alpha = check_probability(alpha, "alpha", func)
    tolerance = check_positive(tolerance, "tolerance", func, allow_zero=True)
    margin = tolerance if margin is None else check_positive(margin, "margin", func, allow_zero=True)
    n_resamples = check_int(n_resamples, "n_resamples", func, minimum=100)
    min_items = check_int(min_items, "min_items", func, minimum=2)
    untrusted_set = _check_untrusted(untrusted)
    if production_shares is not None:
        check_shares(production_shares, func)
    seed = resolve_seed(rng, func)
    paired, base_run, cand_run = pair_tables(baseline_scores, candidate_scores, gating=gating, func=func)
    paired, configured = prepare(paired, untrusted_set)
    comparison = compare_paired(
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
    return build_result(
        comparison,
        configured,
        untrusted_set,
        production_shares,
        baseline_reasons=unscored_reasons(baseline_scores),
        candidate_reasons=unscored_reasons(candidate_scores),
    )
