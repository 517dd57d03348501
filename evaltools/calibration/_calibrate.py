"""Calibrate an LLM judge against human labels.

:func:`calibrate` pairs judge scores with human labels per dimension and
reports agreement (raw agreement, confusion matrix, Cohen's kappa,
Krippendorff's alpha, Kendall tau-b, Spearman, macro precision/recall/F1),
mean bias, the human-human ceiling, bootstrap intervals, and a verdict: a
dimension is *trusted* to gate a merge only when kappa clears a floor with an
interval narrow enough and enough labels behind it.

Methods follow STATS.md section 2: quadratic-weighted kappa for ordinal
scales (Cohen 1968), Krippendorff's alpha at an explicit level of
measurement (Krippendorff 2011), tau-b for tied ranks, percentile bootstrap
over items (Efron & Tibshirani 1993). Pairwise-judge biases are in
:mod:`evaltools.calibration._pairwise`; prediction-powered estimates in
:mod:`evaltools.calibration._ppi`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Literal

import krippendorff
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import cohen_kappa_score, precision_recall_fscore_support

from evaltools.calibration import _metrics as cm
from evaltools.calibration._inputs import (
    LEVELS,
    Consensus,
    Level,
    check_scale,
    check_trust_params,
    indices,
    param_error,
    per_dimension,
    resolve_rng,
    to_long,
)
from evaltools.calibration._inputs import (
    consensus as consensus_of,
)
from evaltools.calibration._results import (
    JUDGE_METRICS,
    CalibrationReport,
    DimensionCalibration,
    Estimate,
    Verdict,
)

__all__ = [
    "CalibrationReport",
    "DimensionCalibration",
    "Estimate",
    "MIN_PAIRED",
    "calibrate",
]

MIN_PAIRED = 10
"""Below this many paired labels no agreement number is computed at all."""


def _estimate(point: float, samples: np.ndarray, confidence: float) -> Estimate:
    low, high = cm.percentile_interval(samples, confidence)
    return Estimate(float(point), low, high, "percentile bootstrap over items")


def _human_agreement(
    wide: pd.DataFrame,
    scale: tuple[float, ...],
    level: Level,
    weights: Literal["quadratic"] | None,
    confidence: float,
    n_resamples: int,
    rng: np.random.Generator,
) -> tuple[Estimate | None, pd.DataFrame | None, int]:
    """Krippendorff's alpha among annotators and their pairwise kappas."""
    multi = wide[wide.notna().sum(axis=1) >= 2]
    if multi.empty:
        return None, None, 0
    counts = np.stack([(multi.to_numpy() == v).sum(axis=1) for v in scale], axis=1).astype(float)
    if np.count_nonzero(counts.sum(axis=0)) < 2:
        point = math.nan  # a single value used by everyone: alpha is undefined
    else:
        point = float(krippendorff.alpha(value_counts=counts, value_domain=list(scale), level_of_measurement=level))
    unit_o = cm.unit_coincidences(counts)
    w = cm.bootstrap_unit_weights(len(counts), n_resamples, rng)
    samples = cm.alpha_from_coincidences(np.einsum("bu,ukl->bkl", w, unit_o), scale, level)
    human_alpha = Estimate(point, *cm.percentile_interval(samples, confidence), "percentile bootstrap over items")

    rows = []
    for a, b in combinations(wide.columns, 2):
        both = wide[[a, b]].dropna()
        if len(both) < MIN_PAIRED:
            continue
        ia = np.searchsorted(scale, both[a].to_numpy())  # validated on the scale by the caller
        ib = np.searchsorted(scale, both[b].to_numpy())
        table = cm.confusion_table(ia, ib, len(scale))
        kappa = float(cohen_kappa_score(ia, ib, labels=range(len(scale)), weights=weights))
        boot = cm.kappa_from_tables(cm.bootstrap_tables(table, n_resamples, rng), weights)
        low, high = cm.percentile_interval(boot, confidence)
        rows.append(
            {
                "annotator_a": a,
                "annotator_b": b,
                "n": len(both),
                "kappa": kappa,
                "ci_low": low,
                "ci_high": high,
            }
        )
    pairwise = pd.DataFrame(rows, columns=["annotator_a", "annotator_b", "n", "kappa", "ci_low", "ci_high"])
    return human_alpha, pairwise, len(multi)


