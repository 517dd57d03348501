"""Runs: variants, generation against a real HTTP fake server, resume after a crash, load_run."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from fakeserver import FakeOpenAIServer

from evaltools.cli.runs import add_run_parser
from evaltools.errors import ConfigError, RunError, VersionMismatchError
from evaltools.golden._set import GoldenSet, load_golden
from evaltools.llm._client import LLMClient
from evaltools.runs._generate import agenerate, default_run_id, generate
from evaltools.runs._store import OUTPUT_FIELDS, Variant, load_run

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "fixtures" / "golden_tiny"
FAST = {"retry_initial_s": 0.01, "retry_max_s": 0.05, "max_retries": 2, "timeout_s": 2.0}


def make_golden(folder: Path, queries: list[object], name: str = "g") -> GoldenSet:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"id": f"i{k:03d}", "stratum": "common", "query": q, "ideal": "x", "tags": ["answer"]})
        for k, q in enumerate(queries)
    ]
    (folder / "items.jsonl").write_text("\n".join(lines) + "\n")
    card = {
        "name": name,
        "variants": [
            {
                "name": "v",
                "model": "fake-model",
                "system_prompt": "Be brief.",
                "params": {"temperature": 0, "max_tokens": 32},
            }
        ],
    }
    (folder / "card.yaml").write_text(yaml.safe_dump(card))
    return load_golden(folder, warn=False)


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def tiny() -> GoldenSet:
    return load_golden(TINY, warn=False)


# --------------------------------------------------------------------------- variants


def test_variant_from_card(tiny):
    terse = Variant.from_card(tiny, "terse")
    assert (terse.model, terse.temperature, terse.max_tokens, terse.seed) == ("fake-model", 0, 64, 7)
    triage = Variant.from_card(TINY, "triage-json")
    assert triage.extra == {"top_p": 0.9} and triage.seed is None
    assert triage.to_dict()["params"] == {"temperature": 0.2, "max_tokens": 128, "seed": None, "top_p": 0.9}
    assert Variant.from_dict(triage.to_dict()) == triage
    with pytest.raises(ConfigError, match="Valid variants: terse, triage-json"):
        Variant.from_card(tiny, "prompt-v9")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": ""}, "'name'"),
        ({"model": None}, "'model'"),
        ({"temperature": 3}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"seed": "1"}, "seed"),
        ({"extra": {"temperature": 1}}, "as fields"),
        ({"system_prompt": 3}, "system_prompt"),
    ],
)
def test_variant_validation(kwargs, match):
    args = {"name": "v", "model": "m", **kwargs}
    with pytest.raises(ConfigError, match=match):
        Variant(**args)


def test_structured_output_reaches_only_items_with_a_schema(tmp_path, server, tiny):
    schema = tiny.schemas["ticket_triage.schema.json"]
    for mode, expected in [
        ("json_object", {"type": "json_object"}),
        ("json_object_schema", {"type": "json_object", "schema": schema}),
        (
            "json_schema",
            {"type": "json_schema", "json_schema": {"name": "ticket_triage", "schema": schema, "strict": True}},
        ),
    ]:
        variant = Variant("s", "fake-model", "Triage.", structured_output=mode)  # type: ignore[arg-type]
        assert Variant.from_dict(variant.to_dict()) == variant
        assert variant.to_dict()["params"]["structured_output"] == mode
        server.requests.clear()
        generate(variant, tiny, base_url=server.base_url, run_id=f"s-{mode}", runs_dir=tmp_path, progress=False)
        formats = {
            r.body["messages"][-1]["content"][:40]: r.body.get("response_format")  # type: ignore[index, union-attr]
            for r in server.requests
        }
        triage = {k: v for k, v in formats.items() if k.startswith("TRIAGE:")}
        assert len(triage) == 2 and all(v == expected for v in triage.values())
        assert all(v is None for k, v in formats.items() if not k.startswith("TRIAGE:"))
    # Without structured_output, structured items are asked like the others.
    assert Variant("s", "m").request("TRIAGE: x", schema=schema).response_format is None
    with pytest.raises(ConfigError, match="structured_output"):
        Variant("s", "m", structured_output="xml")  # type: ignore[arg-type]


def test_variant_from_dict_unknown_key():
    with pytest.raises(ConfigError, match="Unknown variant key"):
        Variant.from_dict({"name": "v", "model": "m", "temprature": 0})


def test_messages_for_a_conversation(tiny):
    item = next(i for i in tiny.items if i["id"] == "c-005")
    msgs = Variant("v", "m", "Be brief.").messages(item["query"])
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[-1]["content"] == "Create invoices on a plane."
    assert Variant("v", "m").messages("hi") == [{"role": "user", "content": "hi"}]


def test_default_run_id_tracks_variant_and_golden_version(tmp_path, tiny):
    v = Variant.from_card(tiny, "terse")
    rid = default_run_id(v, tiny)
    assert rid.startswith("tiny-terse-") and rid == default_run_id(v, tiny)
    assert default_run_id(Variant(**{**_fields(v), "system_prompt": "other"}), tiny) != rid
    other = make_golden(tmp_path / "tiny", ["q"], name="tiny")
    assert default_run_id(v, other) != rid


def _fields(v: Variant) -> dict[str, object]:
    return {k: getattr(v, k) for k in ("name", "model", "system_prompt", "temperature", "max_tokens", "seed", "extra")}


# --------------------------------------------------------------------------- generation


def test_generate_stores_outputs_and_manifest(tmp_path, server, tiny):
    variant = Variant.from_card(tiny, "terse")
    run = generate(variant, TINY, base_url=server.base_url, run_id="r1", runs_dir=tmp_path, progress=False)
    assert run.id == "r1" and run.path == tmp_path / "r1"
    m = json.loads((tmp_path / "r1" / "manifest.json").read_text())
    for key in (
        "run_id",
        "golden_name",
        "golden_version",
        "variant",
        "evaltools_version",
        "created_at",
        "finished_at",
        "n_items",
        "base_url",
        "source",
    ):
        assert key in m, key
    assert (m["golden_name"], m["golden_version"], m["n_items"]) == ("tiny", tiny.version, 8)
    assert m["source"] == "generated" and m["status"] == "complete" and m["finished_at"]
    assert m["variant"] == variant.to_dict() and m["base_url"] == server.base_url
    assert m["usage"]["calls"] == 8 and m["usage"]["cache_hits"] == 0
    records = lines_of(tmp_path / "r1" / "outputs.jsonl")
    assert sorted(r["id"] for r in records) == sorted(tiny.ids)
    assert all(list(r) == list(OUTPUT_FIELDS) for r in records)
    assert all(r["error"] is None and r["finish_reason"] == "stop" and r["latency_s"] > 0 for r in records)
    # fake usage counts words: "echo: How much does the Growth plan cost per month?" is 10 words
    c1 = next(r for r in records if r["id"] == "c-001")
    assert c1["output"] == "echo: How much does the Growth plan cost per month?" and c1["completion_tokens"] == 10
    # Requests carry the variant: system prompt first, its params.
    body = next(r.body for r in server.requests if "Growth" in json.dumps(r.body))
    assert body["messages"][0] == {"role": "system", "content": variant.system_prompt}
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0, 64, 7)
    # The run reads back the same.
    again = load_run(tmp_path / "r1")
    assert list(again.outputs.columns) == list(OUTPUT_FIELDS) and len(again.outputs) == 8
    assert str(again.outputs["prompt_tokens"].dtype) == "Int64"
    assert again.variant == variant and again.golden_version == tiny.version
    s = again.summary
    assert (s.n_items, s.ok, s.n_errors, s.cached, s.n_missing) == (8, 8, 0, 0, 0)


def test_unchanged_rerun_makes_zero_calls(tmp_path, server, tiny):
    variant = Variant.from_card(tiny, "triage-json")
    generate(variant, tiny, base_url=server.base_url, run_id="a", runs_dir=tmp_path, progress=False)
    before = (tmp_path / "a" / "manifest.json").read_bytes()
    assert server.completion_calls == 8
    # Same run id: already complete, nothing called and nothing rewritten.
    run = generate(variant, tiny, base_url=server.base_url, run_id="a", runs_dir=tmp_path, progress=False)
    assert server.completion_calls == 8 and (tmp_path / "a" / "manifest.json").read_bytes() == before
    assert len(run.outputs) == 8
    # A new run id with the same variant: every item from the cache.
    run = generate(variant, tiny, base_url=server.base_url, run_id="b", runs_dir=tmp_path, progress=False)
    assert server.completion_calls == 8
    assert run.outputs["cached"].all() and run.summary.cached == 8 and run.manifest["usage"]["calls"] == 0
    # The extra param reached the endpoint.
    assert all(r.body["top_p"] == 0.9 for r in server.requests)  # type: ignore[index]


def test_faults_are_recorded_per_item_and_the_run_goes_on(tmp_path, server):
    queries = ["fine one", "[[status=500]]", "[[status=401]]", "[[status=404]]", "[[malformed]]", "[[drop]]"]
    queries += ["[[empty]]", "[[length]]", "[[status=429,times=1,retry_after=0.05]]", "fine two"]
    gs = make_golden(tmp_path / "g", queries)
    client = LLMClient(server.base_url, cache=tmp_path / "c.sqlite", **FAST)
    run = generate(Variant.from_card(gs, "v"), gs, client=client, run_id="f", runs_dir=tmp_path, progress=False)
    s = run.summary
    assert s.n_outputs == 10 and s.ok == 5
    assert s.errors == {
        "server_error": 1,
        "auth_error": 1,
        "model_not_found": 1,
        "malformed_response": 1,
        "connection_error": 1,
    }
    assert (s.truncated, s.empty) == (1, 1)
    assert run.manifest["status"] == "complete"
    by_id = {r["id"]: r for r in lines_of(tmp_path / "f" / "outputs.jsonl")}
    assert by_id["i001"]["output"] is None and by_id["i001"]["error"].startswith("server_error: HTTP 500")
    assert by_id["i007"]["finish_reason"] == "length" and by_id["i006"]["output"] == ""
    assert by_id["i008"]["output"].startswith("echo:")  # the 429 was retried
    # Resuming asks again for the failed items only, and keeps one line per item.
    calls = server.completion_calls
    run = generate(Variant.from_card(gs, "v"), gs, client=client, run_id="f", runs_dir=tmp_path, progress=False)
    # 5 failed items: 2 retryable x 3 attempts + 1 malformed x 2 (one retry) + 2 non-retryable x 1 attempt
    assert server.completion_calls - calls == 2 * 3 + 2 + 2
    assert len(lines_of(tmp_path / "f" / "outputs.jsonl")) == 10 and run.summary.n_errors == 5
    client.close()


def test_resume_retries_items_that_failed(tmp_path, server):
    gs = make_golden(tmp_path / "g", ["ok", "[[status=503,times=3]]"])
    v = Variant.from_card(gs, "v")
    client = LLMClient(server.base_url, cache=None, **FAST)  # 3 attempts per run
    kw = {"client": client, "run_id": "r", "runs_dir": tmp_path, "progress": False}
    first = generate(v, gs, **kw)
    assert first.summary.errors == {"server_error": 1}
    second = generate(v, gs, **kw)
    assert second.summary.ok == 2 and second.summary.n_errors == 0
    assert [r["id"] for r in lines_of(tmp_path / "r" / "outputs.jsonl")] == ["i000", "i001"]
    assert second.manifest["sessions"] == 2
    # keep errors: no retry
    gs2 = make_golden(tmp_path / "g2", ["[[status=503,times=3]]"])
    generate(Variant.from_card(gs2, "v"), gs2, **{**kw, "run_id": "k"})
    calls = server.completion_calls
    generate(Variant.from_card(gs2, "v"), gs2, **{**kw, "run_id": "k"}, retry_errors=False)
    assert server.completion_calls == calls


def test_resume_skips_recorded_items_and_cuts_a_torn_line(tmp_path, server, tiny):
    v = Variant.from_card(tiny, "terse")
    kw = {"base_url": server.base_url, "run_id": "t", "runs_dir": tmp_path, "progress": False, "cache": False}
    generate(v, tiny, **kw)
    out = tmp_path / "t" / "outputs.jsonl"
    kept = out.read_text().splitlines(keepends=True)[:5]
    # A crash mid-write: five whole lines, then half a line with no newline.
    out.write_text("".join(kept) + '{"id": "c-003", "output": "echo: How do I exp')
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    (tmp_path / "t" / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    assert load_run(tmp_path / "t").outputs.shape[0] == 5  # the torn line is skipped on read
    calls = server.completion_calls
    run = generate(v, tiny, **kw)
    assert server.completion_calls - calls == 3
    text = out.read_text()
    assert text.endswith("\n") and 'How do I exp"' not in text and text.count("\n") == 8
    assert sorted(run.outputs["id"]) == sorted(tiny.ids) and run.manifest["status"] == "complete"


def test_resume_refuses_another_golden_version_or_variant(tmp_path, server):
    gs = make_golden(tmp_path / "g", ["a", "b"])
    v = Variant.from_card(gs, "v")
    kw = {"base_url": server.base_url, "run_id": "x", "runs_dir": tmp_path, "progress": False}
    generate(v, gs, **kw)
    changed = make_golden(tmp_path / "g", ["a", "b", "c"])
    with pytest.raises(VersionMismatchError, match=f"version {gs.version}.*now version {changed.version}"):
        generate(v, changed, **kw)
    with pytest.raises(RunError, match="system_prompt differ"):
        generate(Variant("v", "fake-model", "Be long.", max_tokens=32), gs, **kw)
    with pytest.raises(RunError, match="model differ"):
        generate(Variant("v", "other-model", "Be brief.", max_tokens=32), gs, **kw)


def test_bad_run_id_and_folder_without_manifest(tmp_path, server, tiny):
    v = Variant.from_card(tiny, "terse")
    with pytest.raises(ConfigError, match="run_id"):
        generate(v, tiny, base_url=server.base_url, run_id="../escape", runs_dir=tmp_path, progress=False)
    (tmp_path / "orphan").mkdir()
    (tmp_path / "orphan" / "outputs.jsonl").write_text('{"id": "c-001"}\n')
    with pytest.raises(RunError, match="no manifest"):
        generate(v, tiny, base_url=server.base_url, run_id="orphan", runs_dir=tmp_path, progress=False)


def test_generate_inside_a_running_loop_and_async(tmp_path, server, tiny):
    v = Variant.from_card(tiny, "terse")

    async def notebook_cell() -> int:
        run = generate(v, tiny, base_url=server.base_url, run_id="nb", runs_dir=tmp_path, progress=False)
        return len(run.outputs)

    assert asyncio.run(notebook_cell()) == 8

    async def async_user() -> int:
        run = await agenerate(v, tiny, base_url=server.base_url, run_id="as", runs_dir=tmp_path, progress=False)
        return int(run.summary.cached)

    assert asyncio.run(async_user()) == 8  # same requests: all from the shared cache


def test_progress_bar_shows_errors_and_cache_hits(tmp_path, server, capsys):
    gs = make_golden(tmp_path / "g", ["a", "[[status=400]]"])
    generate(Variant.from_card(gs, "v"), gs, base_url=server.base_url, run_id="p", runs_dir=tmp_path)
    err = capsys.readouterr().err
    assert "2/2" in err and "errors=1" in err and "cached=0" in err


def test_api_key_never_written(tmp_path, server, monkeypatch, caplog, capsys):
    secret = "sk-live-SECRETKEY-9f8e7d6c5b4a"
    monkeypatch.setenv("EVAL_KEY", secret)
    caplog.set_level("DEBUG")
    gs = make_golden(tmp_path / "g", ["a", "[[status=401]]", "[[status=500]]"])
    run = generate(
        Variant.from_card(gs, "v"),
        gs,
        base_url=server.base_url,
        api_key_env="EVAL_KEY",
        run_id="k",
        runs_dir=tmp_path / "runs",
        progress=True,
        max_retries=1,
    )
    assert server.requests[0].headers["authorization"] == f"Bearer {secret}"
    assert run.summary.n_errors == 2
    captured = capsys.readouterr()
    blobs = [caplog.text, captured.out, captured.err, repr(run), str(run.summary)]
    blobs += [p.read_bytes().decode("latin-1") for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    assert len(blobs) > 5
    for blob in blobs:
        assert secret not in blob and "SECRETKEY" not in blob


# --------------------------------------------------------------------------- crash and resume

CHILD = """
import sys
from evaltools.runs._generate import generate
from evaltools.runs._variant import Variant
variant = Variant("v", "fake-model", "Be brief.", max_tokens=32)
generate(variant, sys.argv[1], base_url=sys.argv[2], run_id="killed", runs_dir=sys.argv[3],
         concurrency=8, progress=False, max_retries=0, timeout_s=60)
