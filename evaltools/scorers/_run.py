"""Scoring a whole run: dimensions, the scorer registry and the long score table.

A *dimension* is one named thing we score (``triage_schema_valid``,
``answer_similarity``, ``helpfulness``): a scorer from the registry, its
parameters, which items it applies to, a threshold, and whether it gates a
merge. Dimensions are declared in the golden set's ``card.yaml`` or built in
Python; :func:`score_run` applies them to a run and returns the long table
described in ``docs/internals.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from evaltools._util import atomic_write_jsonl
from evaltools.errors import ConfigError, GoldenSetError, VersionMismatchError
from evaltools.scorers import structured
from evaltools.scorers._types import Score, ScoreKind

if TYPE_CHECKING:
    from evaltools.golden import GoldenSet

SCORE_COLUMNS = [
    "run_id",
    "item_id",
    "dimension",
    "value",
    "kind",
    "scale_min",
    "scale_max",
    "unscored_reason",
    "failure",
    "detail",
    "stratum",
    "group",
    "gating",
    "golden_version",
]
"""Columns of the long score table, in order (``golden_version``: the content hash of the
golden set the run was scored against; the gate refuses to pair two different versions)."""

SCORES_FILE = "scores.jsonl"
"""Name of the score table written beside a run's outputs."""


@dataclass(frozen=True)
class Dimension:
    """One scored dimension.

    Build from a card entry with :meth:`from_spec`.
    """

    name: str
    """Unique name, e.g. ``triage_schema_valid``."""
    scorer: str
    """Registry name of the scorer (see :func:`scorer_names`)."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments for the scorer."""
    applies_to: Mapping[str, Any] = field(default_factory=dict)
    """Item filter: ``tags_any``, ``tags_all``, ``strata`` (lists) and ``calibration``
    (true: only the card's calibration subset, e.g. to bound the cost of an expensive
    judge). Empty means every item."""
    gating: bool = False
    """Whether a regression on this dimension can block a merge."""
    rubric: str | None = None
    """Rubric name or path (judge dimensions)."""

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], *, source: str | Path | None = None) -> Dimension:
        """Build a dimension from a card entry, validating it.

        Args:
            spec: mapping with ``name``, ``scorer`` and optional ``params``,
                ``applies_to``, ``gating``, ``rubric``, ``threshold`` (a
                shortcut for ``params['threshold']``).
            source: the card file, for error messages.

        Returns:
            The :class:`Dimension`.

        Raises:
            GoldenSetError: a missing name or unknown scorer or filter key.

        Examples:
            >>> Dimension.from_spec({"name": "valid", "scorer": "json_valid"}).scorer
            'json_valid'
        """
        if not isinstance(spec, Mapping) or "name" not in spec or "scorer" not in spec:
            raise GoldenSetError(
                f"Each dimension needs 'name' and 'scorer'. Got {spec!r} instead.", path=source, field="dimensions"
            )
        if spec["scorer"] not in _REGISTRY:
            raise GoldenSetError(
                f"Unknown scorer {spec['scorer']!r} in dimension {spec['name']!r}. "
                f"Valid scorers: {', '.join(scorer_names())}.",
                path=source,
                field="dimensions",
            )
        unknown = set(spec) - {"name", "scorer", "params", "applies_to", "gating", "rubric", "threshold", "description"}
        if unknown:
            raise GoldenSetError(
                f"Unknown key(s) {sorted(unknown)} in dimension {spec['name']!r}.", path=source, field="dimensions"
            )
        applies = dict(spec.get("applies_to") or {})
        bad = set(applies) - {"tags_any", "tags_all", "strata", "calibration"}
        if bad:
            raise GoldenSetError(
                f"Unknown applies_to key(s) {sorted(bad)} in dimension {spec['name']!r}; "
                "use tags_any, tags_all, strata or calibration.",
                path=source,
                field="dimensions",
            )
        params = dict(spec.get("params") or {})
        if "threshold" in spec:
            params["threshold"] = spec["threshold"]
        return cls(
            name=str(spec["name"]),
            scorer=str(spec["scorer"]),
            params=params,
            applies_to=applies,
            gating=bool(spec.get("gating", False)),
            rubric=spec.get("rubric"),
        )

    def applies(self, item: Mapping[str, Any], *, calibration_ids: Iterable[str] = ()) -> bool:
        """Whether this dimension scores ``item``.

        Args:
            item: a golden item.
            calibration_ids: the golden set's calibration subset (for ``calibration: true``).

        Returns:
            True when the item passes every filter in :attr:`applies_to`.
        """
        if self.applies_to.get("calibration") and item.get("id") not in set(calibration_ids):
            return False
        tags = set(item.get("tags") or [])
        if "tags_any" in self.applies_to and not tags & set(self.applies_to["tags_any"]):
            return False
        if "tags_all" in self.applies_to and not set(self.applies_to["tags_all"]) <= tags:
            return False
        if "strata" in self.applies_to and item.get("stratum") not in self.applies_to["strata"]:
            return False
        return True


