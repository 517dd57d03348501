"""Pairwise judges: calibration in both presentation orders, position and length bias.

A pairwise judge says which of two outputs, A or B, is better. Verdicts
have one vocabulary across evaltools: ``"A"``, ``"B"`` or ``"tie"``
(case-insensitive); None or NaN means no verdict. Numeric codes mean
different things in different benchmarks (0 is output A in one, a tie in
another), so they are read only through an explicit ``codes=`` mapping, and
numbers without one are an error that shows the mapping to write.
:data:`SCORE_CODES` is the mapping for the values of a
:class:`~evaltools.PairwiseJudge` score (1.0 A, 0.0 B, 0.5 tie).

:func:`calibrate_pairwise` is the workflow: verdicts in both orders plus
human labels in, accuracy per order and on average, correct in both
orders, positional consistency, kappa per order and combined, the swap
test, length bias and the human-human ceiling out, with intervals that
resample pairs and one trust verdict.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from evaltools.calibration import _metrics as cm
from evaltools.calibration._calibrate import MIN_PAIRED
from evaltools.calibration._inputs import check_trust_params, param_error, resolve_rng
from evaltools.calibration._results import Estimate
from evaltools.errors import InputError
from evaltools.stats import wilson_interval

__all__ = [
    "CONSISTENCY_FLOOR",
    "SCORE_CODES",
    "VOCABULARY",
    "LengthBiasResult",
    "PairwiseCalibration",
    "PositionBiasResult",
    "calibrate_pairwise",
    "check_codes",
    "length_bias",
    "load_pairwise_verdicts",
    "position_bias",
]

VOCABULARY = ("A", "B", "tie")
"""The pairwise verdicts every evaltools function reads and writes."""

SCORE_CODES: dict[float, str] = {1.0: "A", 0.0: "B", 0.5: "tie"}
"""What the values of a :class:`~evaltools.PairwiseJudge` score mean; pass
``codes=SCORE_CODES`` to read those numbers as verdicts."""

CONSISTENCY_FLOOR = 0.8
"""Default floor on positional consistency for :func:`calibrate_pairwise`.

Positional consistency is the judge's agreement with itself when the two
outputs swap places. Held to the same standard as agreement with humans
(kappa 0.6, "substantial", Landis & Koch 1977), with chance agreement 0.5
for a two-way choice, it must reach ``0.5 + 0.5 * 0.6 = 0.8``: a judge whose
verdict follows the order on more than one pair in five is not trusted.
"""

_CODES = {"a": 1.0, "b": -1.0, "tie": 0.0}


def _missing(v: object) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _as_number(v: object) -> float | None:
    """The number a code stands for (1, 1.0, "1"), or None when it is not number-like."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    if isinstance(v, str):
        try:
            x = float(v.strip())
        except ValueError:
            return None
        return x if math.isfinite(x) else None
    return None


def _code_key(v: object) -> tuple[str, object]:
    number = _as_number(v)
    if number is not None:
        return ("num", number)
    return ("str", v.strip().lower() if isinstance(v, str) else v)


def check_codes(codes: Mapping[Any, Any] | None, func: str) -> dict[tuple[str, object], float] | None:
    """Validate an explicit mapping of codes to verdicts; return it keyed for lookup."""
    if codes is None:
        return None
    if not isinstance(codes, Mapping) or not codes:
        raise InputError(
            f"The 'codes' parameter of {func} must be a non-empty mapping from your codes to 'A', 'B', 'tie' "
            f"or None (no verdict). Got {codes!r} instead."
        )
    out: dict[tuple[str, object], float] = {}
    for key, label in codes.items():
        if label is None:
            out[_code_key(key)] = math.nan
        elif isinstance(label, str) and label.strip().lower() in _CODES:
            out[_code_key(key)] = _CODES[label.strip().lower()]
        else:
            raise InputError(
                f"The 'codes' mapping of {func} must map each code to 'A', 'B', 'tie' or None. "
                f"Got {key!r}: {label!r} instead."
            )
    return out


def _suggest(numbers: list[float]) -> str:
    """The mapping a user would need for these numeric codes (to check, not to trust)."""
    distinct = sorted(set(numbers))
    if 0.5 in distinct and set(distinct) <= set(SCORE_CODES):
        return "codes=evaltools.calibration.SCORE_CODES ({1.0: 'A', 0.0: 'B', 0.5: 'tie'})"
    names = ["A", "B", "tie"] if not (len(distinct) == 3 and distinct[0] == 0) else ["tie", "A", "B"]
    shown = ", ".join(f"{v:g}: {names[i]!r}" if i < 3 else f"{v:g}: ?" for i, v in enumerate(distinct))
    text = "codes={" + shown + "}"
    if len(distinct) == 2:
        text += " (or codes={" + f"{distinct[0]:g}: 'B', {distinct[1]:g}: 'A'" + "} if the first code means output B)"
    return text


def _preferences(
    values: Sequence[object] | np.ndarray | pd.Series,
    name: str,
    func: str,
    codes: dict[tuple[str, object], float] | None = None,
) -> np.ndarray:
    """Code verdicts as +1 (A), -1 (B), 0 (tie), NaN (no verdict).

    Only "A", "B" and "tie" (any case) are read without a mapping. Numbers
    (0/1, 1/2, 1/0/0.5, "1"/"2") mean different things in different
    benchmarks, so they are an error unless ``codes`` says what they mean.
    """
    out = np.full(len(values), np.nan)
    numeric: list[float] = []
    for i, v in enumerate(list(values)):
        if _missing(v):
            continue
        if codes is not None:
            key = _code_key(v)
            if key in codes:
                out[i] = codes[key]
                continue
        if isinstance(v, str) and v.strip().lower() in _CODES:
            out[i] = _CODES[v.strip().lower()]
            continue
        number = _as_number(v)
        if number is not None and codes is None:
            numeric.append(number)
            continue
        known = f" or a code in codes={{{', '.join(repr(k[1]) for k in codes)}}}" if codes else ""
        hint = ""
        if isinstance(v, str):
            others = sorted({str(x) for x in list(values) if isinstance(x, str) and x.strip().lower() not in _CODES})
            hint = (
                " Map other codes to verdicts with codes=, e.g. codes={"
                + ", ".join(f"{x!r}: 'A' | 'B' | 'tie' | None" for x in others[:4])
                + "}."
            )
        raise InputError(
            f"The '{name}' parameter of {func} must hold 'A', 'B' or 'tie'{known} (None or NaN for no verdict). "
            f"Got {v!r} at position {i} instead.{hint}"
        )
    if numeric:
        shown = sorted(set(numeric))[:6]
        raise InputError(
            f"The '{name}' parameter of {func} holds numeric codes {[f'{x:g}' for x in shown]}, which mean "
            "different things in different benchmarks (0 may be output A, a tie or output B). Verdicts are "
            f"'A', 'B' or 'tie'; say what your codes mean with {_suggest(numeric)}, checked against your "
            "data's documentation."
        )
    return out