"""


def _start_child(golden: Path, base_url: str, runs: Path) -> subprocess.Popen[bytes]:
    # The child's key tells its requests apart from the resumed run's: a request it
    # sent just before the kill may reach the server's log after the kill.
    env = {**os.environ, "OPENAI_API_KEY": "sk-child"}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(golden), base_url, str(runs)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _resume_calls(srv: FakeOpenAIServer) -> int:
    return sum(1 for r in srv.requests if r.headers.get("authorization") == "Bearer sk-resume")


def _complete_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while _complete_lines(path) < n:
        if proc.poll() is not None:
            raise AssertionError(f"child exited early: {proc.stderr.read().decode() if proc.stderr else ''}")
        assert time.monotonic() < deadline, f"only {_complete_lines(path)} lines after {timeout_s} s"
        time.sleep(0.01)


def test_sigkill_at_item_150_of_300_then_resume_finishes_the_rest(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-resume")
    gs = make_golden(tmp_path / "g", [f"question number {k}" for k in range(300)])
    runs = tmp_path / "runs"
    out = runs / "killed" / "outputs.jsonl"
    # The server answers 150 requests, then holds the rest: the child is mid-run with
    # 8 requests in flight when it is killed.
    with FakeOpenAIServer(hold_after=150) as srv:
        proc = _start_child(gs.path, srv.base_url, runs)
        _wait_for_lines(out, 150, proc)
        time.sleep(0.3)  # nothing more arrives: the rest are held
        assert _complete_lines(out) == 150
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        srv.gate.set()
        assert json.loads((runs / "killed" / "manifest.json").read_text())["status"] == "running"
        run = generate(
            Variant("v", "fake-model", "Be brief.", max_tokens=32),
            gs,
            base_url=srv.base_url,
            run_id="killed",
            runs_dir=runs,
            progress=False,
        )
        assert _resume_calls(srv) == 150  # the other 150 only
    ids = [r["id"] for r in lines_of(out)]
    assert len(ids) == 300 and len(set(ids)) == 300 and set(ids) == set(gs.ids)
    assert run.manifest["status"] == "complete" and run.summary.ok == 300
    by_id = {r["id"]: r["output"] for r in lines_of(out)}
    assert all(by_id[i["id"]] == f"echo: {i['query']}" for i in gs.items)


def test_sigkill_at_an_arbitrary_moment_loses_and_duplicates_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-resume")
    gs = make_golden(tmp_path / "g", [f"item {k}" for k in range(300)])
    runs = tmp_path / "runs"
    out = runs / "killed" / "outputs.jsonl"
    with FakeOpenAIServer(delay=0.002) as srv:
        proc = _start_child(gs.path, srv.base_url, runs)
        _wait_for_lines(out, 100, proc)
        os.kill(proc.pid, signal.SIGKILL)  # while it is writing lines as fast as it can
        proc.wait()
        kept = _complete_lines(out)
        assert 100 <= kept < 300
        run = generate(
            Variant("v", "fake-model", "Be brief.", max_tokens=32),
            gs,
            base_url=srv.base_url,
            run_id="killed",
            runs_dir=runs,
            progress=False,
        )
        new_calls = _resume_calls(srv)
    records = lines_of(out)
    ids = [r["id"] for r in records]
    assert len(ids) == 300 and set(ids) == set(gs.ids)
    resumed = records[kept:]
    # Every resumed item was either called once or found in the cache (finished
    # before the kill but not yet recorded): none called twice, none skipped.
    assert len(resumed) == 300 - kept
    assert new_calls == sum(1 for r in resumed if not r["cached"])
    assert run.summary.ok == 300


# --------------------------------------------------------------------------- load_run


def test_load_run_errors_name_file_and_line(tmp_path, server, tiny):
    with pytest.raises(RunError, match="manifest.json is missing"):
        load_run(tmp_path)
    generate(
        Variant.from_card(tiny, "terse"), tiny, base_url=server.base_url, run_id="r", runs_dir=tmp_path, progress=False
    )
    out = tmp_path / "r" / "outputs.jsonl"
    lines = out.read_text().splitlines(keepends=True)
    out.write_text(lines[0] + lines[1] + lines[0])
    with pytest.raises(RunError, match=r"outputs.jsonl:3.*Duplicate output"):
        load_run(tmp_path / "r")
    out.write_text(lines[0] + "{not json\n" + lines[1])
    with pytest.raises(RunError, match=r"outputs.jsonl:2.*not valid JSON"):
        load_run(tmp_path / "r")
    (tmp_path / "r" / "manifest.json").write_text("{")
    with pytest.raises(RunError, match="manifest is not valid JSON"):
        load_run(tmp_path / "r")


# --------------------------------------------------------------------------- CLI


def _cli(*args: str) -> int:
    parser = argparse.ArgumentParser(prog="evaltools")
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)
    ns = parser.parse_args(args)
    return int(ns.handler(ns))


def test_cli_run_and_resume(tmp_path, server, capsys):
    code = _cli(
        "run",
        "--golden",
        str(TINY),
        "--variant",
        "terse",
        "--base-url",
        server.base_url,
        "--runs-dir",
        str(tmp_path),
        "--run-id",
        "cli",
        "--model",
        "other-model",
        "--no-progress",
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "8/8 items, 8 ok" in out and "this invocation sent 8 requests, 0 answered from the cache" in out
    assert all(r.body["model"] == "other-model" for r in server.requests)  # type: ignore[index]
    assert load_run(tmp_path / "cli").variant.model == "other-model"  # type: ignore[union-attr]
    # A failing item makes the exit code 2 (rerun to retry it).
    gs = make_golden(tmp_path / "g", ["[[status=400]]"])
    code = _cli(
        "run",
        "--golden",
        str(gs.path),
        "--variant",
        "v",
        "--base-url",
        server.base_url,
        "--runs-dir",
        str(tmp_path),
        "--no-progress",
        "--no-cache",
    )
    assert code == 2 and "bad_request" in capsys.readouterr().err


def test_cli_summary_says_what_this_invocation_sent(tmp_path, server, capsys):
    # Issue 12: a rerun printed the first session's "8 LLM calls" while the server got none.
    args = ["run", "--golden", str(TINY), "--variant", "terse", "--base-url", server.base_url,
            "--runs-dir", str(tmp_path), "--run-id", "honest", "--no-progress"]  # fmt: skip
    assert _cli(*args) == 0
    assert "this invocation sent 8 requests" in capsys.readouterr().out and server.completion_calls == 8
    assert _cli(*args) == 0
    out = capsys.readouterr().out
    assert "this invocation sent 0 requests: the run was already complete (8 items recorded)" in out
    assert server.completion_calls == 8
    # Resumed: 3 lines lost, their answers still in the cache: 0 sent, 3 from the cache, 5 kept.
    outputs = tmp_path / "honest" / "outputs.jsonl"
    outputs.write_text("".join(outputs.read_text().splitlines(keepends=True)[:5]))
    assert _cli(*args) == 0
    out = capsys.readouterr().out
    assert "this invocation sent 0 requests, 3 answered from the cache, 5 items kept from earlier sessions" in out
    assert server.completion_calls == 8
    # Without the cache, the same 3 are really sent.
    outputs.write_text("".join(outputs.read_text().splitlines(keepends=True)[:5]))
    assert _cli(*args, "--no-cache") == 0
    assert "this invocation sent 3 requests, 0 answered from the cache, 5 items kept" in capsys.readouterr().out
    assert server.completion_calls == 11


def test_line_writer_batches_fsyncs_and_keeps_every_line_in_order(tmp_path, monkeypatch):
    # Issue 12: one fsync per line made a 64-way run wait on the disk. Lines queued
    # while an fsync runs go out together in one write and one fsync.
    import threading

    from evaltools.runs import _generate as generation

    first_sync, release, syncs = threading.Event(), threading.Event(), []
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        syncs.append(fd)
        if len(syncs) == 1:
            first_sync.set()
            release.wait(10)
        real_fsync(fd)

    monkeypatch.setattr(generation.os, "fsync", slow_fsync)
    writer = generation._LineWriter(tmp_path / "outputs.jsonl")
    writer.write({"id": "i000"})
    assert first_sync.wait(10)
    for k in range(1, 51):
        writer.write({"id": f"i{k:03d}"})
    release.set()
    writer.close()
    assert [r["id"] for r in lines_of(tmp_path / "outputs.jsonl")] == [f"i{k:03d}" for k in range(51)]
    assert len(syncs) == 2


# --------------------------------------------------------------------------- reliability (issue 10)


def _gen(gs: GoldenSet, base_url: str, runs: Path, **kw: object):
    return generate(Variant.from_card(gs, "v"), gs, base_url=base_url, runs_dir=runs, progress=False, **kw)


def test_switching_endpoint_never_reuses_the_old_models_outputs(tmp_path):
    gs = make_golden(tmp_path / "g", ["a", "b", "c"])
    runs = tmp_path / "runs"
    with FakeOpenAIServer() as a, FakeOpenAIServer() as b:
        first = _gen(gs, a.base_url, runs)
        # Default run id: another endpoint is another run, made with real calls.
        second = _gen(gs, b.base_url, runs)
        assert second.id != first.id and b.completion_calls == 3
        assert not second.outputs["cached"].any()
        assert second.manifest["endpoint"]["endpoint"] == b.base_url
        assert first.manifest["endpoint"] == {
            "endpoint": a.base_url,
            "base_url": a.base_url,
            "model": "fake-model",
            "served_model": "fake-model",
            "served_model_source": "probe",
            "answer_models": ["fake-model"],
            "system_fingerprints": [],
        }
        # An explicit new run id against b is filled by b, not from a's cache entries.
        _gen(gs, b.base_url, runs, run_id="explicit")
        assert b.completion_calls == 3 + 0  # b's own cache entries: same endpoint, same answers
        third = _gen(gs, a.base_url, runs, run_id="explicit-a")
        assert third.outputs["cached"].all() and a.completion_calls == 3
        # Resuming a run against another endpoint is refused, naming both.
        with pytest.raises(RunError, match="made against .* but this call points at") as info:
            _gen(gs, b.base_url, runs, run_id=first.id)
        assert a.base_url in str(info.value) and b.base_url in str(info.value)
        # The same endpoint spelled differently resumes it.
        assert _gen(gs, a.base_url.replace("http:", "HTTP:") + "/", runs, run_id=first.id).id == first.id


def test_run_resumed_against_another_served_model_is_refused(tmp_path):
    gs = make_golden(tmp_path / "g", ["a", "[[status=400,times=1]]", "c"])
    runs = tmp_path / "runs"
    with FakeOpenAIServer(served_model="smollm2-135m.gguf", system_fingerprint="b1") as srv:
        run = _gen(gs, srv.base_url, runs, run_id="r")
        assert run.summary.n_errors == 1 and run.manifest["endpoint"]["served_model"] == "smollm2-135m.gguf"
        assert run.manifest["endpoint"]["system_fingerprints"] == ["b1"]
        srv.served_model = "qwen-7b.gguf"  # restarted with another model behind the same URL
        with pytest.raises(RunError, match="'smollm2-135m.gguf'.*now serves 'qwen-7b.gguf'"):
            _gen(gs, srv.base_url, runs, run_id="r")
    ids = [r["id"] for r in lines_of(runs / "r" / "outputs.jsonl")]
    assert sorted(ids) == ["i000", "i002"]  # the other model's answer was not recorded


def test_cli_run_takes_an_endpoint_name(tmp_path, server, capsys):
    args = ["run", "--golden", str(TINY), "--variant", "terse", "--base-url", server.base_url]
    args += ["--runs-dir", str(tmp_path), "--run-id", "named", "--endpoint", "local:model.gguf", "--no-progress"]
    assert _cli(*args) == 0
    manifest = json.loads((tmp_path / "named" / "manifest.json").read_text())
    assert manifest["endpoint"]["endpoint"] == "local:model.gguf"


def test_model_swapped_behind_the_same_url_is_never_evaluated_from_the_old_cache(tmp_path):
    gs = make_golden(tmp_path / "g", ["a", "b", "c"])
    runs = tmp_path / "runs"
    with FakeOpenAIServer(served_model="model-old.gguf") as srv:
        _gen(gs, srv.base_url, runs, run_id="old")
        srv.served_model = "model-new.gguf"  # restarted with another model behind the same URL
        new = _gen(gs, srv.base_url, runs, run_id="new")
        assert srv.completion_calls == 6 and not new.outputs["cached"].any()
        assert new.manifest["endpoint"]["served_model"] == "model-new.gguf"
        # A warm rerun under another id is served from the cache and its manifest names the model.
        warm = _gen(gs, srv.base_url, runs, run_id="warm")
        assert warm.outputs["cached"].all() and srv.completion_calls == 6
        assert warm.manifest["endpoint"]["served_model"] == "model-new.gguf"
        assert warm.manifest["endpoint"]["answer_models"] == ["model-new.gguf"]


LOCK_CHILD = """
import sys
from evaltools.runs._generate import generate
from evaltools.runs._variant import Variant
generate(Variant("v", "fake-model", "Be brief.", temperature=0, max_tokens=32), sys.argv[1], base_url=sys.argv[2],
         run_id="shared", runs_dir=sys.argv[3], progress=False, max_retries=0, timeout_s=60)
