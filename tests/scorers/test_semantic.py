import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from evaltools.errors import ConfigError, ModelLoadError
from evaltools.scorers import Embedder, SemanticSimilarity, cosine_similarity

SHARED = Path(os.environ.get("EVALTOOLS_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
STSB = SHARED / "stsb" / "stsb-en-test.csv"


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    return Embedder(cache_path=tmp_path_factory.mktemp("emb") / "embeddings.sqlite")


@pytest.mark.slow
def test_reproduces_published_stsb_spearman(embedder):
    if not STSB.exists():
        pytest.skip(f"shared data not found at {STSB}")
    df = pd.read_csv(STSB, header=None, names=["s1", "s2", "score"])
    assert len(df) == 1379
    cos = cosine_similarity(df["s1"].tolist(), df["s2"].tolist(), embedder=embedder)
    rho = spearmanr(cos, df["score"]).statistic
    # MTEB STSBenchmark (test) for all-MiniLM-L6-v2: 0.8203
    assert abs(rho - 0.8203) <= 0.002, rho


def test_similarity_orders_paraphrase_above_unrelated(embedder):
    scorer = SemanticSimilarity(threshold=0.5, embedder=embedder)
    ideal = "You can export all your data from Settings > Data > Export everything."
    close = scorer("Go to Settings, then Data, and choose Export everything to download all your data.", ideal)
    far = scorer("Our office is closed on public holidays.", ideal)
    assert close.value > 0.6 > far.value
    assert far.failure == "low_similarity" and close.failure is None
    assert scorer(None, ideal).reason == "no_output"
    assert scorer("x", "  ").reason == "empty_ideal"


def test_cache_persists_and_rerun_encodes_nothing(tmp_path):
    path = tmp_path / "emb.sqlite"
    texts = [f"question number {i} about refunds" for i in range(20)]
    first = Embedder(cache_path=path)
    a = first.encode(texts + texts[:5])  # duplicates encoded once
    assert first.n_encoded == 20
    first.close()
    second = Embedder(cache_path=path)
    b = second.encode(texts)
    assert second.n_encoded == 0 and second._model is None  # served from disk without loading the model
    np.testing.assert_allclose(a[:20], b, rtol=0, atol=0)
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)


def test_rescoring_300_pairs_from_cache_is_fast(tmp_path, embedder):
    outs = [f"Answer {i}: refunds for annual plans are possible within 30 days." for i in range(300)]
    ideals = [f"Ideal {i}: annual plans are refundable in full within 30 days." for i in range(300)]
    path = tmp_path / "c.sqlite"
    warm = Embedder(cache_path=path)
    SemanticSimilarity(embedder=warm).score_batch(outs, ideals)
    warm.close()
    cold_process_like = Embedder(cache_path=path)
    t = time.perf_counter()
    scores = SemanticSimilarity(embedder=cold_process_like).score_batch(outs, ideals)
    elapsed = time.perf_counter() - t
    assert cold_process_like.n_encoded == 0 and len(scores) == 300
    assert elapsed < 5.0


def test_offline_failure_is_clear(tmp_path):
    e = Embedder("sentence-transformers/some-model-that-is-not-here", cache_path=False)
    t = time.perf_counter()
    with pytest.raises(ModelLoadError, match="never downloads"):
        e.encode(["hello"])
    assert time.perf_counter() - t < 30  # fails fast, does not hang on the network


def test_bad_arguments():
    with pytest.raises(ConfigError, match="same length"):
        cosine_similarity(["a"], ["a", "b"], embedder=Embedder(cache_path=False))
    with pytest.raises(ConfigError, match="threshold"):
        SemanticSimilarity(threshold=2)
    with pytest.raises(ConfigError, match="batch_size"):
        Embedder(batch_size=0)
