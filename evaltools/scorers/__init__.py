"""Scorers: structured (match, regex, JSON, schema, fields), semantic (embeddings), judge and refusal.

Every scorer returns a :class:`Score`; :func:`score_run` applies a golden set's
dimensions to a run and returns the long score table.
"""

from evaltools.embeddings import Embedder, cosine_similarity, default_embedder
from evaltools.scorers._rubric import Rubric, load_rubric, rubric_names
from evaltools.scorers._run import (
    SCORE_COLUMNS,
    SCORES_FILE,
    Dimension,
    ScorerSpec,
    dimensions_from_card,
    ensure_scored,
    get_scorer,
    judge_for_scoring,
    read_scores,
    register_scorer,
    score_hint,
    score_outputs,
    score_run,
    scorer_names,
    summarize_scores,
)
from evaltools.scorers._types import ITEM_LEVEL_REASONS, Score, ScoreKind
from evaltools.scorers.judge import JudgeClient, PairwiseJudge, RubricJudge, judge_batch
from evaltools.scorers.semantic import SemanticSimilarity
from evaltools.scorers.structured import (
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
    "load_rubric",
    "score_hint",
    "SCORES_FILE",
    "judge_for_scoring",
    "JudgeClient",
    "PairwiseJudge",
    "RubricJudge",
    "judge_batch",
    "Rubric",
    "rubric_names",
]
