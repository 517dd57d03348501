"""Benchmark the LLM layer against a fake server that answers every request after 200 ms.

Targets (issue 3):
* concurrency 16, 400 requests: achieved throughput / ideal (16 / 0.2 s = 80/s) >= 0.9;
* warm-cache overhead per call < 1 ms.

Also printed, for context, measured in the same run: the raw ``openai`` client
with an ``asyncio.Semaphore`` (no cache, no retries layer) on the same server,
and :func:`evaltools.generation.generate` end to end (a fresh client, an fsync per
recorded line, the manifest and the final read-back).

Run: ``.venv/bin/python benchmarks/bench_llm.py`` (about 30 s).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DELAY_S = 0.2
CONCURRENCY = 16
N = 400


def start_server() -> tuple[subprocess.Popen[str], str]:
    # A separate process, so the server's threads do not share the client's GIL.
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "fakeserver.py"), "--delay", str(DELAY_S)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def raw_openai(base_url: str, texts: list[str]) -> float:
    import openai

    async def main() -> float:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-no-key", max_retries=0)
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(t: str) -> None:
            async with sem:
                await client.chat.completions.create(model="m", messages=[{"role": "user", "content": t}])

        start = time.perf_counter()
        await asyncio.gather(*(one(t) for t in texts))
        elapsed = time.perf_counter() - start
        await client.close()
        return elapsed

    return asyncio.run(main())


def main() -> int:
    from evaltools.generation import generate
    from evaltools.golden import load_golden
    from evaltools.llm import ChatRequest, LLMClient, LLMCompleter
    from evaltools.variant import Variant

    proc, base_url = start_server()
    tmp = Path(tempfile.mkdtemp(prefix="bench-llm-"))
    try:
        ideal = CONCURRENCY / DELAY_S
        # warm-up (imports, first connections)
        LLMClient(base_url, cache=None).complete_many([ChatRequest("m", [{"role": "user", "content": "w"}])] * 4)

        raw_s = raw_openai(base_url, [f"raw {i}" for i in range(N)])

        requests = [ChatRequest("m", [{"role": "user", "content": f"question {i}"}], temperature=0) for i in range(N)]
        client = LLMClient(base_url, cache=tmp / "cache.sqlite", concurrency=CONCURRENCY)
        start = time.perf_counter()
        cold = client.complete_many(requests)
        cold_s = time.perf_counter() - start
        assert all(c.ok and not c.cached for c in cold), "cold run had errors"

        start = time.perf_counter()
        warm = client.complete_many(requests)
        warm_batch_s = time.perf_counter() - start
        assert all(c.cached for c in warm)

        judge = LLMCompleter("m", client=client, temperature=0, max_tokens=None, seed=None)
        prompts = [[{"role": "user", "content": f"question {i}"}] for i in range(N)]
        start = time.perf_counter()
        for p in prompts:
            judge.complete(p)
        warm_single_s = time.perf_counter() - start
        assert client.stats.calls == N, "the warm passes made calls"
        client.close()

        golden = tmp / "golden"
        golden.mkdir()
        with open(golden / "items.jsonl", "w") as fh:
            for i in range(N):
                fh.write(
                    json.dumps({"id": f"i{i:04d}", "stratum": "common", "query": f"generate {i}", "ideal": "x"}) + "\n"
                )
        gs = load_golden(golden, warn=False)  # outside the clock: importing jsonschema alone takes ~1 s
        start = time.perf_counter()
        run = generate(
            Variant("bench", "m", max_tokens=None),
            gs,
            base_url=base_url,
            runs_dir=tmp / "runs",
            concurrency=CONCURRENCY,
            cache=False,
            progress=False,
        )
        gen_s = time.perf_counter() - start
        assert run.summary.ok == N
    finally:
        proc.terminate()
        proc.wait()

    ratio = (N / cold_s) / ideal
    print(
        f"fake server: {DELAY_S * 1000:.0f} ms per answer; concurrency {CONCURRENCY}; {N} requests; "
        f"ideal {ideal:.0f} req/s"
    )
    print(f"raw openai client (baseline) : {N / raw_s:6.1f} req/s  ratio to ideal {(N / raw_s) / ideal:.3f}")
    print(
        f"LLMClient, cold cache        : {N / cold_s:6.1f} req/s  ratio to ideal {ratio:.3f}  "
        f"ratio to raw client {raw_s / cold_s:.3f}  [target >= 0.9 of ideal: {'PASS' if ratio >= 0.9 else 'FAIL'}]"
    )
    print(
        f"generate() end to end        : {N / gen_s:6.1f} req/s  ratio to ideal {(N / gen_s) / ideal:.3f}  "
        "(fsync per recorded line)"
    )
    batch_ms = warm_batch_s / N * 1000
    single_ms = warm_single_s / N * 1000
    worst = max(batch_ms, single_ms)
    print(f"warm cache, complete_many    : {batch_ms:.3f} ms per call")
    print(f"warm cache, sync complete()  : {single_ms:.3f} ms per call  (the judge's path)")
    print(f"warm-cache overhead per call : {worst:.3f} ms  [target < 1 ms: {'PASS' if worst < 1 else 'FAIL'}]")
    return 0 if ratio >= 0.9 and worst < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
