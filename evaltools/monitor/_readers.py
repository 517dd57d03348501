"""Reading log files into an engine's table (the only engine-specific part of loading).

One reader per engine, each returning an Ibis table with the source columns plus
``__ts`` (the parsed timestamp, UTC), ``__ts_aware`` (it had an offset),
``__ts_raw`` (the raw text, for messages) and ``__file``; everything after that
is portable Ibis.

* :class:`_DuckDBReader`: DuckDB's ``read_json`` / ``read_csv`` / ``read_parquet``
  (and pandas DataFrames, registered as views).
* :class:`_SparkReader`: Spark's JSON, CSV and Parquet sources, through the
  session behind an Ibis PySpark backend (local ``local[*]`` or a cluster).

When an engine rejects a line (a line truncated mid-way, a broken quote), the
file is scanned in Python to name the exact line, and either an error is raised
or the malformed lines are skipped and counted. These scans only run on that
error path.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Sequence
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evaltools.errors import LogError

# LogError lives in evaltools.errors with the other input errors; re-exported here.


if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

    from evaltools.monitor._logs import LogColumns, OnBadRows

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = ("duckdb", "spark")

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


def execute(con: Any, expr: Any) -> pd.DataFrame:
    """Run an Ibis expression on its backend and return a DataFrame (through Arrow).

    Ibis 12's own ``execute`` reads a pandas option that pandas 3 deprecates (a Pandas4Warning
    on every call) and, on DuckDB 2, a deprecated DuckDB method; Arrow avoids both. PySpark's
    Arrow path goes through that same ``execute``, so its warning is silenced there.
    """
    if getattr(con, "name", "") == "pyspark":
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*future\.infer_string.*")
            return con.execute(expr)
    return con.to_pyarrow(expr).to_pandas()


def _duckdb_table(con: Any, name: str) -> ir.Table:
    """An Ibis table over a DuckDB view (``con.table`` without Ibis 12's deprecated DuckDB 2 call)."""
    import ibis.expr.operations as ops
    import ibis.expr.schema as sch

    rows = con.con.sql(f"DESCRIBE {_ident(name)}").fetchall()
    mapper = con.compiler.type_mapper
    schema = sch.Schema({str(r[0]): mapper.from_string(str(r[1]), nullable=r[2] == "YES") for r in rows})
    return ops.DatabaseTable(name, schema=schema, source=con, namespace=ops.Namespace()).to_expr()


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


class _DuckDBReader:
    """Reads one group of same-format files (or a DataFrame) into a DuckDB view with parsed timestamps."""

    engine = "duckdb"

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
    ) -> None:
        self.con = con
        self.cols = cols
        self.explicit = explicit
        self.on_bad_rows = on_bad_rows
        self.assume_timezone = assume_timezone
        self.timestamp_format = timestamp_format
        self.timestamp_unit = timestamp_unit
        self._tmpdir: Path | None = None
        self.skipped: list[tuple[str, int]] = []  # (file, line) of skipped malformed lines
        self.line_maps: dict[str, tuple[str, list[int]]] = {}  # cleaned file -> (original, line numbers)

    @property
    def tmpdir(self) -> Path:
        """A folder for cleaned copies of files with malformed lines, created on first use only."""
        if self._tmpdir is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="evaltools_logs_"))
        return self._tmpdir

    def keep_files_alive(self, owner: object) -> None:
        """Delete the cleaned copies (if any) when ``owner``, the object whose lazy table reads them, is collected."""
        if self._tmpdir is not None:
            weakref.finalize(owner, shutil.rmtree, str(self._tmpdir), True)

    def read_frame(self, df: pd.DataFrame) -> ir.Table:
        """Register a DataFrame as a view with parsed timestamps."""
        cols, explicit = self.cols, self.explicit
        name = f"evaltools_df_{next(_view_ids)}"
        df = df.copy()
        df["__file"] = "<DataFrame>"
        self.con.con.register(name, df)
        types = {str(r[0]): str(r[1]) for r in self.con.raw_sql(f"DESCRIBE {name}").fetchall()}
        if cols.timestamp not in types:
            raise LogError(
                f"Column '{cols.timestamp}' (for 'timestamp') is not in the DataFrame. Columns are "
                f"{[c for c in df.columns if c != '__file']}. Map it with columns={{'timestamp': '<column name>'}}.",
                path="<DataFrame>",
                field=cols.timestamp,
            )
        miss = [c for c in sorted(explicit) if getattr(cols, c) not in types]
        if miss:
            raise LogError(
                f"Column '{getattr(cols, miss[0])}' (for '{miss[0]}') is not in the DataFrame. "
                f"Columns are {[c for c in df.columns if c != '__file']}.",
                path="<DataFrame>",
                field=getattr(cols, miss[0]),
            )
        parsed, aware, raw_text = self._ts_sql(cols.timestamp, types[cols.timestamp], Path("<DataFrame>"))
        view = f"evaltools_logs_{next(_view_ids)}"
        self.con.raw_sql(
            f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT *, {parsed} AS __ts, {aware} AS __ts_aware, "
            f"{raw_text} AS __ts_raw FROM {name}"
        )
        return _duckdb_table(self.con, view)

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
            # The same instant as CAST(... AS TIMESTAMP) in the UTC session, without the per-row ICU
            # calendar conversion (5x faster on 10M rows: 0.34 s against 1.6 s, and every query pays it).
            if t in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):  # microseconds (not the _NS variant)
                return f"make_timestamp(epoch_us({col}))", "true"
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

    def read(self, fmt: str, files: list[Path]) -> ir.Table:
        """The table over one group of same-format files (a DuckDB view)."""
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
        return _duckdb_table(self.con, name)


