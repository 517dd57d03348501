"""A fake OpenAI-compatible chat server for tests and benchmarks (not a product feature).

Real HTTP on 127.0.0.1, one thread per connection, keep-alive. By default every
``POST /v1/chat/completions`` answers ``"echo: <last user message>"`` after
``delay`` seconds, with word-count token usage. Faults are scripted two ways:

* markers in the last user message: ``[[status=500]]`` (always that status),
  ``[[status=429,times=2,retry_after=0.2]]`` (that status for the first two
  requests carrying this message, then success), ``[[malformed]]`` (a 200 with a
  broken JSON body), ``[[empty]]`` (empty content), ``[[length]]``
  (finish_reason ``length``), ``[[sleep=2]]`` (answer after 2 s), ``[[drop]]``
  (close the connection without answering), ``[[trickle=0.2]]`` (send the body
  one byte every 0.2 s: each read makes progress, so only a wall-clock deadline
  ends it);
* ``server.script.append(Reply(...))``: replies consumed in order by the next
  requests, whatever their content.

``server.requests`` logs every request (path, headers, JSON body);
``server.max_in_flight`` is the most chat requests it was handling at once. ``server.gate``
(a ``threading.Event``, set by default) can hold answers back: with
``hold_after=n``, requests past the n-th answered one wait until the gate is set.

Run as a script (``python tests/fakeserver.py --delay 0.2``) it prints its base
URL on stdout and serves until killed: the benchmark uses it that way so the
server does not share the client's GIL.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_MARKER = re.compile(r"\[\[([^\]]*)\]\]")


@dataclass
class Reply:
    """One scripted reply."""

    status: int = 200
    content: str | None = "scripted"
    finish_reason: str = "stop"
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: bytes | None = None
    delay: float = 0.0
    drop: bool = False
    usage: bool = True
    trickle: float = 0.0


@dataclass
class LoggedRequest:
    """A request the server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


