"""evaltools: does your LLM app get better or worse on your own users' queries?

The front door, in the order of the workflow: golden sets, runs, scorers,
judge calibration, statistics and the gate, monitoring, reports. Everything
else is reachable as ``evaltools.<concept>.<name>``, one subpackage per
concept (``evaltools.calibration.position_bias``, ``evaltools.gate.aa_noise_floor``).

``import evaltools`` is cheap: apart from the errors, every public name is
imported on first use (PEP 562 ``__getattr__``), so a command that runs a
golden set never pays for statsmodels, scikit-learn, plotly, papermill or the
embedding stack. The ``TYPE_CHECKING`` block below is the one list of public
names and where they live: type checkers read it as ordinary imports, and
:func:`_lazy_names` reads the same block to resolve a name when it is first
asked for.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaltools._util import evaltools_version
from evaltools.errors import (
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
    # 1. golden sets
    # 4. judge calibration against human labels
    from evaltools.calibration import Annotator, append_label, calibrate, calibrate_pairwise, load_labels, ppi_mean

    # 5. statistics and the regression gate
    from evaltools.gate import GateResult
    from evaltools.gate import gate as regression_gate
    from evaltools.golden import DEFAULT_TARGETS, GoldenSet, check_golden, load_golden, sample_golden

    # 2. runs, through any OpenAI-compatible endpoint
    from evaltools.llm import LLMCache, LLMClient

    # 6. production monitoring
    from evaltools.monitor import (
        detect_anomalies,
        estimate_judged_mean,
        generate_synthetic_logs,
        load_logs,
        select_for_judging,
    )
    from evaltools.monitor import monitor as monitor_logs

    # 7. reports
    from evaltools.report import render_report, write_index
    from evaltools.runs import Variant, agenerate, generate, import_outputs, load_run

    # 3. scorers: structured, semantic, LLM judge
    from evaltools.scorers import (
        PairwiseJudge,
        RubricJudge,
        Score,
        SemanticSimilarity,
        dimensions_from_card,
        exact_match,
        json_schema_valid,
        load_rubric,
        read_scores,
        required_fields,
        score_run,
        summarize_scores,
    )
    from evaltools.stats import compare, mde, n_required


# The subpackages, one concept each: everything not at the front door is
# evaltools.<concept>.<name> (``evaltools.calibration.position_bias``).
SUBPACKAGES = ("golden", "llm", "runs", "scorers", "calibration", "stats", "gate", "monitor", "report", "cli")

__all__ = [
    "EvaltoolsError",
    "InputError",
    "ConfigError",
    "GoldenSetError",
    "RunError",
    "SchemaError",
    "VersionMismatchError",
    "LogError",
    "__version__",
    "DEFAULT_TARGETS",
    "GoldenSet",
    "load_golden",
    "check_golden",
    "sample_golden",
    "LLMClient",
    "LLMCache",
    "Variant",
    "generate",
    "agenerate",
    "import_outputs",
    "load_run",
    "Score",
    "dimensions_from_card",
    "score_run",
    "read_scores",
    "summarize_scores",
    "exact_match",
    "json_schema_valid",
    "required_fields",
    "SemanticSimilarity",
    "load_rubric",
    "RubricJudge",
    "PairwiseJudge",
    "append_label",
    "load_labels",
    "Annotator",
    "calibrate",
    "calibrate_pairwise",
    "ppi_mean",
    "compare",
    "mde",
    "n_required",
    "regression_gate",
    "GateResult",
    "monitor_logs",
    "load_logs",
    "detect_anomalies",
    "select_for_judging",
    "estimate_judged_mean",
    "generate_synthetic_logs",
    "render_report",
    "write_index",
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
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return _load(name)
    if name == "__version__":
        globals()[name] = value = evaltools_version()
        return value
    if name in SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(SUBPACKAGES) | {"__version__"})
