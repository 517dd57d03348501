"""How often the gate flags an unchanged system, and simulated error rates.

``aa_noise_floor`` takes two runs of the *same* variant (an A/A pair). It runs
the gate on the pair, then estimates the flag rate of an unchanged system by
randomization: under "no change" the two runs are exchangeable, so swapping
the two runs' scores on a random half of the items (a sign flip of every
item's differences, jointly across dimensions so their correlation is kept)
draws from the null distribution of the gate's inputs (whole clusters are
swapped when items carry a ``group``, so clustering is kept). The share of flips
that BLOCK or NEED_REVIEW is the noise floor.

``simulate_gate`` draws paired pass/fail scores with a given discordance and
true drops and reports the gate's BLOCK / NEEDS_REVIEW / PASS rates: the
A/A false-block rate and the power to block a real regression.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaltools._util import SeedLike, check_int, check_positive, check_probability, resolve_seed
from evaltools.errors import ConfigError
from evaltools.gate._outcome import Verdict
from evaltools.gate._verdict import GateResult, build_result, decide, prepare
from evaltools.stats import (
    Comparison,
    PairedScores,
    ProportionEstimate,
    compare_paired,
    pair_tables,
    wilson_interval,
)


@dataclass(frozen=True, slots=True)
class DimensionNoise:
    """Noise floor of one dimension."""

    dimension: str
    """The score dimension."""
    observed: Verdict
    """Its verdict on the observed A/A pair."""
    block_rate: float
    """Share of sign-flipped A/A pairs where this dimension was BLOCK."""
    review_rate: float
    """Share where it was NEEDS_REVIEW."""


@dataclass(frozen=True, slots=True)
class NoiseFloor:
    """How often the gate flags an unchanged system (A/A)."""

    observed: GateResult
    """The gate run on the observed A/A pair."""
    n_sim: int
    """Sign-flip replications."""
    seed: int
    """Seed of the replications (pass back as ``rng=`` to reproduce)."""
    block_rate: float
    """Share of replications whose overall verdict was BLOCK (false blocks)."""
    review_rate: float
    """Share whose overall verdict was NEEDS_REVIEW."""
    pass_rate: float
    """Share that passed."""
    dimensions: tuple[DimensionNoise, ...]
    """Per-dimension rates."""
    method: str
    """How the rates were estimated."""

    @property
    def summary(self) -> str:
        """One line for a log or PR comment."""
        return (
            f"A/A noise floor: an unchanged system is blocked {100 * self.block_rate:.1f}% and sent to review "
            f"{100 * self.review_rate:.1f}% of the time ({self.n_sim} sign-flip replications); the observed "
            f"A/A pair was {self.observed.verdict.value}"
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per dimension with its observed verdict and noise rates."""
        return pd.DataFrame(
            [
                {
                    "dimension": d.dimension,
                    "observed": d.observed.value,
                    "block_rate": d.block_rate,
                    "review_rate": d.review_rate,
                }
                for d in self.dimensions
            ]
        )

    def to_markdown(self, report_url: str | None = None) -> str:
        """Markdown: the noise-floor summary followed by the A/A gate itself."""
        from evaltools.gate._render import md

        lines = [
            "## evaltools gate: A/A noise floor",
            "",
            f"> {md(self.summary)}",
            "",
            f"Method: {md(self.method)}.",
            "",
            "| dimension | observed A/A verdict | false BLOCK rate | NEEDS_REVIEW rate |",
            "|---|---|---|---|",
        ]
        for d in self.dimensions:
            lines.append(
                f"| {md(d.dimension)} | {d.observed.value} | {100 * d.block_rate:.1f}% | {100 * d.review_rate:.1f}% |"
            )
        lines += ["", self.observed.to_markdown(report_url)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return f"<p><b>{html.escape(self.summary)}</b></p>" + str(self.to_frame().to_html(index=False))


def _flip(paired: Sequence[PairedScores], units: list[np.ndarray], flips: np.ndarray) -> list[PairedScores]:
    """Swap baseline and candidate on the units (items or clusters) where ``flips`` is True."""
    out = []
    for p, unit in zip(paired, units, strict=True):
        mask = flips[unit]
        out.append(
            PairedScores(
                p.dimension,
                p.kind,
                p.scale_min,
                p.scale_max,
                p.gating,
                p.item_ids,
                np.where(mask, p.candidate, p.baseline),
                np.where(mask, p.baseline, p.candidate),
                p.strata,
                p.groups,
            )
        )
    return out


def _flip_units(paired: Sequence[PairedScores]) -> tuple[list[np.ndarray], int]:
    """Index of the exchangeable unit of every pair: its cluster when items carry groups, else its item."""
    groups = [p.groups for p in paired if p.groups is not None]
    if groups and len(groups) == len(paired):
        return list(groups), int(max(g.max() for g in groups)) + 1
    items = sorted({str(i) for p in paired for i in p.item_ids})
    index = {item: k for k, item in enumerate(items)}
    return [np.array([index[str(i)] for i in p.item_ids], dtype=np.int64) for p in paired], len(items)


def aa_noise_floor(
    baseline_scores: pd.DataFrame,
    baseline_rerun_scores: pd.DataFrame,
    *,
    gating: Iterable[str] | None = None,
    untrusted: Iterable[str] | None = None,
    alpha: float = 0.05,
    tolerance: float = 0.01,
    margin: float | None = None,
    n_sim: int = 200,
    rng: SeedLike = 0,
    n_resamples: int = 10_000,
    sim_resamples: int = 1_000,
    min_items: int = 10,
) -> NoiseFloor:
    """Report how often the gate would flag an unchanged system.

    Runs the gate on an A/A pair (two runs of the same variant), then
    estimates the flag rate by random sign flips of the observed A/A
    differences: each replication swaps the two runs' scores on a random
    half of the items (the same items in every dimension; whole clusters
    when items carry a ``group``) and reruns the gate. Under "no change" the runs are exchangeable, so this is the
    randomization distribution of the gate's verdict.

    Args:
        baseline_scores: score table of the first run of the variant.
        baseline_rerun_scores: score table of the second run.
        gating: as in :func:`evaltools.gate.gate`.
        untrusted: as in :func:`evaltools.gate.gate`.
        alpha: as in :func:`evaltools.gate.gate`.
        tolerance: as in :func:`evaltools.gate.gate`.
        margin: as in :func:`evaltools.gate.gate`.
        n_sim: sign-flip replications (each reruns the gate).
        rng: seed or Generator (recorded).
        n_resamples: bootstrap resamples of the observed A/A gate.
        sim_resamples: bootstrap resamples inside each replication (fewer, for speed).
        min_items: as in :func:`evaltools.gate.gate`.

    Returns:
        A :class:`NoiseFloor`. A block rate well above ``alpha`` means the
        gate's assumptions fail for this eval (for example clustered items
        without a ``group``); a high review rate means the margin is smaller
        than this set can certify.

    Raises:
        UnmatchedItemsError: the runs do not pair by (item, dimension).
        InputError: a malformed score table.
        ConfigError: a parameter out of range.

    Examples:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> def table(run, values):
        ...     return pd.DataFrame({"run_id": run, "item_id": [f"q{i}" for i in range(300)],
        ...         "dimension": "correct", "value": values, "kind": "binary",
        ...         "scale_min": 0.0, "scale_max": 1.0})
        >>> a = (rng.random(300) < 0.85).astype(float)
        >>> flip = rng.random(300) < 0.1
        >>> a2 = np.where(flip, 1 - a, a)  # the rerun disagrees on about 10% of items
        >>> floor = aa_noise_floor(table("A", a), table("A2", a2), margin=0.05, n_sim=50)
        >>> floor.block_rate <= 0.1
        True
    """
    func = "aa_noise_floor"
    n_sim = check_int(n_sim, "n_sim", func, minimum=1)
    sim_resamples = check_int(sim_resamples, "sim_resamples", func, minimum=100)
    alpha = check_probability(alpha, "alpha", func)
    tolerance = check_positive(tolerance, "tolerance", func, allow_zero=True)
    margin = tolerance if margin is None else check_positive(margin, "margin", func, allow_zero=True)
    n_resamples = check_int(n_resamples, "n_resamples", func, minimum=100)
    min_items = check_int(min_items, "min_items", func, minimum=2)
    if isinstance(untrusted, str):
        raise ConfigError(f"The 'untrusted' parameter of {func} must be a collection of names, not a str.")
    untrusted_set = frozenset() if untrusted is None else frozenset(str(u) for u in untrusted)
    seed = resolve_seed(rng, func)
    paired, base_run, rerun = pair_tables(baseline_scores, baseline_rerun_scores, gating=gating, func=func)
    paired, configured = prepare(paired, untrusted_set)

    def run(pairs: Sequence[PairedScores], resamples: int, run_seed: int) -> Comparison:
        return compare_paired(
            pairs,
            baseline_run=base_run,
            candidate_run=rerun,
            alpha=alpha,
            tolerance=tolerance,
            margin=margin,
            n_resamples=resamples,
            seed=run_seed,
            min_items=min_items,
        )

    observed_cmp = run(paired, n_resamples, seed)
    observed = build_result(observed_cmp, configured, untrusted_set, None)
    units, n_units = _flip_units(paired)
    gen = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    overall = np.zeros(3)
    per_dim = np.zeros((len(paired), 3))
    for k in range(n_sim):
        flips = gen.random(n_units) < 0.5
        cmp = run(_flip(paired, units, flips), sim_resamples, seed + k + 1)
        verdict, dims, _ = decide(cmp, configured_gating=configured, untrusted=untrusted_set)
        overall[verdict.severity] += 1
        for j, d in enumerate(dims):
            per_dim[j, d.verdict.severity] += 1
    rates = overall / n_sim
    return NoiseFloor(
        observed=observed,
        n_sim=n_sim,
        seed=seed,
        block_rate=float(rates[2]),
        review_rate=float(rates[1]),
        pass_rate=float(rates[0]),
        dimensions=tuple(
            DimensionNoise(d.dimension, d.verdict, float(per_dim[j, 2] / n_sim), float(per_dim[j, 1] / n_sim))
            for j, d in enumerate(observed.dimensions)
        ),
        method=(
            f"{n_sim} random sign flips of the observed A/A differences ("
            f"{'clusters' if paired and paired[0].groups is not None else 'items'} swapped jointly across "
            f"dimensions), gate rerun on each with {sim_resamples} bootstrap resamples"
        ),
    )


@dataclass(frozen=True, slots=True)
class GateSimulation:
    """The gate's verdict rates on simulated paired pass/fail scores."""

    n_sim: int
    """Replications."""
    seed: int
    """Seed (pass back as ``rng=`` to reproduce)."""
    n_items: int
    """Paired items per replication."""
    discordance: float
    """True discordance ``psi`` of every dimension."""
    baseline_rate: float
    """True baseline pass rate of every dimension."""
    drops: tuple[float, ...]
    """True drop per dimension (positive = candidate worse)."""
    block_rate: float
    """Share of replications whose overall verdict was BLOCK."""
    review_rate: float
    """Share that were NEEDS_REVIEW."""
    pass_rate: float
    """Share that passed."""
    block_rate_by_dimension: tuple[float, ...]
    """Share of replications where each dimension was BLOCK."""
    alpha: float
    """Significance level used."""
    tolerance: float
    """Tolerance used."""
    margin: float
    """Margin used."""

    @property
    def block_rate_ci(self) -> ProportionEstimate:
        """Wilson 95 % interval of the block rate (Monte Carlo error)."""
        return wilson_interval(round(self.block_rate * self.n_sim), self.n_sim)

    @property
    def summary(self) -> str:
        """One line with the rates."""
        ci = self.block_rate_ci
        return (
            f"{self.n_sim} replications, n = {self.n_items}, {len(self.drops)} gating binary dimensions, "
            f"psi = {self.discordance:g}, baseline {self.baseline_rate:g}, drops {list(self.drops)}: "
            f"BLOCK {100 * self.block_rate:.1f}% (95% CI {100 * ci.ci_low:.1f}-{100 * ci.ci_high:.1f}%), "
            f"NEEDS_REVIEW {100 * self.review_rate:.1f}%, PASS {100 * self.pass_rate:.1f}%"
        )


def simulate_gate(
    *,
    n_items: int = 300,
    n_dimensions: int = 5,
    discordance: float = 0.15,
    baseline_rate: float = 0.85,
    drops: float | Sequence[float] = 0.0,
    n_sim: int = 1_000,
    alpha: float = 0.05,
    tolerance: float = 0.01,
    margin: float | None = None,
    rng: SeedLike = 0,
) -> GateSimulation:
    """Simulate the gate on paired pass/fail scores and report its verdict rates.

    Each replication draws, for every (independent) gating binary dimension,
    ``n_items`` pairs with ``P(baseline right, candidate wrong) = (psi + d)/2``
    and ``P(baseline wrong, candidate right) = (psi - d)/2`` (STATS.md 1.5),
    so the discordance is ``psi`` and the true drop is ``d``; then runs the
    gate's tests and decision on them.

    Args:
        n_items: paired items per replication.
        n_dimensions: gating binary dimensions.
        discordance: true discordance ``psi`` of each dimension.
        baseline_rate: true baseline pass rate.
        drops: true drop of each dimension (positive = worse); a single float
            applies to the first dimension only (the others are unchanged).
        n_sim: replications.
        alpha: significance level.
        tolerance: tolerance (share of the scale).
        margin: margin; None means ``tolerance``.
        rng: seed or Generator (recorded).

    Returns:
        A :class:`GateSimulation`: with no drop, ``block_rate`` is the
        false-block rate; with a drop, it is the power to block it.

    Raises:
        ConfigError: a parameter out of range, or drops that the discordance
            and baseline rate cannot produce (``|d| <= psi`` and valid cells).

    Examples:
        >>> sim = simulate_gate(n_sim=50, rng=1)
        >>> sim.block_rate <= 0.1
        True
    """
    func = "simulate_gate"
    n_items = check_int(n_items, "n_items", func, minimum=2)
    n_dimensions = check_int(n_dimensions, "n_dimensions", func, minimum=1)
    psi = check_probability(discordance, "discordance", func)
    p_a = check_probability(baseline_rate, "baseline_rate", func)
    n_sim = check_int(n_sim, "n_sim", func, minimum=1)
    alpha = check_probability(alpha, "alpha", func)
    tolerance = check_positive(tolerance, "tolerance", func, allow_zero=True)
    margin = tolerance if margin is None else check_positive(margin, "margin", func, allow_zero=True)
    if isinstance(drops, int | float):
        drop_list = [float(drops)] + [0.0] * (n_dimensions - 1)
    else:
        drop_list = [float(d) for d in drops]
        if len(drop_list) != n_dimensions:
            raise ConfigError(
                f"The 'drops' parameter of {func} must have one value per dimension. "
                f"Got {len(drop_list)} values for {n_dimensions} dimensions."
            )
    cells = []
    for d in drop_list:
        p10, p01 = (psi + d) / 2, (psi - d) / 2
        p11 = p_a - p10
        if min(p10, p01, p11, 1 - p_a - p01) < 0:
            raise ConfigError(
                f"A drop of {d} with discordance {psi} and baseline rate {p_a} gives a negative cell "
                f"probability in {func}; use |drop| <= discordance and a compatible baseline rate."
            )
        cells.append((p10, p11, p01))
    seed = resolve_seed(rng, func)
    gen = np.random.default_rng(seed)
    ids = np.array([f"item-{i}" for i in range(n_items)], dtype=object)
    names = [f"dim{j}" for j in range(n_dimensions)]
    configured = dict.fromkeys(names, True)
    counts = np.zeros(3)
    blocks = np.zeros(n_dimensions)
    for _ in range(n_sim):
        u = gen.random((n_dimensions, n_items))
        paired = []
        for j, (p10, p11, p01) in enumerate(cells):
            base = (u[j] < p10 + p11).astype(float)
            cand = ((u[j] >= p10) & (u[j] < p10 + p11 + p01)).astype(float)
            paired.append(PairedScores(names[j], "binary", 0.0, 1.0, True, ids, base, cand, None, None))
        cmp = compare_paired(
            paired,
            baseline_run="A",
            candidate_run="B",
            alpha=alpha,
            tolerance=tolerance,
            margin=margin,
            n_resamples=100,
            seed=seed,
            min_items=10,
        )
        verdict, dims, _ = decide(cmp, configured_gating=configured, untrusted=frozenset())
        counts[verdict.severity] += 1
        blocks += [d.verdict is Verdict.BLOCK for d in dims]
    rates = counts / n_sim
    return GateSimulation(
        n_sim=n_sim,
        seed=seed,
        n_items=n_items,
        discordance=psi,
        baseline_rate=p_a,
        drops=tuple(drop_list),
        block_rate=float(rates[2]),
        review_rate=float(rates[1]),
        pass_rate=float(rates[0]),
        block_rate_by_dimension=tuple(float(b / n_sim) for b in blocks),
        alpha=alpha,
        tolerance=tolerance,
        margin=margin,
    )
