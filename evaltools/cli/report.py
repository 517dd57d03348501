"""``evaltools report``: the command-line front of :func:`evaltools.report.render_report`.

``evaltools report NAME --param KEY=VALUE ... --out reports/x.html`` executes
``notebooks/NAME.ipynb`` and writes one offline HTML file plus
``reports/index.html``; ``--list-params`` prints what the notebook accepts.
"""

from __future__ import annotations

import argparse
import ast
import json
from collections.abc import Mapping, Sequence
from typing import Any

from evaltools.errors import ConfigError


def parse_param(pairs: Sequence[str], declared: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` command-line parameters.

    A value that reads as JSON (a number, ``true``, ``null``, ``[...]``,
    ``{...}``) is parsed; anything else is a string. A key given several
    times collects a list, and a single value for a parameter whose declared
    default is a list becomes a one-item list.

    Args:
        pairs: ``KEY=VALUE`` strings.
        declared: the notebook's parameters (:func:`notebook_parameters`).

    Returns:
        The parameters.

    Raises:
        ConfigError: an item without ``=``.

    Examples:
        >>> parse_param(["runs=runs/a", "runs=runs/b", "alpha=0.1", "title=Q3 eval"])
        {'runs': ['runs/a', 'runs/b'], 'alpha': 0.1, 'title': 'Q3 eval'}
        >>> parse_param(["runs=runs/a"], {"runs": {"default": "[]"}})
        {'runs': ['runs/a']}
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"Parameters are KEY=VALUE, e.g. --param golden=golden/support. Got {pair!r} instead.")
        key = key.strip()
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        if key in out:
            prev = out[key]
            out[key] = (prev if isinstance(prev, list) else [prev]) + (value if isinstance(value, list) else [value])
        else:
            out[key] = value
    for key, value in out.items():
        spec = (declared or {}).get(key) or {}
        try:
            default = ast.literal_eval(str(spec.get("default", "None")))
        except (ValueError, SyntaxError):
            default = None
        if isinstance(default, list) and not isinstance(value, list):
            out[key] = [value]
    return out


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``evaltools report NAME --param k=v ... --out reports/x.html``.

    Args:
        subparsers: the top-level parser's subparsers.

    Returns:
        The ``report`` parser (its handler is :func:`report_command`).
    """
    p = subparsers.add_parser(
        "report",
        help="render a report notebook (eval, comparison, calibration, monitoring) to self-contained HTML",
        description="Execute notebooks/<NAME>.ipynb with papermill and export it to one offline HTML file; "
        "reports/index.html links every report.",
    )
    p.add_argument("name", help="report name (eval, comparison, calibration, monitoring) or a notebook path")
    p.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                   help="a notebook parameter; repeat a key for a list "
                        "(--param runs=runs/a --param runs=runs/b)")  # fmt: skip
    p.add_argument("--out", "-o", help="the HTML file (default reports/NAME.html)")
    p.add_argument("--timeout", type=float, default=600, help="seconds each cell may run")
    p.add_argument("--title", help="report title")
    p.add_argument("--no-keep-executed", action="store_true", help="delete the executed notebook on success")
    p.add_argument("--list-params", action="store_true", help="print the notebook's parameters and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar over the notebook's cells")
    p.set_defaults(handler=report_command)
    parser: argparse.ArgumentParser = p
    return parser


def report_command(args: argparse.Namespace) -> int:
    """Handle ``evaltools report``.

    Args:
        args: parsed arguments.

    Returns:
        0 on success (errors are raised as :class:`~evaltools.errors.EvaltoolsError`).
    """
    from evaltools.report import INDEX_FILE, notebook_parameters, render_report

    declared = notebook_parameters(args.name)
    if args.list_params:
        for spec in declared.values():
            help_text = f"  # {spec['help']}" if spec.get("help") else ""
            print(f"{spec['name']} = {spec['default']}{help_text}")
        return 0
    params = parse_param(args.param, declared)
    done = render_report(args.name, params, args.out, keep_executed=not args.no_keep_executed,
                         timeout=args.timeout, title=args.title,
                         progress=not getattr(args, "no_progress", False))  # fmt: skip
    print(done)
    print(f"index: {done.path.parent / INDEX_FILE}")
    return 0
