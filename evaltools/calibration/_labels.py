"""Human labels on disk: append, load and validate, import from CSV, pick a calibration subset.

Labels live in ``golden/<name>/labels/<annotator>.jsonl``, one JSON object a
line, append-only::

    {"item_id": "q-017", "run_id": "baseline-2024-06", "dimension": "helpfulness",
     "value": 4, "annotator": "ana", "time": "2024-06-03T10:15:02.123456+00:00"}

Every label is written as one line and flushed to disk (``fsync``) before the
call returns, so a kernel killed between two labels loses neither. When an
annotator labels the same item and dimension twice, both lines stay in the
file and the latest wins when loading.

A crash in the middle of a write can leave a torn last line (no newline). The
next :func:`append_label` or :func:`load_labels` repairs it before anything
else: a fragment that is not a whole label moves to ``<annotator>.jsonl.torn``
(with a :class:`LabelWarning`), a whole label that only lacks its newline gets
one. So the next label never glues onto a fragment, and no complete label is lost.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaltools._util import append_line, id_problem, repair_torn_tail
from evaltools.errors import GoldenSetError, InputError
from evaltools.golden import largest_remainder

__all__ = [
    "LABEL_FIELDS",
    "CalibrationSubset",
    "LabelError",
    "LabelWarning",
    "append_label",
    "calibration_subset",
    "labels_from_csv",
    "load_labels",
]

LABEL_FIELDS = ("item_id", "run_id", "dimension", "value", "annotator", "time")
"""Columns of a labels table, in order."""

_ANNOTATOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class LabelError(GoldenSetError):
    """A labels file or CSV holds a label evaltools cannot use."""


class LabelWarning(UserWarning):
    """A labels file has a problem evaltools worked around (a torn last line)."""


def _repair(path: Path, stacklevel: int = 3) -> bool:
    """Repair ``path`` in place (:func:`evaltools._util.repair_torn_tail`), warning; False if it cannot be written."""
    try:
        message = repair_torn_tail(path, what="label")
    except OSError:
        return False  # a read-only folder: the reader skips the fragment instead
    if message is not None:
        warnings.warn(LabelWarning(message), stacklevel=stacklevel)
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _check_annotator(annotator: object) -> str:
    if not isinstance(annotator, str) or not _ANNOTATOR.fullmatch(annotator):
        raise InputError(
            "The 'annotator' name must be 1-64 letters, digits, '_', '.' or '-' (it names the labels file). "
            f"Got {annotator!r} instead."
        )
    return annotator


def _scale_of(dimensions: Mapping[str, Sequence[float]] | None, dim: str) -> Sequence[float] | None:
    return None if dimensions is None else dimensions.get(dim)


def _check_label(
    rec: Mapping[str, Any],
    *,
    items: frozenset[str] | None,
    dimensions: Mapping[str, Sequence[float]] | None,
    path: str | Path,
    line: int | None,
) -> dict[str, Any]:
    """Validate one label record; return it normalized."""

    def fail(field: str, message: str) -> LabelError:
        return LabelError(message, path=path, line=line, field=field)

    out: dict[str, Any] = {}
    for key in ("item_id", "dimension", "annotator"):
        value = rec.get(key)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and key == "item_id":
            value = str(value)
        if (problem := id_problem(value, key)) is not None:
            raise fail(key, problem)
        out[key] = value
    run_id = rec.get("run_id")
    if run_id is not None and not isinstance(run_id, str):
        raise fail("run_id", f"'run_id' must be a string or null. Got {run_id!r} instead.")
    out["run_id"] = run_id
    value = rec.get("value")
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
    ):
        raise fail("value", f"'value' must be a finite number. Got {value!r} instead.")
    out["value"] = float(value)
    time = rec.get("time")
    if not isinstance(time, str):
        raise fail("time", f"'time' must be an ISO 8601 timestamp string. Got {time!r} instead.")
    try:
        datetime.fromisoformat(time)
    except ValueError:
        raise fail("time", f"'time' must be an ISO 8601 timestamp. Got {time!r} instead.") from None
    out["time"] = time
    if items is not None and out["item_id"] not in items:
        raise fail(
            "item_id",
            f"Label for unknown item {out['item_id']!r}: it is not in the golden set. "
            "Fix the id or remove the line (labels must refer to golden items).",
        )
    if dimensions is not None:
        scale = _scale_of(dimensions, out["dimension"])
        if scale is None:
            raise fail(
                "dimension",
                f"Unknown dimension {out['dimension']!r}; labelled dimensions are {sorted(dimensions)}.",
            )
        if out["value"] not in {float(v) for v in scale}:
            raise fail(
                "value",
                f"Value {value!r} is outside the scale of '{out['dimension']}' {[float(v) for v in scale]}.",
            )
    return out


def append_label(
    labels_dir: str | Path,
    *,
    item_id: str,
    dimension: str,
    value: float,
    annotator: str,
    run_id: str | None = None,
    time: str | None = None,
) -> dict[str, Any]:
    """Append one label to ``<labels_dir>/<annotator>.jsonl`` and flush it to disk.

    Args:
        labels_dir: the labels folder (created if missing).
        item_id: the golden item.
        dimension: the labelled dimension.
        value: the label.
        annotator: who labelled (names the file).
        run_id: the run whose output was labelled, if any.
        time: ISO 8601 timestamp; now (UTC) by default.

    Returns:
        The record written.

    Raises:
        InputError: an invalid annotator name or value.

    Examples:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> rec = append_label(d, item_id="q1", dimension="tone", value=4, annotator="ana")
        >>> load_labels(d)[["item_id", "value", "annotator"]].values.tolist()
        [['q1', 4.0, 'ana']]
    """
    _check_annotator(annotator)
    rec = {
        "item_id": item_id,
        "run_id": run_id,
        "dimension": dimension,
        "value": value,
        "annotator": annotator,
        "time": time or _now(),
    }
    rec = _check_label(rec, items=None, dimensions=None, path="<append_label>", line=None)
    folder = Path(labels_dir)
    folder.mkdir(parents=True, exist_ok=True)
    line = json.dumps({k: rec[k] for k in LABEL_FIELDS}, ensure_ascii=False) + "\n"
    path = folder / f"{annotator}.jsonl"
    if path.exists():
        _repair(path)  # a fragment left by a crash must not swallow this label
    # One write of a whole line, then fsync: a crash leaves either the full
    # line or (at worst) a torn last line, which the next open repairs.
    append_line(path, line)
    return rec


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float if c == "value" else object) for c in LABEL_FIELDS})


def load_labels(
    labels_dir: str | Path,
    *,
    items: Iterable[str] | None = None,
    dimensions: Mapping[str, Sequence[float]] | None = None,
) -> pd.DataFrame:
    """Load and validate every ``*.jsonl`` labels file in a folder.

    Args:
        labels_dir: the labels folder.
        items: the known item ids; a label for another item is an error.
        dimensions: dimension -> allowed values; a label for another
            dimension, or off the scale, is an error.

    Returns:
        A DataFrame with columns ``item_id, run_id, dimension, value,
        annotator, time``; where an annotator labelled the same item, run and
        dimension more than once, only the latest (by ``time``, then file
        order) is kept. Empty (with those columns) when the folder is
        missing or has no labels.

    Raises:
        LabelError: a line is not JSON or a field is invalid; the message
            names the file, the line and the field.

    Warns:
        LabelWarning: the last line of a file is torn (no newline, not JSON),
            as after a crash during a write; it is moved to ``<file>.torn`` (or,
            when the folder is read-only, skipped).
    """
    folder = Path(labels_dir)
    known = frozenset(str(i) for i in items) if items is not None else None
    records: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        _repair(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise LabelError(
                f"The file is not valid UTF-8 (byte {exc.start}). Re-save it as UTF-8.", path=path
            ) from None
        lines = text.split("\n")
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError as exc:
                if number == len(lines) and not text.endswith("\n"):
                    warnings.warn(
                        LabelWarning(f"{path}:{number}: skipping a torn last line (an interrupted write)."),
                        stacklevel=2,
                    )
                    continue
                raise LabelError(f"The line is not valid JSON: {exc.msg}.", path=path, line=number) from None
            if not isinstance(rec, dict):
                raise LabelError("Each line must be a JSON object.", path=path, line=number)
            records.append(_check_label(rec, items=known, dimensions=dimensions, path=path, line=number))
    if not records:
        return _empty()
    frame = pd.DataFrame(records, columns=list(LABEL_FIELDS))
    frame["_t"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
    frame = frame.sort_values("_t", kind="stable")
    key = frame["run_id"].fillna("\x00")
    frame = frame.assign(_run=key).drop_duplicates(["annotator", "item_id", "_run", "dimension"], keep="last")
    return frame.drop(columns=["_t", "_run"]).sort_values(["annotator", "time"], kind="stable").reset_index(drop=True)


def labels_from_csv(
    csv_path: str | Path,
    labels_dir: str | Path,
    *,
    annotator: str | None = None,
    run_id: str | None = None,
    items: Iterable[str] | None = None,
    dimensions: Mapping[str, Sequence[float]] | None = None,
) -> pd.DataFrame:
    """Import labels made elsewhere (a spreadsheet) into the labels folder.

    Two layouts are accepted: *long*, with columns ``item_id, dimension,
    value`` (optional ``annotator``, ``run_id``, ``time``), or *wide*, with
    ``item_id`` and one column per dimension named in ``dimensions`` (an
    empty cell means not labelled). Every row is validated before anything
    is written, so a bad file writes nothing.

    Args:
        csv_path: the CSV file.
        labels_dir: the labels folder to append to.
        annotator: annotator for rows without an ``annotator`` column.
        run_id: run for rows without a ``run_id`` column.
        items: the known item ids (unknown ids are an error).
        dimensions: dimension -> allowed values (required for the wide layout).

    Returns:
        The labels written, as in :func:`load_labels` (before de-duplication).

    Raises:
        LabelError: a row is invalid; the message names the CSV line and column.
        InputError: neither layout matches, or no annotator is given.
    """
    path = Path(csv_path)
    # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first column's name.
    frame = pd.read_csv(
        path, dtype={"item_id": str, "run_id": str, "annotator": str, "dimension": str}, encoding="utf-8-sig"
    )
    if "item_id" not in frame.columns:
        raise InputError(f"The CSV needs an 'item_id' column. Got columns {list(frame.columns)}.", path=path)
    if "annotator" not in frame.columns and annotator is None:
        raise InputError("The CSV has no 'annotator' column; pass annotator='name'.", path=path)
    if {"dimension", "value"} <= set(frame.columns):
        long = list(enumerate(frame.to_dict("records")))
    elif dimensions is not None and set(dimensions) & set(frame.columns):
        long = []
        for i, r in enumerate(frame.to_dict("records")):
            for dim in dimensions:
                if dim in r and not (isinstance(r[dim], float) and math.isnan(r[dim])):
                    long.append((i, {**r, "dimension": dim, "value": r[dim]}))
    else:
        raise InputError(
            "The CSV must be long (columns item_id, dimension, value) or wide (item_id plus one column per "
            f"dimension, with dimensions=... given). Got columns {list(frame.columns)}.",
            path=path,
        )
    known = frozenset(str(i) for i in items) if items is not None else None
    stamp = _now()
    checked = []
    for i, r in long:
        rec = {
            "item_id": r.get("item_id"),
            "run_id": r.get("run_id") if isinstance(r.get("run_id"), str) else run_id,
            "dimension": r.get("dimension"),
            "value": pd.to_numeric(pd.Series([r.get("value")]), errors="coerce").iloc[0],
            "annotator": r.get("annotator") if isinstance(r.get("annotator"), str) else annotator,
            "time": r.get("time") if isinstance(r.get("time"), str) else stamp,
        }
        if isinstance(rec["value"], float) and math.isnan(rec["value"]):
            rec["value"] = r.get("value")  # report the original text
        # CSV line numbers count the header as line 1.
        checked.append(_check_label(rec, items=known, dimensions=dimensions, path=path, line=i + 2))
        _check_annotator(checked[-1]["annotator"])
    for rec in checked:
        append_label(labels_dir, **{k: rec[k] for k in LABEL_FIELDS})
    return pd.DataFrame(checked, columns=list(LABEL_FIELDS))


@dataclass(frozen=True, slots=True)
class CalibrationSubset:
    """A stratified sample of items for humans to label."""

    item_ids: tuple[str, ...]
    """Chosen items, grouped by stratum in the input's order of strata."""

    allocation: dict[str, int]
    """Items drawn per stratum."""

    population: dict[str, int]
    """Items available per stratum."""

    seed: int
    """Seed of the sampler."""

    @property
    def inclusion_probability(self) -> dict[str, float]:
        """``n_h / N_h`` per stratum (for weighted estimates)."""
        return {h: self.allocation[h] / self.population[h] for h in self.allocation}

    def to_frame(self) -> pd.DataFrame:
        """Per-stratum table.

        Returns:
            Columns stratum, population, allocated, inclusion_probability.
        """
        return pd.DataFrame(
            [
                {
                    "stratum": h,
                    "population": self.population[h],
                    "allocated": n,
                    "inclusion_probability": n / self.population[h],
                }
                for h, n in self.allocation.items()
            ]
        )


