import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from evaltools.cli import _main as cli

ROOT = Path(__file__).parents[2]
MINI = Path(__file__).parents[1] / "fixtures" / "golden_mini"


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
    assert cli.main(["golden", "check", str(bad)]) == 3  # findings: a human must look
    assert "exact_duplicate" in capsys.readouterr().out


def test_golden_check_bad_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "g"
    shutil.copytree(MINI, bad)
    (bad / "items.jsonl").write_text('{"id": "x"\n')
    assert cli.main(["golden", "check", str(bad)]) == 2  # bad input
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


def _support_run(tmp_path, *, cache: bool = True):
    runs = tmp_path / "runs"
    shutil.copytree(ROOT / "runs" / "support-prompt-v1", runs / "support-prompt-v1",
                    ignore=shutil.ignore_patterns("scores.jsonl"))  # fmt: skip
    if cache:
        shutil.copy(ROOT / "runs" / "llm_cache.sqlite", runs / "llm_cache.sqlite")
    return runs / "support-prompt-v1"


@pytest.mark.slow
def test_readme_score_command_replays_the_recorded_judge(tmp_path, capsys, monkeypatch):
    # The README's `evaltools score runs/support-prompt-v1 --golden golden/support`, as printed:
    # no judge flag; the recorded verdicts in runs/llm_cache.sqlite are replayed offline.
    run = _support_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "golden", tmp_path / "golden")
    assert cli.main(["score", "runs/support-prompt-v1", "--golden", "golden/support", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "replaying the verdicts recorded in runs/llm_cache.sqlite" in captured.err
    rows = [json.loads(line) for line in (run / "scores.jsonl").read_text().splitlines()]
    judged = [r for r in rows if r["dimension"] == "helpfulness"]
    # every verdict came from the cache (none is a cache miss); the 135M judge's own replies decide the rest
    assert len(judged) == 72 and not [r for r in judged if r["unscored_reason"] == "judge_call_failed"]
    assert sum(r["value"] is not None for r in judged) == 22  # as in the demo: most replies are off the 1-5 scale


@pytest.mark.slow
def test_score_without_judge_or_cache_skips_judge_dimensions_with_a_note(tmp_path, capsys):
    run = _support_run(tmp_path, cache=False)
    assert cli.main(["score", str(run), "--golden", str(ROOT / "golden" / "support"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "skipping the judge dimensions helpfulness, factual_accuracy" in err and "--judge-base-url" in err
    dims = {json.loads(line)["dimension"] for line in (run / "scores.jsonl").read_text().splitlines()}
    assert "helpfulness" not in dims and "answer_similarity" in dims


def test_score_reports_a_missing_run_as_a_missing_run(tmp_path, capsys):
    assert cli.main(["score", str(tmp_path / "runs" / "nope"), "--golden", str(ROOT / "golden" / "support")]) == 2
    err = capsys.readouterr().err
    assert "No such run" in err and "nope" in err and "judge" not in err


def test_score_hint_names_the_golden_set(tmp_path, capsys):
    run = _support_run(tmp_path)
    assert cli.main(["calibrate", str(run), "--golden", str(ROOT / "golden" / "support")]) == 2
    err = capsys.readouterr().err
    assert f"evaltools score {run} --golden golden/support" in err


def _options(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                child = child.real_parser() if hasattr(child, "real_parser") else child  # deferred subcommands
                yield from ((f"{name} {path}".strip(), a) for path, a in _options(child))
        elif action.option_strings and action.dest != "help":
            yield "", action


def test_help_describes_the_tool_and_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "The ``evaltools`` command" not in out
    assert "got better or worse on its own users' queries" in out and "evaltools gate --baseline" in out
    parser = cli.build_parser()
    seen = 0
    for command, action in _options(parser):
        seen += 1
        assert action.help and action.help.strip(), f"{command} {action.option_strings} has no help"
        if action.default not in (None, False, [], "==SUPPRESS==") and command:
            with pytest.raises(SystemExit):
                cli.main([*command.split(), "--help"])
            text = " ".join(capsys.readouterr().out.split())
            shown = (str(action.default), f"{action.default:g}" if isinstance(action.default, float) else "")
            assert any(v and v in text for v in shown), f"{command} {action.option_strings}: default not shown"
    assert seen > 60


def _slow_server(delay: float):
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fakeserver.py"), "--delay", str(delay)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    return proc, proc.stdout.readline().strip()


def _interrupt_when(argv, cwd, ready, env=None):
    """Run the CLI in a subprocess, send SIGINT once ``ready(stderr so far)``; return (code, stderr)."""
    # A shell that starts the suite in the background hands SIGINT down as ignored, and Python
    # then never raises KeyboardInterrupt: restore the default in the child, as a terminal has it.
    proc = subprocess.Popen([sys.executable, "-m", "evaltools.cli", *argv], cwd=cwd, stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 240
    while not ready("".join(err)):
        assert proc.poll() is None, "".join(err)
        assert time.monotonic() < deadline, "".join(err)
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    reader.join(timeout=10)
    proc.stdout.close()
    proc.stderr.close()
    return code, "".join(err)


def test_ctrl_c_during_run_keeps_items_and_resumes(tmp_path):
    gs = tmp_path / "g"
    shutil.copytree(MINI, gs)
    with (gs / "card.yaml").open("a") as card:
        card.write("variants:\n  - {name: v1, model: m, system_prompt: Be brief., "
                   "params: {temperature: 0.0, max_tokens: 20, seed: 0}}\n")  # fmt: skip
    server, url = _slow_server(0.3)
    try:
        argv = ["run", "--golden", str(gs), "--variant", "v1", "--base-url", url, "--concurrency", "1",
                "--runs-dir", str(tmp_path / "runs"), "--run-id", "r1"]  # fmt: skip
        env = {"OPENAI_API_KEY": "sk-test", "PYTHONPATH": str(ROOT)}
        outputs = tmp_path / "runs" / "r1" / "outputs.jsonl"
        code, err = _interrupt_when(argv, tmp_path, lambda _e: outputs.exists() and
                                    len(outputs.read_text().splitlines()) >= 3, env)  # fmt: skip
        assert code == 130, err
        assert "Traceback" not in err
        kept = len(outputs.read_text().splitlines())
        assert f"interrupted: {kept} items kept, rerun the same command to resume" in err
        assert 3 <= kept < 10
        done = subprocess.run([sys.executable, "-m", "evaltools.cli", *argv], cwd=tmp_path, capture_output=True,
                              text=True, env={**os.environ, **env}, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        ids = [json.loads(line)["id"] for line in outputs.read_text().splitlines()]
        assert len(ids) == 10 and len(set(ids)) == 10  # resumed: nothing lost, nothing twice
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()


def test_ctrl_c_during_score_prints_what_was_kept(tmp_path):
    gs = tmp_path / "g"
    shutil.copytree(MINI, gs)
    card = (gs / "card.yaml").read_text().replace(
        "  - {name: answer_similarity, scorer: semantic_similarity, threshold: 0.5, applies_to: {tags_any: [answer]}, "
        "gating: true}",
        "  - {name: helpfulness, scorer: judge, rubric: helpfulness, "
        "params: {judge_model: m, judge_more_capable: true}, applies_to: {tags_any: [answer]}}",
    )
    assert "scorer: judge" in card
    (gs / "card.yaml").write_text(card)
    src = tmp_path / "out.csv"
    src.write_text("id,output\n" + "".join(f"m-{i:02d},answer {i}\n" for i in range(1, 11)))
    assert cli.main(["import-outputs", str(src), "--golden", str(gs), "--run-id", "r1",
                     "--runs-dir", str(tmp_path / "runs")]) == 0  # fmt: skip
    server, url = _slow_server(1.0)
    try:
        argv = ["score", str(tmp_path / "runs" / "r1"), "--golden", str(gs), "--judge-base-url", url]
        code, err = _interrupt_when(argv, tmp_path, lambda e: re.search(r"scoring r1:.*\b[1-9]/\d+", e) is not None,
                                    {"OPENAI_API_KEY": "sk-test", "PYTHONPATH": str(ROOT)})  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()
    assert code == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    match = re.search(r"interrupted: (\d+) items kept, rerun the same command to resume", err)
    assert match and int(match.group(1)) >= 1, err


def test_generated_files_are_world_readable(tmp_path):
    from evaltools._util import atomic_write_text

    os.umask(0o022)
    atomic_write_text(tmp_path / "r.html", "<p>x</p>")
    assert (tmp_path / "r.html").stat().st_mode & 0o777 == 0o644
