"""Scorers: structured (match, regex, JSON, schema, fields), semantic (embeddings), judge and refusal.

Every scorer returns a :class:`Score`; :func:`score_run` applies a golden set's
dimensions to a run and returns the long score table.
"""

from ._run import (
    SCORE_COLUMNS,
    Dimension,
    ScorerSpec,
    dimensions_from_card,
    ensure_scored,
    get_scorer,
    read_scores,
    register_scorer,
    score_outputs,
    score_run,
    scorer_names,
    summarize_scores,
)
from ._types import ITEM_LEVEL_REASONS, Score, ScoreKind
from .semantic import Embedder, SemanticSimilarity, cosine_similarity, default_embedder
from .structured import (
    exact_match,
    field_match,
    json_schema_valid,
    json_valid,
    normalize_text,
    normalized_match,
    parse_json_output,
    regex_match,
    required_fields,
)

__all__ = [
    "ITEM_LEVEL_REASONS",
    "SCORE_COLUMNS",
    "Dimension",
    "Embedder",
    "Score",
    "ScoreKind",
    "ScorerSpec",
    "SemanticSimilarity",
    "cosine_similarity",
    "default_embedder",
    "dimensions_from_card",
    "ensure_scored",
    "exact_match",
    "field_match",
    "get_scorer",
    "json_schema_valid",
    "json_valid",
    "normalize_text",
    "normalized_match",
    "parse_json_output",
    "read_scores",
    "regex_match",
    "register_scorer",
    "required_fields",
    "score_outputs",
    "score_run",
    "scorer_names",
    "summarize_scores",
]