@dataclass(frozen=True)
class ScorerSpec:
    """A registered scorer: how to score a batch and what its scores mean."""

    name: str
    kind: ScoreKind
    scale: tuple[float, float]
    batch: Callable[..., list[Score]]
    """``batch(items, outputs, dimension, context) -> list[Score]``."""
    description: str = ""


_REGISTRY: dict[str, ScorerSpec] = {}


def register_scorer(spec: ScorerSpec, *, replace: bool = False) -> None:
    """Add a scorer to the registry so cards can name it.

    Args:
        spec: the scorer.
        replace: allow replacing an existing name.

    Raises:
        ConfigError: the name is taken and ``replace`` is False.
    """
    if spec.name in _REGISTRY and not replace:
        raise ConfigError(f"A scorer named {spec.name!r} is already registered.")
    _REGISTRY[spec.name] = spec


def scorer_names() -> list[str]:
    """Names of the registered scorers, sorted.

    Returns:
        The names a card's ``scorer:`` may use.
    """
    return sorted(_REGISTRY)


def get_scorer(name: str) -> ScorerSpec:
    """Look a scorer up by name.

    Args:
        name: a registry name.

    Returns:
        The :class:`ScorerSpec`.

    Raises:
        ConfigError: unknown name (the message lists the valid ones).
    """
    if name not in _REGISTRY:
        raise ConfigError(f"Unknown scorer {name!r}. Valid scorers: {', '.join(sorted(_REGISTRY))}.")
    return _REGISTRY[name]


def _per_item(
    fn: Callable[[Mapping[str, Any], str | None, Mapping[str, Any], Any], Score],
) -> Callable[..., list[Score]]:
    def batch(
        items: Sequence[Mapping[str, Any]], outputs: Sequence[str | None], dim: Dimension, ctx: Any
    ) -> list[Score]:
        return [fn(item, out, dim.params, ctx) for item, out in zip(items, outputs, strict=True)]

    return batch


def _ideal_scorer(f: Callable[..., Score]) -> Callable[..., Score]:
    def fn(item: Mapping[str, Any], out: str | None, params: Mapping[str, Any], ctx: Any) -> Score:
        return f(out, item["ideal"], **params)

    return fn


def _schema_for(item: Mapping[str, Any], ctx: Any) -> Mapping[str, Any] | None:
    name = item.get("schema")
    return None if name is None else ctx.golden.schemas[name]


def _schema_scorer(item: Mapping[str, Any], out: str | None, params: Mapping[str, Any], ctx: Any) -> Score:
    schema = _schema_for(item, ctx)
    if schema is None:
        return Score.unscored("no_schema", kind="binary", explanation="the item declares no schema")
    return structured.json_schema_valid(out, schema, **params)


def _required_scorer(item: Mapping[str, Any], out: str | None, params: Mapping[str, Any], ctx: Any) -> Score:
    params = dict(params)
    fields = params.pop("fields", None)
    if fields is None:
        schema = _schema_for(item, ctx)
        fields = list(schema.get("required", [])) if isinstance(schema, Mapping) else []
    if not fields:
        return Score.unscored("no_required_fields", kind="binary", explanation="no fields to require")
    return structured.required_fields(out, fields, **params)


