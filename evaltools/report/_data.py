"""What a report reads: a golden set, its runs, their score tables and outputs.

:func:`load_report_data` is the one loader every report notebook and the
explorer call first. It validates at the boundary (missing run, version
mismatch, missing score table) so a report fails on its first cell with an
error that says how to fix it, and it returns a frozen :class:`ReportData`
whose notebook view is the report's header (golden set name and version,
runs, variants) and carries that header as display metadata, which
:func:`evaltools.report.render_report` puts at the top of the HTML.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evaltools._util import query_text
from evaltools.errors import ConfigError, RunError, VersionMismatchError
from evaltools.golden import GoldenSet, GoldenSetWarning, load_golden
from evaltools.runs import Run, load_run
from evaltools.scorers import read_scores

HEADER_KEY = "evaltools"
"""Display-metadata key under which :class:`ReportData` publishes the report header."""

OUTPUT_COLUMNS = ("run_id", "item_id", "output", "error", "latency_s", "prompt_tokens", "completion_tokens",
                  "finish_reason")  # fmt: skip
"""Columns of :attr:`ReportData.outputs`."""


@dataclass(frozen=True, eq=False)
class ReportData:
    """A golden set, runs made against it, and their scores: the input of every report table.

    Build one with :func:`load_report_data`.
    """

    golden: GoldenSet
    """The golden set."""
    runs: tuple[Run, ...]
    """The runs, in the order given (the first is the comparison baseline by default)."""
    scores: pd.DataFrame
    """The long score table of every run (docs/internals.md)."""
    outputs: pd.DataFrame
    """One row per (run, item) with an output record: :data:`OUTPUT_COLUMNS`."""
    notes: tuple[str, ...] = ()
    """Warnings raised while loading (strata off target, missing outputs), for the report header."""

    @property
    def run_ids(self) -> list[str]:
        """Run ids in the order given."""
        return [r.id for r in self.runs]

    @property
    def items(self) -> pd.DataFrame:
        """Golden items with a plain-text ``query_text`` column."""
        frame = self.golden.frame.copy()
        frame["query_text"] = [query_text(q) for q in frame["query"]]
        return frame

    def header(self) -> dict[str, Any]:
        """The report header: golden set name, version and size, run ids, variants and models.

        Returns:
            A JSON-serializable dict.
        """
        runs = []
        for r in self.runs:
            variant = r.manifest.get("variant") or {}
            runs.append({"run_id": r.id, "variant": variant.get("name"), "model": variant.get("model"),
                         "created_at": r.manifest.get("created_at"), "n_outputs": len(r.outputs)})  # fmt: skip
        return {
            "golden_name": self.golden.name,
            "golden_version": self.golden.version,
            "n_items": len(self.golden),
            "run_ids": self.run_ids,
            "runs": runs,
            "notes": list(self.notes),
        }

    def _repr_html_(self) -> str:
        head = self.header()
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(r[k]) if r[k] is not None else '')}</td>"
                             for k in ("run_id", "variant", "model", "n_outputs", "created_at")) + "</tr>"
            for r in head["runs"]
        )  # fmt: skip
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (
            '<div class="et-data">'
            f"<p><b>Golden set</b> {html.escape(self.golden.name)} &middot; version "
            f"<code>{html.escape(self.golden.version)}</code> &middot; {len(self.golden)} items</p>"
            '<table class="et-table"><thead><tr><th>run</th><th>variant</th><th>model</th><th>outputs</th>'
            f"<th>created</th></tr></thead><tbody>{rows}</tbody></table>"
            + (f'<ul class="et-notes">{notes}</ul>' if notes else "")
            + "</div>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict[str, str], dict[str, Any]]:
        data = {"text/html": self._repr_html_(), "text/plain": repr(self)}
        return data, {HEADER_KEY: self.header()}

    def __repr__(self) -> str:
        return (
            f"ReportData(golden={self.golden.name!r}, version={self.golden.version!r}, "
            f"runs={self.run_ids!r}, score_rows={len(self.scores)})"
        )


def _as_paths(runs: Any) -> list[Any]:
    if runs is None:
        return []
    if isinstance(runs, str | Path | Run):
        return [runs]
    return list(runs)


PROJECT_MARKERS = ("golden", "runs")
"""Folders whose presence marks a project root (see :func:`use_project_root`)."""


def find_project_root(start: str | Path | None = None) -> Path | None:
    """The nearest folder, from ``start`` (default: the current one) up, holding ``golden/`` or ``runs/``.

    Args:
        start: where to start looking.

    Returns:
        The folder, or None when no parent has either.

    Examples:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp()); (root / "golden").mkdir(); (root / "notebooks").mkdir()
        >>> find_project_root(root / "notebooks") == root
        True
    """
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).is_dir() for marker in PROJECT_MARKERS):
            return folder
    return None


def use_project_root(start: str | Path | None = None) -> Path:
    """Make relative paths resolve from the project root, not from ``notebooks/``.

    JupyterLab starts a notebook's kernel in the notebook's folder, so
    ``"golden/support"`` would be looked up in ``notebooks/golden/support``.
    Notebooks call this first: it changes the working directory to
    :func:`find_project_root` (and says so) when that is another folder, and
    does nothing when the kernel already runs there (``evaltools report``
    runs notebooks from the current folder) or no project root is found.

    Args:
        start: where to start looking (default: the current folder).

    Returns:
        The working directory afterwards.
    """
    import os

    here = Path.cwd().resolve()
    root = find_project_root(start if start is not None else here)
    if root is not None and root != here:
        os.chdir(root)
        print(f"Relative paths are read from the project root {root}")
    return Path.cwd()


def load_report_data(
    golden: str | Path | GoldenSet | None,
    runs: str | Path | Run | Sequence[str | Path | Run] | None,
    *,
    check_version: bool = True,
) -> ReportData:
    """Load a golden set and the scored runs made against it.

    Args:
        golden: the golden set folder (or a loaded :class:`GoldenSet`).
        runs: one run folder or several (``runs/<run_id>``, holding
            ``manifest.json``, ``outputs.jsonl`` and ``scores.jsonl``).
        check_version: refuse runs made against another version of the set.

    Returns:
        The :class:`ReportData`.

    Raises:
        ConfigError: no golden set or no run given, or a run given twice.
        RunError: a run folder does not exist, is not a run, or has no score
            table (the message says which command scores it), or its scores
            belong to another run.
        VersionMismatchError: a run was made against another version of the
            golden set, or scores name items the set does not have.
        GoldenSetError: the golden set is malformed.

    Examples:
        >>> load_report_data(None, ["runs/a"])
        Traceback (most recent call last):
        ...
        evaltools.errors.ConfigError: The 'golden' parameter of load_report_data must be a golden set folder, \
