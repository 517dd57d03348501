"""A lean HTTP/1.1 client for the one call evaltools makes: POST a JSON body, read a JSON answer.

:class:`evaltools.llm.LLMClient` sends chat completions through this instead of
the ``openai`` client's request machinery when nothing needs that machinery (no
proxy configured). Measured in ``benchmarks/bench_llm.py``: importing ``openai``
costs about 1.4 s of CPU before the first request, and at concurrency 64 its
per-request work (parameter transforms, response models, httpcore's connection
pool scan) made the client CPU-bound at under half the server's throughput.
Here a request is one ``json.dumps``, one write and a header parse, on asyncio
streams with keep-alive connections.

Failures are still reported as the ``openai`` client would report them
(:func:`openai_error` builds the same exception classes, importing ``openai`` only
then), so retries, error reasons and messages do not depend on the transport.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import urllib.request
from collections import deque
from typing import Any
from urllib.parse import urlsplit

__all__ = ["HTTPError", "JSONObject", "LeanHTTP", "lean_transport_applies", "openai_error"]


class JSONObject(dict):  # type: ignore[type-arg]
    """A parsed JSON object that also reads as attributes (``body.choices``), like the openai models.

    A missing key reads as None, as ``getattr(model, name, None)`` does.

    Examples:
        >>> body = json.loads('{"choices": [{"message": {"content": "hi"}}]}', object_hook=JSONObject)
        >>> body.choices[0].message.content, body.usage
        ('hi', None)
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get(name)


class HTTPError(Exception):
    """A request that got no usable answer; :func:`openai_error` turns it into the openai exception.

    Args:
        kind: ``"status"`` (an answer with a non-2xx status), ``"connection"`` or ``"timeout"``.
        status: the HTTP status, for ``"status"``.
        headers: the answer's headers (lower-case names).
        body: the answer's body.
    """

    def __init__(self, kind: str, status: int = 0, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        super().__init__(f"{kind} {status}" if status else kind)
        self.kind = kind
        self.status = status
        self.headers = headers or {}
        self.body = body


def lean_transport_applies(base_url: str) -> bool:
    """Whether :class:`LeanHTTP` can serve this endpoint: http(s) without a configured proxy.

    Args:
        base_url: the endpoint.

    Returns:
        False when ``$HTTP(S)_PROXY``/``$ALL_PROXY`` would route it through a proxy
        (the openai client's transport honours those) or the URL has a query
        string; True otherwise.

    Examples:
        >>> import urllib.request
        >>> lean_transport_applies("http://127.0.0.1:8080/v1") == (not urllib.request.getproxies().get("http"))
        True
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or parts.query:
        return False  # e.g. Azure's ?api-version=: left to the openai client
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass(parts.hostname or ""))


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass


class LeanHTTP:
    """Keep-alive HTTP/1.1 connections to one origin, for one event loop.

    Args:
        base_url: ``http(s)://host[:port]/prefix``.
        headers: headers sent with every request (authorization, user agent).
    """

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        host_header = self.host if ":" not in self.host else f"[{self.host}]"
        if parts.port is not None:
            host_header += f":{parts.port}"
        lines = [f"Host: {host_header}", "Content-Type: application/json", "Accept: application/json"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self._head = "\r\n".join(lines)
        self._idle: deque[_Conn] = deque()
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if self.https else None

    def url(self, path: str) -> str:
        """The full URL of ``path`` (for error messages)."""
        scheme = "https" if self.https else "http"
        return f"{scheme}://{self.host}:{self.port}{self.prefix}{path}"

    async def _connect(self) -> _Conn:
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self._ssl, server_hostname=self.host if self.https else None, limit=2**20
        )
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Headers and body leave in one write, but the server's answer should not
            # wait for a delayed ACK either.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Conn(reader, writer)

    async def post(self, path: str, body: bytes, timeout: float) -> tuple[int, dict[str, str], bytes]:
        """POST ``body`` (JSON) to ``prefix + path``; return (status, headers, body).

        An idle connection the server has closed is not used. A request is never
        sent twice: a connection that breaks under it is a ``"connection"`` error,
        for the caller to retry (as the openai client's transport does).

        Raises:
            HTTPError: ``"connection"`` or ``"timeout"`` (the status is the caller's to judge).
        """
        head = f"POST {self.prefix}{path} HTTP/1.1\r\n{self._head}\r\nContent-Length: {len(body)}\r\n\r\n"
        request = head.encode("latin-1") + body
        conn: _Conn | None = None
        try:
            async with asyncio.timeout(timeout):
                while self._idle and conn is None:
                    conn = self._idle.pop()
                    if conn.reader.at_eof() or conn.writer.is_closing():
                        conn.close()
                        conn = None
                if conn is None:
                    conn = await self._connect()
                conn.writer.write(request)
                await conn.writer.drain()
                status, headers, data, keep = await self._read_answer(conn.reader)
        except TimeoutError:
            if conn is not None:
                conn.close()
            raise HTTPError("timeout") from None
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            if conn is not None:
                conn.close()
            raise HTTPError("connection") from exc
        except BaseException:  # cancelled mid-answer: the connection's state is unknown
            if conn is not None:
                conn.close()
            raise
        if keep:
            self._idle.append(conn)
        else:
            conn.close()
        return status, headers, data

    @staticmethod
    async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes, bool]:
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("the server closed the connection without answering")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise ConnectionError(f"not an HTTP answer: {status_line[:60]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n"):
            if not line:
                raise ConnectionResetError("the connection closed in the middle of the headers")
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        keep = headers.get("connection", "").lower() != "close" and not status_line.startswith(b"HTTP/1.0")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while size := int((await reader.readline()).split(b";", 1)[0].strip() or b"0", 16):
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            data = b"".join(chunks)
        elif "content-length" in headers:
            data = await reader.readexactly(int(headers["content-length"]))
        else:
            keep = False  # the body runs to the end of the stream
            data = await reader.read()
        return status, headers, data, keep

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop().close()


def openai_error(exc: HTTPError, url: str) -> Exception:
    """The exception the ``openai`` client raises for the same failure (imports ``openai``).

    Args:
        exc: the failure.
        url: the request's URL.

    Returns:
        ``openai.APITimeoutError``, ``openai.APIConnectionError`` (its ``__cause__``
        the socket error), or the ``openai.APIStatusError`` subclass of the status
        (``RateLimitError`` for 429...), carrying the answer's headers and parsed body.
    """
    import openai
    from openai import _exceptions

    httpx = getattr(_exceptions, "httpx2", None) or getattr(_exceptions, "httpx")  # noqa: B009 - openai's HTTP library
    request = httpx.Request("POST", url)
    if exc.kind == "timeout":
        return openai.APITimeoutError(request=request)
    if exc.kind == "connection":
        error = openai.APIConnectionError(request=request)
        error.__cause__ = exc.__cause__
        return error
    response = httpx.Response(exc.status, headers=exc.headers, content=exc.body, request=request)
    try:
        body: Any = json.loads(exc.body)
    except ValueError:
        body = exc.body.decode("utf-8", "replace")
    data = body.get("error", body) if isinstance(body, dict) else body
    classes = {
        400: openai.BadRequestError,
        401: openai.AuthenticationError,
        403: openai.PermissionDeniedError,
        404: openai.NotFoundError,
        409: openai.ConflictError,
        422: openai.UnprocessableEntityError,
        429: openai.RateLimitError,
    }
    cls = classes.get(exc.status, openai.InternalServerError if exc.status >= 500 else openai.APIStatusError)
    return cls(f"Error code: {exc.status} - {body}", response=response, body=data)
