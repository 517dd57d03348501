"""The detectors themselves: one function per kind of metric (level, proportion, distribution)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaltools.monitor._alerts import Alert, DetectionConfig, _Metric
from evaltools.monitor._stats import (
    _A99_SD,
    _MAX_CELLS,
    _Q90_SD,
    _cusum,
    _ewma,
    _history_chunks,
    _lag1_trailing,
    _lags,
    _nanmedian_rows,
    _robust_sd,
    _row_median,
    _row_robust_sd,
    _t_thresholds,
    _trailing_median,
    _trailing_quantiles,
    _trailing_rows,
)
from evaltools.monitor._windows import LENGTH_BINS_PER_E


@dataclass
class _Ctx:
    frame: pd.DataFrame
    hist: pd.DataFrame | None
    cfg: DetectionConfig
    window: str
    period: int | None
    W: int
    min_hist: int
    warmup: int
    length_unit: str | None
    group: str | None
    lam: float
    R: int = 24
    """Windows in the rolling (cold-start) baseline."""


def _baseline_desc(ctx: _Ctx, seasonal: bool) -> str:
    if seasonal and ctx.period is not None:
        what = {168: "hour-of-week", 24: "hour-of-day", 7: "weekday"}[ctx.period]
        unit = "weeks" if ctx.period in (168, 7) else "days"
        return f"median of the same {what} over the previous {ctx.cfg.seasonal_periods} {unit}"
    return f"median of the previous {ctx.W} windows"


def _rolling_desc(ctx: _Ctx) -> str:
    return f"cold start: median of the previous {ctx.R} windows, until the seasonal baseline has enough history"


def _standardize(ctx: _Ctx, m: _Metric) -> dict[str, np.ndarray]:
    """Seasonal expected value, residual and robust z of a level metric (transformed scale)."""
    f = ctx.frame
    cfg = ctx.cfg
    raw = f[m.value].to_numpy(float)
    n = f[m.n].to_numpy(float)
    se = f[m.se].to_numpy(float)
    if m.log:
        floor = 0.5 if m.unit in ("length", "requests") else 1e-6
        x = np.log(np.maximum(raw, floor))
    else:
        x = raw.copy()
    min_n = 1 if m.value == "n_requests" else (cfg.min_judged if m.value == "judge_mean" else f.attrs["min_requests"])
    valid = ~f["gap"].to_numpy() & (n >= min_n) & np.isfinite(x)
    xv = np.where(valid, x, np.nan)
    T = len(x)
    # Two baselines: the seasonal one (same hour-of-week over the previous weeks) and the rolling
    # one (median of the previous ``rolling_baseline``), each scored against the spread of its
    # own past residuals. A window uses the seasonal branch once it can be scored there; until
    # then (the cold start) the rolling branch, so alerts start after days, not weeks.
    roll_e, roll_cnt = _trailing_median(xv, ctx.R, max(3, ctx.R // 2))
    branches = [(roll_e, roll_cnt)]
    if m.seasonal and ctx.period is not None:
        L = _lags(xv, ctx.period, cfg.seasonal_periods)
        cnt = np.sum(np.isfinite(L), axis=1)
        se_e = _nanmedian_rows(L)
        se_e[cnt < cfg.min_seasonal_periods] = np.nan
        branches.append((se_e, cnt))
    elif ctx.period is None or not m.seasonal:
        branches = [_trailing_median(xv, ctx.W, ctx.min_hist)]
    # Per-window "unit SD" (SE * sqrt(n)); the history's median is used for every window, because
    # one small window's own spread or quantile slope is too noisy to weigh it by.
    with np.errstate(invalid="ignore"):
        unit = se * np.sqrt(n)
    unit_ok = np.isfinite(unit) & (unit > 0)
    out = {"e": np.full(T, np.nan), "z": np.full(T, np.nan), "scale": np.full(T, np.nan),
           "dof": np.zeros(T, dtype=np.int64), "seasonal": np.zeros(T, dtype=bool)}  # fmt: skip
    for b, (e, cnt) in enumerate(branches):
        cold = b == 0 and len(branches) == 2
        z, scale, dof = _level_z(ctx, xv - e, cnt, n, unit, unit_ok, conservative=cold)
        take = np.isfinite(z) if b else np.ones(T, dtype=bool)
        out["e"][take], out["z"][take], out["scale"][take], out["dof"][take] = e[take], z[take], scale[take], dof[take]
        out["seasonal"][take] = b == 1 and len(branches) == 2
    return {"x": x, "raw": raw, "valid": valid, **out}


def _level_z(
    ctx: _Ctx, r: np.ndarray, cnt: np.ndarray, n: np.ndarray, unit: np.ndarray, unit_ok: np.ndarray,
    *, conservative: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Robust z of residuals ``r`` against a two-part variance (between-window tau^2 + sampling).

    ``conservative`` (the cold start's rolling baseline, which cannot model the seasonal cycle):
    the spread is floored by the central-90 % range and the 99th percentile of |r| of the history,
    as for any series (``_stats._robust_spread``), so the normal weekday/weekend or day/night
    cycle is inside the band instead of screened out as outliers.
    """
    T = len(r)
    # Variance of a median of m values is about (pi/2) sigma^2 / m (the mean's for m <= 2).
    infl = 1.0 + np.where(cnt >= 3, math.pi / 2, 1.0) / np.maximum(cnt, 1)
    usable = np.isfinite(r) & (n > 0)
    z = np.full(T, np.nan)
    scale = np.full(T, np.nan)
    dof = np.zeros(T, dtype=np.int64)
    if conservative:  # the quantile floors over the same trailing windows, vectorized
        q05, q95 = _trailing_quantiles(np.where(usable, r, np.nan), ctx.W, (0.05, 0.95), 1)
        (a99,) = _trailing_quantiles(np.where(usable, np.abs(r), np.nan), ctx.W, (0.99,), 1)
        floor = np.fmax((q95 - q05) / _Q90_SD, a99 / _A99_SD)
    # One row per scored window t, one column per history position (t - W .. t - 1), in chunks.
    ts, nh = _trailing_rows(usable, ctx.W, ctx.min_hist, ctx.warmup)
    for rows, hp, mask in _history_chunks(ts, usable, ctx.W):
        t, cnt_h = ts[rows], nh[rows]
        mu = mask & hp.take(unit_ok, False)
        u = np.where(mu.any(axis=1), _row_median(np.where(mu, hp.take(unit), np.nan)), 0.0)
        u2 = u**2
        with np.errstate(invalid="ignore", divide="ignore"):
            vh = np.where(mask, u2[:, None] / hp.take(n) * hp.take(infl), 0.0)
        vt = u2 / n[t] * infl[t]
        rh = np.where(mask, hp.take(r), np.nan)
        # Between-window variance: what the residual spread leaves after sampling noise.
        sd = _row_robust_sd(rh)
        if conservative:
            fl = floor[t]
            sd = np.where(fl > sd, fl, sd)  # Python's max(sd, fl): a NaN floor keeps sd, a NaN sd stays
        with np.errstate(invalid="ignore", divide="ignore"):  # an empty history (min_hist 0): NaN, as np.mean
            excess = sd**2 - np.sum(vh, axis=1) / cnt_h
        tau2 = np.where(excess > 0.0, excess, 0.0)  # max(0.0, excess): NaN gives 0
        go = ~(tau2 + vt <= 0)
        if conservative:
            sz = np.ones(len(t))
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                zh = np.where(mask, rh / np.sqrt(tau2[:, None] + vh), np.nan)
            s = _row_robust_sd(zh)
            bad = np.flatnonzero(go & np.any(mask & ~np.isfinite(zh), axis=1))
            for i in bad:  # a zero variance in the history: the scalar function's NaN/inf handling
                s[i] = _robust_sd(zh[i][mask[i]])
            sz = np.where(0.7 > s, 0.7, s)  # max(s, 0.7)
        with np.errstate(invalid="ignore"):
            sc = np.sqrt(tau2 + vt) * sz
        tg = t[go]
        scale[tg] = sc[go]
        with np.errstate(invalid="ignore", divide="ignore"):
            z[tg] = r[tg] / sc[go]
        dof[tg] = cnt_h[go] - 1
    return z, scale, dof