"""


def test_second_writer_is_refused_at_once_and_a_dead_holders_lock_is_taken_over(tmp_path, caplog):
    from evaltools.errors import RunLockedError

    gs = make_golden(tmp_path / "g", [f"q{k}" for k in range(20)])
    runs = tmp_path / "runs"
    lock = runs / "shared" / ".lock"
    with FakeOpenAIServer(hold_after=5) as srv:
        child = subprocess.Popen(
            [sys.executable, "-c", LOCK_CHILD, str(gs.path), srv.base_url, str(runs)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_for_lines(runs / "shared" / "outputs.jsonl", 5, child)
            assert json.loads(lock.read_text())["pid"] == child.pid
            start = time.monotonic()
            with pytest.raises(RunLockedError, match=f"being written by process {child.pid}") as info:
                _gen(gs, srv.base_url, runs, run_id="shared")
            assert time.monotonic() - start < 2 and info.value.pid == child.pid
            assert srv.completion_calls <= 20  # the refused writer sent nothing
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        srv.gate.set()
        assert json.loads(lock.read_text())["pid"] == child.pid  # left behind by the dead process
        caplog.set_level("WARNING")
        run = _gen(gs, srv.base_url, runs, run_id="shared")
    assert f"taking over the lock left by process {child.pid} (no longer running)" in caplog.text
    ids = [r["id"] for r in lines_of(runs / "shared" / "outputs.jsonl")]
    assert sorted(ids) == sorted(gs.ids) and run.summary.ok == 20
    assert not lock.exists()  # released when the run ended


def test_concurrent_writers_in_one_process_do_not_both_write(tmp_path, server):
    from evaltools.errors import RunLockedError
    from evaltools.runs._store import RunLock

    gs = make_golden(tmp_path / "g", ["a"])
    with RunLock(tmp_path / "runs" / "r"):
        with pytest.raises(RunLockedError, match=f"process {os.getpid()}"):
            _gen(gs, server.base_url, tmp_path / "runs", run_id="r")
    assert server.completion_calls == 0
    assert _gen(gs, server.base_url, tmp_path / "runs", run_id="r").summary.ok == 1


USAGE_CHILD = """
import sys
from evaltools.runs._generate import generate
from evaltools.runs._variant import Variant
generate(Variant("v", "fake-model", "Be brief.", temperature=0, max_tokens=32), sys.argv[1], base_url=sys.argv[2],
         run_id="usage", runs_dir=sys.argv[3], progress=False, max_retries=0, timeout_s=60, concurrency=4)