def _wilson(successes: int, n: int, confidence: float) -> Estimate:
    est = wilson_interval(int(successes), int(n), alpha=1 - confidence)
    return Estimate(est.proportion, est.ci_low, est.ci_high, "Wilson score interval")


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

    first_position_wins: int
    """Verdicts (over both orders) that chose the output shown first."""

    second_position_wins: int
    """Verdicts (over both orders) that chose the output shown second."""

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
            f"verdicts for the output shown first {self.first_position_wins}, second {self.second_position_wins}; "
            f"first position won both orders {self.n_first_both}, second {self.n_second_both} "
            f"(p = {self.pvalue:.3g}); tie in one order only {self.n_tie_one_order}; "
            f"P(prefer first shown) = {self.prob_prefer_first:.2f}.</p>"
            f"<p>{html.escape(self.method)}</p></div>"
        )


def position_bias(
    first_order: Sequence[object] | np.ndarray | pd.Series,
    second_order: Sequence[object] | np.ndarray | pd.Series,
    *,
    codes: Mapping[Any, Any] | None = None,
    confidence: float = 0.95,
) -> PositionBiasResult:
    """Swap test: does the verdict depend on which output is shown first?

    Args:
        first_order: the judge's preference with A shown first.
        second_order: the judge's preference with B shown first, already
            mapped back to the outputs (``"A"`` still means output A won).
        codes: what numeric or other codes mean, e.g. ``{1: "A", 2: "B", 0: "tie"}``
            (``None`` values mean no verdict); without it only ``"A"``, ``"B"``
            and ``"tie"`` are read.
        confidence: coverage of the consistency-rate interval.

    Returns:
        A :class:`PositionBiasResult`. Pairs missing a verdict in either
        order are left out; with no pair left, rates are NaN.

    Raises:
        InputError: lengths differ, a value is not a verdict, or numeric codes
            come without ``codes``.

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
    table = check_codes(codes, "position_bias")
    v1 = _preferences(first_order, "first_order", "position_bias", table)
    v2 = _preferences(second_order, "second_order", "position_bias", table)
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
    second_wins = int((v1 == -1).sum() + (v2 == 1).sum())
    flips = first_both + second_both
    pvalue = float(stats.binomtest(first_both, flips, p=0.5).pvalue) if flips else math.nan
    return PositionBiasResult(
        n_pairs=n,
        consistency_rate=_wilson(consistent, n, confidence),
        n_first_both=first_both,
        n_second_both=second_both,
        n_tie_one_order=tie_one,
        first_position_wins=first_wins,
        second_position_wins=second_wins,
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

    orders: int
    """1 when the judge's verdict is given in one order, 2 when in both."""

    n_eligible: int
    """Judge verdicts (over the orders given) on pairs differing by more
    than ``min_diff`` characters that chose a side."""

    prob_prefer_longer: Estimate
    """P(judge prefers the longer output) over eligible verdicts (AlpacaEval
    recommends at most about 0.7; its human annotators score 0.64). With
    both orders the interval accounts for the two verdicts of a pair."""

    prob_prefer_longer_by_order: tuple[Estimate, ...]
    """The same per order (one entry, or two: first order, second order)."""

    human_prob_prefer_longer: Estimate | None
    """The same for the human labels on pairs they chose a side; None without human labels."""

    n_both_decided: int
    """Eligible pairs where judge (in some order) and human both chose a side."""

    difference_pvalue: float
    """Does the judge prefer the longer output more often than humans on the
    same pairs? One order: exact McNemar test (binomial on discordant pairs);
    both orders: paired t-test on the per-pair difference (judge's share over
    its orders minus the human's), one observation per pair. NaN without
    human labels or differences."""

    length_coef: float
    """Logistic-regression coefficient of ``tanh(standardized len_a - len_b)``
    on P(judge prefers A); > 0 means longer wins. NaN when the model cannot be fit."""

    length_ci: tuple[float, float]
    """Interval of ``length_coef`` at ``confidence``."""

    length_pvalue: float
    """p-value of ``length_coef`` (Wald; cluster-robust by pair with both orders, or by ``groups``)."""

    n_logit: int
    """Verdicts in the regression (judge ties are left out)."""

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
        per_order = (
            " (first order " + ", second order ".join(f"{e:.2f}" for e in self.prob_prefer_longer_by_order) + ")"
            if self.orders == 2
            else ""
        )
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (
            "<div class='evaltools-length-bias'><b>Length bias</b>"
            f"<p>P(judge prefers the longer output) = {self.prob_prefer_longer:.2f}{per_order} on "
            f"{self.n_eligible} verdicts on pairs differing by more than {self.min_diff} characters{human} "
            f"(difference p = {self.difference_pvalue:.3g}). Length coefficient controlling for the "
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


def _clustered_wilson(successes: np.ndarray, trials: np.ndarray, confidence: float) -> Estimate:
    """Wilson interval for a ratio of per-pair counts, with the design-effect sample size.

    Two verdicts on one pair are not independent. The linearized variance of
    ``sum(y) / sum(m)`` over pairs gives an effective sample size
    ``p (1 - p) / var`` (at most the number of verdicts), used in the Wilson
    interval (Korn & Graubard 1998, "Confidence intervals for proportions
    with small expected number of positive counts estimated from survey data").
    """
    used = trials > 0
    y, m = successes[used].astype(float), trials[used].astype(float)
    total = float(m.sum())
    if total == 0:
        return Estimate(math.nan, math.nan, math.nan, "Wilson score interval")
    p = float(y.sum()) / total
    k = len(m)
    var = float(((y - p * m) ** 2).sum()) / total**2 * (k / (k - 1)) if k > 1 else 0.0
    n_eff = min(total, p * (1 - p) / var) if var > 0 else total
    low, high = proportion_confint(p * n_eff, n_eff, alpha=1 - confidence, method="wilson")
    return Estimate(p, float(low), float(high), "Wilson score interval, design-effect sample size (pairs)")


def length_bias(
    judge: Sequence[object] | np.ndarray | pd.Series,
    output_a: Sequence[object] | np.ndarray | pd.Series,
    output_b: Sequence[object] | np.ndarray | pd.Series,
    *,
    second: Sequence[object] | np.ndarray | pd.Series | None = None,
    human: Sequence[object] | np.ndarray | pd.Series | None = None,
    codes: Mapping[Any, Any] | None = None,
    min_diff: int = 30,
    groups: Sequence[object] | np.ndarray | pd.Series | None = None,
    confidence: float = 0.95,
) -> LengthBiasResult:
    """Does the judge prefer longer outputs, beyond what humans prefer?

    Args:
        judge: the judge's preference per pair (``"A"``/``"B"``/``"tie"``),
            in the original order.
        output_a: output A of each pair, as text or as its length in characters.
        output_b: output B of each pair, likewise.
        second: the judge's preference in the swapped order, mapped back to
            the outputs; both orders then count, one cluster per pair.
        human: the human preference per pair, to compare with and to control
            for in the regression.
        codes: what numeric or other codes mean (see :func:`position_bias`).
        min_diff: minimum absolute length difference (characters, exclusive)
            for P(prefer longer); 30 as in AlpacaEval.
        groups: cluster ids (e.g. the prompt) for clustered standard errors;
            by default each pair is its own cluster when both orders are given.
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
    for name, arg in (("second", second), ("human", human), ("groups", groups)):
        if arg is not None:
            sizes[name] = len(arg)
    if len(set(sizes.values())) != 1:
        raise InputError(f"length_bias needs one entry per pair in every input; got lengths {sizes}.")
    table = check_codes(codes, "length_bias")
    orders = [_preferences(judge, "judge", "length_bias", table)]
    if second is not None:
        orders.append(_preferences(second, "second", "length_bias", table))
    hv = _preferences(human, "human", "length_bias", table) if human is not None else None
    dlen = _lengths(output_a, "output_a") - _lengths(output_b, "output_b")
    sign = np.sign(dlen)  # +1 when A is longer
    far = np.abs(dlen) > min_diff

    decided = np.stack([far & ~np.isnan(v) & (v != 0) for v in orders])  # (orders, n)
    longer = np.stack([v == sign for v in orders]) & decided
    by_order = tuple(_wilson(int(lg.sum()), int(d.sum()), confidence) for lg, d in zip(longer, decided, strict=True))
    if len(orders) == 1:
        prob = by_order[0]
    else:
        prob = _clustered_wilson(longer.sum(axis=0), decided.sum(axis=0), confidence)

    human_prob = None
    pvalue = math.nan
    n_both = 0
    notes: list[str] = []
    if hv is not None:
        h_ok = far & ~np.isnan(hv) & (hv != 0)
        human_prob = _wilson(int((hv[h_ok] == sign[h_ok]).sum()), int(h_ok.sum()), confidence)
        both = decided.any(axis=0) & h_ok
        n_both = int(both.sum())
        h_long = (hv == sign)[both]
        if len(orders) == 1:
            j_long = longer[0][both]
            b, c = int((j_long & ~h_long).sum()), int((~j_long & h_long).sum())
            if b + c:
                pvalue = float(stats.binomtest(b, b + c, p=0.5).pvalue)
        else:
            share = longer.sum(axis=0)[both] / decided.sum(axis=0)[both]
            d = share - h_long
            if n_both > 1 and np.any(d != d[0]):
                pvalue = float(stats.ttest_1samp(d, 0.0).pvalue)
            elif n_both and np.all(d == 0):
                pvalue = 1.0

    coef, ci, coef_p = math.nan, (math.nan, math.nan), math.nan
    pair = np.arange(n)
    fit = np.concatenate([~np.isnan(v) & (v != 0) & (True if hv is None else ~np.isnan(hv)) for v in orders])
    jv_all = np.concatenate(orders)
    dlen_all = np.tile(dlen, len(orders))
    n_logit = int(fit.sum())
    sd = float(np.std(dlen_all[fit], ddof=1)) if n_logit > 1 else 0.0
    if n_logit < 10 or sd == 0:
        notes.append(f"regression not fit: {n_logit} usable verdicts and length-difference sd {sd:.1f}")
    else:
        import statsmodels.api as sm
        from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

        cols = {"const": np.ones(n_logit), "length": np.tanh(dlen_all[fit] / sd)}
        if hv is not None:
            cols["human"] = np.tile(hv, len(orders))[fit]
        exog = pd.DataFrame(cols)
        y = (jv_all[fit] == 1).astype(float)
        kwargs: dict[str, object] = {"disp": 0}
        cluster = pd.Series(list(groups)).astype(str) if groups is not None else None
        if cluster is None and len(orders) > 1:
            cluster = pd.Series(pair)
        if cluster is not None:
            codes_ = pd.factorize(pd.concat([cluster] * len(orders), ignore_index=True)[fit])[0]
            kwargs.update(cov_type="cluster", cov_kwds={"groups": codes_})
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", PerfectSeparationWarning)
                warnings.simplefilter("error", ConvergenceWarning)
                res = sm.Logit(y, exog).fit(**kwargs)
            coef = float(res.params["length"])
            low, high = res.conf_int(alpha=1 - confidence).loc["length"]
            ci = (float(low), float(high))
            coef_p = float(res.pvalues["length"])
        except (PerfectSeparationWarning, np.linalg.LinAlgError) as exc:
            notes.append(f"regression not fit: {type(exc).__name__} (the judge's choice is perfectly predicted)")
        except ConvergenceWarning:
            notes.append("regression not fit: the likelihood did not converge (near-perfect separation)")
    return LengthBiasResult(
        min_diff=min_diff,
        n_pairs=n,
        orders=len(orders),
        n_eligible=int(decided.sum()),
        prob_prefer_longer=prob,
        prob_prefer_longer_by_order=by_order,
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


# ---------------------------------------------------------------- calibrate_pairwise

_BOOT = "percentile bootstrap over pairs"
_LABELS = ("A", "tie", "B")  # table order: tie between the two sides
_STATISTICS = (
    "accuracy",
    "accuracy_first",
    "accuracy_second",
    "correct_both",
    "consistency",
    "kappa",
    "kappa_first",
    "kappa_second",
    "kappa_combined",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "human_agreement",
    "human_kappa",
)


@dataclass(frozen=True, slots=True)
class PairwiseCalibration:
    """How well a pairwise judge, asked in both orders, agrees with human preferences, and whether to trust it.

    Every statistic is an :class:`~evaltools.calibration.Estimate`
    whose interval resamples *pairs* (the two verdicts on a pair are not
    independent). Statistics are None when they cannot exist: fewer than 10
    pairs, the second order not given, or one annotator for the human ceiling.
    """

    n_given: int
    """Pairs in the input."""

    n_pairs: int
    """Pairs with a judge verdict in every order given and a human consensus: the pairs analysed."""

    orders: int
    """2 when the verdicts come in both orders, 1 when only the original order was given."""

    n_judge_unscored: int
    """Human-labelled pairs where the judge gave no verdict in some order;
    left out unless ``unscored_as`` was set (then counted as that verdict)."""

    n_no_human: int
    """Pairs without any human label (NaN, or no label for the id); left out."""

    n_no_consensus: int
    """Pairs whose annotators tied (no majority); left out."""

    n_annotators: int
    """Annotators (columns, or distinct ``annotator`` values)."""

    n_multi_labelled: int
    """Pairs labelled by two or more annotators (the human-human subset)."""

    human_counts: dict[str, int]
    """Human consensus labels of the analysed pairs: ``{"A": ..., "B": ..., "tie": ...}``."""

    n_correct_first: int
    """Pairs where the verdict in the original order equals the human label."""

    n_correct_second: int | None
    """The same in the swapped order (mapped back); None with one order."""

    accuracy: Estimate | None
    """Verdict equals the human label, averaged over the two orders (1.0 best)."""

    accuracy_first: Estimate | None
    """Accuracy in the original order."""

    accuracy_second: Estimate | None
    """Accuracy in the swapped order."""

    correct_both: Estimate | None
    """Share of pairs judged correctly in *both* orders (a flipping verdict is never correct)."""

    consistency: Estimate | None
    """Positional consistency: share of pairs with the same verdict in both orders (1.0 best)."""

    kappa: Estimate | None
    """Cohen's kappa (unweighted, over A / B / tie) of the judge's verdicts in
    both orders against the human label; the one the verdict uses."""

    kappa_first: Estimate | None
    """Cohen's kappa in the original order."""

    kappa_second: Estimate | None
    """Cohen's kappa in the swapped order."""

    kappa_combined: Estimate | None
    """Cohen's kappa of the combined verdict (the verdict when both orders
    agree, a tie when they differ, as :class:`~evaltools.PairwiseJudge` scores)."""

    macro_precision: Estimate | None
    """Precision averaged over the classes present, both orders pooled (scikit-learn macro)."""

    macro_recall: Estimate | None
    """Recall averaged over the classes present, both orders pooled."""

    macro_f1: Estimate | None
    """F1 averaged over the classes present, both orders pooled."""

    human_agreement: Estimate | None
    """Mean raw agreement over annotator pairs (the ceiling for accuracy)."""

    human_kappa: Estimate | None
    """Mean Cohen's kappa over annotator pairs (the ceiling for kappa)."""

    human_pairwise: pd.DataFrame | None
    """Cohen's kappa and agreement of each annotator pair with at least 10 shared pairs."""

    confusion: pd.DataFrame | None
    """Counts over both orders (each pair counted once per order); rows = human, columns = judge."""

    position: PositionBiasResult | None
    """Swap test: verdicts for the first / second shown output, order flips and their binomial test."""

    length: LengthBiasResult | None
    """Length bias of the judge (both orders) and of the humans; None without outputs."""

    verdict: Literal["trusted", "not_trusted"]
    """``trusted`` to gate, or ``not_trusted``."""

    reasons: tuple[str, ...]
    """Why the judge is not trusted (empty when trusted)."""

    caveats: tuple[str, ...]
    """Floors that a statistic's interval straddles: the verdict rests on a point estimate there."""

    firm: bool
    """Whether the verdict stands across the intervals: a trusted judge whose
    kappa and consistency intervals both lie above their floors, or an
    untrusted one with at least one reason that no interval could overturn."""

    notes: tuple[str, ...]
    """Caveats worth reading either way (dropped labels, ceiling, skew)."""

    kappa_floor: float
    """Kappa below this is not trusted."""

    consistency_floor: float
    """Positional consistency below this is not trusted."""

    max_ci_width: float
    """The widest acceptable kappa interval."""

    min_labels: int
    """Pairs needed before the judge can be trusted."""

    confidence: float
    """Coverage of every interval."""

    n_resamples: int
    """Bootstrap resamples (of pairs)."""

    seed: int
    """Seed of the bootstrap generator (rerun with ``rng=seed`` to reproduce)."""

    @property
    def trusted(self) -> bool:
        """Whether the judge may gate."""
        return self.verdict == "trusted"

    def summary(self) -> str:
        """One line: verdict, kappa, consistency, n, reasons and caveats.

        Returns:
            A plain-text sentence.
        """
        head = f"pairwise judge: {'TRUSTED' if self.trusted else 'NOT TRUSTED'} (n={self.n_pairs}"
        if self.kappa is not None:
            head += f", kappa {self.kappa}"
        if self.consistency is not None:
            head += f", consistency {self.consistency}"
        head += ")"
        if self.reasons:
            head += " - " + "; ".join(self.reasons)
        if self.caveats:
            head += " | not firm: " + "; ".join(self.caveats)
        return head

    def to_frame(self) -> pd.DataFrame:
        """One row per statistic: value, interval, the floor the verdict applies to it, method.

        Returns:
            A DataFrame with columns statistic, value, ci_low, ci_high, floor
            (NaN for statistics the verdict does not use), method.
        """
        floors = {"kappa": self.kappa_floor, "consistency": self.consistency_floor}
        rows = []
        for name in _STATISTICS:
            est = getattr(self, name)
            if est is not None:
                rows.append(
                    {
                        "statistic": name,
                        "value": est.value,
                        "ci_low": est.ci_low,
                        "ci_high": est.ci_high,
                        "floor": floors.get(name, math.nan),
                        "method": est.method,
                    }
                )
        return pd.DataFrame(rows, columns=["statistic", "value", "ci_low", "ci_high", "floor", "method"])

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.trusted else "#b42318"
        word = "trusted" if self.trusted else "not trusted"
        firm = "" if self.firm else " (not firm)"
        parts = [
            f"<div class='evaltools-pairwise-calibration'><h4>Pairwise judge <span style='color:{colour}'>"
            f"{word}{firm}</span></h4>",
            f"<p>{self.n_pairs} of {self.n_given} pairs analysed, verdicts in {self.orders} order(s); right in the "
            f"original order on {self.n_correct_first} of {self.n_pairs}"
            + (f", in the swapped order on {self.n_correct_second}" if self.n_correct_second is not None else "")
            + f"; floors: kappa {self.kappa_floor:.2f}, positional consistency {self.consistency_floor:.2f}; "
            f"{self.confidence:.0%} intervals from {self.n_resamples} bootstrap resamples of pairs "
            f"(seed {self.seed}).</p>",
        ]
        if self.reasons:
            parts.append(
                "<p>Not trusted because:</p><ul>"
                + "".join(f"<li>{html.escape(r)}</li>" for r in self.reasons)
                + "</ul>"
            )
        if self.caveats:
            parts.append(
                "<p>The verdict rests on an interval that straddles a floor:</p><ul>"
                + "".join(f"<li>{html.escape(c)}</li>" for c in self.caveats)
                + "</ul>"
            )
        if self.notes:
            parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in self.notes) + "</ul>")
        table = self.to_frame()
        if not table.empty:
            parts.append(table.to_html(index=False, float_format=lambda x: f"{x:.3f}", escape=True))
        if self.position is not None:
            parts.append(self.position._repr_html_())
        if self.length is not None:
            parts.append(self.length._repr_html_())
        if self.confusion is not None:
            parts.append("<p>Confusion over both orders (rows = human, columns = judge):</p>")
            parts.append(self.confusion.to_html(escape=True))
        if self.human_pairwise is not None and not self.human_pairwise.empty:
            parts.append("<p>Human-human agreement per annotator pair (the ceiling):</p>")
            parts.append(self.human_pairwise.to_html(index=False, float_format=lambda x: f"{x:.3f}", escape=True))
        parts.append("</div>")
        return "".join(parts)


