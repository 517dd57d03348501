"""``evaltools gate``: the command-line entry point of the regression gate."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from evaltools.errors import EvaltoolsError, InputError, RunError, VersionMismatchError
from evaltools.gate._noise import aa_noise_floor
from evaltools.gate._verdict import EXIT_ERROR, gate

_STRING_COLUMNS = {
    "run_id": str,
    "item_id": str,
    "dimension": str,
    "kind": str,
    "stratum": object,
    "group": object,
    "unscored_reason": object,
    "failure": object,
    "detail": object,
    "golden_version": object,
}


def read_scores(path: str | Path) -> pd.DataFrame:
    r"""Read a run's score table: ``<run dir>/scores.jsonl`` or a ``.jsonl`` file.

    Ids are read as strings ("001" stays "001"; pandas would otherwise parse
    it as the integer 1).

    Raises:
        RunError: the file does not exist or is not JSON lines.

    Examples:
        >>> import json, pathlib, tempfile
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> row = {"run_id": "A", "item_id": "007", "dimension": "correct", "value": 1.0,
        ...        "kind": "binary", "scale_min": 0, "scale_max": 1}
        >>> _ = (run / "scores.jsonl").write_text(json.dumps(row) + "\n")
        >>> read_scores(run).loc[0, "item_id"]
        '007'
    """
    p = Path(path)
    file = p / "scores.jsonl" if p.is_dir() else p
    if not file.is_file():
        raise RunError(
            "No score table found. Pass a run directory holding scores.jsonl (written by `evaltools score`) "
            "or the scores.jsonl file itself.",
            path=file,
        )
    try:
        table = pd.read_json(file, lines=True, dtype=_STRING_COLUMNS)
    except ValueError as exc:
        raise RunError(f"The score table is not valid JSON lines: {exc}", path=file) from exc
    if "golden_version" not in table.columns or table["golden_version"].isna().all():
        # A table written before scores carried the version: the run's manifest says which
        # version the outputs answered (score_run refuses any other unless told to).
        manifest = file.parent / "manifest.json"
        if manifest.is_file():
            try:
                version = json.loads(manifest.read_text(encoding="utf-8")).get("golden_version")
            except (ValueError, AttributeError):
                version = None
            if version:
                table["golden_version"] = str(version)
    return table


def parse_shares(text: str) -> dict[str, float]:
    """Parse ``common=0.7,edge=0.2,adversarial=0.1`` into a dict.

    Raises:
        InputError: a malformed entry.

    Examples:
        >>> parse_shares("common=0.7,edge=0.2,adversarial=0.1")
        {'common': 0.7, 'edge': 0.2, 'adversarial': 0.1}
    """
    shares: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError(part)
            shares[name.strip()] = float(value)
        except ValueError:
            raise InputError(
                f"The '--production-shares' option must look like common=0.7,edge=0.2,adversarial=0.1. "
                f"Got {text!r} instead."
            ) from None
    return shares


def _run_dir(path: str) -> str:
    p = Path(path)
    return str(p.parent if p.is_file() else p)


def _golden_dir(path: str) -> str | None:
    """``golden/<name>`` from the run's manifest, when it names its golden set."""
    manifest = Path(_run_dir(path)) / "manifest.json"
    try:
        name = json.loads(manifest.read_text(encoding="utf-8")).get("golden_name")
    except (OSError, ValueError, AttributeError):
        return None
    return f"golden/{name}" if name else None


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def add_gate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``gate`` subcommand to an argparse ``subparsers`` object.

    The handler is stored as the ``handler`` default (the convention of
    :mod:`evaltools.cli`): ``args.handler(args)`` returns the exit code.

    Args:
        subparsers: the object returned by ``ArgumentParser.add_subparsers()``.

    Returns:
        The ``gate`` parser.

    Examples:
        >>> import argparse
        >>> parser = argparse.ArgumentParser(prog="evaltools")
        >>> _ = add_gate_parser(parser.add_subparsers())
        >>> args = parser.parse_args(["gate", "--baseline", "runs/A", "--candidate", "runs/B", "--margin", "0.03"])
        >>> args.margin, args.tolerance, args.handler.__name__
        (0.03, 0.01, 'gate_command')
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "gate",
        help="compare a candidate run with a baseline run: PASS, NEEDS_REVIEW or BLOCK",
        description=(
            "Compare a candidate run with a baseline run on the same golden set. Exit codes: 0 PASS, "
            "3 NEEDS_REVIEW, 4 BLOCK, 2 bad usage or input."
        ),
    )
    parser.add_argument("--baseline", required=True, help="baseline run directory (or its scores.jsonl)")
    parser.add_argument("--candidate", required=True, help="candidate run directory (or its scores.jsonl)")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="drop that needs review, as a share of the scale (default 0.01 = 1%%)",
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=None,
        help="non-inferiority margin to certify for PASS, share of the scale (default: tolerance)",
    )
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    parser.add_argument("--gating", default=None, help="comma-separated gating dimensions (default: from the card)")
    parser.add_argument("--untrusted", default=None, help="comma-separated dimensions whose judge is untrusted")
    parser.add_argument(
        "--production-shares",
        default=None,
        help="post-stratify to production, e.g. common=0.7,edge=0.2,adversarial=0.1",
    )
    parser.add_argument("--junit", default=None, help="write JUnit XML here")
    parser.add_argument("--markdown", default=None, help="write the Markdown summary here")
    parser.add_argument("--report-url", default=None, help="HTML report URL; worst items link to it")
    parser.add_argument(
        "--aa", action="store_true", help="the two runs are the same variant run twice: report the A/A noise floor"
    )
    parser.add_argument("--aa-sims", type=int, default=200, help="sign-flip replications for --aa (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--n-resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    parser.set_defaults(handler=gate_command)
    return parser


def gate_command(args: argparse.Namespace) -> int:
    """Run the gate from parsed arguments; print and write the summaries.

    Writes the Markdown summary to stdout, to ``--markdown`` and, when the
    ``GITHUB_STEP_SUMMARY`` environment variable is set, appends it there.

    Returns:
        The verdict's exit code (0 PASS, 3 NEEDS_REVIEW, 4 BLOCK; with
        ``--aa``, the verdict of the A/A pair itself), or 2 on bad input.
    """
    try:
        baseline = read_scores(args.baseline)
        candidate = read_scores(args.candidate)
        shares = parse_shares(args.production_shares) if args.production_shares else None
        common: dict[str, Any] = {
            "gating": _names(args.gating),
            "untrusted": _names(args.untrusted),
            "alpha": args.alpha,
            "tolerance": args.tolerance,
            "margin": args.margin,
            "rng": args.seed,
            "n_resamples": args.n_resamples,
        }
        if args.aa:
            floor = aa_noise_floor(baseline, candidate, n_sim=args.aa_sims, **common)
            result = floor.observed
            markdown = floor.to_markdown(args.report_url)
        else:
            result = gate(baseline, candidate, production_shares=shares, **common)
            markdown = result.to_markdown(args.report_url)
    except VersionMismatchError as exc:
        golden = _golden_dir(args.baseline) or "golden/<name>"
        print(
            f"evaltools gate: error: {exc}\nTo rescore both runs against one golden set:\n"
            f"  evaltools score {_run_dir(args.baseline)} --golden {golden}\n"
            f"  evaltools score {_run_dir(args.candidate)} --golden {golden}",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except EvaltoolsError as exc:
        print(f"evaltools gate: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.markdown:
        Path(args.markdown).write_text(markdown, encoding="utf-8")
    if args.junit:
        Path(args.junit).write_text(result.to_junit_xml(), encoding="utf-8")
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
    print(markdown)
    return result.exit_code