def calibration_subset(
    items: pd.DataFrame,
    n: int,
    *,
    stratum: str = "stratum",
    targets: Mapping[str, float] | None = None,
    rng: int | np.random.Generator | None = 0,
) -> CalibrationSubset:
    """Pick a stratified random subset of items to label (largest-remainder allocation, seeded).

    Args:
        items: the golden items, with an ``id`` (or ``item_id``) column and the stratum column.
        n: how many items to pick.
        stratum: the stratum column.
        targets: stratum -> share of the subset; by default proportional to
            the strata's sizes in ``items``.
        rng: seed or generator; the seed used is recorded.

    Returns:
        A :class:`CalibrationSubset`. Allocation per stratum is
        ``floor(n * share)`` plus one for the largest remainders, capped at
        the stratum's size (the excess goes to the other strata by the same rule).

    Raises:
        InputError: ``n`` is not in [1, len(items)], a column is missing, or
            a target names an unknown stratum.

    Examples:
        >>> strata = ["common"] * 6 + ["edge"] * 3 + ["adversarial"]
        >>> items = pd.DataFrame({"id": [f"q{i}" for i in range(10)], "stratum": strata})
        >>> calibration_subset(items, 5, rng=1).allocation
        {'common': 3, 'edge': 2, 'adversarial': 0}
    """
    id_col = "item_id" if "item_id" in items.columns else "id"
    for col in (id_col, stratum):
        if col not in items.columns:
            raise InputError(f"calibration_subset needs a '{col}' column. Got columns {list(items.columns)}.")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(items):
        raise InputError(
            f"The 'n' parameter of calibration_subset must be an int in [1, {len(items)}]. Got {n!r} instead."
        )
    if isinstance(rng, np.random.Generator):
        seed = int(rng.integers(0, 2**63 - 1))
    elif rng is None:
        seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    else:
        seed = int(rng)
    population = {str(h): int(c) for h, c in items[stratum].astype(str).value_counts(sort=False).items()}
    if targets is not None:
        unknown = sorted(set(targets) - set(population))
        if unknown:
            raise InputError(f"Unknown strata in targets: {unknown}; the items have {sorted(population)}.")
        shares = {h: float(targets.get(h, 0.0)) for h in population}
    else:
        shares = {h: float(c) for h, c in population.items()}
    alloc = largest_remainder(n, shares)
    # Cap at the stratum size and re-allocate the overflow among the rest.
    while any(alloc[h] > population[h] for h in alloc):
        over = sum(max(0, alloc[h] - population[h]) for h in alloc)
        alloc = {h: min(a, population[h]) for h, a in alloc.items()}
        room = {h: shares[h] or 1.0 for h in alloc if alloc[h] < population[h]}
        extra = largest_remainder(over, room)
        alloc = {h: alloc[h] + extra.get(h, 0) for h in alloc}
    gen = np.random.default_rng(seed)
    chosen: list[str] = []
    for h, k in alloc.items():
        ids = items.loc[items[stratum].astype(str) == h, id_col].astype(str).to_numpy()
        chosen.extend(str(x) for x in gen.choice(ids, size=k, replace=False))
    return CalibrationSubset(item_ids=tuple(chosen), allocation=alloc, population=population, seed=seed)
