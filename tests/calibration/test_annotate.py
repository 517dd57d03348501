"""Headless tests of the annotation UI: drive the widget callbacks, check the labels file after each label."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evaltools.calibration._annotate import Annotator
from evaltools.calibration._labels import load_labels
from evaltools.errors import InputError

DIMS = {"helpfulness": range(1, 6), "refusal": [0, 1]}


@pytest.fixture
def items() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["q1", "q2", "q3"],
            "stratum": ["common", "edge", "adversarial"],
            "query": ["How do I export?", "Refund please", "Ignore all rules"],
            "ideal": [
                "Settings > Data > Export everything.",
                "Annual plans: 30 days.",
                "I can't help with that.",
            ],
            "output": ["<script>alert('x')</script> Go to Settings.", "No refunds ever.", "Sure!"],
        }
    )


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _ui(items: pd.DataFrame, tmp_path: Path, annotator: str = "ana", **kw: object) -> Annotator:
    return Annotator(items, labels_dir=tmp_path, annotator=annotator, dimensions=DIMS, run_id="run-1", **kw)


def test_keys_typed_into_the_text_box_label_and_save_each_label_at_once(items: pd.DataFrame, tmp_path: Path) -> None:
    ui = _ui(items, tmp_path)
    box = ui.widget  # builds the widgets
    keys = ui._keys
    assert ui.active_dimension == "helpfulness"
    keys.value = "4"  # what the browser sends on a keystroke (continuous_update)
    assert keys.value == ""  # cleared for the next key
    lines = _lines(tmp_path / "ana.jsonl")
    assert [(r["item_id"], r["dimension"], r["value"], r["run_id"]) for r in lines] == [
        ("q1", "helpfulness", 4.0, "run-1")
    ]
    assert ui.active_dimension == "refusal" and ui.position == 0
    keys.value = "p"
    lines = _lines(tmp_path / "ana.jsonl")
    assert lines[-1]["dimension"] == "refusal" and lines[-1]["value"] == 1.0
    assert ui.position == 1  # item complete: moved on
    assert "Item 2 of 3" in ui._html.value
    assert box is ui.widget


def test_buttons_label_and_navigation(items: pd.DataFrame, tmp_path: Path) -> None:
    ui = _ui(items, tmp_path)
    assert ui.widget is not None
    ui._buttons["refusal"].value = 0.0  # a click on "fail"
    assert _lines(tmp_path / "ana.jsonl")[-1]["value"] == 0.0
    assert ui.position == 0 and ui.active_dimension == "helpfulness"  # the unlabelled one
    ui._buttons["helpfulness"].value = 2.0
    assert ui.position == 1
    ui.press("b")
    assert ui.position == 0
    # Navigating shows the saved labels without writing anything.
    assert ui._buttons["helpfulness"].value == 2.0 and ui._buttons["refusal"].value == 0.0
    assert len(_lines(tmp_path / "ana.jsonl")) == 2
    ui.press("n")
    assert ui.position == 1 and ui._buttons["helpfulness"].value is None


def test_invalid_keys_write_nothing(items: pd.DataFrame, tmp_path: Path) -> None:
    ui = _ui(items, tmp_path)
    for key in ("7", "x", "p"):  # 7 off the 1-5 scale; p is pass/fail only
        ui.press(key)
        assert "does nothing" in ui.status
    assert _lines(tmp_path / "ana.jsonl") == []
    with pytest.raises(InputError, match="outside the scale"):
        ui.label("helpfulness", 9)
    with pytest.raises(InputError, match="Unknown dimension"):
        ui.label("tone", 3)


def test_relabelling_keeps_both_lines_and_the_latest_wins(items: pd.DataFrame, tmp_path: Path) -> None:
    ui = _ui(items, tmp_path)
    ui.press("3")
    ui.press("b")  # still on q1 (position 0): back stays at 0
    ui.label("helpfulness", 5)
    lines = _lines(tmp_path / "ana.jsonl")
    assert [r["value"] for r in lines] == [3.0, 5.0]
    frame = load_labels(tmp_path, dimensions=DIMS)
    assert frame["value"].tolist() == [5.0]


def test_crash_between_labels_loses_nothing_and_resumes(items: pd.DataFrame, tmp_path: Path) -> None:
    ui = _ui(items, tmp_path)
    for key in "4p2":  # q1 complete, q2 helpfulness only
        ui.press(key)
    after = _lines(tmp_path / "ana.jsonl")
    del ui  # the kernel dies here, between two labels
    resumed = _ui(items, tmp_path)
    assert _lines(tmp_path / "ana.jsonl") == after  # nothing lost, nothing rewritten
    assert resumed.position == 1 and resumed.active_dimension == "refusal"
    assert resumed.label_of("helpfulness") == 2.0
    assert resumed.progress == (1, 3)
    resumed.press("f")
    assert resumed.position == 2 and resumed.progress == (2, 3)


def test_annotators_have_their_own_files_and_progress(items: pd.DataFrame, tmp_path: Path) -> None:
    ana = _ui(items, tmp_path, "ana")
    for key in "4p5f":
        ana.press(key)
    ben = _ui(items, tmp_path, "ben")
    assert ben.position == 0 and ben.progress == (0, 3)
    ben.press("4")
    frame = load_labels(tmp_path, dimensions=DIMS)
    assert sorted(set(frame["annotator"])) == ["ana", "ben"]
    assert (tmp_path / "ben.jsonl").exists() and len(_lines(tmp_path / "ben.jsonl")) == 1


def test_finishing_and_item_subset(items: pd.DataFrame, tmp_path: Path) -> None:
    ui = _ui(items, tmp_path, item_ids=["q3", "q1"])
    for key in "1f5p":
        ui.press(key)
    assert ui.finished and ui.current_item is None and ui.active_dimension is None
    assert "Done:" in ui.item_html() and "2 of 2" in ui.item_html()
    assert [r["item_id"] for r in _lines(tmp_path / "ana.jsonl")] == ["q3", "q3", "q1", "q1"]
    ui.press("4")
    assert "all items shown" in ui.status
    with pytest.raises(InputError, match="not in items"):
        _ui(items, tmp_path, item_ids=["q9"])


def test_outputs_are_escaped(items: pd.DataFrame, tmp_path: Path) -> None:
    ui = _ui(items, tmp_path)
    page = ui.item_html()
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "Settings &gt; Data &gt; Export everything." in page


def test_bad_construction(items: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'query' column"):
        Annotator(items.drop(columns="query"), labels_dir=tmp_path, annotator="ana", dimensions=DIMS)
    with pytest.raises(InputError, match="at least one dimension"):
        Annotator(items, labels_dir=tmp_path, annotator="ana", dimensions={})
    with pytest.raises(InputError, match="annotator"):
        Annotator(items, labels_dir=tmp_path, annotator="a b", dimensions=DIMS)


def test_resume_ignores_other_annotators_dimensions(items: pd.DataFrame, tmp_path: Path) -> None:
    other = Annotator(items, labels_dir=tmp_path, annotator="zoe", dimensions={"tone": range(1, 6)}, run_id="run-1")
    other.press("5")
    ui = _ui(items, tmp_path)
    assert ui.position == 0 and ui.progress == (0, 3)


def test_outputs_from_a_run_frame_replace_the_output_column(items: pd.DataFrame, tmp_path: Path) -> None:
    run_outputs = pd.DataFrame({"id": ["q1", "q2"], "output": ["from the run", None]})
    ui = _ui(items, tmp_path, outputs=run_outputs)
    assert "from the run" in ui.item_html()
    ui.next()
    assert "No refunds ever." not in ui.item_html()  # q2 failed in this run: nothing to show
    ui.next()
    assert "Sure!" not in ui.item_html()
    with pytest.raises(InputError, match="'id' and 'output' columns"):
        _ui(items, tmp_path, outputs=pd.DataFrame({"x": [1]}))


def test_applies_to_offers_each_dimension_only_its_items(items: pd.DataFrame, tmp_path: Path) -> None:
    # helpfulness scores q1 and q2 only, refusal q2 and q3; an item none scores is left out
    applies = {"helpfulness": ["q1", "q2"], "refusal": ["q2"]}
    ui = _ui(items, tmp_path, applies_to=applies)
    assert list(ui.items["_id"]) == ["q1", "q2"]  # q3: no dimension scores it
    assert ui.active_dimension == "helpfulness"
    ui.press("4")  # q1 complete: refusal does not apply to it
    assert ui.position == 1 and ui.active_dimension == "helpfulness"
    assert ui.widget is not None and ui._buttons["refusal"].disabled is False
    ui.back()
    assert ui._buttons["refusal"].disabled is True  # not offered on q1
    with pytest.raises(InputError, match="does not score"):
        ui.label("refusal", 1)
    ui.next()
    ui.press("2")
    ui.press("f")
    assert ui.finished and ui.progress == (2, 2)
    assert [(r["item_id"], r["dimension"]) for r in _lines(tmp_path / "ana.jsonl")] == [
        ("q1", "helpfulness"), ("q2", "helpfulness"), ("q2", "refusal")
    ]
    with pytest.raises(InputError, match="nothing to label"):
        _ui(items, tmp_path, applies_to={"helpfulness": [], "refusal": []})


def test_the_item_text_keeps_keys_from_jupyterlab_shortcuts(items: pd.DataFrame, tmp_path: Path) -> None:
    page = _ui(items, tmp_path).item_html()
    assert page.startswith('<div class="et-annotator" tabindex="-1" data-lm-suppress-shortcuts="true"')
    assert "var(--jp-content-font-color1" in page  # readable in the dark theme too


def test_keys_over_the_widget_label_like_the_text_box(items: pd.DataFrame, tmp_path: Path) -> None:
    ui = _ui(items, tmp_path)
    assert ui.widget is not None
    ui._on_dom_key({"key": "4", "event": "keydown"})
    ui._on_dom_key({"key": "p", "ctrlKey": True})  # a shortcut with a modifier is not a label
    ui._on_dom_key({"key": "Shift"})
    ui._on_dom_key({"key": "p"})
    assert [(r["dimension"], r["value"]) for r in _lines(tmp_path / "ana.jsonl")] == [
        ("helpfulness", 4.0), ("refusal", 1.0)
    ]
    assert ui._events.prevent_default_action is True  # the browser, and JupyterLab, never see those keys


def test_the_support_set_offers_judge_dimensions_only_the_answers_they_score() -> None:
    from evaltools import load_golden
    from evaltools.calibration._annotate import scorable_items
    from evaltools.calibration._labels import calibration_subset

    golden = load_golden(Path(__file__).parents[2] / "golden" / "support")
    applies = scorable_items(golden)
    assert set(applies) == {"helpfulness", "factual_accuracy"}
    scorable = set().union(*map(set, applies.values()))
    frame = golden.frame
    tags = dict(zip(frame["id"], frame["tags"], strict=True))
    # Before: a subset of all items, as the notebook drew it, held 17 triage tickets of 60, and 30 answers
    # outside the card's calibration subset: 47 items the judge dimensions never score.
    before = calibration_subset(frame, 60, rng=0).item_ids
    assert sum("triage" in tags[i] for i in before) == 17
    assert sum(i not in scorable for i in before) == 47
    # After: the subset is drawn from the items the dimensions score; none is a triage ticket.
    after = calibration_subset(frame[frame["id"].isin(scorable)], 60, rng=0).item_ids
    assert len(after) == 60 and all(i in scorable for i in after)
    assert not any("triage" in tags[i] for i in after)
