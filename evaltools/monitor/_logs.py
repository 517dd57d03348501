"""Loading production logs into a canonical, lazily evaluated Ibis table.

Reading files is engine specific and lives in one reader per engine
(:mod:`evaltools.monitor._readers`: DuckDB by default, Spark with ``engine="spark"``);
everything after it is portable Ibis, so a team whose logs live in a warehouse
passes an Ibis table of that backend instead of a path.

Documented handling of bad input (every exclusion is counted in
:attr:`LogData.quality`, nothing is dropped silently):

* **missing timestamp column**: :class:`LogError` (an ``InputError``) naming the file and field;
* **missing (null or empty) timestamp values**: the rows are excluded and counted;
* **unparseable timestamps**: :class:`LogError` naming file, line and field
  (``on_bad_rows="raise"``, the default), or excluded and counted (``"skip"``);
* **time zones**: timestamps with an offset (``Z``, ``+02:00``) are converted to
  UTC. Timestamps without one are read in ``assume_timezone``. When that is not
  given, naive timestamps are taken as UTC, *unless* a source mixes naive and
  offset timestamps, which is ambiguous and raises :class:`LogError` (pass
  ``assume_timezone`` to accept it);
* **invalid numbers** (a token count or judge score that is not a number, negative
  tokens, a non-finite score, an inclusion probability outside (0, 1]): treated as
  missing and counted (``invalid_<field>``);
* **missing outputs** (null text): counted per window (``n_requests - n_output``)
  and left out of the refusal rate and character lengths; not scanned at load
  time, to keep the validation pass off the large text column;
* **negative or non-finite latency**: the value is treated as missing for the
  latency metrics and counted per window (``n_latency_invalid``); the request
  still counts for traffic, length and refusals;
* **malformed lines** (a JSONL or CSV file truncated mid-line): :class:`LogError`
  naming the file and line (``"raise"``), or the line is skipped and counted
  (``"skip"``);
* **windows without requests** are reported as gaps by ``compute_windows``, never as zeros.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from evaltools.errors import ConfigError
from evaltools.monitor._readers import (
    _FORMATS,
    ENGINES,
    Engine,
    LogError,
    _DuckDBReader,
    _expand,
    _locate,
    _SparkReader,
    execute,
    make_reader,
    spark_session,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["DataQuality", "LogColumns", "LogData", "LogError", "load_logs"]

LatencyUnit = Literal["s", "ms"]
OnBadRows = Literal["raise", "skip"]


@dataclass(frozen=True, slots=True)
class LogColumns:
    """Where each canonical field lives in the source (column names).

    Only ``timestamp`` is required. A field whose column is absent is treated
    as not logged (its metrics are NaN), unless you named it explicitly in
    ``load_logs(columns=...)``, in which case its absence is an error.
    """

    timestamp: str = "timestamp"
    """When the request was served."""
    request_id: str = "request_id"
    """Unique request id."""
    conversation_id: str = "conversation_id"
    """Conversation id (judge sampling keeps conversations whole); falls back to ``request_id``."""
    output: str = "output"
    """The model's output text (refusal detection, length in characters)."""
    latency: str = "latency"
    """End-to-end latency, in the unit given to ``load_logs`` (``latency_unit``)."""
    prompt_tokens: str = "prompt_tokens"
    """Prompt tokens."""
    completion_tokens: str = "completion_tokens"
    """Completion tokens (output length in tokens)."""
    model: str = "model"
    """Model or deployment name."""
    segment: str = "segment"
    """Traffic segment (intent, product area, tenant tier...)."""
    finish_reason: str = "finish_reason"
    """``"length"`` marks an output cut at max tokens."""
    judge_score: str = "judge_score"
    """Judge score of judged requests (NaN elsewhere)."""
    judge_prob: str = "judge_prob"
    """Inclusion probability of judged requests, for weighted (Hájek) window means."""


_CANONICAL = tuple(f.name for f in fields(LogColumns))
_NUMERIC_CHECKED = ("prompt_tokens", "completion_tokens", "judge_score", "judge_prob")


