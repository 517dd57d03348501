"""Plumbing for :mod:`evaltools.llm._client`: API keys, URLs, a worker event loop, error reasons.

Nothing here is public API except through :mod:`evaltools.llm._client`.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import re
import threading
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from evaltools.errors import ConfigError
from evaltools.llm._cache import Completion

if TYPE_CHECKING:
    import openai

T = TypeVar("T")

log = logging.getLogger("evaltools.llm._client")

NO_KEY = "sk-no-key"
"""The placeholder key sent to endpoints that need none (a local server)."""

ERROR_REASONS: dict[str, str] = {
    "connection_error": "could not connect, or the connection dropped",
    "timeout": "no answer within the timeout",
    "rate_limited": "HTTP 429",
    "server_error": "HTTP 5xx",
    "auth_error": "HTTP 401/403: the API key was rejected",
    "model_not_found": "HTTP 404: no such model at this endpoint",
    "bad_request": "HTTP 400/422 or another 4xx",
    "malformed_response": "the body was not a chat completion",
    "cache_miss": "offline (cache-only) mode and the request is not in the cache",
}
"""The reason codes a failed :class:`Completion`'s ``error`` starts with."""

RETRYABLE = {"connection_error", "timeout", "rate_limited", "server_error", "malformed_response"}


# --------------------------------------------------------------------------- keys and URLs


def read_env_file(path: Path, name: str) -> str | None:
    # A minimal .env reader: KEY=VALUE lines, optional "export ", quotes, comments.
    # Values are never echoed, not even in errors.
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("The .env file does not exist.", path=path) from None
    except UnicodeDecodeError:
        raise ConfigError("The .env file is not valid UTF-8.", path=path) from None
    found = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError("The line is not KEY=VALUE (its content is not shown).", path=path, line=lineno)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if key.strip() == name:
            found = value
    return found


def resolve_api_key(api_key_env: str | None, env_file: str | Path | None, base_url: str) -> str:
    key = os.environ.get(api_key_env) if api_key_env else None
    if not key and api_key_env and env_file is not None:
        key = read_env_file(Path(env_file), api_key_env)
    if key:
        return _clean_key(key, api_key_env or "OPENAI_API_KEY")
    host = (urlsplit(base_url).hostname or "").lower()
    if host == "openai.com" or host.endswith(".openai.com"):
        raise ConfigError(
            f"No API key for {host}: set the environment variable {api_key_env or 'OPENAI_API_KEY'} "
            "(or name a .env file that sets it)."
        )
    # Local and self-hosted servers (llama.cpp, vLLM, Ollama) usually want none;
    # the openai client insists on a non-empty string.
    return NO_KEY


def _clean_key(key: str, name: str) -> str:
    # `export KEY=$(cat key.txt)` keeps no newline, but `KEY="$(cat key.txt)\n"`, a .env
    # written on Windows or a copy-paste do: such a key fails in the HTTP header as a
    # confusing connection error. Surrounding whitespace is never part of a key.
    stripped = key.strip()
    if stripped != key:
        log.info("Stripped surrounding whitespace (a newline?) from the API key in $%s.", name)
    if not stripped:
        raise ConfigError(f"The API key in ${name} is only whitespace. Set it to the key itself.")
    bad = next((c for c in stripped if ord(c) < 0x21 or ord(c) == 0x7F or ord(c) > 0x7E), None)
    if bad is not None:
        kind = "a space" if bad == " " else ("a newline" if bad in "\r\n" else f"the character U+{ord(bad):04X}")
        raise ConfigError(
            f"The API key in ${name} contains {kind} inside it; an API key is one word of printable ASCII. "
            "Check how the variable is set (the key is not shown)."
        )
    return stripped


def sanitize_url(url: str) -> str:
    """Drop credentials and the query string from a URL before it is stored or shown.

    Args:
        url: an endpoint URL, possibly ``https://user:secret@host/v1?api-key=...``.

    Returns:
        The URL with no user info, query or fragment.

    Examples:
        >>> sanitize_url("https://u:secret@example.com:8443/v1?api-key=abc")
        'https://example.com:8443/v1'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def normalize_base_url(url: str) -> str:
    """The endpoint part of its identity: a URL with case, default port and slashes folded.

    Two spellings of one endpoint give the same text, so they share cached
    completions; two endpoints never do.

    Args:
        url: an endpoint URL.

    Returns:
        ``scheme://host[:port]/path`` with scheme and host lower-cased, the default
        port (80 for http, 443 for https) dropped, repeated and trailing slashes
        removed, and no credentials, query or fragment.

    Examples:
        >>> normalize_base_url("HTTP://User:pw@LocalHost:80//v1/?x=1")
        'http://localhost/v1'
        >>> normalize_base_url("https://api.openai.com:443/v1") == normalize_base_url("https://api.openai.com/v1/")
        True
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    netloc = f"[{host}]" if ":" in host else host
    port = parts.port
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        netloc += f":{port}"
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    return urlunsplit((scheme, netloc, path, "", ""))


_SECRETISH = re.compile(r"(?i)\b(?:sk|pk|key|token)[-_][A-Za-z0-9*_\-]{4,}|Bearer\s+\S+")


def redact(text: str, secret: str | None) -> str:
    if secret and secret != NO_KEY and len(secret) >= 4:
        text = text.replace(secret, "[redacted]")
    return _SECRETISH.sub("[redacted]", text)


# --------------------------------------------------------------------------- running coroutines


