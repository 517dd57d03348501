"""Golden sets: load and validate, version, strata composition.

A golden set lives in ``golden/<name>/``:

* ``items.jsonl``: one item a line (``id``, ``stratum``, ``query``, ``ideal``,
  ``tags``, optional ``expected``, ``schema``, ``group``);
* ``card.yaml``: the set's name, notes, target strata mix, scored dimensions
  and system-prompt variants;
* ``schemas/``: JSON Schema files referenced by items;
* ``labels/``: append-only human labels.

:func:`load_golden` validates everything at the boundary and returns a frozen
:class:`GoldenSet`; its :attr:`GoldenSet.version` is a content hash, so a run
records exactly which set it was made against.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from evaltools._html import esc
from evaltools._util import id_problem, iter_jsonl, jsonschema_validators
from evaltools.errors import GoldenSetError, SchemaError

if TYPE_CHECKING:  # pandas and numpy load where they are used: `evaltools run` needs neither
    import pandas as pd

STRATA: tuple[str, ...] = ("common", "edge", "adversarial")
"""The three strata of a golden set, in display order."""

DEFAULT_TARGETS: dict[str, float] = {"common": 0.60, "edge": 0.25, "adversarial": 0.15}
"""The default target mix: 60% common, 25% edge, 15% adversarial."""

DEFAULT_TOLERANCE = 0.05
"""How far (absolute share) a stratum may be from its target before a warning."""

_REQUIRED = ("id", "stratum", "query", "ideal")
_OPTIONAL = ("tags", "expected", "schema", "group")


class GoldenSetWarning(UserWarning):
    """A golden set is usable but departs from its card (strata off target, ...)."""


@dataclass(frozen=True)
class GoldenSet:
    """A validated golden set.

    Build one with :func:`load_golden`; the constructor does not validate.
    """

    name: str
    """The set's name (the card's ``name``, else the folder name)."""

    path: Path
    """The folder the set was loaded from."""

    items: tuple[dict[str, Any], ...]
    """The items in file order, as validated dictionaries."""

    card: dict[str, Any]
    """The parsed ``card.yaml`` (empty when the set has no card)."""

    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    """JSON Schemas referenced by items, by file name."""

    version: str = ""
    """Content hash of items and schemas: the set's version (12 hex characters)."""

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The items as a DataFrame (one row per item, columns as in the file)."""
        import pandas as pd

        rows = [{k: item.get(k) for k in (*_REQUIRED, *_OPTIONAL)} for item in self.items]
        df = pd.DataFrame(rows, columns=[*_REQUIRED, *_OPTIONAL])
        df["tags"] = [list(t) if t is not None else [] for t in df["tags"]]
        return df

    @property
    def ids(self) -> list[str]:
        """Item ids in file order."""
        return [item["id"] for item in self.items]

    @cached_property
    def by_id(self) -> dict[str, dict[str, Any]]:
        """Items keyed by id."""
        return {item["id"]: item for item in self.items}

    @property
    def targets(self) -> dict[str, float]:
        """Target strata shares from the card (default 60/25/15)."""
        return dict(self.card.get("targets") or DEFAULT_TARGETS)

    @property
    def tolerance(self) -> float:
        """Allowed absolute departure of a stratum's share from its target."""
        return float(self.card.get("tolerance", DEFAULT_TOLERANCE))

    @property
    def calibration_ids(self) -> list[str]:
        """Ids of the calibration subset declared in the card (``calibration.items`` or ``calibration.tag``)."""
        calib = self.card.get("calibration") or {}
        if calib.get("items"):
            return [str(i) for i in calib["items"]]
        tag = calib.get("tag")
        if tag:
            return [item["id"] for item in self.items if tag in (item.get("tags") or [])]
        return []

    def composition(self) -> pd.DataFrame:
        """Strata composition against the card's targets.

        Returns:
            One row per stratum: ``n``, ``share``, ``target``, ``difference``
            (share minus target) and ``off_target`` (beyond the tolerance).

        Examples:
            >>> gs = GoldenSet("x", Path("."), tuple(
            ...     {"id": str(i), "stratum": s, "query": "q", "ideal": "i"}
            ...     for i, s in enumerate(["common"] * 6 + ["edge"] * 3 + ["adversarial"])), {})
            >>> gs.composition()["n"].tolist()
            [6, 3, 1]
        """
        import pandas as pd

        return _composition(pd.Series([i["stratum"] for i in self.items]), self.targets, self.tolerance)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        comp = ", ".join(f"{r.Index} {r.n}" for r in self.composition().itertuples())
        return f"GoldenSet(name={self.name!r}, items={len(self)}, version={self.version!r}, strata: {comp})"

    def _repr_html_(self) -> str:
        comp = self.composition().to_html(float_format=lambda x: f"{x:.3f}")
        return (
            f"<div><b>Golden set {esc(self.name)}</b>: {len(self)} items, "
            f"version <code>{self.version}</code>{comp}</div>"
        )


