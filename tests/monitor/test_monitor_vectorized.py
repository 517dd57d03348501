"""The vectorized detectors (``_level_z``, ``_proportion``, ``_distribution``) against their loops.

The ``_ref_*`` functions below are the per-window loops the detectors used before they were
vectorized, copied verbatim: the vectorized code must give the same alerts and statistics
(equal up to the summation order of a few means and variances, rtol 1e-9).
"""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, wasserstein_distance

from evaltools.monitor import _detectors, _rules, _stats, compute_windows, detect_anomalies, load_logs
from evaltools.monitor._alerts import Alert, _Metric
from evaltools.monitor._rules import (
    _A99_SD,
    _Q90_SD,
    LENGTH_BINS_PER_E,
    _baseline_desc,
    _binomial_z,
    _crossing_alerts,
    _Ctx,
    _distribution_rows,
    _lags,
    _level_z,
    _nanmedian_rows,
    _rolling_desc,
    _stat_frame,
    _t_thresholds,
    _trailing_quantiles,
    _when,
)
from evaltools.monitor._stats import _quantile_from_hist, _robust_sd, _row_median, _row_robust_sd, psi
from evaltools.monitor._synthetic import Incident, generate_synthetic_logs

# ----------------------------------------------------------------------------------------------
# Reference implementations: the loops as they were (evaltools/monitor/_rules.py before vectorizing)