@dataclass(frozen=True, slots=True)
class DataQuality:
    """Counts of rows and values excluded or repaired while loading, with how each was handled."""

    n_rows_read: int
    """Rows read from the sources (after malformed lines were skipped, if any)."""
    n_rows_used: int
    """Rows with a usable timestamp."""
    issues: pd.DataFrame
    """One row per issue: ``issue``, ``count``, ``handling``, ``example``."""

    def to_frame(self) -> pd.DataFrame:
        """The issues table."""
        return self.issues

    def count(self, issue: str) -> int:
        """How many rows or values an issue affected (0 when it did not occur)."""
        hit = self.issues.loc[self.issues["issue"] == issue, "count"]
        return int(hit.sum()) if len(hit) else 0


@dataclass(frozen=True)
class LogData:
    """Production logs as a canonical, lazy Ibis table plus what loading found.

    ``table`` has the columns ``timestamp`` (UTC; naive in DuckDB), ``request_id``,
    ``conversation_id``, ``output``, ``latency`` (seconds; NULL when missing,
    negative or non-finite), ``latency_invalid`` (bool), ``prompt_tokens``,
    ``completion_tokens``, ``model``, ``segment``, ``finish_reason``,
    ``judge_score``, ``judge_prob`` and ``source_file``. Rows without a usable
    timestamp are already excluded (and counted in ``quality``).
    """

    table: ir.Table
    """The canonical table (lazy; nothing is loaded into memory)."""
    connection: Any
    """The Ibis backend that runs queries on ``table``."""
    sources: tuple[str, ...]
    """The files read (or ``"<DataFrame>"`` / ``"<ibis table>"``)."""
    available: frozenset[str]
    """Canonical fields present in the source."""
    quality: DataQuality
    """Counts of excluded rows and invalid values."""
    first_timestamp: pd.Timestamp | None
    """Earliest usable timestamp (UTC)."""
    last_timestamp: pd.Timestamp | None
    """Latest usable timestamp (UTC)."""
    _keepalive: Any = field(default=None, repr=False, compare=False)

    def to_frame(self, limit: int | None = None) -> pd.DataFrame:
        """Materialize the canonical table (or its first ``limit`` rows) as a DataFrame (timestamps in UTC)."""
        t = self.table if limit is None else self.table.limit(limit)
        return utc_timestamps(execute(self.connection, t))


def utc_timestamps(df: pd.DataFrame, column: str = "timestamp") -> pd.DataFrame:
    """Make a fetched timestamp column tz-aware UTC (the database holds naive UTC)."""
    if column in df.columns:
        s = pd.to_datetime(df[column])
        df[column] = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
    return df


