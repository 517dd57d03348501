"""The :class:`Score` every scorer returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

ScoreKind = Literal["binary", "ordinal", "continuous"]
"""How a score's value is measured; it decides the paired test used on it.

* ``binary``: 0.0 or 1.0 (pass/fail).
* ``ordinal``: integers on a declared scale such as 1-5.
* ``continuous``: any float, usually in [0, 1].
"""


ITEM_LEVEL_REASONS = frozenset({"no_schema", "no_required_fields", "no_expected", "empty_ideal", "missing_ideal"})
"""Unscored reasons that depend on the golden item only, never on the output: the
dimension does not apply to the item (no schema, no expected fields, no ideal). The gate
does not count an item unscored for one of these on both sides as a coverage hole."""


@dataclass(frozen=True, slots=True)
class Score:
    """One scorer's verdict on one output.

    A score that could not be computed (an unparsable judge reply, a missing
    ideal response) is *unscored*: its ``value`` is NaN and ``reason`` says
    why. It is never silently 0.
    """

    value: float
    """The score; NaN when unscored. Higher is better."""

    kind: ScoreKind = "continuous"
    """How ``value`` is measured: ``binary``, ``ordinal`` or ``continuous``."""

    reason: str | None = None
    """Why the item is unscored (short machine-friendly code such as
    ``"grade_parse_failure"``); None when scored."""

    explanation: str | None = None
    """Human-readable detail: the failing JSON path, the judge's reason..."""

    failure: str | None = None
    """The failure mode when the score is a failure (``invalid_json``,
    ``schema_violation``, ``missing_field``, ``low_similarity``...); None otherwise."""

    metadata: dict[str, Any] = field(default_factory=dict)
    """Anything else worth keeping (matched fields, the judge's raw reply)."""

    @property
    def scored(self) -> bool:
        """Whether the score has a value (is not unscored)."""
        return not math.isnan(self.value)

    @classmethod
    def unscored(cls, reason: str, *, kind: ScoreKind = "continuous", explanation: str | None = None) -> Score:
        """Build an explicit unscored result.

        Args:
            reason: a short code for why there is no score.
            kind: the kind the score would have had.
            explanation: human-readable detail.

        Returns:
            A :class:`Score` with value NaN.

        Examples:
            >>> Score.unscored("empty_output").scored
            False
        """
        return cls(value=math.nan, kind=kind, reason=reason, explanation=explanation)