def _field_scorer(item: Mapping[str, Any], out: str | None, params: Mapping[str, Any], ctx: Any) -> Score:
    expected = item.get("expected")
    if not expected:
        return Score.unscored("no_expected", explanation="the item has no 'expected' object")
    return structured.field_match(out, expected, **params)


def _regex_scorer(item: Mapping[str, Any], out: str | None, params: Mapping[str, Any], ctx: Any) -> Score:
    return structured.regex_match(out, **params)


def _semantic_batch(
    items: Sequence[Mapping[str, Any]], outputs: Sequence[str | None], dim: Dimension, ctx: Any
) -> list[Score]:
    from evaltools.embeddings import Embedder
    from evaltools.scorers.semantic import SemanticSimilarity

    params = dict(dim.params)
    model = params.pop("model", None)
    embedder = ctx.embedder
    if model is not None and (embedder is None or embedder.model_ref != str(model)):
        embedder = Embedder(model)
    scorer = SemanticSimilarity(embedder=embedder, **params)
    return scorer.score_batch(list(outputs), [item["ideal"] for item in items])


def _refusal_scorer(item: Mapping[str, Any], out: str | None, params: Mapping[str, Any], ctx: Any) -> Score:
    from evaltools.scorers.refusal import is_refusal, refusal_score

    # A refusal is due when the human-written ideal declines (the ideal is the spec), or when
    # the item carries one of params.refuse_tags (e.g. must_refuse) whatever its wording.
    refuse_tags = set(params.get("refuse_tags", ()))
    should = bool(refuse_tags & set(item.get("tags") or [])) or is_refusal(item["ideal"])
    return refusal_score(out, item["ideal"], should_refuse=should)


def _judge_batch(
    items: Sequence[Mapping[str, Any]], outputs: Sequence[str | None], dim: Dimension, ctx: Any
) -> list[Score]:
    from evaltools.scorers.judge import judge_batch

    return judge_batch(items, outputs, dim, ctx)


# The built-in scorers, listed here once: a card names them by these names. The
# scorer modules are imported when a scorer first runs, never to register it.
for _spec in (
    ScorerSpec("exact_match", "binary", (0, 1), _per_item(_ideal_scorer(structured.exact_match)), "output equals the ideal"),
    ScorerSpec(
        "normalized_match", "binary", (0, 1), _per_item(_ideal_scorer(structured.normalized_match)),
        "output equals the ideal after case/space/punctuation folding",
    ),
    ScorerSpec("regex_match", "binary", (0, 1), _per_item(_regex_scorer), "output matches params.pattern"),
    ScorerSpec(
        "json_valid", "binary", (0, 1),
        _per_item(lambda item, out, params, ctx: structured.json_valid(out, **params)), "output is one JSON object",
    ),
    ScorerSpec("json_schema_valid", "binary", (0, 1), _per_item(_schema_scorer), "output is valid against the item's schema"),
    ScorerSpec(
        "required_fields", "binary", (0, 1), _per_item(_required_scorer),
        "output JSON has params.fields (default: the schema's required fields)",
    ),
    ScorerSpec("field_match", "continuous", (0, 1), _per_item(_field_scorer), "share of the item's expected fields matched"),
    ScorerSpec("semantic_similarity", "continuous", (0, 1), _semantic_batch, "embedding cosine of output and ideal"),
    ScorerSpec(
        "refusal", "binary", (0, 1), _per_item(_refusal_scorer),
        "refuses exactly when a refusal is due: the ideal declines, or the item has one of params.refuse_tags",
    ),
    ScorerSpec("judge", "ordinal", (1, 5), _judge_batch, "LLM judge on a rubric (pointwise or pass/fail)"),
):
    register_scorer(_spec)


def dimensions_from_card(golden: GoldenSet) -> list[Dimension]:
    """The dimensions declared in a golden set's card.

    Args:
        golden: the golden set.

    Returns:
        The dimensions, in card order.

    Raises:
        GoldenSetError: the card declares none, or a dimension is malformed.
    """
    specs = golden.card.get("dimensions")
    if not specs:
        raise GoldenSetError(
            "The card declares no 'dimensions'; add a list of {name, scorer} or pass dimensions=.",
            path=golden.path / "card.yaml",
            field="dimensions",
        )
    return [Dimension.from_spec(s, source=golden.path / "card.yaml") for s in specs]


