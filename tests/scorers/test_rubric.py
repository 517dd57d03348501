"""Tests for rubric loading and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evaltools.errors import ConfigError, InputError
from evaltools.scorers._rubric import RUBRIC_DIR, RubricError, load_rubric, rubric_names

PACKAGED = ["appropriate_refusal", "factual_accuracy", "format_compliance", "helpfulness", "tone"]


@pytest.mark.parametrize("name", PACKAGED)
def test_packaged_rubrics_load_and_are_concrete(name: str) -> None:
    rubric = load_rubric(name)
    assert rubric.name == name
    assert rubric.source == str(RUBRIC_DIR / f"{name}.yaml")
    if rubric.kind == "binary":
        assert rubric.scale == (0, 1)
    else:
        assert rubric.scale == (1, 2, 3, 4, 5)
    for level in rubric.levels:
        assert level.criteria and level.example and level.label
    text = rubric.render()
    for level in rubric.levels:
        assert level.example in text
    assert len(rubric.version) == 12


def test_rubric_names_and_the_ideal_requirement() -> None:
    assert rubric_names() == PACKAGED
    assert load_rubric("factual_accuracy").requires_ideal
    assert not load_rubric("tone").requires_ideal


def test_levels_are_highest_first_and_version_tracks_content(tmp_path: Path) -> None:
    raw = yaml.safe_load((RUBRIC_DIR / "helpfulness.yaml").read_text())
    rubric = load_rubric("helpfulness")
    assert [lv.score for lv in rubric.levels] == [5, 4, 3, 2, 1]
    copy = tmp_path / "copy.yaml"
    copy.write_text(yaml.safe_dump(raw))
    assert load_rubric(copy).version == rubric.version  # content, not path
    raw["levels"][0]["example"] += " Thanks!"
    copy.write_text(yaml.safe_dump(raw))
    assert load_rubric(copy).version != rubric.version


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_rate_quality_one_to_ten_is_rejected_with_guidance(tmp_path: Path) -> None:
    vague = {
        "name": "quality",
        "kind": "ordinal",
        "description": "Rate the quality of the response from 1 to 10.",
        "question": "How good is the response overall?",
        "levels": [{"score": s, "label": str(s), "criteria": ["good" if s > 5 else "bad"]} for s in range(1, 11)],
    }
    with pytest.raises(RubricError) as info:
        load_rubric(_write(tmp_path, vague))
    msg = str(info.value)
    assert "criterion 'good' is too short" in msg
    assert "'example' is missing" in msg
    assert "A concrete rubric describes every score level by observable criteria" in msg
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)
    assert info.value.path == str(tmp_path / "r.yaml")


def test_no_levels_at_all_is_rejected(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"name": "quality", "kind": "ordinal", "description": "rate quality 1-10", "question": "score?"},
    )
    with pytest.raises(RubricError, match="'levels' is missing") as info:
        load_rubric(path)
    assert "'description' is too short" in str(info.value)


def test_long_but_vague_criteria_are_rejected(tmp_path: Path) -> None:
    raw = yaml.safe_load((RUBRIC_DIR / "tone.yaml").read_text())
    raw["levels"][0]["criteria"] = ["The response is very good and of really high quality overall."]
    with pytest.raises(RubricError, match="only judges quality; say what to observe"):
        load_rubric(_write(tmp_path, raw))


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda r: r["levels"].pop(2), "3 to 10 consecutive integer scores"),
        (lambda r: r["levels"][1].update(score=5), "scores must be distinct"),
        (lambda r: r.update(kind="likert"), "'kind' must be 'ordinal' or 'binary'"),
        (lambda r: r.update(name="Help Fulness"), "lower-case identifier"),
        (
            lambda r: r["levels"][0].update(example="short"),
            "level 5: 'example' is missing or shorter than 20",
        ),
        (
            lambda r: r["levels"][1].update(criteria=r["levels"][0]["criteria"]),
            "levels 5 and 4 have the same criteria",
        ),
        (lambda r: r.update(requires_ideal="yes"), "'requires_ideal' must be true or false"),
        (lambda r: r["levels"][0].update(score="5"), "'score' must be an integer"),
    ],
)
def test_structural_problems_are_listed(tmp_path: Path, mutate, match) -> None:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load((RUBRIC_DIR / "helpfulness.yaml").read_text())
    mutate(raw)
    with pytest.raises(RubricError, match=match):
        load_rubric(_write(tmp_path, raw))


def test_binary_rubric_needs_zero_and_one(tmp_path: Path) -> None:
    raw = yaml.safe_load((RUBRIC_DIR / "format_compliance.yaml").read_text())
    raw["levels"][1]["score"] = 2
    with pytest.raises(RubricError, match="exactly the scores 0 .fail. and 1 .pass."):
        load_rubric(_write(tmp_path, raw))


def test_unknown_name_lists_the_packaged_rubrics(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Packaged rubrics: appropriate_refusal, factual_accuracy"):
        load_rubric("friendliness")
    with pytest.raises(ConfigError, match="does not exist"):
        load_rubric(tmp_path / "missing.yaml")


def test_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="not valid YAML"):
        load_rubric(_write(tmp_path, "levels: [unclosed"))
    with pytest.raises(RubricError, match="must be a YAML mapping"):
        load_rubric(_write(tmp_path, "- just\n- a list\n"))


def test_user_rubric_by_path(tmp_path: Path) -> None:
    raw = yaml.safe_load((RUBRIC_DIR / "format_compliance.yaml").read_text())
    raw["name"] = "json_only"
    rubric = load_rubric(_write(tmp_path, raw))
    assert rubric.name == "json_only" and rubric.kind == "binary"
    assert rubric.render().splitlines()[4].startswith("pass - ")
