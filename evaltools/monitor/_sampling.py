"""Judge sampling of production traffic and population estimates from the judged sample.

Sampling is a deterministic, hash-based Bernoulli design (STATS.md 4.2): a
conversation is judged when ``u(conversation_id) < rate``, where ``u`` maps
the SHA-256 of the id to [0, 1). It does not depend on load or time of day,
the same conversation always gets the same decision, and whole conversations
are in or out. Per-segment rates over-sample rare or risky segments; each row
then carries its inclusion probability and estimates are weighted (Hájek).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaltools.errors import ConfigError, InputError

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from evaltools.monitor._logs import LogData

__all__ = [
    "PopulationEstimate",
    "estimate_judged_mean",
    "judge_sample",
    "sampling_unit",
    "select_for_judging",
]

_HEX_DIGITS = 13
"""13 hex digits = 52 bits: exactly representable in a float64, so Python and SQL agree bit for bit."""
_DENOM = float(16**_HEX_DIGITS)

JudgeFn = Callable[[list[str]], Sequence[float | None]]
"""A judge: a batch of output texts in, one score (or None when unscored) per text out."""


def sampling_unit(ids: Iterable[Any], *, salt: str = "") -> np.ndarray:
    """Map ids to [0, 1) deterministically: the first 52 bits of SHA-256(salt + id).

    The same mapping runs in SQL (:func:`sampling_unit_expr`), so a sample can
    be drawn inside the warehouse and reproduced in Python.

    Args:
        ids: conversation (or request) ids; converted with ``str``.
        salt: a string prefixed to every id; change it to draw an independent sample.

    Returns:
        A float array in [0, 1), one value per id.

    Examples:
        >>> u = sampling_unit(["conv-1", "conv-2"])
        >>> bool(((u >= 0) & (u < 1)).all()), float(u[0]) == float(sampling_unit(["conv-1"])[0])
        (True, True)
    """
    out = [int(hashlib.sha256((salt + str(i)).encode("utf-8")).hexdigest()[:_HEX_DIGITS], 16) / _DENOM for i in ids]
    return np.asarray(out, dtype=float)


def sampling_unit_expr(ids: ir.StringValue, *, salt: str = "") -> ir.FloatingValue:
    """The Ibis (SQL) version of :func:`sampling_unit` for an id column."""
    digest = (ibis_literal(salt) + ids.cast("string")).hexdigest("sha256").substr(0, _HEX_DIGITS)
    return ("0x" + digest).cast("int64").cast("float64") / _DENOM


def ibis_literal(value: str) -> ir.StringScalar:
    """An Ibis string literal (imported lazily)."""
    import ibis

    return ibis.literal(value, type="string")


def _check_rate(name: str, rate: float) -> float:
    if not isinstance(rate, int | float) or not (0.0 < float(rate) <= 1.0) or math.isnan(float(rate)):
        raise ConfigError(
            f"The '{name}' parameter of select_for_judging must be a float in (0, 1]. Got {rate!r} instead."
        )
    return float(rate)


def select_for_judging(
    logs: LogData | pd.DataFrame,
    *,
    rate: float = 0.02,
    segment_rates: Mapping[str, float] | None = None,
    salt: str = "",
) -> pd.DataFrame:
    """Draw the hash-based Bernoulli sample of conversations to send to the judge.

    A row is selected when ``sampling_unit(conversation_id) < r``, with ``r`` the
    rate of the row's segment (``segment_rates``) or ``rate`` otherwise. For
    :class:`LogData` the selection runs in SQL and only the sample is fetched.

    Args:
        logs: loaded logs, or a DataFrame with ``conversation_id`` (or ``request_id``),
            ``output`` and optionally ``segment`` columns.
        rate: the default inclusion probability, typically 0.01-0.05.
        segment_rates: per-segment inclusion probabilities overriding ``rate``.
        salt: prefix for the hash; a different salt draws an independent sample.

    Returns:
        The selected rows with an ``inclusion_prob`` column. Empty when nothing is selected.

    Raises:
        ConfigError: for a rate outside (0, 1].
        InputError: when the DataFrame has neither ``conversation_id`` nor ``request_id``.

    Examples:
        >>> df = pd.DataFrame({"conversation_id": [f"c{i}" for i in range(1000)], "output": "ok"})
        >>> sample = select_for_judging(df, rate=0.05)
        >>> 30 < len(sample) < 75, sample["inclusion_prob"].unique().tolist()
        (True, [0.05])
    """
    rate = _check_rate("rate", rate)
    seg_rates = {str(k): _check_rate("segment_rates", v) for k, v in (segment_rates or {}).items()}
    if isinstance(logs, pd.DataFrame):
        key = "conversation_id" if "conversation_id" in logs.columns else "request_id"
        if key not in logs.columns:
            raise InputError(
                "select_for_judging needs a 'conversation_id' or 'request_id' column. "
                f"Got columns {list(logs.columns)} instead.",
                field="conversation_id",
            )
        ids = logs[key].where(logs[key].notna(), logs.get("request_id", logs[key]))
        u = sampling_unit(ids.astype(str), salt=salt)
        probs = np.full(len(logs), rate)
        if seg_rates and "segment" in logs.columns:
            seg = logs["segment"].astype(str).to_numpy()
            for s, r in seg_rates.items():
                probs[seg == s] = r
        keep = u < probs
        out = logs.loc[keep].copy()
        out["inclusion_prob"] = probs[keep]
        return out.reset_index(drop=True)

    import ibis

    t = logs.table
    unit = sampling_unit_expr(t.conversation_id, salt=salt)
    prob: Any = ibis.literal(rate)
    if seg_rates:
        cases = [(t.segment == s, ibis.literal(r)) for s, r in seg_rates.items()]
        prob = ibis.cases(*cases, else_=ibis.literal(rate))
    sel = t.mutate(inclusion_prob=prob.cast("float64"), _u=unit)
    sel = sel.filter(sel._u < sel.inclusion_prob).drop("_u")
    from evaltools.monitor._logs import utc_timestamps
    from evaltools.monitor._readers import execute

    df = utc_timestamps(execute(logs.connection, sel))
    return df.sort_values("timestamp").reset_index(drop=True)


def rubric_judge_fn(judge: Any, *, query: str = "(the user's request was not logged)") -> JudgeFn:
    """Adapt an LLM :class:`~evaltools.scorers.judge.RubricJudge` to :func:`judge_sample`.

    The judge calls go through the LLM layer (its cache, retries and key handling)
    like every other judge call. Production logs carry no ideal response, so use a
    rubric that does not need one (``helpfulness``, ``tone``, ``format_compliance``,
    ``appropriate_refusal``); an unscored verdict comes back as None (kept as NaN).

    Args:
        judge: a ``RubricJudge`` (anything called as ``judge(output, None, query=...)``
            returning a :class:`~evaltools.scorers.Score`).
        query: what the judge is told the request was when the logs do not hold it.

    Returns:
        A ``judge(texts) -> scores`` callable.
    """

    def score(texts: list[str]) -> list[float | None]:
        out: list[float | None] = []
        for text in texts:
            verdict = judge(text, None, query=query)
            out.append(float(verdict.value) if verdict.scored else None)
        return out

    return score


def judge_sample(
    sample: pd.DataFrame, judge: JudgeFn, *, batch_size: int = 32, text_column: str = "output"
) -> pd.DataFrame:
    """Run a judge over the sampled outputs, in batches.

    The judge is injected: any callable ``judge(texts) -> scores``, for instance a
    wrapper around the LLM judge with its cache. A score that is None or NaN is
    kept as NaN and flagged ``judge_unscored`` (never coerced to a number).

    Args:
        sample: rows from :func:`select_for_judging`.
        judge: the scoring callable; must return one score per text.
        batch_size: texts per call.
        text_column: the column holding the text to judge.

    Returns:
        A copy of ``sample`` with ``judge_score`` (float, NaN when unscored) and
        ``judge_unscored`` (bool) columns.

    Raises:
        InputError: when ``text_column`` is missing or the judge returns the wrong number of scores.
        ConfigError: for ``batch_size < 1``.

    Examples:
        >>> df = pd.DataFrame({"output": ["good answer", "bad", "x"]})
        >>> judged = judge_sample(df, lambda texts: [len(t) / 10 for t in texts], batch_size=2)
        >>> judged["judge_score"].tolist()
        [1.1, 0.3, 0.1]
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(
            f"The 'batch_size' parameter of judge_sample must be an int >= 1. Got {batch_size!r} instead."
        )
    if text_column not in sample.columns:
        raise InputError(
            f"judge_sample needs the text column '{text_column}'. Got columns {list(sample.columns)} instead.",
            field=text_column,
        )
    texts = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in sample[text_column]]
    scores: list[float] = []
    for i in range(0, len(texts), batch_size):
        batch = texts[i : i + batch_size]
        got = list(judge(batch))
        if len(got) != len(batch):
            raise InputError(
                f"The judge returned {len(got)} scores for a batch of {len(batch)} texts "
                f"(rows {i}-{i + len(batch) - 1}); "
                "it must return exactly one score per text.",
                field="judge_score",
            )
        for v in got:
            try:
                f = float(v) if v is not None else math.nan
            except (TypeError, ValueError):
                f = math.nan
            scores.append(f if math.isfinite(f) else math.nan)
    out = sample.copy()
    out["judge_score"] = np.asarray(scores, dtype=float)
    out["judge_unscored"] = out["judge_score"].isna()
    return out


