"""``evaltools gate``: the command-line entry point of the regression gate."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from evaltools.errors import EvaltoolsError, InputError, VersionMismatchError
from evaltools.gate import EXIT_ERROR, aa_noise_floor, gate
from evaltools.scorers import read_scores


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


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def add_gate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``gate`` subcommand to an argparse ``subparsers`` object.

    The handler is stored as the ``handler`` default (the convention of
    :mod:`evaltools.cli._main`): ``args.handler(args)`` returns the exit code.

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
    parser.add_argument(
        "--untrusted",
        default=None,
        help="comma-separated dimensions whose judge is untrusted ('' for none; default: every judge dimension "
        "of the golden set's card that its calibration against the human labels does not trust)",
    )
    parser.add_argument(
        "--golden",
        default=None,
        help="golden set folder whose card and labels calibrate the judge dimensions "
        "(default: golden/<name> of the golden set named in the candidate's manifest, when that folder exists)",
    )
    parser.add_argument(
        "--production-shares",
        default=None,
        help="post-stratify to production, e.g. common=0.7,edge=0.2,adversarial=0.1",
    )
    parser.add_argument("--junit", default=None, help="write JUnit XML here")
    parser.add_argument("--markdown", default=None, help="write the Markdown summary (a PR comment) here")
    parser.add_argument("--report-url", default=None, help="HTML report URL; worst items link to it")
    parser.add_argument(
        "--aa", action="store_true", help="the two runs are the same variant run twice: report the A/A noise floor"
    )
    parser.add_argument("--aa-sims", type=int, default=200, help="sign-flip replications for --aa (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--n-resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    parser.set_defaults(handler=gate_command)
    return parser


def _golden_of(run: str | Path) -> Path | None:
    """The golden set folder a run was made against, found from its manifest (None when not found)."""
    folder = Path(run) if Path(run).is_dir() else Path(run).parent
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = manifest.get("golden_name") or manifest.get("golden")
    if not isinstance(name, str):
        return None
    for base in (Path("golden"), folder.parent.parent / "golden"):
        if (base / name / "card.yaml").is_file():
            return base / name
    return None


def untrusted_from_calibration(
    golden_dir: str | Path, scores: pd.DataFrame, *, seed: int = 0
) -> tuple[list[str], str]:
    """The judge dimensions of a golden set's card that are not trusted, calibrated on ``scores``.

    Every judge dimension present in ``scores`` is calibrated against the
    golden set's human labels (:func:`evaltools.cli.calibration.calibrate_golden`,
    default floors); a dimension without labels is untrusted too.

    Args:
        golden_dir: the golden set folder.
        scores: score tables holding the judge scores (baseline and candidate).
        seed: bootstrap seed.

    Returns:
        ``(untrusted dimensions, a one-line note saying where they came from)``;
        empty when the card has no judge dimension in ``scores``.
    """
    from evaltools.calibration import calibrate_golden, judge_scales
    from evaltools.golden import load_golden

    golden = load_golden(golden_dir)
    scales, _levels = judge_scales(golden)
    judged = sorted(d for d in scales if d in set(scores["dimension"]))
    if not judged:
        return [], ""
    judge_rows = scores[scores["dimension"].isin(judged)]
    report = calibrate_golden(golden, judge_rows, rng=seed)
    untrusted = [d for d in judged if d not in report.trusted]
    labels = golden.path / "labels"
    trusted = [d for d in judged if d not in untrusted]
    note = (
        f"judge calibration against {labels}: "
        + (f"untrusted {', '.join(untrusted)}" if untrusted else "")
        + ("; " if untrusted and trusted else "")
        + (f"trusted {', '.join(trusted)}" if trusted else "")
        + " (override with --untrusted)"
    )
    return untrusted, note


def gate_command(args: argparse.Namespace) -> int:
    """Run the gate from parsed arguments; print a terminal table and write the summaries.

    Prints a plain-text table (:func:`~evaltools.gate.gate_text`);
    writes the Markdown summary to ``--markdown`` and, when the
    ``GITHUB_STEP_SUMMARY`` environment variable is set, appends it there.
    Unless ``--untrusted`` is given, the judge dimensions come from the
    golden set's calibration (:func:`untrusted_from_calibration`).

    Returns:
        The verdict's exit code (0 PASS, 3 NEEDS_REVIEW, 4 BLOCK; with
        ``--aa``, the verdict of the A/A pair itself), or 2 on bad input.
    """
    from evaltools.gate import gate_text

    try:
        baseline = read_scores(args.baseline)
        candidate = read_scores(args.candidate)
        shares = parse_shares(args.production_shares) if args.production_shares else None
        untrusted = _names(args.untrusted)
        if untrusted is None:
            golden_dir = args.golden or _golden_of(args.candidate)
            if golden_dir is not None:
                found, note = untrusted_from_calibration(
                    golden_dir, pd.concat([baseline, candidate], ignore_index=True), seed=args.seed
                )
                if note:
                    print(note, file=sys.stderr)
                untrusted = found
        common: dict[str, Any] = {
            "gating": _names(args.gating),
            "untrusted": untrusted,
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
            text = (
                f"A/A noise floor: {floor.summary}\n"
                + "".join(
                    f"  {d.dimension}: observed {d.observed.value}, false BLOCK rate {100 * d.block_rate:.1f}%, "
                    f"NEEDS_REVIEW rate {100 * d.review_rate:.1f}%\n"
                    for d in floor.dimensions
                )
                + "\n"
                + gate_text(result)
            )
        else:
            result = gate(baseline, candidate, production_shares=shares, **common)
            markdown = result.to_markdown(args.report_url)
            text = gate_text(result)
    except VersionMismatchError as exc:
        golden = _golden_of(args.baseline) or _golden_of(args.candidate) or "golden/<name>"
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
    print(text, end="")
    if args.markdown or args.junit:
        print("wrote " + ", ".join(p for p in (args.markdown, args.junit) if p))
    return result.exit_code
