"""The regression gate: baseline vs candidate, one verdict per dimension and overall.

Verdicts (STATS.md 1.5, "Recommended gate design"); effects are shares of
each dimension's scale range, so "1 %" is 0.01 for pass/fail scores and 0.04
points on a 1-5 scale:

* **BLOCK**: a regression on a gating dimension is statistically shown:
  Holm-adjusted p <= alpha across the gating dimensions and a negative effect.
* **NEEDS_REVIEW**: a human must look. An observed drop of at least the
  tolerance (default 1 %) that is not shown; or a gating dimension whose
  one-sided ``1 - alpha`` lower bound does not rule out a drop of the margin
  (the set is too small to certify it); or a stratum that regressed
  (Benjamini-Hochberg); or too few items to test; or an untrusted judge.
  Each reason states the minimum detectable effect and how many items it
  would take to detect the tolerance.
* **PASS**: none of the above: every gating dimension is certified
  non-inferior within the margin (default: the tolerance).

Untrusted dimensions (their judge failed calibration) are reported, never
PASS and never BLOCK, and are left out of the Holm family.

Exit codes (constants below): ``EXIT_PASS = 0``, ``EXIT_NEEDS_REVIEW = 3``,
``EXIT_BLOCK = 4``, ``EXIT_ERROR = 2`` for bad usage or input (argparse's own
code). 1 is left to uncaught exceptions so that a crash is never read as a
verdict.

JUnit XML: one test case per dimension; BLOCK is a failure of type
``regression``, NEEDS_REVIEW a failure of type ``needs_review`` (a review is
required, so it must not look green), PASS a passing case.
"""

from __future__ import annotations

from evaltools.gate._noise import DimensionNoise, GateSimulation, NoiseFloor, aa_noise_floor, simulate_gate
from evaltools.gate._outcome import EXIT_BLOCK, EXIT_ERROR, EXIT_NEEDS_REVIEW, EXIT_PASS, Verdict
from evaltools.gate._render import gate_html, gate_text
from evaltools.gate._verdict import (
    DimensionVerdict,
    GateResult,
    ProductionEstimate,
    gate,
)

__all__ = [
    "EXIT_BLOCK",
    "EXIT_ERROR",
    "EXIT_NEEDS_REVIEW",
    "EXIT_PASS",
    "DimensionNoise",
    "DimensionVerdict",
    "GateResult",
    "GateSimulation",
    "NoiseFloor",
    "ProductionEstimate",
    "Verdict",
    "aa_noise_floor",
    "gate",
    "gate_html",
    "simulate_gate",
    "gate_text",
]
