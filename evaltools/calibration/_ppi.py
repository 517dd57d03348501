"""Prediction-powered estimates: judge scores on many items, corrected by a few human labels.

With ``n`` items labelled by humans (``Y``) and judged (``Yhat``), and ``N``
more items only judged (``Yhat_u``), PPI++ estimates the human-scale mean as

    theta(lam) = mean(lam * Yhat_u) + mean(Y - lam * Yhat)
    SE         = sqrt(Var(lam * Yhat_u) / N + Var(Y - lam * Yhat) / n)
    lam*       = Cov(Y, Yhat) / ((1 + n / N) * Var(Yhat, Yhat_u pooled)), clipped to [0, 1]

and its interval is ``theta +/- z * SE``. ``lam = 1`` is the original PPI
(Angelopoulos, Bates, Fannjiang, Jordan & Zrnic, "Prediction-powered
inference", Science 382:669-674, 2023, arXiv:2301.09633); ``lam = 0`` is the
human-only interval; the tuned ``lam*`` is PPI++ (Angelopoulos, Duchi &
Zrnic, arXiv:2311.01453) and is never asymptotically worse than human-only.
The estimate is unbiased whatever the judge's quality, provided the labelled
items are a random sample of the same population as the unlabelled ones.

The formulas are those of the MIT-licensed ``ppi_py`` 0.2.3 for the mean
(``ppi_mean_ci`` with the identity Hessian): variances with ``ddof=0``
except the pooled variance in ``lam*``, which ``np.cov`` takes with
``ddof=1``; ``lam*`` is computed at the ``lam = 1`` point estimate. Unlike
``ppi_py``'s default, our ``confidence`` defaults to 0.95 (``ppi_py``'s
``alpha=0.1`` is a 90 % interval).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pandas as pd
from scipy import stats

from evaltools.calibration._results import Estimate
from evaltools.errors import InputError

__all__ = ["PPIResult", "ppi_by_dimension", "ppi_mean", "ppi_mean_difference", "ppi_mean_from_tables"]

ArrayLike: TypeAlias = Sequence[float] | np.ndarray | pd.Series


@dataclass(frozen=True, slots=True)
class PPIResult:
    """A prediction-powered mean with the judge-only and human-only estimates beside it."""

    estimate: Estimate
    """The PPI++ estimate of the human-scale mean (or difference) and its interval."""

    judge_only: Estimate
    """Mean of the judge's scores on every judged item (labelled and not),
    with a CLT interval: precise but biased by the judge's errors."""

    human_only: Estimate
    """Mean of the human labels with a CLT interval: unbiased but wide."""

    lam: float
    """The power-tuning weight used (0 = human only, 1 = plain PPI)."""

    se: float
    """Standard error of the PPI++ estimate."""

    n_labeled: int
    """Items with a human label and a judge score."""

    n_unlabeled: int
    """Items with a judge score only."""

    confidence: float
    """Coverage of every interval."""

    @property
    def effective_labels(self) -> float:
        """Human labels a human-only estimate would need for the same precision.

        ``n * (SE_human / SE_ppi)^2``; NaN when either SE is 0.
        """
        se_h = (self.human_only.ci_high - self.human_only.ci_low) / 2
        se_p = (self.estimate.ci_high - self.estimate.ci_low) / 2
        return self.n_labeled * (se_h / se_p) ** 2 if se_p > 0 and se_h > 0 else math.nan

    def to_frame(self) -> pd.DataFrame:
        """The three estimates side by side.

        Returns:
            A DataFrame with columns estimator, value, ci_low, ci_high, n.
        """
        rows = [
            ("judge only", self.judge_only, self.n_labeled + self.n_unlabeled),
            ("human only", self.human_only, self.n_labeled),
            ("PPI++", self.estimate, self.n_labeled + self.n_unlabeled),
        ]
        return pd.DataFrame(
            [
                {"estimator": name, "value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high, "n": n}
                for name, e, n in rows
            ]
        )

    def _repr_html_(self) -> str:
        table = self.to_frame().to_html(index=False, float_format=lambda x: f"{x:.3f}")
        return (
            f"<div class='evaltools-ppi'><b>Prediction-powered estimate (PPI++, lambda = {self.lam:.2f})</b>"
            f"{table}<p>{self.confidence:.0%} intervals; {self.n_labeled} human labels count like "
            f"{self.effective_labels:.0f} human-only labels.</p></div>"
        )


def _vector(x: ArrayLike, name: str, func: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float).ravel()
    if not np.isfinite(arr).all():
        raise InputError(
            f"The '{name}' parameter of {func} must hold finite numbers; drop unscored (NaN) items first. "
            f"Got {int((~np.isfinite(arr)).sum())} non-finite values."
        )
    return arr


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def _clt(x: np.ndarray, confidence: float) -> Estimate:
    if len(x) == 0:
        return Estimate(math.nan, math.nan, math.nan, "CLT")
    mean = float(x.mean())
    half = _z(confidence) * float(x.std()) / math.sqrt(len(x))
    return Estimate(mean, mean - half, mean + half, "CLT (z, ddof=0)")


def _ppi(y: np.ndarray, yhat: np.ndarray, yhat_u: np.ndarray, lam: float | None, confidence: float) -> PPIResult:
    n, big_n = len(y), len(yhat_u)
    if lam is None:
        theta1 = yhat_u.mean() + (y - yhat).mean()
        g, gh = y - theta1, yhat - theta1
        cov = float(np.mean((g - g.mean()) * (gh - gh.mean())))
        pooled = np.concatenate([yhat, yhat_u])
        var = float(np.var(pooled, ddof=1))
        lam = 0.0 if var == 0 else float(np.clip(cov / ((1 + n / big_n) * var), 0.0, 1.0))
    theta = float(np.mean(lam * yhat_u) + np.mean(y - lam * yhat))
    se = math.sqrt(float(np.var(lam * yhat_u)) / big_n + float(np.var(y - lam * yhat)) / n)
    half = _z(confidence) * se
    method = f"PPI++ (lambda={lam:.3f}), CLT interval (Angelopoulos et al. 2023; arXiv:2311.01453)"
    return PPIResult(
        estimate=Estimate(theta, theta - half, theta + half, method),
        judge_only=_clt(np.concatenate([yhat, yhat_u]), confidence),
        human_only=_clt(y, confidence),
        lam=lam,
        se=se,
        n_labeled=n,
        n_unlabeled=big_n,
        confidence=confidence,
    )


def _check(confidence: float, lam: float | None, func: str) -> None:
    if not isinstance(confidence, float) or not 0 < confidence < 1:
        raise InputError(f"The 'confidence' parameter of {func} must be a float in (0, 1). Got {confidence!r} instead.")
    if lam is not None and not 0 <= lam <= 1:
        raise InputError(f"The 'lam' parameter of {func} must be None or a float in [0, 1]. Got {lam!r} instead.")


def ppi_mean(
    human: ArrayLike,
    judge_labeled: ArrayLike,
    judge_unlabeled: ArrayLike,
    *,
    confidence: float = 0.95,
    lam: float | None = None,
) -> PPIResult:
    """Human-scale mean quality from many judge scores and a few human labels (PPI++).

    Args:
        human: human labels on the labelled items.
        judge_labeled: the judge's scores on the same items, same order.
        judge_unlabeled: the judge's scores on the items nobody labelled.
        confidence: coverage of the intervals (0.95; note ``ppi_py`` defaults to 0.90).
        lam: fix the power-tuning weight (1 = PPI, 0 = human only); None tunes it.

    Returns:
        A :class:`PPIResult` with the PPI++ estimate beside judge-only and
        human-only estimates.

    Raises:
        InputError: ``human`` and ``judge_labeled`` differ in length, fewer
            than 2 labelled or 1 unlabelled items, NaN values, or bad parameters.

    Examples:
        >>> r = ppi_mean([1, 0, 1, 1], [1, 0, 1, 0], [1, 1, 0, 1, 1, 0, 1, 1], lam=1.0)
        >>> round(r.estimate.value, 4)  # 6/8 + mean(0, 0, 0, 1) = 0.75 + 0.25
        1.0
    """
    _check(confidence, lam, "ppi_mean")
    y = _vector(human, "human", "ppi_mean")
    yhat = _vector(judge_labeled, "judge_labeled", "ppi_mean")
    yhat_u = _vector(judge_unlabeled, "judge_unlabeled", "ppi_mean")
    if len(y) != len(yhat):
        raise InputError(
            f"human and judge_labeled must describe the same items: human has {len(y)}, judge_labeled has {len(yhat)}."
        )
    if len(y) < 2 or len(yhat_u) < 1:
        raise InputError(
            f"ppi_mean needs at least 2 labelled and 1 unlabelled items. Got {len(y)} and {len(yhat_u)} instead."
        )
    return _ppi(y, yhat, yhat_u, lam, confidence)


def ppi_mean_difference(
    human_baseline: ArrayLike,
    human_candidate: ArrayLike,
    judge_baseline: ArrayLike,
    judge_candidate: ArrayLike,
    judge_baseline_unlabeled: ArrayLike,
    judge_candidate_unlabeled: ArrayLike,
    *,
    confidence: float = 0.95,
    lam: float | None = None,
) -> PPIResult:
    """Paired difference (candidate - baseline) in human-scale quality, by PPI++ on per-item differences.

    As STATS.md 2.4 prescribes, the PPI++ mean is applied to the per-item
    differences: ``Y = h_candidate - h_baseline`` on labelled items and
    ``Yhat = j_candidate - j_baseline``. Both variants must have been run on
    the same items, in the same order.

    Args:
        human_baseline: human labels of the baseline outputs on the labelled items.
        human_candidate: human labels of the candidate outputs on the same items.
        judge_baseline: judge scores of the baseline outputs on those items.
        judge_candidate: judge scores of the candidate outputs on those items.
        judge_baseline_unlabeled: judge scores of the baseline on unlabelled items.
        judge_candidate_unlabeled: judge scores of the candidate on the same unlabelled items.
        confidence: coverage of the intervals.
        lam: fix the power-tuning weight; None tunes it.

    Returns:
        A :class:`PPIResult` for the mean difference (> 0: the candidate is better).

    Raises:
        InputError: paired inputs differ in length, or as in :func:`ppi_mean`.

    Examples:
        >>> r = ppi_mean_difference(
        ...     [3, 4, 2], [4, 4, 3], [3, 4, 3], [4, 5, 3], [2, 3, 4, 4], [3, 3, 5, 4], lam=1.0
        ... )
        >>> round(r.estimate.value, 4)  # mean(1, 0, 1, 0) + mean(1 - 1, 0 - 1, 1 - 0) = 0.5 + 0
        0.5
    """
    _check(confidence, lam, "ppi_mean_difference")
    names = ("human_baseline", "human_candidate", "judge_baseline", "judge_candidate")
    arrays = [
        _vector(x, nm, "ppi_mean_difference")
        for x, nm in zip((human_baseline, human_candidate, judge_baseline, judge_candidate), names, strict=True)
    ]
    if len({len(a) for a in arrays}) != 1:
        raise InputError(
            "The labelled inputs of ppi_mean_difference must describe the same items; got lengths "
            + ", ".join(f"{nm}={len(a)}" for nm, a in zip(names, arrays, strict=True))
            + "."
        )
    u_base = _vector(judge_baseline_unlabeled, "judge_baseline_unlabeled", "ppi_mean_difference")
    u_cand = _vector(judge_candidate_unlabeled, "judge_candidate_unlabeled", "ppi_mean_difference")
    if len(u_base) != len(u_cand):
        raise InputError(
            f"judge_baseline_unlabeled and judge_candidate_unlabeled must be paired: "
            f"they have {len(u_base)} and {len(u_cand)} items."
        )
    hb, hc, jb, jc = arrays
    return ppi_mean(hc - hb, jc - jb, u_cand - u_base, confidence=confidence, lam=lam)


def ppi_mean_from_tables(
    judge: pd.DataFrame,
    human: pd.DataFrame,
    *,
    dimension: str,
    confidence: float = 0.95,
    lam: float | None = None,
) -> PPIResult:
    """PPI++ mean of one dimension from a score table and a labels table.

    Items are paired as in :func:`evaltools.calibrate` (by item, and run when
    both tables have ``run_id``). The human value of an item is the mean of
    its annotators' labels; judge-unscored (NaN) items are left out of both
    sets. Judged items with no human label form the unlabelled set.

    Args:
        judge: the long score table (``item_id``, ``dimension``, ``value``, optional ``run_id``).
        human: the labels table (:func:`evaltools.calibration.load_labels`).
        dimension: the dimension to estimate.
        confidence: coverage of the intervals.
        lam: fix the power-tuning weight; None tunes it.

    Returns:
        The :class:`PPIResult`.

    Raises:
        InputError: fewer than 2 labelled or no unlabelled judged items on
            this dimension, or malformed tables.

    Examples:
        >>> values = [4, 5, 3, 4, 4, 5]
        >>> judge = pd.DataFrame({"item_id": list("abcdef"), "dimension": "tone", "value": values})
        >>> human = judge.iloc[:3].assign(value=[3, 5, 3], annotator="ana")
        >>> r = ppi_mean_from_tables(judge, human, dimension="tone", lam=1.0)
        >>> round(r.estimate.value, 4)  # mean(4, 4, 5) + mean(3 - 4, 5 - 5, 3 - 3) = 4.3333 - 0.3333
        4.0
    """
    from evaltools.calibration._inputs import to_long

    j, h = to_long(judge, human)
    j = j[(j["dimension"] == dimension)].dropna(subset=["value"]).set_index("key")["value"]
    h = h[h["dimension"] == dimension].groupby("key")["value"].mean()
    labelled = j.index.intersection(h.index)
    unlabelled = j.index.difference(h.index)
    if len(labelled) < 2 or len(unlabelled) < 1:
        raise InputError(
            f"ppi_mean_from_tables needs at least 2 judged items with human labels and 1 judged item without "
            f"on dimension {dimension!r}. Got {len(labelled)} and {len(unlabelled)} instead."
        )
    return _ppi(
        h.loc[labelled].to_numpy(float),
        j.loc[labelled].to_numpy(float),
        j.loc[unlabelled].to_numpy(float),
        lam,
        confidence,
    )


def ppi_by_dimension(
    judge: pd.DataFrame,
    human: pd.DataFrame,
    *,
    confidence: float = 0.95,
    lam: float | None = None,
    scales: Mapping[str, Sequence[float]] | None = None,
) -> pd.DataFrame:
    """Judge-only, human-only and PPI++ means for every labelled dimension.

    The CLT intervals of PPI++ are symmetric and can run past the end of a
    bounded scale (a PPI++ upper bound of 5.42 on a 1-5 scale). With
    ``scales`` given, every bound is clipped to the scale and the row says
    so (``clipped`` is True and ``note`` names the scale): the clipped
    interval has at least the coverage of the unclipped one, since the true
    mean lies on the scale.

    Args:
        judge: the long score table.
        human: the labels table.
        confidence: coverage of the intervals.
        lam: fix the power-tuning weight; None tunes it per dimension.
        scales: dimension -> its allowed values (e.g. ``[1, 2, 3, 4, 5]``);
            the minimum and maximum bound the intervals. None: no clipping.

    Returns:
        One row per dimension and estimator: ``dimension, estimator, value,
        ci_low, ci_high, n, lam, clipped, note``. A dimension without enough
        data has a single row with NaN values and the reason in ``note``.

    Examples:
        >>> judge = pd.DataFrame({"item_id": list("abcdefgh"), "dimension": "tone",
        ...                       "value": [5, 5, 5, 5, 5, 5, 4, 5]})
        >>> human = judge.iloc[:4].assign(value=[5, 5, 4, 5], annotator="ana")
        >>> t = ppi_by_dimension(judge, human, scales={"tone": [1, 2, 3, 4, 5]})
        >>> float(t["ci_high"].max()) <= 5.0, bool(t["clipped"].any())
        (True, True)
    """
    _check(confidence, lam, "ppi_by_dimension")
    columns = ["dimension", "estimator", "value", "ci_low", "ci_high", "n", "lam", "clipped", "note"]
    bounds = {str(k): (float(min(v)), float(max(v))) for k, v in (scales or {}).items() if len(v)}
    rows: list[dict[str, object]] = []
    for dim in sorted(set(human["dimension"].astype(str))):
        try:
            result = ppi_mean_from_tables(judge, human, dimension=dim, confidence=confidence, lam=lam)
        except InputError as exc:
            rows.append(
                {
                    "dimension": dim,
                    "estimator": "PPI++",
                    "value": math.nan,
                    "ci_low": math.nan,
                    "ci_high": math.nan,
                    "n": 0,
                    "lam": math.nan,
                    "clipped": False,
                    "note": str(exc),
                }
            )
            continue
        for rec in result.to_frame().to_dict("records"):
            clipped, note = False, ""
            if dim in bounds:
                lo, hi = bounds[dim]
                inside = {k: min(max(float(rec[k]), lo), hi) for k in ("value", "ci_low", "ci_high")}
                clipped = any(inside[k] != float(rec[k]) for k in inside)
                if clipped:
                    note = f"interval clipped to the {lo:g}-{hi:g} scale (unclipped {rec['ci_low']:.3f} to " \
                           f"{rec['ci_high']:.3f})"
                rec = {**rec, **inside}
            rows.append({"dimension": dim, **rec, "lam": result.lam, "clipped": clipped, "note": note})
    return pd.DataFrame(rows, columns=columns)