@dataclass
class ScoringContext:
    """What stateful scorers need: the golden set, an embedder, a judge client."""

    golden: GoldenSet
    embedder: Any = None
    judge_client: Any = None
    run_manifest: Mapping[str, Any] = field(default_factory=dict)
    on_item: Callable[[int], None] | None = None
    """Called with 1 after each item a slow scorer (the judge) finished, for progress bars."""


def score_outputs(
    golden: GoldenSet,
    outputs: Mapping[str, str | None],
    dimensions: Iterable[Dimension],
    *,
    run_id: str,
    embedder: Any = None,
    judge_client: Any = None,
    run_manifest: Mapping[str, Any] | None = None,
    progress: Any = None,
) -> pd.DataFrame:
    """Score a mapping of item id -> output on each dimension.

    Items of the golden set with no entry in ``outputs`` are unscored with
    reason ``no_output``; ids in ``outputs`` that are not in the golden set
    are an error.

    Args:
        golden: the golden set.
        outputs: item id -> output text (None when the generation failed).
        dimensions: the dimensions to score.
        run_id: written in the ``run_id`` column.
        embedder: injected embedder for semantic dimensions.
        judge_client: injected client for judge dimensions.
        run_manifest: the run's manifest (judge scorers read the evaluated model).
        progress: a tqdm-like bar (``update(n)``, ``set_postfix_str``) advanced
            by one per scored item and dimension; None for none.

    Returns:
        The long score table (:data:`SCORE_COLUMNS`).

    Raises:
        ConfigError: ``outputs`` has ids that are not in the golden set.
    """
    unknown = set(outputs) - set(golden.by_id)
    if unknown:
        raise ConfigError(
            f"{len(unknown)} output id(s) are not in golden set {golden.name!r}: {sorted(unknown)[:5]}."
        )
    ticked = [0]

    def tick(n: int = 1) -> None:
        ticked[0] += n
        if progress is not None:
            progress.update(n)

    ctx = ScoringContext(
        golden, embedder=embedder, judge_client=judge_client, run_manifest=run_manifest or {}, on_item=tick
    )
    rows: list[dict[str, Any]] = []
    for dim in dimensions:
        spec = get_scorer(dim.scorer)
        items = [item for item in golden.items if dim.applies(item, calibration_ids=golden.calibration_ids)]
        if not items:
            continue
        if progress is not None:
            progress.set_postfix_str(dim.name, refresh=True)
        outs = [outputs.get(item["id"]) for item in items]
        before = ticked[0]
        scores = spec.batch(items, outs, dim, ctx)
        tick(max(0, len(items) - (ticked[0] - before)))  # scorers that do not tick per item
        lo, hi = _scale(spec, dim, scores)
        _check_on_scale(spec, dim, items, scores, lo, hi)
        for item, score in zip(items, scores, strict=True):
            rows.append(
                {
                    "run_id": run_id,
                    "item_id": item["id"],
                    "dimension": dim.name,
                    "value": float(score.value),
                    "kind": score.kind,
                    "scale_min": lo,
                    "scale_max": hi,
                    "unscored_reason": score.reason,
                    "failure": score.failure,
                    "detail": score.explanation,
                    "stratum": item["stratum"],
                    "group": item.get("group"),
                    "gating": dim.gating,
                    "golden_version": golden.version,
                }
            )
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def _check_on_scale(
    spec: ScorerSpec,
    dim: Dimension,
    items: Sequence[Mapping[str, Any]],
    scores: Sequence[Score],
    lo: float,
    hi: float,
) -> None:
    # A value off the declared scale would be written, then refused by compare and the gate
    # ("values outside its scale"): fail here, naming the scorer, instead.
    bad = [
        (item["id"], s.value)
        for item, s in zip(items, scores, strict=True)
        if s.scored and not (lo <= s.value <= hi and (s.kind != "binary" or s.value in (0.0, 1.0)))
    ]
    if bad:
        shown = ", ".join(f"{i!r}: {v:g}" for i, v in bad[:5])
        raise ConfigError(
            f"Scorer {spec.name!r} (dimension {dim.name!r}) returned {len(bad)} value(s) outside its declared "
            f"scale [{lo:g}, {hi:g}] ({shown}). A scorer must declare the scale its values lie on."
        )


