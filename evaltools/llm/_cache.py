"""Chat requests, their outcomes, and the content-addressed cache of outcomes.

A :class:`ChatRequest` is addressed by :func:`cache_key`, the SHA-256 of the
canonical JSON of (model, messages, params). :class:`LLMCache` keeps successful
:class:`Completion` objects under that key and the endpoint's identity (its
normalized base URL) in one SQLite file, so an unchanged rerun against the same
endpoint makes zero LLM calls, and another endpoint never gets its answers.
:mod:`evaltools.llm._client` is the client that fills it.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evaltools.errors import ConfigError

__all__ = ["ChatRequest", "Completion", "LLMCache", "cache_key", "canonical_json"]

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat completion request.

    Args:
        model: the model name the endpoint knows.
        messages: chat messages (``{"role": ..., "content": ...}``).
        temperature: sampling temperature; None leaves the endpoint's default.
        max_tokens: completion length limit; None leaves the endpoint's default.
        seed: sampling seed, for endpoints that honour it.
        response_format: e.g. ``{"type": "json_object"}`` for JSON mode.
        extra: any other body parameters (``top_p``, ``stop``...), sent as is.
    """

    model: str
    messages: Sequence[Message]
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    response_format: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """The body parameters besides model and messages (None values left out).

        Returns:
            A new dict; ``extra`` keys are merged in.

        Examples:
            >>> ChatRequest("m", [], temperature=0, extra={"top_p": 0.9}).params()
            {'temperature': 0, 'top_p': 0.9}
        """
        out: dict[str, Any] = {
            k: v
            for k, v in (
                ("temperature", self.temperature),
                ("max_tokens", self.max_tokens),
                ("seed", self.seed),
                ("response_format", dict(self.response_format) if self.response_format else None),
            )
            if v is not None
        }
        out.update(self.extra)
        return out


