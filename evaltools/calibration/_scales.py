"""What the card says about its judge dimensions: scales, levels, and calibration against the labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaltools.errors import ConfigError


def judge_scales(golden: Any) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Scale and level of measurement of each judge dimension in a golden set's card.

    Args:
        golden: a :class:`~evaltools.golden.GoldenSet`.

    Returns:
        ``(scales, levels)``, both keyed by dimension name; empty when the
        card declares no judge dimension.

    Raises:
        RubricError: a referenced rubric is vague or malformed.
        ConfigError: a referenced rubric does not exist.
    """
    from evaltools.scorers import dimensions_from_card, load_rubric

    scales: dict[str, tuple[int, ...]] = {}
    levels: dict[str, str] = {}
    for dim in dimensions_from_card(golden):
        if dim.scorer != "judge":
            continue
        rubric = load_rubric(dim.rubric or dim.name, base_dir=golden.path)
        scales[dim.name] = rubric.scale
        levels[dim.name] = "nominal" if rubric.kind == "binary" else "ordinal"
    return scales, levels


def calibrate_golden(golden: Any, scores: Any, *, labels_dir: str | Path | None = None, **kwargs: Any) -> Any:
    """Calibrate the judge dimensions of a golden set's card against its human labels.

    Args:
        golden: a :class:`~evaltools.golden.GoldenSet`.
        scores: a long score table holding the judge scores (one or more runs).
        labels_dir: the labels folder (default: ``<golden>/labels``).
        **kwargs: passed to :func:`~evaltools.calibration.calibrate` (``kappa_floor``,
            ``max_ci_width``, ``min_labels``, ``n_resamples``, ``rng``...).

    Returns:
        The :class:`~evaltools.calibration.CalibrationReport`.

    Raises:
        ConfigError: the card declares no judge dimension.
    """
    from evaltools.calibration._calibrate import calibrate
    from evaltools.calibration._labels import load_labels

    scales, levels = judge_scales(golden)
    if not scales:
        raise ConfigError(
            f"The card of {golden.name!r} declares no judge dimension (scorer: judge, rubric: ...); "
            "there is nothing to calibrate.",
            path=golden.path / "card.yaml",
        )
    labels = Path(labels_dir) if labels_dir is not None else golden.path / "labels"
    human = load_labels(labels, items=golden.ids, dimensions=scales)
    return calibrate(scores, human, scale=scales, level=levels, **kwargs)
