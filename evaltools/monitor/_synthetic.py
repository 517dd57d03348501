"""SYNTHETIC production logs with known incidents, for tests, benchmarks and the demo.

Nothing here is real traffic. :func:`generate_synthetic_logs` draws requests
from a simple generative model with daily and weekly seasonality and injects
incidents with known start and end times, so that a monitor can be scored
against ground truth:

* traffic: Poisson counts per hour with a business-hours peak, an evening
  bump, quieter weekends and a small random day-level effect;
* output length (completion tokens): log-normal, longer in business hours and
  shorter at weekends, capped at ``max_tokens`` (``finish_reason="length"``);
* latency: time to first token plus per-token time, both slower under load,
  with a heavy tail (occasional retries);
* refusals: per-segment base rates with mild day-to-day overdispersion; the
  output text of a refusal is a refusal phrase the refusal detector knows;
* judge scores (1-5) on a deterministic hash-based 5 % sample of conversations.

Incident kinds and the meaning of ``magnitude``:

* ``"length_regression"``: a prompt regression; completion tokens are
  multiplied by ``magnitude`` (e.g. 1.6);
* ``"refusal_spike"``: ``magnitude`` is added to the refusal probability (e.g. 0.06);
* ``"latency_regression"``: latencies are multiplied by ``magnitude`` (e.g. 1.5);
* ``"quality_drift"``: the judge score falls linearly by ``magnitude`` points
  per day since the start (e.g. 0.15), recovering at the end.

Output texts are short (``text_max_chars``) to keep memory small; the length
signal lives in ``completion_tokens``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from evaltools.errors import ConfigError
from evaltools.monitor._sampling import sampling_unit

__all__ = [
    "Incident",
    "IncidentKind",
    "SyntheticLogs",
    "default_incidents",
    "generate_synthetic_logs",
    "write_synthetic_parquet",
]

IncidentKind = Literal["length_regression", "refusal_spike", "latency_regression", "quality_drift"]
_KINDS: tuple[str, ...] = ("length_regression", "refusal_spike", "latency_regression", "quality_drift")
_AFFECTS: dict[str, tuple[str, ...]] = {
    "length_regression": ("length_median", "length_p90", "length_distribution", "max_hit_share"),
    "refusal_spike": ("refusal_rate",),
    "latency_regression": ("latency_p50", "latency_p99"),
    "quality_drift": ("judge_mean",),
}
"""The monitored metrics each incident kind moves by design (others may follow, e.g. latency with length)."""

_SEGMENTS = ("support", "billing", "sales")
_SEGMENT_P = np.array([0.6, 0.25, 0.15])
_SEGMENT_LEN = np.array([1.0, 0.8, 1.3])
_SEGMENT_REFUSAL = np.array([0.02, 0.015, 0.03])
_SEGMENT_JUDGE = np.array([0.0, 0.1, -0.15])

_REFUSALS = (
    "I'm sorry, but I can't help with that request.",
    "I can't assist with that.",
    "I'm unable to provide that information.",
    "Sorry, I cannot share internal account details.",
    "I must respectfully decline this request.",
    "As an AI assistant, I cannot access other customers' data.",
    "Lo siento, pero no puedo ayudarte con eso.",
    "Je ne peux pas vous aider avec cette demande.",
)
_ANSWERS = (
    "Sure! Here is how to reset your password.",
    "Thanks for reaching out. Your invoice is attached below.",
    "I can't wait to help you set this up!",
    "Great question. The plan includes three seats.",
    "I can help with that. First, open Settings.",
    "Here are the steps to update your billing address.",
    "I can't recommend this feature enough for teams.",
    "Your ticket has been triaged as priority 2.",
)
_FILLER = (
    " Follow the steps in order and check each result before moving on; if a step fails, note the error"
    " message and the time, then contact support with your account id so we can look at the logs together."
) * 8


@dataclass(frozen=True, slots=True)
class Incident:
    """An injected incident with known start and end (UTC)."""

    kind: IncidentKind
    """What goes wrong; see the module docstring for each kind."""
    start: pd.Timestamp
    """First affected instant (inclusive)."""
    end: pd.Timestamp
    """End of the incident (exclusive)."""
    magnitude: float
    """Size of the effect; its meaning depends on ``kind``."""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ConfigError(f"The 'kind' of an Incident must be one of {list(_KINDS)}. Got {self.kind!r} instead.")
        start, end = _utc(self.start), _utc(self.end)
        if not end > start:
            raise ConfigError(f"An Incident must end after it starts. Got start {start} and end {end} instead.")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @property
    def description(self) -> str:
        """Plain-English description."""
        what = {
            "length_regression": f"prompt regression: outputs {self.magnitude:.2f}x longer",
            "refusal_spike": f"refusal spike: +{self.magnitude:.1%} refusal probability",
            "latency_regression": f"latency regression: {self.magnitude:.2f}x slower",
            "quality_drift": f"slow quality drift: judge score -{self.magnitude:.2f} points per day",
        }[self.kind]
        return f"{what}, {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True, slots=True)
class SyntheticLogs:
    """SYNTHETIC logs and the ground-truth incident table."""

    logs: pd.DataFrame
    """One row per request: timestamp (UTC), request_id, conversation_id, model, segment, output,
    latency (seconds), prompt_tokens, completion_tokens, finish_reason, judge_score (NaN unless judged)."""
    incidents: pd.DataFrame
    """kind, start, end, magnitude, metrics (the monitored metrics it moves), description."""
    seed: int
    """The seed that produced them."""

    def to_frame(self) -> pd.DataFrame:
        """The logs."""
        return self.logs


def _utc(value: str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def default_incidents(start: str | pd.Timestamp = "2024-01-01", days: int = 60) -> tuple[Incident, ...]:
    """The four incidents used by the tests and the demo, placed after a 4-week warm-up.

    Args:
        start: the first day of the logs.
        days: the length of the logs; incidents that would not fit are left out.

    Returns:
        Incidents sorted by start: a 2-day length regression (day 30), a 1-day refusal
        spike (day 36), a 12-hour overnight latency regression (day 42) and a 7-day
        quality drift (day 48).

    Examples:
        >>> [i.kind for i in default_incidents(days=60)]
        ['length_regression', 'refusal_spike', 'latency_regression', 'quality_drift']
        >>> len(default_incidents(days=35))
        1
    """
    t0 = _utc(start).normalize()
    day = pd.Timedelta(days=1)
    hour = pd.Timedelta(hours=1)
    spec = (
        Incident("length_regression", t0 + 30 * day + 10 * hour, t0 + 32 * day + 10 * hour, 1.6),
        Incident("refusal_spike", t0 + 36 * day + 9 * hour, t0 + 37 * day + 9 * hour, 0.06),
        Incident("latency_regression", t0 + 42 * day, t0 + 42 * day + 12 * hour, 1.5),
        Incident("quality_drift", t0 + 48 * day, t0 + 55 * day, 0.15),
    )
    end = t0 + days * day
    return tuple(i for i in spec if i.end <= end)


def _daily_profile(hour: np.ndarray) -> np.ndarray:
    # Business-hours peak around 14:00 UTC and an evening bump around 20:00.
    p = 0.3 + 1.2 * np.exp(-(((hour - 14) / 4.5) ** 2)) + 0.25 * np.exp(-(((hour - 20) / 2.0) ** 2))
    ref = 0.3 + 1.2 * np.exp(-(((np.arange(24) - 14) / 4.5) ** 2)) + 0.25 * np.exp(-(((np.arange(24) - 20) / 2.0) ** 2))
    out: np.ndarray = p / ref.mean()
    return out


def _weekly_profile(dow: np.ndarray) -> np.ndarray:
    w = np.array([1.1, 1.1, 1.1, 1.1, 1.05, 0.75, 0.7])
    out: np.ndarray = w[dow] / w.mean()
    return out


def _generate_chunk(
    hours: pd.DatetimeIndex,
    *,
    requests_per_hour: float,
    incidents: Sequence[Incident],
    rng: np.random.Generator,
    id_offset: int,
    day_effects: np.ndarray,
    judge_rate: float,
    max_tokens: int,
    text_max_chars: int,
    model: str,
) -> pd.DataFrame:
    h = hours.hour.to_numpy()
    dow = hours.day_of_week.to_numpy()
    profile = _daily_profile(h) * _weekly_profile(dow)
    lam = requests_per_hour * profile * day_effects
    counts = rng.poisson(lam)
    n = int(counts.sum())
    hidx = np.repeat(np.arange(len(hours)), counts)
    # Sorted within each hour: keep hours in order, sort offsets per hour.
    offs = rng.random(n)
    order = np.lexsort((offs, hidx))
    hidx, offs = hidx[order], offs[order]
    base_ns = hours.as_unit("ns").asi8[hidx]
    ts_ns = base_ns + (offs * 3600e9).astype(np.int64)
    ts = pd.DatetimeIndex(ts_ns.astype("datetime64[ns]")).tz_localize("UTC")
    hh = h[hidx].astype(float) + offs
    business = np.exp(-(((hh - 13) / 4.0) ** 2))
    weekend = dow[hidx] >= 5
    load = 1.0 + 0.25 * (profile[hidx] - 1.0)

    seg = rng.choice(len(_SEGMENTS), size=n, p=_SEGMENT_P)
    # Conversations: a new one starts with probability 0.62, else the request continues the previous one.
    starts = rng.random(n) < 0.62
    if n:
        starts[0] = True
    conv = np.cumsum(starts) - 1 + id_offset
    # Whole conversations share a segment.
    first_of_conv = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    seg = seg[first_of_conv]

    len_mult = np.ones(n)
    lat_mult = np.ones(n)
    refusal_add = np.zeros(n)
    judge_shift = np.zeros(n)
    t_ns = ts_ns
    for inc in incidents:
        mask = (t_ns >= inc.start.value) & (t_ns < inc.end.value)
        if not mask.any():
            continue
        if inc.kind == "length_regression":
            len_mult[mask] *= inc.magnitude
        elif inc.kind == "latency_regression":
            lat_mult[mask] *= inc.magnitude
        elif inc.kind == "refusal_spike":
            refusal_add[mask] += inc.magnitude
        else:
            elapsed_days = (t_ns[mask] - inc.start.value) / 86400e9
            judge_shift[mask] -= inc.magnitude * elapsed_days

    # Refusals: per-segment base rate, mild day-level overdispersion.
    day_idx = (hidx // 24) if n else hidx
    day_noise = np.exp(rng.normal(0.0, 0.08, size=int(day_idx.max()) + 1 if n else 1))
    p_ref = np.clip(_SEGMENT_REFUSAL[seg] * day_noise[day_idx] + refusal_add, 0.0, 1.0)
    refused = rng.random(n) < p_ref

    median_tokens = 180.0 * (1.0 + 0.15 * business) * np.where(weekend, 0.9, 1.0) * _SEGMENT_LEN[seg]
    tokens = median_tokens * np.exp(rng.normal(0.0, 0.55, n)) * len_mult
    tokens = np.where(refused, rng.integers(12, 40, n), tokens)
    tokens = np.maximum(1, np.round(tokens)).astype(np.int64)
    hit = tokens >= max_tokens
    tokens = np.minimum(tokens, max_tokens)
    finish = np.where(hit, "length", "stop")

    ttft = 0.35 * load * np.exp(rng.normal(0.0, 0.35, n))
    per_token = 0.011 * load * np.exp(rng.normal(0.0, 0.15, n))
    retry = rng.random(n) < 0.01
    latency = (ttft + per_token * tokens + np.where(retry, np.exp(rng.normal(0.7, 0.5, n)), 0.0)) * lat_mult

    prompt_tokens = np.round(400 * np.exp(rng.normal(0.0, 0.4, n))).astype(np.int64)

    # Output text: a refusal phrase or an answer opening, then filler up to ~4 chars per token.
    ref_pick = rng.integers(0, len(_REFUSALS), n)
    ans_pick = rng.integers(0, len(_ANSWERS), n)
    n_chars = np.minimum(tokens * 4, text_max_chars)
    outputs = [
        (_REFUSALS[r] if f else _ANSWERS[a]) + _FILLER[: max(0, int(c) - 40)]
        for f, r, a, c in zip(refused.tolist(), ref_pick.tolist(), ans_pick.tolist(), n_chars.tolist(), strict=True)
    ]

    conv_ids = np.char.add("c", conv.astype(str)) if n else np.array([], dtype=str)
    uniq, inv = np.unique(conv_ids, return_inverse=True)
    judged = (sampling_unit(uniq.tolist()) < judge_rate)[inv] if n else np.zeros(0, dtype=bool)
    latent = 3.9 + _SEGMENT_JUDGE[seg] - 1.0 * refused + 0.2 * business + judge_shift + rng.normal(0.0, 0.9, n)
    judge = np.clip(np.round(latent), 1, 5)
    judge = np.where(judged, judge, np.nan)

    return pd.DataFrame(
        {
            "timestamp": ts,
            "request_id": np.char.add("r", (np.arange(n) + id_offset).astype(str)) if n else np.array([], dtype=str),
            "conversation_id": conv_ids,
            "model": model,
            "segment": np.asarray(_SEGMENTS, dtype=object)[seg],
            "output": outputs,
            "latency": latency,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": tokens,
            "finish_reason": finish,
            "judge_score": judge,
        }
    )


def _check(days: int, requests_per_hour: float, judge_rate: float, max_tokens: int, text_max_chars: int) -> None:
    if not isinstance(days, int) or days < 1:
        raise ConfigError(f"The 'days' parameter of generate_synthetic_logs must be an int >= 1. Got {days!r} instead.")
    if not (isinstance(requests_per_hour, int | float) and requests_per_hour > 0 and math.isfinite(requests_per_hour)):
        raise ConfigError(
            "The 'requests_per_hour' parameter of generate_synthetic_logs must be a positive number. "
            f"Got {requests_per_hour!r} instead."
        )
    if not (0.0 < judge_rate <= 1.0):
        raise ConfigError(
            f"The 'judge_rate' parameter of generate_synthetic_logs must be in (0, 1]. Got {judge_rate!r} instead."
        )
    if not isinstance(max_tokens, int) or max_tokens < 2:
        raise ConfigError(
            f"The 'max_tokens' parameter of generate_synthetic_logs must be an int >= 2. Got {max_tokens!r} instead."
        )
    if not isinstance(text_max_chars, int) or text_max_chars < 40:
        raise ConfigError(
            "The 'text_max_chars' parameter of generate_synthetic_logs must be an int >= 40. "
            f"Got {text_max_chars!r} instead."
        )


def _chunks(
    days: int,
    start: str | pd.Timestamp,
    requests_per_hour: float,
    incidents: Sequence[Incident] | Literal["default"] | None,
    seed: int,
    judge_rate: float,
    max_tokens: int,
    text_max_chars: int,
    model: str,
    days_per_chunk: int,
) -> tuple[Iterator[pd.DataFrame], tuple[Incident, ...]]:
    _check(days, requests_per_hour, judge_rate, max_tokens, text_max_chars)
    t0 = _utc(start).normalize()
    incs = default_incidents(t0, days) if incidents == "default" else tuple(incidents or ())
    root = np.random.default_rng(seed)
    day_effects = np.exp(root.normal(0.0, 0.05, days))
    child_seeds = root.integers(0, 2**63 - 1, size=math.ceil(days / days_per_chunk))

    def gen() -> Iterator[pd.DataFrame]:
        offset = 0
        for k, d0 in enumerate(range(0, days, days_per_chunk)):
            nd = min(days_per_chunk, days - d0)
            hours = pd.date_range(t0 + pd.Timedelta(days=d0), periods=24 * nd, freq="h")
            df = _generate_chunk(
                hours,
                requests_per_hour=requests_per_hour,
                incidents=incs,
                rng=np.random.default_rng(int(child_seeds[k])),
                id_offset=offset,
                day_effects=np.repeat(day_effects[d0 : d0 + nd], 24),
                judge_rate=judge_rate,
                max_tokens=max_tokens,
                text_max_chars=text_max_chars,
                model=model,
            )
            offset += len(df) + 1
            yield df

    return gen(), incs


def _incident_frame(incs: Sequence[Incident]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kind": [i.kind for i in incs],
            "start": pd.to_datetime([i.start for i in incs], utc=True),
            "end": pd.to_datetime([i.end for i in incs], utc=True),
            "magnitude": [i.magnitude for i in incs],
            "metrics": [_AFFECTS[i.kind] for i in incs],
            "description": [i.description for i in incs],
        }
    )


def generate_synthetic_logs(
    days: int = 60,
    *,
    start: str | pd.Timestamp = "2024-01-01",
    requests_per_hour: float = 300.0,
    incidents: Sequence[Incident] | Literal["default"] | None = "default",
    seed: int = 0,
    judge_rate: float = 0.05,
    max_tokens: int = 1024,
    text_max_chars: int = 240,
    model: str = "assistant-v1",
) -> SyntheticLogs:
    """Generate SYNTHETIC production logs with seasonality and injected incidents.

    Args:
        days: number of days, starting at midnight UTC of ``start``.
        start: first day.
        requests_per_hour: average traffic (the daily and weekly profiles average to 1).
        incidents: ``"default"`` (:func:`default_incidents`), None for incident-free
            logs, or a sequence of :class:`Incident`.
        seed: random seed; the same arguments and seed give the same logs.
        judge_rate: share of conversations carrying a judge score (hash-based sample).
        max_tokens: the completion cap; capped outputs get ``finish_reason="length"``.
        text_max_chars: the longest output text generated.
        model: value of the ``model`` column.

    Returns:
        :class:`SyntheticLogs` with the logs (sorted by timestamp) and the incident table.

    Raises:
        ConfigError: for invalid sizes, rates or incidents.

    Examples:
        >>> syn = generate_synthetic_logs(days=2, requests_per_hour=20, incidents=None, seed=1)
        >>> 600 < len(syn.logs) < 1400, syn.incidents.empty
        (True, True)
        >>> syn.logs["timestamp"].dt.tz is not None
        True
    """
    gen, incs = _chunks(
        days, start, requests_per_hour, incidents, seed, judge_rate, max_tokens, text_max_chars, model, days_per_chunk=7
    )
    logs = pd.concat(list(gen), ignore_index=True)
    return SyntheticLogs(logs=logs, incidents=_incident_frame(incs), seed=seed)


def write_synthetic_parquet(
    path: str | Path,
    *,
    rows: int,
    days: int = 60,
    incidents: Sequence[Incident] | Literal["default"] | None = "default",
    seed: int = 0,
    text_max_chars: int = 240,
    row_group_size: int = 500_000,
) -> pd.DataFrame:
    """Write about ``rows`` SYNTHETIC log rows to one Parquet file, one day at a time.

    Memory stays bounded by one day of logs, so 10M rows fit easily.

    Args:
        path: the Parquet file to write.
        rows: the target number of rows (the Poisson draws make it approximate).
        days: days covered.
        incidents: as in :func:`generate_synthetic_logs`.
        seed: random seed.
        text_max_chars: the longest output text generated.
        row_group_size: Parquet row group size.

    Returns:
        The incident table.

    Raises:
        ConfigError: for ``rows < 1`` or invalid generator arguments.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(rows, int) or rows < 1:
        raise ConfigError(f"The 'rows' parameter of write_synthetic_parquet must be an int >= 1. Got {rows!r} instead.")
    # Traffic per hour such that the expected total is `rows` over these particular days.
    hours = pd.date_range("2024-01-01", periods=24 * days, freq="h", tz="UTC")
    expected_per_unit = float(
        np.sum(_daily_profile(hours.hour.to_numpy()) * _weekly_profile(hours.day_of_week.to_numpy()))
    )
    gen, incs = _chunks(
        days, "2024-01-01", rows / expected_per_unit, incidents, seed, 0.05, 1024, text_max_chars, "assistant-v1", 1
    )
    writer: pq.ParquetWriter | None = None
    try:
        for df in gen:
            table = pa.Table.from_pandas(df, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(str(path), table.schema, compression="zstd")
            writer.write_table(table, row_group_size=row_group_size)
    finally:
        if writer is not None:
            writer.close()
    return _incident_frame(incs)
