"""Anomaly detection on any regular metric series (a pandas Series with a DatetimeIndex).

The input policy (sort, regularize, refuse), the seasonal baseline in time with its cold-start
rolling fallback, the robust spread with its floors (``_stats._robust_spread``) and the paging
logic (``_alerts._page``) for :func:`evaltools.monitor.detect_anomalies` on a series. The log
windows path (``_rules``) shares the seasonal period in time, the cold start, the quantile floors
and the t thresholds.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from evaltools.errors import ConfigError, InputError, MonitorWarning
from evaltools.monitor._alerts import DetectionConfig, SeriesDetection, _page, _persist
from evaltools.monitor._stats import (
    _A99_SD,
    _IQR_SD,
    _Q90_SD,
    _lags,
    _nanmedian_rows,
    _resolution,
    _robust_spread,
    _t_thresholds,
    _trailing_count,
    _trailing_quantiles,
)

# ----------------------------------------------------------------------------------------------
# Any regular metric series: seasonal baseline in time, cold-start rolling baseline, robust spread


_DAY = pd.Timedelta(days=1)
_MIN_Z = 3.0
"""The smallest nominal threshold, whatever ``false_alarms_per_day`` asks for."""


def _steps(duration: str | pd.Timedelta, step: pd.Timedelta, minimum: int = 1) -> int:
    return max(int(round(pd.Timedelta(duration) / step)), minimum)


def _seasonal_period(seasonality: str, step: pd.Timedelta) -> int | None:
    """The seasonal lag in points for a seasonality in time, or None (no seasonality)."""
    if seasonality == "none":
        return None
    if seasonality == "day":
        if step >= _DAY:
            raise ConfigError(
                f"seasonality='daily' needs steps shorter than a day; this data has {step} steps. "
                "Use 'weekly' or 'none'."
            )
        return _steps(_DAY, step)
    return _steps(7 * _DAY, step)


def _seasonal_profile(x: np.ndarray, period: int, k: int, half: int, min_periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Median of the same time of day/week over the previous ``k`` periods.

    Each period contributes the median of its points within +/- ``half`` steps of that time
    (those are still in the past: ``half`` < ``period``), which smooths fine-grained data
    without blurring the seasonal shape. Returns the profile (NaN with fewer than
    ``min_periods`` usable periods) and the number of usable periods.
    """
    s = pd.Series(x)
    local = s.rolling(2 * half + 1, center=True, min_periods=1).median().to_numpy() if half > 0 else x
    lags = _lags(local, period, k)
    cnt = np.sum(np.isfinite(lags), axis=1)
    prof = _nanmedian_rows(lags)
    prof[cnt < min_periods] = np.nan
    return prof, cnt


