"""Notebook display objects for reports: escaped HTML tables and side-by-side item cards.

Model outputs, queries and judge reasons are untrusted text. Everything
these objects render goes through :func:`html.escape`, cell by cell, and is
shown as preformatted text, never as Markdown or HTML, so an output holding
``<script>``, ``<img onerror=...>`` or a ``javascript:`` link reads as text
and never runs. They are frozen dataclasses with ``_repr_html_``: the last
expression of a notebook cell displays them.

Their CSS classes (``et-*``) are styled by the report template
(:mod:`evaltools.report._export`); the layout-critical styles are inline so
they also read well in JupyterLab.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from evaltools.errors import InputError

if TYPE_CHECKING:
    from evaltools.gate import GateResult

from evaltools._html import (
    PRE_STYLE,
    TONES,
    VERDICT_TONES,
    chip,
    esc,
    format_value,
    is_missing,
)


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
                body = f'<pre style="{PRE_STYLE}">{esc(value)}</pre>'
                if is_missing(value):
                    body = '<i class="et-na">(none)</i>'
                blocks.append(f'<div class="et-block"><div class="et-label">{esc(label)}</div>{body}</div>')
            details = "".join(
                f'<div class="et-detail"><span class="et-key">{esc(c)}</span> '
                f'<span style="{PRE_STYLE}">{format_value(row[c], c, max_chars=2000)}</span></div>'
                for c in self.details if c in row and not is_missing(row[c])
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
        frame: one row per card, e.g. :func:`evaltools.report.worst_items`.
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
    calibration_href: str | None = "calibration.html"
    """Where an untrusted dimension links to (None: no link)."""

    def _repr_html_(self) -> str:
        if not self.gates:
            return '<p class="et-empty">No gate verdict (no candidate).</p>'
        from evaltools.gate import gate_html

        return "".join(gate_html(g, calibration_href=self.calibration_href) for g in self.gates)


def gate_summary(gates: Sequence[GateResult], *, calibration_href: str | None = "calibration.html") -> GateSummary:
    """Show gate verdicts: one banner and one compact table of dimension verdicts per candidate.

    The table is the one a :class:`~evaltools.gate.GateResult` shows in a
    notebook: verdict, n, effect with its interval, adjusted p and MDE per
    dimension, the reasons collapsed under each row.

    Args:
        gates: results of :func:`evaltools.report.gate_runs`.
        calibration_href: where an untrusted dimension links to (None: no link).

    Returns:
        A :class:`GateSummary`.
    """
    return GateSummary(tuple(gates), calibration_href)


# --------------------------------------------------------------------------- headline card

HEADLINE_KEY = "evaltools_headline"
"""Display-metadata key marking a :class:`Headline`; the exporter moves it to the top of the page."""

Point = str | tuple[str, str]
"""A line of a headline card: plain text, or ``(text, href)`` for a link."""


def _point_html(point: Point) -> str:
    if isinstance(point, tuple):
        text, href = point
        return f'<a href="{esc(href)}">{esc(text)}</a>'
    return esc(point)


@dataclass(frozen=True)
class Headline:
    """A report's verdict card: what changed, is it safe, what to look at; build with a ``*_headline`` function.

    In a notebook it shows where it is displayed; in the exported HTML it is
    moved right under the page header, above the fold, and its verdict and
    title are written into the page's description so ``index.html`` shows them.
    """

    verdict: str
    """The verdict word (``PASS``, ``BLOCK``, ``2 OF 2 UNTRUSTED``...)."""
    tone: str
    """``good``, ``warn``, ``bad`` or ``info``: the verdict's colour."""
    title: str
    """One sentence: what changed and whether it is safe."""
    points: tuple[Point, ...] = ()
    """What matters, one line each (most important first)."""
    look_at: tuple[tuple[str, str], ...] = ()
    """``(text, href)``: where to look next (sections of the page, other reports)."""
    facts: tuple[tuple[str, str], ...] = ()
    """``(label, value)``: the key numbers, shown as tiles."""

    def meta(self) -> dict[str, Any]:
        """The verdict, tone and title, as published for the report index."""
        return {"verdict": self.verdict, "tone": self.tone, "headline": self.title}

    def _repr_html_(self) -> str:
        colour = TONES.get(self.tone, TONES["info"])
        facts = "".join(
            f'<div class="et-fact" style="display:inline-block;margin:0 18px 6px 0"><div class="et-key">{esc(k)}</div>'
            f'<div style="font-size:1.25em;font-weight:600">{esc(v)}</div></div>'
            for k, v in self.facts
        )
        points = "".join(f"<li>{_point_html(p)}</li>" for p in self.points)
        look = " &middot; ".join(f'<a href="{esc(h)}">{esc(t)}</a>' for t, h in self.look_at)
        return (
            f'<section class="et-headline et-{esc(self.tone)}" style="border:1px solid {colour};border-left:6px solid '
            f'{colour};border-radius:6px;padding:10px 14px;margin:8px 0 14px">'
            f'<div style="display:flex;gap:12px;align-items:baseline;flex-wrap:wrap">'
            f'<span class="et-verdict" style="background:{colour};color:#fff;font-weight:700;border-radius:4px;'
            f'padding:2px 10px;font-size:1.1em">{esc(self.verdict.replace("_", " "))}</span>'
            f'<span class="et-headline-title" style="font-size:1.15em;font-weight:600">{esc(self.title)}</span></div>'
            + (f'<div class="et-facts" style="margin-top:8px">{facts}</div>' if facts else "")
            + (f'<ul class="et-points" style="margin:6px 0 4px 18px;padding:0">{points}</ul>' if points else "")
            + (f'<p class="et-look" style="margin:4px 0 0"><b>Look at:</b> {look}</p>' if look else "")
            + "</section>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict[str, str], dict[str, Any]]:
        from evaltools.report._data import HEADER_KEY

        text = f"{self.verdict}: {self.title}" + "".join(
            f"\n- {p[0] if isinstance(p, tuple) else p}" for p in self.points
        )
        return {"text/html": self._repr_html_(), "text/plain": text}, {HEADER_KEY: self.meta(), HEADLINE_KEY: True}


def _interval_text(value: float, lo: float, hi: float, digits: int = 2) -> str:
    if is_missing(value):
        return "n/a"
    if is_missing(lo) or is_missing(hi):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _pct(v: float, digits: int = 1) -> str:
    """A share of the scale as a signed percentage (``-3.2%``); ``n/a`` for NaN."""
    if is_missing(v) or not math.isfinite(v):
        return "n/a"
    return f"{100 * v:+.{digits}f}%".replace(f"+{0:.{digits}f}%", f"{0:.{digits}f}%").replace(
        f"-{0:.{digits}f}%", f"{0:.{digits}f}%")


def comparison_headline(
    gates: Sequence[GateResult], *, calibration_href: str = "calibration.html", max_points: int = 6
) -> Headline:
    """The comparison report's card: the worst gate verdict, the decisive dimensions, untrusted judges.

    Args:
        gates: results of :func:`evaltools.report.gate_runs`.
        calibration_href: where an untrusted dimension links to.
        max_points: at most this many decisive dimensions are listed.

    Returns:
        A :class:`Headline`.
    """
    if not gates:
        return Headline("NO CANDIDATE", "info", "No candidate run to compare with the baseline.")
    worst = max(gates, key=lambda g: g.verdict.severity)
    verdict = worst.verdict.value
    base = gates[0].comparison.baseline_run
    if len(gates) == 1:
        summary = gates[0].summary.removeprefix(f"{gates[0].verdict.value}: ")
        title = f"{gates[0].comparison.candidate_run} vs {base}: {summary}"
    else:
        counts = ", ".join(f"{g.comparison.candidate_run} {g.verdict.value}" for g in gates)
        title = f"{len(gates)} candidates vs {base}: {counts}."
    points: list[Point] = []
    untrusted: dict[str, None] = {}
    for g in gates:
        cand = g.comparison.candidate_run
        bad = sorted((d for d in g.dimensions if d.verdict.value != "PASS"), key=lambda d: -d.verdict.severity)
        for d in bad:
            r = d.result
            ci = (f" [{_pct(r.scaled(r.ci_low))}, {_pct(r.scaled(r.ci_high))}]"
                  if not is_missing(r.ci_low) and math.isfinite(r.ci_low) else "")  # fmt: skip
            prefix = f"{cand} · " if len(gates) > 1 else ""
            reason = d.reasons[0] if d.reasons else ""
            text = (f"{prefix}{d.dimension}: {d.verdict.value.replace('_', ' ')}, effect "
                    f"{_pct(r.scaled(r.effect))}{ci} of the scale, n={r.n}: {reason}")  # fmt: skip
            if not d.trusted:  # an untrusted judge: the calibration report says why
                text += "; the judge is not trusted on this dimension (see the calibration report)"
                points.append((text, calibration_href))
                untrusted[d.dimension] = None
            else:
                points.append(text)
        ok = [d.dimension for d in g.dimensions if d.verdict.value == "PASS"]
        if ok:
            prefix = f"{cand}: " if len(gates) > 1 else ""
            points.append(f"{prefix}{len(ok)} dimension(s) pass: {', '.join(ok)}.")
        for d in g.dimensions:
            if not d.trusted and d.dimension not in untrusted:
                untrusted[d.dimension] = None
                points.append((f"{d.dimension}: the judge is not trusted on this dimension (it cannot PASS); see "
                               "the calibration report", calibration_href))  # fmt: skip
    points = points[:max_points]
    look = [("Gate verdict", "#Gate-verdict"), ("Paired effects", "#Paired-effects"),
            ("Item drilldown", "#Item-drilldown")]  # fmt: skip
    first = worst.comparison.worst_items(1)
    if not first.empty:
        item = str(first["item_id"].iloc[0])
        look.append((f"largest drop: item {item}", f"#item-{item}"))
    cmp = worst.comparison
    n_items = max((r.n + r.n_unscored for r in cmp.overall), default=0)
    facts = (("paired items", str(n_items)), ("dimensions", str(len(cmp.overall))),
             ("tolerance", f"{100 * cmp.tolerance:g}% of the scale"),
             ("exit code", str(int(worst.exit_code))))  # fmt: skip
    tone = VERDICT_TONES.get(verdict, "info")
    return Headline(verdict, tone, title, tuple(points), tuple(look), facts)


def eval_headline(headline: pd.DataFrame, unscored: pd.DataFrame | None = None, *,
                  n_items: int | None = None) -> Headline:  # fmt: skip
    """The eval report's card: per run, the weakest dimension with its interval and n, and unscored items.

    Args:
        headline: :func:`evaltools.report.headline_scores`.
        unscored: :func:`evaltools.report.unscored_summary` (optional).
        n_items: items in the golden set (default: the largest ``n`` of a dimension).

    Returns:
        A :class:`Headline`: ``info`` tone (an eval is a measurement, not a
        gate), ``warn`` when more than 5% of the scores are missing.
    """
    if headline.empty:
        return Headline("NO SCORES", "warn", "No scored item in these runs.")
    runs = list(dict.fromkeys(headline["run_id"]))
    points: list[Point] = []
    for run in runs:
        part = headline[headline["run_id"] == run].dropna(subset=["mean_scaled"])
        if part.empty:
            points.append(f"{run}: nothing scored.")
            continue
        weak = part.sort_values("mean_scaled").iloc[0]
        scale = f" on {weak['scale_min']:g}-{weak['scale_max']:g}" if weak["kind"] != "binary" else ""
        if weak["kind"] == "binary":
            value = (f"{100 * weak['mean']:.1f}% [{100 * weak['ci_low']:.1f}%, {100 * weak['ci_high']:.1f}%]"
                     if not is_missing(weak["ci_low"]) else f"{100 * weak['mean']:.1f}%")  # fmt: skip
        else:
            value = _interval_text(weak["mean"], weak["ci_low"], weak["ci_high"])
        points.append(f"{run}: weakest dimension {weak['dimension']} at {value}{scale}, "
                      f"n={int(weak['n_scored'])} scored; pass rate {100 * weak['pass_rate']:.0f}%.")  # fmt: skip
    n_rows = int(headline["n"].sum())
    n_unscored = int(headline["n_unscored"].sum())
    share = n_unscored / n_rows if n_rows else 0.0
    tone = "warn" if share > 0.05 else "info"
    if n_unscored:
        points.append(f"{n_unscored} of {n_rows} scores are missing ({100 * share:.1f}%); see Unscored items.")
    gating = headline[headline["gating"].astype(bool)] if "gating" in headline else headline
    rate = gating["pass_rate"].mean() if len(gating) else math.nan
    title = (f"{len(runs)} run(s) scored on {headline['dimension'].nunique()} dimensions; gating dimensions pass "
             f"{100 * rate:.0f}% of scored items on average." if not is_missing(rate) else
             f"{len(runs)} run(s) scored on {headline['dimension'].nunique()} dimensions.")  # fmt: skip
    look = (("Headline scores", "#Headline-scores"), ("Failures by kind", "#Failures-by-kind"),
            ("Worst items", "#Worst-items-per-dimension"), ("Unscored items", "#Unscored-items-and-why"))  # fmt: skip
    items = n_items if n_items is not None else int(headline.groupby("run_id")["n"].max().max())
    facts = (("runs", str(len(runs))), ("items", str(items)),
             ("dimensions", str(headline["dimension"].nunique())),
             ("missing scores", f"{100 * share:.1f}%"))  # fmt: skip
    return Headline(f"{len(runs)} RUN(S) SCORED", tone, title, tuple(points), look, facts)


def calibration_headline(report: Any, *, comparison_href: str = "comparison.html") -> Headline:
    """The calibration report's card: which judge dimensions may gate, with kappa, interval and n.

    Args:
        report: a :class:`~evaltools.calibration.CalibrationReport`.
        comparison_href: the comparison report (untrusted dimensions cannot PASS there).

    Returns:
        A :class:`Headline`: ``good`` when every dimension is trusted, ``bad`` otherwise.
    """
    dims = list(report.dimensions)
    if not dims:
        return Headline("NO LABELS", "warn", "No human labels: the judge cannot be calibrated.")
    bad = [d for d in dims if not d.trusted]
    points: list[Point] = []
    for d in sorted(dims, key=lambda d: d.trusted):
        k = d.kappa
        kappa = _interval_text(k.value, k.ci_low, k.ci_high) if k is not None else "n/a"
        word = "trusted" if d.trusted else "NOT trusted"
        why = "" if d.trusted else " because " + "; ".join(d.reasons)
        points.append(f"{d.dimension}: {word}, kappa {kappa}, n={d.n_paired} labels{why}.")
    if bad:
        verdict = f"{len(bad)} OF {len(dims)} UNTRUSTED"
        title = (f"The judge may not gate on {', '.join(d.dimension for d in bad)}"
                 + (f"; it may on {', '.join(report.trusted)}." if report.trusted else "."))  # fmt: skip
        points.append(("Untrusted dimensions are shown but cannot PASS the gate: see the comparison report",
                       comparison_href))  # fmt: skip
    else:
        verdict, title = "TRUSTED", f"The judge agrees with humans well enough to gate on all {len(dims)} dimensions."
    facts = tuple((d.dimension, f"kappa {d.kappa.value:.2f}" if d.kappa is not None else "n/a") for d in dims)
    look = (("Agreement per dimension", "#Agreement-per-dimension"),
            ("Judge-error-aware estimates", "#Judge-error-aware-estimates-(PPI++)"))  # fmt: skip
    return Headline(verdict, "bad" if bad else "good", title, tuple(points), look, facts)


def monitoring_headline(result: Any, *, synthetic: bool = False, max_points: int = 5) -> Headline:
    """The monitoring report's card: alert episodes (latest first), whether one is still open, data quality.

    Args:
        result: a :class:`~evaltools.monitor.MonitorResult`.
        synthetic: the logs are the SYNTHETIC demo logs (said in the card).
        max_points: at most this many metrics are listed (one line per
            metric: its episodes' span and count, the largest one's explanation).

    Returns:
        A :class:`Headline`: ``bad`` when an episode reaches the latest
        window (still going on), ``warn`` for past episodes only, ``good``
        with none.
    """
    f = result.windows.frame
    episodes = result.episodes()
    n_req = int(f["n_requests"].sum())
    start, end = f["window_start"].min(), f["window_start"].max()
    span = f"{format_value(start)} to {format_value(end)}"
    open_now = bool(len(episodes)) and bool((pd.to_datetime(episodes["end"], utc=True) > end).any())
    if episodes.empty:
        verdict, tone = "QUIET", "good"
        title = f"No alert over {len(f)} {result.windows.window} windows ({span}), {n_req:,} requests."
    else:
        verdict, tone = ("ALERT", "bad") if open_now else (f"{len(episodes)} EPISODE(S)", "warn")
        metrics = ", ".join(dict.fromkeys(episodes["metric"]))
        title = (f"{len(episodes)} alert episode(s) on {metrics} over {span}"
                 + ("; one is still open in the latest window." if open_now else "; none is open now."))  # fmt: skip
    points: list[Point] = []
    # One line per metric, latest first: a drift that alerts on and off for days is one thing to look at.
    by_metric = []
    for metric, g in episodes.groupby("metric", sort=False):
        main = g.loc[g["n_alerts"].astype(int).idxmax()]
        by_metric.append((g["end"].max(), metric, g, main))
    by_metric.sort(key=lambda t: t[0], reverse=True)
    for _, metric, g, main in by_metric[:max_points]:
        span = f"{format_value(g['start'].min())} to {format_value(g['end'].max())}"
        count = f"{len(g)} episodes, " if len(g) > 1 else ""
        points.append(f"{metric}, {span} ({count}{int(g['n_alerts'].sum())} alert(s)): {main['explanation']}")
    if len(by_metric) > max_points:
        points.append(f"... and {len(by_metric) - max_points} more metric(s) in the episodes table below.")
    excluded = result.quality.n_rows_read - result.quality.n_rows_used
    points.append(f"Data: {int(f['gap'].sum())} empty window(s), {int(f['low_n'].sum())} low-traffic window(s), "
                  f"{excluded} row(s) excluded while loading.")  # fmt: skip
    if synthetic:
        points.append("These are SYNTHETIC demo logs with injected incidents (no log path was given).")
    facts = (("requests", f"{n_req:,}"), ("windows", f"{len(f):,}"), ("episodes", str(len(episodes))),
             ("alerts", str(len(result.alerts))))  # fmt: skip
    look = (("Alert episodes", "#Alert-episodes"), ("Metrics against baselines",
            "#Metrics-against-their-rolling-baselines"), ("Data quality", "#Data-quality"))  # fmt: skip
    return Headline(verdict, tone, title, tuple(points), look, facts)


# --------------------------------------------------------------------------- item drilldown


def _pretty(text: Any) -> str:
    """JSON text pretty-printed (two-space indent); other text unchanged."""
    if is_missing(text):
        return ""
    raw = str(text)
    stripped = raw.strip()
    if stripped[:1] in ("{", "[") and len(stripped) < 200_000:
        import json

        try:
            return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
        except ValueError:
            return raw
    return raw


def word_diff(old: str, new: str, *, max_chars: int = 20_000) -> tuple[str, str]:
    """Escaped HTML of two texts with the words only in ``old`` in ``<del>`` and only in ``new`` in ``<ins>``.

    Args:
        old: the baseline text.
        new: the candidate text.
        max_chars: longer texts are shown without highlighting.

    Returns:
        ``(old_html, new_html)``.

    Examples:
        >>> word_diff("the cat sat", "the dog sat")
        ('the <del class="et-del">cat</del> sat', 'the <ins class="et-ins">dog</ins> sat')
        >>> word_diff("<b>", "<i>")[1]
        '<ins class="et-ins">&lt;i&gt;</ins>'
    """
    import difflib
    import re

    if len(old) + len(new) > max_chars:
        return esc(old), esc(new)
    a, b = re.split(r"(\s+)", old), re.split(r"(\s+)", new)
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        x, y = "".join(a[i1:i2]), "".join(b[j1:j2])
        if op == "equal":
            left.append(esc(x))
            right.append(esc(y))
            continue
        if x:
            left.append(f'<del class="et-del">{esc(x)}</del>')
        if y:
            right.append(f'<ins class="et-ins">{esc(y)}</ins>')
    return "".join(left), "".join(right)


@dataclass(frozen=True, eq=False)
class Drilldown:
    """Changed items as collapsible rows with filters and a search box; build with :func:`drilldown`.

    The static HTML report runs a few lines of its own script (allowed by
    the page's Content-Security-Policy hash) that filter the rows by
    candidate, dimension and direction and search their text; without it
    (JupyterLab does not run scripts in outputs) every row is listed, collapsed.
    """

    frame: pd.DataFrame
    """One row per (candidate, item, dimension), in display order."""
    caption: str = ""
    """Shown above the controls."""
    n_total: int = 0
    """Rows before the cut."""

    def _repr_html_(self) -> str:
        f = self.frame
        if f.empty:
            return f'<p class="et-empty">{esc(self.caption or "Changed items")}: none.</p>'

        def select(key: str, name: str) -> str:
            opts = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in dict.fromkeys(f[key].astype(str)))
            return (f'<label>{esc(name)} <select data-key="{esc(key)}"><option value="">all</option>{opts}'
                    "</select></label>")  # fmt: skip

        controls = (
            '<div class="et-drill-controls" style="display:flex;gap:14px;flex-wrap:wrap;align-items:center;'
            'margin:6px 0">'
            '<label>Search <input type="search" placeholder="item, query or output text" size="28"></label>'
            + (select("candidate", "candidate") if f["candidate"].nunique() > 1 else "")
            + select("dimension", "dimension") + select("direction", "direction")
            + f'<span class="et-drill-count et-more">{len(f)} of {len(f)} shown</span></div>'
        )
        seen: set[str] = set()
        rows = []
        for _, r in f.iterrows():
            item = str(r["item_id"])
            attr = ""
            if item not in seen:  # the first (largest) change of an item carries the gate's anchor
                seen.add(item)
                attr = f' id="item-{esc(item)}"'
            diff = r.get("diff_scaled")
            change = "" if is_missing(diff) else f" ({_pct(float(diff), 0)} of the scale)"
            summary = (
                f"{chip(r['direction'])} <b>{esc(item)}</b> &middot; {esc(r['dimension'])}"
                + (f" &middot; {esc(r['stratum'])}" if not is_missing(r.get("stratum")) else "")
                + (f" &middot; {esc(r['candidate'])}" if f["candidate"].nunique() > 1 else "")
                + f" &middot; {format_value(r['baseline_value'])} &rarr; {format_value(r['candidate_value'])}{change}"
            )
            old, new = word_diff(_pretty(r.get("baseline_output")), _pretty(r.get("candidate_output")))
            details = "".join(
                f'<div class="et-detail"><span class="et-key">{esc(label)}</span> '
                f'<span style="{PRE_STYLE}">{esc(r[c])}</span></div>'
                for c, label in (("baseline_detail", "baseline detail"), ("candidate_detail", "candidate detail"))
                if c in r and not is_missing(r[c])
            )
            blocks = [("Query", esc(r.get("query") or "")), ("Ideal", esc(_pretty(r.get("ideal")))),
                      ("Baseline output", old or '<i class="et-na">(none)</i>'),
                      ("Candidate output", new or '<i class="et-na">(none)</i>')]  # fmt: skip
            cols = "".join(f'<div class="et-block"><div class="et-label">{esc(k)}</div><pre style="{PRE_STYLE}">{v}</pre>'  # noqa: E501
                           "</div>" for k, v in blocks)  # fmt: skip
            rows.append(
                f'<details class="et-drill-item"{attr} data-candidate="{esc(r["candidate"])}" '
                f'data-dimension="{esc(r["dimension"])}" data-direction="{esc(r["direction"])}" '
                'style="border:1px solid #ddd;border-radius:6px;padding:4px 8px;margin:4px 0">'
                f'<summary style="cursor:pointer">{summary}</summary>'
                f'<div class="et-cols" style="display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:10px;'
                f'margin-top:6px">{cols}</div>{details}</details>'
            )
        more = ""
        if self.n_total > len(f):
            more = f'<p class="et-more">Showing the {len(f)} largest of {self.n_total} changes.</p>'
        cap = f'<p class="et-caption"><b>{esc(self.caption)}</b></p>' if self.caption else ""
        return f'<div class="et-drill">{cap}{controls}{"".join(rows)}{more}</div>'