def _back(m: _Metric, v: np.ndarray | float) -> Any:
    return np.exp(v) if m.log else v


def _fmt(m: _Metric, v: float, length_unit: str | None) -> str:
    if not np.isfinite(v):
        return "n/a"
    if m.unit == "s":
        return f"{v:.3g} s"
    if m.unit == "%":
        return f"{100 * v:.2f}%"
    if m.unit == "length":
        return f"{v:.0f} {length_unit or ''}".strip()
    if m.unit == "requests":
        return f"{v:.0f} requests"
    return f"{v:.3g} {m.unit}".strip()


def _when(ts: pd.Timestamp, window: str) -> str:
    return f"{ts:%Y-%m-%d %H:%M} UTC" if window == "hour" else f"{ts:%Y-%m-%d} (UTC day)"


def _level(ctx: _Ctx, name: str, m: _Metric, dets: tuple[str, ...]) -> tuple[list[Alert], list[pd.DataFrame]]:
    cfg, f = ctx.cfg, ctx.frame
    s = _standardize(ctx, m)
    z, e, scale = s["z"], s["e"], s["scale"]
    starts, ends = f["window_start"], f["window_end"]
    alerts: list[Alert] = []
    stats: list[pd.DataFrame] = []
    desc = _baseline_desc(ctx, m.seasonal)
    cold = ~s["seasonal"] & bool(m.seasonal and ctx.period is not None)
    desc_cold = _rolling_desc(ctx)
    base_nat = _back(m, e)
    if "robust_z" in dets:
        base_thr = cfg.z_threshold * cfg.factor
        thr = _t_thresholds(base_thr, s["dof"])
        lower, upper = _back(m, e - thr * scale), _back(m, e + thr * scale)
        fire = np.abs(z) > thr
        stats.append(_stat_frame(ctx, name, "robust_z", s["raw"], base_nat, lower, upper, z, thr, fire, ~cold))
        for t in np.flatnonzero(fire):
            up = z[t] > 0
            alerts.append(
                Alert(
                    metric=name, window_start=starts.iloc[t], window_end=ends.iloc[t], value=float(s["raw"][t]),
                    baseline=float(base_nat[t]), distance=float(z[t]), threshold=float(thr[t]), detector="robust_z",
                    direction="up" if up else "down", group=ctx.group,
                    explanation=(
                        f"{m.label} was {_fmt(m, s['raw'][t], ctx.length_unit)} in the window starting "
                        f"{_when(starts.iloc[t], ctx.window)}, {abs(z[t]):.1f} robust standard deviations "
                        f"{'above' if up else 'below'} its baseline of "
                        f"{_fmt(m, base_nat[t], ctx.length_unit)} ({desc_cold if cold[t] else desc}). "
                        f"No-alert range: {_fmt(m, lower[t], ctx.length_unit)} to {_fmt(m, upper[t], ctx.length_unit)}."
                    ),
                )
            )  # fmt: skip
        if name == "n_requests":
            alerts.extend(_gap_alerts(ctx, m, e))
    if "ewma" in dets or "cusum" in dets:
        # Drift detectors need a stable baseline: they skip the cold start (a 24-hour rolling
        # baseline follows a drift anyway).
        zs = np.where(np.isfinite(z) & ~cold, z, np.nan)
        # Lag-1 autocorrelation of the standardized deviations, from the trailing baseline only.
        rho = _lag1_trailing(zs, ctx.W)
        if "ewma" in dets:
            stat, lim = _ewma(zs, ctx.lam, cfg.ewma_limit * cfg.factor, rho)
            alerts.extend(_crossing_alerts(ctx, name, m, "ewma", stat, lim, s["raw"], base_nat, desc))
            stats.append(
                _stat_frame(ctx, name, "ewma", s["raw"], base_nat, np.full(len(z), np.nan), np.full(len(z), np.nan),
                            stat, lim, np.abs(stat) > lim)
            )  # fmt: skip
        if "cusum" in dets:
            stat = _cusum(zs, cfg.cusum_k, cfg.cusum_h * cfg.factor)
            thr = np.full(len(z), cfg.cusum_h * cfg.factor)
            alerts.extend(_crossing_alerts(ctx, name, m, "cusum", stat, thr, s["raw"], base_nat, desc))
            stats.append(
                _stat_frame(ctx, name, "cusum", s["raw"], base_nat, np.full(len(z), np.nan), np.full(len(z), np.nan),
                            stat, thr, np.abs(stat) > thr)
            )  # fmt: skip
    return alerts, stats


