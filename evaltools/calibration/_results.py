"""Result types of :func:`evaltools.calibrate`: per-dimension calibration and the report.

Frozen dataclasses with ``.to_frame()`` for tables and ``_repr_html_`` for
notebooks. Every text that may come from users (dimension and annotator
names) is HTML-escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import pandas as pd

Verdict = Literal["trusted", "not_trusted"]

__all__ = ["CalibrationReport", "DimensionCalibration", "Estimate", "Verdict"]


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with its confidence interval.

    Examples:
        >>> Estimate(0.7, 0.56, 0.84, "percentile bootstrap").width
        0.28
    """

    value: float
    """The point estimate; NaN when undefined (see the owning field's docs)."""

    ci_low: float
    """Lower bound of the interval; NaN when it could not be computed."""

    ci_high: float
    """Upper bound of the interval."""

    method: str
    """How the interval was computed."""

    @property
    def width(self) -> float:
        """Width of the interval (NaN when it is undefined), rounded to 12 digits."""
        return round(self.ci_high - self.ci_low, 12)

    def __format__(self, spec: str) -> str:
        spec = spec or ".2f"
        if math.isnan(self.value):
            return "n/a"
        if math.isnan(self.ci_low):
            return f"{self.value:{spec}}"
        return f"{self.value:{spec}} [{self.ci_low:{spec}}, {self.ci_high:{spec}}]"


JUDGE_METRICS = (
    "raw_agreement",
    "kappa",
    "alpha",
    "kendall_tau_b",
    "spearman",
    "mean_bias",
    "macro_precision",
    "macro_recall",
    "macro_f1",
)
"""Judge-versus-human metrics of a :class:`DimensionCalibration`, in display order."""

_METRICS = (*JUDGE_METRICS, "human_alpha")


