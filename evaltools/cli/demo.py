"""``evaltools demo``: score the example golden set's recorded runs and write the reports."""

from __future__ import annotations

import argparse
from typing import Any


def add_demo_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``evaltools demo`` to a subparsers object.

    Args:
        sub: what ``ArgumentParser.add_subparsers()`` returned.

    Returns:
        The new parser.
    """
    demo = sub.add_parser("demo", help="score the example golden set's recorded runs and write reports")
    demo.add_argument("--golden", default="golden/support", help="the example golden set")
    demo.add_argument("--runs-dir", default="runs", help="run store holding the recorded runs and llm_cache.sqlite")
    demo.add_argument("--out", default="reports", help="folder for the HTML reports, gate.md and score tables")
    demo.set_defaults(handler=demo_command)
    return demo


def demo_command(args: argparse.Namespace) -> int:
    """Handle ``evaltools demo``; returns 0."""
    from evaltools.demo import run_demo

    run_demo(out_dir=args.out, golden_dir=args.golden, runs_dir=args.runs_dir)
    return 0
