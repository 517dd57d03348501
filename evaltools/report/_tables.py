"""The tables behind the reports: pure functions from score tables to DataFrames.

Every report section is one call here, so the same analysis runs in a
notebook cell, in an HTML report and in a test:

* eval report: :func:`headline_scores`, :func:`stratum_breakdown`,
  :func:`worst_items`, :func:`failures_by_kind`, :func:`failures_by_tag`,
  :func:`unscored_summary`;
* comparison report: the paired tables of :mod:`evaltools.report._paired`;
* explorer: :func:`item_table` and :func:`filter_items`.

An item's **verdict** on a dimension is ``unscored`` when its value is NaN,
``fail`` when the scorer named a failure mode, else ``pass`` (see
:func:`add_verdicts`). Intervals: Wilson for binary scores (never Wald), a t
interval for ordinal and continuous means (STATS.md 1.2). Headline intervals
treat items as independent; the paired comparison uses clustered standard
errors when items carry groups.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _sps

from evaltools.errors import ConfigError, InputError
from evaltools.golden import STRATA
from evaltools.report._data import ReportData, load_report_data, query_text

VERDICTS: tuple[str, ...] = ("pass", "fail", "unscored")
"""An item's verdict on one dimension, in display order."""

OUTCOMES: tuple[str, ...] = ("win", "tie", "loss", "unscored")
"""Paired outcome of a candidate against the baseline on one item and dimension."""

_NEEDED = ("run_id", "item_id", "dimension", "value", "kind", "scale_min", "scale_max", "failure")


def _check_table(scores: pd.DataFrame, func: str, extra: Sequence[str] = ()) -> None:
    if not isinstance(scores, pd.DataFrame):
        raise InputError(f"The 'scores' parameter of {func} must be a long score table (DataFrame). "
                         f"Got {type(scores).__name__} instead.")  # fmt: skip
    missing = [c for c in (*_NEEDED, *extra) if c not in scores.columns]
    if missing:
        raise InputError(
            f"The score table passed to {func} lacks column(s) {missing}; see docs/internals.md (score table)."
        )


def _order(values: Iterable[Any]) -> list[Any]:
    """Distinct values in order of first appearance."""
    return list(dict.fromkeys(values))


def add_verdicts(scores: pd.DataFrame) -> pd.DataFrame:
    """Add a ``verdict`` column: ``unscored`` (NaN value), ``fail`` (a failure mode), else ``pass``.

    Args:
        scores: a long score table.

    Returns:
        A copy with the ``verdict`` column.

    Examples:
        >>> t = pd.DataFrame({"run_id": "r", "item_id": ["a", "b", "c"], "dimension": "d",
        ...     "value": [1.0, 0.0, float("nan")], "kind": "binary", "scale_min": 0.0, "scale_max": 1.0,
        ...     "failure": [None, "invalid_json", None]})
        >>> add_verdicts(t)["verdict"].tolist()
        ['pass', 'fail', 'unscored']
    """
    _check_table(scores, "add_verdicts")
    out = scores.copy()
    verdict = np.where(out["failure"].notna(), "fail", "pass")
    out["verdict"] = np.where(out["value"].isna(), "unscored", verdict)
    return out