def _ref_level_z(
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
    idx = np.flatnonzero(usable)
    if conservative:  # the quantile floors over the same trailing windows, vectorized
        q05, q95 = _trailing_quantiles(np.where(usable, r, np.nan), ctx.W, (0.05, 0.95), 1)
        (a99,) = _trailing_quantiles(np.where(usable, np.abs(r), np.nan), ctx.W, (0.99,), 1)
        floor = np.fmax((q95 - q05) / _Q90_SD, a99 / _A99_SD)
    for t in idx:
        lo = np.searchsorted(idx, t - ctx.W)
        hi = np.searchsorted(idx, t)
        h = idx[lo:hi]
        if len(h) < ctx.min_hist or t - idx[0] < ctx.warmup:
            continue
        hu = h[unit_ok[h]]
        u = float(np.median(unit[hu])) if len(hu) else 0.0
        vh = u**2 / n[h] * infl[h]
        vt = u**2 / n[t] * infl[t]
        rh = r[h]
        # Between-window variance: what the residual spread leaves after sampling noise.
        sd = _robust_sd(rh)
        if conservative:
            sd = max(sd, float(floor[t]))
        tau2 = max(0.0, sd**2 - float(np.mean(vh)))
        if tau2 + vt <= 0:
            continue
        zh = rh / np.sqrt(tau2 + vh)
        sz = 1.0 if conservative else max(_robust_sd(zh), 0.7)
        scale[t] = math.sqrt(tau2 + vt) * sz
        z[t] = r[t] / scale[t]
        dof[t] = len(h) - 1
    return z, scale, dof


def _ref_proportion(ctx: _Ctx, name: str, m: _Metric, dets: tuple[str, ...]) -> tuple[list[Alert], list[pd.DataFrame]]:

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
    idx = np.flatnonzero(np.isfinite(zraw))
    for t in idx:
        lo = np.searchsorted(idx, t - ctx.W)
        hi = np.searchsorted(idx, t)
        h = idx[lo:hi]
        if len(h) < ctx.min_hist or t - idx[0] < ctx.warmup:
            continue
        # Overdispersion only: a discrete rare-event z has a degenerate spread, never narrow the limits.
        sigz[t] = max(_robust_sd(zraw[h]), 1.0)
        z[t] = zraw[t] / sigz[t]
        dof[t] = len(h) - 1
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


def _ref_distribution(
    ctx: _Ctx, name: str, m: _Metric, dets: tuple[str, ...]
) -> tuple[list[Alert], list[pd.DataFrame]]:
    from scipy.stats import chi2_contingency, wasserstein_distance

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
    for t in range(T):
        if not valid[t]:
            continue
        if ctx.period is not None:
            lag_rows = [t - j * ctx.period for j in range(1, cfg.seasonal_periods + 1) if t - j * ctx.period >= 0]
            lag_rows = [r for r in lag_rows if valid[r]]
            if len(lag_rows) < cfg.min_seasonal_periods:
                continue
        else:
            lag_rows = [r for r in range(max(0, t - ctx.W), t) if valid[r]]
            if len(lag_rows) < ctx.min_hist:
                continue
        base = np.nansum(Hv[lag_rows], axis=0)
        cur = H[t]
        nb = base.sum()
        # PSI bins: baseline deciles snapped to the fine histogram's edges.
        cum = np.cumsum(base) / nb
        cuts = np.unique(np.searchsorted(cum, np.arange(1, 10) / 10.0, side="left") + 1)
        cuts = cuts[(cuts > 0) & (cuts < B)]
        groups = np.split(np.arange(B), cuts)
        e_g = np.array([base[g].sum() for g in groups])
        a_g = np.array([cur[g].sum() for g in groups])
        # Half a count in every bin: an empty decile would otherwise dominate the PSI.
        psi_v[t] = psi(e_g + 0.5, a_g + 0.5)
        # Significance of the difference: Pearson chi-square test of homogeneity on the decile table.
        keep = (e_g + a_g) > 0
        if keep.sum() >= 2:
            pval[t] = float(chi2_contingency(np.vstack([e_g[keep], a_g[keep]]), correction=False).pvalue)
        iqr = _quantile_from_hist(base, edges, 0.75) - _quantile_from_hist(base, edges, 0.25)
        if iqr > 0:
            wd[t] = wasserstein_distance(centers, centers, u_weights=cur, v_weights=base) / iqr
        med_cur[t] = math.expm1(_quantile_from_hist(cur, edges, 0.5))
        med_base[t] = math.expm1(_quantile_from_hist(base, edges, 0.5))
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


# ----------------------------------------------------------------------------------------------
# Row-wise helpers


def _random_rows(rng, rows, width, missing):
    x = rng.standard_normal((rows, width)) * rng.choice([1e-3, 1.0, 50.0], size=(rows, 1))
    tied = rng.random(rows) < 0.3
    x[tied] = np.round(x[tied, :1])  # some rows of one repeated value
    x = np.where(rng.random((rows, width)) < 0.2, np.round(x), x)  # ties
    x[rng.random((rows, width)) < missing] = np.nan
    x[0] = np.nan  # an empty row
    x[1, 1:] = np.nan  # a single value
    if width > 3:
        x[2, 3:] = np.nan
        x[2, :3] = [1.0, 1.0, 5.0]  # MAD 0: nothing screened
    return x


@pytest.mark.parametrize("width", [1, 2, 3, 8, 25, 336])
@pytest.mark.parametrize("missing", [0.0, 0.3, 0.9])
def test_row_median_is_np_median_exactly(width, missing):
    rng = np.random.default_rng(width * 100 + int(missing * 10))
    x = _random_rows(rng, 60, width, missing)
    got = _row_median(x)
    for i, row in enumerate(x):
        vals = row[~np.isnan(row)]
        if len(vals) == 0:
            assert np.isnan(got[i])
        else:
            assert got[i] == np.median(vals)  # bitwise


@pytest.mark.parametrize("width", [1, 2, 3, 8, 25, 336])
@pytest.mark.parametrize("missing", [0.0, 0.3, 0.9])
def test_row_robust_sd_matches_the_scalar_function(width, missing):
    rng = np.random.default_rng(width * 7 + int(missing * 10))
    x = _random_rows(rng, 60, width, missing)
    x[3 % len(x), : min(width, 4)] = [100.0, 0.0, 0.1, -0.1][: min(width, 4)]  # an outlier to screen out
    if width >= 5:  # a value exactly 3.5 normal MADs from the median is kept (<=)
        x[4] = np.nan
        x[4, :5] = [-1.0, 0.0, 1.0, 0.0, 3.5 * 1.482602218505602]
    got = _row_robust_sd(x)
    for i, row in enumerate(x):
        want = _robust_sd(row[~np.isnan(row)])
        if np.isnan(want):
            assert np.isnan(got[i])
        else:
            assert got[i] == pytest.approx(want, rel=1e-12, abs=0)


def test_history_rows_are_the_trailing_usable_windows():
    rng = np.random.default_rng(3)
    usable = rng.random(50) < 0.6
    for W, min_hist, warmup in [(1, 0, 0), (5, 2, 0), (7, 3, 10), (200, 0, 0), (10, 11, 0)]:
        ts, nh = _stats._trailing_rows(usable, W, min_hist, warmup)
        idx = np.flatnonzero(usable)
        want = [t for t in idx if np.sum(usable[max(0, t - W) : t]) >= min_hist and t - idx[0] >= warmup]
        assert ts.tolist() == want
        assert nh.tolist() == [int(np.sum(usable[max(0, t - W) : t])) for t in want]
        seen = []
        for rows, hp, mask in _stats._history_chunks(ts, usable, W, max_cells=7):
            vals = hp.take(np.arange(50.0))
            for t, row, m in zip(ts[rows], vals, mask, strict=True):
                assert row[m].tolist() == [float(p) for p in range(max(0, t - W), t) if usable[p]]
                seen.append(t)
        assert seen == want


# ----------------------------------------------------------------------------------------------
# _level_z on random residuals


def _level_inputs(rng, T, kind):
    r = rng.standard_normal(T) * rng.choice([0.01, 1.0, 100.0])
    if kind == "ties":
        r = np.round(r)  # MAD 0 on some histories
    elif kind == "flat":
        r = np.zeros(T)  # spread 0 and no unit SD: tau2 + vt == 0, skipped
    r[rng.random(T) < rng.random() * 0.5] = np.nan  # gaps
    n = rng.integers(0, 200, T).astype(float)
    n[rng.random(T) < 0.1] = 0.0
    unit = rng.gamma(2.0, 1.0, T)
    unit[rng.random(T) < rng.random()] = np.nan
    unit[rng.random(T) < 0.1] = 0.0
    if kind in ("flat", "no_unit"):
        unit[:] = np.nan  # no unit SD at all: u = 0
    cnt = rng.integers(0, 6, T).astype(float)
    return r, cnt, n, unit, np.isfinite(unit) & (unit > 0)


@pytest.mark.parametrize("W", [1, 2, 10, 336, 1000])
@pytest.mark.parametrize("min_hist", [0, 1, 5, 24])
@pytest.mark.parametrize("warmup", [0, 3, 50])
def test_level_z_matches_the_loop(W, min_hist, warmup, monkeypatch):
    rng = np.random.default_rng([W, min_hist, warmup])
    ctx = _Ctx(None, None, None, "hour", None, W, min_hist, warmup, None, None, 0.1)
    for kind in ("normal", "ties", "flat", "no_unit"):
        T = int(rng.integers(1, 150))
        args = _level_inputs(rng, T, kind)
        monkeypatch.setattr(_stats, "_MAX_CELLS", int(rng.choice([1, 50, 2_000_000])))  # many chunks, or one
        for conservative in (False, True):
            with np.errstate(all="ignore"), _nowarn():
                want = _ref_level_z(ctx, *args, conservative=conservative)
            got = _level_z(ctx, *args, conservative=conservative)
            for w_, g_ in zip(want, got, strict=True):
                assert g_.dtype == w_.dtype
                np.testing.assert_allclose(g_, w_, rtol=1e-9, atol=0, equal_nan=True, err_msg=kind)
                assert np.array_equal(np.isnan(g_), np.isnan(w_)), kind


class _nowarn:
    """Silence numpy's "Mean of empty slice" of the reference loop (an empty history)."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


# ----------------------------------------------------------------------------------------------
# The distribution rows against scipy


@pytest.mark.parametrize("seed", range(10))
def test_distribution_rows_match_scipy(seed):
    rng = np.random.default_rng(seed)
    rows, B = 40, int(rng.integers(2, 120))
    base = rng.poisson(rng.gamma(1.0, 20.0, (rows, B))).astype(float)
    cur = rng.poisson(rng.gamma(1.0, 3.0, (rows, B))).astype(float)
    base[rng.random((rows, B)) < 0.4] = 0.0  # empty bins and deciles
    cur[rng.random((rows, B)) < 0.4] = 0.0
    base[0, :] = 0.0
    base[0, B // 2] = 50.0  # one bin: IQR 0
    base[1, :] = 0.0
    base[1, 0] = 5.0  # all in the first bin
    cur[2] = base[2]  # identical

    # Integer counts (the real case): every statistic bitwise equal; else up to group sums' order.
    def same(x, y):
        return x == y if seed % 2 == 0 else x == pytest.approx(y, rel=1e-9, abs=0)

    if seed % 2:
        base, cur = base + rng.random((rows, B)), cur + rng.random((rows, B))  # non-integer counts
    cur[cur.sum(axis=1) == 0, 0] = 1.0
    base[base.sum(axis=1) == 0, 0] = 1.0
    edges = np.arange(B + 1) / LENGTH_BINS_PER_E
    centers = (edges[:-1] + edges[1:]) / 2
    out = [np.full(rows, np.nan) for _ in range(5)]
    _distribution_rows(cur, base, edges, centers, np.arange(rows), *out)
    psi_v, pval, wd, med_cur, med_base = out
    for t in range(rows):
        b, c = base[t], cur[t]
        cum = np.cumsum(b) / b.sum()
        cuts = np.unique(np.searchsorted(cum, np.arange(1, 10) / 10.0, side="left") + 1)
        groups = np.split(np.arange(B), cuts[(cuts > 0) & (cuts < B)])
        e_g = np.array([b[g].sum() for g in groups])
        a_g = np.array([c[g].sum() for g in groups])
        assert same(psi_v[t], psi(e_g + 0.5, a_g + 0.5))
        keep = (e_g + a_g) > 0
        if keep.sum() >= 2:
            want = chi2_contingency(np.vstack([e_g[keep], a_g[keep]]), correction=False).pvalue
            assert same(pval[t], want)
        else:
            assert np.isnan(pval[t])
        iqr = _quantile_from_hist(b, edges, 0.75) - _quantile_from_hist(b, edges, 0.25)
        if iqr > 0:
            want = wasserstein_distance(centers, centers, u_weights=c, v_weights=b) / iqr
            assert wd[t] == want  # bitwise, also for non-integer counts
        else:
            assert np.isnan(wd[t])
        assert med_cur[t] == math.expm1(_quantile_from_hist(c, edges, 0.5))
        assert med_base[t] == math.expm1(_quantile_from_hist(b, edges, 0.5))


# ----------------------------------------------------------------------------------------------
# detect_anomalies, whole: the vectorized detectors against the loops


def _assert_same_detection(got, want):
    assert len(got.alerts) == len(want.alerts)
    for a, b in zip(got.alerts, want.alerts, strict=True):
        for f in dataclasses.fields(a):
            x, y = getattr(a, f.name), getattr(b, f.name)
            if isinstance(y, float):
                assert x == pytest.approx(y, rel=1e-9, abs=0, nan_ok=True), f.name
            else:
                assert x == y, f.name
    assert got.notes == want.notes
    g, w = got.stats, want.stats
    assert list(g.columns) == list(w.columns) and len(g) == len(w)
    dist = w["detector"].isin(["psi", "wasserstein"]).to_numpy()  # integer counts: bitwise
    for col in ("baseline", "statistic"):
        assert np.array_equal(g[col].to_numpy()[dist], w[col].to_numpy()[dist], equal_nan=True), col
    for col in w.columns:
        if w[col].dtype.kind == "f":
            np.testing.assert_allclose(g[col].to_numpy(), w[col].to_numpy(), rtol=1e-9, atol=0, equal_nan=True)
        else:
            pd.testing.assert_series_equal(g[col], w[col])


def _reference(monkeypatch, wm, **kw):
    with monkeypatch.context() as mp:
        mp.setattr(_rules, "_level_z", _ref_level_z)
        mp.setattr(_detectors, "_proportion", _ref_proportion)
        mp.setattr(_detectors, "_distribution", _ref_distribution)
        with np.errstate(all="ignore"), _nowarn():
            return detect_anomalies(wm, **kw)


@pytest.fixture(scope="module")
def hourly():
    incidents = [
        Incident("refusal_spike", "2024-01-20 12:00", "2024-01-20 16:00", 0.10),
        Incident("length_regression", "2024-01-22 09:00", "2024-01-22 18:00", 1.8),
        Incident("latency_regression", "2024-01-24 02:00", "2024-01-24 08:00", 3.0),
    ]
    syn = generate_synthetic_logs(days=30, requests_per_hour=60, incidents=incidents, seed=11)
    return compute_windows(load_logs(syn.logs), window="hour")


def _with_holes(wm, seed):
    """Random gaps and low-traffic windows: short, ragged histories."""
    rng = np.random.default_rng(seed)
    f = wm.frame.copy()
    f["gap"] = f["gap"].to_numpy() | (rng.random(len(f)) < 0.15)
    f.attrs = dict(wm.frame.attrs)
    return dataclasses.replace(wm, frame=f)


@pytest.mark.filterwarnings("ignore::evaltools.errors.MonitorWarning", "ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"seasonality": "none"},
        {"baseline_windows": 2000, "min_baseline_windows": 3, "warmup_windows": 0},
        {"baseline_windows": 30, "min_baseline_windows": 30, "warmup_windows": 400, "sensitivity": "high"},
        {"seasonality": "none", "baseline_windows": 5, "min_baseline_windows": 2, "warmup_windows": 1},
        {"seasonality": "none", "baseline_windows": 3, "min_baseline_windows": 1, "warmup_windows": 0},
    ],
)
@pytest.mark.parametrize("holes", [False, True])
def test_detect_anomalies_is_unchanged_on_synthetic_logs(hourly, kw, holes, monkeypatch):
    wm = _with_holes(hourly, 5) if holes else hourly
    monkeypatch.setattr(_stats, "_MAX_CELLS", 5_000)  # several chunks
    monkeypatch.setattr(_rules, "_MAX_CELLS", 5_000)
    got = detect_anomalies(wm, **kw)
    want = _reference(monkeypatch, wm, **kw)
    assert want.alerts  # the comparison covers alerts, not only quiet statistics
    _assert_same_detection(got, want)


@pytest.mark.filterwarnings("ignore::evaltools.errors.MonitorWarning", "ignore::RuntimeWarning")
def test_detect_anomalies_is_unchanged_on_daily_windows(monkeypatch):
    syn = generate_synthetic_logs(days=40, requests_per_hour=20, seed=12)
    wm = compute_windows(load_logs(syn.logs), window="day")
    for kw in ({}, {"seasonality": "none", "min_baseline_windows": 3, "warmup_windows": 0}):
        _assert_same_detection(detect_anomalies(wm, **kw), _reference(monkeypatch, wm, **kw))
