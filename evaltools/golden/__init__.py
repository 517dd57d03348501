"""Golden sets: the task-specific queries with human-labelled ideal responses.

:func:`load_golden` reads and validates ``golden/<name>/`` (items, card,
schemas) into a :class:`GoldenSet` whose ``version`` is its content hash;
:func:`check_golden` runs the quality checks (strata mix, exact and near
duplicates, calibration leaks); :func:`sample_golden` draws a stratified set
from production logs.
"""

from __future__ import annotations

from evaltools.golden._qa import GoldenCheck, check_golden
from evaltools.golden._sample import GoldenSample, largest_remainder, sample_golden
from evaltools.golden._set import DEFAULT_TARGETS, DEFAULT_TOLERANCE, STRATA, GoldenSet, GoldenSetWarning, load_golden

__all__ = [
    "DEFAULT_TARGETS",
    "DEFAULT_TOLERANCE",
    "STRATA",
    "GoldenCheck",
    "GoldenSample",
    "GoldenSet",
    "GoldenSetWarning",
    "check_golden",
    "largest_remainder",
    "load_golden",
    "sample_golden",
]
