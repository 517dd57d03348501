"""Reading log files into DuckDB views (the engine-specific part of loading).

Text formats are read with DuckDB's ``read_json`` / ``read_csv``; when DuckDB
rejects a file (a line truncated mid-way, a broken quote), the file is scanned
in Python to name the exact line, and either an error is raised or the
malformed lines are skipped and counted. These scans only run on that error path.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evaltools.errors import LogError


# LogError lives in evaltools.errors with the other input errors; re-exported here.


if TYPE_CHECKING:
    from evaltools.monitor._logs import LogColumns, OnBadRows

_FORMATS = {
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# An offset after a time of day: 10:00Z, 10:00:00+02:00, 10:00:00.123-0530, 10:00 UTC.
_AWARE_RE = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?[ ]*([zZ]|UTC|utc|[+-][0-9]{2}(:?[0-9]{2})?)$"
_STRING_COLUMNS = ("request_id", "conversation_id", "output", "model", "segment", "finish_reason")
_view_ids = count()


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _expand(source: str | Path | Sequence[str | Path]) -> list[Path]:
    items = [source] if isinstance(source, str | Path) else list(source)
    if not items:
        raise LogError("load_logs got an empty list of sources. Pass a file, a folder or a list of files.")
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in _FORMATS)
            if not found:
                raise LogError(f"The folder has no log files with a supported extension {sorted(_FORMATS)}.", path=p)
            files.extend(found)
        elif p.is_file():
            if p.suffix.lower() not in _FORMATS:
                raise LogError(f"Unsupported log file extension '{p.suffix}'. Use one of {sorted(_FORMATS)}.", path=p)
            files.append(p)
        else:
            raise LogError("The log file or folder does not exist.", path=p)
    return files


def _scan_json(path: Path) -> tuple[list[int], list[tuple[int, str]]]:
    """Return the 1-based numbers of malformed lines and the good lines with their numbers (error path only)."""
    bad: list[int] = []
    good: list[tuple[int, str]] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh, start=1):
            s = line.strip()
            if not s:
                continue
            try:
                obj = json.loads(s)
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
            except ValueError:
                bad.append(i)
                continue
            good.append((i, s))
    return bad, good


def _scan_csv(path: Path) -> tuple[list[int], list[tuple[int, list[str]]], list[str]]:
    """Return malformed line numbers, good rows with their line numbers, and the header (error path only)."""
    bad: list[int] = []
    rows: list[tuple[int, list[str]]] = []
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader)
        except (StopIteration, csv.Error):
            return [1], [], []
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error:
                bad.append(start)
                break  # the reader cannot resynchronize after a broken quote
            if not row:
                continue
            if len(row) != len(header):
                bad.append(start)
                continue
            rows.append((start, row))
    return bad, rows, header


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        try:
            return next(csv.reader(fh))
        except (StopIteration, csv.Error):
            return []


class _Reader:
    """Reads one group of same-format files into a DuckDB view with parsed timestamps."""

    def __init__(
        self,
        con: Any,
        cols: LogColumns,
        explicit: frozenset[str],
        *,
        on_bad_rows: OnBadRows,
        assume_timezone: str | None,
        timestamp_format: str | None,
        timestamp_unit: Literal["s", "ms"] | None,
        tmpdir: Path,
    ) -> None:
        self.con = con
        self.cols = cols
        self.explicit = explicit
        self.on_bad_rows = on_bad_rows
        self.assume_timezone = assume_timezone
        self.timestamp_format = timestamp_format
        self.timestamp_unit = timestamp_unit
        self.tmpdir = tmpdir
        self.skipped: list[tuple[str, int]] = []  # (file, line) of skipped malformed lines
        self.line_maps: dict[str, tuple[str, list[int]]] = {}  # cleaned file -> (original, line numbers)

    def _scan_call(self, fmt: str, files: Sequence[Path], extra: str = "") -> str:
        lst = "[" + ", ".join(_sql_str(str(f)) for f in files) + "]"
        if fmt == "json":
            return f"read_json({lst}, format='newline_delimited', union_by_name=true, filename='__file'{extra})"
        if fmt == "csv":
            return f"read_csv({lst}, header=true, union_by_name=true, filename='__file'{extra})"
        return f"read_parquet({lst}, union_by_name=true, filename='__file')"

    def _describe(self, fmt: str, files: Sequence[Path]) -> dict[str, str]:
        rows = self.con.raw_sql(f"DESCRIBE SELECT * FROM {self._scan_call(fmt, files)}").fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def _clean(self, fmt: str, files: Sequence[Path], exc: Exception) -> list[Path]:
        """Locate malformed lines after DuckDB failed; raise, or write cleaned copies and count."""
        cleaned: list[Path] = []
        any_bad = False
        for f in files:
            if fmt == "json":
                bad, good = _scan_json(f)
            elif fmt == "csv":
                bad, rows, header = _scan_csv(f)
            else:
                raise LogError(f"DuckDB could not read the Parquet file: {exc}", path=f) from exc
            if not bad:
                cleaned.append(f)
                continue
            any_bad = True
            if self.on_bad_rows == "raise":
                raise LogError(
                    f"Malformed {'JSON' if fmt == 'json' else 'CSV'} line (truncated mid-line?); "
                    f"{len(bad)} malformed line(s) in this file. Fix the file, or pass on_bad_rows='skip' "
                    "to skip and count such lines.",
                    path=f,
                    line=bad[0],
                ) from exc
            out = self.tmpdir / f"clean_{next(_view_ids)}{f.suffix}"
            if fmt == "json":
                out.write_text("".join(s + "\n" for _, s in good), encoding="utf-8")
                kept = [i for i, _ in good]
            else:
                with out.open("w", encoding="utf-8", newline="") as fh:
                    w = csv.writer(fh)
                    w.writerow(header)
                    w.writerows(r for _, r in rows)
                kept = [i for i, _ in rows]
            self.line_maps[str(out)] = (str(f), kept)
            self.skipped.extend((str(f), b) for b in bad)
            cleaned.append(out)
        if not any_bad:
            raise LogError(f"DuckDB could not read the logs: {exc}", path=files[0]) from exc
        return cleaned

    def _ts_sql(self, raw: str, rtype: str, first_file: Path) -> tuple[str, str, str]:
        """SQL for the parsed UTC timestamp, the 'has an offset' flag and the raw text (for messages)."""
        parsed, aware = self._ts_parse(raw, rtype, first_file)
        t = rtype.upper()
        if t.startswith("VARCHAR") or t == "JSON":
            text = f"CAST({_ident(raw)} AS VARCHAR)"
        else:
            # Typed timestamps cannot be unparseable: skip the costly cast, keep NULLs visible.
            text = f"CASE WHEN {_ident(raw)} IS NULL THEN NULL ELSE 'typed' END"
        return parsed, aware, text

    def _ts_parse(self, raw: str, rtype: str, first_file: Path) -> tuple[str, str]:
        """SQL for the timestamp as a naive UTC ``TIMESTAMP`` (the session time zone is UTC).

        Naive UTC keeps ``date_trunc`` off the ICU time-zone path, which is several times slower
        on large logs; instants with an offset are converted once, here.
        """
        col = _ident(raw)
        utc = self.assume_timezone in (None, "UTC", "Etc/UTC")
        tz = _sql_str(self.assume_timezone or "UTC")

        def naive(expr: str) -> str:  # a wall-clock time in assume_timezone -> naive UTC
            return expr if utc else f"CAST(timezone({tz}, {expr}) AS TIMESTAMP)"

        t = rtype.upper()
        if t in ("VARCHAR", "JSON") or t.startswith("VARCHAR"):
            s = f"NULLIF(trim(CAST({col} AS VARCHAR)), '')"
            aware = f"regexp_matches({s}, {_sql_str(_AWARE_RE)})"
            if self.timestamp_format:
                fmt = _sql_str(self.timestamp_format)
                if "%z" in self.timestamp_format or "%Z" in self.timestamp_format:
                    parsed = f"CAST(CAST(TRY_STRPTIME({s}, {fmt}) AS TIMESTAMPTZ) AS TIMESTAMP)"
                    aware = f"({s} IS NOT NULL)"
                else:
                    parsed = naive(f"CAST(TRY_STRPTIME({s}, {fmt}) AS TIMESTAMP)")
                    aware = "false"
            else:
                parsed = (
                    f"CASE WHEN {aware} THEN CAST(TRY_CAST({s} AS TIMESTAMPTZ) AS TIMESTAMP) "
                    f"ELSE {naive(f'TRY_CAST({s} AS TIMESTAMP)')} END"
                )
            return parsed, aware
        if "WITH TIME ZONE" in t or t.startswith("TIMESTAMPTZ"):
            return f"CAST({col} AS TIMESTAMP)", "true"
        if t.startswith("TIMESTAMP") or t == "DATE":
            return naive(f"CAST({col} AS TIMESTAMP)"), "false"
        if t in ("BIGINT", "INTEGER", "DOUBLE", "FLOAT", "HUGEINT", "UBIGINT", "SMALLINT", "DECIMAL") or t.startswith(
            "DECIMAL"
        ):
            if self.timestamp_unit is None:
                raise LogError(
                    f"The timestamp column holds numbers ({rtype}). Pass timestamp_unit='s' or 'ms' "
                    "to read them as Unix epoch times.",
                    path=first_file,
                    field=raw,
                )
            div = "" if self.timestamp_unit == "s" else " / 1000.0"
            return f"CAST(to_timestamp(CAST({col} AS DOUBLE){div}) AS TIMESTAMP)", "true"
        raise LogError(f"The timestamp column has an unsupported type {rtype}.", path=first_file, field=raw)

    def read(self, fmt: str, files: list[Path]) -> tuple[str, dict[str, str]]:
        """Create the view; return its name and the source column types."""
        try:
            types = self._describe(fmt, files)
        except Exception as exc:  # duckdb.Error: locate the malformed line ourselves
            files = self._clean(fmt, files, exc)
            types = self._describe(fmt, files)
        if fmt == "csv" and not set(_csv_header(files[0])) <= set(types):
            # A broken quote can make DuckDB's sniffer fall back to one column silently.
            files = self._clean(fmt, files, RuntimeError("DuckDB's CSV sniffer could not read the header"))
            types = self._describe(fmt, files)
        missing = [c for c in sorted(self.explicit) if getattr(self.cols, c) not in types]
        ts_col = self.cols.timestamp
        if ts_col not in types:
            missing = sorted(set(missing) | {"timestamp"})
        if missing:
            name = missing[0]
            raise LogError(
                f"Column '{getattr(self.cols, name)}' (for '{name}') is not in the logs. Columns are "
                f"{sorted(c for c in types if c != '__file')}. Map it with columns={{'{name}': '<column name>'}}.",
                path=files[0],
                field=getattr(self.cols, name),
            )
        # Read ids and text as strings whatever the sniffer thinks, and the timestamp raw.
        overrides = {getattr(self.cols, c): "VARCHAR" for c in _STRING_COLUMNS if getattr(self.cols, c) in types}
        if types[ts_col].upper() not in ("VARCHAR",) and fmt != "parquet":
            # Let the sniffer's typed timestamps through only for Parquet; text formats are parsed by us.
            if not any(k in types[ts_col].upper() for k in ("INT", "DOUBLE", "FLOAT", "DECIMAL")):
                overrides[ts_col] = "VARCHAR"
        extra = ""
        if fmt == "json":
            spec = {k: overrides.get(k, v) for k, v in types.items() if k != "__file"}
            extra = ", columns={" + ", ".join(f"{_sql_str(k)}: {_sql_str(v)}" for k, v in spec.items()) + "}"
        elif fmt == "csv" and overrides:
            extra = ", types={" + ", ".join(f"{_sql_str(k)}: {_sql_str(v)}" for k, v in overrides.items()) + "}"
        for k, v in overrides.items():
            types[k] = v
        parsed, aware, raw = self._ts_sql(ts_col, types[ts_col], files[0])
        name = f"evaltools_logs_{next(_view_ids)}"
        self.con.raw_sql(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT *, {parsed} AS __ts, {aware} AS __ts_aware, "
            f"{raw} AS __ts_raw FROM {self._scan_call(fmt, files, extra)}"
        )
        try:
            self.con.raw_sql(f"SELECT count(*) FROM {name}").fetchall()
        except Exception as exc:  # malformed line beyond the sniffer's sample
            files = self._clean(fmt, files, exc)
            self.con.raw_sql(
                f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT *, {parsed} AS __ts, {aware} AS __ts_aware, "
                f"{raw} AS __ts_raw FROM {self._scan_call(fmt, files, extra)}"
            )
        return name, types


def _locate(file: str, fmt: str, column: str, value: str, line_map: Sequence[int]) -> int | None:
    """Find the 1-based line (or row) of the first row whose raw timestamp is ``value`` (error path only).

    ``line_map`` translates row numbers of a cleaned copy back to the original file's lines.
    """
    p = Path(file)
    k = None
    try:
        if fmt == "json":
            with p.open(encoding="utf-8", errors="replace") as fh:
                rows = (ln for ln in fh if ln.strip())
                for k, line in enumerate(rows, start=1):  # noqa: B007
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    v = obj.get(column) if isinstance(obj, dict) else None
                    if v is not None and str(v).strip() == value:
                        break
                else:
                    return None
            if line_map:
                return line_map[k - 1]
            # Without a map, count physical lines up to the k-th non-empty one.
            with p.open(encoding="utf-8", errors="replace") as fh:
                seen = 0
                for i, ln in enumerate(fh, start=1):
                    seen += bool(ln.strip())
                    if seen == k:
                        return i
        elif fmt == "csv":
            with p.open(encoding="utf-8", errors="replace", newline="") as fh:
                rd = csv.reader(fh)
                j = next(rd).index(column)
                for k, row in enumerate(rd, start=1):
                    if len(row) > j and row[j].strip() == value:
                        return line_map[k - 1] if line_map else rd.line_num
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            arr = pq.read_table(p, columns=[column]).column(0).to_pylist()
            for i, v in enumerate(arr, start=1):
                if v is not None and str(v).strip() == value:
                    return i
    except (OSError, ValueError, StopIteration, IndexError):
        return None
    return None
