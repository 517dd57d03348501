"""The run store: a variant's outputs on a golden set, under ``runs/<run_id>/``.

A run folder holds

* ``manifest.json``: run_id, golden_name, golden_version (the set's content
  hash), variant {name, model, system_prompt, params}, evaltools_version,
  created_at, finished_at, status, n_items, base_url (never a key), source
  (``generated`` or ``imported``), summary and usage counters. It is always
  replaced atomically (temporary file, then :func:`os.replace`).
* ``outputs.jsonl``: append-only, one line per finished item: id, output,
  latency_s, prompt_tokens, completion_tokens, finish_reason, error, cached,
  attempts (HTTP attempts made), session (which invocation wrote it).
* ``.lock``: held (``flock``) by the one process writing the run, and naming its
  pid; see :class:`RunLock`.

:func:`load_run` reads a run back; :func:`import_outputs` brings in outputs
produced elsewhere. :func:`evaltools.runs.generate` makes runs through the LLM.
"""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evaltools._util import atomic_write_text, dumps_line, evaltools_version, id_problem, iter_jsonl
from evaltools.errors import ConfigError, InputError, RunError, RunLockedError
from evaltools.golden import GoldenSet, load_golden
from evaltools.runs._variant import Variant

if TYPE_CHECKING:  # pandas loads when a run is read back, not before the first request
    import pandas as pd

__all__ = [
    "OUTPUT_FIELDS",
    "MissingOutputsWarning",
    "Run",
    "RunLock",
    "RunSummary",
    "Variant",
    "import_outputs",
    "load_run",
]

OUTPUT_FIELDS = (
    "id",
    "output",
    "latency_s",
    "prompt_tokens",
    "completion_tokens",
    "finish_reason",
    "error",
    "cached",
    "attempts",
    "session",
)
"""The fields of one ``outputs.jsonl`` line, in order (``attempts`` and ``session``
are None in imported runs and in lines written before they were recorded)."""

log = logging.getLogger(__name__)

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class MissingOutputsWarning(UserWarning):
    """Some golden items have no output in an imported (or unfinished) run."""


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Counts over a run's outputs."""

    run_id: str
    """The run."""
    n_items: int
    """Items in the golden set the run is for."""
    n_outputs: int
    """Items with a line in ``outputs.jsonl``."""
    ok: int
    """Items with an output (no error)."""
    errors: dict[str, int]
    """Failed items by reason (``timeout``, ``rate_limited``...)."""
    cached: int
    """Items served from the cache (no LLM call)."""
    truncated: int
    """Outputs cut by the length limit (finish_reason ``length``)."""
    empty: int
    """Outputs that are the empty string."""
    missing_ids: tuple[str, ...] = ()
    """Golden ids with no output (recorded for imports and finished generations)."""

    @property
    def n_errors(self) -> int:
        """Failed items, all reasons."""
        return sum(self.errors.values())

    @property
    def n_missing(self) -> int:
        """Golden items with no line yet."""
        return self.n_items - self.n_outputs

    def to_dict(self) -> dict[str, Any]:
        """The counts as a JSON-ready dict."""
        return {
            "n_items": self.n_items,
            "n_outputs": self.n_outputs,
            "ok": self.ok,
            "errors": dict(self.errors),
            "cached": self.cached,
            "truncated": self.truncated,
            "empty": self.empty,
            "missing_ids": list(self.missing_ids),
        }

    def __str__(self) -> str:
        errs = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items()))
        return (
            f"run {self.run_id}: {self.n_outputs}/{self.n_items} items, {self.ok} ok, "
            f"{self.n_errors} errors{f' ({errs})' if errs else ''}, {self.cached} cached, "
            f"{self.truncated} truncated, {self.empty} empty, {self.n_missing} missing"
        )

    def _repr_html_(self) -> str:
        import html

        return f"<p>{html.escape(str(self))}</p>"