def _canonical(t: ir.Table, cols: LogColumns, latency_unit: LatencyUnit) -> tuple[ir.Table, frozenset[str]]:
    """Project a raw table (with ``__ts``, ``__ts_aware``, ``__ts_raw``, ``__file``) onto the canonical schema."""
    import ibis

    present = set(t.columns)
    avail = {c for c in _CANONICAL if getattr(cols, c) in present}

    def get(c: str, typ: str) -> Any:
        if c in avail:
            v = t[getattr(cols, c)]
            return v.cast(typ) if typ == "string" else v.try_cast(typ)
        return ibis.null(typ)

    lat = get("latency", "float64")
    if latency_unit == "ms":
        lat = lat / 1000.0
    lat_ok = lat.notnull() & (lat >= 0) & ~lat.isinf() & ~lat.isnan()
    conv = get("conversation_id", "string")
    rid = get("request_id", "string")
    # Numeric fields: a value that is present but not a number, or out of range, becomes NULL and is
    # flagged (counted by load_logs), never silently coerced.
    checks: dict[str, tuple[Any, Any]] = {}
    for c, typ in (("prompt_tokens", "int64"), ("completion_tokens", "int64"), ("judge_score", "float64"),
                   ("judge_prob", "float64")):  # fmt: skip
        v = get(c, typ)
        if typ == "int64":
            ok = v.notnull() & (v >= 0)
        elif c == "judge_prob":
            ok = v.notnull() & (v > 0) & (v <= 1)
        else:
            ok = v.notnull() & ~v.isinf() & ~v.isnan()
        raw_present = t[getattr(cols, c)].notnull() if c in avail else ibis.literal(False)
        checks[c] = (ibis.ifelse(ok, v, ibis.null(typ)), (raw_present & ~ok.fill_null(False)).fill_null(False))
    out = t.select(
        timestamp=t.__ts,
        request_id=rid,
        conversation_id=conv.coalesce(rid) if "conversation_id" in avail else rid,
        output=get("output", "string"),
        latency=ibis.ifelse(lat_ok, lat, ibis.null("float64")),
        latency_invalid=(lat.notnull() & ~lat_ok).fill_null(False),
        prompt_tokens=checks["prompt_tokens"][0],
        completion_tokens=checks["completion_tokens"][0],
        model=get("model", "string"),
        segment=get("segment", "string"),
        finish_reason=get("finish_reason", "string"),
        judge_score=checks["judge_score"][0],
        judge_prob=checks["judge_prob"][0],
        source_file=t.__file.cast("string"),
        _ts_aware=t.__ts_aware.cast("boolean"),
        _ts_raw=t.__ts_raw.cast("string"),
        **{f"_bad_{c}": flag for c, (_v, flag) in checks.items()},
    )
    return out, frozenset(avail)


