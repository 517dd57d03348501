"""Agreement statistics computed from contingency tables, vectorized over resamples.

Every judge-vs-human statistic that :func:`evaltools.calibrate` reports is a
function of the K x K contingency table of (human, judge) labels. Resampling
items with replacement gives a table drawn from ``Multinomial(n, table / n)``,
so a bootstrap needs no per-resample Python loop: we draw ``B`` tables at once
and evaluate each statistic on the whole ``(B, K, K)`` stack. The point
estimates reported to users come from the reference libraries (scikit-learn,
``krippendorff``, scipy); the tests check that the table formulas here agree
with them to 1e-12, so the intervals and the point estimates are the same
statistic.

Conventions: ``t[..., i, j]`` counts items the human put in category ``i``
and the judge in category ``j`` (rows = human, as in
``sklearn.metrics.confusion_matrix``). Categories are the declared scale,
sorted ascending. Undefined statistics (zero variance, a single category)
are NaN, never a plausible number.

References:
    Cohen, J. (1960, 1968): kappa and weighted kappa.
    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability.
    Agresti, A. (2010). Analysis of Ordinal Categorical Data, 2nd ed., ch. 7
    (Kendall tau-b and rank correlations from contingency tables).
    Efron, B. & Tibshirani, R. (1993). An Introduction to the Bootstrap
    (percentile intervals).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Level = Literal["nominal", "ordinal", "interval"]

__all__ = [
    "agreement_from_tables",
    "alpha_from_coincidences",
    "alpha_from_tables",
    "bootstrap_tables",
    "bootstrap_unit_weights",
    "confusion_table",
    "kappa_from_tables",
    "kendall_tau_b_from_tables",
    "macro_prf_from_tables",
    "mean_bias_from_tables",
    "percentile_interval",
    "spearman_from_tables",
    "unit_coincidences",
]


def confusion_table(human_idx: npt.ArrayLike, judge_idx: npt.ArrayLike, k: int) -> FloatArray:
    """Count (human, judge) category pairs into a K x K table.

    Args:
        human_idx: category index (0..k-1) of each item's human label.
        judge_idx: category index of each item's judge label.
        k: number of categories.

    Returns:
        A float array of shape (k, k); rows are human, columns judge.

    Examples:
        >>> confusion_table([0, 0, 1], [0, 1, 1], 2).tolist()
        [[1.0, 1.0], [0.0, 1.0]]
    """
    h = np.asarray(human_idx, dtype=np.intp)
    j = np.asarray(judge_idx, dtype=np.intp)
    return np.bincount(h * k + j, minlength=k * k).reshape(k, k).astype(np.float64)


def bootstrap_tables(table: FloatArray, n_resamples: int, rng: np.random.Generator) -> FloatArray:
    """Draw bootstrap resamples of a contingency table.

    Resampling n items with replacement and tabulating them is the same as
    drawing the cell counts from ``Multinomial(n, table / n)``.

    Args:
        table: observed counts, shape (K, K).
        n_resamples: number of resamples B.
        rng: the random generator.

    Returns:
        Resampled tables, shape (B, K, K).
    """
    n = int(round(table.sum()))
    k = table.shape[0]
    draws = rng.multinomial(n, table.ravel() / n, size=n_resamples)
    return draws.reshape(n_resamples, k, k).astype(np.float64)


def bootstrap_unit_weights(n_units: int, n_resamples: int, rng: np.random.Generator) -> FloatArray:
    """Draw how many times each unit appears in each bootstrap resample.

    Args:
        n_units: number of units (items) U.
        n_resamples: number of resamples B.
        rng: the random generator.

    Returns:
        Counts of shape (B, U); each row sums to U.
    """
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_resamples).astype(np.float64)


def percentile_interval(samples: FloatArray, confidence: float) -> tuple[float, float]:
    """Percentile bootstrap interval, ignoring resamples where the statistic is undefined.

    Args:
        samples: the statistic on each resample (may contain NaN).
        confidence: coverage, e.g. 0.95.

    Returns:
        ``(low, high)``; ``(nan, nan)`` when fewer than half of the resamples
        give a defined value (the interval would describe a different
        population than the point estimate).

    Examples:
        >>> low, high = percentile_interval(np.arange(101.0), 0.9)
        >>> round(low, 6), round(high, 6)
        (5.0, 95.0)
        >>> percentile_interval(np.array([np.nan, np.nan, 1.0]), 0.95)
        (nan, nan)
    """
    finite = samples[np.isfinite(samples)]
    if finite.size == 0 or 2 * finite.size < samples.size:
        return (float("nan"), float("nan"))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return (float(low), float(high))


def _safe_divide(num: FloatArray, den: FloatArray) -> FloatArray:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def agreement_from_tables(t: FloatArray) -> FloatArray:
    """Raw agreement: the share of items on the diagonal.

    Examples:
        >>> float(agreement_from_tables(np.array([[3.0, 1.0], [0.0, 4.0]])))
        0.875
    """
    return _safe_divide(np.trace(t, axis1=-2, axis2=-1), t.sum(axis=(-2, -1)))


def _kappa_weights(k: int, weights: Literal["linear", "quadratic"] | None) -> FloatArray:
    # Disagreement weights on category *indices*, as sklearn does: the scale is
    # treated as equally spaced, which is what a rubric's levels are.
    idx = np.arange(k, dtype=np.float64)
    if weights is None:
        return 1.0 - np.eye(k)
    diff = np.abs(idx[:, None] - idx[None, :])
    return diff if weights == "linear" else diff**2


def kappa_from_tables(t: FloatArray, weights: Literal["linear", "quadratic"] | None = None) -> FloatArray:
    """Cohen's kappa (optionally weighted) from tables.

    ``kappa = 1 - sum(w * observed) / sum(w * expected)`` with expected the
    outer product of the marginals (Cohen 1960, 1968).

    Args:
        t: tables of shape (..., K, K).
        weights: None (unweighted), ``"linear"`` or ``"quadratic"``.

    Returns:
        Kappa per table; NaN when the expected disagreement is 0 (both raters
        used a single, identical category).

    Examples:
        >>> round(float(kappa_from_tables(np.array([[40.0, 10.0], [5.0, 45.0]]))), 2)
        0.7
    """
    k = t.shape[-1]
    w = _kappa_weights(k, weights)
    n = t.sum(axis=(-2, -1))
    rows = t.sum(axis=-1)
    cols = t.sum(axis=-2)
    expected = rows[..., :, None] * cols[..., None, :] / n[..., None, None]
    observed_dis = (w * t).sum(axis=(-2, -1))
    expected_dis = (w * expected).sum(axis=(-2, -1))
    return 1.0 - _safe_divide(observed_dis, expected_dis)


def _ordinal_distance(n_v: FloatArray) -> FloatArray:
    # Krippendorff's ordinal metric: (sum of n_g for g between c and k, minus
    # half of n_c and n_k) squared; it depends on the marginal counts n_v.
    cum = np.cumsum(n_v, axis=-1)
    before = cum - n_v  # sum of n_g for g < c
    k = n_v.shape[-1]
    lo = np.minimum(np.arange(k)[:, None], np.arange(k)[None, :])
    hi = np.maximum(np.arange(k)[:, None], np.arange(k)[None, :])
    between = cum[..., hi] - before[..., lo]
    half = (n_v[..., :, None] + n_v[..., None, :]) / 2.0
    return (between - half) ** 2


def alpha_from_coincidences(o: FloatArray, values: npt.ArrayLike, level: Level) -> FloatArray:
    """Krippendorff's alpha from coincidence matrices.

    ``alpha = 1 - (n.. - 1) * sum(o * d) / sum(n_c * n_k * d)`` where ``d`` is
    the squared distance of the level of measurement (Krippendorff 2011).

    Args:
        o: coincidence matrices, shape (..., K, K).
        values: the K scale values (ascending), used by the interval metric.
        level: ``"nominal"``, ``"ordinal"`` or ``"interval"``.

    Returns:
        Alpha per matrix; NaN when there is no expected disagreement (a
        single value was used).
    """
    v = np.asarray(values, dtype=np.float64)
    n_v = o.sum(axis=-1)
    total = n_v.sum(axis=-1)
    if level == "nominal":
        d: FloatArray = np.broadcast_to(1.0 - np.eye(len(v)), o.shape)
    elif level == "interval":
        d = np.broadcast_to((v[:, None] - v[None, :]) ** 2, o.shape)
    else:
        d = _ordinal_distance(n_v)
    observed = (o * d).sum(axis=(-2, -1))
    expected = (n_v[..., :, None] * n_v[..., None, :] * d).sum(axis=(-2, -1))
    alpha: FloatArray = 1.0 - (total - 1.0) * _safe_divide(observed, expected)
    return alpha


def alpha_from_tables(t: FloatArray, values: npt.ArrayLike, level: Level) -> FloatArray:
    """Krippendorff's alpha for two raters with no missing values, from their tables.

    With two values per unit each unit adds one (c, k) and one (k, c) pair to
    the coincidence matrix, so ``o = t + t.T``.

    Examples:
        >>> t = np.array([[4.0, 1.0], [0.0, 5.0]])
        >>> round(float(alpha_from_tables(t, [0, 1], "nominal")), 4)
        0.8081
    """
    return alpha_from_coincidences(t + np.swapaxes(t, -1, -2), values, level)


def unit_coincidences(value_counts: FloatArray) -> FloatArray:
    """Each unit's contribution to the coincidence matrix.

    Args:
        value_counts: shape (U, K), how many raters gave each unit each value.

    Returns:
        Shape (U, K, K). Units with fewer than two values contribute zeros
        (they are not pairable). Summing over units (or a weighted sum, for a
        bootstrap) gives the coincidence matrix.
    """
    m = value_counts.sum(axis=1)
    pairable = np.maximum(m, 2.0)
    outer = value_counts[:, :, None] * value_counts[:, None, :]
    diag = value_counts[:, :, None] * np.eye(value_counts.shape[1])[None]
    out: FloatArray = (outer - diag) / (pairable - 1.0)[:, None, None]
    return out


def _strict_quadrant_sums(t: FloatArray) -> tuple[FloatArray, FloatArray]:
    # below_right[i, j] = sum of t[i' > i, j' > j]; below_left[i, j] = sum of t[i' > i, j' < j].
    k = t.shape[-1]
    ge_ge = np.flip(np.flip(t, (-2, -1)).cumsum(-1).cumsum(-2), (-2, -1))  # i' >= i, j' >= j
    ge_le = np.flip(np.flip(t, -2).cumsum(-2), -2).cumsum(-1)  # i' >= i, j' <= j
    below_right = np.zeros_like(t)
    below_left = np.zeros_like(t)
    below_right[..., : k - 1, : k - 1] = ge_ge[..., 1:, 1:]
    below_left[..., : k - 1, 1:] = ge_le[..., 1:, : k - 1]
    return below_right, below_left


def kendall_tau_b_from_tables(t: FloatArray) -> FloatArray:
    """Kendall's tau-b from ordered contingency tables (Agresti 2010, 7.1).

    ``tau_b = (C - D) / sqrt((n0 - n1) (n0 - n2))`` with C/D the concordant
    and discordant pairs and n1, n2 the pairs tied on each rater.

    Returns:
        tau-b per table; NaN when one rater used a single category.

    Examples:
        >>> round(float(kendall_tau_b_from_tables(np.array([[2.0, 1.0], [0.0, 2.0]]))), 4)
        0.6667
    """
    below_right, below_left = _strict_quadrant_sums(t)
    concordant = (t * below_right).sum(axis=(-2, -1))
    discordant = (t * below_left).sum(axis=(-2, -1))
    n = t.sum(axis=(-2, -1))
    rows = t.sum(axis=-1)
    cols = t.sum(axis=-2)
    n0 = n * (n - 1) / 2
    n1 = (rows * (rows - 1) / 2).sum(axis=-1)
    n2 = (cols * (cols - 1) / 2).sum(axis=-1)
    return _safe_divide(concordant - discordant, np.sqrt((n0 - n1) * (n0 - n2)))


def _midranks(margin: FloatArray) -> FloatArray:
    # 1-based mid-rank of every item in a category: items below + (count + 1) / 2.
    return np.cumsum(margin, axis=-1) - margin + (margin + 1.0) / 2.0


def spearman_from_tables(t: FloatArray) -> FloatArray:
    """Spearman's rho (with mid-ranks for ties) from tables.

    Pearson correlation of the mid-ranks of the two raters, weighting each
    cell by its count; equal to ``scipy.stats.spearmanr`` on the raw labels.

    Returns:
        rho per table; NaN when one rater used a single category.
    """
    n = t.sum(axis=(-2, -1))
    rows = t.sum(axis=-1)
    cols = t.sum(axis=-2)
    centre = ((n + 1.0) / 2.0)[..., None]
    r = _midranks(rows) - centre
    c = _midranks(cols) - centre
    cov = (t * r[..., :, None] * c[..., None, :]).sum(axis=(-2, -1))
    var_r = (rows * r**2).sum(axis=-1)
    var_c = (cols * c**2).sum(axis=-1)
    return _safe_divide(cov, np.sqrt(var_r * var_c))


def mean_bias_from_tables(t: FloatArray, values: npt.ArrayLike) -> FloatArray:
    """Mean of (judge - human) in scale units.

    Examples:
        >>> float(mean_bias_from_tables(np.array([[1.0, 1.0], [0.0, 2.0]]), [1, 5]))
        1.0
    """
    v = np.asarray(values, dtype=np.float64)
    diff = v[None, :] - v[:, None]  # judge (column) minus human (row)
    return _safe_divide((t * diff).sum(axis=(-2, -1)), t.sum(axis=(-2, -1)))


def macro_prf_from_tables(t: FloatArray, classes: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Macro-averaged precision, recall and F1 over the given class indices.

    A class nobody predicted has precision 0 and a class with no support has
    recall 0 (scikit-learn's ``zero_division=0`` convention), so the macro
    average matches ``precision_recall_fscore_support(average="macro")``.

    Args:
        t: tables of shape (..., K, K).
        classes: indices of the classes to average over.

    Returns:
        ``(precision, recall, f1)``, each of shape (...).
    """
    idx = np.asarray(classes, dtype=np.intp)
    diag = np.diagonal(t, axis1=-2, axis2=-1)[..., idx]
    rows = t.sum(axis=-1)[..., idx]
    cols = t.sum(axis=-2)[..., idx]
    precision = np.nan_to_num(_safe_divide(diag, cols))
    recall = np.nan_to_num(_safe_divide(diag, rows))
    f1 = np.nan_to_num(_safe_divide(2 * precision * recall, precision + recall))
    return precision.mean(axis=-1), recall.mean(axis=-1), f1.mean(axis=-1)
