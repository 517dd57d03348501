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

from .errors import RunError
from .golden import GoldenSetWarning, check_golden, load_golden
from .scorers import score_run, summarize_scores

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


def run_demo(
    *, out_dir: str | Path = "reports", golden_dir: str | Path = "golden/support", runs_dir: str | Path = "runs"
) -> dict[str, Any]:
    """Run the demo end to end.

    Args:
        out_dir: where reports and score tables go.
        golden_dir: the example golden set.
        runs_dir: the run store holding the recorded runs.

    Returns:
        What was produced: ``{"scores": [paths], "reports": [paths], "gate": verdict or None}``.

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
    produced: dict[str, Any] = {"scores": [], "reports": [], "gate": None}
    tables = []
    for run in runs:
        table = score_run(run, gs)
        path = out / "scores" / f"{run.name}.csv"
        table.to_csv(path, index=False)
        produced["scores"].append(path)
        tables.append(table)
        print(f"scored {run.name}: {len(table)} rows -> {path}")
    scores = pd.concat(tables, ignore_index=True)
    summary = summarize_scores(scores)
    summary.to_csv(out / "scores" / "summary.csv", index=False)
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))

    if len(tables) >= 2:
        produced["gate"] = _demo_gate(tables[0], tables[1], out)
    return produced


def _demo_gate(baseline: pd.DataFrame, candidate: pd.DataFrame, out: Path) -> str:
    """Gate the second recorded variant against the first; write Markdown and JUnit beside the reports."""
    from .gate import gate

    result = gate(baseline, candidate, rng=0)
    (out / "gate.md").write_text(result.to_markdown("comparison.html"), encoding="utf-8")
    (out / "gate.xml").write_text(result.to_junit_xml(), encoding="utf-8")
    print(f"gate {candidate['run_id'].iloc[0]} vs {baseline['run_id'].iloc[0]}: {result.verdict.value}")
    print(f"  {result.summary}")
    print(f"  -> {out / 'gate.md'}, {out / 'gate.xml'}")
    return result.verdict.value
