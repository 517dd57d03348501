"""Paired tables of the comparison report: a baseline run against one or more candidates.

Built on the per-run tables of :mod:`evaltools.report._tables` (their checks and
verdicts). All are public as ``evaltools.report.<name>``. Every function
takes the baseline run id and the candidate run ids (default: every other run
in the table, in order) and returns one frame with a ``candidate`` column, so
a notebook cell covers any number of candidates without a loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaltools.errors import ConfigError
from evaltools.report._tables import _check_table, _order, add_verdicts

if TYPE_CHECKING:
    from evaltools.gate import GateResult
    from evaltools.report._data import ReportData
    from evaltools.stats import Comparison

_RANK = {"pass": 2, "fail": 1}


def _runs(scores: pd.DataFrame, baseline: str | None, candidates: Sequence[str] | str | None,
          func: str) -> tuple[str, list[str]]:  # fmt: skip

    _check_table(scores, func)
    valid = [str(r) for r in _order(scores["run_id"])]
    if baseline is None:
        if not valid:
            raise ConfigError(f"The score table passed to {func} is empty.")
        baseline = valid[0]
    if baseline not in valid:
        raise ConfigError(f"Unknown baseline run {baseline!r} in {func}. Valid run ids: {', '.join(valid)}.")
    if candidates is None:
        cands = [r for r in valid if r != baseline]
    else:
        cands = [candidates] if isinstance(candidates, str) else [str(c) for c in candidates]
    unknown = [c for c in cands if c not in valid]
    if unknown:
        raise ConfigError(f"Unknown candidate run(s) {unknown} in {func}. Valid run ids: {', '.join(valid)}.")
    if baseline in cands:
        raise ConfigError(f"The baseline run {baseline!r} cannot also be a candidate in {func}.")
    if not cands:
        raise ConfigError(
            f"{func} needs at least two runs: a baseline and a candidate. The score table has only {valid}."
        )
    return baseline, cands


def paired_items(
    scores: pd.DataFrame, baseline: str | None = None, candidates: Sequence[str] | str | None = None
) -> pd.DataFrame:
    """Baseline and candidate side by side for every (item, dimension).

    Args:
        scores: long score table holding the baseline and the candidates.
        baseline: baseline run id (default: the first run in the table).
        candidates: candidate run ids (default: every other run).

    Returns:
        One row per (candidate, item, dimension): candidate, item_id,
        dimension, stratum, kind, scale_min, scale_max, then
        ``baseline_*`` and ``candidate_*`` value, verdict, failure and
        detail, ``diff`` (candidate minus baseline), ``diff_scaled`` (share
        of the scale) and ``outcome``: ``win`` / ``tie`` / ``loss`` for the
        candidate, ``unscored`` when either side has no score (or no row).

    Raises:
        ConfigError: unknown run ids, or fewer than two runs.

    Examples:
        >>> t = pd.DataFrame({"run_id": ["A", "A", "B", "B"], "item_id": ["x", "y", "x", "y"],
        ...     "dimension": "d", "value": [1.0, 0.0, 1.0, 1.0], "kind": "binary", "scale_min": 0.0,
        ...     "scale_max": 1.0, "failure": [None, "mismatch", None, None]})
        >>> paired_items(t)["outcome"].tolist()  # x tied, y fixed by B
        ['tie', 'win']
    """
    baseline, cands = _runs(scores, baseline, candidates, "paired_items")
    table = add_verdicts(scores)
    if "detail" not in table:
        table["detail"] = None
    if "stratum" not in table:
        table["stratum"] = None
    keys = ["item_id", "dimension"]
    meta = ["stratum", "kind", "scale_min", "scale_max"]
    side = ["value", "verdict", "failure", "detail"]
    base = table[table["run_id"] == baseline][keys + meta + side]
    parts = []
    for cand in cands:
        other = table[table["run_id"] == cand][keys + meta + side]
        m = base.merge(other, on=keys, how="outer", suffixes=("_b", "_c"), sort=False)
        out = pd.DataFrame({"candidate": cand, "item_id": m["item_id"], "dimension": m["dimension"]})
        for col in meta:
            out[col] = m[f"{col}_b"].where(m[f"{col}_b"].notna(), m[f"{col}_c"])
        for col in side:
            out[f"baseline_{col}"] = m[f"{col}_b"]
            out[f"candidate_{col}"] = m[f"{col}_c"]
        out["baseline_verdict"] = out["baseline_verdict"].fillna("unscored")
        out["candidate_verdict"] = out["candidate_verdict"].fillna("unscored")
        diff = out["candidate_value"].astype(float) - out["baseline_value"].astype(float)
        span = (out["scale_max"].astype(float) - out["scale_min"].astype(float)).replace(0, np.nan)
        out["diff"] = diff
        out["diff_scaled"] = diff / span
        eps = 1e-9 * span.fillna(1.0)
        out["outcome"] = np.select(
            [diff.isna(), diff > eps, diff < -eps], ["unscored", "win", "loss"], default="tie"
        )
        parts.append(out)
    return pd.concat(parts, ignore_index=True)


def win_tie_loss(
    scores: pd.DataFrame,
    baseline: str | None = None,
    candidates: Sequence[str] | str | None = None,
    *,
    by: Sequence[str] = ("dimension",),
) -> pd.DataFrame:
    """Count the items each candidate wins, ties and loses against the baseline.

    Args:
        scores: long score table.
        baseline: baseline run id (default: the first run).
        candidates: candidate run ids (default: every other run).
        by: grouping columns of :func:`paired_items` (add ``"stratum"``).

    Returns:
        One row per candidate and group: ``n`` pairs, ``win``, ``tie``,
        ``loss``, ``unscored`` counts and ``win_share``, ``tie_share``,
        ``loss_share`` (shares of the scored pairs; NaN when none).

    Examples:
        >>> t = pd.DataFrame({"run_id": ["A"] * 3 + ["B"] * 3, "item_id": list("xyz") * 2,
        ...     "dimension": "d", "value": [1.0, 0.0, 1.0, 1.0, 1.0, 0.0], "kind": "binary",
        ...     "scale_min": 0.0, "scale_max": 1.0, "failure": None})
        >>> win_tie_loss(t)[["win", "tie", "loss"]].iloc[0].tolist()  # y won, x tied, z lost
        [1, 1, 1]
    """
    pairs = paired_items(scores, baseline, candidates)
    keys = ["candidate", *by]
    counts = pd.crosstab([pairs[k] for k in keys], pairs["outcome"]).reindex(
        columns=["win", "tie", "loss", "unscored"], fill_value=0
    )
    counts.columns.name = None
    out = counts.reset_index()
    order = pairs[keys].drop_duplicates()
    out = order.merge(out, on=keys, how="left")
    out.insert(len(keys), "n", out[["win", "tie", "loss", "unscored"]].sum(axis=1))
    scored = (out["win"] + out["tie"] + out["loss"]).replace(0, np.nan)
    for col in ("win", "tie", "loss"):
        out[f"{col}_share"] = out[col] / scored
    return out.reset_index(drop=True)


def item_outcomes(
    scores: pd.DataFrame, baseline: str | None = None, candidates: Sequence[str] | str | None = None
) -> pd.DataFrame:
    """Per item: on how many dimensions each candidate wins, ties or loses.

    Args:
        scores: long score table.
        baseline: baseline run id (default: the first run).
        candidates: candidate run ids (default: every other run).

    Returns:
        One row per candidate and item: stratum, dimensions, win, tie,
        loss, unscored and ``net`` (wins minus losses), worst items first.
    """
    pairs = paired_items(scores, baseline, candidates)
    counts = pd.crosstab([pairs["candidate"], pairs["item_id"]], pairs["outcome"]).reindex(
        columns=["win", "tie", "loss", "unscored"], fill_value=0
    )
    counts.columns.name = None
    out = counts.reset_index()
    strata = pairs.drop_duplicates(["candidate", "item_id"])[["candidate", "item_id", "stratum"]]
    out = strata.merge(out, on=["candidate", "item_id"], how="left")
    out.insert(3, "dimensions", out[["win", "tie", "loss", "unscored"]].sum(axis=1))
    out["net"] = out["win"] - out["loss"]
    order = {c: i for i, c in enumerate(pairs["candidate"].drop_duplicates())}
    out["_c"] = out["candidate"].map(order)
    return out.sort_values(["_c", "net", "loss", "item_id"], ascending=[True, True, False, True],
                           kind="mergesort").drop(columns="_c").reset_index(drop=True)  # fmt: skip


def _texts(data: ReportData, frame: pd.DataFrame, baseline: str) -> pd.DataFrame:
    items = data.items
    text = pd.DataFrame({"item_id": items["id"].astype(str), "query": items["query_text"], "ideal": items["ideal"]})
    outs = data.outputs[["run_id", "item_id", "output"]]
    frame = frame.merge(text, on="item_id", how="left")
    frame = frame.merge(outs[outs["run_id"] == baseline].drop(columns="run_id").rename(
        columns={"output": "baseline_output"}), on="item_id", how="left")  # fmt: skip
    return frame.merge(outs.rename(columns={"run_id": "candidate", "output": "candidate_output"}),
                       on=["candidate", "item_id"], how="left")  # fmt: skip


def changed_verdicts(
    data: ReportData, baseline: str | None = None, candidates: Sequence[str] | str | None = None
) -> pd.DataFrame:
    """Items whose verdict (pass / fail / unscored) differs between the baseline and a candidate.

    Args:
        data: the loaded report data.
        baseline: baseline run id (default: the first run).
        candidates: candidate run ids (default: every other run).

    Returns:
        One row per changed (candidate, item, dimension): the
        :func:`paired_items` columns plus ``change`` (e.g. ``"pass -> fail"``),
        ``direction`` (``regressed``: pass to fail; ``fixed``: fail to pass;
        ``scoring changed``: to or from unscored), query, ideal,
        baseline_output and candidate_output. Regressions first.
    """
    baseline, cands = _runs(data.scores, baseline, candidates, "changed_verdicts")
    pairs = paired_items(data.scores, baseline, cands)
    pairs = pairs[pairs["baseline_verdict"] != pairs["candidate_verdict"]].copy()
    pairs["change"] = pairs["baseline_verdict"] + " -> " + pairs["candidate_verdict"]
    b = pairs["baseline_verdict"].map(_RANK)
    c = pairs["candidate_verdict"].map(_RANK)
    pairs["direction"] = np.select([b > c, b < c], ["regressed", "fixed"], default="scoring changed")
    rank = {"regressed": 0, "fixed": 1, "scoring changed": 2}
    order = {cand: i for i, cand in enumerate(cands)}
    pairs["_c"] = pairs["candidate"].map(order)
    pairs["_d"] = pairs["direction"].map(rank)
    pairs = pairs.sort_values(["_c", "_d", "dimension", "item_id"], kind="mergesort").drop(columns=["_c", "_d"])
    return _texts(data, pairs.reset_index(drop=True), baseline)


def item_changes(
    data: ReportData, baseline: str | None = None, candidates: Sequence[str] | str | None = None
) -> pd.DataFrame:
    """Every (candidate, item, dimension) whose score or verdict changed, largest drop first: the item drilldown.

    Args:
        data: the loaded report data.
        baseline: baseline run id (default: the first run).
        candidates: candidate run ids (default: every other run).

    Returns:
        The :func:`paired_items` columns plus ``direction`` (``regressed``:
        the score dropped or the verdict went from pass to fail; ``fixed``:
        the reverse; ``scoring changed``: one side is unscored), query,
        ideal, baseline_output and candidate_output. Sorted by
        ``diff_scaled`` (largest drop first), unscored changes last, ties
        broken by candidate, dimension and item id. Pairs with the same
        score and verdict on both sides are left out.
    """
    baseline, cands = _runs(data.scores, baseline, candidates, "item_changes")
    pairs = paired_items(data.scores, baseline, cands)
    moved = pairs["outcome"].isin(["win", "loss"]) | (pairs["baseline_verdict"] != pairs["candidate_verdict"])
    pairs = pairs[moved].copy()
    b = pairs["baseline_verdict"].map(_RANK)
    c = pairs["candidate_verdict"].map(_RANK)
    pairs["direction"] = np.select(
        [pairs["outcome"] == "loss", pairs["outcome"] == "win", b > c, b < c],
        ["regressed", "fixed", "regressed", "fixed"],
        default="scoring changed",
    )
    order = {cand: i for i, cand in enumerate(cands)}
    pairs["_c"] = pairs["candidate"].map(order)
    pairs["_k"] = pairs["diff_scaled"].fillna(np.inf)
    pairs = pairs.sort_values(["_k", "_c", "dimension", "item_id"], kind="mergesort").drop(columns=["_c", "_k"])
    return _texts(data, pairs.reset_index(drop=True), baseline)


def change_counts(changed: pd.DataFrame) -> pd.DataFrame:
    """How many items changed verdict, per candidate, dimension and direction.

    Args:
        changed: :func:`changed_verdicts`.

    Returns:
        One row per candidate and dimension with a count column per
        direction (``regressed``, ``fixed``, ``scoring changed``).
    """
    cols = ["regressed", "fixed", "scoring changed"]
    if changed.empty:
        return pd.DataFrame(columns=["candidate", "dimension", *cols])
    counts = pd.crosstab([changed["candidate"], changed["dimension"]], changed["direction"]).reindex(
        columns=cols, fill_value=0
    )
    counts.columns.name = None
    return counts.reset_index()


def compare_runs(
    scores: pd.DataFrame,
    baseline: str | None = None,
    candidates: Sequence[str] | str | None = None,
    **compare_kwargs: Any,
) -> tuple[Comparison, ...]:
    """Paired comparison of each candidate with the baseline (:func:`evaltools.stats.compare`).

    Args:
        scores: long score table holding every run.
        baseline: baseline run id (default: the first run).
        candidates: candidate run ids (default: every other run).
        **compare_kwargs: passed to :func:`evaltools.stats.compare` (alpha,
            tolerance, margin, rng, n_resamples, min_items, gating).

    Returns:
        One :class:`~evaltools.stats.Comparison` per candidate, in order.

    Raises:
        ConfigError: unknown run ids or fewer than two runs.
    """
    from evaltools.stats import compare

    baseline, cands = _runs(scores, baseline, candidates, "compare_runs")
    base = scores[scores["run_id"] == baseline]
    return tuple(compare(base, scores[scores["run_id"] == c], **compare_kwargs) for c in cands)


def _comparison(obj: Any) -> Comparison:
    """A Comparison, or the one a GateResult rests on."""
    return getattr(obj, "comparison", obj)  # type: ignore[no-any-return]


def effects_table(comparisons: Sequence[Comparison | GateResult]) -> pd.DataFrame:
    """All paired effects of several comparisons in one frame (forest plot and significance table).

    Args:
        comparisons: results of :func:`compare_runs`, or of :func:`gate_runs`
            (each gate's comparison is used, so nothing is computed twice).

    Returns:
        :meth:`Comparison.to_frame` rows with ``baseline`` and ``candidate``
        run ids first; ``stratum`` is ``"(all)"`` on the overall rows;
        ``verdict`` is the gate's verdict of the dimension on its overall
        row when gate results are given (None otherwise and on strata).
    """
    frames = []
    for obj in comparisons:
        comp = _comparison(obj)
        f = comp.to_frame()
        f.insert(0, "candidate", comp.candidate_run)
        f.insert(0, "baseline", comp.baseline_run)
        gated = obj.dimensions if hasattr(obj, "comparison") else ()  # a GateResult; a Comparison has none
        verdicts = {d.dimension: d.verdict.value for d in gated}
        f["verdict"] = [verdicts.get(d) if pd.isna(st) else None for d, st in zip(f["dimension"], f["stratum"],
                                                                                 strict=True)]  # fmt: skip
        frames.append(f)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    out["stratum"] = out["stratum"].astype(object).where(out["stratum"].notna(), "(all)")
    return out


def regressed_items(data: ReportData, comparisons: Sequence[Comparison | GateResult], *, k: int = 10) -> pd.DataFrame:
    """The ``k`` item x dimension pairs that dropped most per candidate, with the texts side by side.

    Args:
        data: the loaded report data.
        comparisons: results of :func:`compare_runs` or :func:`gate_runs`.
        k: pairs per candidate.

    Returns:
        Columns candidate, item_id, dimension, stratum, baseline, candidate
        score, diff_scaled, candidate_detail, query, ideal, baseline_output,
        candidate_output; worst first (see :meth:`Comparison.worst_items`).
    """
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"The 'k' parameter of regressed_items must be an int >= 1. Got {k!r} instead.")
    frames = []
    for comp in map(_comparison, comparisons):
        worst = comp.worst_items(int(k))
        if worst.empty:
            continue
        worst = worst.rename(columns={"baseline": "baseline_value", "candidate": "candidate_value"})
        worst.insert(0, "candidate", comp.candidate_run)
        detail = data.scores[data.scores["run_id"] == comp.candidate_run][["item_id", "dimension", "detail"]]
        worst = worst.merge(detail.rename(columns={"detail": "candidate_detail"}), on=["item_id", "dimension"],
                            how="left")  # fmt: skip
        frames.append(_texts(data, worst, comp.baseline_run))
    cols = ["candidate", "item_id", "dimension", "stratum", "baseline_value", "candidate_value", "diff_scaled",
            "candidate_detail", "query", "ideal", "baseline_output", "candidate_output"]  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


def gate_runs(
    scores: pd.DataFrame,
    baseline: str | None = None,
    candidates: Sequence[str] | str | None = None,
    **gate_kwargs: Any,
) -> tuple[GateResult, ...]:
    """The regression gate (:func:`evaltools.gate.gate`) for each candidate against the baseline.

    Args:
        scores: long score table holding every run.
        baseline: baseline run id (default: the first run).
        candidates: candidate run ids (default: every other run).
        **gate_kwargs: passed to :func:`evaltools.gate.gate` (alpha,
            tolerance, margin, untrusted, production_shares, rng, ...).

    Returns:
        One :class:`~evaltools.gate.GateResult` per candidate, in order;
        each holds its :class:`~evaltools.stats.Comparison` as ``.comparison``.
    """
    from evaltools.gate import gate

    baseline, cands = _runs(scores, baseline, candidates, "gate_runs")
    base = scores[scores["run_id"] == baseline]
    return tuple(gate(base, scores[scores["run_id"] == c], **gate_kwargs) for c in cands)


def gate_table(gates: Sequence[GateResult]) -> pd.DataFrame:
    """Gate verdicts of several candidates in one frame.

    Args:
        gates: results of :func:`gate_runs`.

    Returns:
        :meth:`GateResult.to_frame` rows with ``candidate`` and the
        candidate's ``overall`` verdict first.
    """
    frames = []
    for g in gates:
        f = g.to_frame()
        f.insert(0, "overall", g.verdict.value)
        f.insert(0, "candidate", g.comparison.candidate_run)
        frames.append(f)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