def _param_error(name: str, expected: str, got: object) -> InputError:
    return param_error(name, expected, got, "calibrate_pairwise")


def _ids_of(x: object) -> pd.Index | None:
    """The ids a Series carries, or None when its index is the default 0..n-1.

    Any other index, a range starting at 1 included, is ids: two Series indexed
    0..n-1 and 1..n do not hold the same pairs.
    """
    if isinstance(x, (pd.Series, pd.DataFrame)) and not x.index.equals(pd.RangeIndex(len(x))):
        return x.index
    return None


def _check_same_ids(named: dict[str, Any]) -> dict[str, Any]:
    """Align the inputs that carry ids (a Series or frame index) on the first of them.

    Inputs without ids are positional and left alone (the length check
    reports a mismatch); inputs with ids must hold the same ids.
    """
    with_ids = {k: ix for k, v in named.items() if v is not None and (ix := _ids_of(v)) is not None}
    if not with_ids:
        return named
    # Once one Series carries ids, another Series' default 0..n-1 index is ids too.
    with_ids = {
        k: (v.index if isinstance(v, (pd.Series, pd.DataFrame)) else None)
        for k, v in named.items()
        if isinstance(v, (pd.Series, pd.DataFrame))
    }
    ref_name, ref = next(iter(with_ids.items()))
    if ref.has_duplicates:
        raise InputError(
            f"The ids (index) of '{ref_name}' passed to calibrate_pairwise repeat: {list(ref[ref.duplicated()][:5])}."
        )
    out = dict(named)
    for k, ix in with_ids.items():
        if k == ref_name:
            continue
        only_ref, only_k = ref.difference(ix), ix.difference(ref)
        if len(only_ref) or len(only_k):
            raise InputError(
                f"The pairs of '{ref_name}' and '{k}' passed to calibrate_pairwise do not match: "
                f"{len(only_ref)} ids only in '{ref_name}' (e.g. {list(only_ref[:3])}), {len(only_k)} only in '{k}' "
                f"(e.g. {list(only_k[:3])}). Give one entry per pair in each, with the same ids."
            )
        out[k] = named[k].loc[ref]
    return out


