"""Small statistical building blocks of the detectors (pure numpy, unit-tested on known values)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["psi"]


def _madn(x: np.ndarray) -> float:
    """Normal-consistent MAD (scipy ``median_abs_deviation(scale="normal")``), NaN-free input."""
    if len(x) == 0:
        return math.nan
    med = np.median(x)
    return float(np.median(np.abs(x - med)) * 1.482602218505602)


_TRUNC_SD = 0.9969445
"""SD of a standard normal truncated to +/-3.5: corrects the screened SD below."""


def _robust_sd(x: np.ndarray) -> float:
    """MAD-screened standard deviation: the SD of the values within 3.5 MADs of the median.

    The median/MAD screen makes it robust (a past incident does not inflate it), and the
    SD of the kept values makes it efficient (nearly n - 1 degrees of freedom, where the
    MAD alone has about 0.37 n), which matters for short daily histories.
    """
    if len(x) < 2:
        return math.nan
    med = np.median(x)
    s0 = _madn(x)
    kept = x[np.abs(x - med) <= 3.5 * s0] if s0 > 0 else x
    if len(kept) < 2:
        return s0
    return float(np.std(kept, ddof=1) / _TRUNC_SD)


def _t_threshold(z_threshold: float, dof: int) -> float:
    """The Student-t quantile with the same tail probability as ``z_threshold`` under a normal.

    The spread comes from a finite history, so z-scores follow (about) a t distribution
    with the history's degrees of freedom; without this, short histories over-alert.
    """
    from scipy.stats import norm
    from scipy.stats import t as student_t

    return float(student_t.isf(norm.sf(z_threshold), max(dof, 1)))


def psi(expected: np.ndarray, actual: np.ndarray, eps: float = 1e-4) -> float:
    """Population Stability Index between two binned distributions (counts or shares).

    ``PSI = sum_b (a_b - e_b) * ln(a_b / e_b)`` (Siddiqi 2006). Empty bins get
    share ``eps`` so the logarithm stays finite.

    Args:
        expected: baseline counts per bin.
        actual: current counts per bin (same bins).
        eps: floor for empty bins' shares.

    Returns:
        The PSI (0 for identical distributions; NaN when either side is empty).

    Examples:
        >>> round(psi(np.array([50, 50]), np.array([50, 50])), 6)
        0.0
        >>> round(psi(np.array([0.5, 0.5]), np.array([0.6, 0.4])), 4)  # 0.1*ln(1.2) + 0.1*ln(1.25)
        0.0405
    """
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.sum() <= 0 or a.sum() <= 0:
        return math.nan
    e = np.maximum(e / e.sum(), eps)
    a = np.maximum(a / a.sum(), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def _lags(x: np.ndarray, period: int, k: int) -> np.ndarray:
    """Matrix (T, k) of x shifted by period, 2*period... (NaN before the start)."""
    T = len(x)
    out = np.full((T, k), np.nan)
    for j in range(1, k + 1):
        s = j * period
        if s < T:
            out[s:, j - 1] = x[: T - s]
    return out


def _nanmedian_rows(m: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        cnt = np.sum(np.isfinite(m), axis=1)
        med = np.full(m.shape[0], np.nan)
        ok = cnt > 0
        if ok.any():
            med[ok] = np.nanmedian(m[ok], axis=1)
    return med


def _trailing_median(x: np.ndarray, w: int, min_count: int) -> tuple[np.ndarray, np.ndarray]:
    s = pd.Series(x)
    med = s.rolling(w, min_periods=min_count).median().shift(1).to_numpy()
    cnt = s.notna().astype(float).rolling(w, min_periods=1).sum().shift(1).to_numpy()
    return med, cnt


def _quantile_from_hist(counts: np.ndarray, edges: np.ndarray, q: float) -> float:
    c = np.cumsum(counts)
    if c[-1] <= 0:
        return math.nan
    target = q * c[-1]
    i = int(np.searchsorted(c, target))
    prev = c[i - 1] if i > 0 else 0.0
    frac = (target - prev) / max(counts[i], 1e-12)
    return float(edges[i] + frac * (edges[i + 1] - edges[i]))


def _lag1(z: np.ndarray) -> float:
    """Lag-1 autocorrelation of consecutive finite values, counting only its significant part.

    The estimate is lowered by 1.645 of its standard error ``(1 - r^2) / sqrt(m)`` and clipped to
    [0, 0.9]: with a few dozen daily windows a spurious r of 0.3 is common, and inflating the
    EWMA limits for it would blunt the drift detector; a real, sustained autocorrelation survives.
    """
    a, b = z[:-1], z[1:]
    ok = np.isfinite(a) & np.isfinite(b)
    m = int(ok.sum())
    if m < 10:
        return 0.0
    with np.errstate(invalid="ignore"):
        r = float(np.corrcoef(a[ok], b[ok])[0, 1])
    if not np.isfinite(r):
        return 0.0
    return float(np.clip(r - 1.645 * (1 - r * r) / math.sqrt(m), 0.0, 0.9))


def _lag1_trailing(z: np.ndarray, window: int) -> np.ndarray:
    """:func:`_lag1` of ``z[max(0, t - window):t]`` for every t, vectorized.

    The pairs (z[i-1], z[i]) inside that slice are those with i in [t - window + 1, t - 1]:
    a rolling window of ``window - 1`` pairs ending at pair t - 1. pandas' rolling ``corr``
    counts only pairs where both values are finite, as :func:`_lag1` does.
    """
    T = len(z)
    out = np.zeros(T)
    if T < 3:
        return out
    a = pd.Series(z[:-1])  # pair i (1..T-1) is (z[i-1], z[i]) at position i - 1
    b = pd.Series(z[1:])
    w = max(window - 1, 1)
    both = (a.notna() & b.notna()).astype(float)
    m = both.rolling(w, min_periods=1).sum().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = a.rolling(w, min_periods=min(2, w)).corr(b).to_numpy()  # a window of 1 pair has no r (NaN)
    # value for t uses pairs ending at pair index t - 1, i.e. position t - 2
    m_t = np.full(T, 0.0)
    r_t = np.full(T, np.nan)
    m_t[2:] = m[: T - 2]
    r_t[2:] = r[: T - 2]
    ok = (m_t >= 10) & np.isfinite(r_t)
    adj = r_t - 1.645 * (1 - r_t * r_t) / np.sqrt(np.maximum(m_t, 1))
    out[ok] = np.clip(adj[ok], 0.0, 0.9)
    return out


def _ewma(z: np.ndarray, lam: float, L: float, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EWMA of standardized values and its time-varying limit (skipping NaN windows)."""
    T = len(z)
    stat = np.full(T, np.nan)
    lim = np.full(T, np.nan)
    # AR(1) inflation of the EWMA variance: (1 + rho(1-lam)) / (1 - rho(1-lam)).
    infl = np.sqrt((1 + rho * (1 - lam)) / (1 - rho * (1 - lam)))
    acc = 0.0
    i = 0
    for t in range(T):
        if not np.isfinite(z[t]):
            continue
        i += 1
        acc = lam * z[t] + (1 - lam) * acc
        stat[t] = acc
        lim[t] = L * infl[t] * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * i)))
    return stat, lim


