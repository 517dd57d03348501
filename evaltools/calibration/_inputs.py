"""Input handling for :func:`evaltools.calibrate`: validation and pairing of judge and human labels.

Both inputs are normalized to long frames keyed by item (and run, when both
carry a ``run_id``): ``judge[key, dimension, value]`` (NaN = unscored) and
``human[key, dimension, annotator, value]`` with one label per annotator
and item (the latest wins).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from evaltools._util import resolve_seed
from evaltools.errors import ConfigError, InputError

Level = Literal["nominal", "ordinal", "interval"]
Consensus = Literal["majority", "median"]

LEVELS = ("nominal", "ordinal", "interval")
_KEY_SEP = "\x1f"


def param_error(name: str, expected: str, got: object, func: str = "calibrate") -> ConfigError:
    """The error for a bad parameter, in scikit-learn's message template (as :mod:`evaltools._util`'s checks)."""
    return ConfigError(f"The '{name}' parameter of {func} must be {expected}. Got {got!r} instead.")


def check_trust_params(
    func: str,
    *,
    floors: Mapping[str, tuple[object, float, float]],
    confidence: object,
    min_labels: object,
    min_paired: int,
    n_resamples: object,
) -> None:
    """Validate the parameters every trust verdict shares (floors, coverage, sample sizes).

    Args:
        func: the public function, for the message.
        floors: name -> (value, lowest, highest) of each bounded float.
        confidence: coverage of the intervals.
        min_labels: labels needed to trust.
        min_paired: the smallest allowed ``min_labels``.
        n_resamples: bootstrap resamples.

    Raises:
        InputError: a parameter is out of range, naming it.
    """
    for name, (val, lo, hi) in floors.items():
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not lo <= val <= hi:
            raise param_error(name, f"a float in [{lo:g}, {hi:g}]", val, func)
    if not isinstance(confidence, float) or not 0 < confidence < 1:
        raise param_error("confidence", "a float in (0, 1)", confidence, func)
    if not isinstance(min_labels, int) or min_labels < min_paired:
        raise param_error("min_labels", f"an int >= {min_paired}", min_labels, func)
    if not isinstance(n_resamples, int) or n_resamples < 100:
        raise param_error("n_resamples", "an int >= 100", n_resamples, func)


def resolve_rng(rng: np.random.Generator | int | None, func: str = "calibrate") -> tuple[np.random.Generator, int]:
    """A generator and the integer seed that reproduces it (the seed rules of :func:`evaltools._util.resolve_seed`)."""
    # Record an integer seed whatever we were given, so every result can be
    # reproduced with rng=<seed>.
    seed = resolve_seed(rng, func)
    return np.random.default_rng(seed), seed


def per_dimension(value: object, dims: Sequence[str], name: str) -> dict[str, object]:
    """Expand a single value or a mapping into one value per dimension."""
    if isinstance(value, Mapping):
        missing = [d for d in dims if d not in value]
        if missing:
            raise InputError(
                f"The '{name}' mapping of calibrate has no entry for dimension(s) {missing}; "
                f"it has {sorted(value)}. Give one entry per dimension or a single value for all."
            )
        return {d: value[d] for d in dims}
    return {d: value for d in dims}


def check_scale(scale: object, dim: str) -> tuple[float, ...]:
    """Validate a declared scale; return its distinct values, ascending."""
    if isinstance(scale, (str, bytes)) or not isinstance(scale, (Sequence, range, np.ndarray)):
        raise param_error("scale", "a sequence of the allowed values such as range(1, 6) or [0, 1]", scale)
    try:
        values = sorted({float(v) for v in scale})
    except (TypeError, ValueError):
        raise param_error("scale", "a sequence of numbers", scale) from None
    if len(values) < 2 or any(not math.isfinite(v) for v in values):
        raise InputError(
            f"The 'scale' of dimension '{dim}' must list at least two finite values. Got {list(scale)!r} instead."
        )
    return tuple(values)


def is_long_frame(x: object) -> bool:
    """Whether ``x`` is a long table (``item_id``, ``dimension``, ``value``)."""
    return isinstance(x, pd.DataFrame) and {"item_id", "dimension", "value"} <= set(x.columns)


def to_long(judge: object, human: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Normalize both inputs to long frames: judge[key, dimension, value], human[... annotator]."""
    if is_long_frame(judge) or is_long_frame(human):
        if not (is_long_frame(judge) and is_long_frame(human)):
            raise InputError(
                "calibrate needs judge and human in the same form: both long DataFrames with columns "
                "item_id, dimension, value (human also annotator), or both arrays of values."
            )
        assert isinstance(judge, pd.DataFrame) and isinstance(human, pd.DataFrame)
        use_run = (
            "run_id" in judge.columns
            and "run_id" in human.columns
            and bool(judge["run_id"].notna().any())
            and bool(human["run_id"].notna().any())
        )

        def key(df: pd.DataFrame) -> pd.Series:
            item = df["item_id"].astype(str)
            return df["run_id"].astype(str) + _KEY_SEP + item if use_run else item

        j = pd.DataFrame({"key": key(judge), "dimension": judge["dimension"].astype(str)})
        j["value"] = pd.to_numeric(judge["value"], errors="coerce").to_numpy(dtype=float)
        bad = judge["value"].notna() & j["value"].isna()
        if bad.any():
            raise InputError(f"Judge values must be numbers or NaN. Got {judge['value'][bad].iloc[0]!r} instead.")
        dup = j.duplicated(["key", "dimension"], keep=False)
        if dup.any():
            first = j[dup].iloc[0]
            raise InputError(
                f"The judge table has {int(dup.sum())} rows for the same item and dimension "
                f"(first: item {first['key']!r}, dimension {first['dimension']!r}); keep one score per item: "
                "calibrate one run at a time, or give both tables a run_id column."
            )
        h = pd.DataFrame({"key": key(human), "dimension": human["dimension"].astype(str)})
        h["annotator"] = human["annotator"].astype(str) if "annotator" in human.columns else "human"
        h["value"] = pd.to_numeric(human["value"], errors="coerce").to_numpy(dtype=float)
        if h["value"].isna().any():
            raise InputError(
                f"Human label values must be numbers. Got {human['value'][h['value'].isna()].iloc[0]!r} instead.",
                field="value",
            )
        # One annotator labelling an item twice: the latest label wins.
        if "time" in human.columns:
            h["_order"] = pd.to_datetime(human["time"], utc=True, errors="coerce", format="mixed")
            h = h.sort_values("_order", kind="stable").drop(columns="_order")
        h = h.drop_duplicates(["key", "dimension", "annotator"], keep="last")
        return j, h

    _LONG = ["item_id", "dimension", "value"]
    for what, frame in (("judge", judge), ("human", human)):
        # A frame that looks like a table of ids but lacks columns: name them instead of
        # failing later on its shape.
        if isinstance(frame, pd.DataFrame) and (what == "judge" or "item_id" in frame.columns):
            missing = [c for c in _LONG if c not in frame.columns]
            raise InputError(
                f"The {what} frame passed to calibrate lacks column(s) {missing} of a long table "
                f"(item_id, dimension, value{', annotator' if what == 'human' else ''}); it has {list(frame.columns)}. "
                "Pass arrays of values instead when there is a single dimension.",
                field=missing[0],
            )
    judge_obj = np.asarray(judge, dtype=object)
    if judge_obj.ndim != 1:
        raise param_error("judge", "a 1-D array of scores or a long DataFrame", f"shape {judge_obj.shape}")
    raw = pd.Series(judge_obj)
    judge_arr = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = raw.notna().to_numpy() & np.isnan(judge_arr)
    if bad.any():
        # A reply the caller did not parse is not silently unscored: say so.
        raise InputError(
            f"Judge scores must be numbers or NaN (unscored). Got {raw[bad].iloc[0]!r} at position "
            f"{int(np.flatnonzero(bad)[0])} instead."
        )
    if isinstance(human, pd.DataFrame):
        annotators = [str(c) for c in human.columns]
        human_arr = human.to_numpy(dtype=float)
    else:
        human_arr = np.asarray(human, dtype=float)
        if human_arr.ndim == 1:
            human_arr = human_arr[:, None]
        if human_arr.ndim != 2:
            raise param_error("human", "a 1-D or 2-D (items x annotators) array", f"shape {human_arr.shape}")
        annotators = [f"human_{i + 1}" for i in range(human_arr.shape[1])]
    if len(judge_arr) != len(human_arr):
        raise InputError(
            f"judge and human must have one entry per item: judge has {len(judge_arr)}, human has {len(human_arr)}."
        )
    if len(judge_arr) == 0:
        raise InputError("calibrate got empty arrays: there is nothing to calibrate.")
    unlabelled = int(np.isnan(human_arr).all(axis=1).sum())
    if unlabelled == len(human_arr):
        raise InputError(f"None of the {unlabelled} items has a human label (all NaN): there is nothing to calibrate.")
    keys = [str(i) for i in range(len(judge_arr))]
    j = pd.DataFrame({"key": keys, "dimension": "score", "value": judge_arr.astype(float)})
    h = pd.DataFrame(
        {
            "key": np.repeat(keys, human_arr.shape[1]),
            "dimension": "score",
            "annotator": annotators * len(keys),
            "value": human_arr.ravel(),
        }
    ).dropna(subset=["value"])
    # Items nobody labelled are left out; calibrate says how many.
    h.attrs["n_unlabelled"] = unlabelled
    return j, h


def indices(values: np.ndarray, scale: tuple[float, ...], what: str, dim: str) -> np.ndarray:
    """Category index of each value on the scale; an error names values off the scale."""
    arr = np.asarray(scale)
    idx = np.searchsorted(arr, values)
    ok = (idx < len(arr)) & (arr[np.minimum(idx, len(arr) - 1)] == values)
    if not ok.all():
        bad = sorted(set(values[~ok].tolist()))[:5]
        raise InputError(
            f"{what} values of dimension '{dim}' must be on the declared scale {list(scale)}. "
            f"Got {bad} instead; fix the labels or declare the scale that was used.",
            field="value",
        )
    return idx


def consensus(counts: np.ndarray, rule: Consensus) -> np.ndarray:
    """Consensus category per unit from value counts (U, K); -1 when there is none."""
    if rule == "median":
        # The lower median stays on the scale (statistics.median_low).
        m = counts.sum(axis=1)
        target = (m - 1) // 2
        return np.asarray((np.cumsum(counts, axis=1) > target[:, None]).argmax(axis=1))
    top = counts.max(axis=1)
    winners = (counts == top[:, None]).sum(axis=1)
    return np.where(winners == 1, counts.argmax(axis=1), -1)