def drilldown(changes: pd.DataFrame, *, caption: str = "", max_items: int | None = 300) -> Drilldown:
    """Show changed items as a collapsible, filterable, searchable list (largest drop first).

    Args:
        changes: :func:`evaltools.report.item_changes`.
        caption: a caption.
        max_items: at most this many rows (None: all).

    Returns:
        A :class:`Drilldown`.

    Raises:
        InputError: a required column is missing.

    Examples:
        >>> row = {"candidate": "b", "item_id": "x<1>", "dimension": "d", "direction": "regressed",
        ...        "baseline_value": 5.0, "candidate_value": 2.0, "diff_scaled": -0.75,
        ...        "baseline_output": '{"a": 1}', "candidate_output": "<script>"}
        >>> html_text = drilldown(pd.DataFrame([row]))._repr_html_()
        >>> "&quot;a&quot;: 1" in html_text, "<script>" in html_text, 'id="item-x&lt;1&gt;"' in html_text
        (True, False, True)
    """
    need = ["candidate", "item_id", "dimension", "direction", "baseline_value", "candidate_value",
            "baseline_output", "candidate_output"]  # fmt: skip
    if not isinstance(changes, pd.DataFrame):
        raise InputError(f"The 'changes' parameter of drilldown must be a DataFrame. Got {type(changes).__name__}.")
    missing = [c for c in need if c not in changes.columns]
    if missing:
        raise InputError(f"The frame passed to drilldown lacks column(s) {missing}; build it with "
                         "evaltools.report.item_changes.")  # fmt: skip
    shown = changes if max_items is None else changes.head(max_items)
    return Drilldown(shown.reset_index(drop=True), caption, len(changes))