@dataclass(frozen=True, slots=True)
class DimensionCalibration:
    """How well a judge agrees with human labels on one dimension.

    Metric fields are None when fewer than 10 paired labels exist (there is
    no number to report) or when the metric does not apply at this level of
    measurement (rank correlations and mean bias need ordered values, so they
    are None for a nominal scale with more than two categories).
    """

    dimension: str
    """The dimension (e.g. ``helpfulness``)."""

    level: str
    """Level of measurement: ``nominal``, ``ordinal`` or ``interval``."""

    scale: tuple[float, ...]
    """The declared scale values, ascending."""

    n_paired: int
    """Items with both a judge score and a human consensus label."""

    n_judge_unscored: int
    """Labelled items where the judge gave no score (NaN); left out unless
    ``unscored_as`` was set, in which case they are counted as that value."""

    n_missing_judge: int
    """Labelled items with no judge row at all."""

    n_no_consensus: int
    """Items whose annotators tied (no majority); left out."""

    n_annotators: int
    """Distinct annotators on this dimension."""

    n_multi_labelled: int
    """Items labelled by two or more annotators (the human-human subset)."""

    verdict: Verdict
    """``trusted`` to gate, or ``not_trusted``."""

    reasons: tuple[str, ...]
    """Why the dimension is not trusted (empty when trusted)."""

    notes: tuple[str, ...]
    """Caveats worth reading even when trusted (prevalence, ties, ceiling)."""

    raw_agreement: Estimate | None
    """Share of items where judge and human gave the same value (1.0 best)."""

    kappa: Estimate | None
    """Cohen's kappa, quadratic-weighted for ordinal and interval scales
    (1.0 perfect, 0.0 chance; NaN when both used a single category)."""

    kappa_weights: str | None
    """``"quadratic"`` or None (unweighted)."""

    alpha: Estimate | None
    """Krippendorff's alpha of judge vs human at ``level`` (1.0 best)."""

    kendall_tau_b: Estimate | None
    """Kendall's tau-b (handles the ties of a short scale)."""

    spearman: Estimate | None
    """Spearman's rho."""

    mean_bias: Estimate | None
    """Mean of judge minus human in scale units (0 best; > 0 lenient judge)."""

    macro_precision: Estimate | None
    """Precision averaged over the classes present (scikit-learn macro)."""

    macro_recall: Estimate | None
    """Recall averaged over the classes present."""

    macro_f1: Estimate | None
    """F1 averaged over the classes present."""

    confusion: pd.DataFrame | None
    """Counts; rows = human value, columns = judge value."""

    per_class: pd.DataFrame | None
    """Precision, recall, F1, human support and judge count per value."""

    human_alpha: Estimate | None
    """Krippendorff's alpha among annotators on multi-labelled items: the
    ceiling a judge can be expected to reach. None without such items."""

    human_pairwise: pd.DataFrame | None
    """Cohen's kappa for each annotator pair with at least 10 shared items."""

    kappa_floor: float
    """The kappa below which the dimension is not trusted."""

    max_ci_width: float
    """The widest acceptable kappa interval."""

    min_labels: int
    """Paired labels needed before the dimension can be trusted."""

    confidence: float
    """Coverage of every interval."""

    n_resamples: int
    """Bootstrap resamples."""

    seed: int
    """Seed of the bootstrap generator (rerun with ``rng=seed`` to reproduce)."""

    @property
    def trusted(self) -> bool:
        """Whether the judge may gate on this dimension."""
        return self.verdict == "trusted"

    def summary(self) -> str:
        """One line: verdict, kappa with its interval, n and the reasons.

        Returns:
            A plain-text sentence.
        """
        head = f"{self.dimension}: {'TRUSTED' if self.trusted else 'NOT TRUSTED'} (n={self.n_paired}"
        if self.kappa is not None:
            head += f", kappa {self.kappa}"
        head += ")"
        return head + ("" if self.trusted else " - " + "; ".join(self.reasons))

    def to_frame(self) -> pd.DataFrame:
        """One row per metric: value, interval, method.

        Returns:
            A DataFrame with columns metric, value, ci_low, ci_high, method.
        """
        rows = []
        for name in _METRICS:
            est = getattr(self, name)
            if est is not None:
                rows.append(
                    {
                        "metric": name,
                        "value": est.value,
                        "ci_low": est.ci_low,
                        "ci_high": est.ci_high,
                        "method": est.method,
                    }
                )
        return pd.DataFrame(rows, columns=["metric", "value", "ci_low", "ci_high", "method"])

    def _summary_row(self) -> dict[str, object]:
        row: dict[str, object] = {
            "dimension": self.dimension,
            "level": self.level,
            "verdict": self.verdict,
            "n_paired": self.n_paired,
            "n_judge_unscored": self.n_judge_unscored,
        }
        for name in _METRICS:
            est = getattr(self, name)
            row[name] = est.value if est is not None else math.nan
            row[f"{name}_low"] = est.ci_low if est is not None else math.nan
            row[f"{name}_high"] = est.ci_high if est is not None else math.nan
        row["reasons"] = "; ".join(self.reasons)
        row["notes"] = "; ".join(self.notes)
        return row

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.trusted else "#b42318"
        word = "trusted" if self.trusted else "not trusted"
        parts = [
            f"<div class='evaltools-calibration'><h4>{html.escape(self.dimension)} "
            f"<span style='color:{colour}'>{word}</span></h4>",
            f"<p>{self.n_paired} paired labels, level {self.level}, "
            f"{self.confidence:.0%} intervals from {self.n_resamples} bootstrap resamples "
            f"(seed {self.seed}).</p>",
        ]
        if self.reasons:
            items = "".join(f"<li>{html.escape(r)}</li>" for r in self.reasons)
            parts.append(f"<p>Not trusted because:</p><ul>{items}</ul>")
        if self.notes:
            parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in self.notes) + "</ul>")
        from evaltools._html import table

        metrics = self.to_frame()
        if not metrics.empty:
            parts.append(table(metrics, max_rows=None, confidence=self.confidence)._repr_html_())
        if self.confusion is not None:
            confusion = self.confusion.copy()
            confusion.insert(0, "human \\ judge", [str(i) for i in confusion.index])
            confusion.columns = [str(c) for c in confusion.columns]
            caption = "Confusion matrix (rows = human, columns = judge)"
            parts.append(table(confusion, max_rows=None, caption=caption)._repr_html_())
        parts.append("</div>")
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    """Calibration of a judge against human labels, one entry per dimension."""

    dimensions: tuple[DimensionCalibration, ...]
    """Per-dimension results, sorted by name."""

    seed: int
    """Seed of the bootstrap generator."""

    def __getitem__(self, dimension: str) -> DimensionCalibration:
        for d in self.dimensions:
            if d.dimension == dimension:
                return d
        names = ", ".join(d.dimension for d in self.dimensions)
        raise KeyError(f"No dimension '{dimension}' in this calibration; dimensions: {names}.")

    def __iter__(self) -> Iterator[DimensionCalibration]:
        return iter(self.dimensions)

    def __len__(self) -> int:
        return len(self.dimensions)

    @property
    def trusted(self) -> tuple[str, ...]:
        """Names of the dimensions trusted to gate."""
        return tuple(d.dimension for d in self.dimensions if d.trusted)

    @property
    def untrusted(self) -> tuple[str, ...]:
        """Names of the dimensions whose judge may not gate (pass to ``gate(untrusted=...)``)."""
        return tuple(d.dimension for d in self.dimensions if not d.trusted)

    def summary(self) -> str:
        """One line per dimension (see :meth:`DimensionCalibration.summary`).

        Returns:
            Plain text.
        """
        if not self.dimensions:
            return "no human labels: nothing was calibrated, so no judge dimension is trusted"
        return "\n".join(d.summary() for d in self.dimensions)

    def to_frame(self) -> pd.DataFrame:
        """One row per dimension with every metric and its interval.

        Returns:
            A DataFrame; a metric that does not apply is NaN.
        """
        rows = [d._summary_row() for d in self.dimensions]
        return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["dimension", "level", "verdict", "n_paired"])

    def _repr_html_(self) -> str:
        if not self.dimensions:
            return "<div class='evaltools-calibration-report'><h3>Judge calibration</h3><p>No human labels.</p></div>"
        from evaltools._html import table

        head = self.to_frame()[
            ["dimension", "verdict", "n_paired", "kappa", "kappa_low", "kappa_high", "alpha", "human_alpha", "reasons"]
        ].copy()
        head["verdict"] = head["verdict"].replace({"not_trusted": "not trusted"})
        body = "".join(d._repr_html_() for d in self.dimensions)
        conf = self.dimensions[0].confidence
        shown = table(head, max_rows=None, confidence=conf,
                      labels={"alpha": "Krippendorff alpha", "human_alpha": "human-human alpha"})._repr_html_()
        return f"<div class='evaltools-calibration-report'><h3>Judge calibration</h3>{shown}{body}</div>"
