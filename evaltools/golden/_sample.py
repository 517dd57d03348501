"""Stratified sampling of golden-set candidates from production logs (STATS.md 4.1)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evaltools.errors import ConfigError

if TYPE_CHECKING:  # pandas and numpy load where they are used: `evaltools run` needs neither
    import numpy as np
    import pandas as pd

from evaltools.golden._qa import _normalize_text, _query_text
from evaltools.golden._set import DEFAULT_TARGETS, GoldenSetWarning


def largest_remainder(n: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Allocate ``n`` units to strata by largest-remainder (Hamilton) rounding.

    Args:
        n: the total to allocate.
        shares: stratum -> target share (need not sum exactly to 1; they are normalized).

    Returns:
        stratum -> count; the counts add up to ``n`` exactly. Ties in the
        fractional parts go to the stratum listed first.

    Examples:
        >>> largest_remainder(300, {"common": 0.6, "edge": 0.25, "adversarial": 0.15})
        {'common': 180, 'edge': 75, 'adversarial': 45}
        >>> largest_remainder(10, {"a": 1/3, "b": 1/3, "c": 1/3})  # 3.33 each; the spare unit goes to 'a'
        {'a': 4, 'b': 3, 'c': 3}
    """
    total = sum(shares.values())
    if n < 0 or total <= 0:
        raise ConfigError(f"Cannot allocate {n} units over shares {dict(shares)!r}.")
    quotas = {k: n * v / total for k, v in shares.items()}
    alloc = {k: math.floor(q) for k, q in quotas.items()}
    spare = n - sum(alloc.values())
    order = sorted(quotas, key=lambda k: (-(quotas[k] - alloc[k]), list(shares).index(k)))
    for k in order[:spare]:
        alloc[k] += 1
    return alloc


@dataclass(frozen=True)
class GoldenSample:
    """What :func:`sample_golden` drew: the rows, and how (seed, allocation, duplicates removed)."""

    rows: pd.DataFrame
    """The sampled rows, with ``inclusion_prob``, ``stratum_pool_size`` and ``stratum_short``."""
    seed: int
    """The seed that reproduces the draw."""
    allocation: dict[str, int]
    """Rows allocated to each stratum (largest remainder)."""
    exact_duplicates_removed: int
    """Pool rows dropped as exact duplicates (case and whitespace folded)."""
    near_duplicates_removed: int
    """Pool rows dropped as near duplicates (embedding cosine above the threshold)."""

    def __len__(self) -> int:
        return len(self.rows)

    def summary(self) -> str:
        """One line: how many rows, the allocation, the duplicates removed and the seed."""
        return (
            f"Sampled {len(self.rows)} rows (allocation {self.allocation}, removed "
            f"{self.exact_duplicates_removed} exact and {self.near_duplicates_removed} near duplicates, "
            f"seed {self.seed})."
        )

    def to_records(self) -> list[dict[str, Any]]:
        """The rows as JSON-ready records (for ``items.jsonl`` after labelling ideals)."""
        return list(self.rows.to_dict(orient="records"))


def sample_golden(
    log_frame: pd.DataFrame,
    n: int,
    *,
    targets: Mapping[str, float] | None = None,
    seed: int,
    stratum_col: str = "stratum",
    text_col: str = "query",
    near_threshold: float = 0.92,
    embedder: Any = None,
) -> GoldenSample:
    """Draw a stratified sample of queries from a pool of production logs.

    Steps (STATS.md §4.1): drop exact duplicates (case/whitespace folded) and
    near-duplicates (embedding cosine above ``near_threshold``, keeping the
    first occurrence); allocate ``n`` over strata by largest remainder; draw
    each stratum by simple random sampling without replacement with ``seed``;
    store each row's inclusion probability ``n_h / N_h``.

    Args:
        log_frame: the pool, one row per logged query, with a stratum column.
        n: the sample size.
        targets: stratum -> share (default 60/25/15).
        seed: the random seed (required: samples must be reproducible).
        stratum_col: the column holding the stratum label.
        text_col: the column holding the query text.
        near_threshold: cosine above which two queries are near-duplicates.
        embedder: see :func:`check_golden`.

    Returns:
        A :class:`GoldenSample`: its ``rows`` carry the extra columns
        ``inclusion_prob``, ``stratum_pool_size`` and ``stratum_short`` (True
        when the stratum had fewer rows than its allocation, so the whole
        stratum was taken); it also records the seed, the allocation and the
        duplicate counts.

    Raises:
        ConfigError: missing columns, an unknown stratum in ``targets``, or ``n`` < 1.
    """
    import numpy as np
    import pandas as pd

    targets = dict(targets or DEFAULT_TARGETS)
    for col in (stratum_col, text_col):
        if col not in log_frame.columns:
            raise ConfigError(
                f"The log frame has no column {col!r}. Columns: {list(log_frame.columns)}. "
                f"Pass stratum_col=/text_col= to name yours."
            )
    if n < 1:
        raise ConfigError(f"The 'n' parameter of sample_golden must be a positive integer. Got {n!r} instead.")
    pool = log_frame.reset_index(drop=True)
    texts = [_query_text(q) for q in pool[text_col]]
    keys = [_normalize_text(t) for t in texts]
    keep = ~pd.Series(keys).duplicated().to_numpy()
    n_exact = int((~keep).sum())
    pool, texts = pool[keep].reset_index(drop=True), [t for t, k in zip(texts, keep, strict=True) if k]
    n_near = 0
    if len(pool) > 1:
        if embedder is None:
            from evaltools.embeddings import default_embedder

            embedder = default_embedder()
        emb = np.asarray(embedder.encode(texts))
        drop = _greedy_near_duplicates(emb, near_threshold)
        n_near = int(drop.sum())
        pool = pool[~drop].reset_index(drop=True)
    alloc = largest_remainder(n, targets)
    rng = np.random.default_rng(seed)
    parts = []
    for stratum, n_h in alloc.items():
        group = pool[pool[stratum_col] == stratum]
        size = len(group)
        take = min(n_h, size)
        if take < n_h:
            warnings.warn(
                f"Stratum {stratum!r} has {size} unique rows in the pool but {n_h} were allocated; "
                "taking the whole stratum.",
                GoldenSetWarning,
                stacklevel=2,
            )
        idx = rng.choice(size, size=take, replace=False) if take else np.array([], dtype=int)
        part = group.iloc[np.sort(idx)].copy()
        part["inclusion_prob"] = take / size if size else math.nan
        part["stratum_pool_size"] = size
        part["stratum_short"] = take < n_h
        parts.append(part)
    out = pd.concat(parts, ignore_index=True) if parts else pool.iloc[0:0]
    return GoldenSample(
        rows=out, seed=seed, allocation=dict(alloc), exact_duplicates_removed=int(n_exact),
        near_duplicates_removed=int(n_near),
    )  # fmt: skip


def _greedy_near_duplicates(emb: np.ndarray, threshold: float) -> np.ndarray:
    """Mark rows that are near-duplicates of an earlier kept row (first occurrence wins)."""
    import numpy as np

    n = len(emb)
    drop = np.zeros(n, dtype=bool)
    # Blocked to keep memory bounded on large pools.
    block = 2048
    for start in range(0, n, block):
        sims = emb[start : start + block] @ emb.T
        for r in range(sims.shape[0]):
            i = start + r
            if drop[i]:
                continue
            later = np.nonzero(sims[r, i + 1 :] > threshold)[0] + i + 1
            drop[later] = True
    return drop
