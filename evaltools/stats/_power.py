"""Power, minimum detectable effect and sample size for paired comparisons.

Binary (pass/fail) scores use Connor's (1987) normal approximation to
McNemar's test, or an exact enumeration of the exact McNemar test; both take
the *discordance* ``psi`` (the share of items on which the two variants
disagree), because only discordant items carry information. Ordinal and
continuous scores use the paired t-test's power (statsmodels ``TTestPower``,
noncentral t) with the standard deviation of the per-item differences.

References:
    Connor, R. J. (1987). Sample size for testing differences in proportions
    for the paired-sample design. Biometrics 43(1):207-211.
    McNemar, Q. (1947). Psychometrika 12(2):153-157.
"""

from __future__ import annotations

import functools
import math
from statistics import NormalDist
from typing import Literal

import numpy as np
from scipy import stats
from scipy.optimize import brentq
from statsmodels.stats.power import TTestPower

from evaltools._util import check_choice, check_int, check_positive, check_probability
from evaltools.errors import ConfigError
from evaltools.scorers import ScoreKind

Alternative = Literal["two-sided", "one-sided"]
PowerMethod = Literal["normal", "exact"]
_KINDS = ("binary", "ordinal", "continuous")


_NORMAL = NormalDist()  # pure-Python normal: much cheaper per call than scipy.stats.norm in root finding


def _z(alpha: float, alternative: str) -> float:
    return _NORMAL.inv_cdf(1 - (alpha / 2 if alternative == "two-sided" else alpha))


def _connor_power(delta: float, n: float, psi: float, alpha: float, alternative: str) -> float:
    # Connor (1987): z_beta = (delta sqrt(n) - z_alpha sqrt(psi)) / sqrt(psi - delta^2)
    spread = math.sqrt(max(psi - delta * delta, 1e-300))
    return _NORMAL.cdf((delta * math.sqrt(n) - _z(alpha, alternative) * math.sqrt(psi)) / spread)


def _exact_power(delta: float, n: int, psi: float, alpha: float, alternative: str) -> float:
    # Enumerate the number of discordant items m ~ Bin(n, psi); given m, the
    # items where the candidate is worse follow Bin(m, (psi + delta) / (2 psi))
    # and the exact McNemar test rejects in the tails of Bin(m, 1/2).
    m = np.arange(n + 1)
    tail = alpha / 2 if alternative == "two-sided" else alpha
    # k[m] = largest k with P(Bin(m, .5) <= k) <= tail (may be -1: no rejection)
    k = stats.binom.ppf(tail, m, 0.5).astype(np.int64)
    k = np.where(stats.binom.cdf(k, m, 0.5) <= tail, k, k - 1)
    worse = (psi + delta) / (2 * psi)
    reject = stats.binom.sf(m - k - 1, m, worse)  # P(b >= m - k): candidate worse on many
    if alternative == "two-sided":
        reject = reject + np.where(k >= 0, stats.binom.cdf(k, m, worse), 0.0)
    reject = np.where(k >= 0, reject, 0.0)
    return float(np.sum(stats.binom.pmf(m, n, psi) * reject))


def _check_common(
    func: str,
    kind: str,
    discordance: float | None,
    sd_diff: float | None,
    alpha: float,
    alternative: str,
    method: str,
) -> None:
    check_choice(kind, "kind", func, _KINDS)
    check_probability(alpha, "alpha", func)
    check_choice(alternative, "alternative", func, ("two-sided", "one-sided"))
    check_choice(method, "method", func, ("normal", "exact"))
    if kind == "binary":
        if discordance is None:
            raise ConfigError(
                f"{func} needs 'discordance' for binary scores: the share of items on which the two variants "
                "disagree (estimate it from a previous comparison; typical prompt changes give 0.05-0.20)."
            )
        check_probability(discordance, "discordance", func, open_high=False)
    else:
        if method == "exact":
            raise ConfigError(
                f"The 'method' parameter of {func} can be 'exact' only for binary scores. Got kind={kind!r}."
            )
        if sd_diff is None:
            raise ConfigError(
                f"{func} needs 'sd_diff' for {kind} scores: the standard deviation of the per-item "
                "differences between the variants, in score units."
            )
        check_positive(sd_diff, "sd_diff", func)


