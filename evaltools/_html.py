"""HTML primitives shared by every result's notebook view and the reports: escaping, values, tables.

Model outputs are text, never markup: every value goes through :func:`esc`.
:func:`table` renders a DataFrame with readable headers, formatted numbers,
verdict chips and intervals; statistics and calibration results use it for
their ``_repr_html_``, the report notebooks for every table.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

from evaltools.errors import InputError

if TYPE_CHECKING:  # pandas loads on the first table: escaping a string needs none of it
    import pandas as pd

PRE_STYLE = (
    "white-space:pre-wrap;word-break:normal;overflow-wrap:break-word;margin:0;font-family:inherit;font-size:0.92em"
)
VERDICT_COLORS = {"PASS": "#1a7f37", "NEEDS_REVIEW": "#9a6700", "BLOCK": "#cf222e"}

TONES = {"good": "#1a7f37", "warn": "#9a6700", "bad": "#cf222e", "info": "#4C72B0"}
"""Colours of the four tones a verdict can have."""

VERDICT_TONES: dict[str, str] = {
    "PASS": "good", "NEEDS_REVIEW": "warn", "BLOCK": "bad", "trusted": "good", "not trusted": "bad",
    "untrusted": "bad", "regressed": "bad", "fixed": "good", "scoring changed": "warn", "win": "good",
    "loss": "bad", "tie": "info", "pass": "good", "fail": "bad", "unscored": "warn", "ALERT": "bad", "QUIET": "good",
    "significant": "bad",
}  # fmt: skip
"""Cell values shown as a coloured verdict chip in tables (columns named in :data:`VERDICT_COLUMNS`)."""

VERDICT_COLUMNS = ("verdict", "overall", "status", "direction", "outcome", "change", "baseline_verdict",
                   "candidate_verdict")  # fmt: skip
"""Columns whose values are verdicts."""

LABELS: dict[str, str] = {
    "run_id": "run", "item_id": "item", "n_scored": "scored", "n_unscored": "unscored", "n_failed": "failed",
    "n_items": "items", "n_paired": "labels", "n_alerts": "alerts", "n_windows": "windows",
    "n_judge_unscored": "judge unscored", "pass_rate": "pass rate", "fail_rate": "failure rate",
    "ci_method": "interval", "pvalue": "p", "pvalue_adjusted": "adj. p", "effect_scaled": "effect",
    "diff_scaled": "change", "mde_scaled": "MDE", "mde": "MDE", "n_for_tolerance": "n for tolerance",
    "baseline_mean": "baseline", "candidate_mean": "candidate", "baseline_value": "baseline",
    "candidate_value": "candidate", "win_share": "win", "tie_share": "tie", "loss_share": "loss",
    "top_failure": "top failure", "window_start": "window", "mean_scaled": "mean (share of scale)",
    "scale_min": "scale min", "scale_max": "scale max", "certified_margin": "certified margin",
    "human_alpha": "human alpha", "lam": "lambda",
}  # fmt: skip
"""Readable column headers used when a table is given no label of its own."""

INTERVAL_COLUMNS = (("ci_low", "ci_high"), ("ci_low_scaled", "ci_high_scaled"), ("raw_ci_low", "raw_ci_high"))


def label(column: str) -> str:
    """A readable header for a column name (``n_scored`` -> ``scored``, ``foo_bar`` -> ``foo bar``).

    Args:
        column: the column name.

    Returns:
        The header text.

    Examples:
        >>> label("n_scored"), label("diff_scaled"), label("top_failure"), label("share")
        ('scored', 'change', 'top failure', 'share')
    """
    return LABELS.get(column, str(column).replace("_", " "))


def chip(value: Any, tone: str | None = None) -> str:
    """A verdict as a coloured chip (escaped), e.g. ``PASS`` in green.

    Args:
        value: the verdict text.
        tone: ``good``, ``warn``, ``bad`` or ``info`` (default from :data:`VERDICT_TONES`).

    Returns:
        HTML text.
    """
    text = str(value)
    tone = tone or VERDICT_TONES.get(text, "info")
    colour = TONES.get(tone, TONES["info"])
    return (f'<span class="et-chip et-{esc(tone)}" style="color:#fff;background:{colour};border-radius:3px;'
            f'padding:0 6px;font-weight:600;white-space:nowrap">{esc(text.replace("_", " "))}</span>')  # fmt: skip


def esc(value: Any) -> str:
    """HTML-escape any value's text (quotes included).

    Args:
        value: anything; None becomes an empty string.

    Returns:
        Text safe to place in HTML element content or a quoted attribute.

    Examples:
        >>> esc('<img src=x onerror="alert(1)">')
        '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    return "" if value is None else html.escape(str(value), quote=True)


def is_missing(value: Any) -> bool:
    """Whether a cell is empty: None, NaN, ``pd.NA`` or ``pd.NaT``."""
    if value is None:
        return True
    import pandas as pd

    if value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def format_value(value: Any, column: str = "", *, digits: int = 3, percent: Sequence[str] = (),
                 max_chars: int = 600) -> str:  # fmt: skip
    """Format one table cell as escaped HTML text.

    Args:
        value: the cell.
        column: its column name; names containing ``pvalue`` get p-value
            formatting (``< 0.001``).
        digits: decimals for floats.
        percent: columns shown as percentages.
        max_chars: longer text is cut with an ellipsis (cards show it whole).

    Returns:
        Escaped text; an en dash for missing values.

    Examples:
        >>> format_value(0.00012, "pvalue_adjusted"), format_value(0.25, "share", percent=["share"])
        ('&lt; 0.001', '25.0%')
        >>> format_value("<b>hi</b>")
        '&lt;b&gt;hi&lt;/b&gt;'
    """
    if is_missing(value):
        return "&ndash;"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        v = float(value)
        if not math.isfinite(v):
            return "&ndash;" if math.isnan(v) else ("&infin;" if v > 0 else "&minus;&infin;")
        if (column == "n" or column.startswith("n_")) and v.is_integer():  # counts with NaN became floats
            return str(int(v))
        if column in percent:
            return f"{100 * v:.1f}%"
        if "pvalue" in column:
            return "&lt; 0.001" if v < 0.001 else f"{v:.3f}"
        return f"{v:.{digits}f}"
    import pandas as pd

    if isinstance(value, pd.Timestamp):
        return esc(value.strftime("%Y-%m-%d %H:%M" if (value.hour, value.minute) != (0, 0) else "%Y-%m-%d"))
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    text = str(value)
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "\u2026"
    return esc(text)