def _calibrate_dimension(
    dim: str,
    j: pd.DataFrame,
    h: pd.DataFrame,
    *,
    scale: tuple[float, ...],
    level: Level,
    consensus: Consensus,
    unscored_as: float | None,
    kappa_floor: float,
    max_ci_width: float,
    min_labels: int,
    max_unscored: float,
    confidence: float,
    n_resamples: int,
    rng: np.random.Generator,
    seed: int,
    extra_notes: tuple[str, ...] = (),
) -> DimensionCalibration:
    k = len(scale)
    indices(h["value"].to_numpy(), scale, "Human label", dim)
    judge_scored = j["value"].dropna().to_numpy()
    indices(judge_scored, scale, "Judge", dim)

    wide = h.pivot(index="key", columns="annotator", values="value")
    counts = np.stack([(wide.to_numpy() == v).sum(axis=1) for v in scale], axis=1)
    cons = pd.Series(consensus_of(counts, consensus), index=wide.index)
    n_no_consensus = int((cons < 0).sum())
    cons = cons[cons >= 0]

    judge_by_key = j.set_index("key")["value"]
    present = cons.index.intersection(judge_by_key.index)
    n_missing_judge = len(cons) - len(present)
    jv = judge_by_key.loc[present]
    n_unscored = int(jv.isna().sum())
    notes: list[str] = list(extra_notes)
    if unscored_as is not None and n_unscored:
        jv = jv.fillna(float(unscored_as))
        notes.append(f"{n_unscored} unscored judge replies are counted as {unscored_as:g} (unscored_as).")
    jv = jv.dropna()
    human_idx = cons.loc[jv.index].to_numpy()
    judge_idx = indices(jv.to_numpy(), scale, "Judge", dim)
    n = len(jv)
    weights: Literal["quadratic"] | None = None if level == "nominal" else "quadratic"
    ordered = level != "nominal" or k == 2

    if n_no_consensus:
        notes.append(f"{n_no_consensus} items whose annotators tied have no human consensus and are left out.")
    if n_missing_judge:
        notes.append(f"{n_missing_judge} labelled items have no judge score at all (not judged).")
    if len(cons) and not len(present):
        notes.append("No labelled item has a judge score: check that item_id (and run_id) match.")

    human_alpha, human_pairwise, n_multi = _human_agreement(wide, scale, level, weights, confidence, n_resamples, rng)

    reasons: list[str] = []
    metrics: dict[str, Estimate | None] = dict.fromkeys(JUDGE_METRICS, None)
    confusion = per_class = None
    if n < MIN_PAIRED:
        reasons.append(
            f"too few labels: {n} paired labels; at least {MIN_PAIRED} are needed to compute agreement "
            f"and {min_labels} to trust it"
        )
    else:
        table = cm.confusion_table(human_idx, judge_idx, k)
        boot = cm.bootstrap_tables(table, n_resamples, rng)
        labels = [f"{v:g}" for v in scale]
        confusion = pd.DataFrame(
            table.astype(int),
            index=pd.Index(labels, name="human"),
            columns=pd.Index(labels, name="judge"),
        )
        metrics["raw_agreement"] = _estimate(
            float(np.mean(human_idx == judge_idx)), cm.agreement_from_tables(boot), confidence
        )
        metrics["kappa"] = _estimate(
            float(cohen_kappa_score(human_idx, judge_idx, labels=range(k), weights=weights)),
            cm.kappa_from_tables(boot, weights),
            confidence,
        )
        all_idx = np.concatenate([human_idx, judge_idx])
        alpha_point = (
            math.nan
            if len(np.unique(all_idx)) < 2
            else float(
                krippendorff.alpha(
                    reliability_data=np.vstack([np.asarray(scale)[human_idx], np.asarray(scale)[judge_idx]]),
                    value_domain=list(scale),
                    level_of_measurement=level,
                )
            )
        )
        metrics["alpha"] = _estimate(alpha_point, cm.alpha_from_tables(boot, scale, level), confidence)
        if ordered:
            hv, jvals = np.asarray(scale)[human_idx], np.asarray(scale)[judge_idx]
            constant = len(np.unique(hv)) < 2 or len(np.unique(jvals)) < 2
            tau = math.nan if constant else float(stats.kendalltau(hv, jvals, variant="b").statistic)
            rho = math.nan if constant else float(stats.spearmanr(hv, jvals).statistic)
            metrics["kendall_tau_b"] = _estimate(tau, cm.kendall_tau_b_from_tables(boot), confidence)
            metrics["spearman"] = _estimate(rho, cm.spearman_from_tables(boot), confidence)
            metrics["mean_bias"] = _estimate(
                float(np.mean(jvals - hv)), cm.mean_bias_from_tables(boot, scale), confidence
            )
        classes = np.unique(all_idx)
        p, r, f, support = precision_recall_fscore_support(
            human_idx, judge_idx, labels=classes, average=None, zero_division=0
        )
        per_class = pd.DataFrame(
            {
                "precision": p,
                "recall": r,
                "f1": f,
                "human_support": support,
                "judge_count": np.bincount(judge_idx, minlength=k)[classes],
            },
            index=pd.Index([labels[c] for c in classes], name="value"),
        )
        bp, br, bf = cm.macro_prf_from_tables(boot, classes)
        metrics["macro_precision"] = _estimate(float(np.mean(p)), bp, confidence)
        metrics["macro_recall"] = _estimate(float(np.mean(r)), br, confidence)
        metrics["macro_f1"] = _estimate(float(np.mean(f)), bf, confidence)

        kappa = metrics["kappa"]
        assert kappa is not None
        if n < min_labels:
            reasons.append(f"too few labels: {n} paired labels, fewer than the {min_labels} required")
        if math.isnan(kappa.value):
            reasons.append("kappa is undefined: judge and humans each used a single value")
        elif kappa.value < kappa_floor:
            reasons.append(f"kappa {kappa.value:.2f} is below the floor {kappa_floor:.2f}")
        if not math.isnan(kappa.value) and not kappa.width <= max_ci_width:
            reasons.append(
                f"kappa interval [{kappa.ci_low:.2f}, {kappa.ci_high:.2f}] is {kappa.width:.2f} wide, "
                f"more than {max_ci_width:.2f}: label more items"
            )
        shares = table.sum(axis=1) / n
        if shares.max() >= 0.8:
            notes.append(
                f"{shares.max():.0%} of human labels are {labels[int(shares.argmax())]}: "
                "with such a skewed base "
                "rate kappa can be low while raw agreement is high; read the confusion matrix."
            )
        if human_alpha is not None and metrics["alpha"] is not None:
            a_j, a_h = metrics["alpha"].value, human_alpha.value
            if not math.isnan(a_h) and not math.isnan(a_j):
                notes.append(
                    f"human-human alpha (the ceiling) is {a_h:.2f} on {n_multi} items; judge-human alpha is {a_j:.2f}."
                )

    labelled = len(present)
    if labelled and n_unscored / labelled > max_unscored:
        reasons.append(
            f"the judge gave no score on {n_unscored} of {labelled} labelled items "
            f"({n_unscored / labelled:.0%}), more than {max_unscored:.0%}"
        )
    verdict: Verdict = "not_trusted" if reasons else "trusted"
    return DimensionCalibration(
        dimension=dim,
        level=level,
        scale=scale,
        n_paired=n,
        n_judge_unscored=n_unscored,
        n_missing_judge=n_missing_judge,
        n_no_consensus=n_no_consensus,
        n_annotators=int(wide.shape[1]),
        n_multi_labelled=n_multi,
        verdict=verdict,
        reasons=tuple(reasons),
        notes=tuple(notes),
        kappa_weights=weights,
        confusion=confusion,
        per_class=per_class,
        human_alpha=human_alpha,
        human_pairwise=human_pairwise,
        kappa_floor=kappa_floor,
        max_ci_width=max_ci_width,
        min_labels=min_labels,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
        **metrics,
    )


