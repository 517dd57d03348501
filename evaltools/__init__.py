"""evaltools: does your LLM app get better or worse on your own users' queries?

The public surface, in the order of the workflow: golden sets, runs, scorers,
statistics and the gate, judge calibration, monitoring, reports.
"""

from importlib.metadata import PackageNotFoundError, version

from .errors import (
    ConfigError,
    LogError,
    EvaltoolsError,
    GoldenSetError,
    InputError,
    RunError,
    SchemaError,
    VersionMismatchError,
)
from .golden import (
    DEFAULT_TARGETS,
    GoldenCheck,
    GoldenSet,
    GoldenSetWarning,
    check_golden,
    largest_remainder,
    load_golden,
    sample_golden,
)
from .scorers import (
    Dimension,
    Embedder,
    Score,
    SemanticSimilarity,
    dimensions_from_card,
    exact_match,
    field_match,
    json_schema_valid,
    json_valid,
    normalized_match,
    read_scores,
    regex_match,
    required_fields,
    score_outputs,
    score_run,
    summarize_scores,
)

from .stats import (
    Comparison,
    PairedResult,
    PostStratification,
    UnmatchedItemsError,
    compare,
    mde,
    n_required,
    post_stratify,
    power,
    wilson_interval,
)
from .gate import (
    EXIT_BLOCK,
    EXIT_NEEDS_REVIEW,
    EXIT_PASS,
    GateResult,
    Verdict,
    aa_noise_floor,
    gate,
)
from .calibration import CalibrationReport, calibrate
from .calibration_ppi import PPIResult, ppi_mean, ppi_mean_difference
from .calibration_pairwise import PairwiseCalibration, calibrate_pairwise, length_bias, position_bias
from .rubric import Rubric, load_rubric, rubric_names
from .labels import append_label, calibration_subset, labels_from_csv, load_labels
from .scorers.judge import JudgeClient, PairwiseJudge, RubricJudge
from .annotate import Annotator
from .variant import Variant
from .runs import Run, import_outputs, load_run
from .generation import agenerate, generate
from .llm import LLMCache, LLMClient, LLMCompleter
from .report import render_report, write_index
from .monitor import MonitorResult, detect_anomalies, estimate_judged_mean, load_logs, select_for_judging
from .monitor import monitor as monitor_logs
from .synthetic import generate_synthetic_logs

try:
    __version__ = version("evaltools")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = [
    "DEFAULT_TARGETS",
    "ConfigError",
    "Dimension",
    "Embedder",
    "EvaltoolsError",
    "GoldenCheck",
    "GoldenSet",
    "GoldenSetError",
    "GoldenSetWarning",
    "InputError",
    "RunError",
    "SchemaError",
    "Score",
    "SemanticSimilarity",
    "VersionMismatchError",
    "__version__",
    "check_golden",
    "dimensions_from_card",
    "exact_match",
    "field_match",
    "json_schema_valid",
    "json_valid",
    "largest_remainder",
    "load_golden",
    "normalized_match",
    "read_scores",
    "regex_match",
    "required_fields",
    "sample_golden",
    "score_outputs",
    "score_run",
    "summarize_scores",
    "Comparison",
    "PairedResult",
    "PostStratification",
    "UnmatchedItemsError",
    "compare",
    "mde",
    "n_required",
    "post_stratify",
    "power",
    "wilson_interval",
    "EXIT_BLOCK",
    "EXIT_NEEDS_REVIEW",
    "EXIT_PASS",
    "GateResult",
    "Verdict",
    "aa_noise_floor",
    "gate",
    "CalibrationReport",
    "calibrate",
    "PPIResult",
    "ppi_mean",
    "ppi_mean_difference",
    "PairwiseCalibration",
    "calibrate_pairwise",
    "length_bias",
    "position_bias",
    "Rubric",
    "load_rubric",
    "rubric_names",
    "append_label",
    "calibration_subset",
    "labels_from_csv",
    "load_labels",
    "JudgeClient",
    "PairwiseJudge",
    "RubricJudge",
    "Annotator",
    "Variant",
    "Run",
    "import_outputs",
    "load_run",
    "generate",
    "agenerate",
    "LLMCache",
    "LLMClient",
    "LLMCompleter",
    "render_report",
    "write_index",
    "LogError",
    "MonitorResult",
    "detect_anomalies",
    "estimate_judged_mean",
    "load_logs",
    "select_for_judging",
    "monitor_logs",
    "generate_synthetic_logs",
]
