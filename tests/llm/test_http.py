"""The lean HTTP transport of the LLM client: framing, keep-alive, failures as openai reports them."""

from __future__ import annotations

import asyncio

import pytest
from fakeserver import FakeOpenAIServer

from evaltools.llm._client import ChatRequest, LLMClient
from evaltools.llm._http import HTTPError, LeanHTTP, lean_transport_applies, openai_error


async def raw_server(answers: list[bytes]) -> tuple[asyncio.Server, str, list[int]]:
    """A server that reads one request per answer and writes the canned bytes; counts connections."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while answers:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
            await reader.readexactly(length)
            answer = answers.pop(0)
            writer.write(answer)
            await writer.drain()
            if b"Connection: close" in answer or answer.startswith(b"HTTP/1.0"):
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1", connections


@pytest.mark.parametrize(
    "answer",
    [
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"a": "hi"}',
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n7\r\n: "hi"}\r\n0\r\n\r\n',
        b'HTTP/1.0 200 OK\r\n\r\n{"a": "hi"}',
    ],
    ids=["content-length", "chunked", "http/1.0 to end of stream"],
)
def test_body_framings(answer):
    async def main() -> None:
        server, url, connections = await raw_server([answer, answer])
        http = LeanHTTP(url, {})
        for _ in range(2):
            status, _, body = await http.post("/chat/completions", b"{}", 5)
            assert status == 200 and body == b'{"a": "hi"}'
        # keep-alive reuses the connection unless the answer ends it
        assert len(connections) == (2 if answer.startswith(b"HTTP/1.0") else 1)
        http.close()
        server.close()

    asyncio.run(main())


def test_keep_alive_connections_are_reused_and_bounded_by_concurrency():
    with FakeOpenAIServer(delay=0.02) as srv:
        client = LLMClient(srv.base_url, cache=None, concurrency=4)
        done = client.complete_many([ChatRequest("m", [{"role": "user", "content": f"q{i}"}]) for i in range(40)])
        assert all(c.ok for c in done) and [c.output for c in done][:2] == ["echo: q0", "echo: q1"]
        assert srv.max_in_flight <= 4
        client.close()


def test_failures_become_the_openai_exceptions():
    import openai

    err = openai_error(
        HTTPError("status", 429, {"retry-after": "2"}, b'{"error": {"message": "slow down"}}'), "http://h/v1"
    )
    assert isinstance(err, openai.RateLimitError) and err.response.headers["retry-after"] == "2"
    assert err.body == {"message": "slow down"}
    assert isinstance(openai_error(HTTPError("status", 503, {}, b"busy"), "http://h/v1"), openai.InternalServerError)
    assert isinstance(openai_error(HTTPError("timeout"), "http://h/v1"), openai.APITimeoutError)
    assert type(openai_error(HTTPError("connection"), "http://h/v1")) is openai.APIConnectionError


def test_a_proxy_hands_requests_to_the_openai_client(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.lower(), raising=False)
    assert lean_transport_applies("http://127.0.0.1:8080/v1")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    assert not lean_transport_applies("http://10.0.0.5:8080/v1")
    monkeypatch.setenv("NO_PROXY", "10.0.0.5")
    assert lean_transport_applies("http://10.0.0.5:8080/v1")
    assert not lean_transport_applies("ftp://10.0.0.5/v1")
