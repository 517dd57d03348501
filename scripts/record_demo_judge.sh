#!/usr/bin/env bash
# Record the bundled local judge's verdicts on the demo runs (card dimensions with scorer: judge),
# so the demo replays them from runs/llm_cache.sqlite with no LLM call.
#
# Needs the local model (scripts/install.sh --local). Run after scripts/record_demo_runs.sh.
# The judge prompts are reproducible because the card fixes the fence key (nonce_key), and the
# judge's sampling settings are evaltools.demo.DEMO_JUDGE: change either and the cache misses.
# Interrupted? Run it again: finished verdicts come from the cache.
# Arguments: run ids to judge (default: every recorded run of the set). Two runs judged by two
# invocations at once, each with its own server, take half the time on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/python - "$@" <<'PY'
import sys
import time

from evaltools.demo import DEMO_JUDGE, find_runs
from evaltools.golden import load_golden
from evaltools.llm import LLMCompleter
from evaltools.llm import local_server
from evaltools.scorers import dimensions_from_card, score_run

golden = load_golden("golden/support")
dims = [d for d in dimensions_from_card(golden) if d.scorer == "judge"]
with local_server() as server:
    print(f"local judge ready at {server.base_url} in {server.startup_s:.1f} s", flush=True)
    judge = LLMCompleter(
        base_url=server.base_url, endpoint=server.endpoint, cache="runs/llm_cache.sqlite", api_key_env=None, **DEMO_JUDGE
    )
    wanted = set(sys.argv[1:])
    for run in find_runs("runs", golden.name):
        if wanted and run.name not in wanted:
            continue
        t = time.perf_counter()
        table = score_run(run, golden, dims, judge_client=judge, write=False)
        unscored = table["value"].isna().sum()
        print(f"{run.name}: {len(table)} verdicts in {time.perf_counter() - t:.0f} s, {unscored} unscored", flush=True)
PY
