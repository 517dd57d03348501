"""Chat requests, their outcomes, and the content-addressed cache of outcomes.

A :class:`ChatRequest` is addressed by :func:`cache_key`, the SHA-256 of the
canonical JSON of (model, messages, params). :class:`LLMCache` keeps successful
:class:`Completion` objects under that key and the endpoint's identity (its
normalized base URL) in one SQLite file, so an unchanged rerun against the same
endpoint makes zero LLM calls, and another endpoint never gets its answers.
:mod:`evaltools.llm` is the client that fills it.
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

from .errors import ConfigError

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

    A completion is stored under (request key, endpoint): :func:`cache_key` of the
    request and the endpoint's normalized base URL. The same request sent to
    another endpoint is another entry, so switching ``base_url`` never replays the
    old model's answers. Each entry also records the model name the endpoint said
    it served and its ``system_fingerprint``; the client uses them to refuse
    entries made by a different served model behind the same URL.

    WAL mode with one transaction per stored completion: a process killed with
    SIGKILL loses nothing it had stored, and several processes may share the file.
    ``synchronous=NORMAL`` keeps each commit off the disk's fsync path; that is
    durable against a process crash (what matters here), though not a power cut.

    Only successful completions are stored; a failure is asked again next time.
    Entries written before endpoints were recorded (the ``completions`` table of
    older files) have no endpoint: they are replayed in offline mode only.

    Args:
        path: the SQLite file (created, with its folder, when missing).

    Raises:
        ConfigError: when ``path`` exists and is not an SQLite database.

    Examples:
        >>> import tempfile, os
        >>> cache = LLMCache(os.path.join(tempfile.mkdtemp(), "llm.sqlite"))
        >>> cache.put("k", "m", Completion("hi", "stop", 3, 1, 0.2), endpoint="http://a/v1")
        >>> cache.get("k", "http://a/v1").output, cache.get("k", "http://a/v1").cached, len(cache)
        ('hi', True, 1)
        >>> cache.get("k", "http://b/v1") is None, cache.get("k").output  # None: any endpoint (offline replay)
        (True, 'hi')
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
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS endpoint_completions ("
                " key TEXT NOT NULL, endpoint TEXT NOT NULL, model TEXT NOT NULL, output TEXT NOT NULL,"
                " finish_reason TEXT, prompt_tokens INTEGER, completion_tokens INTEGER,"
                " latency_s REAL, served_model TEXT, system_fingerprint TEXT, created_at TEXT NOT NULL,"
                " PRIMARY KEY (key, endpoint)) WITHOUT ROWID"
            )
            self._legacy = (
                self._conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'completions'"
                ).fetchone()
                is not None
            )
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"The LLM cache file is not an SQLite database ({exc}). "
                "Point the cache at a new file or delete this one.",
                path=self.path,
            ) from None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"The LLM cache {self.path} is closed.")
        return self._conn

    def get(self, key: str, endpoint: str | None = None) -> Completion | None:
        """The cached completion for ``key`` (with ``cached=True``), or None.

        Args:
            key: the request's :func:`cache_key`.
            endpoint: the endpoint's normalized base URL; only its entries match.
                None matches any endpoint, older endpoint-less entries included
                (offline replay of a recorded cache).
        """
        cols = "output, finish_reason, prompt_tokens, completion_tokens, latency_s, served_model, system_fingerprint"
        with self._lock:
            db = self._db()
            if endpoint is not None:
                row = db.execute(
                    f"SELECT {cols} FROM endpoint_completions WHERE key = ? AND endpoint = ?", (key, endpoint)
                ).fetchone()
            else:
                row = db.execute(
                    f"SELECT {cols} FROM endpoint_completions WHERE key = ? ORDER BY created_at DESC LIMIT 1", (key,)
                ).fetchone()
                if row is None and self._legacy:
                    row = db.execute(
                        "SELECT output, finish_reason, prompt_tokens, completion_tokens, latency_s, NULL, NULL"
                        " FROM completions WHERE key = ?",
                        (key,),
                    ).fetchone()
        if row is None:
            return None
        return Completion(
            row[0], row[1], row[2], row[3], row[4], cached=True, served_model=row[5], system_fingerprint=row[6]
        )

    def put(self, key: str, model: str, completion: Completion, *, endpoint: str = "") -> None:
        """Store a successful completion under (``key``, ``endpoint``), committed before returning."""
        if completion.output is None or completion.error is not None:
            raise ValueError("Only successful completions are cached.")
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        row = (
            key,
            endpoint,
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
            self._db().execute(
                "INSERT OR REPLACE INTO endpoint_completions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row
            )

    def __len__(self) -> int:
        with self._lock:
            db = self._db()
            n = int(db.execute("SELECT COUNT(*) FROM endpoint_completions").fetchone()[0])
            if self._legacy:
                n += int(db.execute("SELECT COUNT(*) FROM completions").fetchone()[0])
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