def _interval(values: np.ndarray, kind: str, alpha: float, low: float = math.nan,
              high: float = math.nan) -> tuple[float, float, str]:  # fmt: skip
    """Interval of a mean: Wilson for 0/1, logit t on a bounded scale (stays inside), else t; NaN if undefined."""
    from evaltools.stats import bounded_mean_interval, wilson_interval

    n = values.shape[0]
    if n == 0:
        return math.nan, math.nan, ""
    if kind == "binary" and np.all((values == 0) | (values == 1)):
        est = wilson_interval(int(values.sum()), n, alpha=alpha)
        return est.ci_low, est.ci_high, "wilson"
    bounded = math.isfinite(low) and math.isfinite(high) and high > low
    bounded = bounded and bool(values.min() >= low and values.max() <= high)
    method = "logit t" if bounded else "t"
    if n < 2:
        return math.nan, math.nan, method
    if bounded:
        lo, hi = bounded_mean_interval(values, low, high, alpha=alpha)
        return lo, hi, method
    mean = float(values.mean())
    sd = float(values.std(ddof=1))
    if sd == 0:
        return mean, mean, "t"
    half = float(_sps.t.isf(alpha / 2, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half, "t"


def headline_scores(
    scores: pd.DataFrame, *, by: Sequence[str] = ("run_id", "dimension"), alpha: float = 0.05
) -> pd.DataFrame:
    """Mean score per run and dimension with a ``1 - alpha`` interval.

    Args:
        scores: a long score table (one or several runs).
        by: grouping columns (add ``"stratum"`` for a per-stratum breakdown).
        alpha: 1 - confidence level.

    Returns:
        One row per group, in order of first appearance: the ``by``
        columns, ``kind``, ``gating``, ``scale_min``, ``scale_max``, ``n``
        (items), ``n_scored``, ``n_unscored``, ``n_failed``, ``pass_rate``
        (share of scored items that did not fail), ``mean``, ``ci_low``,
        ``ci_high``, ``ci_method`` (``wilson`` for binary, ``logit t`` for
        scores on a bounded scale, which keeps the interval inside the scale,
        ``t`` otherwise)
        and the mean and bounds as shares of the scale (``*_scaled``, 0 =
        worst, 1 = best). A group with no scored item has NaN mean and
        bounds (no data is not a score of 0); one scored item has a NaN t
        interval; zero variance gives the degenerate interval [mean, mean].

    Raises:
        InputError: the table lacks a column.
        ConfigError: ``alpha`` is not in (0, 1).

    Examples:
        >>> t = pd.DataFrame({"run_id": "r", "item_id": list("abcd"), "dimension": "ok",
        ...     "value": [1.0, 1.0, 0.0, float("nan")], "kind": "binary", "scale_min": 0.0,
        ...     "scale_max": 1.0, "failure": [None, None, "mismatch", None]})
        >>> row = headline_scores(t).iloc[0]
        >>> int(row["n"]), int(row["n_scored"]), round(float(row["mean"]), 3)  # 2 of 3 scored items pass
        (4, 3, 0.667)
        >>> round(float(row["ci_low"]), 3), round(float(row["ci_high"]), 3), row["ci_method"]  # Wilson, not Wald
        (0.208, 0.939, 'wilson')
    """
    func = "headline_scores"
    _check_table(scores, func, by)
    if not 0 < alpha < 1:
        raise ConfigError(f"The 'alpha' parameter of {func} must be a float in (0, 1). Got {alpha!r} instead.")
    keys = list(by)
    rows = []
    if len(scores):
        grouped = scores.groupby(keys, sort=False, dropna=False)
        for key, g in grouped:
            key = key if isinstance(key, tuple) else (key,)
            vals = g["value"].to_numpy(dtype=float)
            scored = vals[~np.isnan(vals)]
            kind = str(g["kind"].iloc[0])
            lo_s, hi_s = float(g["scale_min"].iloc[0]), float(g["scale_max"].iloc[0])
            lo, hi, method = _interval(scored, kind, alpha, lo_s, hi_s)
            failed = int((g["failure"].notna() & g["value"].notna()).sum())
            mean = float(scored.mean()) if scored.size else math.nan
            span = hi_s - lo_s if hi_s > lo_s else math.nan
            rows.append({
                **dict(zip(keys, key, strict=True)), "kind": kind,
                "gating": bool(g["gating"].iloc[0]) if "gating" in g else False,
                "scale_min": lo_s, "scale_max": hi_s, "n": len(g), "n_scored": int(scored.size),
                "n_unscored": int(len(g) - scored.size), "n_failed": failed,
                "pass_rate": (scored.size - failed) / scored.size if scored.size else math.nan,
                "mean": mean, "ci_low": lo, "ci_high": hi, "ci_method": method,
                "mean_scaled": (mean - lo_s) / span, "ci_low_scaled": (lo - lo_s) / span,
                "ci_high_scaled": (hi - lo_s) / span,
            })  # fmt: skip
    cols = [*keys, "kind", "gating", "scale_min", "scale_max", "n", "n_scored", "n_unscored", "n_failed",
            "pass_rate", "mean", "ci_low", "ci_high", "ci_method", "mean_scaled", "ci_low_scaled",
            "ci_high_scaled"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def stratum_breakdown(scores: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """:func:`headline_scores` per run, dimension and stratum (common, edge, adversarial order).

    Args:
        scores: a long score table with a ``stratum`` column.
        alpha: 1 - confidence level.

    Returns:
        The :func:`headline_scores` columns plus ``stratum``; strata with no
        item for a dimension are absent.

    Raises:
        InputError: the table lacks a column.
    """
    _check_table(scores, "stratum_breakdown", ("stratum",))
    table = headline_scores(scores, by=("run_id", "dimension", "stratum"), alpha=alpha)
    rank = {s: i for i, s in enumerate(STRATA)}
    runs, dims = _order(scores["run_id"]), _order(scores["dimension"])
    table["_r"] = table["run_id"].map({r: i for i, r in enumerate(runs)})
    table["_d"] = table["dimension"].map({d: i for i, d in enumerate(dims)})
    table["_s"] = table["stratum"].map(lambda s: rank.get(s, len(rank)))
    return table.sort_values(["_r", "_d", "_s"], kind="mergesort").drop(columns=["_r", "_d", "_s"]).reset_index(
        drop=True
    )


def _item_columns(data: ReportData) -> pd.DataFrame:
    items = data.items
    return pd.DataFrame({
        "item_id": items["id"].astype(str), "stratum_item": items["stratum"],
        "tags": [", ".join(t) for t in items["tags"]], "query": items["query_text"], "ideal": items["ideal"],
    })  # fmt: skip


def item_table(data: ReportData) -> pd.DataFrame:
    """One row per (run, item, dimension) with the verdict, the texts and the output side by side.

    Args:
        data: the loaded report data.

    Returns:
        The score table with ``verdict``, ``tags`` (comma-separated),
        ``query`` (plain text), ``ideal``, ``output`` and ``error`` columns.
    """
    table = add_verdicts(data.scores)
    table = table.merge(_item_columns(data), on="item_id", how="left")
    if "stratum" not in table:
        table["stratum"] = table["stratum_item"]
    table = table.drop(columns=["stratum_item"])
    outs = data.outputs[["run_id", "item_id", "output", "error"]]
    return table.merge(outs, on=["run_id", "item_id"], how="left")


def worst_items(
    data: ReportData, *, k: int = 5, runs: Sequence[str] | None = None, failed_only: bool = True
) -> pd.DataFrame:
    """The ``k`` lowest-scoring items per run and dimension, with query, ideal, output and detail.

    Only scored items are ranked (unscored ones are in :func:`unscored_summary`).
    Items are ordered by their score as a share of the scale, failures
    before passes on ties, then by item id, so the order is stable.

    Args:
        data: the loaded report data.
        k: items per run and dimension (at least 1).
        runs: restrict to these run ids (default: all).
        failed_only: list only items that failed (a dimension with no
            failure then has no row); False ranks passing items too.

    Returns:
        Columns run_id, dimension, item_id, stratum, tags, value, kind,
        verdict, failure, detail, query, ideal, output; at most ``k`` rows
        per (run, dimension).

    Raises:
        ConfigError: ``k`` is not a positive integer, or an unknown run id.
    """
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"The 'k' parameter of worst_items must be an int >= 1. Got {k!r} instead.")
    table = item_table(data)
    table = _select_runs(table, runs, data.run_ids, "worst_items")
    table = table[table["value"].notna()]
    if failed_only:
        table = table[table["verdict"] == "fail"]
    table = table.copy()
    span = (table["scale_max"] - table["scale_min"]).replace(0, np.nan)
    table["_scaled"] = (table["value"] - table["scale_min"]) / span
    table["_ok"] = table["failure"].isna()
    table["_run"] = table["run_id"].map({r: i for i, r in enumerate(data.run_ids)})
    table["_dim"] = table["dimension"].map({d: i for i, d in enumerate(_order(data.scores["dimension"]))})
    table = table.sort_values(["_run", "_dim", "_scaled", "_ok", "item_id"], kind="mergesort")
    table = table.groupby(["run_id", "dimension"], sort=False).head(int(k))
    cols = ["run_id", "dimension", "item_id", "stratum", "tags", "value", "kind", "verdict", "failure", "detail",
            "query", "ideal", "output"]  # fmt: skip
    return table[cols].reset_index(drop=True)


def _select_runs(table: pd.DataFrame, runs: Sequence[str] | None, valid: Sequence[str], func: str) -> pd.DataFrame:
    if runs is None:
        return table
    runs = [runs] if isinstance(runs, str) else list(runs)
    unknown = [r for r in runs if r not in valid]
    if unknown:
        raise ConfigError(f"Unknown run id(s) {unknown} in {func}. Valid run ids: {', '.join(valid)}.")
    return table[table["run_id"].isin(runs)]


def failures_by_kind(scores: pd.DataFrame, *, examples: int = 2) -> pd.DataFrame:
    """Failures grouped by run, dimension and failure mode, with the most common details.

    The detail is what says *where* it failed (the failing JSON path of a
    schema violation, the missing field, the judge's reason).

    Args:
        scores: a long score table.
        examples: how many distinct details to show per group (most frequent first).

    Returns:
        Columns run_id, dimension, failure, n (failed items), n_scored
        (scored items of that run and dimension), share (n / n_scored),
        details (the most common details, ``" | "``-joined, each with its
        count) and item_ids (up to 5 examples). Sorted by run, then most
        frequent first. Empty (with these columns) when nothing failed.

    Examples:
        >>> t = pd.DataFrame({"run_id": "r", "item_id": list("abc"), "dimension": "schema",
        ...     "value": [0.0, 0.0, 1.0], "kind": "binary", "scale_min": 0.0, "scale_max": 1.0,
        ...     "failure": ["schema_violation", "schema_violation", None],
        ...     "detail": ["/priority: 'x' is not one of ['low']"] * 2 + [None]})
        >>> row = failures_by_kind(t).iloc[0]
        >>> row["failure"], int(row["n"]), round(float(row["share"]), 3)  # 2 of 3 scored items
        ('schema_violation', 2, 0.667)
        >>> row["details"]
        "/priority: 'x' is not one of ['low'] (2)"
    """
    _check_table(scores, "failures_by_kind")
    cols = ["run_id", "dimension", "failure", "n", "n_scored", "share", "details", "item_ids"]
    scored = scores[scores["value"].notna()]
    n_scored = scored.groupby(["run_id", "dimension"], sort=False).size()
    failed = scored[scored["failure"].notna()]
    rows = []
    for (run, dim, failure), g in failed.groupby(["run_id", "dimension", "failure"], sort=False):
        detail = g["detail"] if "detail" in g else pd.Series([], dtype=object)
        counts = detail.dropna().astype(str).value_counts()
        details = " | ".join(f"{text} ({c})" for text, c in counts.head(examples).items())
        ids = _order(g["item_id"].astype(str))
        id_text = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
        rows.append({"run_id": run, "dimension": dim, "failure": failure, "n": len(g),
                     "n_scored": int(n_scored[(run, dim)]), "share": len(g) / int(n_scored[(run, dim)]),
                     "details": details, "item_ids": id_text})  # fmt: skip
    out = pd.DataFrame(rows, columns=cols)
    if out.empty:
        return out
    out["_r"] = out["run_id"].map({r: i for i, r in enumerate(_order(scores["run_id"]))})
    return out.sort_values(["_r", "n", "dimension"], ascending=[True, False, True], kind="mergesort").drop(
        columns="_r").reset_index(drop=True)  # fmt: skip


def failures_by_tag(data: ReportData, *, alpha: float = 0.05, min_failed: int = 0) -> pd.DataFrame:
    """Failure rate per run, tag and dimension (an item with several tags counts under each).

    Args:
        data: the loaded report data.
        alpha: 1 - confidence level of the Wilson interval on the failure rate.
        min_failed: keep only rows with at least this many failed items
            (1 lists where failures happened).

    Returns:
        Columns run_id, tag, dimension, n_scored, n_failed, fail_rate,
        ci_low, ci_high (Wilson) and top_failure (the most frequent failure
        mode, "" when none). Only (tag, dimension) pairs with a scored item
        appear; fail_rate is the share of scored items that failed.
    """
    from evaltools.stats import wilson_interval

    table = add_verdicts(data.scores)
    tags = pd.DataFrame({"item_id": data.golden.frame["id"].astype(str), "tag": data.golden.frame["tags"]})
    tags = tags.explode("tag").dropna(subset=["tag"])
    table = table[table["verdict"] != "unscored"].merge(tags, on="item_id", how="inner")
    rows = []
    for (run, tag, dim), g in table.groupby(["run_id", "tag", "dimension"], sort=False):
        n_failed = int((g["verdict"] == "fail").sum())
        est = wilson_interval(n_failed, len(g), alpha=alpha)
        top = g["failure"].dropna().astype(str).value_counts()
        rows.append({"run_id": run, "tag": tag, "dimension": dim, "n_scored": len(g), "n_failed": n_failed,
                     "fail_rate": est.proportion, "ci_low": est.ci_low, "ci_high": est.ci_high,
                     "top_failure": str(top.index[0]) if len(top) else ""})  # fmt: skip
    cols = ["run_id", "tag", "dimension", "n_scored", "n_failed", "fail_rate", "ci_low", "ci_high", "top_failure"]
    out = pd.DataFrame(rows, columns=cols)
    out = out[out["n_failed"] >= min_failed]
    if out.empty:
        return out
    out["_r"] = out["run_id"].map({r: i for i, r in enumerate(data.run_ids)})
    return out.sort_values(["_r", "tag", "dimension"], kind="mergesort").drop(columns="_r").reset_index(drop=True)


def unscored_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """How many items are unscored per run and dimension, and why.

    Args:
        scores: a long score table (``unscored_reason`` column used when present).

    Returns:
        Columns run_id, dimension, reason, n (unscored items with that
        reason), n_items (rows of that run and dimension), share (n /
        n_items) and example (one detail). A reason of ``"unknown"`` marks
        a NaN value with no reason recorded. Empty when every item is scored.

    Examples:
        >>> t = pd.DataFrame({"run_id": "r", "item_id": list("abcd"), "dimension": "judge",
        ...     "value": [4.0, float("nan"), float("nan"), 5.0], "kind": "ordinal", "scale_min": 1.0,
        ...     "scale_max": 5.0, "failure": None, "unscored_reason": [None, "no_output", "no_output", None]})
        >>> unscored_summary(t)[["reason", "n", "n_items", "share"]].values.tolist()
        [['no_output', 2, 4, 0.5]]
    """
    _check_table(scores, "unscored_summary")
    cols = ["run_id", "dimension", "reason", "n", "n_items", "share", "example"]
    n_items = scores.groupby(["run_id", "dimension"], sort=False).size()
    miss = scores[scores["value"].isna()].copy()
    if miss.empty:
        return pd.DataFrame(columns=cols)
    reason = miss["unscored_reason"] if "unscored_reason" in miss else pd.Series(None, index=miss.index)
    miss["reason"] = reason.where(reason.notna(), "unknown").astype(str)
    rows = []
    for (run, dim, why), g in miss.groupby(["run_id", "dimension", "reason"], sort=False):
        detail = g["detail"].dropna().astype(str) if "detail" in g else pd.Series([], dtype=object)
        total = int(n_items[(run, dim)])
        rows.append({"run_id": run, "dimension": dim, "reason": why, "n": len(g), "n_items": total,
                     "share": len(g) / total, "example": detail.iloc[0] if len(detail) else ""})  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def filter_items(
    table: pd.DataFrame,
    *,
    run: str | None = None,
    stratum: str | None = None,
    tag: str | None = None,
    dimension: str | None = None,
    verdict: str | None = None,
) -> pd.DataFrame:
    """Rows of an :func:`item_table` matching every given filter (None means any).

    Args:
        table: the output of :func:`item_table`.
        run: a run id.
        stratum: ``common``, ``edge`` or ``adversarial``.
        tag: one tag; matches items carrying it.
        dimension: a dimension name.
        verdict: ``pass``, ``fail`` or ``unscored``.

    Returns:
        The matching rows (same columns).

    Raises:
        ConfigError: ``verdict`` is not a known verdict.

    Examples:
        >>> t = pd.DataFrame({"run_id": ["r", "r"], "stratum": ["common", "edge"], "tags": ["a, b", "b"],
        ...                   "dimension": ["d", "d"], "verdict": ["pass", "fail"]})
        >>> len(filter_items(t, tag="a")), len(filter_items(t, tag="b", verdict="fail"))
        (1, 1)
    """
    if verdict is not None and verdict not in VERDICTS:
        raise ConfigError(f"Unknown verdict {verdict!r}. Valid verdicts: {', '.join(VERDICTS)}.")
    mask = pd.Series(True, index=table.index)
    if run is not None:
        mask &= table["run_id"] == run
    if stratum is not None:
        mask &= table["stratum"] == stratum
    if dimension is not None:
        mask &= table["dimension"] == dimension
    if verdict is not None:
        mask &= table["verdict"] == verdict
    if tag is not None:
        mask &= table["tags"].map(lambda s: tag in [t.strip() for t in str(s).split(",")])
    return table[mask]


__all__ = [
    "OUTCOMES",
    "VERDICTS",
    "ReportData",
    "add_verdicts",
    "failures_by_kind",
    "failures_by_tag",
    "filter_items",
    "headline_scores",
    "item_table",
    "load_report_data",
    "query_text",
    "stratum_breakdown",
    "unscored_summary",
    "worst_items",
]
