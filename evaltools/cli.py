"""The ``evaltools`` command.

Subcommands wire package functions together; no logic lives here. Modules
that own a capability contribute their subcommand through an
``add_<name>_parser(subparsers)`` function that sets ``handler`` on its parser.

Exit codes: 0 success; 1 an error evaltools reports (bad input, failed
report); the ``gate`` command has its own codes (see :mod:`evaltools.gate`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import EvaltoolsError

# Modules that contribute subcommands: (module, function). A module that is
# missing (an optional capability not installed) is skipped.
_PLUGINS: list[tuple[str, str]] = [
    ("evaltools.runs", "add_run_parser"),
    ("evaltools.runs", "add_import_parser"),
    ("evaltools.local_server", "add_serve_local_parser"),
    ("evaltools.gate", "add_gate_parser"),
    ("evaltools.calibration", "add_calibrate_parser"),
    ("evaltools.monitor", "add_monitor_parser"),
    ("evaltools.report", "add_report_parser"),
]


DESCRIPTION = (
    "evaltools tells an LLM team whether a model, prompt or fine-tune got better or worse on its own users' "
    "queries: golden sets, runs through any OpenAI-compatible endpoint, three layers of scorers, an LLM judge "
    "calibrated against human labels, a paired-statistics regression gate for CI, production monitoring, and "
    "self-contained HTML reports."
)

EPILOG = """\
the loop, on the example golden set:
  evaltools golden check golden/support
  evaltools run --golden golden/support --variant prompt-v2 --base-url URL
  evaltools score runs/support-prompt-v1 runs/support-prompt-v2 --golden golden/support
  evaltools calibrate runs/support-prompt-v1 --golden golden/support
  evaltools gate --baseline runs/support-prompt-v1 --candidate runs/support-prompt-v2
  evaltools report comparison --param golden=golden/support --param runs=runs/support-prompt-v1 \\
      --param runs=runs/support-prompt-v2

'evaltools COMMAND --help' describes a command and its options. Exit codes: 0 success, 1 an error
evaltools reports, 130 interrupted (Ctrl-C: finished work is kept; rerun the same command to resume);
gate: 0 PASS, 3 NEEDS_REVIEW, 4 BLOCK, 2 bad input."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help text as written (examples keep their lines), with each option's default appended.

    A default is shown unless the help already says it, or it is empty
    (None, False, an empty list).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        empty = default is None or default is False or default == [] or default == argparse.SUPPRESS
        if "default" in text or empty or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def _set_formatter(parser: argparse.ArgumentParser) -> None:
    """Use :class:`_HelpFormatter` in ``parser`` and every subcommand parser below it."""
    parser.formatter_class = _HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _set_formatter(child)


def _cmd_golden_check(args: argparse.Namespace) -> int:
    from .golden import check_golden, load_golden

    gs = load_golden(args.golden)
    print(repr(gs))
    check = check_golden(gs, near_threshold=args.near_threshold)
    print(check.summary())
    problems = check.to_frame()
    if len(problems):
        print(problems.to_string(index=False))
    return 0 if check.ok else 1


def _cmd_golden_sample(args: argparse.Namespace) -> int:
    import pandas as pd

    from ._io import atomic_write_jsonl
    from .golden import sample_golden

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
    atomic_write_jsonl(args.out, sample.to_dict(orient="records"))
    print(
        f"Sampled {len(sample)} rows into {args.out} (allocation {sample.attrs['allocation']}, "
        f"removed {sample.attrs['exact_duplicates_removed']} exact and "
        f"{sample.attrs['near_duplicates_removed']} near duplicates, seed {args.seed})."
    )
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from .scorers._run import score_command

    return score_command(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(out_dir=args.out, golden_dir=args.golden, runs_dir=args.runs_dir)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every available subcommand.

    Returns:
        The top-level parser.
    """
    parser = argparse.ArgumentParser(
        prog="evaltools", description=DESCRIPTION, epilog=EPILOG, formatter_class=_HelpFormatter
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"evaltools {__version__}",
                        help="print the version and exit")  # fmt: skip
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    golden = sub.add_parser("golden", help="check or build golden sets")
    gsub = golden.add_subparsers(dest="golden_command", metavar="SUBCOMMAND")
    check = gsub.add_parser("check", help="validate a golden set and report duplicates, empty ideals, strata mix")
    check.add_argument("golden", help="golden set folder, e.g. golden/support")
    check.add_argument("--near-threshold", type=float, default=0.92,
                       help="embedding cosine above which two queries are near-duplicates")  # fmt: skip
    check.set_defaults(handler=_cmd_golden_check)
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
    sample.set_defaults(handler=_cmd_golden_sample)

    score = sub.add_parser("score", help="score runs on the golden set card's dimensions")
    score.add_argument("runs", nargs="+", help="run folders, e.g. runs/support-prompt-v1")
    score.add_argument("--golden", required=True, help="golden set folder")
    score.add_argument("--judge-base-url", help="OpenAI-compatible endpoint of the judge model (default: replay "
                       "the verdicts recorded in the judge cache when it exists, else skip judge dimensions)")
    score.add_argument("--judge-model", help="judge model name (default: the card's judge_model)")
    score.add_argument("--judge-api-key-env", default="OPENAI_API_KEY", help="variable holding the judge's API key")
    score.add_argument("--judge-cache", help="SQLite LLM cache of judge verdicts "
                       "(default: llm_cache.sqlite beside the run folders, e.g. runs/llm_cache.sqlite)")
    score.add_argument("--judge-offline", action="store_true",
                       help="only replay verdicts from the judge cache, never call the judge")
    score.add_argument("--judge-max-tokens", type=int, default=128, help="judge reply length limit, in tokens")
    score.add_argument("--skip-judge", action="store_true", help="score every dimension except judge ones")
    score.add_argument("--no-progress", action="store_true", help="no progress bar")
    score.set_defaults(handler=_cmd_score)

    demo = sub.add_parser("demo", help="score the example golden set's recorded runs and write reports")
    demo.add_argument("--golden", default="golden/support", help="the example golden set")
    demo.add_argument("--runs-dir", default="runs", help="run store holding the recorded runs and llm_cache.sqlite")
    demo.add_argument("--out", default="reports", help="folder for the HTML reports, gate.md and score tables")
    demo.set_defaults(handler=_cmd_demo)

    for module, func in _PLUGINS:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        add = getattr(mod, func, None)
        if add is not None:
            add(sub)
    _set_formatter(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: arguments (default ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Any = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    warnings.simplefilter("default")
    try:
        return int(handler(args) or 0)
    except EvaltoolsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        kept = getattr(exc, "kept", None)
        done = f"{kept} items kept" if kept is not None else "finished work is kept"
        print(f"\ninterrupted: {done}, rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