@dataclass(frozen=True, slots=True)
class PopulationEstimate:
    """The production-level mean of a judged score, with its interval."""

    estimate: float
    """The estimated population mean; NaN when no judged row has a score."""
    ci_low: float
    """Lower bound of the confidence interval."""
    ci_high: float
    """Upper bound of the confidence interval."""
    se: float
    """Standard error of ``estimate`` (NaN when it cannot be computed)."""
    n: int
    """Number of judged rows with a score."""
    n_unscored: int
    """Judged rows without a score (excluded, counted here)."""
    n_clusters: int
    """Number of clusters (conversations) among the scored rows."""
    method: str
    """``"wilson"``, ``"clt"``, ``"hajek"`` (each with ``"-clustered"`` when clusters were given)."""
    confidence: float
    """Confidence level of the interval."""

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame of the fields."""
        return pd.DataFrame([{f: getattr(self, f) for f in self.__dataclass_fields__}])


def estimate_judged_mean(
    scores: Sequence[float] | np.ndarray | pd.Series,
    inclusion_prob: Sequence[float] | np.ndarray | pd.Series | float | None = None,
    *,
    clusters: Sequence[Any] | np.ndarray | pd.Series | None = None,
    binary: bool | None = None,
    confidence: float = 0.95,
) -> PopulationEstimate:
    """Estimate the production mean of a judge score from a probability sample.

    Methods (STATS.md 4.2; Horvitz & Thompson 1952, Hájek 1971, Wilson 1927):

    * equal inclusion probabilities, binary scores, no clusters: Wilson interval
      (``proportion_confint(k, n, method="wilson")``);
    * equal probabilities otherwise: the sample mean with the CLT standard error
      ``sqrt(1 - r) * s / sqrt(n)`` (finite-population correction);
    * unequal probabilities: the Hájek ratio ``sum(w y) / sum(w)`` with
      ``w = 1 / pi`` and the linearization variance
      ``sum_c (1 - pi_c) (sum_{i in c} w_i (y_i - ybar))^2 / (sum w)^2``,
      where each row is its own cluster unless ``clusters`` is given.

    With ``clusters`` (conversation ids) the CLT/Hájek variance sums residuals
    within clusters first (Miller 2024, Appendix A), which is right when whole
    conversations are sampled and their turns are correlated.

    Args:
        scores: judge scores; NaN entries are unscored and excluded (counted).
        inclusion_prob: each row's inclusion probability (or one value for all);
            None means an equal-probability sample with no finite-population correction.
        clusters: cluster id per row, or None.
        binary: whether scores are 0/1; None infers it from the values.
        confidence: the confidence level, in (0, 1).

    Returns:
        A :class:`PopulationEstimate`. No scored row gives NaN estimate and bounds
        with ``n=0``; one scored row gives NaN ``se`` and bounds (except Wilson).

    Raises:
        InputError: for length mismatches or probabilities outside (0, 1].
        ConfigError: for ``confidence`` outside (0, 1).

    Examples:
        >>> est = estimate_judged_mean([1, 0, 1, 1] * 50, 0.02)
        >>> est.method, round(est.estimate, 2), round(est.ci_low, 3), round(est.ci_high, 3)
        ('wilson', 0.75, 0.686, 0.805)
        >>> est = estimate_judged_mean([4.0, 2.0], [0.5, 0.25])  # weights 2 and 4: (8 + 8) / 6
        >>> est.method, round(est.estimate, 4)
        ('hajek', 2.6667)
    """
    from scipy.stats import norm
    from statsmodels.stats.proportion import proportion_confint

    if not (isinstance(confidence, float) and 0.0 < confidence < 1.0):
        raise ConfigError(
            f"The 'confidence' parameter of estimate_judged_mean must be a float in (0, 1). Got {confidence!r} instead."
        )
    y = np.asarray(scores, dtype=float)
    n_all = len(y)
    if inclusion_prob is None:
        pi = np.ones(n_all)
        fpc_known = False
    else:
        raw_pi = np.asarray(inclusion_prob, dtype=float)
        if raw_pi.ndim and len(raw_pi) != n_all:
            raise InputError(f"scores and inclusion_prob have different lengths: {n_all} and {len(raw_pi)}.")
        pi = np.broadcast_to(raw_pi, y.shape).astype(float)
        fpc_known = True
    if np.any(~np.isfinite(pi)) or np.any((pi <= 0) | (pi > 1)):
        raise InputError(
            "Every inclusion probability must be in (0, 1]. Got values outside it.", field="inclusion_prob"
        )
    if clusters is not None:
        cl = np.asarray(clusters, dtype=object)
        if len(cl) != n_all:
            raise InputError(f"scores and clusters have different lengths: {n_all} and {len(cl)}.")
    else:
        cl = None
    ok = np.isfinite(y)
    n_unscored = int((~ok).sum())
    y, pi = y[ok], pi[ok]
    cl = cl[ok] if cl is not None else None
    n = len(y)
    n_clusters = int(len(pd.unique(cl))) if cl is not None else n
    equal = n > 0 and bool(np.allclose(pi, pi[0]))
    is_binary = bool(np.isin(y, (0.0, 1.0)).all()) if binary is None else bool(binary)
    z = float(norm.ppf(0.5 + confidence / 2))
    suffix = "-clustered" if cl is not None else ""
    if n == 0:
        method = ("wilson" if is_binary and equal and cl is None else "clt" if equal else "hajek") + suffix
        nan = math.nan
        return PopulationEstimate(nan, nan, nan, nan, 0, n_unscored, 0, method, confidence)
    if equal and is_binary and cl is None:
        k = float(y.sum())
        low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
        p = k / n
        se = math.sqrt(p * (1 - p) / n * (1 - pi[0] if fpc_known else 1.0))
        return PopulationEstimate(p, float(low), float(high), se, n, n_unscored, n, "wilson", confidence)
    w = 1.0 / pi
    mean = float(np.sum(w * y) / np.sum(w))
    resid = w * (y - mean)
    fpc = (1.0 - pi) if fpc_known else np.ones(n)
    if cl is not None:
        frame = pd.DataFrame({"c": cl, "r": resid, "f": fpc})
        g = frame.groupby("c", sort=False).agg(r=("r", "sum"), f=("f", "mean"))
        num = float(np.sum(g["f"].to_numpy() * g["r"].to_numpy() ** 2))
        m = len(g)
        # Small-sample factor m/(m-1), as in the clustered SE of Miller (2024) and inspect_ai.
        var = num / np.sum(w) ** 2 * (m / (m - 1)) if m > 1 else math.nan
    else:
        num = float(np.sum(fpc * resid**2))
        var = num / np.sum(w) ** 2 * (n / (n - 1)) if n > 1 else math.nan
    se = math.sqrt(var) if np.isfinite(var) else math.nan
    low, high = mean - z * se, mean + z * se
    if is_binary:
        low, high = max(0.0, low), min(1.0, high)
    method = ("clt" if equal else "hajek") + suffix
    return PopulationEstimate(mean, low, high, se, n, n_unscored, n_clusters, method, confidence)