def _human_matrix(human: object) -> tuple[np.ndarray, list[str]]:
    """Human labels as an object matrix (pairs x annotators) and the annotator names."""
    if isinstance(human, pd.DataFrame):
        return human.to_numpy(dtype=object), [str(c) for c in human.columns]
    if isinstance(human, pd.Series):
        return human.to_numpy(dtype=object)[:, None], [str(human.name) if human.name is not None else "human"]
    arr = np.asarray(human, dtype=object)
    if arr.ndim == 1:
        return arr[:, None], ["human"]
    if arr.ndim != 2:
        raise _param_error(
            "human", "a 1-D array (one annotator) or a 2-D array (pairs x annotators)", f"shape {arr.shape}"
        )
    return arr, [f"human_{i + 1}" for i in range(arr.shape[1])]


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"The {what} passed to calibrate_pairwise lacks column(s) {missing}; it has {list(frame.columns)}.",
            field=missing[0],
        )


def _orders_to_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (pair, order) -> one row per pair with columns first and second."""
    _require(frame, ["item_id"], "verdict frame")
    order = frame["order"].astype(str).str.strip().str.lower()
    bad = sorted(set(order) - {"first", "second"})
    if bad:
        raise InputError(
            f"The 'order' column of the verdict frame must be 'first' (A shown first) or 'second' (B shown first). "
            f"Got {bad[:3]} instead.",
            field="order",
        )
    keyed = frame.assign(item_id=frame["item_id"].astype(str), order=order)
    dup = keyed.duplicated(["item_id", "order"])
    if dup.any():
        raise InputError(
            f"The verdict frame has several rows for the same pair and order (e.g. item_id "
            f"{keyed.loc[dup, 'item_id'].iloc[0]!r}); keep one verdict per pair and order.",
            field="item_id",
        )
    wide = keyed.pivot(index="item_id", columns="order", values="verdict")
    for col in ("first", "second"):
        if col not in wide.columns:
            wide[col] = None
    per_pair = keyed.drop(columns=["order", "verdict"]).drop_duplicates("item_id").set_index("item_id")
    return wide[["first", "second"]].join(per_pair).reset_index()


def _from_frames(
    verdicts: pd.DataFrame, human: object, dimension: str | None, notes: list[str]
) -> tuple[list[str], pd.Series, pd.Series, np.ndarray, list[str], pd.Series | None, pd.Series | None]:
    frame = verdicts.rename(columns={"id": "item_id"}) if "item_id" not in verdicts.columns else verdicts
    if {"order", "verdict"} <= set(frame.columns) and not {"first", "second"} & set(frame.columns):
        frame = _orders_to_columns(frame)
    _require(frame, ["item_id", "first", "second"], "verdict frame")

    def one_dimension(df: pd.DataFrame, what: str) -> pd.DataFrame:
        if "dimension" not in df.columns:
            return df
        if dimension is not None:
            return df[df["dimension"].astype(str) == dimension]
        dims = sorted(df["dimension"].astype(str).unique())
        if len(dims) > 1:
            raise InputError(
                f"The {what} passed to calibrate_pairwise has dimensions {dims}; pick one with dimension=."
            )
        return df

    frame = one_dimension(frame, "verdict frame")
    ids = frame["item_id"].astype(str)
    if ids.duplicated().any():
        dup = sorted(ids[ids.duplicated()].unique())[:5]
        raise InputError(
            f"The verdict frame passed to calibrate_pairwise has several rows for item_id {dup}; keep one row "
            "per pair (both orders are columns first and second).",
            field="item_id",
        )
    frame = frame.set_axis(pd.Index(ids, name="item_id"))
    if human is None:
        if "human" not in frame.columns:
            raise InputError(
                "calibrate_pairwise needs human labels: a 'human' column in the verdict frame, or human= a long "
                "frame with columns item_id and value (and annotator).",
                field="human",
            )
        hm, annotators = frame[["human"]].to_numpy(dtype=object), ["human"]
    else:
        if not isinstance(human, pd.DataFrame):
            raise _param_error(
                "human",
                "a long DataFrame (item_id, value, optional annotator) when the verdicts are a frame",
                type(human).__name__,
            )
        labels = human.rename(columns={"id": "item_id"}) if "item_id" not in human.columns else human
        _require(labels, ["item_id", "value"], "human label frame")
        labels = one_dimension(labels, "human label frame")
        annotator = (
            labels["annotator"].astype(str) if "annotator" in labels.columns else pd.Series("human", index=labels.index)
        )
        long = pd.DataFrame(
            {"item_id": labels["item_id"].astype(str), "annotator": annotator, "value": labels["value"]}
        )
        if "time" in labels.columns:  # the latest label of an annotator on a pair wins, as in calibrate
            order = pd.to_datetime(labels["time"], utc=True, errors="coerce", format="mixed")
            long = long.assign(_t=order.to_numpy()).sort_values("_t", kind="stable").drop(columns="_t")
        long = long.drop_duplicates(["item_id", "annotator"], keep="last")
        known = set(frame.index)
        unknown = sorted(set(long["item_id"]) - known)
        if len(unknown) == long["item_id"].nunique():
            raise InputError(
                "No item_id of the human labels matches a pair of the verdict frame: labels have "
                f"{sorted(set(long['item_id']))[:3]}, verdicts have {list(frame.index[:3])}. Check the ids.",
                field="item_id",
            )
        if unknown:
            notes.append(f"{len(unknown)} labelled ids have no judge verdict (e.g. {unknown[:3]}) and are left out.")
        wide = long[long["item_id"].isin(known)].pivot(index="item_id", columns="annotator", values="value")
        wide = wide.reindex(frame.index)
        hm, annotators = wide.to_numpy(dtype=object), [str(c) for c in wide.columns]
    out_a = frame["output_a"] if "output_a" in frame.columns else None
    out_b = frame["output_b"] if "output_b" in frame.columns else None
    return list(frame.index), frame["first"], frame["second"], hm, annotators, out_a, out_b


def _human_ceiling(
    hidx: np.ndarray, annotators: list[str], confidence: float, n_resamples: int, rng: np.random.Generator
) -> tuple[Estimate | None, Estimate | None, pd.DataFrame | None, int]:
    """Agreement and Cohen's kappa among annotators on pairs labelled by two or more."""
    labelled = ~np.isnan(hidx)
    multi = labelled.sum(axis=1) >= 2
    n_multi = int(multi.sum())
    if hidx.shape[1] < 2 or n_multi == 0:
        return None, None, None, n_multi
    sub = hidx[multi]
    w = cm.bootstrap_unit_weights(len(sub), n_resamples, rng)
    rows, kappa_boot, agree_boot = [], [], []
    for a, b in combinations(range(sub.shape[1]), 2):
        both = ~np.isnan(sub[:, a]) & ~np.isnan(sub[:, b])
        if both.sum() < MIN_PAIRED:
            continue
        cells = np.zeros((len(sub), 9))
        cells[np.flatnonzero(both), (sub[both, a] * 3 + sub[both, b]).astype(int)] = 1.0
        table = cells.sum(axis=0).reshape(3, 3)
        boot = (w @ cells).reshape(-1, 3, 3)
        kb, ab = cm.kappa_from_tables(boot), cm.agreement_from_tables(boot)
        kappa_boot.append(kb)
        agree_boot.append(ab)
        rows.append(
            {
                "annotator_a": annotators[a],
                "annotator_b": annotators[b],
                "n": int(both.sum()),
                "agreement": float(cm.agreement_from_tables(table)),
                "kappa": float(cm.kappa_from_tables(table)),
                "ci_low": cm.percentile_interval(kb, confidence)[0],
                "ci_high": cm.percentile_interval(kb, confidence)[1],
            }
        )
    frame = pd.DataFrame(rows, columns=["annotator_a", "annotator_b", "n", "agreement", "kappa", "ci_low", "ci_high"])
    if not rows:
        return None, None, frame, n_multi
    kappa = Estimate(
        float(frame["kappa"].mean()), *cm.percentile_interval(np.mean(kappa_boot, axis=0), confidence), _BOOT
    )
    agree = Estimate(
        float(frame["agreement"].mean()), *cm.percentile_interval(np.mean(agree_boot, axis=0), confidence), _BOOT
    )
    return agree, kappa, frame, n_multi