def _composition(strata: pd.Series, targets: Mapping[str, float], tolerance: float) -> pd.DataFrame:
    import pandas as pd

    counts = strata.value_counts()
    n = int(counts.sum())
    rows = []
    for s in [*STRATA, *sorted(set(counts.index) - set(STRATA))]:
        k = int(counts.get(s, 0))
        share = k / n if n else math.nan
        target = float(targets.get(s, 0.0))
        rows.append(
            {
                "stratum": s,
                "n": k,
                "share": share,
                "target": target,
                "difference": share - target,
                "off_target": bool(abs(share - target) > tolerance) if n else False,
            }
        )
    return pd.DataFrame(rows).set_index("stratum")


def load_golden(path: str | Path, *, warn: bool = True) -> GoldenSet:
    """Load and validate a golden set folder.

    Args:
        path: the folder holding ``items.jsonl`` (and optionally ``card.yaml``
            and ``schemas/``), or the ``items.jsonl`` file itself.
        warn: emit a :class:`GoldenSetWarning` when a stratum is off target by
            more than the card's tolerance.

    Returns:
        The validated :class:`GoldenSet`.

    Raises:
        GoldenSetError: a malformed line, duplicate id, missing or mistyped
            field, unknown stratum, empty file or non-UTF-8 bytes; the message
            names the file, the line and the field.
        SchemaError: a referenced schema file is missing, not JSON, or not
            valid JSON Schema.

    Examples:
        >>> gs = load_golden("tests/fixtures/golden_mini")  # run from the repository root
        >>> len(gs), len(gs.version), gs.composition()["n"].tolist()
        (10, 12, [6, 3, 1])
    """
    path = Path(path)
    folder = path.parent if path.suffix == ".jsonl" else path
    items_path = path if path.suffix == ".jsonl" else path / "items.jsonl"
    if not folder.is_dir():
        raise GoldenSetError(
            "Golden set folder not found. Pass the folder that holds items.jsonl.", path=folder
        )
    card = _load_card(folder / "card.yaml")
    items: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, raw in iter_jsonl(items_path, error=GoldenSetError):
        item = _validate_item(raw, items_path, line)
        if item["id"] in seen:
            raise GoldenSetError(
                f"Duplicate id {item['id']!r} (first seen on line {seen[item['id']]}). Ids must be unique.",
                path=items_path,
                line=line,
                field="id",
            )
        seen[item["id"]] = line
        items.append(item)
    schemas = _load_schemas(folder, items, items_path, seen)
    version = _content_hash(items, schemas)
    gs = GoldenSet(
        name=str(card.get("name") or folder.name),
        path=folder,
        items=tuple(items),
        card=card,
        schemas=schemas,
        version=version,
    )
    _validate_card_refs(gs)
    if warn:
        off = gs.composition()
        off = off[off["off_target"]]
        for stratum, row in off.iterrows():
            warnings.warn(
                f"Golden set {gs.name!r}: stratum {stratum!r} is {row['share']:.1%} of the items "
                f"against a target of {row['target']:.0%} (tolerance {gs.tolerance:.0%}).",
                GoldenSetWarning,
                stacklevel=2,
            )
    return gs