def _summarize(run_id: str, n_items: int, records: list[dict[str, Any]], missing: tuple[str, ...]) -> RunSummary:
    errors = Counter(str(r["error"]).split(":", 1)[0] for r in records if r.get("error"))
    ok = [r for r in records if not r.get("error")]
    return RunSummary(
        run_id=run_id,
        n_items=n_items,
        n_outputs=len(records),
        ok=len(ok),
        errors=dict(errors),
        cached=sum(1 for r in records if r.get("cached")),
        truncated=sum(1 for r in ok if r.get("finish_reason") == "length"),
        empty=sum(1 for r in ok if r.get("output") == ""),
        missing_ids=missing,
    )


@dataclass(frozen=True, eq=False)
class Run:
    """A run read from disk: its manifest and its outputs. Build one with :func:`load_run`."""

    path: Path
    """The run folder."""
    manifest: dict[str, Any]
    """The parsed ``manifest.json``."""
    records: list[dict[str, Any]] = field(repr=False)
    """The ``outputs.jsonl`` lines as read, in the order recorded (:attr:`outputs` as dicts)."""
    session: dict[str, Any] | None = None
    """What the :func:`~evaltools.runs.generate` call that returned this run did:
    ``calls`` (HTTP requests sent, retries included), ``retries``, ``cache_hits``,
    ``resumed`` (items kept from earlier sessions), tokens and ``wall_s``. All zero
    but ``resumed`` when the run was already complete. None from :func:`load_run`."""

    @cached_property
    def outputs(self) -> pd.DataFrame:
        """One row per recorded item, columns :data:`OUTPUT_FIELDS`, in the order recorded."""
        # Built on first use: a rerun that finds the run complete never needs pandas.
        return _outputs_frame(self.records)

    @property
    def id(self) -> str:
        """The run id."""
        return str(self.manifest["run_id"])

    @property
    def golden_version(self) -> str:
        """The content hash of the golden set the run was made against."""
        return str(self.manifest["golden_version"])

    @property
    def variant(self) -> Variant | None:
        """The variant, when the manifest names a model (imports may not)."""
        data = self.manifest.get("variant") or {}
        return Variant.from_dict(data) if data.get("model") else None

    @property
    def summary(self) -> RunSummary:
        """Counts: ok, errors by reason, cached, truncated, empty, missing."""
        missing = tuple((self.manifest.get("summary") or {}).get("missing_ids") or ())
        return _summarize(self.id, int(self.manifest.get("n_items", len(self.records))), self.records, missing)

    def __repr__(self) -> str:
        return (
            f"Run(id={self.id!r}, source={self.manifest.get('source')!r}, outputs={len(self.records)}, "
            f"golden_version={self.golden_version!r})"
        )