class _WorkerLoop:
    """One daemon thread running its own event loop, shared by every sync wrapper."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="evaltools-llm", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def peek(self) -> asyncio.AbstractEventLoop | None:
        return self._loop


_WORKER = _WorkerLoop()


def worker_loop() -> asyncio.AbstractEventLoop | None:
    """The sync wrappers' worker loop, or None when none was started yet."""
    return _WORKER.peek()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, with or without a running loop.

    The coroutine runs on a worker thread's own event loop, so this works in a
    Jupyter cell (whose loop is already running and cannot be re-entered) as well
    as in a script. Ctrl-C (or a Jupyter interrupt) cancels the coroutine and waits
    for its cleanup before re-raising.

    Args:
        coro: the coroutine.

    Returns:
        Its result.

    Raises:
        RuntimeError: when called from a coroutine already running on the worker
            loop (it would deadlock); await the async API there instead.

    Examples:
        >>> async def twice(x):
        ...     return 2 * x
        >>> run_sync(twice(21))
        42
    """
    loop = _WORKER.get()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("run_sync was called on the evaltools worker loop; await the async API instead.")
    done = threading.Event()
    box: dict[str, asyncio.Task[T]] = {}

    def start() -> None:
        box["task"] = loop.create_task(coro)
        box["task"].add_done_callback(lambda _: done.set())

    loop.call_soon_threadsafe(start)
    try:
        done.wait()
    except BaseException:
        # call_soon_threadsafe is FIFO, so the task exists by the time this runs.
        loop.call_soon_threadsafe(lambda: box["task"].cancel())
        done.wait(timeout=30)
        raise
    return box["task"].result()


# --------------------------------------------------------------------------- errors and responses


class MalformedResponse(Exception):
    """The endpoint answered 200 with something that is not a chat completion."""


class DeadlineExceeded(Exception):
    """One attempt ran past its wall-clock deadline (the answer was not complete in time)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete answer within {seconds:g} s")


def error_reason(exc: BaseException | None) -> str:
    import openai

    if isinstance(exc, openai.APITimeoutError | DeadlineExceeded):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection_error"
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        if code == 429:
            return "rate_limited"
        if code in (401, 403):
            return "auth_error"
        if code == 404:
            return "model_not_found"
        if code >= 500 or code in (408, 409):
            return "server_error"
        return "bad_request"
    if isinstance(exc, MalformedResponse | ValueError | openai.APIResponseValidationError):
        return "malformed_response"
    return "unexpected_error"


def retry_after(exc: BaseException | None) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    if "retry-after-ms" in headers:
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(UTC)).total_seconds())


def server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping) and err.get("message"):
            return str(err["message"])[:300]
    return str(exc.message)[:300]


def _field(obj: Any, name: str) -> Any:
    # The openai client builds its response models without validation, so a
    # malformed body comes back as dicts, strings or missing attributes.
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def parse_completion(response: Any, latency: float, attempts: int) -> Completion:
    """Read a chat completion body strictly; anything but a text answer raises.

    A 200 whose body is not a chat completion (``{"choices": ["hello"]}``,
    ``"content": null``, no ``choices``) raises :class:`MalformedResponse` with the
    reason, so it is retried and, failing that, recorded as an error: it is never
    taken (or cached) as a successful empty answer. An empty string is a real
    answer. A ``null`` content that comes with a ``refusal`` text (OpenAI's
    structured refusal) is that text. A ``null`` content with ``finish_reason``
    ``"length"`` (a reasoning model spent ``max_tokens`` before writing any text)
    is an empty answer truncated by the limit: ``output ""``, ``finish_reason
    "length"``.
    """
    choices = _field(response, "choices")
    if choices is None:
        raise MalformedResponse("no 'choices' in the body")
    if not isinstance(choices, list | tuple) or not choices:
        raise MalformedResponse(f"'choices' is {_shape(choices)}, not a non-empty list")
    choice = choices[0]
    if isinstance(choice, str) or not (isinstance(choice, Mapping) or hasattr(choice, "message")):
        raise MalformedResponse(f"choices[0] is {_shape(choice)}, not an object with a 'message'")
    message = _field(choice, "message")
    if message is None:
        raise MalformedResponse("choices[0] has no 'message'")
    if isinstance(message, str) or not (isinstance(message, Mapping) or hasattr(message, "content")):
        raise MalformedResponse(f"choices[0].message is {_shape(message)}, not an object")
    content = _field(message, "content")
    if content is None:
        refusal = _field(message, "refusal")
        if isinstance(refusal, str) and refusal:
            content = refusal
        elif _str_or_none(_field(choice, "finish_reason")) == "length":
            # The model spent max_tokens before writing any text (a reasoning model
            # thinking at length): an empty answer cut by the limit, not a bad body.
            content = ""
        elif _field(message, "tool_calls"):
            raise MalformedResponse("choices[0].message.content is null (the model called a tool instead)")
        else:
            raise MalformedResponse("choices[0].message.content is null")
    if not isinstance(content, str):
        raise MalformedResponse(f"choices[0].message.content is {_shape(content)}, not text")
    usage = _field(response, "usage")
    served = _field(response, "model")
    fingerprint = _field(response, "system_fingerprint")
    return Completion(
        output=content,
        finish_reason=_str_or_none(_field(choice, "finish_reason")),
        prompt_tokens=_int_or_none(_field(usage, "prompt_tokens")) if usage is not None else None,
        completion_tokens=_int_or_none(_field(usage, "completion_tokens")) if usage is not None else None,
        latency_s=latency,
        attempts=attempts,
        served_model=_str_or_none(served),
        system_fingerprint=_str_or_none(fingerprint),
    )


def _shape(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    return f"a {type(value).__name__}"


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
