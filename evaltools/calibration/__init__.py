"""Judge calibration: is an LLM judge's score trustworthy enough to gate on?

Human labels (:func:`append_label`, :func:`load_labels`, append-only and safe
against a torn last line) are collected in JupyterLab with the
:class:`Annotator` widget. :func:`calibrate` measures a pointwise judge's
agreement with them (kappa, alpha, correlations, bias, with intervals) and
gives each dimension a trust verdict; :func:`calibrate_pairwise` does the same
for pairwise judges in both orders, with position and length bias. PPI++
(:func:`ppi_mean`) corrects a judged production mean with the labelled subset.
"""

from __future__ import annotations

from evaltools.calibration._annotate import (
    Annotator,
    label_scales,
    scorable_items,
)
from evaltools.calibration._calibrate import (
    MIN_PAIRED,
    calibrate,
)
from evaltools.calibration._labels import (
    LABEL_FIELDS,
    CalibrationSubset,
    LabelError,
    LabelWarning,
    append_label,
    calibration_subset,
    labels_from_csv,
    load_labels,
)
from evaltools.calibration._pairwise import (
    CONSISTENCY_FLOOR,
    SCORE_CODES,
    VOCABULARY,
    LengthBiasResult,
    PairwiseCalibration,
    PositionBiasResult,
    calibrate_pairwise,
    length_bias,
    load_pairwise_verdicts,
    position_bias,
)
from evaltools.calibration._ppi import (
    PPIResult,
    ppi_by_dimension,
    ppi_mean,
    ppi_mean_difference,
)
from evaltools.calibration._results import (
    JUDGE_METRICS,
    CalibrationReport,
    DimensionCalibration,
    Estimate,
    Verdict,
)
from evaltools.calibration._scales import (
    calibrate_golden,
    judge_scales,
)

__all__ = [
    "LABEL_FIELDS",
    "CalibrationSubset",
    "LabelError",
    "LabelWarning",
    "append_label",
    "calibration_subset",
    "labels_from_csv",
    "load_labels",
    "Annotator",
    "label_scales",
    "scorable_items",
    "JUDGE_METRICS",
    "CalibrationReport",
    "DimensionCalibration",
    "Estimate",
    "Verdict",
    "MIN_PAIRED",
    "calibrate",
    "CONSISTENCY_FLOOR",
    "SCORE_CODES",
    "VOCABULARY",
    "LengthBiasResult",
    "PairwiseCalibration",
    "PositionBiasResult",
    "calibrate_pairwise",
    "length_bias",
    "load_pairwise_verdicts",
    "position_bias",
    "calibrate_golden",
    "judge_scales",
    "PPIResult",
    "ppi_by_dimension",
    "ppi_mean",
    "ppi_mean_difference",
]
