"""The only place evaltools talks to an LLM.

Every call goes through :class:`LLMClient`: the ``openai`` client pointed at any
OpenAI-compatible ``base_url`` (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp's
server, LM Studio), with

* bounded concurrency (an ``asyncio.Semaphore`` of ``concurrency`` slots);
* retries with exponential backoff and jitter on 429 (honouring ``Retry-After``),
  5xx, connection errors and timeouts, driven by ``tenacity``; a malformed 200
  body is asked again once only;
  a call still failing after the retries becomes a :class:`Completion` whose
  ``error`` says why (``"rate_limited: ..."``), so a batch never stops for one item;
* a wall-clock deadline on every attempt (``timeout_s``) and, optionally, on each
  item's attempts and backoffs together (``item_timeout_s``): a server that
  trickles its answer one byte at a time cannot keep a request alive;
* a content-addressed cache (:class:`LLMCache`, one SQLite file): the key is the
  SHA-256 of the canonical JSON of (model, messages, params), stored per endpoint
  (the normalized ``base_url``), so an unchanged rerun makes zero calls and another
  endpoint never gets this one's answers, and per served model: before its first
  lookup a client asks ``GET {base_url}/models`` once, and an entry made while
  another model was served behind the same URL is never replayed (when the
  endpoint lists several models or does not answer, the model name asked for
  stands in, and a swap under the same name goes unnoticed);
* latency and token accounting (:attr:`LLMClient.stats`).

Async APIs (``acomplete``, ``acomplete_many``) run on the caller's loop; the sync
wrappers (``complete``, ``complete_many``) run on a worker thread's own loop, so
they work in a Jupyter cell, whose loop is already running, as well as in a script.

API keys come from the environment variable named by ``api_key_env`` (default
``OPENAI_API_KEY``) or a ``.env`` file the caller points at. They are never
written to the cache, a log line or an error message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from evaltools.errors import ConfigError, LLMError
from evaltools.llm._cache import ChatRequest, Completion, LLMCache, Message, cache_key, canonical_json
from evaltools.llm._http import HTTPError, JSONObject, LeanHTTP, lean_transport_applies, openai_error
from evaltools.llm._support import (
    ERROR_REASONS,
    NO_KEY,
    RETRYABLE,
    DeadlineExceeded,
    MalformedResponse,
    error_reason,
    normalize_base_url,
    parse_completion,
    redact,
    resolve_api_key,
    retry_after,
    run_sync,
    sanitize_url,
    server_message,
    worker_loop,
)

if TYPE_CHECKING:
    import openai
    import tenacity

__all__ = [
    "ERROR_REASONS",
    "NO_KEY",
    "ChatRequest",
    "Completion",
    "LLMCache",
    "LLMClient",
    "LLMCompleter",
    "UsageStats",
    "cache_key",
    "canonical_json",
    "normalize_base_url",
    "run_sync",
    "sanitize_url",
]

log = logging.getLogger(__name__)


def _get_model_ids(url: str, api_key: str, timeout_s: float) -> list[str]:
    """``GET {base_url}/models`` with the standard library: the model ids the endpoint lists.

    urllib instead of httpx: importing httpx and httpcore costs about 0.3 s,
    which is most of what ``evaltools run`` spends before its first request
    (benchmarks/bench_llm.py). Proxies come from the environment, as with httpx;
    redirects are refused (as httpx does by default), so the API key is never
    sent to another host.
    """
    import json
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {sanitize_url(url)}")

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # urllib then raises HTTPError for the 3xx answer

    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"})
    with opener.open(request, timeout=timeout_s) as response:
        return [str(m["id"]) for m in json.loads(response.read())["data"]]


@dataclass(frozen=True, slots=True)
class UsageStats:
    """Counters of an :class:`LLMClient` since it was made."""

    requests: int = 0
    """Completions asked for (cache hits included)."""
    cache_hits: int = 0
    """Requests answered from the cache."""
    calls: int = 0
    """HTTP attempts sent (retries included)."""
    retries: int = 0
    """Attempts that were retries."""
    errors: int = 0
    """Requests that failed after retries."""
    prompt_tokens: int = 0
    """Prompt tokens over successful calls (not cache hits)."""
    completion_tokens: int = 0
    """Completion tokens over successful calls (not cache hits)."""
    latency_s: float = 0.0
    """Summed latency of successful calls (not cache hits)."""


# --------------------------------------------------------------------------- the client


class _Endpoint:
    """How one event loop reaches the endpoint: the lean transport, else the openai client.

    The ``openai`` client (about 1.4 s of imports) is made only when it is needed:
    a proxy is configured, or the base URL is one the lean transport does not
    serve (see :func:`evaltools.llm._http.lean_transport_applies`).
    """

    def __init__(self, owner: LLMClient) -> None:
        self._owner = owner
        self._openai: openai.AsyncOpenAI | None = None
        self.lean: LeanHTTP | None = None
        if lean_transport_applies(owner.base_url):
            self.lean = LeanHTTP(owner.base_url, _auth_headers(owner._api_key))

    @property
    def openai(self) -> openai.AsyncOpenAI:
        if self._openai is None:
            import openai

            self._openai = openai.AsyncOpenAI(
                base_url=self._owner.base_url,
                api_key=self._owner._api_key,
                timeout=self._owner.timeout_s,
                max_retries=0,  # tenacity retries, so that every attempt is counted and logged
            )
        return self._openai

    async def close(self) -> None:
        if self.lean is not None:
            self.lean.close()
        if self._openai is not None:
            await self._openai.close()


def _auth_headers(api_key: str) -> dict[str, str]:
    # What the openai client sends besides its own telemetry headers.
    headers = {"Authorization": f"Bearer {api_key}", "User-Agent": "evaltools"}
    for header, env in (("OpenAI-Organization", "OPENAI_ORG_ID"), ("OpenAI-Project", "OPENAI_PROJECT_ID")):
        if os.environ.get(env):
            headers[header] = os.environ[env]
    return headers


def _call_failures() -> tuple[type[BaseException], ...]:
    # Evaluated in an `except` clause, so only when a call failed: the success path
    # never imports openai.
    import openai

    return (openai.OpenAIError, ValueError, MalformedResponse, DeadlineExceeded)


@dataclass
class _LoopState:
    client: _Endpoint
    semaphore: asyncio.Semaphore


class LLMClient:
    """An OpenAI-compatible endpoint with bounded concurrency, retries and a cache.

    Args:
        base_url: the endpoint's base URL (``http://127.0.0.1:8080/v1``); None uses
            ``$OPENAI_BASE_URL``, else OpenAI's.
        api_key_env: the environment variable holding the API key. When it is unset
            (and not in ``env_file``), a placeholder key is sent, which local servers
            accept; for OpenAI's own host a missing key is an error.
        env_file: a ``.env`` file to read the key from when the variable is unset.
        cache: an :class:`LLMCache`, a path to one, or None for no cache.
        concurrency: the most requests in flight at once.
        timeout_s: wall-clock seconds one HTTP attempt may take, from sending the
            request to the last byte of the answer (a deadline, not an idle timeout).
        max_retries: retries after the first attempt, on retryable failures.
        retry_initial_s: the first backoff delay; it doubles per retry, plus jitter.
        retry_max_s: the longest backoff delay.
        max_retry_after_s: the longest ``Retry-After`` honoured.
        item_timeout_s: wall-clock seconds one request may take over all its
            attempts and backoff delays; None bounds it only by ``timeout_s`` per
            attempt (at most ``max_retries + 1`` attempts).
        offline: cache-only mode: answer from the cache and never call the
            endpoint; a request that is not cached fails with reason
            ``cache_miss``. Replays recorded runs and judge verdicts (the demo).
        endpoint: the endpoint's identity in the cache and in run manifests; by
            default the normalized ``base_url``. Name it when one server comes back
            at another URL, e.g. a local server on a new port each start
            (:attr:`evaltools.llm.LocalServer.endpoint`).

    Raises:
        ConfigError: a bad setting, a missing key for OpenAI, or a bad ``.env`` file.

    Examples:
        >>> client = LLMClient("http://127.0.0.1:9/v1", cache=None, concurrency=4)
        >>> client
        LLMClient(base_url='http://127.0.0.1:9/v1', concurrency=4, cache=None)
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key_env: str | None = "OPENAI_API_KEY",
        env_file: str | Path | None = None,
        cache: LLMCache | str | Path | None = None,
        concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        max_retry_after_s: float = 60.0,
        item_timeout_s: float | None = None,
        offline: bool = False,
        endpoint: str | None = None,
    ) -> None:
        if offline and cache is None:
            raise ConfigError("The 'offline' mode of LLMClient needs a cache to answer from; pass cache=.")
        self.offline = offline
        for name, value, ok in (
            ("concurrency", concurrency, isinstance(concurrency, int) and concurrency >= 1),
            ("max_retries", max_retries, isinstance(max_retries, int) and max_retries >= 0),
            ("timeout_s", timeout_s, isinstance(timeout_s, int | float) and timeout_s > 0),
            (
                "item_timeout_s",
                item_timeout_s,
                item_timeout_s is None or (isinstance(item_timeout_s, int | float) and item_timeout_s > 0),
            ),
            ("retry_initial_s", retry_initial_s, retry_initial_s >= 0),
        ):
            if not ok:
                raise ConfigError(
                    f"The '{name}' parameter of LLMClient must be a positive number. Got {value!r} instead."
                )
        url = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        if urlsplit(url).scheme not in ("http", "https"):
            raise ConfigError(f"The 'base_url' parameter must be an http(s) URL. Got {sanitize_url(url)!r}.")
        try:
            urlsplit(url).port  # noqa: B018 - raises on a port out of range or not a number
        except ValueError as exc:
            host = urlsplit(url).netloc.rsplit("@", 1)[-1]  # no credentials
            raise ConfigError(f"The 'base_url' parameter has a bad host or port {host!r}: {exc}.") from None
        self.base_url = url.rstrip("/")
        if endpoint is not None and (not isinstance(endpoint, str) or not endpoint.strip()):
            raise ConfigError(f"The 'endpoint' parameter of LLMClient must be a non-empty string. Got {endpoint!r}.")
        self.endpoint = endpoint.strip() if endpoint is not None else normalize_base_url(self.base_url)
        """The endpoint's identity in the cache: the normalized base URL (no credentials), or the name given."""
        self.api_key_env = api_key_env
        self._api_key = resolve_api_key(api_key_env, env_file, self.base_url)
        self.cache = LLMCache(cache) if isinstance(cache, str | Path) else cache
        self._owns_cache = isinstance(cache, str | Path)
        self.concurrency = concurrency
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.retry_initial_s = float(retry_initial_s)
        self.retry_max_s = float(retry_max_s)
        self.max_retry_after_s = float(max_retry_after_s)
        self.item_timeout_s = None if item_timeout_s is None else float(item_timeout_s)
        # model -> (served model, system fingerprint) last seen in an answer (live or cached).
        self._served: dict[str, tuple[str | None, str | None]] = {}
        # What GET {base_url}/models said, asked once per client: (the one model listed, or None; how known).
        self._probed: tuple[str | None, str] | None = None
        self._probe_lock = threading.Lock()
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
        self._states_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._stats: dict[str, float] = dict.fromkeys(UsageStats.__dataclass_fields__, 0)
        self._no_json_mode: set[str] = set()

    def __repr__(self) -> str:
        return (
            f"LLMClient(base_url={sanitize_url(self.base_url)!r}, concurrency={self.concurrency}, "
            f"cache={str(self.cache.path) if self.cache is not None else None!r})"
        )

    @property
    def stats(self) -> UsageStats:
        """A snapshot of the request, cache, retry, token and latency counters."""
        with self._stats_lock:
            s = dict(self._stats)
        ints = {k: int(v) for k, v in s.items() if k != "latency_s"}
        return UsageStats(**ints, latency_s=float(s["latency_s"]))

    def _count(self, **deltas: float) -> None:
        with self._stats_lock:
            for k, v in deltas.items():
                self._stats[k] += v

    # -- per-loop state: the openai client and semaphore belong to one event loop
    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        with self._states_lock:
            state = self._states.get(loop)
            if state is None:
                state = _LoopState(_Endpoint(self), asyncio.Semaphore(self.concurrency))
                self._states[loop] = state
            return state

    # -- async API
    async def acomplete(self, request: ChatRequest) -> Completion:
        """Complete one request: from the cache, else from the endpoint with retries.

        Args:
            request: the request.

        Returns:
            The :class:`Completion`. Endpoint failures do not raise: they come back
            with ``error`` set (``"timeout: ..."``) and ``output`` None.
        """
        key = cache_key(request)
        if not self.offline and self.cache is not None and self._probed is None:
            await asyncio.to_thread(self.probe)
        hit = self._cached(key, request.model)
        if hit is not None:
            self._count(requests=1, cache_hits=1)
            return hit
        if self.offline:
            self._count(requests=1, errors=1)
            return Completion(
                None, error=f"cache_miss: model {request.model!r} was not called (offline mode); record it first"
            )
        state = self._state()
        async with state.semaphore:
            completion = await self._call_with_total(state.client, request)
        self._count(requests=1, errors=0 if completion.ok else 1)
        if completion.ok:
            self._served[request.model] = (completion.served_model, completion.system_fingerprint)
            self._count(
                prompt_tokens=completion.prompt_tokens or 0,
                completion_tokens=completion.completion_tokens or 0,
                latency_s=completion.latency_s or 0.0,
            )
            if self.cache is not None:
                self.cache.put(
                    key,
                    request.model,
                    completion,
                    endpoint=self.endpoint,
                    served_model=self.served_model(request.model),
                )
        return completion

    def probe(self) -> tuple[str | None, str]:
        """Ask the endpoint once which model it serves (``GET {base_url}/models``).

        Called before the first cache lookup of a session, so that a model swapped
        in behind the same URL never gets the old model's cached answers. Offline
        clients never call it.

        Returns:
            ``(model, source)``: the one model the endpoint lists and ``"probe"``, or
            None and why the configured model name stands in (the probe failed, or
            the endpoint lists several models).
        """
        with self._probe_lock:
            if self._probed is not None:
                return self._probed
            url = f"{self.base_url}/models"
            try:
                ids = _get_model_ids(url, self._api_key, min(self.timeout_s, 10.0))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                why = redact(f"GET {sanitize_url(url)} failed ({type(exc).__name__}: {exc})", self._api_key)[:300]
                self._probed = (None, f"configured name: {why}")
            else:
                if len(ids) == 1:
                    self._probed = (ids[0], "probe")
                else:
                    self._probed = (None, f"configured name: GET {sanitize_url(url)} lists {len(ids)} models")
            if self._probed[0] is None:
                log.warning(
                    "%s: the served model is not known (%s); cache entries are matched on the model name asked "
                    "for, so a model swapped in behind this URL under the same name would not be noticed.",
                    sanitize_url(self.base_url),
                    self._probed[1],
                )
            return self._probed

    def served_model(self, model: str) -> str | None:
        """The served model behind ``model`` in the cache identity: the probed one, else ``model``.

        None for an offline client (it cannot ask the endpoint).
        """
        if self.offline:
            return None
        probed, _ = self._probed if self._probed is not None else self.probe()
        return probed if probed is not None else model

    def _cached(self, key: str, model: str) -> Completion | None:
        """A cache hit for this endpoint and the model it serves now."""
        if self.cache is None:
            return None
        hit = self.cache.get(key, self.endpoint, self.served_model(model))
        if hit is not None and hit.served_model is not None:
            self._served.setdefault(model, (hit.served_model, hit.system_fingerprint))
        return hit

    def identity(self, model: str) -> dict[str, str | None]:
        """The endpoint identity behind a model name, as recorded in a run manifest.

        Args:
            model: the model name requests ask for.

        Returns:
            ``{"endpoint", "base_url", "model", "served_model", "served_model_source",
            "system_fingerprint"}``: the identity (:attr:`endpoint`), the normalized
            base URL, the model asked for, the served model the cache is keyed on
            (the probe's, else the name asked for; None offline) and how it was
            known, and the fingerprint of the last answer this session.

        Examples:
            >>> LLMClient("HTTP://127.0.0.1:9/v1/", cache=None).identity("m")["endpoint"]
            'http://127.0.0.1:9/v1'
        """
        if self.offline:
            served, source = None, "offline: not asked"
        else:
            probed, source = self._probed if self._probed is not None else self.probe()
            served = probed if probed is not None else model
        return {
            "endpoint": self.endpoint,
            "base_url": normalize_base_url(self.base_url),
            "model": model,
            "served_model": served,
            "served_model_source": source,
            "system_fingerprint": self._served.get(model, (None, None))[1],
        }

    async def acomplete_many(
        self,
        requests: Sequence[ChatRequest],
        *,
        on_result: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion]:
        """Complete many requests concurrently (at most ``concurrency`` in flight).

        Args:
            requests: the requests.
            on_result: called as ``on_result(index, completion)`` as each one finishes,
                on the event loop's thread; an exception it raises cancels the rest.

        Returns:
            The completions, in the order of ``requests``.
        """
        results: list[Completion | None] = [None] * len(requests)

        async def one(i: int, request: ChatRequest) -> None:
            results[i] = completion = await self.acomplete(request)
            if on_result is not None:
                on_result(i, completion)

        try:
            async with asyncio.TaskGroup() as group:
                for i, request in enumerate(requests):
                    group.create_task(one(i, request))
        except BaseExceptionGroup as eg:
            # Callers expect the error itself (an OSError from a full disk...), not a group.
            raise eg.exceptions[0] from None
        return [r for r in results if r is not None]

    # -- sync wrappers
    def complete(self, request: ChatRequest) -> Completion:
        """Sync :meth:`acomplete`; safe inside a running event loop (Jupyter)."""
        # A warm hit needs no event loop at all: skip the thread hop.
        hit = self._cached(cache_key(request), request.model)
        if hit is not None:
            self._count(requests=1, cache_hits=1)
            return hit
        return run_sync(self.acomplete(request))

    def complete_many(
        self,
        requests: Sequence[ChatRequest],
        *,
        on_result: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion]:
        """Sync :meth:`acomplete_many`; safe inside a running event loop (Jupyter)."""
        return run_sync(self.acomplete_many(requests, on_result=on_result))

    async def aclose(self) -> None:
        """Close the HTTP client bound to the running loop."""
        with self._states_lock:
            state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.client.close()

    def close(self) -> None:
        """Close the worker loop's HTTP client and, when this client opened it, the cache."""
        loop = worker_loop()
        with self._states_lock:
            state = self._states.pop(loop, None) if loop is not None else None
        if state is not None and loop is not None:
            asyncio.run_coroutine_threadsafe(state.client.close(), loop).result(timeout=10)
        if self._owns_cache and self.cache is not None:
            self.cache.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request with retries
    async def _call_with_total(self, client: _Endpoint, request: ChatRequest) -> Completion:
        """:meth:`_call` under the item's total deadline, when one is set."""
        if self.item_timeout_s is None:
            return await self._call(client, request)
        tries = [0]
        try:
            async with asyncio.timeout(self.item_timeout_s):
                return await self._call(client, request, tries)
        except TimeoutError:
            where = sanitize_url(self.base_url)
            n = tries[0]
            detail = (
                f"timeout: no answer from {where} within the item's total of {self.item_timeout_s:g} s "
                f"(after {n} attempt{'s' if n != 1 else ''})"
            )
            return Completion(None, error=detail, attempts=n)

    async def _call(self, client: _Endpoint, request: ChatRequest, tries: list[int] | None = None) -> Completion:
        import tenacity

        backoff = tenacity.wait_exponential_jitter(
            multiplier=self.retry_initial_s, max=self.retry_max_s, jitter=self.retry_initial_s
        )

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            asked = retry_after(exc)
            if asked is not None:
                return min(asked, self.max_retry_after_s)
            return float(backoff(state))

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self._count(retries=1)
            log.info(
                "Retrying %s in %.2f s (attempt %d failed: %s)",
                request.model,
                state.upcoming_sleep,
                state.attempt_number,
                self._describe(exc, request) if isinstance(exc, Exception) else exc,
            )

        def retry_this(state: tenacity.RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            if exc is None:
                return False
            reason = error_reason(exc)
            # A malformed body is asked once more (a proxy hiccup), not max_retries times:
            # a server that answers malformed bodies will not stop on the fifth try.
            return reason in RETRYABLE and (reason != "malformed_response" or state.attempt_number < 2)

        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=wait,
            retry=retry_this,
            before_sleep=before_sleep,
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    if tries is not None:
                        tries[0] = attempts
                    self._count(calls=1)
                    start = time.perf_counter()
                    try:
                        # A wall-clock deadline on the whole attempt: httpx's own timeout
                        # restarts with every byte read, so a server trickling its body
                        # one byte at a time would never trip it.
                        async with asyncio.timeout(self.timeout_s):
                            response = await self._create(client, request)
                    except TimeoutError:
                        raise DeadlineExceeded(self.timeout_s) from None
                    latency = time.perf_counter() - start
                    return parse_completion(response, latency, attempts)
        except _call_failures() as exc:
            return Completion(None, error=self._describe(exc, request, attempts), attempts=attempts)
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    async def _create(self, client: _Endpoint, request: ChatRequest) -> Any:
        params = request.params()
        extra = {
            k: params.pop(k) for k in list(params) if k not in ("temperature", "max_tokens", "seed", "response_format")
        }
        if request.model in self._no_json_mode:
            params.pop("response_format", None)
        try:
            return await self._send(client, request, params, extra)
        except Exception as exc:
            import openai

            if not isinstance(exc, openai.BadRequestError) or "response_format" not in params:
                raise
            # The endpoint refuses JSON mode: ask again without it (the prompt still
            # asks for JSON) and stop sending it to this model.
            log.warning("%s rejected response_format; retrying without JSON mode.", request.model)
            self._no_json_mode.add(request.model)
            params.pop("response_format")
            return await self._send(client, request, params, extra)

    async def _send(
        self, client: _Endpoint, request: ChatRequest, params: dict[str, Any], extra: dict[str, Any]
    ) -> Any:
        """One HTTP attempt; returns the parsed body (attribute access, as openai's models give)."""
        lean = client.lean
        if lean is None:
            return await client.openai.chat.completions.create(
                model=request.model, messages=cast(Any, list(request.messages)), extra_body=extra or None, **params
            )
        # The body the openai client would send: model, messages, then the parameters.
        body = json.dumps({"model": request.model, "messages": list(request.messages), **params, **extra})
        try:
            status, headers, data = await lean.post("/chat/completions", body.encode("utf-8"), self.timeout_s)
        except HTTPError as exc:
            raise openai_error(exc, lean.url("/chat/completions")) from exc.__cause__
        if not 200 <= status < 300:
            raise openai_error(HTTPError("status", status, headers, data), lean.url("/chat/completions"))
        try:
            return json.loads(data, object_hook=JSONObject)
        except ValueError as exc:
            raise MalformedResponse(f"the body is not JSON ({exc})") from None

    def _describe(self, exc: BaseException, request: ChatRequest, attempts: int | None = None) -> str:
        import openai

        reason = error_reason(exc)
        where = sanitize_url(self.base_url)
        tries = f" (after {attempts} attempt{'s' if attempts != 1 else ''})" if attempts else ""
        if reason == "auth_error":
            # The server's own message may quote part of the key: leave it out.
            status = getattr(exc, "status_code", "")
            detail = (
                f"HTTP {status} from {where}: the endpoint rejected the API key "
                f"from ${self.api_key_env or 'OPENAI_API_KEY'}. Check the key and its permissions."
            )
        elif reason == "model_not_found":
            detail = f"HTTP 404 from {where}: model {request.model!r} not found. Check the model name."
        elif isinstance(exc, openai.APIStatusError):
            detail = f"HTTP {exc.status_code} from {where}: {server_message(exc)}"
        elif reason == "timeout":
            detail = f"no complete answer from {where} within {self.timeout_s:g} s"
        elif reason == "connection_error":
            cause = exc.__cause__ or exc.__context__
            detail = f"cannot reach {where}" + (f" ({type(cause).__name__}: {cause})" if cause else "")
        elif reason == "malformed_response":
            detail = f"{where} answered with a body that is not a chat completion ({exc})"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        return redact(f"{reason}: {detail}{tries}", self._api_key)[:1000]


# --------------------------------------------------------------------------- the judge's client


class LLMCompleter:
    """A synchronous ``complete(messages) -> str`` over an :class:`LLMClient`.

    This is the ``JudgeClient`` the LLM judge calls: the same cache, retries and
    key handling as generation. JSON mode (``response_format={"type": "json_object"}``)
    is sent when asked for and dropped for models whose endpoint rejects it.

    Args:
        model: the model name.
        client: the :class:`LLMClient` to call through; when None, one is made from
            ``client_kwargs`` (``base_url``, ``cache``, ``api_key_env``...).
        temperature: sampling temperature (0 for a reproducible judge).
        max_tokens: completion length limit.
        seed: sampling seed.
        extra: other body parameters.
        **client_kwargs: passed to :class:`LLMClient` when ``client`` is None.

    Examples:
        >>> LLMCompleter("judge-model", base_url="http://127.0.0.1:9/v1").model
        'judge-model'
    """

    def __init__(
        self,
        model: str,
        *,
        client: LLMClient | None = None,
        temperature: float | None = 0.0,
        max_tokens: int | None = 512,
        seed: int | None = 0,
        extra: Mapping[str, Any] | None = None,
        **client_kwargs: Any,
    ) -> None:
        self.model = model
        self.client = client if client is not None else LLMClient(**client_kwargs)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.extra = dict(extra or {})
        self.last: Completion | None = None
        """The last :class:`Completion` (tokens, latency, cached), for accounting."""

    def complete(self, messages: str | Sequence[Message], *, response_format: Mapping[str, Any] | None = None) -> str:
        """Complete a prompt (a string becomes one user message).

        Args:
            messages: chat messages, or a prompt string.
            response_format: e.g. ``{"type": "json_object"}``.

        Returns:
            The completion text ("" when the model said nothing).

        Raises:
            LLMError: the call failed after retries; the message gives the reason.
        """
        msgs = [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)
        request = ChatRequest(
            self.model, msgs, self.temperature, self.max_tokens, self.seed, response_format, self.extra
        )
        self.last = completion = self.client.complete(request)
        if completion.error is not None:
            raise LLMError(f"The LLM call to {self.model!r} failed: {completion.error}")
        return completion.output or ""

    def __repr__(self) -> str:
        return f"LLMCompleter(model={self.model!r}, client={self.client!r})"
