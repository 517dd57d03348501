"""Vectorized paired bootstrap of a mean difference, with BCa intervals.

The bootstrap resamples whole units (items, or clusters of items when items
carry a ``group``) with an index matrix: one ``rng.integers`` call draws every
resample at once and one gather computes every resampled mean, so 10,000
resamples of 300 items cost a few milliseconds rather than a Python loop.
Unclustered data draw exactly the resamples ``scipy.stats.bootstrap`` draws
from the same Generator (``rng.integers(0, n, (n_resamples, n))``), which the
reference tests use to check the BCa arithmetic against scipy to the last digit.

BCa follows Efron & Tibshirani (1993), *An Introduction to the Bootstrap*,
sections 14.3 and 15.4 (as scipy does): the bias correction ``z0`` comes from
the share of resamples below the estimate (ties counted half), the
acceleration ``a`` from the jackknife. A p-value is obtained by inverting the
BCa interval (the smallest two-sided level whose interval excludes the null),
so "the 95 % interval excludes 0" and "p < 0.05" agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri

FloatArray = NDArray[np.float64]

_MAX_ELEMENTS = 1 << 22  # at most 4M indices (32 MB) per batch of resamples


def bootstrap_means(sums: FloatArray, counts: FloatArray, n_resamples: int, rng: np.random.Generator) -> FloatArray:
    """Resample units with replacement and return each resample's mean.

    Args:
        sums: per-unit sum of the item differences (the difference itself
            when every unit is one item).
        counts: per-unit number of items.
        n_resamples: number of bootstrap resamples.
        rng: the Generator to draw from.

    Returns:
        Array of ``n_resamples`` resampled means (ratio of resampled sums to
        resampled counts for clusters).
    """
    g = sums.shape[0]
    unit = bool(np.all(counts == 1))
    out = np.empty(n_resamples, dtype=np.float64)
    batch = max(1, _MAX_ELEMENTS // max(g, 1))
    for start in range(0, n_resamples, batch):
        stop = min(n_resamples, start + batch)
        idx = rng.integers(0, g, (stop - start, g))
        if unit:
            out[start:stop] = sums[idx].mean(axis=-1)
        else:
            out[start:stop] = sums[idx].sum(axis=-1) / counts[idx].sum(axis=-1)
    return out


def jackknife_means(sums: FloatArray, counts: FloatArray) -> FloatArray:
    """Leave-one-unit-out means, in closed form (no loop)."""
    return np.asarray((sums.sum() - sums) / (counts.sum() - counts), dtype=np.float64)


def _percentile_of(dist: FloatArray, value: float) -> float:
    """Share of ``dist`` below ``value``, ties counted half (scipy's rule)."""
    below = np.count_nonzero(dist < value)
    at_or_below = np.count_nonzero(dist <= value)
    return float((below + at_or_below) / (2.0 * dist.shape[0]))


@dataclass(frozen=True, slots=True)
class BootstrapDistribution:
    """A bootstrap distribution of a mean with its BCa constants.

    ``z0`` and ``accel`` are NaN when BCa is undefined (every resample on one
    side of the estimate); the interval methods then fall back to the
    percentile interval and say so in ``method``.
    """

    estimate: float
    distribution: FloatArray
    z0: float
    accel: float

    @property
    def bca_defined(self) -> bool:
        """Whether the BCa constants are finite."""
        return math.isfinite(self.z0) and math.isfinite(self.accel)

    @property
    def method(self) -> str:
        """The interval method actually used."""
        return "BCa" if self.bca_defined else "percentile (BCa undefined)"

    def _prob(self, tail: float) -> float:
        if not self.bca_defined:
            return tail
        zt = float(ndtri(tail))
        num = self.z0 + zt
        return float(ndtr(self.z0 + num / (1.0 - self.accel * num)))

    def interval(self, confidence: float) -> tuple[float, float]:
        """Two-sided interval at ``confidence`` (e.g. 0.95)."""
        tail = (1.0 - confidence) / 2.0
        probs = [self._prob(tail), self._prob(1.0 - tail)]
        lo, hi = np.quantile(self.distribution, probs)
        return float(lo), float(hi)

    def lower_bound(self, alpha: float) -> float:
        """One-sided lower confidence bound at level ``1 - alpha``."""
        return float(np.quantile(self.distribution, self._prob(alpha)))

    def pvalue(self, null: float = 0.0) -> float:
        """Two-sided p-value for ``mean == null`` by inverting the interval.

        Values below about ``1 / n_resamples`` are not resolved: the share of
        resamples beyond the null is clipped to ``[1/(2B), 1 - 1/(2B)]``.
        """
        b = self.distribution.shape[0]
        share = min(max(_percentile_of(self.distribution, null), 0.5 / b), 1.0 - 0.5 / b)
        w = float(ndtri(share))
        if self.bca_defined and 1.0 + self.accel * (w - self.z0) > 0:
            u = (w - self.z0) / (1.0 + self.accel * (w - self.z0))
            tail = float(ndtr(u - self.z0))
        else:
            tail = share
        return float(min(1.0, 2.0 * min(tail, 1.0 - tail)))


def bootstrap_mean_difference(
    sums: FloatArray, counts: FloatArray, n_resamples: int, rng: np.random.Generator
) -> BootstrapDistribution:
    """Bootstrap the mean of item differences grouped in units.

    Args:
        sums: per-unit sums of differences (units are items or clusters).
        counts: per-unit item counts.
        n_resamples: number of resamples.
        rng: the Generator to draw from.

    Returns:
        The :class:`BootstrapDistribution` with its BCa constants. The caller
        guarantees at least two units and differences that are not all equal.
    """
    estimate = float(sums.sum() / counts.sum())
    dist = bootstrap_means(sums, counts, n_resamples, rng)
    share = _percentile_of(dist, estimate)
    z0 = float(ndtri(share)) if 0.0 < share < 1.0 else math.nan
    jack = jackknife_means(sums, counts)
    dev = jack.mean() - jack
    den = float(np.sum(dev**2))
    accel = float(np.sum(dev**3) / (6.0 * den**1.5)) if den > 0 else math.nan
    return BootstrapDistribution(estimate=estimate, distribution=dist, z0=z0, accel=accel)