@dataclass(frozen=True, eq=False)
class Table:
    """An escaped HTML table of a DataFrame; build with :func:`table`."""

    frame: pd.DataFrame
    """The rows to show (already cut to ``max_rows``)."""
    caption: str = ""
    """Shown above the table."""
    n_total: int = 0
    """Rows before the cut."""
    digits: int = 3
    """Decimals for floats."""
    percent: tuple[str, ...] = ()
    """Columns shown as percentages."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Display names of columns."""
    confidence: float = 0.95
    """Coverage of the intervals, for the merged interval column's header."""

    def _repr_html_(self) -> str:
        cols = list(self.frame.columns)
        # A (low, high) pair of columns reads as one "95% CI" column: [low, high].
        merged = {lo: hi for lo, hi in INTERVAL_COLUMNS if lo in cols and hi in cols}
        # ``kappa`` with ``kappa_low`` and ``kappa_high``: the interval of a named estimate.
        merged.update({c: f"{c[:-4]}_high" for c in cols if c.endswith("_low") and f"{c[:-4]}_high" in cols})
        shown = [c for c in cols if c not in merged.values()]
        level = f"{round(100 * self.confidence)}% CI" if self.confidence else "CI"

        def head_of(c: str) -> str:
            if c in merged:
                named = c not in dict(INTERVAL_COLUMNS) and c[:-4] not in ("ci", "raw_ci")
                return self.labels.get(c, f"{label(c[:-4])} {level}" if named else level)
            return self.labels.get(c, label(c))

        head = "".join(f"<th>{esc(head_of(c))}</th>" for c in shown)
        body = []
        for row in self.frame.itertuples(index=False, name=None):
            values = dict(zip(cols, row, strict=True))
            cells = []
            for c in shown:
                v = values[c]
                if c in merged:
                    lo = format_value(v, c, digits=self.digits, percent=self.percent)
                    hi = format_value(values[merged[c]], merged[c], digits=self.digits, percent=self.percent)
                    text = "&ndash;" if is_missing(v) else f"[{lo}, {hi}]"
                    cells.append(f'<td class="et-num">{text}</td>')
                    continue
                text = format_value(v, c, digits=self.digits, percent=self.percent)
                if c in VERDICT_COLUMNS and not is_missing(v) and str(v) in VERDICT_TONES:
                    cells.append(f'<td class="et-txt">{chip(v)}</td>')
                    continue
                if isinstance(v, Real) and not isinstance(v, bool):
                    cls = "et-num"
                else:  # short labels stay on one line; long text wraps in a readable width
                    cls = "et-long" if len(text) > 40 else "et-txt"
                cells.append(f'<td class="{cls}">{text}</td>')
            body.append(f"<tr>{''.join(cells)}</tr>")
        cap = f"<caption>{esc(self.caption)}</caption>" if self.caption else ""
        more = ""
        if self.n_total > len(self.frame):
            more = f'<p class="et-more">Showing {len(self.frame)} of {self.n_total} rows.</p>'
        if not cols or not body:
            return f'<div class="et-tablewrap"><p class="et-empty">{esc(self.caption or "Table")}: none.</p></div>'
        return (
            '<div class="et-tablewrap" style="overflow-x:auto">'
            f'<table class="et-table">{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            f"{more}</div>"
        )


def table(
    frame: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    caption: str = "",
    max_rows: int | None = 50,
    digits: int = 3,
    percent: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    confidence: float = 0.95,
) -> Table:
    """An escaped HTML view of a DataFrame for a report.

    Args:
        frame: the table.
        columns: the columns to show, in order (default: all).
        caption: a caption.
        max_rows: show at most this many rows (None: all); the view says
            how many were left out.
        digits: decimals for floats.
        percent: columns to show as percentages.
        labels: display names for columns (default: :func:`label`). A pair
            of interval columns (``ci_low`` and ``ci_high``, or their
            ``_scaled`` forms) is shown as one ``95% CI`` column.
        confidence: coverage of the intervals, for that column's header.

    Returns:
        A :class:`Table` (displays itself in a notebook).

    Raises:
        InputError: ``frame`` is not a DataFrame or lacks a requested column.

    Examples:
        >>> import pandas as pd
        >>> t = table(pd.DataFrame({"output": ["<script>alert(1)</script>"]}))
        >>> "<script>" in t._repr_html_(), "&lt;script&gt;" in t._repr_html_()
        (False, True)
    """
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"The 'frame' parameter of table must be a DataFrame. Got {type(frame).__name__} instead.")
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            valid = ", ".join(map(str, frame.columns))
            raise InputError(f"Unknown column(s) {missing} in table. Valid columns: {valid}.")
        frame = frame[list(columns)]
    n = len(frame)
    shown = frame if max_rows is None else frame.head(max_rows)
    return Table(shown.reset_index(drop=True), caption, n, digits, tuple(percent), dict(labels or {}), confidence)
