"""Benchmark: the full gate on 300 items x 5 dimensions x 3 strata with 10,000 resamples.

Run: .venv/bin/python benchmarks/bench_gate.py [--check]

Prints the time of the full gate (target: under 2 s) and of its bootstrap
part, and the ratio against a naive bootstrap (one Python iteration per
resample, the jackknife in a loop) measured in the same run on the same
cells. ``--check`` exits 1 when the full gate takes 2 s or more.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import pandas as pd

from evaltools.gate import gate
from evaltools.stats._bootstrap import bootstrap_mean_difference

N_ITEMS = 300
N_RESAMPLES = 10_000
STRATA = np.array(["common"] * 180 + ["edge"] * 75 + ["adversarial"] * 45)
MIXES = {
    "mixed (2 binary, 2 ordinal, 1 continuous)": ["binary", "binary", "ordinal", "ordinal", "continuous"],
    "bootstrap-heavy (3 ordinal, 2 continuous)": ["ordinal", "ordinal", "ordinal", "continuous", "continuous"],
}


def make_runs(kinds: list[str], seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"item-{i:03d}" for i in range(N_ITEMS)]
    rows_a, rows_b = [], []
    for j, kind in enumerate(kinds):
        if kind == "binary":
            a = (rng.random(N_ITEMS) < 0.85).astype(float)
            b = np.where(rng.random(N_ITEMS) < 0.12, 1 - a, a)
            lo, hi = 0.0, 1.0
        elif kind == "ordinal":
            a = rng.integers(1, 6, N_ITEMS).astype(float)
            b = np.clip(a + rng.choice([-1, 0, 0, 0, 1], N_ITEMS), 1, 5)
            lo, hi = 1.0, 5.0
        else:
            a = rng.beta(5, 2, N_ITEMS)
            b = np.clip(a + rng.normal(-0.005, 0.05, N_ITEMS), 0, 1)
            lo, hi = 0.0, 1.0
        for run, values, rows in (("A", a, rows_a), ("B", b, rows_b)):
            rows.append(
                pd.DataFrame(
                    {
                        "run_id": run,
                        "item_id": ids,
                        "dimension": f"dim{j}_{kind}",
                        "value": values,
                        "kind": kind,
                        "scale_min": lo,
                        "scale_max": hi,
                        "stratum": STRATA,
                        "group": None,
                        "gating": True,
                    }
                )
            )
    return pd.concat(rows_a, ignore_index=True), pd.concat(rows_b, ignore_index=True)


def bootstrap_cells(a: pd.DataFrame, b: pd.DataFrame) -> list[np.ndarray]:
    """The paired differences of every cell the gate bootstraps (ordinal/continuous, overall + strata)."""
    cells = []
    for dim in a["dimension"].unique():
        if a.loc[a.dimension == dim, "kind"].iloc[0] == "binary":
            continue
        d = b.loc[b.dimension == dim, "value"].to_numpy() - a.loc[a.dimension == dim, "value"].to_numpy()
        cells.append(d)
        cells += [d[STRATA == s] for s in ("common", "edge", "adversarial")]
    return cells


def naive_bca(d: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """BCa the slow way: one Python iteration per resample and per jackknife sample."""
    from scipy.special import ndtr, ndtri

    n = d.size
    theta = d.mean()
    boot = np.empty(N_RESAMPLES)
    for k in range(N_RESAMPLES):
        boot[k] = d[rng.integers(0, n, n)].mean()
    jack = np.empty(n)
    for i in range(n):
        jack[i] = np.delete(d, i).mean()
    z0 = ndtri(((boot < theta).sum() + (boot <= theta).sum()) / (2 * N_RESAMPLES))
    dev = jack.mean() - jack
    acc = (dev**3).sum() / (6 * ((dev**2).sum()) ** 1.5)
    probs = [ndtr(z0 + (z0 + z) / (1 - acc * (z0 + z))) for z in (ndtri(0.025), ndtri(0.975))]
    lo, hi = np.quantile(boot, probs)
    return float(lo), float(hi)


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the full gate takes 2 s or more")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    worst = 0.0
    for label, kinds in MIXES.items():
        a, b = make_runs(kinds)
        gate(a, b, n_resamples=N_RESAMPLES)  # warm-up (imports, caches)
        t_gate = timed(lambda a=a, b=b: gate(a, b, n_resamples=N_RESAMPLES), args.repeat)
        cells = bootstrap_cells(a, b)
        rng = np.random.default_rng(1)
        t_vec = timed(
            lambda cells=cells, rng=rng: [
                bootstrap_mean_difference(d, np.ones(d.size), N_RESAMPLES, rng).interval(0.95) for d in cells
            ],
            args.repeat,
        )
        t_naive = timed(lambda cells=cells, rng=rng: [naive_bca(d, rng) for d in cells], 1)
        worst = max(worst, t_gate)
        print(f"{label}: {N_ITEMS} items x {len(kinds)} dimensions x 3 strata, {N_RESAMPLES:,} resamples")
        print(f"  full gate (vectorized):            {t_gate:7.3f} s  (target < 2 s)")
        print(f"  bootstrap part, {len(cells):2d} cells, vectorized: {t_vec:7.3f} s")
        print(f"  bootstrap part, naive Python loop: {t_naive:7.3f} s  -> {t_naive / t_vec:5.1f}x slower")
        print(
            f"  full gate with the naive bootstrap (estimated): {t_gate - t_vec + t_naive:7.3f} s "
            f"-> {(t_gate - t_vec + t_naive) / t_gate:5.1f}x the vectorized gate"
        )
    status = "OK" if worst < 2.0 else "SLOW"
    print(f"{status}: slowest full gate {worst:.3f} s")
    return 1 if args.check and worst >= 2.0 else 0


if __name__ == "__main__":
    sys.exit(main())