_CORRUPT = "__corrupt_record"


def spark_session(master: str | None = None) -> Any:
    """The SparkSession for monitoring: the active one, or a new one on ``master`` (``local[*]`` by default).

    A new local session binds to 127.0.0.1 (``SPARK_LOCAL_IP``), has no web UI and uses few
    shuffle partitions (per-window results are small). Every session used here computes in UTC
    (``spark.sql.session.timeZone``), as windows are UTC hours and days.

    Args:
        master: a Spark master URL (``spark://host:7077``, ``yarn``, ``local[4]``); None reuses
            the active session, or starts ``local[*]``.

    Returns:
        A ``pyspark.sql.SparkSession``.

    Raises:
        MissingDependencyError: when pyspark is not installed.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        from evaltools.errors import missing_dependency

        raise missing_dependency("pyspark", "spark") from None
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        session = active
    else:
        url = master or "local[*]"
        if url.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            SparkSession.builder.appName("evaltools-monitor")
            .master(url)
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.sql.session.timeZone", "UTC")
        )
        if url.startswith("local"):
            builder = builder.config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
        session = builder.getOrCreate()
    session.conf.set("spark.sql.session.timeZone", "UTC")
    return session


def _spark_path(f: Path | str) -> str:
    s = str(f)
    return s if "://" in s else str(Path(s).absolute())


class _SparkReader:
    """Reads one group of same-format files into a Spark temporary view with parsed timestamps."""

    engine = "spark"

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
    ) -> None:
        from evaltools.errors import ConfigError

        if timestamp_format is not None:
            raise ConfigError(
                "The 'timestamp_format' parameter of load_logs (a strptime format) is supported by the DuckDB "
                "engine only. With engine='spark', use ISO 8601 or epoch timestamps, or parse them in Spark "
                "and pass the Ibis table."
            )
        self.con = con
        self.session = con._session
        self.cols = cols
        self.explicit = explicit
        self.on_bad_rows = on_bad_rows
        self.assume_timezone = assume_timezone
        self.timestamp_unit = timestamp_unit
        self.skipped: list[tuple[str, int]] = []
        self.line_maps: dict[str, tuple[str, list[int]]] = {}

    def keep_files_alive(self, owner: object) -> None:
        """Nothing to clean: Spark reads the files in place."""

    def read_frame(self, df: pd.DataFrame) -> ir.Table:  # pragma: no cover - load_logs routes DataFrames to DuckDB
        raise NotImplementedError

    def _frame(self, fmt: str, f: Path) -> Any:
        """One file as a Spark DataFrame (ids and text as strings), malformed lines located in Python."""
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        rd = self.session.read
        path = _spark_path(f)
        if fmt == "parquet":
            try:
                df = rd.parquet(path)
            except Exception as exc:
                raise LogError(f"Spark could not read the Parquet file: {exc}", path=f) from exc
        elif fmt == "json":
            df = rd.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", _CORRUPT).json(path)
        else:
            header = _csv_header(f) if "://" not in str(f) else rd.option("header", "true").csv(path).columns
            schema = T.StructType([T.StructField(c, T.StringType()) for c in header] +
                                  [T.StructField(_CORRUPT, T.StringType())])  # fmt: skip
            df = (
                rd.option("header", "true").option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", _CORRUPT)
                .option("multiLine", "true").option("escape", '"').schema(schema).csv(path)
            )  # fmt: skip
        if _CORRUPT in df.columns:
            # Spark refuses queries that read the corrupt-record column alone: read another one beside it.
            others = [c for c in df.columns if c != _CORRUPT]
            if not others:
                raise LogError(f"No line of this file could be read as {fmt.upper()}.", path=f)
            probe = df.select(F.col(_CORRUPT), F.col(others[0])).filter(F.col(_CORRUPT).isNotNull())
            if probe.limit(1).collect():  # collect reads both columns (a count would prune them)
                local = "://" not in str(f)
                bad = (_scan_json(f)[0] if fmt == "json" else _scan_csv(f)[0]) if local else []
                if self.on_bad_rows == "raise":
                    raise LogError(
                        f"Malformed {'JSON' if fmt == 'json' else 'CSV'} line (truncated mid-line?); "
                        f"{len(bad) or 'some'} malformed line(s) in this file. Fix the file, or pass "
                        "on_bad_rows='skip' to skip and count such lines.",
                        path=f,
                        line=bad[0] if bad else None,
                    )
                if not bad:  # not a local file: count them in Spark, line numbers unknown (0)
                    n_bad = int(probe.groupBy().agg(F.count(F.col(others[0])), F.count(F.lit(1))).collect()[0][1])
                    bad = [0] * n_bad
                self.skipped.extend((str(f), b) for b in bad)
            df = df.filter(F.col(_CORRUPT).isNull()).drop(_CORRUPT)
        for c in _STRING_COLUMNS:
            name = getattr(self.cols, c)
            if name in df.columns:
                df = df.withColumn(name, F.col(name).cast("string"))
        return df.withColumn("__file", F.lit(str(f)))

    def _ts(self, df: Any, first_file: Path) -> Any:
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        raw = self.cols.timestamp
        col = F.col(raw)
        typ = df.schema[raw].dataType
        utc = self.assume_timezone in (None, "UTC", "Etc/UTC")

        def naive(e: Any) -> Any:  # a wall-clock time in assume_timezone -> UTC
            return e if utc else F.to_utc_timestamp(e, self.assume_timezone)

        if isinstance(typ, T.StringType):
            s = F.nullif(F.trim(col), F.lit(""))
            aware = s.rlike(_AWARE_RE)
            parsed = F.when(aware, F.expr(f"try_cast(nullif(trim(`{raw}`), '') AS TIMESTAMP)")).otherwise(
                naive(F.expr(f"try_cast(nullif(trim(`{raw}`), '') AS TIMESTAMP_NTZ)").cast("timestamp"))
            )
            text = col
        elif isinstance(typ, T.TimestampType):
            parsed, aware, text = col, F.lit(True), F.when(col.isNull(), None).otherwise(F.lit("typed"))
        elif isinstance(typ, T.TimestampNTZType | T.DateType):
            parsed = naive(col.cast("timestamp_ntz").cast("timestamp"))
            aware, text = F.lit(False), F.when(col.isNull(), None).otherwise(F.lit("typed"))
        elif isinstance(typ, T.NumericType):
            if self.timestamp_unit is None:
                raise LogError(
                    f"The timestamp column holds numbers ({typ.simpleString()}). Pass timestamp_unit='s' or 'ms' "
                    "to read them as Unix epoch times.",
                    path=first_file,
                    field=raw,
                )
            secs = col.cast("double") if self.timestamp_unit == "s" else col.cast("double") / 1000.0
            parsed = F.timestamp_seconds(secs)
            aware, text = F.lit(True), F.when(col.isNull(), None).otherwise(F.lit("typed"))
        else:
            raise LogError(
                f"The timestamp column has an unsupported type {typ.simpleString()}.", path=first_file, field=raw
            )
        return df.withColumns(
            {"__ts": parsed, "__ts_aware": aware, "__ts_raw": text.cast("string") if text is not col else text}
        )

    def read(self, fmt: str, files: list[Path]) -> ir.Table:
        """The table over one group of same-format files (a Spark temporary view)."""
        frames = [self._frame(fmt, f) for f in files]
        df = frames[0]
        for other in frames[1:]:
            df = df.unionByName(other, allowMissingColumns=True)
        columns = set(df.columns)
        missing = [c for c in sorted(self.explicit) if getattr(self.cols, c) not in columns]
        if self.cols.timestamp not in columns:
            missing = sorted(set(missing) | {"timestamp"})
        if missing:
            name = missing[0]
            raise LogError(
                f"Column '{getattr(self.cols, name)}' (for '{name}') is not in the logs. Columns are "
                f"{sorted(c for c in columns if c != '__file')}. Map it with columns={{'{name}': '<column name>'}}.",
                path=files[0],
                field=getattr(self.cols, name),
            )
        if self.cols.timestamp in (getattr(self.cols, c) for c in _STRING_COLUMNS):
            raise LogError(
                "The timestamp column cannot also be a text field.", path=files[0], field=self.cols.timestamp
            )
        df = self._ts(df, files[0])
        view = f"evaltools_logs_{next(_view_ids)}"
        df.createOrReplaceTempView(view)
        return self.con.table(view)


def make_reader(con: Any, *args: Any, **kwargs: Any) -> _DuckDBReader | _SparkReader:
    """The reader for the engine behind an Ibis backend."""
    return (_SparkReader if getattr(con, "name", "") == "pyspark" else _DuckDBReader)(con, *args, **kwargs)


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
