"""The gate's three verdicts, their exit codes, and how an effect is written.

The exit codes are the command line's single policy (:mod:`evaltools.cli`):
0 PASS, 3 NEEDS_REVIEW, 4 BLOCK, 2 when the gate could not decide (bad input);
1 is left to Python's uncaught exceptions, so a crash never reads as a verdict.
"""

from __future__ import annotations

import math
from enum import StrEnum

from evaltools._util import EXIT_BLOCK, EXIT_ERROR, EXIT_OK, EXIT_REVIEW

__all__ = ["EXIT_BLOCK", "EXIT_ERROR", "EXIT_NEEDS_REVIEW", "EXIT_PASS", "Verdict", "pct"]

EXIT_PASS = EXIT_OK
"""Exit code of a PASS (0)."""
EXIT_NEEDS_REVIEW = EXIT_REVIEW
"""Exit code of NEEDS_REVIEW (3)."""


class Verdict(StrEnum):
    """The gate's three outcomes, from best to worst."""

    PASS = "PASS"
    NEEDS_REVIEW = "NEEDS_REVIEW"
    BLOCK = "BLOCK"

    @property
    def exit_code(self) -> int:
        """The process exit code of this verdict."""
        return {"PASS": EXIT_PASS, "NEEDS_REVIEW": EXIT_NEEDS_REVIEW, "BLOCK": EXIT_BLOCK}[self.value]

    @property
    def severity(self) -> int:
        """0 for PASS, 1 for NEEDS_REVIEW, 2 for BLOCK."""
        return ("PASS", "NEEDS_REVIEW", "BLOCK").index(self.value)


def pct(value: float, digits: int = 1) -> str:
    """A share of the scale as a signed percentage ("-3.2%"); "n/a" for NaN."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{100 * value:+.{digits}f}%".replace("+0.0%", "0.0%").replace("-0.0%", "0.0%")
