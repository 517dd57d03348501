"""Paired statistics for comparing two runs on a golden set.

Paired tests per score kind with clustered standard errors, Holm and
Benjamini-Hochberg corrections, power and minimum detectable effect,
post-stratified estimates and Wilson intervals. Methods: STATS.md; results
are frozen dataclasses with ``to_frame()`` and an HTML view.
"""

from __future__ import annotations

from evaltools.stats._compare import UnmatchedItemsError, compare, compare_paired, holm, pair_tables
from evaltools.stats._estimate import (
    PostStratification,
    ProportionEstimate,
    StratifiedEstimate,
    StratumEstimate,
    bounded_mean_interval,
    check_shares,
    post_stratify,
    stratified_mean,
    wilson_interval,
)
from evaltools.stats._paired import analyze_cell
from evaltools.stats._power import mde, n_required, power
from evaltools.stats._results import Comparison, PairedResult, PairedScores

__all__ = [
    "Comparison",
    "PairedResult",
    "PairedScores",
    "PostStratification",
    "ProportionEstimate",
    "StratifiedEstimate",
    "StratumEstimate",
    "UnmatchedItemsError",
    "bounded_mean_interval",
    "compare",
    "mde",
    "n_required",
    "post_stratify",
    "power",
    "wilson_interval",
    "analyze_cell",
    "check_shares",
    "compare_paired",
    "holm",
    "pair_tables",
    "stratified_mean",
]
