"""import_outputs: outputs produced elsewhere, brought into the run store (all-or-nothing)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from fakeserver import FakeOpenAIServer

from evaltools.cli.runs import add_import_parser
from evaltools.errors import InputError, RunError
from evaltools.golden._set import load_golden
from evaltools.runs._generate import generate
from evaltools.runs._store import OUTPUT_FIELDS, MissingOutputsWarning, Variant, import_outputs, load_run

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "golden_tiny"
ALL_IDS = ["c-001", "c-002", "c-003", "c-004", "c-005", "e-001", "e-002", "a-001"]


@pytest.fixture
def tiny():
    return load_golden(TINY, warn=False)


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def nothing_written(runs: Path) -> bool:
    return not runs.exists() or list(runs.iterdir()) == []


def test_import_jsonl_all_items(tmp_path, tiny):
    src = write_jsonl(tmp_path / "out.jsonl", [{"id": i, "output": f"answer {i}", "latency_s": 0.5} for i in ALL_IDS])
    run = import_outputs(src, tiny, run_id="ext", runs_dir=tmp_path / "runs")
    assert run.path == tmp_path / "runs" / "ext" and run.manifest["source"] == "imported"
    assert run.manifest["golden_version"] == tiny.version and run.manifest["base_url"] is None
    assert list(run.outputs.columns) == list(OUTPUT_FIELDS)
    assert run.outputs["output"].tolist() == [f"answer {i}" for i in ALL_IDS]
    assert run.outputs["latency_s"].tolist() == [0.5] * 8
    assert run.summary.ok == 8 and run.summary.missing_ids == ()
    assert load_run(run.path).summary.ok == 8
    # no temporary folders are left behind
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["ext"]


def test_import_csv_with_mapped_columns_and_a_variant(tmp_path, tiny):
    src = tmp_path / "export.csv"
    src.write_text(
        'item,response,prompt_tokens\nc-001,"Growth is 29 a month,\nor 290 a year.",12\nc-002,,\n',
        encoding="utf-8",
    )
    variant = Variant.from_card(tiny, "terse")
    with pytest.warns(MissingOutputsWarning, match="6 of 8 golden items have no output"):
        run = import_outputs(
            src, TINY, run_id="csv", runs_dir=tmp_path, variant=variant, id_column="item", output_column="response"
        )
    # An empty cell is a missing output by default (a CSV cannot tell it from an empty answer).
    assert run.outputs["output"].tolist()[0] == "Growth is 29 a month,\nor 290 a year."
    assert run.outputs["output"].isna().tolist() == [False, True]
    assert run.outputs["error"].tolist()[1].startswith("no_output: the output cell is empty")
    assert run.outputs["prompt_tokens"].tolist()[0] == 12
    assert run.variant == variant
    s = run.summary
    assert s.n_outputs == 2 and s.ok == 1 and s.errors == {"no_output": 1} and s.empty == 0 and s.n_missing == 6
    assert s.missing_ids == ("c-003", "c-004", "c-005", "e-001", "e-002", "a-001")
    with pytest.warns(MissingOutputsWarning):
        kept = import_outputs(
            src, TINY, run_id="csv2", runs_dir=tmp_path, id_column="item", output_column="response", keep_empty=True
        )
    assert kept.outputs["output"].tolist() == ["Growth is 29 a month,\nor 290 a year.", ""]
    assert kept.summary.ok == 2 and kept.summary.empty == 1


def test_unknown_ids_are_refused_with_file_lines_and_ids(tmp_path, tiny):
    src = write_jsonl(
        tmp_path / "out.jsonl",
        [
            {"id": "c-001", "output": "a"},
            {"id": "zz-9", "output": "b"},
            {"id": "c-002", "output": "c"},
            {"id": "qq-1", "output": "d"},
        ],
    )
    with pytest.raises(RunError) as info:
        import_outputs(src, tiny, run_id="bad", runs_dir=tmp_path / "runs")
    msg = str(info.value)
    assert f"{src}:2" in msg and "'zz-9' (line 2)" in msg and "'qq-1' (line 4)" in msg and "2 id(s)" in msg
    assert isinstance(info.value, ValueError)
    assert nothing_written(tmp_path / "runs")


def test_unknown_ids_in_csv_name_physical_lines(tmp_path, tiny):
    src = tmp_path / "o.csv"
    src.write_text('id,output\nc-001,"two\nlines"\nnope,x\n', encoding="utf-8")
    with pytest.raises(RunError, match=r"o.csv:4.*'nope' \(line 4\)"):
        import_outputs(src, tiny, run_id="bad", runs_dir=tmp_path / "runs")
    assert nothing_written(tmp_path / "runs")


@pytest.mark.parametrize(
    "content, match",
    [
        ('{"id": "c-001", "output": "a"}\n{"id": "c-001", "output": "b"}\n', r":2.*Duplicate id 'c-001'"),
        ('{"id": "c-001", "text": "a"}\n', r":1.*Missing column 'output'"),
        ('{"id": "c-001", "output": {"category": "billing"}}\n', r":1.*must be a string"),
        ('{"id": 7, "output": "a"}\n', r":1.*non-empty string"),
        ('{"id": "c-001", "output": "a", "latency_s": "fast"}\n', r":1.*'latency_s' must be a number"),
        ('{"id": "c-001", "output": "a"}\n{"id": "c-002", "output": \n', r":2.*not valid JSON"),
        ("", r"no records"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(tmp_path, tiny, content, match):
    src = tmp_path / "out.jsonl"
    src.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=match):
        import_outputs(src, tiny, run_id="bad", runs_dir=tmp_path / "runs")
    assert nothing_written(tmp_path / "runs")


def test_non_utf8_and_unknown_format(tmp_path, tiny):
    src = tmp_path / "out.csv"
    src.write_bytes(b"id,output\nc-001,caf\xe9\n")
    with pytest.raises(InputError, match="UTF-8"):
        import_outputs(src, tiny, run_id="bad", runs_dir=tmp_path / "runs")
    with pytest.raises(InputError, match="format"):
        import_outputs(tmp_path / "out.xlsx", tiny, run_id="bad", runs_dir=tmp_path / "runs")
    empty = tmp_path / "e.csv"
    empty.write_text("id,output\n")
    with pytest.raises(InputError, match="no rows"):
        import_outputs(empty, tiny, run_id="bad", runs_dir=tmp_path / "runs")
    assert nothing_written(tmp_path / "runs")


def test_null_output_is_a_failed_item(tmp_path, tiny):
    rows = [{"id": "c-001", "output": None}, {"id": "c-002", "output": None, "error": "timeout: upstream"}]
    src = write_jsonl(tmp_path / "o.jsonl", rows)
    with pytest.warns(MissingOutputsWarning):
        run = import_outputs(src, tiny, run_id="n", runs_dir=tmp_path)
    assert run.summary.errors == {"no_output": 1, "timeout": 1}


def test_existing_run_is_kept_unless_overwrite(tmp_path, tiny):
    src = write_jsonl(tmp_path / "o.jsonl", [{"id": i, "output": "v1"} for i in ALL_IDS])
    import_outputs(src, tiny, run_id="x", runs_dir=tmp_path / "runs")
    src2 = write_jsonl(tmp_path / "o2.jsonl", [{"id": i, "output": "v2"} for i in ALL_IDS])
    with pytest.raises(RunError, match="already exists"):
        import_outputs(src2, tiny, run_id="x", runs_dir=tmp_path / "runs")
    assert load_run(tmp_path / "runs" / "x").outputs["output"].tolist() == ["v1"] * 8
    # A failing overwrite leaves the old run intact.
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "nope", "output": "v3"}])
    with pytest.raises(RunError):
        import_outputs(bad, tiny, run_id="x", runs_dir=tmp_path / "runs", overwrite=True)
    assert load_run(tmp_path / "runs" / "x").outputs["output"].tolist() == ["v1"] * 8
    run = import_outputs(src2, tiny, run_id="x", runs_dir=tmp_path / "runs", overwrite=True)
    assert run.outputs["output"].tolist() == ["v2"] * 8
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["x"]


def test_generate_refuses_to_resume_an_imported_run(tmp_path, tiny):
    src = write_jsonl(tmp_path / "o.jsonl", [{"id": "c-001", "output": "x"}])
    with pytest.warns(MissingOutputsWarning):
        import_outputs(src, tiny, run_id="imp", runs_dir=tmp_path)
    with FakeOpenAIServer() as srv, pytest.raises(RunError, match="imported, not generated"):
        generate(
            Variant.from_card(tiny, "terse"),
            tiny,
            base_url=srv.base_url,
            run_id="imp",
            runs_dir=tmp_path,
            progress=False,
        )


def test_cli_import_outputs(tmp_path, capsys):
    src = write_jsonl(tmp_path / "o.jsonl", [{"ident": i, "out": "hello"} for i in ALL_IDS[:7]])
    parser = argparse.ArgumentParser(prog="evaltools")
    add_import_parser(parser.add_subparsers(dest="command"))
    ns = parser.parse_args(
        [
            "import-outputs",
            str(src),
            "--golden",
            str(TINY),
            "--run-id",
            "cli",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--id-column",
            "ident",
            "--output-column",
            "out",
            "--variant",
            "terse",
        ]
    )
    with pytest.warns(MissingOutputsWarning, match="a-001"):
        assert ns.handler(ns) == 0
    out = capsys.readouterr().out
    assert "7/8 items, 7 ok" in out and "1 missing" in out
    assert load_run(tmp_path / "runs" / "cli").manifest["variant"]["name"] == "terse"


# --------------------------------------------------------------------------- reliability (issue 10)


def test_excel_csv_with_a_byte_order_mark(tmp_path, tiny):
    src = tmp_path / "excel.csv"
    src.write_bytes("id,output\r\nc-001,première réponse\r\nc-002,second\r\n".encode("utf-8-sig"))
    with pytest.warns(MissingOutputsWarning):
        run = import_outputs(src, tiny, run_id="excel", runs_dir=tmp_path / "runs")
    assert run.outputs["id"].tolist() == ["c-001", "c-002"]
    assert run.outputs["output"].tolist() == ["première réponse", "second"]


def test_jsonl_with_a_byte_order_mark(tmp_path, tiny):
    src = tmp_path / "bom.jsonl"
    src.write_bytes(("".join(json.dumps({"id": i, "output": "x"}) + "\n" for i in ALL_IDS)).encode("utf-8-sig"))
    assert import_outputs(src, tiny, run_id="bom", runs_dir=tmp_path / "runs").summary.ok == 8


def test_cr_only_line_endings_are_named(tmp_path, tiny):
    src = tmp_path / "mac.jsonl"
    src.write_bytes(b"".join(json.dumps({"id": i, "output": "x"}).encode() + b"\r" for i in ALL_IDS))
    with pytest.raises(InputError, match=r"CR-only\) line endings"):
        import_outputs(src, tiny, run_id="mac", runs_dir=tmp_path / "runs")
    assert nothing_written(tmp_path / "runs")


def test_ids_with_surrounding_spaces_are_refused_with_a_hint(tmp_path, tiny):
    src = write_jsonl(tmp_path / "out.jsonl", [{"id": " c-001", "output": "x"}])
    with pytest.raises(InputError, match=r"' c-001' has leading or trailing whitespace.*Did you mean 'c-001'"):
        import_outputs(src, tiny, run_id="sp", runs_dir=tmp_path / "runs")
    assert nothing_written(tmp_path / "runs")


def test_overwrite_is_refused_while_the_run_is_being_written(tmp_path, tiny):
    from evaltools.errors import RunLockedError
    from evaltools.runs._store import RunLock

    src = write_jsonl(tmp_path / "out.jsonl", [{"id": i, "output": "x"} for i in ALL_IDS])
    import_outputs(src, tiny, run_id="r", runs_dir=tmp_path / "runs")
    with RunLock(tmp_path / "runs" / "r"), pytest.raises(RunLockedError, match="being written"):
        import_outputs(src, tiny, run_id="r", runs_dir=tmp_path / "runs", overwrite=True)
    assert import_outputs(src, tiny, run_id="r", runs_dir=tmp_path / "runs", overwrite=True).summary.ok == 8