def _gap_alerts(ctx: _Ctx, m: _Metric, e: np.ndarray) -> list[Alert]:
    """An empty window where the baseline expects real traffic is an outage, or missing logs."""
    f = ctx.frame
    out = []
    gap = f["gap"].to_numpy()
    expected = np.exp(e)
    for t in np.flatnonzero(gap & np.isfinite(e) & (expected >= f.attrs["min_requests"])):
        ts = f["window_start"].iloc[t]
        out.append(
            Alert(
                metric="n_requests", window_start=ts, window_end=f["window_end"].iloc[t], value=0.0,
                baseline=float(expected[t]), distance=math.inf, threshold=float(f.attrs["min_requests"]),
                detector="gap", direction="down", group=ctx.group,
                explanation=(
                    f"No requests were logged in the window starting {_when(ts, ctx.window)}, although its baseline "
                    f"expects about {expected[t]:.0f} ({_baseline_desc(ctx, True)}): an outage, or logs missing."
                ),
            )
        )  # fmt: skip
    return out


def _crossing_alerts(
    ctx: _Ctx, name: str, m: _Metric, det: str, stat: np.ndarray, lim: np.ndarray, raw: np.ndarray,
    base: np.ndarray, desc: str,
) -> list[Alert]:  # fmt: skip
    """Alert at the first window of each run beyond the limit (a drift is one event)."""
    f = ctx.frame
    out = []
    over = np.isfinite(stat) & np.isfinite(lim) & (np.abs(stat) > lim)
    prev = False
    for t in range(len(stat)):
        if not np.isfinite(stat[t]):
            continue
        if over[t] and not prev:
            up = stat[t] > 0
            ts = f["window_start"].iloc[t]
            what = (
                f"the EWMA (lambda={ctx.lam:g}) of its standardized deviations reached {stat[t]:+.2f}, "
                f"beyond the control limit +/-{lim[t]:.2f}"
                if det == "ewma"
                else f"the CUSUM of its standardized deviations reached {abs(stat[t]):.1f} (limit {lim[t]:.1f})"
            )
            out.append(
                Alert(
                    metric=name, window_start=ts, window_end=f["window_end"].iloc[t], value=float(raw[t]),
                    baseline=float(base[t]), distance=float(stat[t]), threshold=float(lim[t]), detector=det,
                    direction="up" if up else "down", group=ctx.group,
                    explanation=(
                        f"{m.label} has drifted {'up' if up else 'down'} as of the window starting "
                        f"{_when(ts, ctx.window)}: {what}. Current value {_fmt(m, raw[t], ctx.length_unit)}, "
                        f"baseline {_fmt(m, base[t], ctx.length_unit)} ({desc})."
                    ),
                )
            )  # fmt: skip
        prev = bool(over[t])
    return out


