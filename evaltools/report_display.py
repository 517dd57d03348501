"""Notebook display objects for reports: escaped HTML tables and side-by-side item cards.

Model outputs, queries and judge reasons are untrusted text. Everything
these objects render goes through :func:`html.escape`, cell by cell, and is
shown as preformatted text, never as Markdown or HTML, so an output holding
``<script>``, ``<img onerror=...>`` or a ``javascript:`` link reads as text
and never runs. They are frozen dataclasses with ``_repr_html_``: the last
expression of a notebook cell displays them.

Their CSS classes (``et-*``) are styled by the report template
(:mod:`evaltools.report_export`); the layout-critical styles are inline so
they also read well in JupyterLab.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import pandas as pd

from .errors import InputError

if TYPE_CHECKING:
    from .gate import GateResult

_PRE = "white-space:pre-wrap;word-break:normal;overflow-wrap:break-word;margin:0;font-family:inherit;font-size:0.92em"
_VERDICT_COLORS = {"PASS": "#1a7f37", "NEEDS_REVIEW": "#9a6700", "BLOCK": "#cf222e"}


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


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
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
    if _missing(value):
        return "&ndash;"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        v = float(value)
        if not math.isfinite(v):
            return esc(v)
        if (column == "n" or column.startswith("n_")) and v.is_integer():  # counts with NaN became floats
            return str(int(v))
        if column in percent:
            return f"{100 * v:.1f}%"
        if "pvalue" in column:
            return "&lt; 0.001" if v < 0.001 else f"{v:.3f}"
        return f"{v:.{digits}f}"
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

    def _repr_html_(self) -> str:
        cols = list(self.frame.columns)
        head = "".join(f"<th>{esc(self.labels.get(c, c))}</th>" for c in cols)
        body = []
        for row in self.frame.itertuples(index=False, name=None):
            cells = []
            for c, v in zip(cols, row, strict=True):
                text = format_value(v, c, digits=self.digits, percent=self.percent)
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
        labels: display names for columns.

    Returns:
        A :class:`Table` (displays itself in a notebook).

    Raises:
        InputError: ``frame`` is not a DataFrame or lacks a requested column.

    Examples:
        >>> t = table(pd.DataFrame({"output": ["<script>alert(1)</script>"]}))
        >>> "<script>" in t._repr_html_(), "&lt;script&gt;" in t._repr_html_()
        (False, True)
    """
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
    return Table(shown.reset_index(drop=True), caption, n, digits, tuple(percent), dict(labels or {}))


@dataclass(frozen=True, eq=False)
class Cards:
    """Items shown as cards with their texts side by side; build with :func:`side_by_side`."""

    frame: pd.DataFrame
    """One row per card."""
    texts: tuple[tuple[str, str], ...]
    """(column, label) of the text blocks shown side by side."""
    meta: tuple[str, ...]
    """Columns shown in each card's heading."""
    details: tuple[str, ...]
    """Columns shown under the texts."""
    caption: str = ""
    """Shown above the cards."""
    n_total: int = 0
    """Rows before the cut."""
    anchor: bool = False
    """Give each item's first card the anchor ``item-<item_id>`` (the gate's Markdown links to it)."""

    def _repr_html_(self) -> str:
        if self.frame.empty:
            return f'<p class="et-empty">{esc(self.caption or "Items")}: none.</p>'
        out = [f'<p class="et-caption"><b>{esc(self.caption)}</b></p>'] if self.caption else []
        seen: set[str] = set()
        width = len(self.texts)
        for _, row in self.frame.iterrows():
            attr = ""
            item = str(row.get("item_id", ""))
            if self.anchor and item and item not in seen:
                seen.add(item)
                attr = f' id="item-{esc(item)}"'
            head = " &middot; ".join(
                f'<span class="et-key">{esc(c)}</span> {format_value(row[c], c)}' for c in self.meta if c in row
            )
            blocks = []
            for col, label in self.texts:
                value = row.get(col)
                body = '<i class="et-na">(none)</i>' if _missing(value) else f'<pre style="{_PRE}">{esc(value)}</pre>'
                blocks.append(f'<div class="et-block"><div class="et-label">{esc(label)}</div>{body}</div>')
            details = "".join(
                f'<div class="et-detail"><span class="et-key">{esc(c)}</span> '
                f'<span style="{_PRE}">{format_value(row[c], c, max_chars=2000)}</span></div>'
                for c in self.details if c in row and not _missing(row[c])
            )  # fmt: skip
            out.append(
                f'<div class="et-card"{attr} style="border:1px solid #ddd;border-radius:6px;padding:8px;margin:8px 0">'
                f'<div class="et-card-head">{head}</div>'
                f'<div class="et-cols" style="display:grid;grid-template-columns:repeat({width},minmax(0,1fr));'
                f'gap:10px;margin-top:6px">{"".join(blocks)}</div>{details}</div>'
            )
        if self.n_total > len(self.frame):
            out.append(f'<p class="et-more">Showing {len(self.frame)} of {self.n_total} items.</p>')
        return '<div class="et-cards">' + "".join(out) + "</div>"