def load_logs(
    source: str | Path | Sequence[str | Path] | pd.DataFrame | ir.Table,
    *,
    columns: Mapping[str, str] | LogColumns | None = None,
    latency_unit: LatencyUnit = "s",
    assume_timezone: str | None = None,
    timestamp_format: str | None = None,
    timestamp_unit: Literal["s", "ms"] | None = None,
    on_bad_rows: OnBadRows = "raise",
    connection: Any = None,
    engine: Engine = "duckdb",
    memory_limit: str = "2GB",
) -> LogData:
    """Load production logs (JSONL, CSV, Parquet files, a folder, a DataFrame or an Ibis table).

    Nothing is read into memory: the result wraps a lazy Ibis table over DuckDB,
    over Spark (``engine="spark"``), or over the backend of the Ibis table you pass. The validation query scans
    the timestamp and latency columns once. See the module docstring for how
    each kind of bad input is handled.

    Args:
        source: a file, a folder of log files (``.jsonl``, ``.ndjson``, ``.json``,
            ``.csv``, ``.parquet``, ``.pq``), a list of them, a DataFrame, or an
            Ibis table (whose timestamp column must already be a timestamp type).
        columns: column names for the canonical fields, as a :class:`LogColumns`
            or a mapping of overrides such as ``{"timestamp": "ts"}``. A field named
            here must exist; unnamed fields are used when present.
        latency_unit: ``"s"`` or ``"ms"``; latencies are converted to seconds.
        assume_timezone: IANA zone for timestamps without an offset (e.g. ``"UTC"``,
            ``"Europe/Paris"``). None reads them as UTC but rejects sources that mix
            naive and offset timestamps.
        timestamp_format: a ``strptime`` format for non-ISO timestamp strings.
        timestamp_unit: ``"s"`` or ``"ms"`` for numeric (Unix epoch) timestamps.
        on_bad_rows: ``"raise"`` (default) or ``"skip"`` unparseable timestamps and
            malformed lines; skipped rows are counted in ``quality``.
        connection: the engine to read files with: an Ibis DuckDB or PySpark backend, or a
            ``SparkSession`` (a cluster's); by default a new in-memory DuckDB, or with
            ``engine="spark"`` the active Spark session or a new local one.
        engine: ``"duckdb"`` or ``"spark"``, when ``connection`` is not given. DataFrames are
            always read with DuckDB (they are already in this process's memory).
        memory_limit: DuckDB memory limit for a new connection; larger work spills to disk.

    Returns:
        A :class:`LogData`.

    Raises:
        LogError: (an InputError) for missing files or columns, malformed lines, unparseable or
            ambiguous timestamps (naming file, line and field), or no usable rows.
        ConfigError: for invalid options or unknown field names in ``columns``.

    Examples:
        >>> df = pd.DataFrame({"ts": ["2024-01-01T10:00:00Z", "2024-01-01T12:30:00+02:00", None],
        ...                    "output": ["hi", "I can't help with that.", "x"], "latency_ms": [120, -5, 300]})
        >>> logs = load_logs(df, columns={"timestamp": "ts", "latency": "latency_ms"}, latency_unit="ms")
        >>> logs.quality.n_rows_used, logs.quality.count("missing_timestamp"), logs.quality.count("invalid_latency")
        (2, 1, 1)
        >>> logs.to_frame()["timestamp"].dt.hour.tolist()
        [10, 10]
    """
    import ibis

    if latency_unit not in ("s", "ms"):
        raise ConfigError(
            f"The 'latency_unit' parameter of load_logs must be 's' or 'ms'. Got {latency_unit!r} instead."
        )
    if on_bad_rows not in ("raise", "skip"):
        raise ConfigError(
            f"The 'on_bad_rows' parameter of load_logs must be 'raise' or 'skip'. Got {on_bad_rows!r} instead."
        )
    if timestamp_unit not in (None, "s", "ms"):
        raise ConfigError(
            f"The 'timestamp_unit' parameter of load_logs must be None, 's' or 'ms'. Got {timestamp_unit!r} instead."
        )
    if isinstance(columns, LogColumns):
        cols, explicit = columns, frozenset[str]()
    else:
        overrides = dict(columns or {})
        unknown = sorted(set(overrides) - set(_CANONICAL))
        if unknown:
            raise ConfigError(
                f"Unknown field(s) {unknown} in the 'columns' parameter of load_logs. Valid fields: {list(_CANONICAL)}."
            )
        cols, explicit = LogColumns(**overrides), frozenset(overrides)
    if assume_timezone is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(assume_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"The 'assume_timezone' parameter of load_logs must be an IANA time zone such as 'UTC' or "
                f"'Europe/Paris'. Got {assume_timezone!r} instead."
            ) from exc

    if engine not in ENGINES:
        raise ConfigError(
            f"The 'engine' parameter of load_logs must be one of {list(ENGINES)}. Got {engine!r} instead."
        )
    reader: _DuckDBReader | _SparkReader | None = None
    fmt_of: dict[str, str] = {}
    if isinstance(source, ibis.expr.types.Table):
        con = source.get_backend() if hasattr(source, "get_backend") else ibis.get_backend(source)
        if cols.timestamp not in source.columns:
            raise LogError(
                f"Column '{cols.timestamp}' (for 'timestamp') is not in the table. Columns are {list(source.columns)}.",
                path="<ibis table>",
                field=cols.timestamp,
            )
        ts = source[cols.timestamp]
        if not ts.type().is_timestamp():
            raise LogError(
                f"An Ibis table's timestamp column must be a timestamp type; got {ts.type()}. Parse it in the "
                "warehouse, or load files with load_logs(path) which parses strings.",
                path="<ibis table>",
                field=cols.timestamp,
            )
        tz_aware = ts.type().timezone is not None
        raw = source.mutate(
            __ts=ts,  # naive timestamps are taken as UTC; aware ones are truncated in the backend's zone
            __ts_aware=ibis.literal(tz_aware),
            __ts_raw=ts.cast("string"),
            __file=ibis.literal("<ibis table>"),
        )
        tables = [raw]
        sources: tuple[str, ...] = ("<ibis table>",)
    else:
        frame = isinstance(source, pd.DataFrame)
        con = _connect(None if frame and not _is_duckdb(connection) else connection,
                       "duckdb" if frame else engine, memory_limit)  # fmt: skip
        reader = make_reader(
            con,
            cols,
            explicit,
            on_bad_rows=on_bad_rows,
            assume_timezone=assume_timezone,
            timestamp_format=timestamp_format,
            timestamp_unit=timestamp_unit,
        )
        tables = []
        if isinstance(source, pd.DataFrame):
            tables.append(reader.read_frame(source))
            sources = ("<DataFrame>",)
            fmt_of["<DataFrame>"] = "dataframe"
        else:
            files = _expand(source)
            groups: dict[str, list[Path]] = {}
            for f in files:
                groups.setdefault(_FORMATS[f.suffix.lower()], []).append(f)
                fmt_of[str(f)] = _FORMATS[f.suffix.lower()]
            for fmt, fs in groups.items():
                tables.append(reader.read(fmt, fs))
            for clean, (orig, _lines) in reader.line_maps.items():
                fmt_of[clean] = fmt_of[orig]
            sources = tuple(str(f) for f in files)

    canon = []
    avail: frozenset[str] = frozenset()
    for t in tables:
        c, a = _canonical(t, cols, latency_unit)
        canon.append(c)
        avail = avail | a
    full = canon[0]
    for c in canon[1:]:
        full = full.union(c)

    q = full.aggregate(
        n=full.count(),
        n_ts_missing=(full._ts_raw.isnull() | (full._ts_raw.strip() == "")).sum(),
        n_ts_bad=(full._ts_raw.notnull() & (full._ts_raw.strip() != "") & full.timestamp.isnull()).sum(),
        n_aware=(full.timestamp.notnull() & full._ts_aware).sum(),
        n_naive=(full.timestamp.notnull() & ~full._ts_aware).sum(),
        n_lat_invalid=full.latency_invalid.sum(),
        n_lat_missing=(full.latency.isnull() & ~full.latency_invalid).sum(),
        **{f"n_bad_{c}": full[f"_bad_{c}"].cast("int64").sum() for c in _NUMERIC_CHECKED},
        t_min=full.timestamp.min(),
        t_max=full.timestamp.max(),
    )
    try:
        stats = execute(con, q).iloc[0]
    except LogError:
        raise
    except Exception as exc:
        raise LogError(f"The logs could not be read: {exc}", path=sources[0]) from exc

    def n_(key: str) -> int:
        v = stats[key]
        return 0 if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)

    def first_bad(pred: Any) -> tuple[str, str, int | None]:
        row = execute(con, full.filter(pred).select("source_file", "_ts_raw").limit(1)).iloc[0]
        file, value = str(row["source_file"]), str(row["_ts_raw"]).strip()
        orig, line_map = reader.line_maps.get(file, (file, [])) if reader is not None else (file, [])
        if fmt_of.get(file) == "dataframe" and isinstance(source, pd.DataFrame):
            hits = source[cols.timestamp].astype(str).str.strip().to_numpy() == value
            return file, value, (int(hits.argmax()) + 1 if hits.any() else None)
        line = _locate(file, fmt_of.get(file, ""), cols.timestamp, value, line_map)
        return orig, value, line

    n_rows = n_("n")
    n_bad = n_("n_ts_bad")
    if n_bad and on_bad_rows == "raise":
        file, value, line = first_bad(full._ts_raw.notnull() & (full._ts_raw.strip() != "") & full.timestamp.isnull())
        raise LogError(
            f"Could not parse the timestamp {value!r} ({n_bad} unparseable timestamp(s) in total). Use ISO 8601 "
            "(e.g. 2024-01-31T14:05:00Z), pass timestamp_format='%d/%m/%Y %H:%M' (strptime), or pass "
            "on_bad_rows='skip' to exclude and count them.",
            path=file,
            line=line,
            field=cols.timestamp,
        )
    if n_("n_naive") and n_("n_aware") and assume_timezone is None:
        file, value, line = first_bad(full.timestamp.notnull() & ~full._ts_aware)
        raise LogError(
            f"The logs mix timestamps with a UTC offset ({n_('n_aware')} rows) and without one ({n_('n_naive')} rows, "
            f"e.g. {value!r}), which is ambiguous. Pass assume_timezone='UTC' (or the zone the naive timestamps "
            "are in) to convert them.",
            path=file,
            line=line,
            field=cols.timestamp,
        )
    n_used = n_rows - n_("n_ts_missing") - n_bad
    if n_used <= 0:
        raise LogError(f"No row has a usable timestamp ({n_rows} rows read).", path=sources[0], field=cols.timestamp)

    issues = []
    if reader is not None and reader.skipped:
        f0, l0 = reader.skipped[0]
        issues.append(("malformed_line", len(reader.skipped), "line skipped", f"{f0}:{l0}"))
    if n_("n_ts_missing"):
        issues.append(("missing_timestamp", n_("n_ts_missing"), "row excluded", ""))
    if n_bad:
        issues.append(("unparseable_timestamp", n_bad, "row excluded (on_bad_rows='skip')", ""))
    if n_("n_naive") and (n_("n_aware") or (assume_timezone not in (None, "UTC"))):
        issues.append(("naive_timestamp", n_("n_naive"), f"read in {assume_timezone or 'UTC'}", ""))
    if n_("n_lat_invalid"):
        issues.append(
            ("invalid_latency", n_("n_lat_invalid"), "negative or non-finite: excluded from latency metrics", "")
        )
    if "latency" in avail and n_("n_lat_missing"):
        issues.append(("missing_latency", n_("n_lat_missing"), "excluded from latency metrics", ""))
    for c in _NUMERIC_CHECKED:
        if n_(f"n_bad_{c}"):
            what = "out of (0, 1]" if c == "judge_prob" else "negative" if "tokens" in c else "non-finite"
            issues.append((f"invalid_{c}", n_(f"n_bad_{c}"), f"not a number or {what}: treated as missing", ""))
    quality = DataQuality(
        n_rows_read=n_rows,
        n_rows_used=n_used,
        issues=pd.DataFrame(issues, columns=["issue", "count", "handling", "example"]),
    )
    table = full.filter(full.timestamp.notnull()).drop("_ts_aware", "_ts_raw", *[f"_bad_{c}" for c in _NUMERIC_CHECKED])

    def ts_of(v: Any) -> pd.Timestamp | None:
        if v is None or v is pd.NaT:
            return None
        ts = pd.Timestamp(v)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")

    data = LogData(
        table=table,
        connection=con,
        sources=sources,
        available=avail,
        quality=quality,
        first_timestamp=ts_of(stats["t_min"]),
        last_timestamp=ts_of(stats["t_max"]),
        _keepalive=reader,
    )
    if reader is not None:
        reader.keep_files_alive(data)  # cleaned copies of malformed files are deleted with the table
    return data


