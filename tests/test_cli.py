import json
import shutil
from pathlib import Path

import pytest

from evaltools import cli

ROOT = Path(__file__).parents[1]
MINI = Path(__file__).parent / "fixtures" / "golden_mini"


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("golden", "score", "demo", "run", "import-outputs", "serve-local", "gate", "calibrate",
                "report", "monitor"):
        assert cmd in out, cmd


def test_golden_check_ok_and_problems(tmp_path, capsys):
    assert cli.main(["golden", "check", str(MINI)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "g"
    shutil.copytree(MINI, bad)
    lines = (bad / "items.jsonl").read_text().splitlines()
    dup = json.loads(lines[0])
    dup["id"] = "dup"
    (bad / "items.jsonl").write_text("\n".join(lines + [json.dumps(dup)]) + "\n")
    assert cli.main(["golden", "check", str(bad)]) == 1
    assert "exact_duplicate" in capsys.readouterr().out


def test_golden_check_bad_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "g"
    shutil.copytree(MINI, bad)
    (bad / "items.jsonl").write_text('{"id": "x"\n')
    assert cli.main(["golden", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "items.jsonl:1" in err and "not valid JSON" in err


def test_golden_sample(tmp_path, capsys):
    rows = [{"query": f"question {i} about {topic}", "stratum": s}
            for i, (topic, s) in enumerate([("refunds", "common")] * 30 + [("vat", "edge")] * 15 + [("hack", "adversarial")] * 8)]
    logs = tmp_path / "logs.jsonl"
    logs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "sample.jsonl"
    assert cli.main(["golden", "sample", str(logs), "--n", "20", "--seed", "3", "--out", str(out),
                     "--near-threshold", "0.999"]) == 0
    sample = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(sample) == 20
    assert {r["stratum"] for r in sample} == {"common", "edge", "adversarial"}
    assert all(0 < r["inclusion_prob"] <= 1 for r in sample)


def test_score_command(tmp_path, capsys):
    gs_dir = tmp_path / "g"
    shutil.copytree(MINI, gs_dir)
    src = tmp_path / "out.csv"
    src.write_text("id,output\nm-01,Growth is 29 a month.\nm-04,not json\n")
    with pytest.warns(UserWarning):
        assert cli.main(["import-outputs", str(src), "--golden", str(gs_dir), "--run-id", "r1",
                         "--runs-dir", str(tmp_path / "runs")]) == 0
    assert cli.main(["score", str(tmp_path / "runs" / "r1"), "--golden", str(gs_dir)]) == 0
    out = capsys.readouterr().out
    assert "triage_json_valid" in out and "answer_similarity" in out
    assert (tmp_path / "runs" / "r1" / "scores.jsonl").exists()


def test_score_with_judge_dimensions_needs_a_judge(capsys, tmp_path):
    run = tmp_path / "runs" / "support-prompt-v1"
    shutil.copytree(ROOT / "runs" / "support-prompt-v1", run)
    assert cli.main(["score", str(run), "--golden", str(ROOT / "golden" / "support")]) == 1
    assert "--skip-judge" in capsys.readouterr().err
