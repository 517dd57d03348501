"""``evaltools golden check`` and ``evaltools golden sample``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from evaltools._util import EXIT_OK, EXIT_REVIEW


def add_golden_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``evaltools golden`` (``check``, ``sample``) to a subparsers object.

    Args:
        sub: what ``ArgumentParser.add_subparsers()`` returned.

    Returns:
        The new parser.
    """
    golden = sub.add_parser("golden", help="check or build golden sets")
    gsub = golden.add_subparsers(dest="golden_command", metavar="SUBCOMMAND")
    check = gsub.add_parser("check", help="validate a golden set and report duplicates, empty ideals, strata mix")
    check.add_argument("golden", help="golden set folder, e.g. golden/support")
    check.add_argument("--near-threshold", type=float, default=0.92,
                       help="embedding cosine above which two queries are near-duplicates")  # fmt: skip
    check.set_defaults(handler=golden_check_command)
    sample = gsub.add_parser("sample", help="draw a stratified sample from production logs")
    sample.add_argument("logs", help="JSONL, CSV or Parquet with a query and a stratum column")
    sample.add_argument("--n", type=int, required=True, help="sample size")
    sample.add_argument("--seed", type=int, required=True, help="random seed")
    sample.add_argument("--out", required=True, help="output JSONL")
    sample.add_argument("--targets", help="stratum shares, e.g. common=0.6,edge=0.25,adversarial=0.15 "
                        "(default: common=0.6,edge=0.25,adversarial=0.15)")  # fmt: skip
    sample.add_argument("--stratum-col", default="stratum", help="column holding the stratum")
    sample.add_argument("--text-col", default="query", help="column holding the query text")
    sample.add_argument("--near-threshold", type=float, default=0.92,
                        help="embedding cosine above which two queries are near-duplicates (one is dropped)",
                        )  # fmt: skip
    sample.set_defaults(handler=golden_sample_command)
    return golden


def golden_check_command(args: argparse.Namespace) -> int:
    """Handle ``evaltools golden check``: 0 when the set is clean, 3 when a finding needs review."""
    from evaltools.golden import check_golden, load_golden

    gs = load_golden(args.golden)
    print(repr(gs))
    check = check_golden(gs, near_threshold=args.near_threshold)
    print(check.summary())
    problems = check.to_frame()
    if len(problems):
        print(problems.to_string(index=False))
    return EXIT_OK if check.ok else EXIT_REVIEW


def golden_sample_command(args: argparse.Namespace) -> int:
    """Handle ``evaltools golden sample``; returns 0."""
    import pandas as pd

    from evaltools._util import atomic_write_jsonl
    from evaltools.golden import sample_golden

    src = Path(args.logs)
    if src.suffix == ".csv":
        logs = pd.read_csv(src)
    elif src.suffix == ".parquet":
        logs = pd.read_parquet(src)
    else:
        logs = pd.read_json(src, lines=True)
    targets = None
    if args.targets:
        targets = {k: float(v) for k, v in (part.split("=") for part in args.targets.split(","))}
    sample = sample_golden(
        logs,
        args.n,
        targets=targets,
        seed=args.seed,
        stratum_col=args.stratum_col,
        text_col=args.text_col,
        near_threshold=args.near_threshold,
    )
    atomic_write_jsonl(args.out, sample.to_records())
    print(f"{sample.summary()} Written to {args.out}.")
    return 0
