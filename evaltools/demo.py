"""The demo: the whole loop on the example golden set, offline, with no LLM call.

``evaltools demo`` loads and checks ``golden/support``, scores every recorded
run of it found under ``runs/``, writes the score tables to
``reports/scores/``, runs the regression gate between the first two variants,
and renders the HTML reports (eval, comparison, calibration, monitoring) with
an index page. Each step prints one line so a newcomer sees what happened.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from evaltools.errors import RunError
from evaltools.golden import GoldenSetWarning, check_golden, load_golden
from evaltools.scorers import score_run, summarize_scores

DEMO_JUDGE: dict[str, Any] = {"model": "smollm2-135m-instruct", "temperature": 0.0, "max_tokens": 128, "seed": 0}
"""Sampling settings of the bundled local judge whose verdicts the demo replays from the cache."""


def find_runs(runs_dir: str | Path, golden_name: str) -> list[Path]:
    """Run folders under ``runs_dir`` made against the golden set ``golden_name``.

    Args:
        runs_dir: the run store.
        golden_name: the golden set's name, as recorded in each manifest.

    Returns:
        The run folders, sorted by the variant name then run id.
    """
    found = []
    for manifest in sorted(Path(runs_dir).glob("*/manifest.json")):
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RunError(f"The manifest is not valid JSON: {exc.msg}.", path=manifest, line=exc.lineno) from None
        if data.get("golden") == golden_name or data.get("golden_name") == golden_name:
            variant = (data.get("variant") or {}).get("name", "")
            found.append((variant, manifest.parent.name, manifest.parent))
    return [p for _, _, p in sorted(found)]


def demo_judge_client(cache: str | Path) -> Any:
    """The bundled local judge, replayed from a recorded cache with no LLM call.

    Args:
        cache: the SQLite LLM cache holding the recorded verdicts
            (``scripts/record_demo_judge.sh`` writes it).

    Returns:
        An offline :class:`~evaltools.llm.LLMCompleter`: a verdict that was not
        recorded comes back unscored (``judge_call_failed``: cache miss), it is
        never fetched.
    """
    from evaltools.llm import LLMCompleter

    # The URL is never contacted in offline mode; it only has to be well formed.
    return LLMCompleter(base_url="http://127.0.0.1:9/v1", cache=cache, offline=True, api_key_env=None, **DEMO_JUDGE)


def run_demo(
    *,
    out_dir: str | Path = "reports",
    golden_dir: str | Path = "golden/support",
    runs_dir: str | Path = "runs",
    render: bool = True,
) -> dict[str, Any]:
    """Run the demo end to end.

    Args:
        out_dir: where reports and score tables go.
        golden_dir: the example golden set.
        runs_dir: the run store holding the recorded runs and ``llm_cache.sqlite``.
        render: render the HTML reports (tests of the scoring part turn it off).

    Returns:
        What was produced: ``{"scores": [paths], "reports": [paths], "gate": verdict or None,
        "untrusted": [dimensions]}``.

    Raises:
        RunError: no recorded run of the golden set was found.
    """
    out = Path(out_dir)
    (out / "scores").mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("always", GoldenSetWarning)
        gs = load_golden(golden_dir)
    print(repr(gs))
    check = check_golden(gs)
    print(check.summary())

    runs = find_runs(runs_dir, gs.name)
    if not runs:
        raise RunError(
            f"No recorded run of golden set {gs.name!r} under {runs_dir}. Record runs with "
            "scripts/record_demo_runs.sh or import outputs with evaltools import-outputs.",
            path=runs_dir,
        )
    produced: dict[str, Any] = {"scores": [], "reports": [], "gate": None, "untrusted": []}
    judge = demo_judge_client(Path(runs_dir) / "llm_cache.sqlite")
    tables = []
    with warnings.catch_warnings():
        # The card declares plainly that the bundled judge grades its own model; say it once, not per run.
        warnings.simplefilter("once")
        for run in runs:
            table = score_run(run, gs, judge_client=judge)
            path = out / "scores" / f"{run.name}.csv"
            table.to_csv(path, index=False)
            produced["scores"].append(path)
            tables.append(table)
            print(f"scored {run.name}: {len(table)} rows -> {path}")
    judge.client.close()
    scores = pd.concat(tables, ignore_index=True)
    summary = summarize_scores(scores)
    summary.to_csv(out / "scores" / "summary.csv", index=False)
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))

    produced["untrusted"] = untrusted = _demo_calibration(gs, scores, out)
    if len(tables) >= 2:
        produced["gate"] = _demo_gate(tables[0], tables[1], out, untrusted)
    if render:
        produced["reports"] = _demo_reports(gs, runs, out, untrusted)
    return produced


def _demo_calibration(gs: Any, scores: pd.DataFrame, out: Path) -> list[str]:
    """Calibrate the recorded judge against the reference labels; return the untrusted dimensions."""
    from evaltools.calibration import calibrate_golden

    report = calibrate_golden(gs, scores, rng=0)
    report.to_frame().to_csv(out / "scores" / "calibration.csv", index=False)
    print(report.summary())
    return sorted(report.untrusted)


def _demo_gate(baseline: pd.DataFrame, candidate: pd.DataFrame, out: Path, untrusted: list[str]) -> str:
    """Gate the second recorded variant against the first; write Markdown and JUnit beside the reports."""
    from evaltools.gate import gate

    result = gate(baseline, candidate, untrusted=untrusted, rng=0)
    (out / "gate.md").write_text(result.to_markdown("comparison.html"), encoding="utf-8")
    (out / "gate.xml").write_text(result.to_junit_xml(), encoding="utf-8")
    print(f"gate {candidate['run_id'].iloc[0]} vs {baseline['run_id'].iloc[0]}: {result.verdict.value}")
    print(f"  {result.summary}")
    print(f"  -> {out / 'gate.md'}, {out / 'gate.xml'}")
    return result.verdict.value


def _demo_reports(gs: Any, runs: list[Path], out: Path, untrusted: list[str]) -> list[Path]:
    """Render the eval, comparison, calibration and monitoring reports and the index page."""
    from evaltools.calibration import judge_scales
    from evaltools.report import render_report, write_index

    golden = str(gs.path)
    run_paths = [str(r) for r in runs]
    scales, levels = judge_scales(gs)
    jobs: list[tuple[str, dict[str, Any]]] = [
        ("eval", {"golden": golden, "runs": run_paths}),
        ("comparison", {"golden": golden, "runs": run_paths, "untrusted": untrusted}),
        (
            "calibration",
            {
                "score_paths": run_paths,
                "labels_dir": str(gs.path / "labels"),
                "scales": {k: list(v) for k, v in scales.items()},
                "levels": levels,
            },
        ),
        ("monitoring", {}),
    ]
    done = []
    for name, params in jobs:
        if name == "comparison" and len(run_paths) < 2:
            continue
        rendered = render_report(name, params, out / f"{name}.html")
        seconds = rendered.seconds_execute + rendered.seconds_export
        print(f"report {name}: {rendered.path} ({seconds:.1f} s, {rendered.size_bytes / 1e6:.1f} MB)")
        done.append(rendered.path)
    write_index(out)
    print(f"index: {out / 'index.html'}")
    return done
