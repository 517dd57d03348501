"""Biases of pairwise judges: position (swap test) and length (verbosity).

A pairwise judge says which of two outputs, A or B, is better. Preferences
are written ``"A"``, ``"B"`` or ``"tie"`` (case-insensitive); the numeric
values of a pairwise :class:`~evaltools.scorers._types.Score` (1.0 = A,
0.0 = B, 0.5 = tie) are accepted too. None or NaN means no verdict.

Methods (STATS.md 2.2 and 2.3):

* Position bias: judge every pair in both orders. The consistency rate is
  Zheng et al. (2023, arXiv:2306.05685). Among pairs that flip with the
  order, a two-sided exact binomial test compares "position 1 won both
  times" with "position 2 won both times", one observation per pair (Wang et
  al. 2024, arXiv:2305.17926, found the direction differs by judge).
* Length bias: the probability that the judge prefers the longer output
  when the two differ by more than 30 characters (AlpacaEval's "Proba.
  prefer longer"), beside the humans' on the same pairs; and a logistic
  regression of the judge's preference on ``tanh`` of the standardized
  length difference controlling for the human label (Dubois et al. 2024,
  arXiv:2404.04475). A positive, significant length coefficient after the
  human control is verbosity bias.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from evaltools.calibration_results import Estimate
from evaltools.errors import InputError

__all__ = ["LengthBiasResult", "PositionBiasResult", "length_bias", "position_bias"]

_CODES = {"a": 1.0, "b": -1.0, "tie": 0.0}
_NUMERIC = {1.0: 1.0, 0.0: -1.0, 0.5: 0.0}


def _preferences(values: Sequence[object] | np.ndarray | pd.Series, name: str, func: str) -> np.ndarray:
    """Code preferences as +1 (A), -1 (B), 0 (tie), NaN (no verdict)."""
    out = np.full(len(values), np.nan)
    for i, v in enumerate(list(values)):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if isinstance(v, str) and v.strip().lower() in _CODES:
            out[i] = _CODES[v.strip().lower()]
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and float(v) in _NUMERIC:
            out[i] = _NUMERIC[float(v)]
        else:
            raise InputError(
                f"The '{name}' parameter of {func} must hold 'A', 'B', 'tie' (or 1.0, 0.0, 0.5, or None). "
                f"Got {v!r} at position {i} instead."
            )
    return out


def _wilson(successes: int, n: int, confidence: float) -> Estimate:
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, "Wilson score interval")
    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    return Estimate(successes / n, float(low), float(high), "Wilson score interval")


@dataclass(frozen=True, slots=True)
class PositionBiasResult:
    """Swap test of a pairwise judge."""

    n_pairs: int
    """Pairs with a verdict in both orders."""

    consistency_rate: Estimate
    """Share of pairs with the same verdict in both orders (1.0 best; NaN
    without pairs). Zheng et al. report 0.65 for GPT-4 with a default prompt."""

    n_first_both: int
    """Inconsistent pairs where the output shown first won in both orders."""

    n_second_both: int
    """Inconsistent pairs where the output shown second won in both orders."""

    n_tie_one_order: int
    """Inconsistent pairs judged a tie in one order only."""

    prob_prefer_first: float
    """Share of non-tie verdicts (both orders) that chose the output shown
    first; about 0.5 for an unbiased judge. NaN when every verdict is a tie."""

    pvalue: float
    """Two-sided exact binomial test of ``n_first_both`` against
    ``n_second_both``; NaN when no pair flipped (nothing to test)."""

    confidence: float
    """Coverage of the interval."""

    method: str = "swap test; exact binomial test on order flips (Zheng et al. 2023)"
    """How the test was done."""

    def _repr_html_(self) -> str:
        return (
            "<div class='evaltools-position-bias'><b>Position bias (swap test)</b>"
            f"<p>{self.n_pairs} pairs; consistent in both orders: {self.consistency_rate:.1%}; "
            f"first position won both orders {self.n_first_both}, second {self.n_second_both} "
            f"(p = {self.pvalue:.3g}); tie in one order only {self.n_tie_one_order}; "
            f"P(prefer first shown) = {self.prob_prefer_first:.2f}.</p>"
            f"<p>{html.escape(self.method)}</p></div>"
        )


def position_bias(
    first_order: Sequence[object] | np.ndarray | pd.Series,
    second_order: Sequence[object] | np.ndarray | pd.Series,
    *,
    confidence: float = 0.95,
) -> PositionBiasResult:
    """Swap test: does the verdict depend on which output is shown first?

    Args:
        first_order: the judge's preference with A shown first.
        second_order: the judge's preference with B shown first, already
            mapped back to the outputs (``"A"`` still means output A won).
        confidence: coverage of the consistency-rate interval.

    Returns:
        A :class:`PositionBiasResult`. Pairs missing a verdict in either
        order are left out; with no pair left, rates are NaN.

    Raises:
        InputError: lengths differ or a value is not a preference.

    Examples:
        >>> r = position_bias(["A", "A", "B", "A", "tie"], ["A", "B", "B", "B", "tie"])
        >>> r.n_pairs, round(r.consistency_rate.value, 2), r.n_first_both, r.n_second_both
        (5, 0.6, 2, 0)
    """
    if len(first_order) != len(second_order):
        raise InputError(
            f"first_order and second_order must have one verdict per pair: "
            f"first_order has {len(first_order)}, second_order has {len(second_order)}."
        )
    if not 0 < confidence < 1:
        raise InputError(f"The 'confidence' parameter of position_bias must be in (0, 1). Got {confidence!r} instead.")
    v1 = _preferences(first_order, "first_order", "position_bias")
    v2 = _preferences(second_order, "second_order", "position_bias")
    ok = ~np.isnan(v1) & ~np.isnan(v2)
    v1, v2 = v1[ok], v2[ok]
    n = int(ok.sum())
    consistent = int((v1 == v2).sum())
    # Position 1 is A in the first order and B in the second.
    first_both = int(((v1 == 1) & (v2 == -1)).sum())
    second_both = int(((v1 == -1) & (v2 == 1)).sum())
    tie_one = int(((v1 == 0) != (v2 == 0)).sum())
    decided = int((v1 != 0).sum() + (v2 != 0).sum())
    first_wins = int((v1 == 1).sum() + (v2 == -1).sum())
    flips = first_both + second_both
    pvalue = float(stats.binomtest(first_both, flips, p=0.5).pvalue) if flips else math.nan
    return PositionBiasResult(
        n_pairs=n,
        consistency_rate=_wilson(consistent, n, confidence),
        n_first_both=first_both,
        n_second_both=second_both,
        n_tie_one_order=tie_one,
        prob_prefer_first=first_wins / decided if decided else math.nan,
        pvalue=pvalue,
        confidence=confidence,
    )


@dataclass(frozen=True, slots=True)
class LengthBiasResult:
    """Verbosity bias of a pairwise judge."""

    min_diff: int
    """Pairs count for P(prefer longer) when lengths differ by more than this."""

    n_pairs: int
    """Pairs given."""

    n_eligible: int
    """Pairs differing by more than ``min_diff`` characters where the judge chose a side."""

    prob_prefer_longer: Estimate
    """P(judge prefers the longer output) on eligible pairs (AlpacaEval
    recommends at most about 0.7; its human annotators score 0.64)."""

    human_prob_prefer_longer: Estimate | None
    """The same for the human labels on pairs both chose a side; None without human labels."""

    n_both_decided: int
    """Eligible pairs where judge and human both chose a side."""

    difference_pvalue: float
    """Exact McNemar test (binomial on discordant pairs) of judge vs human
    preferring the longer output on the same pairs; NaN without human labels
    or discordant pairs."""

    length_coef: float
    """Logistic-regression coefficient of ``tanh(standardized len_a - len_b)``
    on P(judge prefers A); > 0 means longer wins. NaN when the model cannot be fit."""

    length_ci: tuple[float, float]
    """Interval of ``length_coef`` at ``confidence``."""

    length_pvalue: float
    """p-value of ``length_coef`` (Wald)."""

    n_logit: int
    """Pairs in the regression (judge ties are left out)."""

    confidence: float
    """Coverage of every interval."""

    notes: tuple[str, ...] = ()
    """Why a number is missing (separation, too few pairs)."""

    method: str = (
        "P(prefer longer) on pairs differing by > min_diff characters (AlpacaEval); "
        "Logit(judge prefers A ~ tanh(dlen/sd) + human preference) (Dubois et al. 2024)"
    )
    """How it was computed."""

    def _repr_html_(self) -> str:
        human = (
            f"; humans on the same pairs: {self.human_prob_prefer_longer:.2f}"
            if self.human_prob_prefer_longer is not None
            else ""
        )
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (
            "<div class='evaltools-length-bias'><b>Length bias</b>"
            f"<p>P(judge prefers the longer output) = {self.prob_prefer_longer:.2f} on "
            f"{self.n_eligible} pairs differing by more than {self.min_diff} characters{human}. "
            "Length coefficient controlling for the "
            f"human label: {self.length_coef:.2f} [{self.length_ci[0]:.2f}, {self.length_ci[1]:.2f}], "
            f"p = {self.length_pvalue:.3g} (n = {self.n_logit}).</p><ul>{notes}</ul></div>"
        )


def _lengths(x: Sequence[object] | np.ndarray | pd.Series, name: str) -> np.ndarray:
    values = list(x)
    texts = [isinstance(v, str) for v in values]
    if all(texts):
        return np.array([len(v) for v in values], dtype=float)
    numbers = [isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values]
    if not all(numbers):
        wanted = texts if any(texts) else numbers
        bad = wanted.index(False)
        raise InputError(
            f"The '{name}' parameter of length_bias must be all outputs (strings) or all lengths (numbers). "
            f"Got {values[bad]!r} at position {bad} instead."
        )
    return np.asarray(values, dtype=float)


def length_bias(
    judge: Sequence[object] | np.ndarray | pd.Series,
    output_a: Sequence[object] | np.ndarray | pd.Series,
    output_b: Sequence[object] | np.ndarray | pd.Series,
    *,
    human: Sequence[object] | np.ndarray | pd.Series | None = None,
    min_diff: int = 30,
    groups: Sequence[object] | np.ndarray | pd.Series | None = None,
    confidence: float = 0.95,
) -> LengthBiasResult:
    """Does the judge prefer longer outputs, beyond what humans prefer?

    Args:
        judge: the judge's preference per pair (``"A"``/``"B"``/``"tie"``).
        output_a: output A of each pair, as text or as its length in characters.
        output_b: output B of each pair, likewise.
        human: the human preference per pair, to compare with and to control
            for in the regression.
        min_diff: minimum absolute length difference (characters, exclusive)
            for P(prefer longer); 30 as in AlpacaEval.
        groups: cluster ids (e.g. the prompt) for clustered standard errors.
        confidence: coverage of the intervals.

    Returns:
        A :class:`LengthBiasResult`. Proportions are NaN without eligible
        pairs; the regression is NaN (with a note) when it cannot be fit,
        e.g. under perfect separation.

    Raises:
        InputError: lengths of the inputs differ, or a value is not a preference.

    Examples:
        >>> judge = ["A", "B", "A", "B", "A", "tie"]
        >>> a = ["x" * 100, "x" * 10, "x" * 200, "x" * 5, "x" * 90, "x"]
        >>> b = ["x" * 10, "x" * 100, "x" * 20, "x" * 60, "x" * 85, "x"]
        >>> r = length_bias(judge, a, b)
        >>> r.n_eligible, r.prob_prefer_longer.value
        (4, 1.0)
    """
    n = len(judge)
    sizes = {"judge": n, "output_a": len(output_a), "output_b": len(output_b)}
    if human is not None:
        sizes["human"] = len(human)
    if groups is not None:
        sizes["groups"] = len(groups)
    if len(set(sizes.values())) != 1:
        raise InputError(f"length_bias needs one entry per pair in every input; got lengths {sizes}.")
    jv = _preferences(judge, "judge", "length_bias")
    hv = _preferences(human, "human", "length_bias") if human is not None else None
    dlen = _lengths(output_a, "output_a") - _lengths(output_b, "output_b")
    sign = np.sign(dlen)  # +1 when A is longer

    eligible = (np.abs(dlen) > min_diff) & ~np.isnan(jv) & (jv != 0)
    judge_longer = jv[eligible] == sign[eligible]
    prob = _wilson(int(judge_longer.sum()), int(eligible.sum()), confidence)

    human_prob = None
    pvalue = math.nan
    n_both = 0
    notes: list[str] = []
    if hv is not None:
        h_ok = (np.abs(dlen) > min_diff) & ~np.isnan(hv) & (hv != 0)
        human_prob = _wilson(int((hv[h_ok] == sign[h_ok]).sum()), int(h_ok.sum()), confidence)
        both = eligible & h_ok
        n_both = int(both.sum())
        j_long = jv[both] == sign[both]
        h_long = hv[both] == sign[both]
        b, c = int((j_long & ~h_long).sum()), int((~j_long & h_long).sum())
        if b + c:
            pvalue = float(stats.binomtest(b, b + c, p=0.5).pvalue)

    coef, ci, coef_p, n_logit = math.nan, (math.nan, math.nan), math.nan, 0
    fit = ~np.isnan(jv) & (jv != 0)
    if hv is not None:
        fit &= ~np.isnan(hv)
    n_logit = int(fit.sum())
    sd = float(np.std(dlen[fit], ddof=1)) if n_logit > 1 else 0.0
    if n_logit < 10 or sd == 0:
        notes.append(f"regression not fit: {n_logit} usable pairs and length-difference sd {sd:.1f}")
    else:
        import statsmodels.api as sm
        from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

        cols = {"const": np.ones(n_logit), "length": np.tanh(dlen[fit] / sd)}
        if hv is not None:
            cols["human"] = hv[fit]
        exog = pd.DataFrame(cols)
        y = (jv[fit] == 1).astype(float)
        kwargs: dict[str, object] = {"disp": 0}
        if groups is not None:
            codes = pd.factorize(pd.Series(list(groups))[fit].astype(str))[0]
            kwargs.update(cov_type="cluster", cov_kwds={"groups": codes})
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", PerfectSeparationWarning)
                res = sm.Logit(y, exog).fit(**kwargs)
            coef = float(res.params["length"])
            low, high = res.conf_int(alpha=1 - confidence).loc["length"]
            ci = (float(low), float(high))
            coef_p = float(res.pvalues["length"])
        except (PerfectSeparationWarning, np.linalg.LinAlgError) as exc:
            notes.append(f"regression not fit: {type(exc).__name__} (the judge's choice is perfectly predicted)")
    return LengthBiasResult(
        min_diff=min_diff,
        n_pairs=n,
        n_eligible=int(eligible.sum()),
        prob_prefer_longer=prob,
        human_prob_prefer_longer=human_prob,
        n_both_decided=n_both,
        difference_pvalue=pvalue,
        length_coef=coef,
        length_ci=ci,
        length_pvalue=coef_p,
        n_logit=n_logit,
        confidence=confidence,
        notes=tuple(notes),
    )
