"""Startup cost: what ``import evaltools``, ``evaltools --help`` and ``evaltools run`` import.

Timings are the benchmark's job (benchmarks/bench_llm.py); these tests pin the
cause, in a fresh interpreter each: which heavy libraries a command loads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import evaltools
from evaltools.cli import _main as cli

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "fixtures" / "golden_tiny"

# What the issue measured as the cost of `import evaltools` (statsmodels 1.3 s,
# scipy 1.3 s, sklearn...), plus plotting, notebooks and the embedding stack.
HEAVY = ("statsmodels", "scipy.stats", "sklearn", "plotly", "papermill", "torch", "sentence_transformers")


def loaded_after(code: str, modules: tuple[str, ...]) -> list[str]:
    """Run ``code`` in a fresh interpreter; return which of ``modules`` it imported."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {list(modules)!r} if m in sys.modules]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_evaltools_loads_no_heavy_library():
    assert loaded_after("import evaltools", HEAVY) == []


def test_help_and_version_import_no_library_at_all():
    # --help lists every subcommand without importing the modules that define them.
    light = ("pandas", "numpy", "yaml", "openai", "jsonschema", *HEAVY)
    for flag in ("--help", "--version"):
        code = f"from evaltools.cli import _main as cli\ntry:\n    cli.main([{flag!r}])\nexcept SystemExit:\n    pass"
        assert loaded_after(code, light) == [], flag


def test_run_imports_no_statistics_plots_or_grammars(tmp_path):
    # A whole `evaltools run` on a set with a JSON schema, against the fake server:
    # jsonschema is loaded (the schema is checked), its IRI grammar (lark) is not, nor
    # is the openai package (requests go through evaltools.llm._http; openai is imported
    # only to describe a failure).
    code = f"""
from fakeserver import FakeOpenAIServer
from evaltools.cli import _main as cli
with FakeOpenAIServer() as srv:
    code = cli.main(["run", "--golden", {str(TINY)!r}, "--variant", "triage-json", "--base-url", srv.base_url,
                     "--runs-dir", {str(tmp_path)!r}, "--no-progress"])
    assert code == 0 and srv.completion_calls == 8, (code, srv.completion_calls)
"""
    # httpx (about 0.3 s with httpcore) is not imported either: the endpoint's model probe uses urllib.
    assert loaded_after(code, (*HEAVY, "rfc3987_syntax", "lark", "openai", "httpx", "jsonschema")) == ["jsonschema"]


def test_iri_format_is_still_checked_when_a_schema_asks():
    # The deferred grammar loads on the first IRI check and gives jsonschema's verdicts.
    code = """
import sys
from evaltools._util import jsonschema_validators
validators = jsonschema_validators()
from jsonschema import FormatChecker
assert "rfc3987_syntax" not in sys.modules
v = validators.validator_for({})({"format": "iri"}, format_checker=FormatChecker())
assert v.is_valid("https://example.com/caf\u00e9")
assert not v.is_valid("not an iri")
"""
    assert loaded_after(code, ("rfc3987_syntax",)) == ["rfc3987_syntax"]


def test_every_public_name_resolves():
    for name in evaltools.__all__:
        assert getattr(evaltools, name) is not None, name
    assert set(evaltools.__all__) <= set(dir(evaltools))
    with pytest.raises(AttributeError, match="no_such_name"):
        evaltools.no_such_name  # noqa: B018


def test_gate_is_the_subpackage_and_regression_gate_the_function():
    import evaltools.gate._verdict  # binds the subpackage on the package, as any import of it does
    from evaltools import regression_gate
    from evaltools.gate import gate as gate_function

    assert evaltools.gate.__name__ == "evaltools.gate" and regression_gate is gate_function


def test_deferred_subcommands_list_the_help_their_module_gives():
    # The top-level listing comes from cli._PLUGINS without importing the modules;
    # it must say what each module's own parser says.
    import importlib

    for name, module, func, help_line in cli._PLUGINS:
        scratch = argparse.ArgumentParser(prog="evaltools").add_subparsers()
        getattr(importlib.import_module(module), func)(scratch)
        assert list(scratch.choices) == [name]
        (action,) = scratch._choices_actions
        assert action.help == help_line, f"update cli._PLUGINS for {name!r}"


def test_deferred_subcommand_parses_and_helps_like_its_module(capsys):
    args = cli.build_parser().parse_args(["gate", "--baseline", "runs/A", "--candidate", "runs/B", "--margin", "0.03"])
    assert args.margin == 0.03 and args.handler.__name__ == "gate_command"
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: evaltools run ") and "--concurrency" in out


def test_unchanged_rerun_imports_neither_pandas_nor_the_http_stack(tmp_path):
    from fakeserver import FakeOpenAIServer

    with FakeOpenAIServer() as srv:
        args = ["run", "--golden", str(TINY), "--variant", "terse", "--base-url", srv.base_url,
                "--runs-dir", str(tmp_path), "--no-progress"]  # fmt: skip
        assert cli.main(args) == 0 and srv.completion_calls == 8
        code = f"from evaltools.cli import _main as cli\nassert cli.main({args!r}) == 0"
        assert loaded_after(code, ("pandas", "numpy", "openai", "tenacity", "tqdm", *HEAVY)) == []
        assert srv.completion_calls == 8
