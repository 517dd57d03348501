"""The ``evaltools`` command line: one module per command group, one exit-code policy.

``evaltools.cli.main(argv)`` runs a command and returns its exit code: 0
success (gate PASS), 2 the command could not do its job (bad usage, bad input,
or a failure the message names), 3 a human must look (gate NEEDS_REVIEW,
golden-set findings, monitoring alerts with ``--fail-on-alert``), 4 gate
BLOCK, 130 interrupted. Library modules never import argparse; this package
is the only place that does.
"""

from __future__ import annotations

from evaltools._util import EXIT_BLOCK, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_REVIEW
from evaltools.cli._main import build_parser, main

__all__ = ["EXIT_BLOCK", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_REVIEW", "build_parser", "main"]