def _against_floor(name: str, est: Estimate, floor: float, reasons: list[str], caveats: list[str], why: str) -> bool:
    """Apply a floor to a point estimate; return True when a failing verdict is firm."""
    straddles = est.ci_low < floor <= est.ci_high
    if est.value < floor:
        reasons.append(f"{name} {est} is below the floor {floor:.2f}{why}")
        if straddles:
            caveats.append(
                f"{name} is below the floor {floor:.2f}, but its interval [{est.ci_low:.2f}, "
                f"{est.ci_high:.2f}] reaches it: more pairs could change this"
            )
        return not straddles
    if straddles:
        caveats.append(
            f"{name} {est.value:.2f} clears the floor {floor:.2f} only as a point estimate: its interval "
            f"[{est.ci_low:.2f}, {est.ci_high:.2f}] reaches below it"
        )
    return False


def calibrate_pairwise(
    first: pd.DataFrame | Sequence[object] | np.ndarray | pd.Series,
    second: Sequence[object] | np.ndarray | pd.Series | None = None,
    human: pd.DataFrame | Sequence[object] | np.ndarray | pd.Series | None = None,
    *,
    output_a: Sequence[object] | np.ndarray | pd.Series | None = None,
    output_b: Sequence[object] | np.ndarray | pd.Series | None = None,
    codes: Mapping[Any, Any] | None = None,
    second_labels: Literal["original", "as_shown"] = "original",
    dimension: str | None = None,
    unscored_as: Literal["A", "B", "tie"] | None = None,
    kappa_floor: float = 0.6,
    consistency_floor: float = CONSISTENCY_FLOOR,
    max_ci_width: float = 0.4,
    min_labels: int = 50,
    max_unscored: float = 0.1,
    min_length_diff: int = 30,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | None = 0,
) -> PairwiseCalibration:
    """Calibrate a pairwise judge asked in both orders against human preferences, and decide whether to trust it.

    Per pair: the judge's verdict with A shown first, its verdict with B
    shown first (mapped back, so ``"A"`` still means output A), and the
    human label, each ``"A"``, ``"B"`` or ``"tie"``. A live
    :meth:`PairwiseJudge.compare_frame <evaltools.PairwiseJudge.compare_frame>`
    returns exactly the verdict frame this function reads.

    The judge is **trusted** only when all of these hold: at least
    ``min_labels`` pairs; verdicts in both orders; positional consistency
    at least ``consistency_floor`` (0.8, see :data:`CONSISTENCY_FLOOR`);
    kappa over both orders at least ``kappa_floor`` with an interval no
    wider than ``max_ci_width``; the judge unscored on at most
    ``max_unscored`` of the labelled pairs. Floors apply to point estimates;
    when an interval straddles a floor, ``caveats`` say so and ``firm`` is
    False. Kappa is unweighted over A / B / tie, so it does not depend on
    how the labels were coded.

    Intervals are percentile bootstraps over pairs (Efron & Tibshirani
    1993): both verdicts of a pair stay together. Methods: consistency and
    the swap test (Zheng et al. 2023, arXiv:2306.05685; STATS.md 2.2);
    "correct in both orders" (Zeng et al. 2024, LLMBar, arXiv:2310.07641);
    length bias (AlpacaEval; Dubois et al. 2024, arXiv:2404.04475).

    Args:
        first: the verdicts in the original order (an array), or a verdict
            frame with columns ``item_id``, ``first``, ``second`` and optional
            ``output_a``, ``output_b``, ``human`` and ``dimension`` (or, long,
            one row per pair and order: ``item_id``, ``order`` = ``"first"`` /
            ``"second"``, ``verdict``). A pair missing an order has no verdict there.
        second: the verdicts in the swapped order (arrays only). None with
            arrays: one order only (statistics of the second order are None
            and the judge cannot be trusted on position).
        human: the human preference per pair: a 1-D array (one annotator), a
            2-D array or DataFrame (pairs x annotators, NaN = not labelled),
            or, with a verdict frame, a long frame (``item_id``, ``value``,
            optional ``annotator``, ``dimension``, ``time``). Several
            annotators: the majority is the reference (ties are left out) and
            their mutual agreement is the ceiling.
        output_a: the outputs A (text or lengths) for length bias.
        output_b: the outputs B.
        codes: what codes other than ``"A"``, ``"B"``, ``"tie"`` mean, for
            every input, e.g. ``{1: "A", 2: "B", 0: "tie"}``; map a code to
            None for "no verdict" (an unparsable reply). Numeric codes without
            it are an error, since 0 means A in one benchmark and a tie in another.
        second_labels: ``"original"`` when the swapped-order verdicts are
            mapped back to the original outputs, ``"as_shown"`` when ``"A"``
            means the output shown first in the swapped order (output B).
        dimension: with frames that have a ``dimension`` column, the one to use.
        unscored_as: count a missing judge verdict as this one (e.g. ``"tie"``,
            as a published table did); still counted in ``n_judge_unscored``.
        kappa_floor: kappa below this is not trusted (0.6: "substantial").
        consistency_floor: positional consistency below this is not trusted.
        max_ci_width: the widest acceptable kappa interval.
        min_labels: pairs needed before trusting (at least 10).
        max_unscored: largest acceptable share of pairs the judge left unscored.
        min_length_diff: P(prefer longer) counts pairs whose lengths differ by
            more than this many characters (30, as AlpacaEval).
        confidence: coverage of the intervals, in (0, 1).
        n_resamples: bootstrap resamples (at least 100).
        rng: seed or generator for the bootstrap; the seed used is recorded.

    Returns:
        A :class:`PairwiseCalibration`. With fewer than 10 analysable pairs
        every statistic is None and the reason says so.

    Raises:
        InputError: empty input, a value that is not a verdict, numeric codes
            without ``codes``, missing columns (named), ids that do not match,
            mismatched lengths or invalid parameters.

    Examples:
        >>> first = ["A", "A", "B", "B", "tie"] * 12
        >>> second = ["A", "B", "B", "B", "tie"] * 12
        >>> human = ["A", "A", "B", "B", "tie"] * 12
        >>> r = calibrate_pairwise(first, second, human, n_resamples=200)
        >>> round(r.accuracy.value, 2), round(r.correct_both.value, 2), round(r.consistency.value, 2)
        (0.9, 0.8, 0.8)
        >>> r.trusted, r.firm
        (True, False)
    """
    if second_labels not in ("original", "as_shown"):
        raise _param_error("second_labels", "'original' or 'as_shown'", second_labels)
    if unscored_as is not None and (not isinstance(unscored_as, str) or unscored_as.strip().lower() not in _CODES):
        raise _param_error("unscored_as", "'A', 'B', 'tie' or None", unscored_as)
    check_trust_params(
        "calibrate_pairwise",
        floors={
            "kappa_floor": (kappa_floor, -1.0, 1.0),
            "consistency_floor": (consistency_floor, 0.0, 1.0),
            "max_ci_width": (max_ci_width, 0.0, 4.0),
            "max_unscored": (max_unscored, 0.0, 1.0),
        },
        confidence=confidence,
        min_labels=min_labels,
        min_paired=MIN_PAIRED,
        n_resamples=n_resamples,
    )
    generator, seed = resolve_rng(rng, "calibrate_pairwise")
    table_codes = check_codes(codes, "calibrate_pairwise")

    notes: list[str] = []
    if isinstance(first, pd.DataFrame):
        if second is not None:
            raise InputError("With a verdict frame, give both orders as its columns first and second, not second=.")
        if len(first) == 0:
            raise InputError("calibrate_pairwise got an empty verdict frame: there is nothing to calibrate.")
        if output_a is not None or output_b is not None:
            raise InputError("With a verdict frame, give the outputs as its columns output_a and output_b.")
        ids, f_raw, s_raw, hm, annotators, out_a, out_b = _from_frames(first, human, dimension, notes)
    else:
        if human is None:
            raise InputError(
                "calibrate_pairwise needs human labels: pass human= (one per pair, or pairs x annotators).",
                field="human",
            )
        if isinstance(human, pd.DataFrame) and {"item_id", "value"} <= set(human.columns):
            raise InputError(
                "human is a long label frame (item_id, value): pass the verdicts as a frame too (columns item_id, "
                "first, second), so pairs are matched by id."
            )
        named = _check_same_ids(
            {"first": first, "second": second, "human": human, "output_a": output_a, "output_b": output_b}
        )
        f_raw, s_raw, human_al = named["first"], named["second"], named["human"]
        out_a, out_b = named["output_a"], named["output_b"]
        if len(f_raw) == 0:
            raise InputError("calibrate_pairwise got no pairs (empty input): there is nothing to calibrate.")
        hm, annotators = _human_matrix(human_al)
        ix = _ids_of(f_raw)
        ids = [str(i) for i in ix] if ix is not None else [str(i) for i in range(len(f_raw))]
        sizes = {"first": len(f_raw), "human": len(hm)}
        for k, v in (("second", s_raw), ("output_a", out_a), ("output_b", out_b)):
            if v is not None:
                sizes[k] = len(v)
        if len(set(sizes.values())) != 1:
            raise InputError(f"calibrate_pairwise needs one entry per pair in every input; got lengths {sizes}.")
    if (out_a is None) != (out_b is None):
        raise InputError("Length bias needs both output_a and output_b (or neither).")

    n_given = len(ids)
    fv = _preferences(f_raw, "first", "calibrate_pairwise", table_codes)
    sv = None if s_raw is None else _preferences(s_raw, "second", "calibrate_pairwise", table_codes)
    if sv is not None and second_labels == "as_shown":
        sv = -sv  # "A" as shown in the swapped order is output B
    hv = np.column_stack(
        [_preferences(hm[:, r], "human", "calibrate_pairwise", table_codes) for r in range(hm.shape[1])]
    )
    hidx = 1.0 - hv  # table index: A 0, tie 1, B 2

    labelled = ~np.isnan(hidx)
    no_human = ~labelled.any(axis=1)
    n_no_human = int(no_human.sum())
    if n_no_human == n_given:
        raise InputError(
            f"None of the {n_given} pairs has a human label (all NaN): there is nothing to calibrate against.",
            field="human",
        )
    if n_no_human:
        notes.append(f"{n_no_human} of {n_given} pairs have no human label (NaN) and are left out.")
    counts = np.stack([(hidx == k).sum(axis=1) for k in range(3)], axis=1)
    top = counts.max(axis=1)
    unique_top = (counts == top[:, None]).sum(axis=1) == 1
    consensus = np.where(unique_top & ~no_human, counts.argmax(axis=1), -1)
    n_no_consensus = int(((consensus < 0) & ~no_human).sum())
    if n_no_consensus:
        notes.append(f"{n_no_consensus} pairs whose annotators tied have no human consensus and are left out.")

    has_h = consensus >= 0
    orders = [fv] if sv is None else [fv, sv]
    missing_verdict = np.zeros(n_given, dtype=bool)
    for v in orders:
        missing_verdict |= np.isnan(v)
    n_unscored = int((missing_verdict & has_h).sum())
    if unscored_as is not None:
        fill = _CODES[unscored_as.strip().lower()]
        orders = [np.where(np.isnan(v), fill, v) for v in orders]
        if n_unscored:
            notes.append(
                f"{n_unscored} pairs without a judge verdict in some order are counted as "
                f"{unscored_as!r} (unscored_as)."
            )
    elif n_unscored:
        notes.append(f"{n_unscored} labelled pairs without a judge verdict in some order are left out.")
    use = has_h & ~np.any([np.isnan(v) for v in orders], axis=0)
    n = int(use.sum())
    h_i = consensus[use].astype(int)
    f_i = (1.0 - orders[0][use]).astype(int)
    s_i = (1.0 - orders[1][use]).astype(int) if sv is not None else f_i
    human_counts = {lab: int((h_i == k).sum()) for k, lab in enumerate(_LABELS)}
    human_counts = {"A": human_counts["A"], "B": human_counts["B"], "tie": human_counts["tie"]}

    gen_judge, gen_human = generator.spawn(2)
    agree, hkappa, hpairs, n_multi = _human_ceiling(hidx, annotators, confidence, n_resamples, gen_human)

    stats_: dict[str, Estimate | None] = dict.fromkeys(_STATISTICS[:12])
    confusion = None
    reasons: list[str] = []
    caveats: list[str] = []
    firm_fail = False
    two = sv is not None
    if n < MIN_PAIRED:
        reasons.append(
            f"too few pairs: {n} analysable pairs; at least {MIN_PAIRED} are needed to compute agreement "
            f"and {min_labels} to trust it"
        )
        firm_fail = True
    else:
        cube = np.bincount(h_i * 9 + f_i * 3 + s_i, minlength=27).astype(float)
        boot = _pair_tables(cube, n_resamples, gen_judge)
        both = np.concatenate([cube[None], boot]).reshape(-1, 3, 3, 3)  # index 0: observed
        t_first, t_second = both.sum(axis=3), both.sum(axis=2)
        diag = np.arange(3)
        same = both[:, :, diag, diag]  # (B, h, k): first == second == k
        t_comb = same.copy()
        t_comb[:, :, 1] += both.sum(axis=(2, 3)) - same.sum(axis=2)  # a flip is a tie
        pooled = t_first + t_second

        def est(values: np.ndarray) -> Estimate:
            return Estimate(float(values[0]), *cm.percentile_interval(values[1:], confidence), _BOOT)

        acc_f, acc_s = cm.agreement_from_tables(t_first), cm.agreement_from_tables(t_second)
        stats_["accuracy_first"] = est(acc_f)
        stats_["kappa_first"] = est(cm.kappa_from_tables(t_first))
        stats_["kappa"] = est(cm.kappa_from_tables(pooled))
        classes = np.flatnonzero(pooled[0].sum(axis=0) + pooled[0].sum(axis=1))
        p, r, f1 = cm.macro_prf_from_tables(pooled, classes)
        stats_["macro_precision"], stats_["macro_recall"], stats_["macro_f1"] = est(p), est(r), est(f1)
        if two:
            stats_["accuracy"] = est((acc_f + acc_s) / 2)
            stats_["accuracy_second"] = est(acc_s)
            stats_["correct_both"] = est(both[:, diag, diag, diag].sum(axis=1) / n)
            stats_["consistency"] = est(same.sum(axis=(1, 2)) / n)
            stats_["kappa_second"] = est(cm.kappa_from_tables(t_second))
            stats_["kappa_combined"] = est(cm.kappa_from_tables(t_comb))
        else:
            stats_["accuracy"] = stats_["accuracy_first"]
        confusion = pd.DataFrame(
            pooled[0].astype(int),
            index=pd.Index(list(_LABELS), name="human"),
            columns=pd.Index(list(_LABELS), name="judge"),
        )

        kappa = stats_["kappa"]
        assert kappa is not None
        if n < min_labels:
            reasons.append(f"too few pairs: {n} analysed, fewer than the {min_labels} required")
            firm_fail = True
        if not two:
            reasons.append(
                "the judge was asked in one order only, so positional consistency is unknown: judge every "
                "pair in both orders"
            )
            firm_fail = True
        else:
            cons = stats_["consistency"]
            assert cons is not None
            firm_fail |= _against_floor(
                "positional consistency",
                cons,
                float(consistency_floor),
                reasons,
                caveats,
                f": the verdict changed with the order on {1 - cons.value:.0%} of pairs",
            )
        if math.isnan(kappa.value):
            reasons.append("kappa is undefined: judge and humans each used a single verdict")
            firm_fail = True
        else:
            firm_fail |= _against_floor("kappa", kappa, float(kappa_floor), reasons, caveats, "")
            if not kappa.width <= max_ci_width:
                reasons.append(
                    f"kappa interval [{kappa.ci_low:.2f}, {kappa.ci_high:.2f}] is {kappa.width:.2f} wide, "
                    f"more than {max_ci_width:.2f}: label more pairs"
                )
                firm_fail = True
        share = max(human_counts.values()) / n
        if share >= 0.8:
            notes.append(
                f"{share:.0%} of human labels are one verdict: kappa can be low while accuracy is high; "
                "read the confusion table."
            )
        if hkappa is not None and not math.isnan(hkappa.value):
            notes.append(
                f"human-human kappa (the ceiling) is {hkappa.value:.2f} on {n_multi} pairs; judge kappa is "
                f"{kappa.value:.2f}."
            )
    labelled_pairs = int(has_h.sum())
    if labelled_pairs and n_unscored / labelled_pairs > max_unscored:
        reasons.append(
            f"the judge gave no verdict on {n_unscored} of {labelled_pairs} labelled pairs "
            f"({n_unscored / labelled_pairs:.0%}), more than {max_unscored:.0%}"
        )
        firm_fail = True

    position = None
    if two and n:
        position = position_bias(list(1.0 - f_i), list(1.0 - s_i), codes=_INTERNAL_CODES, confidence=confidence)
    length = None
    if out_a is not None and out_b is not None and n:
        sel = np.flatnonzero(use)
        length = length_bias(
            [_LABEL_OF[int(k)] for k in f_i],
            [list(out_a)[i] for i in sel],
            [list(out_b)[i] for i in sel],
            second=[_LABEL_OF[int(k)] for k in s_i] if two else None,
            human=[_LABEL_OF[int(k)] for k in h_i],
            min_diff=min_length_diff,
            confidence=confidence,
        )
    verdict: Literal["trusted", "not_trusted"] = "not_trusted" if reasons else "trusted"
    firm = firm_fail if reasons else not caveats
    return PairwiseCalibration(
        n_given=n_given,
        n_pairs=n,
        orders=len(orders),
        n_judge_unscored=n_unscored,
        n_no_human=n_no_human,
        n_no_consensus=n_no_consensus,
        n_annotators=len(annotators),
        n_multi_labelled=n_multi,
        human_counts=human_counts,
        n_correct_first=int((f_i == h_i).sum()),
        n_correct_second=int((s_i == h_i).sum()) if two else None,
        human_agreement=agree,
        human_kappa=hkappa,
        human_pairwise=hpairs,
        confusion=confusion,
        position=position,
        length=length,
        verdict=verdict,
        reasons=tuple(reasons),
        caveats=tuple(caveats),
        firm=firm,
        notes=tuple(notes),
        kappa_floor=float(kappa_floor),
        consistency_floor=float(consistency_floor),
        max_ci_width=float(max_ci_width),
        min_labels=min_labels,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
        **stats_,
    )