"""


def test_usage_is_cumulative_across_a_kill_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-resume")
    gs = make_golden(tmp_path / "g", [f"question {k}" for k in range(60)] + ["[[status=400,times=1]]"])
    runs = tmp_path / "runs"
    out = runs / "usage" / "outputs.jsonl"
    with FakeOpenAIServer(hold_after=45) as srv:
        child = subprocess.Popen(
            [sys.executable, "-c", USAGE_CHILD, str(gs.path), srv.base_url, str(runs)],
            cwd=REPO,
            env={**os.environ, "OPENAI_API_KEY": "sk-child"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _wait_for_lines(out, 45, child)
        time.sleep(0.3)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        srv.gate.set()
        killed = lines_of(out)
        assert len(killed) == 45
        # Session 2 finishes the rest (one item fails with a 400), session 3 retries that item.
        second = _gen(gs, srv.base_url, runs, run_id="usage", max_retries=0)
        third = _gen(gs, srv.base_url, runs, run_id="usage", max_retries=0)
    assert second.summary.n_errors == 1 and third.summary.ok == 61
    usage = third.manifest["usage"]
    records = lines_of(out)
    # 45 lines by the killed child + 16 by session 2 (15 ok, 1 failed) + 1 by session 3.
    assert usage["requests"] == 45 + 16 + 1 == 62
    assert usage["calls"] == 62 and usage["cache_hits"] == 0
    assert third.manifest["sessions"] == 3 and third.manifest["last_session_usage"]["requests"] == 1
    tokens = sum(r["completion_tokens"] for r in records)  # every kept line is a live, successful call
    assert usage["completion_tokens"] == tokens
    assert {r["session"] for r in records} == {1, 2, 3}
    assert all(r["attempts"] == 1 for r in records)