def _stat_frame(
    ctx: _Ctx, metric: str, det: str, value: Any, baseline: Any, lower: Any, upper: Any, statistic: Any,
    threshold: Any, alert: Any, seasonal: np.ndarray | None = None,
) -> pd.DataFrame:  # fmt: skip
    f = ctx.frame
    stat = np.asarray(statistic, dtype=float)
    if seasonal is None:
        seasonal = np.full(len(f), ctx.period is not None)
    kind = np.where(~np.isfinite(stat), "", np.where(seasonal, "seasonal", "rolling"))
    return pd.DataFrame(
        {
            "window_start": f["window_start"].to_numpy(),
            "group": ctx.group,
            "metric": metric,
            "detector": det,
            "value": np.asarray(value, dtype=float),
            "baseline": np.asarray(baseline, dtype=float),
            "lower": np.asarray(lower, dtype=float),
            "upper": np.asarray(upper, dtype=float),
            "statistic": np.asarray(statistic, dtype=float),
            "threshold": np.broadcast_to(np.asarray(threshold, dtype=float), (len(f),)).copy(),
            "alert": np.asarray(alert, dtype=bool) & np.isfinite(np.asarray(statistic, dtype=float)),
            "baseline_kind": kind,
        }
    )


# ----------------------------------------------------------------------------------------------
# Proportions: seasonal Laney p' with mid-p binomial z, binomial CUSUM


