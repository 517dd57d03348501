"""``evaltools run`` and ``evaltools import-outputs``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from evaltools._util import EXIT_ERROR, EXIT_OK
from evaltools.golden import GoldenSet, load_golden
from evaltools.runs import Run, Variant, default_run_id, generate, import_outputs, load_run, session_line


def add_run_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``evaltools run`` (generate a variant's outputs) to a subparsers object.

    Args:
        subparsers: what ``ArgumentParser.add_subparsers()`` returned.

    Returns:
        The new parser, whose ``handler`` default is the function ``handler(args) -> int``.
    """
    p: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="generate a variant's outputs on a golden set (cached, resumable)",
        description="Generate a variant's outputs on a golden set into runs/<run_id>/. "
        "Rerun the same command to resume an interrupted run.",
    )
    p.add_argument("--golden", required=True, help="golden set folder, e.g. golden/support")
    p.add_argument("--variant", required=True, help="variant name from the card's variants: list")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL, else OpenAI)")
    p.add_argument("--model", help="override the variant's model")
    p.add_argument("--temperature", type=float, help="override the variant's temperature")
    p.add_argument("--max-tokens", type=int, help="override the variant's max_tokens")
    p.add_argument("--seed", type=int, help="override the variant's seed")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    p.add_argument(
        "--run-id", help="run id (default: <set>-<variant>-<hash of set version, variant and endpoint>)"
    )
    p.add_argument(
        "--endpoint",
        help="the endpoint's identity in the cache and manifest (default: the normalized base URL); "
        "name it when one server comes back at another URL",
    )
    p.add_argument("--runs-dir", default="runs", help="run store (default runs/)")
    p.add_argument("--cache", help="cache file (default <runs-dir>/llm_cache.sqlite)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="variable holding the API key")
    p.add_argument("--env-file", help=".env file to read the API key from")
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="wall-clock seconds per HTTP attempt, to the last byte (default 120)",
    )
    p.add_argument(
        "--item-timeout", type=float, help="wall-clock seconds per item over all attempts (default: no extra cap)"
    )
    p.add_argument("--max-retries", type=int, default=4, help="retries per item (default 4)")
    p.add_argument("--keep-errors", action="store_true", help="when resuming, do not retry failed items")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_command)
    return p


def run_command(args: argparse.Namespace) -> int:
    """Handle ``evaltools run``; returns 0 when every item has an output, else 2 (rerun to retry them)."""
    gs = load_golden(args.golden, warn=False)
    variant = Variant.from_card(gs, args.variant)
    overrides = {k: getattr(args, k) for k in ("model", "temperature", "max_tokens", "seed")}
    variant = replace(variant, **{k: v for k, v in overrides.items() if v is not None})
    cache: str | bool = False if args.no_cache else (args.cache or True)
    run_dir = Path(args.runs_dir) / (args.run_id or default_run_id(variant, gs))
    try:
        run = _generate_for_cli(args, variant, gs, cache)
    except KeyboardInterrupt:
        from evaltools.errors import Interrupted

        kept = len(load_run(run_dir).outputs) if (run_dir / "manifest.json").exists() else 0
        raise Interrupted(kept, str(run_dir / "outputs.jsonl")) from None
    summary = run.summary
    print(summary)
    print(f"{session_line(run.session or {})}; run folder: {run.path}")
    if summary.n_errors:
        first = run.outputs.loc[run.outputs["error"].notna(), "error"].iloc[0]
        print(f"{summary.n_errors} items failed (first: {first}). Rerun the command to retry them.", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _generate_for_cli(args: argparse.Namespace, variant: Variant, gs: GoldenSet, cache: str | bool) -> Run:
    return generate(
        variant,
        gs,
        base_url=args.base_url,
        run_id=args.run_id,
        runs_dir=args.runs_dir,
        concurrency=args.concurrency,
        cache=cache,
        progress=not args.no_progress,
        retry_errors=not args.keep_errors,
        api_key_env=args.api_key_env,
        env_file=args.env_file,
        timeout_s=args.timeout,
        max_retries=args.max_retries,
        item_timeout_s=args.item_timeout,
        endpoint=args.endpoint,
    )


def add_import_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``evaltools import-outputs`` to a subparsers object.

    Args:
        subparsers: what ``ArgumentParser.add_subparsers()`` returned.

    Returns:
        The new parser, whose ``handler`` default is the function ``handler(args) -> int``.
    """
    p: argparse.ArgumentParser = subparsers.add_parser(
        "import-outputs",
        help="import outputs produced elsewhere (JSONL or CSV) as a run",
        description="Import outputs produced elsewhere (JSONL or CSV with id and output columns) "
        "into runs/<run_id>/. Ids not in the golden set are refused; nothing is written on error.",
    )
    p.add_argument("src", help="the JSONL or CSV file")
    p.add_argument("--golden", required=True, help="golden set folder")
    p.add_argument("--run-id", required=True, help="the new run's id")
    p.add_argument("--runs-dir", default="runs", help="run store (default runs/)")
    p.add_argument("--id-column", default="id", help="column holding item ids (default id)")
    p.add_argument("--output-column", default="output", help="column holding outputs (default output)")
    p.add_argument("--variant", help="variant name from the card that produced the outputs")
    p.add_argument("--format", choices=("jsonl", "csv"), help="file format (default: from the extension)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run of that id")
    p.add_argument(
        "--keep-empty",
        action="store_true",
        help="CSV: import empty output cells as empty answers (default: as missing outputs)",
    )
    p.set_defaults(handler=import_command)
    return p


def import_command(args: argparse.Namespace) -> int:
    """Handle ``evaltools import-outputs``; returns 0."""
    gs = load_golden(args.golden, warn=False)
    variant = Variant.from_card(gs, args.variant) if args.variant else None
    run = import_outputs(
        args.src,
        gs,
        run_id=args.run_id,
        runs_dir=args.runs_dir,
        variant=variant,
        id_column=args.id_column,
        output_column=args.output_column,
        format=args.format,
        overwrite=args.overwrite,
        keep_empty=args.keep_empty,
    )
    print(run.summary)
    print(f"run folder: {run.path}")
    return 0

