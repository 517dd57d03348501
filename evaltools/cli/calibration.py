"""``evaltools calibrate``: judge scores of runs against a golden set's human labels.

The judge dimensions, their scales and levels of measurement come from the
golden set's card: every dimension with ``scorer: judge`` and its rubric
(a binary rubric is nominal, an ordinal one ordinal).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from evaltools.calibration import calibrate_golden

__all__ = ["add_calibrate_parser", "calibrate_command"]


def calibrate_command(args: argparse.Namespace) -> int:
    """Run ``evaltools calibrate`` (see :func:`add_calibrate_parser`).

    Args:
        args: the parsed arguments.

    Returns:
        0; errors are raised as :class:`~evaltools.errors.EvaltoolsError`.

    Raises:
        ConfigError: the card declares no judge dimension.
    """
    from evaltools.golden import load_golden
    from evaltools.scorers import read_scores

    golden = load_golden(args.golden)
    labels_dir = Path(args.labels) if args.labels else golden.path / "labels"
    report = calibrate_golden(
        golden,
        read_scores(*args.runs),
        labels_dir=labels_dir,
        kappa_floor=args.kappa_floor,
        max_ci_width=args.max_ci_width,
        min_labels=args.min_labels,
        n_resamples=args.n_resamples,
        rng=args.seed,
    )
    print(report.summary() if len(report) else f"No human labels in {labels_dir}.")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame = report.to_frame()
        frame.to_json(out, orient="records", lines=True) if out.suffix == ".jsonl" else frame.to_csv(out, index=False)
        print(f"Wrote {out}")
    return 0


def add_calibrate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``calibrate`` subcommand (handler stored as the ``handler`` default).

    Args:
        subparsers: the object returned by ``ArgumentParser.add_subparsers()``.

    Returns:
        The ``calibrate`` parser.

    Examples:
        >>> parser = argparse.ArgumentParser(prog="evaltools")
        >>> _ = add_calibrate_parser(parser.add_subparsers())
        >>> args = parser.parse_args(["calibrate", "runs/a", "--golden", "golden/support"])
        >>> args.kappa_floor, args.min_labels, args.handler.__name__
        (0.6, 50, 'calibrate_command')
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "calibrate",
        help="agreement of the judge with human labels, and whether each judge dimension can gate",
        description=(
            "Compare the judge scores of runs with the human labels of a golden set, per judge dimension of "
            "its card: agreement, kappa, alpha, correlations, bias, bootstrap intervals and a verdict."
        ),
    )
    parser.add_argument("runs", nargs="+", help="run folders (or scores.jsonl files) with judge scores")
    parser.add_argument("--golden", required=True, help="golden set folder (its card names the judge dimensions)")
    parser.add_argument("--labels", help="labels folder (default: <golden>/labels)")
    parser.add_argument("--kappa-floor", type=float, default=0.6, help="kappa below this is not trusted")
    parser.add_argument("--max-ci-width", type=float, default=0.4, help="widest acceptable kappa interval")
    parser.add_argument("--min-labels", type=int, default=50, help="paired labels needed to trust a dimension")
    parser.add_argument("--n-resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--out", help="write the per-dimension table (.csv, or .jsonl)")
    parser.set_defaults(handler=calibrate_command)
    return parser
