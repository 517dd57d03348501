"""Quality checks of a golden set: strata mix, empty ideals, exact and near-duplicate queries, calibration leaks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evaltools._util import query_text
from evaltools.errors import ConfigError

if TYPE_CHECKING:  # pandas and numpy load where they are used: `evaltools run` needs neither
    import numpy as np
    import pandas as pd

from evaltools._html import esc
from evaltools.golden._set import GoldenSet


@dataclass(frozen=True)
class GoldenCheck:
    """What :func:`check_golden` found. ``ok`` is True when nothing needs fixing."""

    name: str
    """The golden set checked."""
    n_items: int
    """Number of items checked."""
    exact_duplicates: pd.DataFrame
    """Pairs of items whose normalized queries are identical (``id_a``, ``id_b``)."""
    near_duplicates: pd.DataFrame
    """Pairs whose query embeddings have cosine above the threshold (``id_a``, ``id_b``, ``cosine``)."""
    empty_ideals: list[str]
    """Items whose ideal response is empty or whitespace."""
    composition: pd.DataFrame
    """Strata composition against targets (see :meth:`GoldenSet.composition`)."""
    calibration_overlap: pd.DataFrame
    """Duplicate or near-duplicate pairs with one item in the calibration subset and one outside it."""
    near_threshold: float
    """The cosine threshold used."""

    @property
    def off_target(self) -> list[str]:
        """Strata whose share departs from the target by more than the tolerance."""
        return [str(s) for s in self.composition.index[self.composition["off_target"]]]

    @property
    def ok(self) -> bool:
        """True when there are no duplicates, empty ideals, off-target strata or calibration leaks."""
        return not (
            len(self.exact_duplicates)
            or len(self.near_duplicates)
            or self.empty_ideals
            or self.off_target
            or len(self.calibration_overlap)
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per problem found: ``check``, ``ids``, ``detail``."""
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for r in self.exact_duplicates.itertuples():
            rows.append({"check": "exact_duplicate", "ids": f"{r.id_a}, {r.id_b}", "detail": "same query"})
        for r in self.near_duplicates.itertuples():
            rows.append(
                {"check": "near_duplicate", "ids": f"{r.id_a}, {r.id_b}", "detail": f"cosine {r.cosine:.3f}"}
            )
        for i in self.empty_ideals:
            rows.append({"check": "empty_ideal", "ids": i, "detail": "ideal response is empty"})
        for s in self.off_target:
            row = self.composition.loc[s]
            rows.append(
                {
                    "check": "stratum_off_target",
                    "ids": s,
                    "detail": f"{row['share']:.1%} against target {row['target']:.0%}",
                }
            )
        for r in self.calibration_overlap.itertuples():
            rows.append(
                {
                    "check": "calibration_overlap",
                    "ids": f"{r.id_a}, {r.id_b}",
                    "detail": f"{r.kind} (cosine {r.cosine:.3f}) across the calibration subset boundary",
                }
            )
        return pd.DataFrame(rows, columns=["check", "ids", "detail"])

    def summary(self) -> str:
        """A few lines of plain text for the CLI."""
        lines = [
            f"Golden set {self.name}: {self.n_items} items.",
            f"  exact duplicates: {len(self.exact_duplicates)}",
            f"  near duplicates (cosine > {self.near_threshold}): {len(self.near_duplicates)}",
            f"  empty ideals: {len(self.empty_ideals)}",
            f"  strata off target: {', '.join(self.off_target) or 'none'}",
            f"  calibration/rest overlap: {len(self.calibration_overlap)}",
            "  OK" if self.ok else "  PROBLEMS FOUND",
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        status = "no problems" if self.ok else "problems found"
        return f"<div><b>Golden set check: {esc(self.name)}</b> ({status}){self.to_frame().to_html()}</div>"


def _normalize_text(text: Any) -> str:
    return " ".join(query_text(text, style="content").lower().split())


def _query_text(query: Any) -> str:
    return query_text(query, style="content", include_system=False)


def _exact_pairs(ids: Sequence[str], texts: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    first: dict[str, str] = {}
    rows = []
    for i, t in zip(ids, texts, strict=True):
        key = _normalize_text(t)
        if key in first:
            rows.append({"id_a": first[key], "id_b": i})
        else:
            first[key] = i
    return pd.DataFrame(rows, columns=["id_a", "id_b"])


def _near_pairs(ids: Sequence[str], emb: np.ndarray, threshold: float) -> pd.DataFrame:
    """All pairs i<j with cosine > threshold (embeddings are L2-normalized)."""
    import numpy as np
    import pandas as pd

    if len(ids) < 2:
        return pd.DataFrame(columns=["id_a", "id_b", "cosine"])
    sims = emb @ emb.T
    iu, ju = np.triu_indices(len(ids), k=1)
    mask = sims[iu, ju] > threshold
    return pd.DataFrame(
        {
            "id_a": [ids[i] for i in iu[mask]],
            "id_b": [ids[j] for j in ju[mask]],
            "cosine": sims[iu, ju][mask].astype(float),
        }
    ).sort_values("cosine", ascending=False, ignore_index=True)


def check_golden(gs: GoldenSet, *, near_threshold: float = 0.92, embedder: Any = None) -> GoldenCheck:
    """Quality-check a golden set.

    Reports exact duplicate queries (after case and whitespace folding),
    near-duplicates (query embeddings with cosine above ``near_threshold``),
    empty ideals, strata off target, and duplicates or near-duplicates that
    straddle the calibration subset and the rest (a calibration item that
    leaks into the evaluated items inflates agreement).

    Args:
        gs: the golden set.
        near_threshold: cosine above which two queries count as near-duplicates.
        embedder: an object with ``encode(list[str]) -> np.ndarray`` of
            L2-normalized rows; the default is the bundled all-MiniLM-L6-v2
            (:class:`~evaltools.embeddings.Embedder`).

    Returns:
        A :class:`GoldenCheck`.

    Raises:
        ConfigError: ``near_threshold`` outside (0, 1].
    """
    import numpy as np
    import pandas as pd

    if not 0 < near_threshold <= 1:
        raise ConfigError(
            f"The 'near_threshold' parameter of check_golden must be a float in (0, 1]. Got {near_threshold!r} instead."
        )
    if embedder is None:
        from evaltools.embeddings import default_embedder

        embedder = default_embedder()
    ids = gs.ids
    texts = [_query_text(item["query"]) for item in gs.items]
    exact = _exact_pairs(ids, texts)
    emb = np.asarray(embedder.encode(texts)) if ids else np.zeros((0, 1))
    near = _near_pairs(ids, emb, near_threshold)
    exact_set = {frozenset(p) for p in exact[["id_a", "id_b"]].itertuples(index=False)}
    near = near[[frozenset((a, b)) not in exact_set for a, b in zip(near["id_a"], near["id_b"], strict=True)]]
    empty = [item["id"] for item in gs.items if not item["ideal"].strip()]
    calib = set(gs.calibration_ids)
    overlap_rows = []
    if calib:
        for r in exact.itertuples():
            if (r.id_a in calib) != (r.id_b in calib):
                overlap_rows.append({"id_a": r.id_a, "id_b": r.id_b, "kind": "exact duplicate", "cosine": 1.0})
        for r in near.itertuples():
            if (r.id_a in calib) != (r.id_b in calib):
                overlap_rows.append(
                    {"id_a": r.id_a, "id_b": r.id_b, "kind": "near duplicate", "cosine": float(r.cosine)}
                )
    overlap = pd.DataFrame(overlap_rows, columns=["id_a", "id_b", "kind", "cosine"])
    return GoldenCheck(
        name=gs.name,
        n_items=len(gs),
        exact_duplicates=exact.reset_index(drop=True),
        near_duplicates=near.reset_index(drop=True),
        empty_ideals=empty,
        composition=gs.composition(),
        calibration_overlap=overlap,
        near_threshold=near_threshold,
    )


