"""evaltools: does your LLM app get better or worse on your own users' queries?

The public surface, in the order of the workflow: golden sets, runs, scorers,
statistics and the gate, judge calibration, monitoring, reports.

``import evaltools`` is cheap: apart from the errors, every public name is
imported on first use (PEP 562 ``__getattr__``), so a command that runs a
golden set never pays for statsmodels, scikit-learn, plotly, papermill or the
embedding stack. The ``if TYPE_CHECKING:`` block below is the one list of
public names and where they live: type checkers read it as ordinary imports,
and :func:`_lazy_names` reads the same block to resolve a name when it is
first asked for.
"""

from __future__ import annotations

import ast
import importlib
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import (
    ConfigError,
    EvaltoolsError,
    GoldenSetError,
    InputError,
    LogError,
    RunError,
    SchemaError,
    VersionMismatchError,
)

if TYPE_CHECKING:
    from .annotate import Annotator
    from .calibration import CalibrationReport, calibrate
    from .calibration_pairwise import PairwiseCalibration, calibrate_pairwise, length_bias, position_bias
    from .calibration_ppi import PPIResult, ppi_mean, ppi_mean_difference
    from .gate import (
        EXIT_BLOCK,
        EXIT_NEEDS_REVIEW,
        EXIT_PASS,
        GateResult,
        Verdict,
        aa_noise_floor,
        gate,
    )
    from .generation import agenerate, generate
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
    from .labels import append_label, calibration_subset, labels_from_csv, load_labels
    from .llm import LLMCache, LLMClient, LLMCompleter
    from .monitor import MonitorResult, detect_anomalies, estimate_judged_mean, load_logs, select_for_judging
    from .monitor import monitor as monitor_logs
    from .report import render_report, write_index
    from .rubric import Rubric, load_rubric, rubric_names
    from .runs import Run, import_outputs, load_run
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
    from .scorers.judge import JudgeClient, PairwiseJudge, RubricJudge
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
    from .synthetic import generate_synthetic_logs
    from .variant import Variant


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


def _lazy_names() -> dict[str, tuple[str, str]]:
    """Public name -> (module, attribute), read from the ``if TYPE_CHECKING:`` imports above.

    Parsing this file (about a millisecond) keeps one list of names: a name added
    to the block is importable from ``evaltools`` and seen by type checkers alike.
    """
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    names: dict[str, tuple[str, str]] = {}
    for node in block.body:
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                names[alias.asname or alias.name] = (module, alias.name)
    return names


_LAZY = _lazy_names()


def _load(name: str) -> Any:
    module, attr = _LAZY[name]
    value = getattr(importlib.import_module(module, __name__), attr)
    if name not in _SHADOWED:
        globals()[name] = value  # later lookups skip __getattr__
    return value


def _version() -> str:
    # importlib.metadata scans every installed distribution: worth it only when asked.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("evaltools")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0.0.0+unknown"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return _load(name)
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"__version__"})


# Public names that are also subpackage names (``gate`` the function, ``evaltools.gate``
# the package): importing the subpackage binds it as an attribute of this module, which
# would hide the function. As ``from .gate import gate`` did when it ran eagerly, the
# public name wins: the attribute is a property that always resolves to the function.
_SHADOWED = {name for name, (module, _) in _LAZY.items() if module == f".{name}"}


def _front_door() -> type[types.ModuleType]:
    def shadowed(name: str) -> property:
        # The setter ignores the import system binding the subpackage here.
        return property(lambda self: _load(name), lambda self, value: None)

    return type("_FrontDoor", (types.ModuleType,), {name: shadowed(name) for name in _SHADOWED})


sys.modules[__name__].__class__ = _front_door()