def _load_card(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        card = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise GoldenSetError("The card is not valid UTF-8.", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise GoldenSetError(
            f"The card is not valid YAML: {getattr(exc, 'problem', exc)}.",
            path=path,
            line=(mark.line + 1) if mark is not None else None,
        ) from None
    if card is None:
        return {}
    if not isinstance(card, dict):
        raise GoldenSetError("The card must be a YAML mapping (key: value).", path=path)
    targets = card.get("targets")
    if targets is not None:
        if not isinstance(targets, dict) or set(targets) - set(STRATA):
            raise GoldenSetError(
                f"'targets' must map strata {list(STRATA)} to shares. Got {targets!r} instead.",
                path=path,
                field="targets",
            )
        total = sum(float(v) for v in targets.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise GoldenSetError(
                f"'targets' shares must add up to 1. They add up to {total:g}.", path=path, field="targets"
            )
    return card


def _validate_item(raw: dict[str, Any], path: Path, line: int) -> dict[str, Any]:
    for key in _REQUIRED:
        if key not in raw:
            raise GoldenSetError(
                f"Missing required field '{key}'. Each item needs {', '.join(_REQUIRED)}.",
                path=path,
                line=line,
                field=key,
            )
    unknown = set(raw) - set(_REQUIRED) - set(_OPTIONAL) - {"metadata", "inclusion_prob", "source"}
    if unknown:
        raise GoldenSetError(
            f"Unknown field(s) {sorted(unknown)}. Valid fields: {', '.join((*_REQUIRED, *_OPTIONAL))}, metadata.",
            path=path,
            line=line,
            field=sorted(unknown)[0],
        )
    item_id = raw["id"]
    if (problem := id_problem(item_id)) is not None:
        raise GoldenSetError(problem, path=path, line=line, field="id")
    if raw["stratum"] not in STRATA:
        raise GoldenSetError(
            f"Unknown stratum {raw['stratum']!r}. Valid strata: {', '.join(STRATA)}.",
            path=path,
            line=line,
            field="stratum",
        )
    query = raw["query"]
    if isinstance(query, list):
        if not query:
            raise GoldenSetError(
                "'query' is an empty conversation ([]). Give the user's message as a string, "
                "or a list of chat messages ending with the user's turn.",
                path=path,
                line=line,
                field="query",
            )
        for k, msg in enumerate(query):
            if (
                not isinstance(msg, dict)
                or msg.get("role") not in ("system", "user", "assistant")
                or not isinstance(msg.get("content"), str)
            ):
                raise GoldenSetError(
                    f"Chat message {k} must be an object with 'role' (system, user or assistant) "
                    f"and string 'content'. Got {msg!r} instead.",
                    path=path,
                    line=line,
                    field="query",
                )
        if not any(m["role"] == "user" and m["content"].strip() for m in query):
            raise GoldenSetError(
                "'query' has no user message with text: every user turn is empty or whitespace.",
                path=path,
                line=line,
                field="query",
            )
    elif not isinstance(query, str):
        raise GoldenSetError(
            f"'query' must be a non-empty string or a list of chat messages. Got {type(query).__name__} instead.",
            path=path,
            line=line,
            field="query",
        )
    elif not query.strip():
        raise GoldenSetError(
            f"'query' is empty or only whitespace ({query!r}). Give the user's message.",
            path=path,
            line=line,
            field="query",
        )
    if not isinstance(raw["ideal"], str):
        raise GoldenSetError(
            f"'ideal' must be a string (it may be empty only to flag it for labelling). "
            f"Got {type(raw['ideal']).__name__} instead.",
            path=path,
            line=line,
            field="ideal",
        )
    tags = raw.get("tags", [])
    if tags is None:
        tags = []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise GoldenSetError(
            f"'tags' must be a list of strings. Got {tags!r} instead.", path=path, line=line, field="tags"
        )
    expected = raw.get("expected")
    if expected is not None and not isinstance(expected, dict):
        raise GoldenSetError(
            f"'expected' must be a JSON object. Got {type(expected).__name__} instead.",
            path=path,
            line=line,
            field="expected",
        )
    for key in ("schema", "group"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise GoldenSetError(
                f"'{key}' must be a string. Got {type(value).__name__} instead.", path=path, line=line, field=key
            )
    item = dict(raw)
    item["tags"] = list(tags)
    return item


def _load_schemas(
    folder: Path, items: list[dict[str, Any]], items_path: Path, lines: dict[str, int]
) -> dict[str, dict[str, Any]]:
    validators = jsonschema_validators()
    from jsonschema.exceptions import SchemaError as JSError

    schemas: dict[str, dict[str, Any]] = {}
    base = (folder / "schemas").resolve()
    for item in items:
        name = item.get("schema")
        if name is None or name in schemas:
            continue
        schema_path = folder / "schemas" / name
        # A schema is a file of the set's schemas/ folder: a path that leads out of
        # it (../../etc/passwd, /abs/path, a symlink outside) is refused unread.
        if not name.strip() or Path(name).is_absolute() or not schema_path.resolve().is_relative_to(base):
            raise SchemaError(
                f"'schema' must name a file inside the set's schemas/ folder ({folder / 'schemas'}). "
                f"Got {name!r}, which leads outside it.",
                path=items_path,
                line=lines[item["id"]],
                field="schema",
            )
        if not schema_path.is_file():
            raise SchemaError(
                f"Schema file {schema_path} not found. Put it in {folder / 'schemas'}.",
                path=items_path,
                line=lines[item["id"]],
                field="schema",
            )
        try:
            schema = json.loads(schema_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SchemaError(f"The schema is not valid JSON: {exc}.", path=schema_path) from None
        if not isinstance(schema, dict | bool):
            raise SchemaError("A JSON Schema must be an object or a boolean.", path=schema_path)
        cls = validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except JSError as exc:
            where = "/".join(str(p) for p in exc.path) or "(root)"
            raise SchemaError(
                f"Not a valid JSON Schema at {where}: {exc.message}.", path=schema_path, field=where
            ) from None
        schemas[name] = schema
    return schemas


def _content_hash(items: Sequence[dict[str, Any]], schemas: Mapping[str, Any]) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(json.dumps(item, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    for name in sorted(schemas):
        h.update(name.encode("utf-8"))
        h.update(json.dumps(schemas[name], sort_keys=True).encode("utf-8"))
    return h.hexdigest()[:12]


def _validate_card_refs(gs: GoldenSet) -> None:
    card_path = gs.path / "card.yaml"
    unknown = set(gs.calibration_ids) - set(gs.ids)
    if unknown:
        raise GoldenSetError(
            f"'calibration.items' names ids that are not in the set: {sorted(unknown)[:5]}"
            f"{' ...' if len(unknown) > 5 else ''} ({len(unknown)} in all).",
            path=card_path,
            field="calibration",
        )
    names = [d.get("name") for d in gs.card.get("dimensions") or []]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise GoldenSetError(f"Duplicate dimension names {sorted(dupes)}.", path=card_path, field="dimensions")
