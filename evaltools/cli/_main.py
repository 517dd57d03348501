"""The ``evaltools`` command: the parser, the subcommand table and the exit-code policy.

Each command group has its own module in :mod:`evaltools.cli` with an
``add_<group>_parser(subparsers)`` function that sets ``handler`` on its
parser; the library modules never see argparse. A group's module (and with
it pandas, statsmodels, the HTTP client...) is imported only when that command
runs, so ``evaltools --help`` and ``--version`` answer at once.

Exit codes, the same for every command: 0 success (gate PASS); 2 the command
could not do its job (bad usage, bad input, or a failure the message names);
3 done and a human must look (gate NEEDS_REVIEW, golden-set findings,
monitoring alerts with ``--fail-on-alert``); 4 gate BLOCK; 130 interrupted
(finished work is kept). 1 is left to crashes (a Python traceback), so a bug
is never read as a verdict.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from evaltools._util import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from evaltools.errors import EvaltoolsError

# Subcommands that other modules define: (name, module, function, one-line help).
# Their modules (pandas, statsmodels, the openai client...) are imported only when
# that subcommand runs, so ``evaltools --help`` and ``--version`` answer at once; the
# help line is here for the top-level listing (a test checks it matches the module's).
_PLUGINS: list[tuple[str, str, str, str]] = [
    ("golden", "evaltools.cli.golden", "add_golden_parser", "check or build golden sets"),
    ("run", "evaltools.cli.runs", "add_run_parser",
     "generate a variant's outputs on a golden set (cached, resumable)"),
    ("import-outputs", "evaltools.cli.runs", "add_import_parser",
     "import outputs produced elsewhere (JSONL or CSV) as a run"),
    ("score", "evaltools.cli.scorers", "add_score_parser", "score runs on the golden set card's dimensions"),
    ("serve-local", "evaltools.cli.llm", "add_serve_local_parser",
     "serve the bundled SmolLM2-135M-Instruct model (OpenAI-compatible) until Ctrl-C"),
    ("gate", "evaltools.cli.gate", "add_gate_parser",
     "compare a candidate run with a baseline run: PASS, NEEDS_REVIEW or BLOCK"),
    ("calibrate", "evaltools.cli.calibration", "add_calibrate_parser",
     "agreement of the judge with human labels, and whether each judge dimension can gate"),
    ("monitor", "evaltools.cli.monitor", "add_monitor_parser",
     "monitor production logs: per-window metrics and alerts on rolling baselines"),
    ("report", "evaltools.cli.report", "add_report_parser",
     "render a report notebook (eval, comparison, calibration, monitoring) to self-contained HTML"),
    ("demo", "evaltools.cli.demo", "add_demo_parser",
     "score the example golden set's recorded runs and write reports"),
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
        add = getattr(importlib.import_module(module), function)
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
        from evaltools._util import evaltools_version

        parser.exit(message=f"evaltools {evaltools_version()}\n")


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

'evaltools COMMAND --help' describes a command and its options. Exit codes, for every command: 0 success
(gate PASS), 2 could not do the job (bad usage or input, or a failure the message names), 3 a human must
look (gate NEEDS_REVIEW, golden check findings, monitor --fail-on-alert with alerts), 4 gate BLOCK,
130 interrupted (Ctrl-C: finished work is kept; rerun the same command to resume)."""


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


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every available subcommand.

    Returns:
        The top-level parser.
    """
    parser = _Parser(prog="evaltools", description=DESCRIPTION, epilog=EPILOG, formatter_class=_HelpFormatter)
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

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
        return EXIT_ERROR
    warnings.simplefilter("default")
    try:
        return int(handler(args) or EXIT_OK)
    except EvaltoolsError as exc:
        print(f"evaltools {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        kept = getattr(exc, "kept", None)
        done = f"{kept} items kept" if kept is not None else "finished work is kept"
        print(f"\ninterrupted: {done}, rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