e.g. 'golden/support'. Got None instead.
    """
    func = "load_report_data"
    if golden is None or (isinstance(golden, str) and not golden.strip()):
        raise ConfigError(
            f"The 'golden' parameter of {func} must be a golden set folder, e.g. 'golden/support'. "
            f"Got {golden!r} instead."
        )
    paths = _as_paths(runs)
    if not paths:
        raise ConfigError(
            f"The 'runs' parameter of {func} must name one or more run folders, e.g. ['runs/prompt-v1']. "
            f"Got {runs!r} instead."
        )
    notes: list[str] = []
    if isinstance(golden, GoldenSet):
        gs = golden
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GoldenSetWarning)
            gs = load_golden(golden)
        for w in caught:  # strata off target go in the report header; anything else is passed on
            if issubclass(w.category, GoldenSetWarning):
                notes.append(str(w.message))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    loaded: list[Run] = []
    for p in paths:
        if isinstance(p, Run):
            loaded.append(p)
            continue
        folder = Path(p)
        if not folder.is_dir():
            raise RunError(
                "Run folder not found. Pass a folder that holds manifest.json, outputs.jsonl and scores.jsonl, "
                "e.g. runs/<run_id>.",
                path=folder,
            )
        loaded.append(load_run(folder))
    ids = [r.id for r in loaded]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"Run(s) {dupes} are given more than once in the 'runs' parameter of {func}.")
    tables = []
    for run in loaded:
        if check_version and run.golden_version != gs.version:
            raise VersionMismatchError(
                f"Run {run.id!r} was made against golden set version {run.golden_version!r}, but "
                f"{gs.name!r} at {gs.path} is version {gs.version!r}. Load the golden set the run was made "
                "against, or regenerate and rescore the run.",
                path=Path(run.path) / "manifest.json",
                field="golden_version",
            )
        table = read_scores(run.path)
        other = sorted(set(table["run_id"].dropna().astype(str)) - {run.id})
        if other:
            raise RunError(
                f"The score table names run(s) {other}, not {run.id!r}. Rescore the run: "
                f"evaltools score {run.path} --golden {gs.path}.",
                path=Path(run.path) / "scores.jsonl",
                field="run_id",
            )
        unknown = sorted(set(table["item_id"].astype(str)) - set(gs.by_id))
        if unknown:
            raise VersionMismatchError(
                f"The score table of run {run.id!r} has {len(unknown)} item id(s) that golden set "
                f"{gs.name!r} does not have, e.g. {unknown[:3]}. Score the run against this golden set.",
                path=Path(run.path) / "scores.jsonl",
                field="item_id",
            )
        tables.append(table)
        summary = run.summary
        if summary.n_missing:
            notes.append(f"run {run.id}: {summary.n_missing} golden item(s) have no output recorded")
    scores = pd.concat(tables, ignore_index=True)
    scores["item_id"] = scores["item_id"].astype(str)
    scores["run_id"] = scores["run_id"].astype(str)
    outputs = pd.concat([_outputs_of(r) for r in loaded], ignore_index=True)
    return ReportData(golden=gs, runs=tuple(loaded), scores=scores, outputs=outputs, notes=tuple(notes))


def _outputs_of(run: Run) -> pd.DataFrame:
    df = run.outputs.rename(columns={"id": "item_id"}).copy()
    df["run_id"] = run.id
    df["item_id"] = df["item_id"].astype(str)
    df["output"] = [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in df["output"]]
    return df.reindex(columns=list(OUTPUT_COLUMNS))