def calibrate(
    judge: pd.DataFrame | Sequence[float] | np.ndarray,
    human: pd.DataFrame | Sequence[float] | Sequence[Sequence[float]] | np.ndarray,
    *,
    scale: Sequence[float] | range | Mapping[str, Sequence[float] | range],
    level: Level | Mapping[str, Level],
    consensus: Consensus = "majority",
    unscored_as: float | None = None,
    kappa_floor: float = 0.6,
    max_ci_width: float = 0.4,
    min_labels: int = 50,
    max_unscored: float = 0.1,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | None = 0,
) -> CalibrationReport:
    """Measure how well a judge agrees with human labels, per dimension, and decide whether to trust it.

    Judge scores and human labels are paired by item (and run, when both
    carry a ``run_id``) and dimension. With several annotators on an item,
    the human reference is their consensus (majority by default) and their
    mutual agreement is reported as the ceiling. Every metric has a
    percentile bootstrap interval over items (resampling the contingency
    table, so it is vectorized).

    A dimension is **trusted** only when all of these hold: at least
    ``min_labels`` paired labels; kappa at least ``kappa_floor``; the kappa
    interval no wider than ``max_ci_width``; the judge unscored on at most
    ``max_unscored`` of the labelled items. Otherwise the reasons say which
    failed. Fewer than 10 paired labels give no numbers at all, only the
    reason.

    Args:
        judge: either the long score table (columns ``item_id``,
            ``dimension``, ``value``, optional ``run_id``; NaN = unscored) or
            a 1-D array of scores for a single dimension named ``score``.
        human: in the same form as ``judge``: long labels (``item_id``,
            ``dimension``, ``value``, ``annotator``, optional ``run_id`` and
            ``time``; the latest label of an annotator on an item wins), or a
            1-D array (one annotator) or 2-D array / DataFrame (items x
            annotators, NaN = not labelled) aligned with ``judge``.
        scale: the allowed values, e.g. ``range(1, 6)`` or ``[0, 1]``; or a
            mapping dimension -> values.
        level: level of measurement, ``"nominal"`` (pass/fail, categories),
            ``"ordinal"`` (1-5) or ``"interval"``; or a mapping per dimension.
            Nominal uses unweighted kappa, the others quadratic weights.
        consensus: how several annotators' labels combine: ``"majority"``
            (ties leave the item out, counted in ``n_no_consensus``) or
            ``"median"`` (the lower median, always on the scale).
        unscored_as: count unscored (NaN) judge scores as this value instead
            of leaving them out, e.g. to reproduce a published table that
            counted parse failures as ties. They are still counted.
        kappa_floor: kappa below this is not trusted (0.6: "substantial",
            Landis & Koch 1977).
        max_ci_width: the widest acceptable kappa interval.
        min_labels: paired labels needed before trusting (at least 10).
        max_unscored: largest acceptable share of unscored judge replies.
        confidence: coverage of the intervals, in (0, 1).
        n_resamples: bootstrap resamples (at least 100).
        rng: seed or generator for the bootstrap; the seed used is recorded.

    Returns:
        A :class:`CalibrationReport` with one :class:`DimensionCalibration`
        per labelled dimension (sorted by name; judge-only dimensions are
        absent). Undefined metrics are NaN (e.g. kappa
        when both raters used one value); metrics that do not apply are None.

    Raises:
        InputError: values off the declared scale, mismatched lengths,
            duplicate judge rows, mixed input forms or invalid parameters.

    Examples:
        >>> human = [1, 2, 3, 4, 5] * 4
        >>> judge = [1, 2, 3, 4, 4] * 4
        >>> report = calibrate(judge, human, scale=range(1, 6), level="ordinal", n_resamples=200)
        >>> result = report["score"]
        >>> round(result.raw_agreement.value, 2), round(result.mean_bias.value, 2)
        (0.8, -0.2)
        >>> result.verdict, result.reasons[0]
        ('not_trusted', 'too few labels: 20 paired labels, fewer than the 50 required')
    """
    if consensus not in ("majority", "median"):
        raise param_error("consensus", "'majority' or 'median'", consensus)
    check_trust_params(
        "calibrate",
        floors={
            "kappa_floor": (kappa_floor, -1.0, 1.0),
            "max_ci_width": (max_ci_width, 0.0, 4.0),
            "max_unscored": (max_unscored, 0.0, 1.0),
        },
        confidence=confidence,
        min_labels=min_labels,
        min_paired=MIN_PAIRED,
        n_resamples=n_resamples,
    )
    generator, seed = resolve_rng(rng)

    j, h = to_long(judge, human)
    unlabelled = int(h.attrs.get("n_unlabelled", 0))
    extra = (f"{unlabelled} items have no human label (NaN) and are left out.",) if unlabelled else ()
    # Only labelled dimensions can be calibrated; judge-only dimensions are absent from the report.
    dims = sorted(set(h["dimension"]))
    scales = {d: check_scale(s, d) for d, s in per_dimension(scale, dims, "scale").items()}
    levels = per_dimension(level, dims, "level")
    for lv in levels.values():
        if lv not in LEVELS:
            raise param_error("level", f"one of {list(LEVELS)}", lv)
    children = generator.spawn(len(dims))
    results = tuple(
        _calibrate_dimension(
            d,
            j[j["dimension"] == d],
            h[h["dimension"] == d],
            scale=scales[d],
            level=levels[d],  # type: ignore[arg-type]
            consensus=consensus,
            unscored_as=unscored_as,
            kappa_floor=float(kappa_floor),
            max_ci_width=float(max_ci_width),
            min_labels=min_labels,
            max_unscored=float(max_unscored),
            confidence=confidence,
            n_resamples=n_resamples,
            rng=child,
            seed=seed,
            extra_notes=extra,
        )
        for d, child in zip(dims, children, strict=True)
    )
    return CalibrationReport(dimensions=results, seed=seed)