def _scale(spec: ScorerSpec, dim: Dimension, scores: Sequence[Score]) -> tuple[float, float]:
    for s in scores:
        scale = s.metadata.get("scale") if s.metadata else None
        if scale:
            return float(scale[0]), float(scale[1])
    return float(spec.scale[0]), float(spec.scale[1])


def score_run(
    run: Any,
    golden: GoldenSet,
    dimensions: Iterable[Dimension] | None = None,
    *,
    embedder: Any = None,
    judge_client: Any = None,
    write: bool = True,
    check_version: bool = True,
    progress: Any = False,
) -> pd.DataFrame:
    """Score a run on every dimension and write the table beside it.

    Args:
        run: a :class:`~evaltools.runs.Run` or a run folder path.
        golden: the golden set the run answered.
        dimensions: what to score (default: the card's dimensions).
        embedder: injected embedder for semantic dimensions.
        judge_client: injected client for judge dimensions.
        write: write ``scores.jsonl`` into the run folder (atomically).
        check_version: refuse a run made against another version of the golden set.
        progress: True for a tqdm progress bar (one step per item and
            dimension, the dimension being scored shown beside it), or a
            tqdm-like bar to advance; False for none.

    Returns:
        The long score table: one row per (item, dimension), columns
        :data:`SCORE_COLUMNS`. Items whose generation failed are unscored
        (``no_output``), never 0.

    Raises:
        VersionMismatchError: the run's golden version differs from ``golden.version``.
    """
    from evaltools.runs import load_run

    if isinstance(run, str | Path):
        run = load_run(run)
    manifest = run.manifest
    if check_version and manifest.get("golden_version") not in (None, golden.version):
        raise VersionMismatchError(
            f"Run {run.id!r} was made against golden set version {manifest.get('golden_version')!r}, "
            f"but {golden.name!r} is now version {golden.version!r}. Regenerate the run or load the matching "
            "golden set (pass check_version=False to score anyway).",
            path=Path(run.path) / "manifest.json",
            field="golden_version",
        )
    frame = run.outputs
    outputs: dict[str, str | None] = {}
    for rid, out in zip(frame["id"], frame["output"], strict=True):
        outputs[str(rid)] = None if out is None or (isinstance(out, float) and math.isnan(out)) else str(out)
    dims = list(dimensions) if dimensions is not None else dimensions_from_card(golden)
    bar = progress if progress not in (None, True, False) else None
    if progress is True:
        from tqdm.auto import tqdm

        total = sum(
            sum(1 for item in golden.items if d.applies(item, calibration_ids=golden.calibration_ids)) for d in dims
        )
        bar = tqdm(total=total, desc=f"scoring {run.id}", unit="score")
    try:
        table = score_outputs(
            golden,
            outputs,
            dims,
            run_id=run.id,
            embedder=embedder,
            judge_client=judge_client,
            run_manifest=manifest,
            progress=bar,
        )
    finally:
        if progress is True and bar is not None:
            bar.close()
    if write:
        atomic_write_jsonl(Path(run.path) / SCORES_FILE, table.to_dict(orient="records"))
    return table


def score_hint(run: str | Path, golden: str | Path | None = None) -> str:
    """The ``evaltools score`` command that scores ``run``, with its ``--golden`` (from the manifest).

    Examples:
        >>> score_hint("runs/nowhere")
        'evaltools score runs/nowhere --golden GOLDEN_DIR'
    """
    import json

    if golden is None:
        try:
            manifest = json.loads((Path(run) / "manifest.json").read_text(encoding="utf-8"))
            name = manifest.get("golden_name") or manifest.get("golden")
            golden = f"golden/{name}" if isinstance(name, str) else None
        except (OSError, ValueError):
            golden = None
    return f"evaltools score {run} --golden {golden or 'GOLDEN_DIR'}"


