"""``evaltools score``: apply a golden set's dimensions to runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from evaltools.scorers import SCORES_FILE, dimensions_from_card, judge_for_scoring, score_run, summarize_scores


def add_score_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``evaltools score`` to a subparsers object.

    Args:
        sub: what ``ArgumentParser.add_subparsers()`` returned.

    Returns:
        The new parser.
    """
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
    score.set_defaults(handler=score_command)

    return score


class _Counting:
    """A tqdm bar that also counts its steps (a disabled tqdm bar counts nothing)."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.count = 0

    def update(self, n: int = 1) -> None:
        self.count += n
        self.bar.update(n)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.bar.set_postfix_str(text, refresh=refresh)

    def close(self) -> None:
        self.bar.close()


def score_command(args: Any) -> int:
    """Handle ``evaltools score RUN... --golden DIR`` (see :mod:`evaltools.cli._main`).

    The runs are loaded first, so a wrong path is reported as a missing run.
    Judge dimensions are scored with ``--judge-base-url`` when given; else
    their verdicts are replayed offline from the recorded LLM cache
    (``--judge-cache``, default ``llm_cache.sqlite`` in the folder holding
    the run, as ``evaltools run`` writes it) when it exists; else they are
    skipped with a note saying how to score them. A verdict that was not
    recorded comes back unscored (``judge_call_failed``), never fetched.

    Args:
        args: the parsed ``score`` arguments.

    Returns:
        0 on success.

    Raises:
        Interrupted: Ctrl-C; says how many scores were kept (written runs,
            cached judge verdicts and embeddings).
    """
    import sys

    from evaltools.errors import Interrupted
    from evaltools.golden import load_golden
    from evaltools.runs import load_run

    runs = [load_run(r) for r in args.runs]
    gs = load_golden(args.golden)
    dims, judge = judge_for_scoring(
        dimensions_from_card(gs),
        runs_dir=Path(runs[0].path).parent,
        base_url=args.judge_base_url,
        model=args.judge_model,
        cache=args.judge_cache,
        offline=args.judge_offline,
        skip=args.skip_judge,
        api_key_env=args.judge_api_key_env,
        max_tokens=args.judge_max_tokens,
        note=lambda text: print(f"note: {text}", file=sys.stderr),
    )
    from tqdm.auto import tqdm

    kept = 0
    try:
        for run in runs:
            total = sum(sum(1 for it in gs.items if d.applies(it, calibration_ids=gs.calibration_ids)) for d in dims)
            bar = _Counting(tqdm(total=total, desc=f"scoring {run.id}", unit="score", disable=args.no_progress))
            try:
                table = score_run(run, gs, dims, judge_client=judge, progress=bar)
            except KeyboardInterrupt:
                kept += bar.count
                raise
            finally:
                bar.close()
            kept += len(table)
            print(f"Scored {run.path}: {len(table)} rows -> {Path(run.path) / SCORES_FILE}")
            print(summarize_scores(table).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    except KeyboardInterrupt:
        raise Interrupted(kept, "written score tables, the judge cache and the embedding cache") from None
    finally:
        if judge is not None:
            judge.client.close()
    return 0

