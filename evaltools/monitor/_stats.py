"""Small statistical building blocks of the detectors (pure numpy, unit-tested on known values)."""

from __future__ import annotations

import math

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