def _outputs_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    df = pd.DataFrame([{k: r.get(k) for k in OUTPUT_FIELDS} for r in records], columns=list(OUTPUT_FIELDS))
    df["latency_s"] = pd.to_numeric(df["latency_s"], errors="coerce").astype(float)
    for col in ("prompt_tokens", "completion_tokens"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    df["cached"] = df["cached"].fillna(False).astype(bool)
    for col in ("attempts", "session"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    return df


def _read_outputs(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Lines of an outputs file (a torn last line is skipped), checked for ids and duplicates."""
    if not path.exists():
        return []
    seen: dict[str, int] = {}
    out = []
    for line, record in iter_jsonl(path, error=RunError, allow_empty=True, allow_torn_tail=True):
        item_id = record.get("id")
        if not isinstance(item_id, str):
            raise RunError(
                f"Each output needs a string 'id'. Got {item_id!r} instead.", path=path, line=line, field="id"
            )
        if item_id in seen:
            raise RunError(
                f"Duplicate output for id {item_id!r} (first on line {seen[item_id]}).",
                path=path,
                line=line,
                field="id",
            )
        seen[item_id] = line
        out.append((line, record))
    return out


def load_run(path: str | Path) -> Run:
    """Read a run folder.

    A last line without a newline that is not JSON (a write torn by a crash) is
    skipped; :func:`generate` removes it when it resumes the run.

    Args:
        path: the run folder (``runs/<run_id>``).

    Returns:
        The :class:`Run`.

    Raises:
        RunError: no manifest, a manifest that is not JSON, or a malformed or
            duplicated output line (the message names the file and line).
    """
    folder = Path(path)
    manifest_path = folder / "manifest.json"
    if not folder.exists():
        raise RunError(
            "No such run: the folder does not exist. Runs are made by `evaltools run` or "
            "`evaltools import-outputs` (folders under runs/ hold a manifest.json).",
            path=folder,
        )
    if not manifest_path.exists():
        raise RunError("Not a run folder: manifest.json is missing.", path=folder)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunError(f"The manifest is not valid JSON ({exc}).", path=manifest_path) from None
    for key in ("run_id", "golden_version", "source"):
        if key not in manifest:
            raise RunError(f"The manifest has no '{key}'.", path=manifest_path, field=key)
    records = [r for _, r in _read_outputs(folder / "outputs.jsonl")]
    return Run(folder, manifest, records)


# --------------------------------------------------------------------------- the writer's lock


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


class RunLock:
    """An exclusive lock on a run folder, held by the one process that writes it.

    The lock is an ``flock`` on ``<run>/.lock``, a file that names the holder's pid
    and host. The kernel drops an ``flock`` when its process dies, even by SIGKILL,
    so a lock left by a dead process is taken over (with a log line naming the dead
    pid) and a live holder can never be overridden. A second writer is refused at
    once, never made to wait. Two writers would otherwise send every request twice
    and append every id twice, leaving a run that cannot be read back.

    Args:
        run_dir: the run folder (created when missing).

    Raises:
        RunLockedError: (from :meth:`acquire`) another live process holds the lock;
            the message names its pid.

    Examples:
        >>> import tempfile
        >>> with RunLock(tempfile.mkdtemp()) as lock:
        ...     lock.held
        True
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / ".lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def _holder(self) -> tuple[int | None, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None, ""
        info: dict[str, Any] = {}
        try:
            info = json.loads(text) if text.strip() else {}
        except ValueError:
            pass
        pid = info.get("pid") if isinstance(info, dict) else None
        return (pid if isinstance(pid, int) else None), str(info.get("host", "")) if isinstance(info, dict) else ""

    def acquire(self) -> RunLock:
        """Take the lock, or raise at once when a live process holds it.

        Returns:
            This lock.

        Raises:
            RunLockedError: the run is being written by another process.
        """
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                pid, host = self._holder()
                who = f"process {pid}" if pid is not None else "another process"
                if host and host != socket.gethostname():
                    who += f" on {host}"
                raise RunLockedError(
                    f"Run {self.path.parent.name!r} is being written by {who} (it holds {self.path}). "
                    "Wait for it to finish, stop it, or pass another run_id.",
                    pid=pid,
                    path=self.path.parent,
                ) from None
            # The file may have been unlinked by a holder releasing it between our
            # open and flock: then this lock guards nothing; open the new file.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        pid, _host = self._holder()
        if pid is not None and pid != os.getpid():
            state = "no longer running" if not _pid_alive(pid) else "gone: its lock was released"
            log.warning("Run %s: taking over the lock left by process %d (%s).", self.path.parent.name, pid, state)
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record + b"\n", 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file and drop the lock (safe to call twice)."""
        if self._fd is None:
            return
        try:
            # Unlink only our own file: the folder may have been replaced since.
            if os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        finally:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# --------------------------------------------------------------------------- helpers


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _as_golden(golden: GoldenSet | str | Path) -> GoldenSet:
    return golden if isinstance(golden, GoldenSet) else load_golden(golden, warn=False)


def _check_run_id(run_id: str) -> None:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise ConfigError(
            "The 'run_id' must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit. "
            f"Got {run_id!r} instead."
        )


def _write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    atomic_write_text(run_dir / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- import


def _read_source(
    src: Path, fmt: str, id_column: str, output_column: str, keep_empty: bool
) -> list[tuple[int, dict[str, Any]]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    if fmt == "jsonl":
        rows = list(iter_jsonl(src, error=InputError))
    else:
        try:
            # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark, which
            # would otherwise glue itself to the first column's name.
            with open(src, encoding="utf-8-sig", newline="") as fh:
                reader = csv.DictReader(fh)
                if reader.fieldnames is None:
                    raise InputError("The CSV file is empty; it needs a header row.", path=src)
                start = 2
                for row in reader:
                    if any(v for v in row.values() if v):
                        rows.append((start, dict(row)))
                    start = reader.line_num + 1
        except UnicodeDecodeError as exc:
            raise InputError(
                f"The file is not valid UTF-8 (byte {exc.start}). Re-save it as UTF-8.", path=src
            ) from None
        if not rows:
            raise InputError("The CSV file has a header but no rows.", path=src)
        if not keep_empty:
            # A CSV cannot tell an empty answer from no answer; an empty cell is far
            # more often the second (a row exported before the model answered).
            for _, row in rows:
                if row.get(output_column) == "":
                    row[output_column] = None
                    if not row.get("error"):
                        row["error"] = (
                            "no_output: the output cell is empty in the imported CSV "
                            "(import with keep_empty=True / --keep-empty to keep it as an empty answer)"
                        )
    for line, row in rows:
        for col in (id_column, output_column):
            if col not in row:
                raise InputError(
                    f"Missing column '{col}' (columns: {', '.join(map(str, row))}). "
                    "Map your column names with id_column= / output_column=.",
                    path=src,
                    line=line,
                    field=col,
                )
        if (problem := id_problem(row[id_column], id_column)) is not None:
            raise InputError(problem, path=src, line=line, field=id_column)
        value = row[output_column]
        if value is not None and not isinstance(value, str):
            raise InputError(
                f"The output must be a string (or null for a failed item). Got {type(value).__name__} "
                "instead; serialize structured outputs as JSON text.",
                path=src,
                line=line,
                field=output_column,
            )
    return rows


def _number(value: Any, kind: type, src: Path, line: int, name: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise InputError(
            f"'{name}' must be a number. Got {value!r} instead.", path=src, line=line, field=name
        ) from None


def import_outputs(
    src: str | Path,
    golden: GoldenSet | str | Path,
    *,
    run_id: str,
    runs_dir: str | Path = "runs",
    variant: Variant | None = None,
    id_column: str = "id",
    output_column: str = "output",
    format: Literal["jsonl", "csv"] | None = None,  # noqa: A002 - the natural name for a file format
    overwrite: bool = False,
    keep_empty: bool = False,
) -> Run:
    """Bring outputs produced elsewhere into the run store as ``runs/<run_id>/``.

    The source is JSONL (one object a line) or CSV with a header; besides the id
    and output columns it may carry latency_s, prompt_tokens, completion_tokens,
    finish_reason and error. A null output records the item as failed
    (``error`` "no_output" unless given). In a CSV an empty output cell is a
    missing output too, since CSV cannot tell it from an empty answer; pass
    ``keep_empty=True`` to import it as the empty string. A UTF-8 byte-order mark
    (Excel's "CSV UTF-8") is accepted. Nothing is written unless the whole
    file is valid: the run is built in a temporary folder and renamed into place.

    Args:
        src: the file (``.jsonl``/``.json``/``.ndjson`` or ``.csv``).
        golden: the golden set the outputs answer (or its folder).
        run_id: the new run's id.
        runs_dir: the run store.
        variant: the variant that produced the outputs, when known.
        id_column: the source's column holding golden item ids.
        output_column: the source's column holding the outputs.
        format: ``"jsonl"`` or ``"csv"``; by default from the file's extension.
        overwrite: replace an existing run of the same id (refused while another
            process is writing it).
        keep_empty: in a CSV, import an empty output cell as an empty answer
            instead of a missing output.

    Returns:
        The :class:`Run`; ``run.summary.missing_ids`` lists golden ids with no output.

    Raises:
        RunError: ids not in the golden set (the message names the file, each
            unknown id and its line), duplicate ids, or an existing run.
        InputError: a missing column, a bad value, non-UTF-8 bytes, an empty file.

    Warns:
        MissingOutputsWarning: some golden items have no output.
    """
    src = Path(src)
    gs = _as_golden(golden)
    _check_run_id(run_id)
    final = Path(runs_dir) / run_id
    if final.exists() and not overwrite:
        raise RunError(f"Run {run_id!r} already exists. Pass another run_id, or overwrite=True.", path=final)
    fmt = format or {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}.get(src.suffix.lower())
    if fmt not in ("jsonl", "csv"):
        raise InputError(
            f"Cannot tell the file's format from {src.suffix!r}. Use .jsonl or .csv, or pass format='jsonl'/'csv'.",
            path=src,
        )
    if not src.exists():
        raise InputError("File not found.", path=src)
    rows = _read_source(src, fmt, id_column, output_column, keep_empty)

    golden_ids = set(gs.ids)
    unknown = [(line, row[id_column]) for line, row in rows if row[id_column] not in golden_ids]
    if unknown:
        shown = ", ".join(f"{i!r} (line {line})" for line, i in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise RunError(
            f"{len(unknown)} id(s) are not in golden set {gs.name!r} (version {gs.version}): {shown}{more}. "
            "Fix the ids, or import against the golden set these outputs answer.",
            path=src,
            line=unknown[0][0],
            field=id_column,
        )
    seen: dict[str, int] = {}
    records = []
    for line, row in rows:
        item_id = row[id_column]
        if item_id in seen:
            raise RunError(
                f"Duplicate id {item_id!r} (first on line {seen[item_id]}).", path=src, line=line, field=id_column
            )
        seen[item_id] = line
        output = row[output_column]
        error = row.get("error") or None
        if output is None and error is None:
            error = "no_output: the imported file has no output for this item"
        records.append(
            {
                "id": item_id,
                "output": output,
                "latency_s": _number(row.get("latency_s"), float, src, line, "latency_s"),
                "prompt_tokens": _number(row.get("prompt_tokens"), int, src, line, "prompt_tokens"),
                "completion_tokens": _number(row.get("completion_tokens"), int, src, line, "completion_tokens"),
                "finish_reason": row.get("finish_reason") or None,
                "error": error,
                "cached": False,
                "attempts": None,
                "session": None,
            }
        )
    missing = tuple(i for i in gs.ids if i not in seen)
    if missing:
        warnings.warn(
            f"{len(missing)} of {len(gs.ids)} golden items have no output in {src}: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}.",
            MissingOutputsWarning,
            stacklevel=2,
        )
    summary = _summarize(run_id, len(gs.ids), records, missing)
    now = _now()
    manifest = {
        "run_id": run_id,
        "golden_name": gs.name,
        "golden_version": gs.version,
        "variant": variant.to_dict()
        if variant
        else {"name": run_id, "model": None, "system_prompt": None, "params": {}},
        "evaltools_version": evaltools_version(),
        "created_at": now,
        "finished_at": now,
        "status": "complete",
        "n_items": len(gs.ids),
        "base_url": None,
        "source": "imported",
        "source_file": str(src),
        "summary": summary.to_dict(),
    }
    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    lock = RunLock(final).acquire() if final.exists() else None  # never replace a run being written
    tmp = Path(tempfile.mkdtemp(dir=runs_dir, prefix=f".import-{run_id}-"))
    try:
        atomic_write_text(tmp / "outputs.jsonl", "".join(dumps_line(r) for r in records))
        _write_manifest(tmp, manifest)
        if final.exists():
            trash = Path(tempfile.mkdtemp(dir=runs_dir, prefix=f".replaced-{run_id}-"))
            os.rename(final, trash / run_id)
            os.rename(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if lock is not None:
            lock.release()
    return load_run(final)
