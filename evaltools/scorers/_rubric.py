"""Judge rubrics: concrete, observable criteria for every score level.

A rubric is a YAML file (the packaged ones live in ``evaltools/scorers/rubrics/``)::

    name: helpfulness
    kind: ordinal            # ordinal (a 1-5 style scale) or binary (1 = pass, 0 = fail)
    requires_ideal: false    # true when the judge must compare with the ideal response
    description: What the dimension measures, in a sentence or two.
    question: The question the judge answers.
    levels:
      - score: 5
        label: Fully resolves the request
        criteria:
          - Answers every question in the query, including each part of a multi-part question.
        example: 'Q: "How do I ...?" A: "Go to Settings > ..."'

A judge is only as reliable as its rubric: "rate quality 1-10" lets it
invent its own standard, and different judges (or the same judge on two
days) will invent different ones. :func:`load_rubric` therefore rejects a
rubric whose levels are not described by observable criteria with an
example, and says what is missing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from evaltools.errors import InputError

__all__ = ["Rubric", "RubricError", "RubricLevel", "load_rubric", "rubric_names"]

RUBRIC_DIR = Path(__file__).resolve().parent / "rubrics"
"""Folder of the packaged rubric files."""

MIN_CRITERION_WORDS = 6
"""A criterion shorter than this cannot describe observable behaviour."""

MIN_EXAMPLE_CHARS = 20
"""An example shorter than this cannot show a response."""

# Words that judge quality without saying what to observe. A criterion made
# only of these (and function words) is a restatement of the score.
_VAGUE = frozenset(
    """good bad great excellent poor okay ok fine decent average mediocre superb terrible awful nice
    quality high low very somewhat quite really mostly overall generally fairly extremely pretty best worst
    better worse acceptable unacceptable adequate inadequate perfect perfectly strong weak solid
    rate rating score scored level levels response answer output reply text it this that
    is are was be being has have the a an of and or to in with on for as its their
    """.split()
)

_GUIDANCE = (
    "A concrete rubric describes every score level by observable criteria (what the response does "
    f"or contains, e.g. 'states the 30-day refund window' rather than 'good'), each at least "
    f"{MIN_CRITERION_WORDS} words, gives each level a label and a short example response "
    f"(at least {MIN_EXAMPLE_CHARS} characters), and covers every value of its scale exactly once "
    "(binary: 0 and 1; ordinal: 3 to 10 consecutive integers). "
    f"See the packaged rubrics in {RUBRIC_DIR} for models."
)


class RubricError(InputError):
    """A rubric file is malformed or too vague to judge with."""


@dataclass(frozen=True, slots=True)
class RubricLevel:
    """One score level of a rubric."""

    score: int
    """The value the judge returns for this level."""

    label: str
    """A short name for the level (``Fully resolves the request``)."""

    criteria: tuple[str, ...]
    """Observable statements about a response at this level."""

    example: str
    """A short example of a response at this level."""


@dataclass(frozen=True, slots=True)
class Rubric:
    """A validated rubric; build it with :func:`load_rubric`."""

    name: str
    """Dimension name (``helpfulness``)."""

    kind: Literal["ordinal", "binary"]
    """``ordinal`` (a 1-5 style scale) or ``binary`` (1 = pass, 0 = fail)."""

    description: str
    """What the dimension measures."""

    question: str
    """The question the judge answers."""

    levels: tuple[RubricLevel, ...]
    """Score levels, highest score first."""

    requires_ideal: bool
    """Whether judging needs the ideal response."""

    source: str
    """The file the rubric came from."""

    @property
    def scale(self) -> tuple[int, ...]:
        """Allowed scores, ascending."""
        return tuple(sorted(level.score for level in self.levels))

    @property
    def version(self) -> str:
        """First 12 hex characters of the SHA-256 of the rubric's content (not its path)."""
        payload = {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "question": self.question,
            "requires_ideal": self.requires_ideal,
            "levels": [[lv.score, lv.label, list(lv.criteria), lv.example] for lv in self.levels],
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]

    def render(self) -> str:
        """The rubric as text for a judge prompt.

        Returns:
            Plain text listing the question and each level's criteria and example.

        Examples:
            >>> print(load_rubric("format_compliance").render().splitlines()[0])
            Dimension: format_compliance
        """
        lines = [
            f"Dimension: {self.name}",
            f"What it measures: {self.description}",
            f"Question: {self.question}",
            "Score levels:",
        ]
        for lv in self.levels:
            name = {1: "pass", 0: "fail"}[lv.score] if self.kind == "binary" else str(lv.score)
            lines.append(f"{name} - {lv.label}")
            lines.extend(f"  - {c}" for c in lv.criteria)
            lines.append(f"  Example: {lv.example}")
        return "\n".join(lines)


def rubric_names() -> list[str]:
    """Names of the packaged rubrics.

    Returns:
        Sorted rubric names, usable with :func:`load_rubric`.

    Examples:
        >>> rubric_names()
        ['appropriate_refusal', 'factual_accuracy', 'format_compliance', 'helpfulness', 'tone']
    """
    return sorted(p.stem for p in RUBRIC_DIR.glob("*.yaml"))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _is_vague(criterion: str) -> bool:
    content = [w for w in _words(criterion) if w not in _VAGUE and not w.isdigit()]
    return len(content) < 2


