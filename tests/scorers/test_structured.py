import json
import math

import pytest

from evaltools.errors import ConfigError
from evaltools.scorers import (
    exact_match,
    field_match,
    json_schema_valid,
    json_valid,
    normalized_match,
    regex_match,
    required_fields,
)

SCHEMA = json.loads(open("golden/support/schemas/ticket_triage.schema.json").read())
GOOD = ('{"category":"bug","priority":"normal","product_area":"bank_feeds","needs_human":true,'
        '"summary":"Bank feed stopped importing transactions.","language":"en"}')


@pytest.mark.parametrize(
    "pred, ref, kw, want",
    [
        ("yes", "yes", {}, 1.0),
        (" yes\n", "yes", {}, 1.0),
        ("Yes", "yes", {}, 0.0),
        ("Yes", "yes", {"ignore_case": True}, 1.0),
        ("yes.", "yes", {}, 0.0),
    ],
)
def test_exact_match(pred, ref, kw, want):
    s = exact_match(pred, ref, **kw)
    assert s.value == want and s.kind == "binary"
    assert (s.failure == "mismatch") == (want == 0.0)


def test_normalized_match():
    assert normalized_match("Hello,   World!", "hello world").value == 1.0
    assert normalized_match("Hello World", "hello there").value == 0.0
    # NFKC folds the full-width digits to ASCII
    assert normalized_match("Ａｎｓｗｅｒ： ４２", "answer 42").value == 1.0


def test_regex_match_modes_and_errors():
    assert regex_match("Order 1234 shipped", r"\d{4}").value == 1.0
    assert regex_match("Order 1234 shipped", r"\d{4}", mode="fullmatch").value == 0.0
    assert regex_match("1234", r"\d{4}", mode="fullmatch").metadata["match"] == "1234"
    with pytest.raises(ConfigError, match="not a valid regex"):
        regex_match("x", "(")
    with pytest.raises(ConfigError, match="'search' or 'fullmatch'"):
        regex_match("x", "x", mode="begin")


@pytest.mark.parametrize("fn", [exact_match, normalized_match])
def test_none_output_is_unscored_not_zero(fn):
    s = fn(None, "x")
    assert math.isnan(s.value) and s.reason == "no_output" and not s.scored


def test_json_valid():
    assert json_valid(GOOD).value == 1.0
    for bad, why in [("Sure! " + GOOD, "Expecting value"), ("[1, 2]", "expected a JSON object"), ("", "empty"),
                     ("```json\n" + GOOD + "\n```", "code fence"), ('{"a": 1,}', "double quotes")]:
        s = json_valid(bad)
        assert s.value == 0.0 and s.failure == "invalid_json", bad
        assert why in s.explanation, (bad, s.explanation)
    assert json_valid("```json\n" + GOOD + "\n```", allow_code_fence=True).value == 1.0
    assert json_valid("[1]", require_object=False).value == 1.0


def test_json_schema_valid_reports_failing_path():
    assert json_schema_valid(GOOD, SCHEMA).value == 1.0
    bad = json.loads(GOOD)
    bad["priority"] = "critical"
    bad["extra"] = 1
    s = json_schema_valid(json.dumps(bad), SCHEMA)
    assert s.value == 0.0 and s.failure == "schema_violation"
    assert "/priority: 'critical' is not one of" in " ".join(s.metadata["errors"])
    assert any("Additional properties" in e for e in s.metadata["errors"])
    assert "(+1 more)" in s.explanation
    missing = json.loads(GOOD)
    del missing["language"]
    s = json_schema_valid(json.dumps(missing), SCHEMA)
    assert s.explanation == "/: 'language' is a required property"
    assert json_schema_valid("not json", SCHEMA).failure == "invalid_json"


def test_required_fields():
    assert required_fields(GOOD, SCHEMA["required"]).value == 1.0
    s = required_fields('{"category": "bug", "meta": {"x": 1}}', ["category", "meta.x", "meta.y", "priority"])
    assert s.value == 0.0 and s.failure == "missing_field"
    assert s.metadata["missing"] == ["meta.y", "priority"]
    assert required_fields("[]", ["a"]).failure == "invalid_json"


def test_field_match():
    expected = {"category": "bug", "priority": "normal", "product_area": "bank_feeds", "needs_human": True}
    assert field_match(GOOD, expected).value == 1.0
    wrong = json.loads(GOOD)
    wrong["priority"] = "HIGH"
    wrong["needs_human"] = 1  # a number is not a boolean
    s = field_match(json.dumps(wrong), expected)
    # 2 of 4 fields match -> 0.5
    assert s.value == 0.5 and s.failure == "field_mismatch"
    assert set(s.metadata["mismatched"]) == {"priority", "needs_human"}
    assert field_match('{"category": " BUG "}', {"category": "bug"}).value == 1.0
    assert field_match('{"category": "BUG"}', {"category": "bug"}, ignore_case=False).value == 0.0
    assert field_match("oops", expected).value == 0.0
    assert field_match(json.dumps({"category": "bug"}), expected, fields=["category"]).value == 1.0
    with pytest.raises(ConfigError, match="not in 'expected'"):
        field_match(GOOD, expected, fields=["summary"])
    assert math.isnan(field_match(None, expected).value)


SCORERS = {
    "exact_match": lambda p, r: exact_match(p, r),
    "normalized_match": lambda p, r: normalized_match(p, r),
    "regex_match": lambda p, r: regex_match(p, "bug"),
    "json_valid": lambda p, r: json_valid(p),
    "json_schema_valid": lambda p, r: json_schema_valid(p, SCHEMA),
    "required_fields": lambda p, r: required_fields(p, ["category"]),
    "field_match": lambda p, r: field_match(p, {"category": "bug"}),
}


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_common_properties(name):
    fn = SCORERS[name]
    s_good = fn(GOOD, GOOD)
    assert s_good.value == 1.0, name
    for pred in ["", "garbage", GOOD[:-1]]:
        s = fn(pred, GOOD)
        assert 0.0 <= s.value <= 1.0
        # regex finds "bug" anywhere; punctuation folding makes a truncated "}" irrelevant
        assert s.value < 1.0 or (name, pred) in {("regex_match", GOOD[:-1]), ("normalized_match", GOOD[:-1])}
        if s.value < 1.0:
            assert s.failure is not None, (name, pred)
    assert fn(None, GOOD).reason == "no_output"
    # deterministic
    assert fn("garbage", GOOD) == fn("garbage", GOOD)
