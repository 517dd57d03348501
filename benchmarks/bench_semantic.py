"""Embedding scorer throughput vs raw SentenceTransformer.encode, and cached rescoring.

Run: .venv/bin/python benchmarks/bench_semantic.py
Measures, in one process on the same 300 output/ideal pairs:
  1. raw: SentenceTransformer.encode of the 600 texts (batch 64, normalized), the baseline;
  2. scorer, cold cache: SemanticSimilarity.score_batch (hashing, SQLite cache writes, cosine);
  3. scorer, warm cache in a fresh Embedder (as a rerun in a new process): encodings and time.
Prints the throughput ratio scorer/raw (target >= 0.9) and the rescoring time (target < 5 s, 0 encodings).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from evaltools import load_golden
from evaltools.scorers import Embedder, SemanticSimilarity


def pairs(n: int = 300) -> tuple[list[str], list[str]]:
    gs = load_golden(Path(__file__).resolve().parents[1] / "golden" / "support", warn=False)
    # 250 ideals plus, to reach n distinct references, the longest queries (all texts distinct)
    extra = sorted((str(item["query"]) for item in gs.items), key=len, reverse=True)
    ideals = ([item["ideal"] for item in gs.items] + extra)[:n]
    rng = np.random.default_rng(0)
    outputs = []
    for text in ideals:  # a plausible "model output": the ideal with words dropped and reordered
        words = text.split()
        keep = [w for w in words if rng.random() > 0.2] or words
        outputs.append(" ".join(keep[::-1] if rng.random() < 0.3 else keep))
    return outputs, ideals


def main() -> None:
    outputs, ideals = pairs()
    texts = outputs + ideals
    emb = Embedder(cache_path=False)
    model = emb.model
    model.encode(texts[:64], batch_size=64, normalize_embeddings=True)  # warm-up both paths alike
    repeats = 3
    raw, scored = [], []
    for r in range(repeats):
        t = time.perf_counter()
        model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        raw.append(time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as d:
            cold = Embedder(cache_path=Path(d) / "e.sqlite")
            cold._model = model  # same loaded weights: measure the scorer's overhead, not a second load
            t = time.perf_counter()
            SemanticSimilarity(embedder=cold).score_batch(outputs, ideals)
            scored.append(time.perf_counter() - t)
            assert cold.n_encoded == len(set(texts))
            cold.close()
            warm = Embedder(cache_path=Path(d) / "e.sqlite")
            t = time.perf_counter()
            SemanticSimilarity(embedder=warm).score_batch(outputs, ideals)
            rescore = time.perf_counter() - t
            warm_encoded = warm.n_encoded
            warm.close()
    raw_tp = len(texts) / min(raw)
    scorer_tp = len(texts) / min(scored)
    print(f"pairs: {len(outputs)}  texts: {len(texts)}  best of {repeats}")
    print(f"raw encode:        {min(raw):.2f} s  ({raw_tp:.0f} texts/s)")
    print(f"scorer, cold:      {min(scored):.2f} s  ({scorer_tp:.0f} texts/s)")
    print(f"throughput ratio scorer/raw: {scorer_tp / raw_tp:.3f}  (target >= 0.9)")
    print(f"rescoring unchanged run (fresh embedder, warm disk cache): {rescore:.3f} s, {warm_encoded} encodings")


if __name__ == "__main__":
    main()
