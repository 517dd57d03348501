"""Runs: a variant's outputs on a golden set.

A :class:`Variant` (model, system prompt, parameters) answers every golden
query through :func:`generate` (or :func:`agenerate`); the run store keeps
``runs/<id>/manifest.json`` and the append-only ``outputs.jsonl``, resumable
and locked against a second writer. :func:`import_outputs` brings in outputs
produced elsewhere; :func:`load_run` reads a run back.
"""

from __future__ import annotations

from evaltools.runs._generate import (
    agenerate,
    default_run_id,
    generate,
    session_line,
)
from evaltools.runs._store import (
    OUTPUT_FIELDS,
    MissingOutputsWarning,
    Run,
    RunLock,
    RunSummary,
    import_outputs,
    load_run,
)
from evaltools.runs._variant import (
    StructuredOutput,
    Variant,
)

__all__ = [
    "StructuredOutput",
    "Variant",
    "OUTPUT_FIELDS",
    "MissingOutputsWarning",
    "Run",
    "RunLock",
    "RunSummary",
    "import_outputs",
    "load_run",
    "agenerate",
    "default_run_id",
    "generate",
    "session_line",
]