_TEXT_COLUMNS = {
    "run_id": str, "item_id": str, "dimension": str, "kind": str, "stratum": object, "group": object,
    "unscored_reason": object, "failure": object, "detail": object, "golden_version": object,
}  # fmt: skip


def read_scores(*paths: str | Path) -> pd.DataFrame:
    r"""Read score tables written by :func:`score_run` and concatenate them.

    Ids stay strings ("001" stays "001"; pandas would otherwise read it as
    the integer 1). A table written before scores carried the golden-set
    version gets it from its run's manifest, so the gate can check it.

    Args:
        paths: run folders or ``scores.jsonl`` files.

    Returns:
        The concatenated long table, with the columns of :data:`SCORE_COLUMNS`.

    Raises:
        RunError: a path has no score table (the message says how to score the
            run), or the table is not JSON lines.

    Examples:
        >>> import json, pathlib, tempfile
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> row = {"run_id": "A", "item_id": "007", "dimension": "correct", "value": 1.0,
        ...        "kind": "binary", "scale_min": 0, "scale_max": 1}
        >>> _ = (run / "scores.jsonl").write_text(json.dumps(row) + "\n")
        >>> read_scores(run).loc[0, "item_id"]
        '007'
    """
    import json

    from evaltools.errors import RunError

    frames = []
    for p in paths:
        p = Path(p)
        f = p / SCORES_FILE if p.is_dir() else p
        if not f.is_file():
            hint = f" Score the run first: {score_hint(p)}" if (p / "manifest.json").is_file() or p.is_dir() else ""
            raise RunError(
                "No score table found. Pass a run directory holding scores.jsonl (written by `evaltools score`) "
                f"or the scores.jsonl file itself.{hint}",
                path=f,
            )
        try:
            df = pd.read_json(f, lines=True, dtype=_TEXT_COLUMNS)
        except ValueError as exc:
            raise RunError(f"The score table is not valid JSON lines: {exc}", path=f) from exc
        if "golden_version" not in df.columns or df["golden_version"].isna().all():
            manifest = f.parent / "manifest.json"
            if manifest.is_file():
                try:
                    version = json.loads(manifest.read_text(encoding="utf-8")).get("golden_version")
                except (ValueError, AttributeError):
                    version = None
                if version:
                    df["golden_version"] = str(version)
        frames.append(df.reindex(columns=SCORE_COLUMNS))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SCORE_COLUMNS)


def summarize_scores(table: pd.DataFrame, *, by: Sequence[str] = ("run_id", "dimension")) -> pd.DataFrame:
    """Headline numbers per run and dimension (no inference; see :mod:`evaltools.stats` for intervals).

    Args:
        table: a long score table.
        by: grouping columns.

    Returns:
        One row per group: ``n`` items, ``n_scored``, ``mean`` of scored
        values (NaN when none is scored), ``n_failed`` (items with a failure
        mode) and ``n_unscored``.

    Examples:
        >>> t = pd.DataFrame({"run_id": "r", "dimension": "d", "value": [1.0, 0.0, float("nan")],
        ...                   "failure": [None, "invalid_json", None]})
        >>> row = summarize_scores(t).iloc[0]
        >>> int(row["n"]), int(row["n_scored"]), float(row["mean"]), int(row["n_failed"]), int(row["n_unscored"])
        (3, 2, 0.5, 1, 1)
    """
    g = table.groupby(list(by), sort=False, dropna=False)
    out = g.agg(
        n=("value", "size"),
        n_scored=("value", "count"),
        mean=("value", "mean"),
        n_failed=("failure", "count"),
    ).reset_index()
    out["n_unscored"] = out["n"] - out["n_scored"]
    return out


