"""Parameter checks shared by the public functions of :mod:`evaltools.stats`.

Public functions validate once at the boundary (STYLE.md rule 4) and private
helpers trust their inputs. Messages follow scikit-learn's template.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from evaltools.errors import ConfigError

SeedLike = np.random.Generator | int | None
"""What every random function of evaltools accepts as ``rng``."""


def check_probability(value: Any, name: str, func: str, *, open_low: bool = True, open_high: bool = True) -> float:
    """Check that ``value`` is a float strictly (or not) inside (0, 1)."""
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        v = float(value)
        ok = (v > 0 if open_low else v >= 0) and (v < 1 if open_high else v <= 1)
    if not ok:
        lo = "(0" if open_low else "[0"
        hi = "1)" if open_high else "1]"
        raise ConfigError(f"The '{name}' parameter of {func} must be a float in {lo}, {hi}. Got {value!r} instead.")
    return float(value)


def check_positive(value: Any, name: str, func: str, *, allow_zero: bool = False) -> float:
    """Check that ``value`` is a finite float > 0 (or >= 0)."""
    ok = isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)
    ok = ok and math.isfinite(float(value)) and (float(value) >= 0 if allow_zero else float(value) > 0)
    if not ok:
        what = "a finite float >= 0" if allow_zero else "a finite float > 0"
        raise ConfigError(f"The '{name}' parameter of {func} must be {what}. Got {value!r} instead.")
    return float(value)


def check_int(value: Any, name: str, func: str, *, minimum: int) -> int:
    """Check that ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < minimum:
        raise ConfigError(f"The '{name}' parameter of {func} must be an int >= {minimum}. Got {value!r} instead.")
    return int(value)


def check_choice(value: Any, name: str, func: str, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices``."""
    options = tuple(choices)
    if value not in options:
        listed = ", ".join(repr(c) for c in options)
        raise ConfigError(f"The '{name}' parameter of {func} must be one of {listed}. Got {value!r} instead.")
    return str(value)


def resolve_seed(rng: SeedLike, func: str) -> int:
    """Turn ``rng`` into an integer seed that reproduces the computation.

    An int is used as is; ``None`` draws fresh OS entropy; a Generator is asked
    for one integer. The returned seed is recorded in results, so passing it
    back as ``rng=`` reproduces them exactly.
    """
    if rng is None:
        return int(np.random.SeedSequence().entropy % (2**63))  # type: ignore[operator]
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1))
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool) and int(rng) >= 0:
        return int(rng)
    raise ConfigError(
        f"The 'rng' parameter of {func} must be a numpy Generator, a non-negative int or None. Got {rng!r} instead."
    )