_LABEL_OF = {0: "A", 1: "tie", 2: "B"}
_INTERNAL_CODES = {1.0: "A", 0.0: "tie", -1.0: "B"}


def _pair_tables(cube: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap resamples of pairs as multinomial draws of the (human, first, second) cell counts."""
    n = int(round(cube.sum()))
    return rng.multinomial(n, cube / n, size=n_resamples).astype(np.float64)


def load_pairwise_verdicts(path: str | Path) -> pd.DataFrame:
    r"""Read a verdict frame (what :meth:`evaltools.PairwiseJudge.compare_frame` returns) from a file.

    Args:
        path: a ``.jsonl`` (one pair a line), ``.csv`` or ``.parquet`` file with
            columns ``item_id``, ``first``, ``second`` and optionally
            ``human``, ``output_a``, ``output_b``.

    Returns:
        The frame, ``item_id`` as text; checked by :func:`calibrate_pairwise`.

    Raises:
        InputError: the file is missing, has an unknown suffix or a line that is not a JSON object.

    Examples:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "v.jsonl")
        >>> _ = open(f, "w").write('{"item_id": 1, "first": "A", "second": "B", "human": "A"}\n')
        >>> load_pairwise_verdicts(f)[["item_id", "first"]].to_dict("records")
        [{'item_id': '1', 'first': 'A'}]
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("No such verdict file.", path=p)
    if p.suffix == ".jsonl":
        from evaltools._util import iter_jsonl

        rows = [rec for _, rec in iter_jsonl(p, allow_empty=True)]
        frame = pd.DataFrame(rows)
    elif p.suffix == ".csv":
        frame = pd.read_csv(p, dtype=object, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    elif p.suffix == ".parquet":
        frame = pd.read_parquet(p)
    else:
        raise InputError(f"Verdict files are .jsonl, .csv or .parquet. Got {p.suffix!r} instead.", path=p)
    if "item_id" in frame.columns:
        frame["item_id"] = frame["item_id"].astype(str)
    return frame