@functools.lru_cache(maxsize=1024)
def _t_effect_size(n: int, alpha: float, target: float, alternative: str) -> float:
    """Cohen's d_z detectable with ``target`` power by a paired t-test on ``n`` items.

    Cached: it does not depend on the sd, and compare() asks for the same n in every dimension.
    """
    d_z = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=target, alternative=alternative)
    # solve_power may land on the mirror root -d_z of the two-sided power curve
    return abs(float(np.asarray(d_z).item()))


def _t_power(d_z: float, n: float, alpha: float, alternative: str) -> float:
    """Paired t-test power (statsmodels ``TTestPower``, noncentral t).

    scipy's noncentral t returns NaN when the power is within rounding of 1
    (for example d_z = 3 with 11 items); the normal approximation, which is
    1 to many digits there, is used instead.
    """
    t_alt = _ttest_alternative(alternative)
    value = float(TTestPower().power(effect_size=d_z, nobs=n, alpha=alpha, alternative=t_alt))
    if math.isnan(value):
        value = _NORMAL.cdf(d_z * math.sqrt(n) - _z(alpha, alternative))
    return value


def _ttest_alternative(alternative: str) -> str:
    return "two-sided" if alternative == "two-sided" else "larger"


def power(
    effect: float,
    n: int,
    *,
    kind: ScoreKind = "binary",
    discordance: float | None = None,
    sd_diff: float | None = None,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    method: PowerMethod = "normal",
) -> float:
    """Probability that a paired comparison of ``n`` items detects ``effect``.

    Args:
        effect: the true difference to detect, in score units (a proportion
            for binary scores: 0.02 is a 2-point drop); its sign is ignored.
        n: number of paired items.
        kind: ``"binary"``, ``"ordinal"`` or ``"continuous"``.
        discordance: binary only: share of items on which the variants
            disagree (``psi``); must be at least ``abs(effect)``.
        sd_diff: ordinal and continuous: standard deviation of the per-item
            differences, in score units.
        alpha: significance level of the test.
        alternative: ``"two-sided"`` (what :func:`compare` reports) or
            ``"one-sided"``.
        method: binary only: ``"normal"`` (Connor 1987) or ``"exact"``
            (enumeration of the exact McNemar test).

    Returns:
        The power in [0, 1]; higher is better. ``alpha``-level (or less)
        when ``effect`` is 0.

    Raises:
        ConfigError: a parameter is out of range or the parameter the kind
            needs (``discordance`` or ``sd_diff``) is missing.

    Examples:
        >>> round(power(0.0509, 300, discordance=0.10), 2)  # Connor, STATS.md 1.5
        0.8
        >>> round(power(0.081, 300, kind="ordinal", sd_diff=0.5), 2)
        0.8
    """
    func = "power"
    _check_common(func, kind, discordance, sd_diff, alpha, alternative, method)
    n = check_int(n, "n", func, minimum=2)
    delta = abs(float(effect))
    if kind == "binary":
        assert discordance is not None
        if delta > discordance:
            raise ConfigError(
                f"The 'effect' of {func} cannot exceed the discordance for binary scores "
                f"(|effect| <= psi). Got effect={effect!r}, discordance={discordance!r}."
            )
        if method == "exact":
            return _exact_power(delta, n, float(discordance), alpha, alternative)
        return _connor_power(delta, n, float(discordance), alpha, alternative)
    assert sd_diff is not None
    return _t_power(delta / sd_diff, n, alpha, alternative)


def mde(
    n: int,
    *,
    kind: ScoreKind = "binary",
    discordance: float | None = None,
    sd_diff: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "two-sided",
    method: PowerMethod = "normal",
) -> float:
    """Minimum detectable effect: the smallest true difference found with ``power``.

    Args:
        n: number of paired items.
        kind: ``"binary"``, ``"ordinal"`` or ``"continuous"``.
        discordance: binary only: share of items on which the variants disagree.
        sd_diff: ordinal and continuous: standard deviation of the differences.
        alpha: significance level.
        power: the probability of detection to reach (0.8 by convention).
        alternative: ``"two-sided"`` or ``"one-sided"``.
        method: binary only: ``"normal"`` (Connor) or ``"exact"`` (exact McNemar).

    Returns:
        The MDE in score units (positive; lower is better). NaN for binary
        scores when no effect up to the discordance reaches ``power`` (with
        so few discordant items no drop is detectable: plan with a larger
        discordance or more items).

    Raises:
        ConfigError: a parameter is out of range or missing for the kind.

    Examples:
        >>> round(mde(300, discordance=0.10), 4)  # STATS.md 1.5: Connor 5.09 pp
        0.0509
        >>> round(mde(300, discordance=0.10, method="exact"), 3)  # exact McNemar 5.30 pp
        0.053
        >>> round(mde(300, kind="continuous", sd_diff=0.5), 3)  # 0.081 points
        0.081
    """
    func = "mde"
    _check_common(func, kind, discordance, sd_diff, alpha, alternative, method)
    n = check_int(n, "n", func, minimum=2)
    target = check_probability(power, "power", func)
    if kind != "binary":
        assert sd_diff is not None
        return _t_effect_size(n, alpha, target, _ttest_alternative(alternative)) * float(sd_diff)
    assert discordance is not None
    psi = float(discordance)
    fn = _exact_power if method == "exact" else _connor_power

    def gap(delta: float) -> float:
        return fn(delta, n, psi, alpha, alternative) - target

    if gap(psi) < 0:
        return math.nan
    return float(brentq(gap, 1e-12, psi, xtol=1e-10))