def side_by_side(
    frame: pd.DataFrame,
    *,
    texts: Sequence[str] | Mapping[str, str] = ("query", "ideal", "output"),
    meta: Sequence[str] = ("run_id", "dimension", "item_id", "stratum", "value", "verdict"),
    details: Sequence[str] = ("failure", "detail"),
    caption: str = "",
    max_items: int | None = 40,
    anchor: bool = False,
) -> Cards:
    """Show items as cards: heading, then text columns side by side (query, ideal, output...).

    Args:
        frame: one row per card, e.g. :func:`evaltools.analysis.worst_items`.
        texts: text columns shown side by side (a mapping gives labels).
        meta: columns in the card heading (missing ones are skipped).
        details: columns under the texts (failure mode, the failing path...).
        caption: a caption.
        max_items: at most this many cards (None: all).
        anchor: add ``id="item-<item_id>"`` on each item's first card.

    Returns:
        A :class:`Cards` (displays itself in a notebook).

    Raises:
        InputError: a text column is missing.

    Examples:
        >>> out = '<img src=x onerror="x()">'
        >>> cards = side_by_side(pd.DataFrame({"query": ["q"], "ideal": ["i"], "output": [out]}))
        >>> "<img" in cards._repr_html_()
        False
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"The 'frame' parameter of side_by_side must be a DataFrame. Got {type(frame).__name__}.")
    pairs = list(texts.items()) if isinstance(texts, Mapping) else [(c, c) for c in texts]
    missing = [c for c, _ in pairs if c not in frame.columns]
    if missing:
        raise InputError(f"Unknown text column(s) {missing} in side_by_side. Valid columns: "
                         f"{', '.join(map(str, frame.columns))}.")  # fmt: skip
    shown = frame if max_items is None else frame.head(max_items)
    return Cards(shown.reset_index(drop=True), tuple(pairs), tuple(meta), tuple(details), caption, len(frame), anchor)


@dataclass(frozen=True)
class Note:
    """A short paragraph of escaped text; build with :func:`note`."""

    text: str
    """The text."""
    kind: str = "info"
    """``info`` or ``warning``."""

    def _repr_html_(self) -> str:
        return f'<p class="et-note et-{esc(self.kind)}">{esc(self.text)}</p>'


def note(text: str, *, kind: str = "info") -> Note:
    """An escaped paragraph (computed text such as counts; never model output as markup).

    Args:
        text: the text.
        kind: ``info`` or ``warning`` (styling only).

    Returns:
        A :class:`Note`.
    """
    return Note(str(text), kind)


@dataclass(frozen=True, eq=False)
class GateSummary:
    """The gate verdict of each candidate, with reasons; build with :func:`gate_summary`."""

    gates: tuple[Any, ...]
    """:class:`~evaltools.gate.GateResult` objects."""

    def _repr_html_(self) -> str:
        if not self.gates:
            return '<p class="et-empty">No gate verdict (no candidate).</p>'
        parts = []
        for g in self.gates:
            verdict = g.verdict.value
            color = _VERDICT_COLORS.get(verdict, "#333")
            frame = g.to_frame()[["dimension", "verdict", "gating", "n", "effect_scaled", "ci_low_scaled",
                                  "ci_high_scaled", "pvalue_adjusted", "mde_scaled", "reasons"]]  # fmt: skip
            parts.append(
                f'<div class="et-gate"><p style="font-size:1.15em"><b>{esc(g.comparison.candidate_run)}</b> vs '
                f"{esc(g.comparison.baseline_run)}: "
                f'<b style="color:{color}">{esc(verdict)}</b> (exit code {int(g.exit_code)})</p>'
                f"<p>{esc(g.summary)}</p>"
                + table(frame, percent=("effect_scaled", "ci_low_scaled", "ci_high_scaled", "mde_scaled"),
                        labels={"effect_scaled": "effect", "ci_low_scaled": "CI low", "ci_high_scaled": "CI high",
                                "mde_scaled": "MDE", "pvalue_adjusted": "adj. p"})._repr_html_()
                + "</div>"
            )  # fmt: skip
        return "".join(parts)


def gate_summary(gates: Sequence[GateResult]) -> GateSummary:
    """Show gate verdicts: one banner and one table of dimension verdicts per candidate.

    Args:
        gates: results of :func:`evaltools.analysis.gate_runs`.

    Returns:
        A :class:`GateSummary`.
    """
    return GateSummary(tuple(gates))