def _series_branches(
    x: np.ndarray, step: pd.Timedelta, cfg: DetectionConfig, period: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The rolling and (when seasonal) the seasonal expected value per point, current point excluded.

    Seasonal: the seasonal profile plus the trailing median of the series' deviation from it
    (``rolling_baseline`` long), so that a level change is followed within hours instead of
    weeks; NaN until the profile has ``min_seasonal_periods`` periods. Rolling: the trailing
    median over ``rolling_baseline``.
    """
    R = _steps(cfg.rolling_baseline, step, 7)
    # Medians of the previous R points; beyond 720 points (a day of 1-minute data) from every
    # (R // 720)-th of them, which changes nothing but the cost.
    (rolling,) = _trailing_quantiles(x, R, (0.5,), max(3, R // 4), max_points=720)
    if period is None:
        return rolling, None
    half = min(_steps("15min", step, 0), period // 4) if step < pd.Timedelta("15min") else 0
    prof, _ = _seasonal_profile(x, period, cfg.seasonal_periods, half, cfg.min_seasonal_periods)
    (dev,) = _trailing_quantiles(x - prof, R, (0.5,), max(3, R // 4), max_points=720)
    return rolling, prof + dev


def _series_baseline(
    x: np.ndarray, step: pd.Timedelta, cfg: DetectionConfig, period: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Expected value per point (seasonal where available, else rolling) and whether it is seasonal."""
    rolling, seas = _series_branches(x, step, cfg, period)
    if seas is None:
        return rolling, np.zeros(len(x), dtype=bool)
    ok = np.isfinite(seas)
    return np.where(ok, seas, rolling), ok


def _spread_once(r: np.ndarray) -> float:
    q05, q25, q75, q95 = np.percentile(r, [5, 25, 75, 95])
    return float(max((q75 - q25) / _IQR_SD, (q95 - q05) / _Q90_SD, np.percentile(np.abs(r), 99) / _A99_SD))


def _auto_seasonality(x: np.ndarray, step: pd.Timedelta, cfg: DetectionConfig) -> str:
    """Pick the seasonality a series shows: the seasonal baseline that predicts it better.

    For each candidate (weekly, then daily) with at least ``min_seasonal_periods + 1`` periods
    of data, compare the spread of its residuals with that of the rolling baseline's, over the
    points where both exist, with the same estimator that scales the scores (the largest of the
    IQR, central-90 % and 99 %-|r| spreads, so a weekday/weekend step that only the tails see
    counts). The seasonal baseline wins when it cuts the spread by at least 20 %: on white
    noise the ratio is about 1.0 (no gain), and it must pay for the profile's own noise.
    """
    n_ok = int(np.isfinite(x).sum())
    rolling, _ = _series_baseline(x, step, cfg, None)
    for s in ("week", "day"):
        if s == "day" and step >= _DAY:
            continue
        period = _seasonal_period(s, step)
        assert period is not None
        if n_ok < (cfg.min_seasonal_periods + 1) * period:
            continue
        e, seas = _series_baseline(x, step, cfg, period)
        both = seas & np.isfinite(rolling) & np.isfinite(x)
        if both.sum() < period:
            continue
        sp_s, sp_r = _spread_once((x - e)[both]), _spread_once((x - rolling)[both])
        if sp_r > 0 and sp_s < 0.8 * sp_r:
            return s
    return "none"


def _series_scores(x: np.ndarray, step: pd.Timedelta, cfg: DetectionConfig, period: int | None) -> dict[str, Any]:
    """Baseline, spread, score and threshold of every point of a regular series (vectorized).

    Each baseline is scored against the spread of its own past residuals: the seasonal one
    takes over once it has one rolling-baseline length of residuals, so the cold start's
    residuals (which carry the whole seasonal cycle) never widen the seasonal band.
    """
    T = len(x)
    H = _steps(cfg.spread_history, step, 10)
    R = _steps(cfg.rolling_baseline, step, 7)
    min_hist = max(10, R)  # one rolling-baseline length of residuals before the first score
    res = _resolution(x)
    rolling, seas = _series_branches(x, step, cfg, period)
    seasonal = np.zeros(T, dtype=bool)
    if seas is not None:
        rs = x - seas
        sig_s, parts_s = _robust_spread(rs, seas, H, min_hist, resolution=res, rel_floor=cfg.spread_floor)
        seasonal = np.isfinite(sig_s) & np.isfinite(seas)
    # The rolling branch is needed only where the seasonal one is not ready: a trailing statistic
    # at t depends on the past only, so computing it on that prefix is exact (and cheap).
    need = np.flatnonzero(~seasonal)
    P = int(need[-1]) + 1 if len(need) else 0
    e, r = np.full(T, np.nan), np.full(T, np.nan)
    sigma, dof = np.full(T, np.nan), np.zeros(T, dtype=np.int64)
    parts: dict[str, np.ndarray] = {k: np.full(T, np.nan) for k in ("iqr", "q90", "tail", "resolution", "level")}
    if P:
        e[:P], r[:P] = rolling[:P], x[:P] - rolling[:P]
        sig_r, parts_r = _robust_spread(r[:P], e[:P], H, min_hist, resolution=res, rel_floor=cfg.spread_floor)
        sigma[:P], dof[:P] = sig_r, np.maximum(_trailing_count(r[:P], H).astype(np.int64) - 1, 0)
        for k, v in parts_r.items():
            parts[k][:P] = v
    if seas is not None and seasonal.any():
        e, r = np.where(seasonal, seas, e), np.where(seasonal, rs, r)
        sigma = np.where(seasonal, sig_s, sigma)
        dof = np.where(seasonal, np.maximum(_trailing_count(rs, H).astype(np.int64) - 1, 0), dof)
        parts = {k: np.where(seasonal, parts_s[k], v) for k, v in parts.items()}
    with np.errstate(invalid="ignore", divide="ignore"):
        z = r / sigma
    per_day = _DAY / step
    tail = min(cfg.alarm_rate / per_day, 0.5)
    from scipy.stats import norm

    # Never below 3: at coarse steps (hourly, daily) the alarm rate alone would put the threshold
    # at 1-in-100 points (0.1 a day of daily data is z = 1.64); three sigma is the least a page
    # needs (Shewhart's limits).
    z_nom = max(float(norm.isf(tail / 2)), _MIN_Z)
    thr = _t_thresholds(z_nom, np.where(np.isfinite(z), dof, 0))
    z = np.where(np.isfinite(thr), z, np.nan)
    return {"e": e, "r": r, "z": z, "sigma": sigma, "thr": thr, "seasonal": seasonal, "z_nominal": z_nom,
            "parts": parts, "T": T}  # fmt: skip


# ----------------------------------------------------------------------------------------------
# The front door for a series

_MIN_STEP, _MAX_STEP = pd.Timedelta(minutes=1), pd.Timedelta(days=1)


def _words(td: pd.Timedelta) -> str:
    if td >= pd.Timedelta(days=2) and td % pd.Timedelta(days=1) == pd.Timedelta(0):
        return f"{td.days} days"
    hours = td / pd.Timedelta(hours=1)
    return f"{hours:g} hours" if hours >= 1 else f"{td / pd.Timedelta(minutes=1):g} minutes"


def _regular_series(data: pd.Series | pd.DataFrame) -> tuple[pd.Series, pd.Timedelta, list[str]]:
    """Validate a metric series and put it on its regular grid (the documented input policy)."""
    notes: list[str] = []
    if isinstance(data, pd.DataFrame):
        if data.shape[1] != 1:
            raise InputError(
                "detect_anomalies takes a Series or a one-column DataFrame; this DataFrame has "
                f"{data.shape[1]} columns {list(data.columns)[:5]}. Pass one column, e.g. df['latency_p99']."
            )
        data = data.iloc[:, 0]
    s = data
    name = str(s.name) if s.name is not None else "value"
    if not isinstance(s.index, pd.DatetimeIndex):
        raise InputError(
            f"The series {name!r} needs a DatetimeIndex (timestamps); its index is {type(s.index).__name__}. "
            "Use series.set_axis(pd.to_datetime(timestamps)) or df.set_index('timestamp')[column]."
        )
    if s.index.hasnans:
        raise InputError(f"The series {name!r} has {int(s.index.isna().sum())} missing timestamp(s) (NaT).")
    try:
        values = pd.to_numeric(s, errors="raise").astype(float)
    except (ValueError, TypeError) as exc:
        raise InputError(f"The series {name!r} must be numeric: {exc}.", field=name) from None
    if len(values) < 2:
        raise InputError(f"The series {name!r} has {len(values)} point(s); at least 2 are needed to find its step.")
    if not values.index.is_monotonic_increasing:
        reversed_ = values.index.is_monotonic_decreasing
        values = values.sort_index(kind="stable")
        msg = (
            f"The series {name!r} was in reverse time order; it was sorted oldest first."
            if reversed_
            else f"The series {name!r} was not in time order; it was sorted."
        )
        warnings.warn(msg, MonitorWarning, stacklevel=3)
        notes.append(msg)
    values.index = values.index.as_unit("ns")  # asi8 below is in nanoseconds whatever the input's unit
    ns = values.index.asi8
    d = np.diff(ns)
    if not (d > 0).any():
        raise InputError(f"The series {name!r} has a single distinct timestamp; it needs at least two.", field=name)
    ds = np.sort(d[d > 0])
    bounds = np.r_[0, np.flatnonzero(np.diff(ds)) + 1, len(ds)]
    step_ns = int(ds[bounds[np.argmax(np.diff(bounds))]])  # the most common step (sort-based mode)
    step = pd.Timedelta(step_ns, unit="ns")
    alias = pd.tseries.frequencies.to_offset(step).freqstr
    if not (_MIN_STEP <= step <= _MAX_STEP):
        raise InputError(
            f"The series {name!r} has {alias} steps; detect_anomalies handles steps from 1 minute to 1 day. "
            f"Resample it, e.g. series.resample('{'1min' if step < _MIN_STEP else '1D'}').mean().",
            field=name,
        )
    ratio = d / step_ns
    k = np.rint(ratio)
    off = (d > 0) & ((np.abs(ratio - k) > 0.25) | (k == 0))
    if off.mean() > 0.1:
        raise InputError(
            f"The series {name!r} is irregular: {int(off.sum())} of its {len(d)} steps are not a whole number of its "
            f"most common step ({alias}). Put it on a regular grid first, e.g. series.resample('{alias}').mean().",
            field=name,
        )
    # Each point goes to the slot its step from the previous point says (small jitter and phase
    # changes are absorbed, points sharing a slot are averaged); missing slots are gaps.
    pos = np.r_[0, np.cumsum(np.where(off, np.rint(ratio), k).astype(np.int64))]
    n_slots = int(pos[-1]) + 1
    shared = int(np.count_nonzero(np.diff(pos) == 0))  # pos never decreases
    if shared:
        msg = (
            f"The series {name!r} has {shared} point(s) sharing a {alias} slot with another one (duplicated or "
            "sub-step timestamps); each slot's points were averaged."
        )
        warnings.warn(msg, MonitorWarning, stacklevel=3)
        notes.append(msg)
    if off.any():
        notes.append(f"{int(off.sum())} step(s) off the {alias} grid were snapped to the nearest slot.")
    x = values.to_numpy(float)
    fin = np.isfinite(x)
    sums = np.bincount(pos[fin], weights=x[fin], minlength=n_slots)
    cnt = np.bincount(pos[fin], minlength=n_slots)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid_x = np.where(cnt > 0, sums / np.maximum(cnt, 1), np.nan)
    # The index keeps the series' own timestamps (the first of each slot); a gap slot gets the
    # previous timestamp plus whole steps.
    first = np.full(n_slots, -1, dtype=np.int64)
    first[pos[::-1]] = np.arange(len(pos))[::-1]
    have = first >= 0
    last = np.maximum.accumulate(np.where(have, np.arange(n_slots), 0))
    stamp = ns[first[last]] + (np.arange(n_slots) - last) * step_ns
    n_missing = int(n_slots - have.sum())
    if n_missing:
        notes.append(f"{n_missing:,} missing point(s) of {n_slots:,} are gaps: never scored, never in a baseline.")
    index = pd.DatetimeIndex(stamp.astype("datetime64[ns]"))
    if values.index.tz is not None:
        index = index.tz_localize("UTC").tz_convert(values.index.tz)
    values = pd.Series(grid_x, index=index)
    values.name = name
    return values, step, notes


def _detect_series(data: pd.Series | pd.DataFrame, cfg: DetectionConfig) -> SeriesDetection:
    values, step, notes = _regular_series(data)
    name = str(values.name)
    x = values.to_numpy(float)
    x = np.where(np.isfinite(x), x, np.nan)
    seasonality = _auto_seasonality(x, step, cfg) if cfg.seasonality == "auto" else cfg.seasonality
    period = _seasonal_period(seasonality, step)
    sc = _series_scores(x, step, cfg, period)
    z, thr, e, sigma = sc["z"], sc["thr"], sc["e"], sc["sigma"]
    scored = np.isfinite(z)
    with np.errstate(invalid="ignore"):
        beyond = scored & (np.abs(z) > thr)
    k, m = cfg.persistence_for(name)
    anomalous = _persist(beyond, k, m)
    times = values.index.as_unit("ns").asi8
    gap = max(pd.Timedelta(cfg.episode_gap).value, step.value)
    episode, page = _page(anomalous, times, gap, pd.Timedelta(cfg.refractory).value)
    kind = pd.Categorical.from_codes(
        np.where(~scored, 0, np.where(sc["seasonal"], 1, 2)), categories=["", "seasonal", "rolling"]
    )
    lower, upper = e - thr * sigma, e + thr * sigma
    first_seasonal = np.flatnonzero(scored & sc["seasonal"])
    seasonal_from = values.index[first_seasonal[0]] if len(first_seasonal) else None
    expl = np.full(len(x), "", dtype=object)
    span = _words(max(_steps(cfg.rolling_baseline, step, 7), 7) * step)
    from scipy.stats import norm

    rate = float(2 * norm.sf(sc["z_nominal"]) * (pd.Timedelta(days=1) / step))
    roll_words = f"median of the previous {span}"
    what = {"week": "time of week", "day": "time of day"}.get(seasonality, "")
    for t in np.flatnonzero(anomalous):
        up = z[t] > 0
        base_desc = (
            f"same {what} over the previous {cfg.seasonal_periods} {'weeks' if seasonality == 'week' else 'days'}, "
            f"shifted by the median deviation over the previous {span}"
            if sc["seasonal"][t]
            else roll_words
        )
        expl[t] = (
            f"{name} was {x[t]:.4g} at {values.index[t]}, {abs(z[t]):.1f} robust standard deviations "
            f"{'above' if up else 'below'} its baseline of {e[t]:.4g} ({base_desc}); no-alert range "
            f"{lower[t]:.4g} to {upper[t]:.4g} (threshold {thr[t]:.2f}, spread {sigma[t]:.3g}: "
            f"about {rate:.2g} false alarm(s) a day expected)."
        )
    frame = pd.DataFrame(
        {
            "value": x, "baseline": e, "lower": lower, "upper": upper, "score": z, "threshold": thr,
            "anomalous": anomalous, "alert": page, "episode": episode, "baseline_kind": kind,
            "gap": ~np.isfinite(x), "explanation": expl,
        },
        index=values.index,
    )  # fmt: skip
    if not scored.any():
        need = max(10, _steps(cfg.rolling_baseline, step, 7)) + max(3, _steps(cfg.rolling_baseline, step, 7) // 4)
        msg = (
            f"The series {name!r} was never scored: it has {int(np.isfinite(x).sum())} usable point(s) and the first "
            f"score needs about {need} ({cfg.rolling_baseline} of history for the baseline and its spread). "
            "Pass a longer history, or shorten rolling_baseline."
        )
        warnings.warn(msg, MonitorWarning, stacklevel=3)
        notes.append(msg)
    result = SeriesDetection(
        frame=frame, name=name, step=step, seasonality=seasonality, seasonal_from=seasonal_from,
        threshold=float(sc["z_nominal"]), config=cfg, notes=tuple(notes),
    )  # fmt: skip
    return result