def _is_duckdb(con: Any) -> bool:
    return getattr(con, "name", "") == "duckdb"


def _connect(connection: Any, engine: Engine, memory_limit: str) -> Any:
    """The Ibis backend to read files with (see ``load_logs``'s ``connection`` and ``engine``)."""
    import ibis

    if connection is None:
        if engine == "spark":
            connection = spark_session()
        else:
            con = ibis.duckdb.connect(memory_limit=memory_limit)
            connection = con
    if type(connection).__name__ == "SparkSession":  # a pyspark session (local or a cluster's)
        connection.conf.set("spark.sql.session.timeZone", "UTC")
        return ibis.pyspark.connect(connection)
    name = getattr(connection, "name", None)
    if name == "duckdb":
        # Timestamps are normalized to naive UTC; casts between naive and offset timestamps use the
        # session zone, so it must be UTC (Ibis sets it too; we do not rely on that).
        connection.raw_sql("SET TimeZone = 'UTC'")
        return connection
    if name == "pyspark":
        connection._session.conf.set("spark.sql.session.timeZone", "UTC")
        return connection
    raise ConfigError(
        "The 'connection' parameter of load_logs must be an Ibis DuckDB or PySpark backend or a SparkSession "
        f"to read files with. Got {type(connection).__name__}. For another warehouse, pass an Ibis table of it."
    )