def _binomial_z(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """z-score of k successes in n at rate p through the mid-p binomial tail (exact for small counts).

    Each side is computed from its own tail (``cdf`` below the mean, ``sf`` above it) so extreme
    windows keep their size instead of saturating at ``norm.ppf(1 - 1e-16)`` = 8.2; when even that
    tail underflows, the normal approximation takes over.
    """
    from scipy.stats import binom, norm

    pmf = binom.pmf(k, n, p)
    lower = binom.cdf(k - 1, n, p) + 0.5 * pmf
    upper = binom.sf(k, n, p) + 0.5 * pmf
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(lower < 0.5, norm.ppf(lower), norm.isf(upper))
        approx = (k - n * p) / np.sqrt(n * p * (1 - p))
    out: np.ndarray = np.where(np.isfinite(z), z, approx)
    return out


def _proportion(ctx: _Ctx, name: str, m: _Metric, dets: tuple[str, ...]) -> tuple[list[Alert], list[pd.DataFrame]]:

    cfg, f = ctx.cfg, ctx.frame
    k = f[m.count].to_numpy(float)
    n = f[m.n].to_numpy(float)
    T = len(f)
    valid = ~f["gap"].to_numpy() & (n >= f.attrs["min_requests"]) & np.isfinite(k)
    kv, nv = np.where(valid, k, np.nan), np.where(valid, n, np.nan)
    # Long-run rate over the trailing baseline windows (current window excluded).
    lk = pd.Series(kv).rolling(ctx.W, min_periods=1).sum().shift(1).to_numpy()
    ln = pd.Series(nv).rolling(ctx.W, min_periods=1).sum().shift(1).to_numpy()
    lcnt = pd.Series(nv).notna().astype(float).rolling(ctx.W, min_periods=1).sum().shift(1).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        p_long = (lk + 0.5) / (ln + 1.0)
    if ctx.period is not None:
        K, N = _lags(kv, ctx.period, cfg.seasonal_periods), _lags(nv, ctx.period, cfg.seasonal_periods)
        cnt = np.sum(np.isfinite(N), axis=1)
        sn = np.nansum(N, axis=1)
        ok_base = (cnt >= cfg.min_seasonal_periods) & (lcnt >= ctx.min_hist)
        # The median of the previous periods' rates, not their pooled rate: one past incident in
        # the same slot must not shift next week's baseline.
        with np.errstate(invalid="ignore", divide="ignore"):
            p_seasonal = _nanmedian_rows(K / N)
        # Shrink it toward the long-run rate with a prior worth 10 events: the seasonal rate
        # dominates for common events, the long-run one for rare events (4 windows of a 0.1 %
        # event say little).
        with np.errstate(invalid="ignore", divide="ignore"):
            m0 = 10.0 / p_long
            pbar = np.where(ok_base, (p_seasonal * sn + m0 * p_long) / (sn + m0), np.nan)
        # Cold start: until the seasonal rate has enough periods, the rate of the previous
        # ``rolling_baseline`` windows.
        rk = pd.Series(kv).rolling(ctx.R, min_periods=1).sum().shift(1).to_numpy()
        rn = pd.Series(nv).rolling(ctx.R, min_periods=1).sum().shift(1).to_numpy()
        rcnt = pd.Series(nv).notna().astype(float).rolling(ctx.R, min_periods=1).sum().shift(1).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            p_roll = (rk + 0.5) / (rn + 1.0)
        seasonal_ok = np.isfinite(pbar)
        pbar = np.where(seasonal_ok, pbar, np.where(rcnt >= max(3, ctx.R // 2), p_roll, np.nan))
    else:
        ok_base = lcnt >= ctx.min_hist
        pbar = np.where(ok_base, p_long, np.nan)
        seasonal_ok = np.ones(T, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
    usable = valid & np.isfinite(pbar)
    zraw = np.full(T, np.nan)
    if usable.any():
        zraw[usable] = _binomial_z(k[usable], n[usable], pbar[usable])
    z = np.full(T, np.nan)
    sigz = np.full(T, np.nan)
    dof = np.zeros(T, dtype=np.int64)
    scored = np.isfinite(zraw)
    ts, nh = _trailing_rows(scored, ctx.W, ctx.min_hist, ctx.warmup)
    for rows, hp, mask in _history_chunks(ts, scored, ctx.W):
        t = ts[rows]
        sd = _row_robust_sd(np.where(mask, hp.take(zraw), np.nan))
        # Overdispersion only: a discrete rare-event z has a degenerate spread, never narrow the limits.
        sigz[t] = np.where(1.0 > sd, 1.0, sd)  # max(sd, 1.0): a NaN spread stays NaN
        z[t] = zraw[t] / sigz[t]
        dof[t] = nh[rows] - 1
    alerts: list[Alert] = []
    stats: list[pd.DataFrame] = []
    starts = f["window_start"]
    desc = _baseline_desc(ctx, True) if ctx.period is not None else f"pooled over the previous {ctx.W} windows"
    if "laney_p" in dets:
        base_thr = cfg.laney_threshold * cfg.factor
        thr = _t_thresholds(base_thr, dof)
        with np.errstate(invalid="ignore"):
            half = thr * sigz * np.sqrt(pbar * (1 - pbar) / n)
        fire = np.abs(z) > thr
        stats.append(_stat_frame(ctx, name, "laney_p", p, pbar, np.maximum(pbar - half, 0), pbar + half, z, thr, fire,
                                 seasonal_ok))  # fmt: skip
        for t in np.flatnonzero(fire):
            up = z[t] > 0
            alerts.append(
                Alert(
                    metric=name, window_start=starts.iloc[t], window_end=f["window_end"].iloc[t], value=float(p[t]),
                    baseline=float(pbar[t]), distance=float(z[t]), threshold=float(thr[t]), detector="laney_p",
                    direction="up" if up else "down", group=ctx.group,
                    explanation=(
                        f"{m.label} was {100 * p[t]:.2f}% ({k[t]:.0f} of {n[t]:.0f}) in the window starting "
                        f"{_when(starts.iloc[t], ctx.window)}, {'above' if up else 'below'} its baseline of "
                        f"{100 * pbar[t]:.2f}% ({desc if seasonal_ok[t] else _rolling_desc(ctx)}): "
                        f"Laney p' z = {z[t]:+.1f} "
                        f"(binomial tail z divided by sigma_z = {sigz[t]:.2f} for overdispersion; "
                        f"threshold {thr[t]:.1f})."
                    ),
                )
            )  # fmt: skip
    if "binomial_cusum" in dets:
        h_lim = cfg.binomial_cusum_h * cfg.factor
        ratio = cfg.binomial_cusum_ratio
        S = np.full(T, np.nan)
        acc = 0.0
        for i in range(T):
            if not (np.isfinite(z[i]) and pbar[i] > 0 and seasonal_ok[i]):  # drift: not on the cold start
                continue
            p0 = float(pbar[i])
            p1 = min(ratio * p0, 0.999)
            # Bernoulli log-likelihood ratio of the window (Reynolds & Stoumbos 1999), divided by
            # sigma_z^2 so that overdispersed traffic does not drift upward by itself.
            w = k[i] * math.log(p1 / p0) + (n[i] - k[i]) * math.log((1 - p1) / (1 - p0))
            acc = max(0.0, acc + w / sigz[i] ** 2)
            S[i] = acc
            if acc > h_lim:
                acc = 0.0
        thr_arr = np.full(T, h_lim)
        alerts.extend(_crossing_alerts(ctx, name, m, "binomial_cusum", S, thr_arr, p, pbar, desc))
        stats.append(_stat_frame(ctx, name, "binomial_cusum", p, pbar, np.nan, np.nan, S, h_lim, S > h_lim))
    return alerts, stats


# ----------------------------------------------------------------------------------------------
# Length distribution: PSI on baseline deciles, Wasserstein of log length


def _distribution(ctx: _Ctx, name: str, m: _Metric, dets: tuple[str, ...]) -> tuple[list[Alert], list[pd.DataFrame]]:
    cfg, f, hist = ctx.cfg, ctx.frame, ctx.hist
    T = len(f)
    if hist is None or hist.empty:
        return [], []
    b0, b1 = int(hist["bin"].min()), int(hist["bin"].max())
    B = b1 - b0 + 1
    pos = pd.Series(np.arange(T), index=pd.DatetimeIndex(f["window_start"]))
    H = np.zeros((T, B))
    rows = pos.reindex(pd.DatetimeIndex(hist["window_start"])).to_numpy()
    ok = np.isfinite(rows)
    np.add.at(H, (rows[ok].astype(int), hist["bin"].to_numpy()[ok] - b0), hist["count"].to_numpy(float)[ok])
    n = H.sum(axis=1)
    valid = ~f["gap"].to_numpy() & (n >= f.attrs["min_requests"])
    Hv = np.where(valid[:, None], H, np.nan)
    edges = (np.arange(b0, b1 + 2)) / LENGTH_BINS_PER_E  # on the ln(1 + length) scale
    centers = (edges[:-1] + edges[1:]) / 2
    psi_v = np.full(T, np.nan)
    pval = np.full(T, np.nan)
    wd = np.full(T, np.nan)
    med_cur = np.full(T, np.nan)
    med_base = np.full(T, np.nan)
    # Each scored window's baseline histogram: the sum of its valid lag (or trailing) windows.
    Hval = np.where(valid[:, None], H, 0.0)
    base_all = np.zeros((T, B))
    if ctx.period is not None:
        nlag = np.zeros(T, dtype=np.int64)
        for j in range(1, cfg.seasonal_periods + 1):  # added in lag order, as the loop's nansum
            s = j * ctx.period
            if s < T:
                base_all[s:] += Hval[: T - s]
                nlag[s:] += valid[: T - s]
        have = valid & (nlag >= cfg.min_seasonal_periods)
    else:
        cv = np.concatenate([[0], np.cumsum(valid, dtype=np.int64)])
        lo = np.maximum(np.arange(T) - ctx.W, 0)
        have = valid & (cv[:T] - cv[lo] >= ctx.min_hist)
        if np.all(H == np.round(H)) and H.sum() < 2.0**53:  # integer counts: cumulative sums are exact
            C = np.vstack([np.zeros((1, B)), np.cumsum(Hval, axis=0)])
            base_all = C[:T] - C[lo]
        else:
            for t in np.flatnonzero(have):
                base_all[t] = np.nansum(Hv[lo[t] + np.flatnonzero(valid[lo[t] : t])], axis=0)
    tt = np.flatnonzero(have)
    step = max(1, _MAX_CELLS // (10 * B))
    for c0 in range(0, len(tt), step):
        t = tt[c0 : c0 + step]
        _distribution_rows(H[t], base_all[t], edges, centers, t, psi_v, pval, wd, med_cur, med_base)
    alerts: list[Alert] = []
    stats: list[pd.DataFrame] = []
    starts = f["window_start"]
    desc = _baseline_desc(ctx, True) if ctx.period is not None else f"the previous {ctx.W} windows"
    unit = ctx.length_unit or ""

    def alert(t: int, det: str, dist: float, thr: float) -> Alert:
        up = med_cur[t] >= med_base[t]
        if det == "psi":
            what = (
                f"PSI = {psi_v[t]:.2f} (threshold {thr:.2f}; above 0.25 is a large shift; "
                f"chi-square p = {pval[t]:.1e}); "
                f"Wasserstein distance of log length = {wd[t]:.2f} baseline IQRs"
            )
        else:
            what = (
                f"Wasserstein distance of log length = {wd[t]:.2f} baseline IQRs (threshold {thr:.2f}); "
                f"PSI = {psi_v[t]:.2f}"
            )
        return Alert(
            metric=name, window_start=starts.iloc[t], window_end=f["window_end"].iloc[t], value=float(med_cur[t]),
            baseline=float(med_base[t]), distance=float(dist), threshold=thr, detector=det,
            direction="up" if up else "down", group=ctx.group,
            explanation=(
                f"The output length distribution shifted {'up' if up else 'down'} in the window starting "
                f"{_when(starts.iloc[t], ctx.window)}: {what}. Median length {med_cur[t]:.0f} {unit} vs "
                f"{med_base[t]:.0f} {unit} in the baseline ({desc}, pooled)."
            ),
        )  # fmt: skip

    if "psi" in dets:
        thr = cfg.psi_threshold * cfg.factor
        fire = (psi_v >= thr) & (pval < cfg.distribution_alpha)
        stats.append(_stat_frame(ctx, name, "psi", med_cur, med_base, np.nan, np.nan, psi_v, thr, fire))
        alerts.extend(alert(int(t), "psi", psi_v[t], thr) for t in np.flatnonzero(fire))
    if "wasserstein" in dets:
        thr = cfg.wasserstein_threshold * cfg.factor
        fire = (wd >= thr) & (pval < cfg.distribution_alpha)
        stats.append(_stat_frame(ctx, name, "wasserstein", med_cur, med_base, np.nan, np.nan, wd, thr, fire))
        alerts.extend(alert(int(t), "wasserstein", wd[t], thr) for t in np.flatnonzero(fire))
    return alerts, stats


def _distribution_rows(
    cur: np.ndarray, base: np.ndarray, edges: np.ndarray, centers: np.ndarray, t: np.ndarray,
    psi_v: np.ndarray, pval: np.ndarray, wd: np.ndarray, med_cur: np.ndarray, med_base: np.ndarray,
) -> None:  # fmt: skip
    """PSI, chi-square p, Wasserstein distance and medians of windows ``t`` (rows of ``cur``/``base``).

    The per-window computation of :func:`_distribution`, row-wise: rows with the same number of
    decile groups (or of non-empty ones) are computed together, so the PSI and chi-square sums
    run over the same values in the same order as the one-window code, and scipy's own formulas
    are applied (Pearson's chi-square of the 2 x k table against row * column / total, its p from
    ``chdtrc(k - 1, .)``; the Wasserstein distance as scipy's CDF integral on the shared centers).
    With integer counts every result is bitwise the one-window one; with fractional counts the
    decile-group sums (sequential here, pairwise in numpy's ``sum``) can differ by an ulp.
    """
    from scipy.special import chdtrc
    from scipy.stats import chi2_contingency, wasserstein_distance

    rows, B = base.shape
    ar = np.arange(rows)
    cb = np.cumsum(base, axis=1)
    cc = np.cumsum(cur, axis=1)
    nb = cb[:, -1]
    # PSI bins: baseline deciles snapped to the fine histogram's edges (searchsorted, side="left").
    with np.errstate(invalid="ignore", divide="ignore"):
        cum = cb / nb[:, None]
    ss = np.sum(cum[:, None, :] < (np.arange(1, 10) / 10.0)[None, :, None], axis=2) + 1
    marks = np.zeros((rows, B + 2), dtype=np.int64)
    marks[np.repeat(ar, 9), ss.ravel()] = 1
    gid = np.cumsum(marks[:, :B], axis=1)  # group of each fine bin (np.split at the unique cuts)
    G = gid[:, -1] + 1
    e_all = np.bincount((ar[:, None] * 10 + gid).ravel(), weights=base.ravel(), minlength=rows * 10).reshape(rows, 10)
    a_all = np.bincount((ar[:, None] * 10 + gid).ravel(), weights=cur.ravel(), minlength=rows * 10).reshape(rows, 10)
    for g in np.unique(G):
        sel = np.flatnonzero(G == g)
        e_g, a_g = e_all[sel, :g], a_all[sel, :g]
        # Half a count in every bin: an empty decile would otherwise dominate the PSI (psi() row-wise).
        e, a = e_g + 0.5, a_g + 0.5
        es, as_ = e.sum(axis=1), a.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            e = np.maximum(e / es[:, None], 1e-4)
            a = np.maximum(a / as_[:, None], 1e-4)
            v = np.sum((a - e) * np.log(a / e), axis=1)
        psi_v[t[sel]] = np.where((es <= 0) | (as_ <= 0), np.nan, v)
        # Significance of the difference: Pearson chi-square test of homogeneity on the decile table.
        keep = (e_g + a_g) > 0
        nk = keep.sum(axis=1)
        order = np.argsort(~keep, axis=1, kind="stable")  # the non-empty groups first, in order
        e_k = np.take_along_axis(e_g, order, axis=1)
        a_k = np.take_along_axis(a_g, order, axis=1)
        for k in np.unique(nk[nk >= 2]):
            sk = np.flatnonzero(nk == k)
            obs = np.stack([e_k[sk, :k], a_k[sk, :k]], axis=1)  # (rows, 2, k)
            tot = obs.reshape(len(sk), 2 * k).sum(axis=1)
            expd = obs.sum(axis=2, keepdims=True) * obs.sum(axis=1, keepdims=True) / tot[:, None, None]
            zero = np.any(expd == 0, axis=(1, 2))
            with np.errstate(invalid="ignore", divide="ignore"):
                stat = ((obs - expd) ** 2 / expd).reshape(len(sk), 2 * k).sum(axis=1)
            p = chdtrc(k - 1, stat)
            for i in np.flatnonzero(zero):  # scipy's error for a table with an empty margin
                p[i] = float(chi2_contingency(obs[i], correction=False).pvalue)
            pval[t[sel[sk]]] = p
    iqr = _row_quantile_from_hist(base, cb, edges, 0.75) - _row_quantile_from_hist(base, cb, edges, 0.25)
    w = np.flatnonzero(iqr > 0)
    if len(w):
        # scipy's _cdf_distance(p=1) on the values (centers, centers): both CDFs at the merged support.
        allv = np.sort(np.concatenate([centers, centers]), kind="mergesort")
        deltas = np.diff(allv)
        ci = centers.searchsorted(allv[:-1], "right")
        cw_u = np.concatenate([np.zeros((len(w), 1)), cc[w]], axis=1)
        cw_v = np.concatenate([np.zeros((len(w), 1)), cb[w]], axis=1)
        su, sv = cw_u[:, -1], cw_v[:, -1]
        # Rows 64-byte aligned: the dot product's SIMD kernel then sums as on scipy's fresh 1-D arrays.
        x = _aligned_rows(len(w), len(deltas))
        with np.errstate(invalid="ignore", divide="ignore"):
            np.abs(cw_u[:, ci] / su[:, None] - cw_v[:, ci] / sv[:, None], out=x)
            d = np.vecdot(x, deltas) / iqr[w]
        for i in np.flatnonzero(~((su > 0) & (su < np.inf) & (sv > 0) & (sv < np.inf))):
            d[i] = wasserstein_distance(centers, centers, u_weights=cur[w[i]], v_weights=base[w[i]]) / iqr[w[i]]
        wd[t[w]] = d
    med_cur[t] = [math.expm1(v) for v in _row_quantile_from_hist(cur, cc, edges, 0.5)]
    med_base[t] = [math.expm1(v) for v in _row_quantile_from_hist(base, cb, edges, 0.5)]


def _aligned_rows(rows: int, cols: int) -> np.ndarray:
    """An uninitialized (rows, cols) float array view whose rows all start on a 64-byte boundary."""
    stride = -(-cols // 8) * 8
    buf = np.empty(rows * stride + 8)
    off = (-buf.ctypes.data % 64) // 8
    out: np.ndarray = buf[off : off + rows * stride].reshape(rows, stride)[:, :cols]
    return out


def _row_quantile_from_hist(counts: np.ndarray, cum: np.ndarray, edges: np.ndarray, q: float) -> np.ndarray:
    """:func:`_quantile_from_hist` of each row of ``counts`` (``cum`` its row-wise cumulative sum)."""
    rows, B = counts.shape
    ar = np.arange(rows)
    tot = cum[:, -1]
    target = q * tot
    i = np.minimum(np.sum(cum < target[:, None], axis=1), B - 1)
    prev = np.where(i > 0, cum[ar, np.maximum(i - 1, 0)], 0.0)
    ci = counts[ar, i]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = (target - prev) / np.where(1e-12 > ci, 1e-12, ci)  # max(ci, 1e-12)
        out: np.ndarray = edges[i] + frac * (edges[i + 1] - edges[i])
    return np.where(tot <= 0, np.nan, out)