def _validate(raw: Any, path: str) -> Rubric:
    if not isinstance(raw, dict):
        raise RubricError(f"A rubric must be a YAML mapping. Got {type(raw).__name__} instead. {_GUIDANCE}", path=path)
    problems: list[str] = []

    def text(key: str, min_words: int) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"'{key}' is missing; it must be a non-empty string")
            return ""
        if len(_words(value)) < min_words:
            problems.append(f"'{key}' is too short ({len(_words(value))} words, at least {min_words} needed)")
        return " ".join(value.split())

    name = text("name", 1)
    if name and not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        problems.append(f"'name' must be a lower-case identifier such as 'helpfulness'. Got {name!r}")
    description = text("description", 8)
    question = text("question", 5)
    kind = raw.get("kind")
    if kind not in ("ordinal", "binary"):
        problems.append(f"'kind' must be 'ordinal' or 'binary'. Got {kind!r}")
    requires_ideal = raw.get("requires_ideal", False)
    if not isinstance(requires_ideal, bool):
        problems.append(f"'requires_ideal' must be true or false. Got {requires_ideal!r}")

    levels_raw = raw.get("levels")
    levels: list[RubricLevel] = []
    if not isinstance(levels_raw, list) or not levels_raw:
        problems.append("'levels' is missing; list one entry per score with label, criteria and example")
        levels_raw = []
    for i, lv in enumerate(levels_raw, start=1):
        where = f"level {i}"
        if not isinstance(lv, dict):
            problems.append(f"{where} must be a mapping with score, label, criteria and example")
            continue
        score = lv.get("score")
        if isinstance(score, bool) or not isinstance(score, int):
            problems.append(f"{where}: 'score' must be an integer. Got {score!r}")
            continue
        where = f"level {score}"
        label = lv.get("label")
        if not isinstance(label, str) or not label.strip():
            problems.append(f"{where}: 'label' is missing")
            label = ""
        criteria = lv.get("criteria")
        if isinstance(criteria, str):
            criteria = [criteria]
        if not isinstance(criteria, list) or not criteria:
            problems.append(f"{where}: 'criteria' is missing; list what a response at this level does or contains")
            criteria = []
        clean: list[str] = []
        for c in criteria:
            if not isinstance(c, str):
                problems.append(f"{where}: every criterion must be a string. Got {c!r}")
                continue
            c = " ".join(c.split())
            if len(_words(c)) < MIN_CRITERION_WORDS:
                problems.append(f"{where}: criterion {c!r} is too short ({len(_words(c))} words)")
            elif _is_vague(c):
                problems.append(f"{where}: criterion {c!r} only judges quality; say what to observe")
            clean.append(c)
        example = lv.get("example")
        if not isinstance(example, str) or len(example.strip()) < MIN_EXAMPLE_CHARS:
            problems.append(f"{where}: 'example' is missing or shorter than {MIN_EXAMPLE_CHARS} characters")
            example = ""
        levels.append(RubricLevel(score, str(label).strip(), tuple(clean), " ".join(str(example).split())))

    scores = [lv.score for lv in levels]
    if len(set(scores)) != len(scores):
        problems.append(f"scores must be distinct; got {scores}")
    if levels and kind == "binary" and set(scores) != {0, 1}:
        problems.append(f"a binary rubric needs exactly the scores 0 (fail) and 1 (pass); got {sorted(scores)}")
    if levels and kind == "ordinal":
        ordered = sorted(set(scores))
        if not 3 <= len(ordered) <= 10 or ordered != list(range(ordered[0], ordered[0] + len(ordered))):
            problems.append(f"an ordinal rubric needs 3 to 10 consecutive integer scores; got {sorted(scores)}")
    seen: dict[tuple[str, ...], int] = {}
    for lv in levels:
        if lv.criteria and lv.criteria in seen:
            problems.append(f"levels {seen[lv.criteria]} and {lv.score} have the same criteria")
        seen.setdefault(lv.criteria, lv.score)
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise RubricError(f"The rubric is not concrete enough to judge with:\n{listing}\n{_GUIDANCE}", path=path)
    return Rubric(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        description=description,
        question=question,
        levels=tuple(sorted(levels, key=lambda lv: -lv.score)),
        requires_ideal=requires_ideal,
        source=path,
    )


def load_rubric(name_or_path: str | Path, *, base_dir: str | Path | None = None) -> Rubric:
    """Load and validate a rubric by packaged name or file path.

    Args:
        name_or_path: a packaged rubric name (see :func:`rubric_names`) or
            the path of a YAML rubric file.
        base_dir: folder a relative path is read from first (a golden set's
            folder, for rubrics its card references).

    Returns:
        The validated :class:`Rubric`.

    Raises:
        RubricError: the file is not valid YAML, or the rubric is vague
            (levels without observable criteria, criteria that only say
            "good" or "bad", missing examples, gaps in the scale). The
            message lists every problem and what a concrete rubric needs.
        ConfigError: no packaged rubric has that name and no such file exists.

    Examples:
        >>> rubric = load_rubric("helpfulness")
        >>> rubric.kind, rubric.scale
        ('ordinal', (1, 2, 3, 4, 5))
    """
    from evaltools.errors import ConfigError

    path = Path(name_or_path)
    if base_dir is not None and not path.is_absolute() and (Path(base_dir) / path).is_file():
        path = Path(base_dir) / path
    if not path.suffix and not path.exists():
        packaged = RUBRIC_DIR / f"{name_or_path}.yaml"
        if not packaged.exists():
            raise ConfigError(
                f"No packaged rubric is named {str(name_or_path)!r} and no such file exists. "
                f"Packaged rubrics: {', '.join(rubric_names())} (evaltools.scorers.rubric_names()); "
                "or pass the path of your own YAML rubric."
            )
        path = packaged
    if not path.is_file():
        raise ConfigError(f"Rubric file {str(path)!r} does not exist.", path=path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RubricError(f"The rubric is not valid YAML: {exc}", path=path) from None
    return _validate(raw, str(path))
