"""Plotly figure builders for the reports: a DataFrame in, a ``plotly.graph_objects.Figure`` out.

Each builder draws one table of :mod:`evaltools.report._tables` and computes
nothing new (compute first, plot second, as in scikit-learn's Display split).
plotly is imported lazily, inside each builder, so ``import evaltools`` stays
light.

Scores of different dimensions live on different scales (0/1, 1-5, a
cosine), so the figures put means and effects on a common axis: a share of
each dimension's scale range (0 = the scale minimum, 1 = the maximum; an
effect of -0.05 is a drop of 5 % of the scale). Hover labels show the raw
numbers. Interval bars are clipped to the scale for display only.

Labels that come from data (run ids, dimension names, tags) are HTML-escaped
before they reach plotly, which would otherwise interpret tags such as
``<a href>`` in text; model outputs never go into a figure.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaltools.errors import InputError, missing_dependency

if TYPE_CHECKING:
    import plotly.graph_objects as go

PALETTE: tuple[str, ...] = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3",
                            "#8C8C8C", "#CCB974", "#64B5CD")  # fmt: skip
"""Colours of runs (and candidates), in order; colour-blind friendly, repeated after ten."""

OUTCOME_COLORS = {"loss": "#C44E52", "tie": "#BBBBBB", "win": "#55A868", "unscored": "#EEEEEE"}
"""Colours of win / tie / loss."""

_LAYOUT: dict[str, Any] = {"template": "plotly_white", "margin": {"l": 10, "r": 10, "t": 50, "b": 40},
                           "font": {"size": 12}, "legend": {"orientation": "h", "y": -0.15}}  # fmt: skip


def _go() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError:  # pragma: no cover - plotly is a core dependency
        raise missing_dependency("plotly") from None
    return go


def _check(frame: Any, columns: Sequence[str], func: str, *, source: str = "evaltools.report._tables") -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"The first parameter of {func} must be a DataFrame. Got {type(frame).__name__} instead.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"The frame passed to {func} lacks column(s) {missing}; build it with {source}.")


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=False)


def _colors(keys: Sequence[Any]) -> dict[Any, str]:
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(dict.fromkeys(keys))}


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _empty(title: str, message: str) -> go.Figure:
    go = _go()
    fig = go.Figure()
    fig.add_annotation(text=_esc(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(**_LAYOUT, title=_esc(title), height=160)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _clip(values: pd.Series) -> np.ndarray:
    clipped: np.ndarray = np.clip(values.to_numpy(dtype=float), 0.0, 1.0)
    return clipped


def _interval_traces(frame: pd.DataFrame, y: Sequence[str], group: str, colors: dict[Any, str],
                     hover: Sequence[str], *, showlegend: bool = True, offset: float = 0.0) -> list[Any]:  # fmt: skip
    go = _go()
    traces = []
    for key, g in frame.groupby(group, sort=False):
        idx = g.index
        mean = g["mean_scaled"].to_numpy(dtype=float)
        lo = _clip(g["ci_low_scaled"])
        hi = _clip(g["ci_high_scaled"])
        traces.append(go.Scatter(
            x=mean, y=[y[i] for i in frame.index.get_indexer(idx)], mode="markers", name=_esc(key), orientation="h",
            legendgroup=_esc(key), showlegend=showlegend, marker={"color": colors[key], "size": 10},
            error_x={"type": "data", "symmetric": False, "array": np.nan_to_num(hi - mean),
                     "arrayminus": np.nan_to_num(mean - lo), "thickness": 2, "width": 4},
            hovertext=[hover[i] for i in frame.index.get_indexer(idx)], hoverinfo="text",
        ))  # fmt: skip
    return traces


def _score_hover(row: pd.Series) -> str:
    label = f"{_esc(row['run_id'])} · {_esc(row['dimension'])}"
    if "stratum" in row and isinstance(row.get("stratum"), str):
        label += f" · {_esc(row['stratum'])}"
    return (
        f"{label}<br>mean {_fmt(row['mean'])} (95% CI {_fmt(row['ci_low'])} to {_fmt(row['ci_high'])}, "
        f"{_esc(row['ci_method'])})<br>scored {int(row['n_scored'])} of {int(row['n'])}, failed {int(row['n_failed'])}"
    )


def headline_figure(headline: pd.DataFrame, *, title: str = "Headline scores with 95% intervals") -> go.Figure:
    """Mean score per dimension (share of its scale) with interval bars, one colour per run.

    Args:
        headline: :func:`evaltools.report.headline_scores`.
        title: figure title.

    Returns:
        The figure; a placeholder figure saying so when the table is empty.

    Raises:
        InputError: a required column is missing.
    """
    cols = ["run_id", "dimension", "mean", "ci_low", "ci_high", "mean_scaled", "ci_low_scaled", "ci_high_scaled",
            "n", "n_scored", "n_failed", "ci_method"]  # fmt: skip
    _check(headline, cols, "headline_figure")
    if headline.empty:
        return _empty(title, "No scores to show.")
    go = _go()
    frame = headline.reset_index(drop=True)
    y = [_esc(d) for d in frame["dimension"]]
    hover = [_score_hover(r) for _, r in frame.iterrows()]
    fig = go.Figure(_interval_traces(frame, y, "run_id", _colors(frame["run_id"]), hover))
    n_dims = frame["dimension"].nunique()
    fig.update_layout(**_LAYOUT, title=_esc(title), height=140 + 46 * n_dims, scattermode="group")
    fig.update_xaxes(range=[-0.02, 1.02], title="mean, share of the scale (0 = worst, 1 = best)")
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=list(dict.fromkeys(y)))
    return fig


def strata_figure(breakdown: pd.DataFrame, *, title: str = "Scores per stratum") -> go.Figure:
    """One panel per stratum: mean per dimension (share of its scale) with interval bars per run.

    Args:
        breakdown: :func:`evaltools.report.stratum_breakdown`.
        title: figure title.

    Returns:
        The figure.

    Raises:
        InputError: a required column is missing.
    """
    _check(breakdown, ["run_id", "dimension", "stratum", "mean_scaled", "ci_low_scaled", "ci_high_scaled"],
           "strata_figure")  # fmt: skip
    if breakdown.empty:
        return _empty(title, "No scores to show.")
    from plotly.subplots import make_subplots

    strata = list(dict.fromkeys(breakdown["stratum"]))
    dims = [_esc(d) for d in dict.fromkeys(breakdown["dimension"])]
    fig = make_subplots(rows=1, cols=len(strata), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[_esc(s) for s in strata])  # fmt: skip
    colors = _colors(breakdown["run_id"])
    for j, stratum in enumerate(strata, start=1):
        part = breakdown[breakdown["stratum"] == stratum].reset_index(drop=True)
        y = [_esc(d) for d in part["dimension"]]
        hover = [_score_hover(r) for _, r in part.iterrows()]
        shown = set()
        for tr in _interval_traces(part, y, "run_id", colors, hover, showlegend=(j == 1)):
            shown.add(tr.name)
            fig.add_trace(tr, row=1, col=j)
        fig.update_xaxes(range=[-0.02, 1.02], row=1, col=j)
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=dims)
    fig.update_layout(**_LAYOUT, title=_esc(title), height=140 + 46 * len(dims), scattermode="group")
    fig.update_xaxes(title="share of the scale", row=1, col=(len(strata) + 1) // 2)
    return fig


def failures_figure(failures: pd.DataFrame, *, title: str = "Failures by kind") -> go.Figure:
    """Share of scored items failing, per dimension and failure mode, one colour per run.

    Args:
        failures: :func:`evaltools.report.failures_by_kind`.
        title: figure title.

    Returns:
        A horizontal bar chart (a placeholder when nothing failed).

    Raises:
        InputError: a required column is missing.
    """
    _check(failures, ["run_id", "dimension", "failure", "n", "n_scored", "share"], "failures_figure")
    if failures.empty:
        return _empty(title, "No failures.")
    go = _go()
    labels = [f"{_esc(d)} · {_esc(f)}" for d, f in zip(failures["dimension"], failures["failure"], strict=True)]
    frame = failures.assign(label=labels)
    order = list(dict.fromkeys(frame.sort_values(["dimension", "failure"])["label"]))
    colors = _colors(frame["run_id"])
    fig = go.Figure()
    for run, g in frame.groupby("run_id", sort=False):
        fig.add_trace(go.Bar(
            x=g["share"], y=g["label"], orientation="h", name=_esc(run), marker_color=colors[run],
            text=[str(int(n)) for n in g["n"]], textposition="outside",
            hovertext=[f"{_esc(run)} · {lab}<br>{int(n)} of {int(s)} scored items ({100 * sh:.1f}%)"
                       for lab, n, s, sh in zip(g["label"], g["n"], g["n_scored"], g["share"], strict=True)],
            hoverinfo="text",
        ))  # fmt: skip
    fig.update_layout(**_LAYOUT, title=_esc(title), barmode="group", height=140 + 26 * len(order) * frame[
        "run_id"].nunique() ** 0.5)  # fmt: skip
    fig.update_xaxes(title="share of scored items", tickformat=".0%", rangemode="tozero")
    fig.update_yaxes(categoryorder="array", categoryarray=order, autorange="reversed")
    return fig


def tag_failures_figure(by_tag: pd.DataFrame, *, title: str = "Failure rate by tag and dimension") -> go.Figure:
    """Heatmap of the failure rate per tag (rows) and dimension (columns), one panel per run.

    Args:
        by_tag: :func:`evaltools.report.failures_by_tag`.
        title: figure title.

    Returns:
        The figure.

    Raises:
        InputError: a required column is missing.
    """
    _check(by_tag, ["run_id", "tag", "dimension", "n_scored", "n_failed", "fail_rate"], "tag_failures_figure")
    if by_tag.empty:
        return _empty(title, "No scored items.")
    go = _go()
    from plotly.subplots import make_subplots

    runs = list(dict.fromkeys(by_tag["run_id"]))
    tags = sorted(dict.fromkeys(by_tag["tag"]))
    dims = list(dict.fromkeys(by_tag["dimension"]))
    fig = make_subplots(rows=1, cols=len(runs), shared_yaxes=True, horizontal_spacing=0.02,
                        subplot_titles=[_esc(r) for r in runs])  # fmt: skip
    for j, run in enumerate(runs, start=1):
        part = by_tag[by_tag["run_id"] == run].set_index(["tag", "dimension"])
        z, text = [], []
        for tag in tags:
            zr: list[float | None] = []
            tr: list[str] = []
            for dim in dims:
                if (tag, dim) in part.index:
                    row = part.loc[(tag, dim)]
                    zr.append(float(row["fail_rate"]))
                    tr.append(f"{int(row['n_failed'])}/{int(row['n_scored'])}")
                else:
                    zr.append(None)
                    tr.append("")
            z.append(zr)
            text.append(tr)
        fig.add_trace(go.Heatmap(
            z=z, x=[_esc(d) for d in dims], y=[_esc(t) for t in tags], text=text, texttemplate="%{text}",
            zmin=0, zmax=1, colorscale="Reds", showscale=(j == len(runs)), colorbar={"title": "fail rate"},
            hovertemplate="tag %{y}<br>%{x}<br>failed %{text} (%{z:.0%})<extra></extra>",
        ), row=1, col=j)  # fmt: skip
    fig.update_layout(**_LAYOUT, title=_esc(title), height=160 + 28 * len(tags))
    fig.update_yaxes(autorange="reversed")
    return fig


def unscored_figure(unscored: pd.DataFrame, *, title: str = "Unscored items and why") -> go.Figure:
    """Share of items left unscored per run and dimension, stacked by reason.

    Args:
        unscored: :func:`evaltools.report.unscored_summary`.
        title: figure title.

    Returns:
        The figure (a placeholder when every item is scored).

    Raises:
        InputError: a required column is missing.
    """
    _check(unscored, ["run_id", "dimension", "reason", "n", "n_items", "share"], "unscored_figure")
    if unscored.empty:
        return _empty(title, "Every item is scored.")
    go = _go()
    labels = [f"{_esc(r)} · {_esc(d)}" for r, d in zip(unscored["run_id"], unscored["dimension"], strict=True)]
    frame = unscored.assign(label=labels)
    colors = _colors(frame["reason"])
    fig = go.Figure()
    for reason, g in frame.groupby("reason", sort=False):
        fig.add_trace(go.Bar(
            x=g["share"], y=g["label"], orientation="h", name=_esc(reason), marker_color=colors[reason],
            hovertext=[f"{lab}<br>{_esc(reason)}: {int(n)} of {int(t)} items" for lab, n, t in
                       zip(g["label"], g["n"], g["n_items"], strict=True)], hoverinfo="text",
        ))  # fmt: skip
    fig.update_layout(**_LAYOUT, title=_esc(title), barmode="stack", height=140 + 26 * frame["label"].nunique())
    fig.update_xaxes(title="share of items", tickformat=".0%", rangemode="tozero")
    fig.update_yaxes(categoryorder="array", categoryarray=list(dict.fromkeys(frame["label"])), autorange="reversed")
    return fig


VERDICT_COLORS = {"PASS": "#1a7f37", "NEEDS_REVIEW": "#9a6700", "BLOCK": "#cf222e"}
"""Marker colours of the gate verdicts in the forest plot."""

_SYMBOLS = ("diamond", "circle", "square", "triangle-up", "cross", "x", "star", "hexagon")


def wrap_hover(text: str, width: int = 72) -> str:
    """Break a hover label into lines of at most about ``width`` characters (plotly does not wrap).

    Existing ``<br>`` breaks are kept; words are never split.

    Args:
        text: the label (already escaped).
        width: the line length.

    Returns:
        The label with ``<br>`` breaks.

    Examples:
        >>> wrap_hover("a b c d", width=3)
        'a b<br>c d'
    """
    import textwrap

    lines = []
    for part in str(text).split("<br>"):
        lines.extend(textwrap.wrap(part, width=width, break_long_words=False, break_on_hyphens=False) or [""])
    return "<br>".join(lines)


def forest_figure(
    effects: pd.DataFrame,
    *,
    tolerance: float | None = None,
    title: str = "Paired effects (candidate minus baseline) with 95% intervals",
) -> go.Figure:
    """Forest plot, one panel per dimension: effect and interval overall, then per stratum, per candidate.

    Each panel has its own axis, symmetric around zero and at least three
    tolerances wide, so a decisive effect on one dimension never squeezes
    the others into a line. The overall row's marker is coloured by the
    gate's verdict (green PASS, amber NEEDS_REVIEW, red BLOCK) when the
    effects come from gate results; stratum rows (exploratory) are grey.
    Filled markers are significant after correction (Holm for gating
    dimensions, Benjamini-Hochberg for the rest); hollow ones are not;
    rows without an interval show the observed effect only. Candidates
    differ by marker shape.

    Args:
        effects: :func:`evaltools.report.effects_table`.
        tolerance: draw a band of +/- this share of the scale (the drop
            worth a review), when given.
        title: figure title.

    Returns:
        The figure.

    Raises:
        InputError: a required column is missing.
    """
    cols = ["candidate", "dimension", "stratum", "effect_scaled", "ci_low_scaled", "ci_high_scaled", "significant",
            "n", "pvalue_adjusted", "status", "effect", "ci_low", "ci_high"]  # fmt: skip
    _check(effects, cols, "forest_figure")
    if effects.empty:
        return _empty(title, "No paired effects.")
    go = _go()
    from plotly.subplots import make_subplots

    frame = effects.reset_index(drop=True).copy()
    if "verdict" not in frame:
        frame["verdict"] = None
    dims = list(dict.fromkeys(frame["dimension"]))
    cands = list(dict.fromkeys(frame["candidate"]))
    symbols = {c: _SYMBOLS[i % len(_SYMBOLS)] for i, c in enumerate(cands)}
    rows_per = [frame.loc[frame["dimension"] == d, "stratum"].nunique() for d in dims]
    verdict_of = {}
    for d in dims:
        vs = [v for v in frame.loc[frame["dimension"] == d, "verdict"] if isinstance(v, str)]
        worst = max(vs, key=lambda v: list(VERDICT_COLORS).index(v) if v in VERDICT_COLORS else -1) if vs else None
        verdict_of[d] = worst
    subtitles = [_esc(d) + (f" · {_esc(str(verdict_of[d]).replace('_', ' '))}" if verdict_of[d] else "")
                 for d in dims]  # fmt: skip
    fig = make_subplots(rows=len(dims), cols=1, row_heights=[max(1, r) for r in rows_per],
                        subplot_titles=subtitles, vertical_spacing=min(0.08, 0.6 / max(1, len(dims))))  # fmt: skip
    shown_legend: set[str] = set()
    tol = float(tolerance) if tolerance is not None and tolerance > 0 else 0.0
    for k, dim in enumerate(dims, start=1):
        part = frame[frame["dimension"] == dim]
        order = ["overall"] + [s for s in dict.fromkeys(part["stratum"]) if s != "(all)"]
        part = part.assign(row=["overall" if s == "(all)" else _esc(s) for s in part["stratum"]])
        bounds = np.abs(part[["effect_scaled", "ci_low_scaled", "ci_high_scaled"]].to_numpy(dtype=float))
        reach = float(np.nanmax(bounds)) if np.isfinite(bounds).any() else 0.0
        half = min(1.1, max(3 * tol, 0.05, 1.15 * reach))
        for cand, g in part.groupby("candidate", sort=False):
            eff = g["effect_scaled"].to_numpy(dtype=float)
            lo, hi = g["ci_low_scaled"].to_numpy(dtype=float), g["ci_high_scaled"].to_numpy(dtype=float)
            sig = g["significant"].fillna(False).astype(bool).to_numpy()
            colours = [VERDICT_COLORS.get(v, "#555555") if isinstance(v, str) else "#888888" for v in g["verdict"]]
            hover = []
            for row, e, es, a, b, n, p, st, v in zip(g["row"], g["effect"], g["effect_scaled"], g["ci_low"],
                                                     g["ci_high"], g["n"], g["pvalue_adjusted"], g["status"],
                                                     g["verdict"], strict=True):  # fmt: skip
                text = f"{_esc(cand)} · {_esc(dim)} · {row}"
                text += f"<br>effect {_fmt(e)} ({100 * es:+.1f}% of scale)" if math.isfinite(es) else "<br>no effect"
                text += f"<br>95% CI {_fmt(a)} to {_fmt(b)}; n {int(n)}; adj. p {_fmt(p)}"
                text += f"<br>{_esc(st)}" + (f"; verdict {_esc(v)}" if isinstance(v, str) else "")
                hover.append(wrap_hover(text))
            name = _esc(cand)
            fig.add_trace(go.Scatter(
                x=eff, y=g["row"], mode="markers", name=name, legendgroup=name, showlegend=name not in shown_legend,
                marker={"color": [c if s else "white" for c, s in zip(colours, sig, strict=True)], "size": 11,
                        "line": {"color": colours, "width": 2}, "symbol": symbols[cand]},
                error_x={"type": "data", "symmetric": False, "array": np.nan_to_num(hi - eff),
                         "arrayminus": np.nan_to_num(eff - lo), "color": "#666666", "thickness": 1.5, "width": 4},
                hovertext=hover, hoverinfo="text", meta=str(dim),
            ), row=k, col=1)  # fmt: skip
            shown_legend.add(name)
        fig.add_vline(x=0, line={"color": "#333", "width": 1}, row=k, col=1)
        if tol:
            fig.add_vrect(x0=-tol, x1=tol, fillcolor="#999", opacity=0.15, line_width=0, row=k, col=1)
        fig.update_xaxes(range=[-half, half], tickformat="+.0%", zeroline=False, row=k, col=1)
        fig.update_yaxes(categoryorder="array", categoryarray=order, autorange="reversed", row=k, col=1)
    fig.update_xaxes(title="effect, share of the scale (negative = candidate worse)", row=len(dims), col=1)
    n_rows = sum(max(1, r) for r in rows_per)
    fig.update_layout(**_LAYOUT, title=_esc(title), height=int(120 + 30 * n_rows * max(1.0, len(cands) ** 0.5)
                                                                + 40 * len(dims)), scattermode="group",
                      hoverlabel={"align": "left"})  # fmt: skip
    return fig


def win_tie_loss_figure(wtl: pd.DataFrame, *, title: str = "Win / tie / loss per item") -> go.Figure:
    """Stacked bars: share of items each candidate loses, ties and wins per dimension.

    Args:
        wtl: :func:`evaltools.report.win_tie_loss`.
        title: figure title.

    Returns:
        The figure.

    Raises:
        InputError: a required column is missing.
    """
    _check(wtl, ["candidate", "dimension", "n", "win", "tie", "loss", "unscored"], "win_tie_loss_figure")
    if wtl.empty:
        return _empty(title, "No paired items.")
    go = _go()
    extra = [c for c in wtl.columns if c == "stratum"]
    labels = [" · ".join(_esc(v) for v in vals) for vals in zip(wtl["candidate"], wtl["dimension"],
                                                                 *[wtl[c] for c in extra], strict=True)]  # fmt: skip
    fig = go.Figure()
    for outcome in ("loss", "tie", "win", "unscored"):
        counts = wtl[outcome].to_numpy(dtype=float)
        share = counts / wtl["n"].replace(0, np.nan).to_numpy(dtype=float)
        fig.add_trace(go.Bar(
            x=share, y=labels, orientation="h", name=outcome, marker_color=OUTCOME_COLORS[outcome],
            text=[str(int(c)) if c else "" for c in counts], textposition="inside",
            hovertext=[f"{lab}<br>{outcome}: {int(c)} of {int(n)} items" for lab, c, n in
                       zip(labels, counts, wtl["n"], strict=True)], hoverinfo="text",
        ))  # fmt: skip
    fig.update_layout(**_LAYOUT, title=_esc(title), barmode="stack", height=140 + 28 * len(labels))
    fig.update_xaxes(title="share of items", tickformat=".0%", range=[0, 1])
    fig.update_yaxes(categoryorder="array", categoryarray=list(dict.fromkeys(labels)), autorange="reversed")
    return fig


def score_distribution_figure(scores: pd.DataFrame, *, title: str = "Score distributions") -> go.Figure:
    """Distribution of scores per dimension (one panel each), one colour per run, as a share of scored items.

    Binary and ordinal scores get one bar per level of the scale; continuous
    scores ten equal bins over the scale (the last bin includes the maximum).
    Counts are binned here, so the figure carries no item-level values.

    Args:
        scores: a long score table.
        title: figure title.

    Returns:
        The figure.

    Raises:
        InputError: a required column is missing.
    """
    _check(scores, ["run_id", "dimension", "value", "kind", "scale_min", "scale_max"], "score_distribution_figure")
    scored = scores[scores["value"].notna()]
    if scored.empty:
        return _empty(title, "No scored items.")
    go = _go()
    from plotly.subplots import make_subplots

    dims = list(dict.fromkeys(scored["dimension"]))
    cols = 2 if len(dims) > 1 else 1
    rows = math.ceil(len(dims) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[_esc(d) for d in dims],
                        vertical_spacing=0.12 if rows > 1 else 0.1, horizontal_spacing=0.08)  # fmt: skip
    colors = _colors(scores["run_id"])
    for k, dim in enumerate(dims):
        r, c = divmod(k, cols)
        part = scored[scored["dimension"] == dim]
        lo, hi = float(part["scale_min"].iloc[0]), float(part["scale_max"].iloc[0])
        discrete = str(part["kind"].iloc[0]) in ("binary", "ordinal") and hi - lo <= 20
        if discrete:
            edges = np.arange(lo - 0.5, hi + 1.0, 1.0)
            labels = [f"{v:g}" for v in np.arange(lo, hi + 0.5, 1.0)]
        else:
            edges = np.linspace(lo, hi, 11) if hi > lo else np.array([lo - 0.5, lo + 0.5])
            labels = [f"{a:.2g}-{b:.2g}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
        centers = (edges[:-1] + edges[1:]) / 2
        for run, g in part.groupby("run_id", sort=False):
            values = np.clip(g["value"].to_numpy(dtype=float), edges[0], edges[-1])
            counts, _ = np.histogram(values, bins=edges)
            share = 100 * counts / max(1, len(values))
            fig.add_trace(go.Bar(
                x=centers, y=share, name=_esc(run), legendgroup=_esc(run), showlegend=(k == 0),
                marker_color=colors[run],
                hovertext=[f"{_esc(run)} · {lab}: {int(n)} of {len(values)} scored ({p:.1f}%)"
                           for lab, n, p in zip(labels, counts, share, strict=True)],
                hoverinfo="text",
            ), row=r + 1, col=c + 1)  # fmt: skip
        ticks = centers if discrete else edges
        fig.update_xaxes(tickmode="array", tickvals=list(ticks), ticktext=labels if discrete else
                         [f"{v:.2g}" for v in edges], range=[edges[0], edges[-1]], row=r + 1, col=c + 1)  # fmt: skip
    fig.update_layout(**_LAYOUT, title=_esc(title), barmode="group", bargap=0.15, height=120 + 230 * rows)
    fig.update_yaxes(title="% of scored", col=1)
    return fig