def n_required(
    effect: float,
    *,
    kind: ScoreKind = "binary",
    discordance: float | None = None,
    sd_diff: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "two-sided",
    method: PowerMethod = "normal",
) -> int:
    """Number of paired items needed to detect ``effect`` with ``power``.

    Answers "how many golden items do I need to detect a 2-point drop?":
    ``n_required(0.02, discordance=0.10)`` for pass/fail scores.

    Args:
        effect: the difference to detect, in score units (sign ignored).
        kind: ``"binary"``, ``"ordinal"`` or ``"continuous"``.
        discordance: binary only: share of items on which the variants disagree.
        sd_diff: ordinal and continuous: standard deviation of the differences.
        alpha: significance level.
        power: the probability of detection to reach.
        alternative: ``"two-sided"`` or ``"one-sided"``.
        method: binary only: ``"normal"`` (Connor's closed form) or
            ``"exact"`` (bisection on the exact power; the exact power is a
            slightly saw-toothed function of n, so a few larger n can fall
            just below ``power``).

    Returns:
        The number of paired items (at least 2; lower is better).

    Raises:
        ConfigError: ``effect`` is 0, exceeds the discordance, or another
            parameter is out of range or missing.

    Examples:
        >>> n_required(0.01, discordance=0.10)  # STATS.md 1.5: 7,847 items for 1 pp
        7847
        >>> n_required(0.02, discordance=0.10)  # a 2-point drop
        1960
    """
    func = "n_required"
    _check_common(func, kind, discordance, sd_diff, alpha, alternative, method)
    target = check_probability(power, "power", func)
    delta = abs(float(effect))
    if delta == 0 or not math.isfinite(delta):
        raise ConfigError(f"The 'effect' parameter of {func} must be a finite non-zero float. Got {effect!r} instead.")
    if kind != "binary":
        assert sd_diff is not None
        d_z = delta / sd_diff
        z_sum = _z(alpha, alternative) + _NORMAL.inv_cdf(target)

        # Power rises with n, so the answer is the first n whose TTestPower power reaches the
        # target: bisect between 90% of the normal approximation ((z_a + z_b) / d_z)^2, which the
        # t-based n exceeds only slightly, and a bound above it (a few power evaluations).
        def reaches(m: int) -> bool:
            return _t_power(d_z, m, alpha, alternative) >= target

        n0 = (z_sum / d_z) ** 2
        lo, hi = max(2, math.floor(0.9 * n0)), max(3, math.ceil(n0) + 10)
        if reaches(lo):
            lo = 1  # power(1) is undefined: treat it as below the target
            if reaches(2):
                return 2
        while not reaches(hi):
            lo, hi = hi, 2 * hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if reaches(mid) else (mid, hi)
        return hi
    assert discordance is not None
    psi = float(discordance)
    if delta > psi:
        raise ConfigError(
            f"The 'effect' of {func} cannot exceed the discordance for binary scores "
            f"(|effect| <= psi). Got effect={effect!r}, discordance={discordance!r}."
        )
    z_a = _z(alpha, alternative)
    z_b = _NORMAL.inv_cdf(target)
    connor = (z_a * math.sqrt(psi) + z_b * math.sqrt(max(psi - delta * delta, 0.0))) ** 2 / delta**2
    n_connor = max(2, math.ceil(connor - 1e-9))
    if method == "normal":
        return n_connor
    lo, hi = 2, max(4, n_connor)
    while _exact_power(delta, hi, psi, alpha, alternative) < target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _exact_power(delta, mid, psi, alpha, alternative) >= target:
            hi = mid
        else:
            lo = mid
    return hi