class FakeOpenAIServer:
    """The server; use as a context manager or call ``start()``/``stop()``.

    Args:
        delay: seconds to wait before every answer.
        models: model names that exist; any other model gets a 404.
        api_key: when set, requests without ``Authorization: Bearer <api_key>`` get a 401.
        hold_after: answer this many requests, then hold the rest until ``gate`` is set.
        json_mode: whether ``response_format`` is accepted; when False it gets a 400.
        served_model: the ``model`` the body says it served (default: the one asked for).
        system_fingerprint: a ``system_fingerprint`` to send (default: none).
    """

    def __init__(
        self,
        *,
        delay: float = 0.0,
        models: tuple[str, ...] | None = None,
        api_key: str | None = None,
        hold_after: int | None = None,
        json_mode: bool = True,
        served_model: str | None = None,
        system_fingerprint: str | None = None,
    ) -> None:
        self.served_model = served_model
        self.system_fingerprint = system_fingerprint
        self.delay = delay
        self.models = models
        self.api_key = api_key
        self.hold_after = hold_after
        self.json_mode = json_mode
        self.script: list[Reply] = []
        self.requests: list[LoggedRequest] = []
        self.probes: list[LoggedRequest] = []
        self.gate = threading.Event()
        self.answered = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The ``/v1`` base URL to give the client."""
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def completion_calls(self) -> int:
        """How many chat completion requests arrived."""
        return sum(1 for r in self.requests if r.path.endswith("/chat/completions"))

    def start(self) -> FakeOpenAIServer:
        """Start serving on a free port of 127.0.0.1."""
        if self.hold_after is None:
            self.gate.set()
        handler = _make_handler(self)
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.gate.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- behaviour ---------------------------------------------------------------------------
    def decide(self, body: dict[str, Any] | None, headers: dict[str, str]) -> Reply:
        """Choose the reply to a chat completion request."""
        if body is None:
            return Reply(status=400, raw_body=b'{"error": {"message": "body is not JSON"}}')
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            # Like OpenAI, echo a masked key back: the client must not store even this.
            given = headers.get("authorization", "")[7:]
            masked = given[:3] + "*" * 8 + given[-4:] if given else ""
            return _error(401, f"Incorrect API key provided: {masked}", "invalid_api_key")
        model = body.get("model")
        if self.models is not None and model not in self.models:
            return _error(404, f"The model `{model}` does not exist", "model_not_found")
        if body.get("response_format") and not self.json_mode:
            return _error(400, "response_format is not supported", "invalid_request_error")
        with self._lock:
            if self.script:
                return self.script.pop(0)
        messages = body.get("messages") or []
        last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        text = last if isinstance(last, str) else json.dumps(last)
        reply = Reply(content=f"echo: {text}", delay=self.delay)
        match = _MARKER.search(text)
        if match:
            opts = dict(kv.split("=", 1) if "=" in kv else (kv, "1") for kv in match.group(1).split(",") if kv)
            with self._lock:
                self._seen[text] += 1
                seen = self._seen[text]
            if "status" in opts and seen <= int(opts.get("times", "1000000")):
                reply = _error(int(opts["status"]), f"scripted status {opts['status']}", "scripted")
                if "retry_after" in opts:
                    reply.headers["Retry-After"] = opts["retry_after"]
            elif "malformed" in opts and seen <= int(opts.get("times", "1000000")):
                reply = Reply(raw_body=b'{"id": "x", "choices": [{"message": ')
            elif "empty" in opts:
                reply.content = ""
            elif "length" in opts:
                reply.content = "truncated answ"
                reply.finish_reason = "length"
            elif "drop" in opts and seen <= int(opts.get("times", "1000000")):
                reply.drop = True
            if "trickle" in opts and seen <= int(opts.get("times", "1000000")):
                reply.trickle = float(opts["trickle"])
            if "sleep" in opts and seen <= int(opts.get("times", "1000000")):
                reply.delay = float(opts["sleep"])
        return reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default listen backlog (5) drops SYNs when 16 clients connect at once,
    # and a dropped SYN costs a 1 s retransmit: far more than the answer delay.
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that was killed or timed out resets its connection: expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _error(status: int, message: str, code: str) -> Reply:
    body = json.dumps({"error": {"message": message, "type": code, "code": code}}).encode()
    return Reply(status=status, raw_body=body)


def _completion_body(reply: Reply, body: dict[str, Any], server: FakeOpenAIServer) -> bytes:
    content = reply.content or ""
    prompt_words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
    payload: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": server.served_model or body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": reply.finish_reason,
            }
        ],
    }
    if server.system_fingerprint is not None:
        payload["system_fingerprint"] = server.system_fingerprint
    if reply.usage:
        completion_words = len(content.split())
        payload["usage"] = {
            "prompt_tokens": prompt_words,
            "completion_tokens": completion_words,
            "total_tokens": prompt_words + completion_words,
        }
    return json.dumps(payload).encode()


def _make_handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the body waits for
        # the client's delayed ACK (~40 ms), which would swamp a 200 ms answer.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, trickle: float = 0) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if not trickle:
                self.wfile.write(body)
                self.wfile.flush()
                return
            for k in range(len(body)):
                self.wfile.write(body[k : k + 1])
                self.wfile.flush()
                time.sleep(trickle)

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            headers = {k.lower(): v for k, v in self.headers.items()}
            # GETs (the client's GET /models identity probe) are logged apart from the
            # completion requests, which tests count and inspect.
            server.probes.append(LoggedRequest(self.path, headers, None))
            if self.path.rstrip("/").endswith("/models"):
                # A server serving one model lists that one (llama.cpp does).
                names = server.models or ((server.served_model,) if server.served_model else ("fake-model",))
                data = [{"id": n, "object": "model", "owned_by": "fake"} for n in names]
                self._send(200, json.dumps({"object": "list", "data": data}).encode())
            else:
                self._send(404, b'{"error": {"message": "not found"}}')

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            server.requests.append(LoggedRequest(self.path, headers, body))
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, b'{"error": {"message": "not found"}}')
                return
            with server._lock:
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                self._answer(body, headers)
            finally:
                with server._lock:
                    server.in_flight -= 1

        def _answer(self, body: dict[str, Any] | None, headers: dict[str, str]) -> None:
            reply = server.decide(body, headers)
            if server.hold_after is not None:
                with server._lock:
                    hold = server.answered >= server.hold_after
                    if not hold:
                        server.answered += 1
                if hold:
                    server.gate.wait()
            if reply.delay:
                time.sleep(reply.delay)
            if reply.drop:
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            out = reply.raw_body if reply.raw_body is not None else _completion_body(reply, body or {}, server)
            try:
                self._send(reply.status, out, reply.headers, reply.trickle)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (timeout): nothing to answer.
                self.close_connection = True

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Serve until killed, printing the base URL on the first stdout line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(delay=args.delay).start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
