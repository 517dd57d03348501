"""The LLM layer against a real HTTP fake server (tests/fakeserver.py) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
import time

import pytest
from fakeserver import FakeOpenAIServer, Reply

from evaltools.errors import ConfigError, LLMError
from evaltools.llm._client import (
    ChatRequest,
    Completion,
    LLMCache,
    LLMClient,
    LLMCompleter,
    cache_key,
    run_sync,
    sanitize_url,
)

FAST = {"retry_initial_s": 0.01, "retry_max_s": 0.05, "max_retries": 2, "timeout_s": 2.0}


def req(text: str, **kw: object) -> ChatRequest:
    return ChatRequest("fake-model", [{"role": "user", "content": text}], temperature=0, **kw)  # type: ignore[arg-type]


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- keys, URLs, cache keys


def test_cache_key_is_canonical_and_sensitive_to_every_param():
    base = req("hi", max_tokens=10, seed=1)
    assert cache_key(base) == cache_key(req("hi", max_tokens=10.0, seed=1))  # 10 == 10.0
    assert len(cache_key(base)) == 64
    variants = [
        req("hi!", max_tokens=10, seed=1),
        req("hi", max_tokens=11, seed=1),
        req("hi", max_tokens=10, seed=2),
        req("hi", max_tokens=10, seed=1, response_format={"type": "json_object"}),
        req("hi", max_tokens=10, seed=1, extra={"top_p": 0.5}),
        ChatRequest("other-model", base.messages, 0, 10, 1),
        ChatRequest("fake-model", base.messages, 0.7, 10, 1),
    ]
    keys = {cache_key(v) for v in variants}
    assert len(keys) == len(variants) and cache_key(base) not in keys


def test_sanitize_url_drops_credentials_and_query():
    assert sanitize_url("https://user:pw@h.example/v1?api-key=zzz#f") == "https://h.example/v1"
    assert sanitize_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"


def test_api_key_from_env_file_without_printing(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MY_KEY", raising=False)
    env = tmp_path / ".env"
    env.write_text('# comment\nexport OTHER=1\nMY_KEY="sk-from-file-XYZ"\n')
    with FakeOpenAIServer(api_key="sk-from-file-XYZ") as srv:
        client = LLMClient(srv.base_url, api_key_env="MY_KEY", env_file=env, cache=None)
        assert client.complete(req("hi")).output == "echo: hi"
        assert srv.requests[-1].headers["authorization"] == "Bearer sk-from-file-XYZ"
    out = capsys.readouterr()
    assert "XYZ" not in out.out + out.err
    assert "XYZ" not in repr(client)


def test_bad_env_file_error_names_line_not_value(tmp_path, monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    env = tmp_path / ".env"
    env.write_text("MY_KEY=ok\nthis-line-has-secret-sk-abcdef\n")
    with pytest.raises(ConfigError) as info:
        LLMClient("http://127.0.0.1:9/v1", api_key_env="MY_KEY", env_file=env)
    assert ".env:2" in str(info.value) and "secret" not in str(info.value)
    with pytest.raises(ConfigError, match="does not exist"):
        LLMClient("http://127.0.0.1:9/v1", api_key_env="MY_KEY", env_file=tmp_path / "nope.env")


def test_openai_host_without_key_is_a_config_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        LLMClient()
    # A local server needs no key: a placeholder is sent.
    assert LLMClient("http://127.0.0.1:9/v1")._api_key == "sk-no-key"


@pytest.mark.parametrize(
    "kwargs, name",
    [({"concurrency": 0}, "concurrency"), ({"max_retries": -1}, "max_retries"), ({"timeout_s": 0}, "timeout_s")],
)
def test_bad_settings_are_config_errors(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        LLMClient("http://127.0.0.1:9/v1", **kwargs)


def test_non_http_base_url_is_rejected():
    with pytest.raises(ConfigError, match="http"):
        LLMClient("127.0.0.1:8080")


# --------------------------------------------------------------------------- cache


def test_cache_persists_across_connections_and_uses_wal(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = LLMCache(path)
    cache.put("k1", "m", Completion("out", "length", 4, 2, 0.25))
    # Read through a second, independent connection before close(): committed already.
    row = sqlite3.connect(path).execute("SELECT output, finish_reason, latency_s FROM served_completions").fetchone()
    assert row == ("out", "length", 0.25)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cache.close()
    again = LLMCache(path)
    hit = again.get("k1", "", "m")
    assert hit is not None and hit.cached and hit.output == "out" and hit.prompt_tokens == 4
    assert again.get("missing", "", "m") is None
    with pytest.raises(ValueError):
        again.put("k2", "m", Completion(None, error="timeout: x"))


def test_cache_file_that_is_not_sqlite(tmp_path):
    bad = tmp_path / "c.sqlite"
    bad.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ConfigError, match="not an SQLite database"):
        LLMCache(bad)


def test_rerun_is_served_from_cache_with_zero_calls(tmp_path, server):
    requests = [req(f"question {i}", max_tokens=32) for i in range(20)]
    with LLMClient(server.base_url, cache=tmp_path / "c.sqlite", **FAST) as client:
        first = client.complete_many(requests)
    assert server.completion_calls == 20 and not any(c.cached for c in first)
    with LLMClient(server.base_url, cache=tmp_path / "c.sqlite", **FAST) as client:
        second = client.complete_many(requests)
        assert client.stats.cache_hits == 20 and client.stats.calls == 0
    assert server.completion_calls == 20
    assert [c.output for c in second] == [c.output for c in first]
    assert all(c.cached for c in second)
    # The cached latency is the original call's, not ~0.
    assert [c.latency_s for c in second] == pytest.approx([c.latency_s for c in first])


def test_failures_are_not_cached(tmp_path, server):
    with LLMClient(server.base_url, cache=tmp_path / "c.sqlite", **FAST) as client:
        assert client.complete(req("[[status=500]]")).error_reason == "server_error"
        assert len(client.cache) == 0  # type: ignore[arg-type]


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "text, reason, attempts",
    [
        ("[[status=500]]", "server_error", 3),  # retried twice, then recorded
        ("[[status=503]]", "server_error", 3),
        ("[[status=429]]", "rate_limited", 3),
        ("[[status=401]]", "auth_error", 1),  # not retryable
        ("[[status=403]]", "auth_error", 1),
        ("[[status=404]]", "model_not_found", 1),
        ("[[status=400]]", "bad_request", 1),
        ("[[status=422]]", "bad_request", 1),
        ("[[malformed]]", "malformed_response", 2),  # asked again once only
        ("[[drop]]", "connection_error", 3),
    ],
)
def test_persistent_faults_are_recorded_with_a_reason(server, text, reason, attempts):
    client = LLMClient(server.base_url, cache=None, **FAST)
    c = client.complete(req(text))
    assert c.output is None and c.error_reason == reason and c.attempts == attempts
    assert server.completion_calls == attempts
    assert f"after {attempts} attempt" in (c.error or "")


@pytest.mark.parametrize(
    "text",
    [
        "[[status=500,times=2]]",
        "[[status=502,times=1]]",
        "[[malformed,times=1]]",
        "[[drop,times=1]]",
        "[[status=429,times=2]]",
    ],
)
def test_transient_faults_are_retried_to_success(server, text):
    c = LLMClient(server.base_url, cache=None, **FAST).complete(req(text))
    assert c.ok and c.output == f"echo: {text}"
    assert c.attempts == int(text.split("times=")[1][0]) + 1


def test_429_retry_after_is_honoured(server):
    client = LLMClient(server.base_url, cache=None, **FAST)  # backoff alone would wait ~0.01 s
    start = time.perf_counter()
    c = client.complete(req("[[status=429,times=1,retry_after=0.6]]"))
    elapsed = time.perf_counter() - start
    assert c.ok and c.attempts == 2
    assert elapsed >= 0.6, elapsed  # waited what the server asked
    assert elapsed < 2.0


def test_retry_after_is_capped(server):
    client = LLMClient(server.base_url, cache=None, max_retry_after_s=0.2, **FAST)
    start = time.perf_counter()
    assert client.complete(req("[[status=429,times=1,retry_after=30]]")).ok
    assert time.perf_counter() - start < 2.0


def test_timeout_is_retried_then_recorded(server):
    client = LLMClient(server.base_url, cache=None, **{**FAST, "timeout_s": 0.3, "max_retries": 1})
    c = client.complete(req("[[sleep=1.5]]"))
    assert c.error_reason == "timeout" and c.attempts == 2
    assert "0.3 s" in (c.error or "")
    # A slow first attempt, then a quick one: success on the retry.
    c = client.complete(req("[[sleep=1.5,times=1]]"))
    assert c.ok and c.attempts == 2


def test_unreachable_endpoint_is_recorded():
    client = LLMClient(f"http://127.0.0.1:{free_port()}/v1", cache=None, **FAST)
    c = client.complete(req("hi"))
    assert c.error_reason == "connection_error" and c.attempts == 3
    assert "cannot reach" in (c.error or "")


def test_wrong_model_name_is_a_404_with_the_name(server):
    srv = FakeOpenAIServer(models=("real-model",)).start()
    try:
        c = LLMClient(srv.base_url, cache=None, **FAST).complete(req("hi"))
        assert c.error_reason == "model_not_found" and "'fake-model'" in (c.error or "")
    finally:
        srv.stop()


def test_empty_and_truncated_completions_are_kept_with_finish_reason(server):
    client = LLMClient(server.base_url, cache=None, **FAST)
    empty = client.complete(req("[[empty]]"))
    assert empty.ok and empty.output == "" and empty.finish_reason == "stop"
    cut = client.complete(req("[[length]]"))
    assert cut.ok and cut.finish_reason == "length" and cut.output == "truncated answ"


def test_response_without_choices_or_usage(server):
    server.script.append(Reply(raw_body=b'{"id": "x", "object": "chat.completion", "choices": []}'))
    server.script.append(Reply(content="no usage here", usage=False))
    c = LLMClient(server.base_url, cache=None, **{**FAST, "max_retries": 1}).complete(req("a"))
    assert c.ok and c.output == "no usage here" and c.prompt_tokens is None and c.attempts == 2


def test_one_failure_does_not_stop_a_batch(server):
    texts = ["a", "[[status=500]]", "b", "[[status=401]]", "c", "[[malformed]]", "d"]
    results = LLMClient(server.base_url, cache=None, **FAST).complete_many([req(t) for t in texts])
    assert [r.ok for r in results] == [True, False, True, False, True, False, True]
    assert [r.output for r in results if r.ok] == ["echo: a", "echo: b", "echo: c", "echo: d"]


# --------------------------------------------------------------------------- concurrency, loops


def test_concurrency_is_bounded():
    with FakeOpenAIServer(delay=0.05) as srv:
        client = LLMClient(srv.base_url, cache=None, concurrency=3, **FAST)
        done: list[int] = []
        results = client.complete_many([req(f"q{i}") for i in range(12)], on_result=lambda i, c: done.append(i))
        assert srv.max_in_flight == 3
        assert sorted(done) == list(range(12))
        assert [r.output for r in results] == [f"echo: q{i}" for i in range(12)]


def test_sync_api_inside_a_running_event_loop(server):
    # What a Jupyter cell does: call the sync API while a loop is running in this thread.
    client = LLMClient(server.base_url, cache=None, **FAST)

    async def cell() -> list[Completion]:
        one = client.complete(req("from inside a loop"))
        many = client.complete_many([req("x"), req("y")])
        return [one, *many]

    results = asyncio.run(cell())
    assert [r.output for r in results] == ["echo: from inside a loop", "echo: x", "echo: y"]


def test_async_api_on_the_callers_loop(server):
    async def main() -> list[Completion]:
        client = LLMClient(server.base_url, cache=None, **FAST)
        try:
            return await client.acomplete_many([req("p"), req("q")])
        finally:
            await client.aclose()

    assert [c.output for c in asyncio.run(main())] == ["echo: p", "echo: q"]


def test_run_sync_refuses_to_deadlock_on_its_own_loop():
    async def inner() -> int:
        return 1

    async def outer() -> None:
        coro = inner()
        with pytest.raises(RuntimeError, match="async API"):
            run_sync(coro)

    run_sync(outer())


def test_on_result_exception_propagates(server):
    def boom(i: int, c: Completion) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        LLMClient(server.base_url, cache=None, **FAST).complete_many([req("a"), req("b")], on_result=boom)


def test_usage_stats_add_up(tmp_path, server):
    client = LLMClient(server.base_url, cache=tmp_path / "c.sqlite", **FAST)
    client.complete_many([req("one two"), req("[[status=500,times=1]]"), req("[[status=404]]")])
    client.complete(req("one two"))
    s = client.stats
    assert (s.requests, s.cache_hits, s.calls, s.retries, s.errors) == (4, 1, 4, 1, 1)
    # fake usage counts words: "one two" -> 2 prompt, "echo: one two" -> 3 completion
    assert s.prompt_tokens == 2 + 1 and s.completion_tokens == 3 + 2
    assert s.latency_s > 0
    client.close()


# --------------------------------------------------------------------------- the judge's client


def test_completer_json_mode_and_fallback(tmp_path):
    with FakeOpenAIServer(json_mode=False) as srv:
        judge = LLMCompleter("fake-model", base_url=srv.base_url, cache=tmp_path / "j.sqlite", **FAST)
        out = judge.complete([{"role": "user", "content": "rate it"}], response_format={"type": "json_object"})
        assert out == "echo: rate it"
        bodies = [r.body for r in srv.requests if r.path.endswith("/chat/completions")]
        assert "response_format" in bodies[0] and "response_format" not in bodies[1]
        # The model is remembered as not supporting JSON mode: one request next time.
        judge.complete("another", response_format={"type": "json_object"})
        assert srv.completion_calls == 3
        # Cached under the request as asked (with response_format): no new call.
        assert judge.complete("another", response_format={"type": "json_object"}) == "echo: another"
        assert srv.completion_calls == 3 and judge.last is not None and judge.last.cached
    with FakeOpenAIServer(json_mode=True) as srv:
        judge = LLMCompleter("fake-model", base_url=srv.base_url, cache=None, **FAST)
        judge.complete("x", response_format={"type": "json_object"})
        assert srv.requests[0].body["response_format"] == {"type": "json_object"}  # type: ignore[index]
        assert srv.requests[0].body["temperature"] == 0  # type: ignore[index]


def test_completer_raises_llm_error_with_reason(server):
    judge = LLMCompleter("fake-model", base_url=server.base_url, cache=None, **FAST)
    with pytest.raises(LLMError, match="server_error"):
        judge.complete("[[status=500]]")


def test_api_key_never_leaks(tmp_path, monkeypatch, caplog):
    secret = "sk-test-SECRETKEY-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    caplog.set_level("DEBUG")
    errors = []
    with FakeOpenAIServer(api_key="sk-the-right-one") as srv:
        client = LLMClient(srv.base_url, cache=tmp_path / "c.sqlite", **FAST)
        c = client.complete(req("hi"))
        assert c.error_reason == "auth_error"
        errors.append(c.error or "")
        try:
            LLMCompleter("fake-model", client=client).complete("hi")
        except LLMError as exc:
            errors.append(str(exc) + repr(exc))
        client.close()
    assert srv.requests[0].headers["authorization"] == f"Bearer {secret}"  # it was sent...
    blobs = [*errors, caplog.text, repr(client)]
    blobs += [p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file()]
    for blob in blobs:  # ...and is nowhere else, not even the masked echo of the server
        assert secret not in blob and "SECRETKEY" not in blob and "cdef" not in blob


def test_offline_mode_replays_the_cache_and_never_calls(tmp_path):
    from evaltools.errors import ConfigError, LLMError
    from evaltools.llm._cache import Completion, LLMCache, cache_key
    from evaltools.llm._client import ChatRequest, LLMClient, LLMCompleter

    cache = LLMCache(tmp_path / "c.sqlite")
    hit = ChatRequest("m", [{"role": "user", "content": "recorded"}], 0.0, 16, 0, None, {})
    cache.put(cache_key(hit), "m", Completion("from the cache", finish_reason="stop", latency_s=0.5))
    # port 9 (discard) is never contacted: a miss must fail at once, not retry a dead endpoint
    client = LLMClient("http://127.0.0.1:9/v1", cache=cache, offline=True, max_retries=3)
    assert client.complete(hit).output == "from the cache"
    miss = ChatRequest("m", [{"role": "user", "content": "never recorded"}], 0.0, 16, 0, None, {})
    result = client.complete(miss)
    assert result.output is None and result.error_reason == "cache_miss"
    assert client.stats.cache_hits == 1 and client.stats.retries == 0
    judge = LLMCompleter("m", client=client, temperature=0.0, max_tokens=16, seed=0)
    assert judge.complete("recorded") == "from the cache"
    with pytest.raises(LLMError, match="cache_miss"):
        judge.complete("never recorded")
    with pytest.raises(ConfigError, match="needs a cache"):
        LLMClient("http://127.0.0.1:9/v1", offline=True)


# --------------------------------------------------------------------------- reliability (issue 10)


def test_trickling_server_is_cut_at_the_wall_clock_deadline(server):
    # The body (~250 bytes) arrives one byte every 0.1 s: about 25 s in all. Every
    # read makes progress, so only a deadline on the whole attempt stops it.
    client = LLMClient(server.base_url, cache=None, timeout_s=1.0, max_retries=0)
    start = time.monotonic()
    c = client.complete(req("[[trickle=0.1]]"))
    elapsed = time.monotonic() - start
    assert c.error_reason == "timeout" and "within 1 s" in (c.error or "")
    assert elapsed < 3.0, elapsed


def test_item_total_deadline_bounds_all_attempts(server):
    # 1 s per attempt, 10 retries allowed: without a total the item takes ~11 s.
    client = LLMClient(
        server.base_url, cache=None, timeout_s=1.0, max_retries=10, retry_initial_s=0.01, item_timeout_s=2.5
    )
    start = time.monotonic()
    c = client.complete(req("[[trickle=0.1]]"))
    elapsed = time.monotonic() - start
    assert c.error_reason == "timeout" and "total of 2.5 s" in (c.error or "")
    assert 2.0 <= elapsed < 4.0, elapsed
    assert c.attempts == 3  # two full attempts cut at 1 s, the third cut by the total


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"choices": ["hello"]}', "choices[0] is a string"),
        (
            b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": null}, "finish_reason": "stop"}]}',
            "content is null",
        ),
        (b'{"id": "x", "object": "chat.completion", "created": 1, "model": "m"}', "no 'choices'"),
        (b'{"choices": [{"message": "hello", "finish_reason": "stop"}]}', "message is a string"),
        (b'{"choices": [{"message": {"role": "assistant", "content": ["a"]}}]}', "content is a list"),
    ],
    ids=["choices-of-strings", "content-null", "no-choices", "message-string", "content-list"],
)
def test_malformed_200_bodies_are_errors_never_cached(tmp_path, server, body, reason):
    cache = LLMCache(tmp_path / "c.sqlite")
    client = LLMClient(server.base_url, cache=cache, **{**FAST, "max_retries": 1})
    for _ in range(2):
        server.script.append(Reply(raw_body=body))
    c = client.complete(req("q"))
    assert not c.ok and c.output is None and c.error_reason == "malformed_response"
    assert reason in (c.error or "") and c.attempts == 2
    assert len(cache) == 0
    # The healthy server is asked again, not a replayed ''.
    again = client.complete(req("q"))
    assert again.ok and again.output == "echo: q" and not again.cached
    assert server.completion_calls == 3


def test_malformed_bodies_are_retried_once_whatever_max_retries(server):
    c = LLMClient(server.base_url, cache=None, **{**FAST, "max_retries": 6}).complete(req("[[malformed]]"))
    assert c.error_reason == "malformed_response" and c.attempts == 2 and server.completion_calls == 2


def test_null_content_cut_by_max_tokens_is_an_empty_truncated_answer(tmp_path, server):
    # A reasoning model that spends max_tokens thinking sends content null, finish_reason length.
    body = (
        b'{"model": "fake-model", "choices": [{"message": {"role": "assistant", "content": null,'
        b' "reasoning_content": "Let me think"}, "finish_reason": "length"}],'
        b' "usage": {"prompt_tokens": 5, "completion_tokens": 16}}'
    )
    server.script.append(Reply(raw_body=body))
    cache = LLMCache(tmp_path / "c.sqlite")
    c = LLMClient(server.base_url, cache=cache, **FAST).complete(req("q"))
    assert c.ok and c.output == "" and c.finish_reason == "length" and c.attempts == 1
    assert c.completion_tokens == 16 and server.completion_calls == 1
    # It is the endpoint's answer at these settings: cached, replayed with its finish_reason.
    again = LLMClient(server.base_url, cache=cache, **FAST).complete(req("q"))
    assert again.cached and again.output == "" and again.finish_reason == "length"


def test_refusal_field_with_null_content_is_the_answer(server):
    body = (
        b'{"choices": [{"message": {"role": "assistant", "content": null, "refusal": "I cannot help with that."},'
        b' "finish_reason": "stop"}]}'
    )
    server.script.append(Reply(raw_body=body))
    c = LLMClient(server.base_url, cache=None, **FAST).complete(req("q"))
    assert c.ok and c.output == "I cannot help with that."


def test_cache_is_per_endpoint(tmp_path):
    cache_path = tmp_path / "c.sqlite"
    with FakeOpenAIServer() as a, FakeOpenAIServer() as b:
        LLMClient(a.base_url, cache=cache_path, **FAST).complete(req("same question"))
        # Another endpoint (another port: another server) asked the same thing is called.
        other = LLMClient(b.base_url, cache=cache_path, **FAST).complete(req("same question"))
        assert not other.cached and b.completion_calls == 1
        # The same endpoint spelled differently is the same endpoint.
        spelled = a.base_url.replace("http://", "HTTP://") + "/"
        again = LLMClient(spelled, cache=cache_path, **FAST).complete(req("same question"))
        assert again.cached and a.completion_calls == 1
    assert len(LLMCache(cache_path)) == 2


def test_cache_entry_of_another_served_model_is_not_replayed(tmp_path):
    cache_path = tmp_path / "c.sqlite"
    with FakeOpenAIServer(served_model="model-a.gguf", system_fingerprint="fp-1") as srv:
        first = LLMClient(srv.base_url, cache=cache_path, **FAST)
        assert first.complete(req("x")).served_model == "model-a.gguf"
        assert first.identity("fake-model")["served_model"] == "model-a.gguf"
        # The server behind the same URL now runs another model. A new session asks
        # GET /models before its first lookup, so even a fully warm cache is not replayed.
        srv.served_model, srv.system_fingerprint = "model-b.gguf", "fp-2"
        client = LLMClient(srv.base_url, cache=cache_path, **FAST)
        x = client.complete(req("x"))
        assert not x.cached and x.served_model == "model-b.gguf" and srv.completion_calls == 2
        assert client.identity("fake-model") == {
            "endpoint": srv.base_url,
            "base_url": srv.base_url,
            "model": "fake-model",
            "served_model": "model-b.gguf",
            "served_model_source": "probe",
            "system_fingerprint": "fp-2",
        }
        assert len(srv.probes) == 2  # once per client session
        # The new model's answer is stored beside the old one, not over it.
        srv.served_model = "model-a.gguf"
        back = LLMClient(srv.base_url, cache=cache_path, **FAST).complete(req("x"))
        assert back.cached and back.served_model == "model-a.gguf" and srv.completion_calls == 2
    assert len(LLMCache(cache_path)) == 2


def test_a_changed_fingerprint_alone_still_replays(tmp_path):
    cache_path = tmp_path / "c.sqlite"
    with FakeOpenAIServer(served_model="model-a.gguf", system_fingerprint="fp-1") as srv:
        LLMClient(srv.base_url, cache=cache_path, **FAST).complete(req("x"))
        srv.system_fingerprint = "fp-2"
        client = LLMClient(srv.base_url, cache=cache_path, **FAST)
        assert client.complete(req("y")).system_fingerprint == "fp-2"  # live: the new fingerprint is seen
        hit = client.complete(req("x"))
        assert hit.cached and hit.system_fingerprint == "fp-1" and srv.completion_calls == 2


def test_when_the_probe_cannot_tell_the_model_name_asked_for_stands_in(tmp_path, caplog):
    cache_path = tmp_path / "c.sqlite"
    with FakeOpenAIServer(models=("fake-model", "other")) as srv:
        client = LLMClient(srv.base_url, cache=cache_path, **FAST)
        with caplog.at_level(logging.WARNING, logger="evaltools.llm._client"):
            assert client.complete(req("x")).ok
        ident = client.identity("fake-model")
        assert ident["served_model"] == "fake-model" and "lists 2 models" in ident["served_model_source"]
        assert "served model is not known" in caplog.text
        assert LLMClient(srv.base_url, cache=cache_path, **FAST).complete(req("x")).cached


def test_entries_from_before_endpoints_replay_offline_only(tmp_path):
    # A cache file written by an older evaltools (the recorded demo cache): one table
    # keyed by the request alone, with no endpoint.
    path = tmp_path / "old.sqlite"
    request = req("recorded")
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE completions (key TEXT PRIMARY KEY, model TEXT NOT NULL, output TEXT NOT NULL,"
            " finish_reason TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, latency_s REAL,"
            " created_at TEXT NOT NULL) WITHOUT ROWID"
        )
        db.execute(
            "INSERT INTO completions VALUES (?, 'fake-model', 'old answer', 'stop', 1, 2, 0.1, 'x')",
            (cache_key(request),),
        )
    offline = LLMClient("http://127.0.0.1:9/v1", cache=path, offline=True)
    assert offline.complete(request).output == "old answer"
    offline.close()
    with FakeOpenAIServer() as srv:
        live = LLMClient(srv.base_url, cache=path, **FAST).complete(request)
        assert live.output == "echo: recorded" and srv.completion_calls == 1  # whose answer was it? ask


def test_api_key_with_a_trailing_newline_is_stripped(monkeypatch):
    with FakeOpenAIServer(api_key="sk-test-1234") as srv:
        monkeypatch.setenv("EVAL_KEY", "sk-test-1234\n")
        c = LLMClient(srv.base_url, cache=None, api_key_env="EVAL_KEY", **FAST).complete(req("hi"))
        assert c.ok, c.error
        assert srv.requests[-1].headers["authorization"] == "Bearer sk-test-1234"


@pytest.mark.parametrize(
    ("value", "what"), [("sk-te st", "a space"), ("sk-a\nsk-b", "a newline"), (" \n", "whitespace")]
)
def test_api_key_with_inner_whitespace_is_a_clear_config_error(monkeypatch, value, what):
    monkeypatch.setenv("EVAL_KEY", value)
    with pytest.raises(ConfigError, match=what) as info:
        LLMClient("http://127.0.0.1:9/v1", cache=None, api_key_env="EVAL_KEY")
    assert "sk-" not in str(info.value).replace("$EVAL_KEY", "")


def test_base_url_with_a_bad_port_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="'base_url'.*80800"):
        LLMClient("http://localhost:80800/v1", cache=None)