def judge_for_scoring(
    dims: Sequence[Dimension],
    *,
    runs_dir: str | Path,
    base_url: str | None = None,
    model: str | None = None,
    cache: str | Path | None = None,
    offline: bool = False,
    skip: bool = False,
    api_key_env: str | None = "OPENAI_API_KEY",
    max_tokens: int = 128,
    note: Callable[[str], None] = print,
) -> tuple[list[Dimension], Any]:
    """Decide how judge dimensions are scored, as ``evaltools score`` does.

    With ``base_url`` the judge is called (its verdicts cached); else the
    verdicts recorded in the LLM cache (``cache``, default
    ``<runs_dir>/llm_cache.sqlite``, where ``evaltools run`` writes it) are
    replayed offline when the file exists (a verdict that was not recorded
    is unscored, never fetched); else the judge dimensions are skipped.
    Each choice is said through ``note``.

    Args:
        dims: the dimensions to score.
        runs_dir: the folder holding the runs (and by default the cache).
        base_url: OpenAI-compatible endpoint of the judge.
        model: judge model (default: the card's ``judge_model``).
        cache: the LLM cache file.
        offline: only replay from the cache.
        skip: leave judge dimensions out.
        api_key_env: variable holding the judge's API key.
        max_tokens: judge reply length limit.
        note: where the one-line explanation goes.

    Returns:
        ``(dimensions to score, judge client or None)``.

    Raises:
        RunError: ``offline`` and the cache does not exist.
    """
    from evaltools.errors import RunError

    judged = [d for d in dims if d.scorer == "judge"]
    if not judged:
        return list(dims), None
    names = ", ".join(d.name for d in judged)
    cache_path = Path(cache) if cache else Path(runs_dir) / "llm_cache.sqlite"
    model = model or next((d.params.get("judge_model") for d in judged if d.params.get("judge_model")), None)
    others = [d for d in dims if d.scorer != "judge"]
    if skip:
        note(f"skipping the judge dimensions {names} (--skip-judge).")
        return others, None
    if base_url:
        note(f"judging {names} with {model or 'judge'} at {base_url} (verdicts cached in {cache_path}).")
    elif cache_path.exists():
        offline = True
        note(
            f"judge dimensions {names}: replaying the verdicts recorded in {cache_path} (offline, no LLM call; "
            "a verdict that was not recorded is unscored). Pass --judge-base-url URL to call a judge."
        )
    elif offline:
        raise RunError("--judge-offline replays recorded verdicts, but there is no LLM cache here.", path=cache_path)
    else:
        note(
            f"skipping the judge dimensions {names}: no judge endpoint and no recorded verdicts at {cache_path}. "
            "Pass --judge-base-url URL [--judge-model M], or --judge-cache PATH with recorded verdicts."
        )
        return others, None
    from evaltools.llm import LLMCompleter

    judge = LLMCompleter(
        model or "judge",
        base_url=base_url or "http://127.0.0.1:9/v1",  # never contacted offline
        cache=cache_path,
        offline=offline,
        api_key_env=None if offline else api_key_env,
        temperature=0.0,
        max_tokens=max_tokens,
        seed=0,
    )
    return list(dims), judge


def ensure_scored(golden: Any, runs: Sequence[str | Path], *, progress: bool = True) -> list[Path]:
    """Score the runs that have no score table yet, as ``evaltools score`` would.

    Notebooks call this so they work on a fresh clone, before any
    ``evaltools score``: judge dimensions replay the recorded verdicts when
    the run store has an LLM cache, else they are skipped (with a note).

    Args:
        golden: the golden set folder or a loaded :class:`~evaltools.golden.GoldenSet`.
        runs: run folders.
        progress: show a progress bar while scoring.

    Returns:
        The run folders that were scored now (empty when all had scores).
    """
    from evaltools.golden import load_golden

    # a folder that is not a run is left to the reader that follows, which names it ("No such run")
    todo = [Path(r) for r in runs if (Path(r) / "manifest.json").is_file() and not (Path(r) / SCORES_FILE).exists()]
    if not todo:
        return []
    import warnings

    gs = golden if not isinstance(golden, str | Path) else load_golden(golden)
    with warnings.catch_warnings():
        warnings.simplefilter("once")  # a warning about the card's judge is said once, not once per run
        for run in todo:
            dims, judge = judge_for_scoring(dimensions_from_card(gs), runs_dir=run.parent)
            print(f"scoring {run} (it has no {SCORES_FILE} yet)")
            try:
                score_run(run, gs, dims, judge_client=judge, progress=progress)
            finally:
                if judge is not None:
                    judge.client.close()
    return todo