def _cusum(z: np.ndarray, k: float, h: float) -> np.ndarray:
    """Two-sided tabular CUSUM; returns C+ or -C- (whichever is larger), reset after a signal."""
    T = len(z)
    out = np.full(T, np.nan)
    cp = cm = 0.0
    for t in range(T):
        if not np.isfinite(z[t]):
            continue
        cp = max(0.0, cp + z[t] - k)
        cm = max(0.0, cm - z[t] - k)
        out[t] = cp if cp >= cm else -cm
        if cp > h or cm > h:
            cp = cm = 0.0
    return out


# ----------------------------------------------------------------------------------------------
# Vectorized rolling building blocks of the level detector (shared by series and log windows)

_IQR_SD = 1.3489795003921634
"""Interquartile range of a standard normal: IQR / 1.349 estimates sigma."""
_Q90_SD = 3.2897072539029435
"""Width of the central 90 % of a standard normal (q95 - q05)."""
_A99_SD = 2.5758293035489004
"""99th percentile of |Z| for a standard normal."""


def _trailing_quantiles(
    x: np.ndarray, window: int, qs: tuple[float, ...], min_count: int, max_points: int = 2000
) -> list[np.ndarray]:
    """Quantiles of the previous ``window`` values (the current one excluded), NaN-skipping.

    pandas' rolling quantile keeps a sorted skip list, so each step costs O(log window):
    the whole array is one C loop instead of one ``np.median`` per position. Long windows
    (over ``max_points``, e.g. a week of 1-minute data) use every ``window // max_points``-th
    value of the history (still about ``max_points`` of them, all from the past): a week-long
    spread does not need all 10,080 minutes, which are strongly autocorrelated anyway.
    """
    T = len(x)
    stride = max(1, window // max_points)
    if stride == 1:
        r = pd.Series(x).rolling(window, min_periods=min_count)
        return [r.quantile(q, interpolation="linear").shift(1).to_numpy() for q in qs]
    sub = pd.Series(x[::stride]).rolling(window // stride, min_periods=max(1, min_count // stride))
    j = (np.arange(T) - 1) // stride  # the last sampled position strictly before t
    out = []
    for q in qs:
        v = sub.quantile(q, interpolation="linear").to_numpy()
        full = np.where(j >= 0, v[np.clip(j, 0, len(v) - 1)], np.nan)
        out.append(full)
    return out


def _trailing_count(x: np.ndarray, window: int) -> np.ndarray:
    """Number of finite values among the previous ``window`` values (the current one excluded)."""
    out: np.ndarray = (
        pd.Series(np.isfinite(x).astype(float)).rolling(window, min_periods=1).sum().shift(1).fillna(0.0).to_numpy()
    )
    return out


def _resolution(x: np.ndarray) -> float:
    """The measurement resolution of a series: the smallest gap between two distinct values.

    Metrics exported with fixed precision (CPU percent to 3 decimals, integer counts) cannot
    move by less than this; a spread smaller than one quantum is an artefact of ties.
    Gaps below 1e-9 of the value range are float noise and ignored. NaN when fewer than
    two distinct values.
    """
    v = np.sort(x[np.isfinite(x)])
    if len(v) < 2 or v[-1] == v[0]:
        return math.nan
    d = np.diff(v)
    d = d[d > 1e-9 * (v[-1] - v[0])]
    return float(d.min()) if len(d) else math.nan


def _robust_spread(
    r: np.ndarray, level: np.ndarray, window: int, min_count: int, *, resolution: float, rel_floor: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Trailing robust spread of residuals that cannot collapse on step-like, tied or bursty data.

    sigma_t = max(IQR / 1.349, (q95 - q05) / 3.290, q99(|r|) / 2.576, resolution, rel_floor * |level|),
    every quantile over the previous ``window`` residuals (the current one excluded). Each
    quantile spread is divided by its value under a standard normal, so for normal residuals
    all three estimate sigma and the maximum costs no sensitivity. The interquartile range is
    the classical quantile estimator of scale (breakdown 25 %; Rousseeuw & Croux 1993,
    "Alternatives to the median absolute deviation", JASA 88:1273, compare it with MAD, Sn
    and Qn). Like MAD, Sn and Qn it is 0 as soon as half the residuals are tied (a CPU series
    sitting at one value 56 % of the time), and it ignores the heavy tail of bursty metrics.
    The wider quantile spreads (central 90 %, and the 99th percentile of |r|: the empirical
    calibration of the threshold on recent history that STATS.md 3.1 recommends) floor it:
    an alert needs a residual well beyond the largest 1 % of last week's. They break down
    past 5 % and 1 % contamination: an incident longer than about 1.7 hours in a 7-day history
    widens the band until it leaves the history, which errs towards fewer pages. Finally the
    data's resolution (a change of one quantum is never many sigmas) and a small fraction of
    the level bound it for series with almost no variation. Quantiles: linear interpolation
    (Hyndman & Fan 1996, definition 7).

    Returns:
        sigma (NaN with fewer than ``min_count`` residuals) and its components, for explanations.
    """
    q05, q25, q75, q95 = _trailing_quantiles(r, window, (0.05, 0.25, 0.75, 0.95), min_count)
    (a99,) = _trailing_quantiles(np.abs(r), window, (0.99,), min_count)
    iqr = (q75 - q25) / _IQR_SD
    q90 = (q95 - q05) / _Q90_SD
    tail = a99 / _A99_SD
    lvl = rel_floor * np.abs(level)
    res = np.full(len(r), resolution if np.isfinite(resolution) else 0.0)
    with np.errstate(invalid="ignore"):
        sigma = np.fmax(np.fmax(np.fmax(iqr, q90), tail), np.fmax(res, lvl))
    sigma = np.where(np.isfinite(iqr), sigma, np.nan)
    sigma = np.where(sigma > 0, sigma, np.nan)
    return sigma, {"iqr": iqr, "q90": q90, "tail": tail, "resolution": res, "level": lvl}


def _t_thresholds(z_threshold: float | np.ndarray, dof: np.ndarray) -> np.ndarray:
    """:func:`_t_threshold` for an array of degrees of freedom: one t quantile per distinct value."""
    from scipy.stats import norm
    from scipy.stats import t as student_t

    dof = np.asarray(dof, dtype=np.int64)
    out = np.full(len(dof), np.nan)
    ok = dof > 0
    if not ok.any():
        return out
    if np.ndim(z_threshold) == 0:
        uniq, inv = np.unique(dof[ok], return_inverse=True)
        out[ok] = student_t.isf(norm.sf(float(z_threshold)), uniq)[inv]
        return out
    zt = np.broadcast_to(np.asarray(z_threshold, dtype=float), dof.shape)
    pairs, inv = np.unique(np.stack([dof[ok].astype(float), zt[ok]], axis=1), axis=0, return_inverse=True)
    vals = student_t.isf(norm.sf(pairs[:, 1]), pairs[:, 0])
    out[ok] = vals[np.asarray(inv).ravel()]
    return out


# ----------------------------------------------------------------------------------------------
# Row-wise versions of the scalar helpers above, for trailing-history matrices (NaN = missing)

_MAX_CELLS = 2_000_000
"""Cells per chunk of a trailing-history matrix (rows x window), to bound memory."""


def _row_median(x: np.ndarray, k: np.ndarray | None = None) -> np.ndarray:
    """``np.median`` of the non-NaN values of each row (NaN for a row without any), exactly.

    Sorting puts NaN last, so the k present values of a row are its first k sorted ones, and
    the median is the mean of the two middle ones, as ``np.median`` computes it. ``k``: the
    rows' counts of non-NaN values, when already known.
    """
    rows = x.shape[0]
    out = np.full(rows, np.nan)
    if rows == 0 or x.shape[1] == 0:
        return out
    s = np.sort(x, axis=1)
    if k is None:
        k = np.count_nonzero(~np.isnan(x), axis=1)
    ok = k > 0
    r = np.flatnonzero(ok)
    kk = k[ok]
    out[ok] = (s[r, (kk - 1) // 2] + s[r, kk // 2]) / 2
    return out


def _row_robust_sd(x: np.ndarray) -> np.ndarray:
    """:func:`_robust_sd` of the non-NaN values of each row (the present values must be finite).

    Equal to the scalar function up to the summation order of the kept values' mean and
    variance (a few ulps); the median and MAD are exact.
    """
    present = ~np.isnan(x)
    k = np.count_nonzero(present, axis=1)
    med = _row_median(x, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        dev = np.abs(x - med[:, None])  # NaN where x is missing
        s0 = _row_median(dev, k) * 1.482602218505602
        # Within 3.5 MADs of the median (a NaN deviation never is), or every value when the MAD is 0.
        kept = np.where((s0 > 0)[:, None], dev <= 3.5 * s0[:, None], present)
        nk = np.count_nonzero(kept, axis=1)
        xk = np.where(kept, x, 0.0)
        mean = np.sum(xk, axis=1) / nk
        d = xk - mean[:, None]
        np.multiply(d, kept, out=d)
        np.multiply(d, d, out=d)
        sd = np.sqrt(np.sum(d, axis=1) / (nk - 1)) / _TRUNC_SD
    out: np.ndarray = np.where(k < 2, np.nan, np.where(nk < 2, s0, sd))
    return out


def _trailing_rows(usable: np.ndarray, window: int, min_hist: int, warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """Usable windows t whose history (the usable windows in [t - window, t)) can score them.

    The scoring loops skip t with fewer than ``min_hist`` history windows, or fewer than
    ``warmup`` windows after the first usable one. Returns those t and their history sizes.
    """
    idx = np.flatnonzero(usable)
    if len(idx) == 0:
        return idx, idx.copy()
    cs = np.concatenate([[0], np.cumsum(usable, dtype=np.int64)])
    nh = cs[idx] - cs[np.maximum(idx - window, 0)]
    keep = (nh >= min_hist) & (idx - idx[0] >= warmup)
    return idx[keep], nh[keep]


class _History:
    """The trailing histories of some windows t: row i holds positions ``t_i - w .. t_i - 1``.

    ``w = min(window, T)`` columns are enough to hold [max(0, t - window), t). :meth:`take`
    gathers an array over those positions (``fill`` before the start) through a sliding view
    of the padded array, so a row is one contiguous copy.
    """

    def __init__(self, t: np.ndarray, w: int) -> None:
        self.t = t
        self.w = w

    def take(self, a: np.ndarray, fill: Any = np.nan) -> np.ndarray:
        padded = np.concatenate([np.full(self.w, fill, dtype=a.dtype), a])
        return np.lib.stride_tricks.sliding_window_view(padded, self.w)[self.t]


def _history_chunks(
    ts: np.ndarray, usable: np.ndarray, window: int, max_cells: int | None = None
) -> Iterator[tuple[slice, _History, np.ndarray]]:
    """Yield ``(rows, hist, mask)``: the histories of the windows ``ts[rows]`` (see :class:`_History`).

    ``mask`` is True where a history position is in the data and usable. Rows come in chunks
    of at most ``max_cells`` (default :data:`_MAX_CELLS`) cells: the window can be long, the series too.
    """
    w = max(min(window, len(usable)), 1)
    step = max(1, (max_cells or _MAX_CELLS) // w)
    for lo in range(0, len(ts), step):
        rows = slice(lo, min(lo + step, len(ts)))
        h = _History(ts[rows], w)
        yield rows, h, h.take(np.asarray(usable, dtype=bool), False)
