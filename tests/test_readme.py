"""Every command the README shows works as printed.

The commands are read from the README's ``bash`` blocks (continuation lines
joined, comments dropped). The fast test checks that each one parses with
the real argument parser (so a renamed flag fails at once); the slow test
executes each one, in README order, as a subprocess in a copy of the
repository whose runs are scored (the state the README's demo command leaves).
Endpoint URLs are pointed at a local fake OpenAI-compatible server on
127.0.0.1, and the files a command names (logs, outputs.csv) are made first.

Not executed, each for a stated reason: the two set-up commands (they
install into .venv; CI runs them), and ``serve-local`` (a server that runs
until stopped; tests/test_local_model.py starts it on an ephemeral port).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evaltools.cli._main import build_parser

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
SETUP = ("bash scripts/demo.sh", "bash scripts/test.sh")
NOT_EXECUTED = {"serve-local": "a server that runs until stopped (tests/test_local_model.py starts it)"}
ENDPOINT = re.compile(r"https?://(?:127\.0\.0\.1|localhost|gpu)(?::\d+)?/v1")


def readme_commands(text: str | None = None) -> list[str]:
    """The shell commands in the README's bash blocks, in order."""
    text = README.read_text(encoding="utf-8") if text is None else text
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            command = shlex.split(line, comments=True)
            if command:
                commands.append(shlex.join(command))
    return commands


def evaltools_commands() -> list[list[str]]:
    out = []
    for command in readme_commands():
        if command.startswith(SETUP) or command.startswith("export "):
            continue
        argv = shlex.split(command)
        assert argv[0] == "evaltools", f"a README command that is neither set-up nor evaltools: {command!r}"
        out.append(argv[1:])
    return out


def test_the_readme_shows_commands_and_only_two_set_up_commands() -> None:
    commands = readme_commands()
    assert [c for c in commands if c.startswith("bash ")] == list(SETUP)
    assert len(evaltools_commands()) >= 15
    # a synopsis is not a command: no placeholders or alternatives
    for argv in evaltools_commands():
        text = " ".join(argv)
        assert not re.search(r"\[|\]|\||\bURL\b|\bPATH\b|k=v", text), text


@pytest.mark.parametrize("argv", evaltools_commands(), ids=lambda a: " ".join(a)[:60])
def test_every_readme_command_parses(argv: list[str]) -> None:
    parser = build_parser()
    if argv == ["--help"]:
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(argv)
        assert exit_.value.code == 0
        return
    args = parser.parse_args(argv)
    assert getattr(args, "handler", None) is not None, argv


def _sandbox(tmp: Path) -> Path:
    project = tmp / "project"
    project.mkdir()
    shutil.copytree(ROOT / "golden", project / "golden", ignore=shutil.ignore_patterns("annotator*.jsonl"))
    shutil.copytree(ROOT / "runs", project / "runs", ignore=shutil.ignore_patterns("scores.jsonl", "*-wal", "*-shm"))
    (project / "reports").mkdir()
    items = [json.loads(line) for line in (ROOT / "golden/support/items.jsonl").read_text().splitlines()]
    # files the commands name: production logs to sample from and to monitor, outputs made elsewhere
    import pandas as pd

    from evaltools.monitor._synthetic import generate_synthetic_logs

    pd.DataFrame(
        {"query": [it["query"] if isinstance(it["query"], str) else str(it["query"]) for it in items],
         "stratum": [it["stratum"] for it in items]}
    ).to_parquet(project / "logs.parquet")  # fmt: skip
    (project / "logs").mkdir()
    logs = generate_synthetic_logs(days=21, requests_per_hour=40, seed=1).logs
    logs.to_json(project / "logs" / "requests.jsonl", orient="records", lines=True, date_format="iso")
    pd.DataFrame({"id": [it["id"] for it in items[:20]], "output": ["See Settings > Billing."] * 20}).to_csv(
        project / "outputs.csv", index=False
    )
    return project


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evaltools.cli", *argv], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


@pytest.mark.slow
def test_every_readme_command_runs_as_printed(tmp_path: Path) -> None:
    project = _sandbox(tmp_path)
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fakeserver.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        fake = server.stdout.readline().strip()
        assert fake.startswith("http://127.0.0.1:"), fake
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "OPENAI_API_KEY": "sk-test-readme",
            "OPENAI_BASE_URL": fake,  # the README's OpenAI example: the default endpoint
            "EVALTOOLS_CACHE_DIR": str(tmp_path / "cache"),
        }
        env.pop("GITHUB_STEP_SUMMARY", None)
        # The state after the README's demo command: the recorded runs are scored.
        done = _run(["score", "runs/support-prompt-v1", "runs/support-prompt-v2", "--golden", "golden/support",
                     "--no-progress"], project, env, 900)  # fmt: skip
        assert done.returncode == 0, done.stderr
        ran = []
        for argv in evaltools_commands():
            if argv[0] in NOT_EXECUTED:
                continue
            argv = [ENDPOINT.sub(fake, a) for a in argv]
            cwd = project
            if argv[0] == "demo":  # the demo is about the example data: a fresh copy, not the runs made above
                (tmp_path / "demo").mkdir()
                cwd = _sandbox(tmp_path / "demo")
            done = _run(argv, cwd, env, 900)
            # gate answers with its verdict's exit code (3 NEEDS_REVIEW, 4 BLOCK); anything else must be 0
            ok = {0, 3, 4} if argv[0] == "gate" else {0}
            tail = f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            assert done.returncode in ok, f"{argv}: exit {done.returncode}\n{tail}"
            assert "Traceback" not in done.stderr, f"{argv}\n{done.stderr[-3000:]}"
            ran.append(argv[0])
        expected = {"golden", "run", "import-outputs", "score", "calibrate", "gate", "report", "monitor", "demo"}
        assert expected <= set(ran)
        assert (project / "gate.md").read_text(encoding="utf-8").startswith("## evaltools gate")
        for html in ("eval.html", "monitoring.html"):
            assert (project / "reports" / html).stat().st_size > 10_000, html
        index = (project / "reports" / "index.html").read_text(encoding="utf-8")  # a page of links, small
        assert 'href="eval.html"' in index and 'href="monitoring.html"' in index
        assert oct((project / "reports" / "eval.html").stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    finally:
        server.terminate()
        server.wait(timeout=10)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