def _canonical(value: Any) -> Any:
    # 0 and 0.0 must hash alike: a card saying "temperature: 0" and code saying
    # temperature=0.0 ask for the same completion.
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Serialize to canonical JSON: sorted keys, no spaces, integral floats as ints.

    Args:
        value: a JSON-serializable value.

    Returns:
        The JSON text; equal inputs (``0`` and ``0.0`` included) give equal text.

    Examples:
        >>> canonical_json({"b": 1.0, "a": [0.5, "é"]})
        '{"a":[0.5,"é"],"b":1}'
    """
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def cache_key(request: ChatRequest) -> str:
    """The content address of a request: SHA-256 of canonical JSON of (model, messages, params).

    The endpoint is not part of this key; :class:`LLMCache` stores entries under
    (key, endpoint), so the same request sent to two endpoints is two entries.

    Args:
        request: the request.

    Returns:
        64 hex characters.

    Examples:
        >>> a = ChatRequest("m", [{"role": "user", "content": "hi"}], temperature=0)
        >>> b = ChatRequest("m", [{"role": "user", "content": "hi"}], temperature=0.0)
        >>> cache_key(a) == cache_key(b), cache_key(a) == cache_key(ChatRequest("m", a.messages))
        (True, False)
    """
    doc = {"model": request.model, "messages": list(request.messages), "params": request.params()}
    text = canonical_json(doc)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Completion:
    """The outcome of one request: an output, or an error with its reason."""

    output: str | None
    """The completion text ("" when the model said nothing); None when the call failed."""

    finish_reason: str | None = None
    """Why generation stopped: ``stop``, ``length`` (truncated by ``max_tokens``)..."""

    prompt_tokens: int | None = None
    """Prompt tokens as the endpoint counted them (None when it does not say)."""

    completion_tokens: int | None = None
    """Completion tokens as the endpoint counted them."""

    latency_s: float | None = None
    """Seconds the successful HTTP call took (for a cached result: the original call's)."""

    cached: bool = False
    """Whether this result came from the cache (no call made)."""

    error: str | None = None
    """``"<reason>: <detail>"`` when the call failed after retries; reasons are the
    keys of :data:`ERROR_REASONS`. None on success."""

    attempts: int = 0
    """HTTP attempts made (0 for a cache hit)."""

    served_model: str | None = None
    """The model name the endpoint says it served (the body's ``model``), when it says."""

    system_fingerprint: str | None = None
    """The endpoint's ``system_fingerprint`` (its backend configuration), when it sends one."""

    @property
    def ok(self) -> bool:
        """Whether the call produced an output."""
        return self.error is None

    @property
    def error_reason(self) -> str | None:
        """The reason code of ``error`` (e.g. ``"timeout"``), None on success.

        Examples:
            >>> Completion(None, error="timeout: no answer in 5 s").error_reason
            'timeout'
        """
        return None if self.error is None else self.error.split(":", 1)[0]


# --------------------------------------------------------------------------- cache


class LLMCache:
    """A content-addressed completion cache in one SQLite file.

    A completion is stored under (request key, endpoint, served model):
    :func:`cache_key` of the request, the endpoint's normalized base URL, and the
    model the endpoint serves (what the client's ``GET /models`` probe found). The
    same request sent to another endpoint, or to another model swapped in behind the
    same URL, is another entry: neither replays nor overwrites the other. Each entry
    also records the model name the answer's body gave and its ``system_fingerprint``
    (recorded, not part of the identity).

    WAL mode with one transaction per stored completion: a process killed with
    SIGKILL loses nothing it had stored, and several processes may share the file.
    ``synchronous=NORMAL`` keeps each commit off the disk's fsync path; that is
    durable against a process crash (what matters here), though not a power cut.

    Only successful completions are stored; a failure is asked again next time.
    Entries written before endpoints were recorded (the ``completions`` table of
    older files) have no endpoint: they are replayed in offline mode only, after
    the endpoint's own entries. Entries of the per-endpoint format before served
    models (``endpoint_completions``) match when their body's model is the one
    served now.

    Args:
        path: the SQLite file (created, with its folder, when missing).

    Raises:
        ConfigError: when ``path`` exists and is not an SQLite database.

    Examples:
        >>> import tempfile, os
        >>> cache = LLMCache(os.path.join(tempfile.mkdtemp(), "llm.sqlite"))
        >>> cache.put("k", "m", Completion("hi", "stop", 3, 1, 0.2), endpoint="http://a/v1", served_model="m-v1")
        >>> cache.get("k", "http://a/v1", "m-v1").output, cache.get("k", "http://a/v1", "m-v1").cached, len(cache)
        ('hi', True, 1)
        >>> cache.get("k", "http://b/v1", "m-v1") is None, cache.get("k", "http://a/v1", "m-v2") is None
        (True, True)
        >>> cache.get("k", "http://a/v1").output  # offline: this endpoint's newest entry
        'hi'
        >>> cache.get("k", "http://b/v1") is None  # never another endpoint's
        True
        >>> cache.close()
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            # isolation_level=None: every INSERT is its own committed transaction.
            self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"The LLM cache file is not an SQLite database ({exc}). "
                "Point the cache at a new file or delete this one.",
                path=self.path,
            ) from None
        # The table is made on the first put: opening a recorded cache writes nothing.
        self._served = "served_completions" in tables
        self._per_endpoint = "endpoint_completions" in tables
        self._legacy = "completions" in tables

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"The LLM cache {self.path} is closed.")
        return self._conn

    def get(self, key: str, endpoint: str | None = None, served_model: str | None = None) -> Completion | None:
        """The cached completion for ``key`` (with ``cached=True``), or None.

        Args:
            key: the request's :func:`cache_key`.
            endpoint: the endpoint's identity; only its entries match (offline, entries
                stored with no endpoint too). None matches only the endpoint-less
                entries of older files (the recorded demo cache).
            served_model: the model the endpoint serves now (the client's probe);
                only entries made under it match. None (offline replay, which cannot
                ask the endpoint) takes this endpoint's newest entry, then an
                endpoint-less one; never another endpoint's.
        """
        cols = (
            "output, finish_reason, prompt_tokens, completion_tokens, latency_s, answer_model, system_fingerprint"
        )
        old_cols = (
            "output, finish_reason, prompt_tokens, completion_tokens, latency_s, served_model, system_fingerprint"
        )
        row = None
        with self._lock:
            db = self._db()
            if endpoint is not None and served_model is not None:
                if self._served:
                    row = db.execute(
                        f"SELECT {cols} FROM served_completions WHERE key = ? AND endpoint = ? AND served_model = ?",
                        (key, endpoint, served_model),
                    ).fetchone()
                if row is None and self._per_endpoint:
                    # Entries of the previous format: the served model was the body's.
                    row = db.execute(
                        f"SELECT {old_cols} FROM endpoint_completions WHERE key = ? AND endpoint = ?"
                        " AND coalesce(served_model, model) = ?",
                        (key, endpoint, served_model),
                    ).fetchone()
                return self._completion(row)
            if endpoint is not None:
                if self._served:
                    # This endpoint's newest entry first, then one stored with no endpoint.
                    row = db.execute(
                        f"SELECT {cols} FROM served_completions WHERE key = ? AND endpoint IN (?, '')"
                        " ORDER BY endpoint = ? DESC, created_at DESC LIMIT 1",
                        (key, endpoint, endpoint),
                    ).fetchone()
                if row is None and self._per_endpoint:
                    row = db.execute(
                        f"SELECT {old_cols} FROM endpoint_completions WHERE key = ? AND endpoint IN (?, '')"
                        " ORDER BY endpoint = ? DESC LIMIT 1",
                        (key, endpoint, endpoint),
                    ).fetchone()
            if row is None and self._legacy:
                row = db.execute(
                    "SELECT output, finish_reason, prompt_tokens, completion_tokens, latency_s, NULL, NULL"
                    " FROM completions WHERE key = ?",
                    (key,),
                ).fetchone()
        return self._completion(row)

    @staticmethod
    def _completion(row: Any) -> Completion | None:
        if row is None:
            return None
        return Completion(
            row[0], row[1], row[2], row[3], row[4], cached=True, served_model=row[5], system_fingerprint=row[6]
        )

    def put(
        self, key: str, model: str, completion: Completion, *, endpoint: str = "", served_model: str | None = None
    ) -> None:
        """Store a successful completion under (``key``, ``endpoint``, ``served_model``), committed before returning.

        ``served_model`` is the endpoint's identity for the model (the client's
        probe); None stores it under the model name asked for. Another served model's
        entry for the same request is kept beside this one, not overwritten.
        """
        if completion.output is None or completion.error is not None:
            raise ValueError("Only successful completions are cached.")
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        row = (
            key,
            endpoint,
            served_model if served_model is not None else model,
            model,
            completion.output,
            completion.finish_reason,
            completion.prompt_tokens,
            completion.completion_tokens,
            completion.latency_s,
            completion.served_model,
            completion.system_fingerprint,
            now,
        )
        with self._lock:
            db = self._db()
            if not self._served:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS served_completions ("
                    " key TEXT NOT NULL, endpoint TEXT NOT NULL, served_model TEXT NOT NULL, model TEXT NOT NULL,"
                    " output TEXT NOT NULL, finish_reason TEXT, prompt_tokens INTEGER, completion_tokens INTEGER,"
                    " latency_s REAL, answer_model TEXT, system_fingerprint TEXT, created_at TEXT NOT NULL,"
                    " PRIMARY KEY (key, endpoint, served_model)) WITHOUT ROWID"
                )
                self._served = True
            db.execute("INSERT OR REPLACE INTO served_completions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    def __len__(self) -> int:
        with self._lock:
            db = self._db()
            n = 0
            for table, present in (
                ("served_completions", self._served),
                ("endpoint_completions", self._per_endpoint),
                ("completions", self._legacy),
            ):
                if present:
                    n += int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608 - fixed names
            return n

    def close(self) -> None:
        """Fold the write-ahead log into the main file and close it (safe to call twice)."""
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._conn.close()
                self._conn = None

    def __repr__(self) -> str:
        return f"LLMCache({str(self.path)!r})"
