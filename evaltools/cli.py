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

# Subcommands that other modules define: (name, module, function, one-line help).
# Their modules (pandas, statsmodels, the openai client...) are imported only when
# that subcommand runs, so ``evaltools --help`` and ``--version`` answer at once; the
# help line is here for the top-level listing (a test checks it matches the module's).
_PLUGINS: list[tuple[str, str, str, str]] = [
    ("run", "evaltools.generation", "add_run_parser",
     "generate a variant's outputs on a golden set (cached, resumable)"),
    ("import-outputs", "evaltools.runs", "add_import_parser",
     "import outputs produced elsewhere (JSONL or CSV) as a run"),
    ("serve-local", "evaltools.local_server", "add_serve_local_parser",
     "serve the bundled SmolLM2-135M-Instruct model (OpenAI-compatible) until Ctrl-C"),
    ("gate", "evaltools.gate", "add_gate_parser",
     "compare a candidate run with a baseline run: PASS, NEEDS_REVIEW or BLOCK"),
    ("calibrate", "evaltools.calibration", "add_calibrate_parser",
     "agreement of the judge with human labels, and whether each judge dimension can gate"),
    ("monitor", "evaltools.monitor", "add_monitor_parser",
     "monitor production logs: per-window metrics and alerts on rolling baselines"),
    ("report", "evaltools.report", "add_report_parser",
     "render a report notebook (eval, comparison, calibration, monitoring) to self-contained HTML"),
]  # fmt: skip


class _Parser(argparse.ArgumentParser):
    """An argparse parser; a subcommand's may be deferred to the module that defines it.

    A deferred parser holds only its name and help line. When the subcommand is
    parsed, it imports ``module``, lets ``function`` define the real parser on a
    scratch ``subparsers`` object, and parses with that.
    """

    def __init__(self, *args: Any, defer_to: tuple[str, str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._defer_to = defer_to

    def real_parser(self) -> argparse.ArgumentParser:
        """The parser the owning module defines (self when not deferred)."""
        if self._defer_to is None:
            return self
        name, module, function = self._defer_to
        try:
            add = getattr(importlib.import_module(module), function)
        except ImportError as exc:
            self.exit(2, f"error: 'evaltools {name}' is not available: {exc}\n")
        scratch = argparse.ArgumentParser(prog=self.prog.rsplit(" ", 1)[0])
        sub = scratch.add_subparsers()
        add(sub)
        real = sub.choices[name]
        _set_formatter(real)
        return real

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self._defer_to is None:
            return super().parse_known_args(args, namespace)
        return self.real_parser().parse_known_args(args, namespace)


class _VersionAction(argparse.Action):
    """``--version``: looks the version up only when asked (importlib.metadata is not free)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from . import __version__

        parser.exit(message=f"evaltools {__version__}\n")


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
    parser = _Parser(prog="evaltools", description=DESCRIPTION, epilog=EPILOG, formatter_class=_HelpFormatter)
    parser.add_argument("--version", action=_VersionAction)
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

    for name, module, func, help_line in _PLUGINS:
        sub.add_parser(name, help=help_line, defer_to=(name, module, func))
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
