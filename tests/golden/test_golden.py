import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evaltools as et
from evaltools.errors import GoldenSetError, InputError, SchemaError
from evaltools.golden import GoldenSetWarning, largest_remainder

FIXTURE = Path(__file__).parents[1] / "fixtures" / "golden_mini"


@pytest.fixture
def mini(tmp_path):
    dst = tmp_path / "mini"
    shutil.copytree(FIXTURE, dst)
    return dst


def _lines(folder):
    return (folder / "items.jsonl").read_text(encoding="utf-8").splitlines()


def _write(folder, lines):
    (folder / "items.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_load_valid_set():
    gs = et.load_golden(FIXTURE)
    assert len(gs) == 10
    assert gs.name == "mini"
    assert gs.frame.columns[:4].tolist() == ["id", "stratum", "query", "ideal"]
    assert gs.frame.loc[gs.frame.id == "m-04", "expected"].iloc[0]["category"] == "bug"
    assert set(gs.schemas) == {"ticket_triage.schema.json"}
    assert len(gs.version) == 12
    comp = gs.composition()
    # 6 common, 3 edge, 1 adversarial of 10 -> 0.6 / 0.3 / 0.1, exactly the card's targets
    assert comp["n"].tolist() == [6, 3, 1]
    assert not comp["off_target"].any()
    assert gs.calibration_ids == ["m-01", "m-04", "m-07"]


def test_version_changes_with_content_not_with_reload(mini):
    v1 = et.load_golden(mini).version
    assert et.load_golden(mini).version == v1
    lines = _lines(mini)
    item = json.loads(lines[0])
    item["ideal"] += " Thanks!"
    lines[0] = json.dumps(item)
    _write(mini, lines)
    assert et.load_golden(mini).version != v1


def test_schema_change_changes_version(mini):
    v1 = et.load_golden(mini).version
    schema_path = mini / "schemas" / "ticket_triage.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["properties"]["summary"]["maxLength"] = 200
    schema_path.write_text(json.dumps(schema))
    assert et.load_golden(mini).version != v1


def test_off_target_warning(mini):
    card = (mini / "card.yaml").read_text().replace("{common: 0.6, edge: 0.3, adversarial: 0.1}",
                                                    "{common: 0.8, edge: 0.1, adversarial: 0.1}")
    (mini / "card.yaml").write_text(card)
    with pytest.warns(GoldenSetWarning, match="common"):
        gs = et.load_golden(mini)
    assert gs.composition().loc["common", "off_target"]


@pytest.mark.parametrize(
    "mutate, line, field, message",
    [
        (lambda ls: ls.__setitem__(2, '{"id": "m-03", "stratum": "common", '), 3, None, "not valid JSON"),
        (lambda ls: ls.__setitem__(4, ls[0]), 5, "id", "Duplicate id 'm-01'"),
        (lambda ls: ls.__setitem__(1, json.dumps({"id": "x", "stratum": "common", "query": "q"})), 2, "ideal",
         "Missing required field 'ideal'"),
        (lambda ls: ls.__setitem__(1, json.dumps({"id": 7, "stratum": "common", "query": "q", "ideal": "i"})), 2,
         "id", "'id' must be a non-empty string"),
        (lambda ls: ls.__setitem__(1, json.dumps({"id": "x", "stratum": "rare", "query": "q", "ideal": "i"})), 2,
         "stratum", "Unknown stratum 'rare'"),
        (lambda ls: ls.__setitem__(1, json.dumps({"id": "x", "stratum": "edge", "query": "q", "ideal": "i",
                                                  "tags": "answer"})), 2, "tags", "must be a list"),
        (lambda ls: ls.__setitem__(1, json.dumps({"id": "x", "stratum": "edge", "query": "q", "ideal": 3})), 2,
         "ideal", "'ideal' must be a string"),
        (lambda ls: ls.__setitem__(1, json.dumps({"id": "x", "stratum": "edge", "query": "q", "ideal": "i",
                                                  "expected": [1]})), 2, "expected", "must be a JSON object"),
        (lambda ls: ls.__setitem__(1, "[1, 2]"), 2, None, "must hold a JSON object"),
    ],
    ids=["malformed", "duplicate", "missing", "wrong_type", "stratum", "tags", "ideal_type", "expected", "array"],
)
def test_bad_items_name_file_line_field(mini, mutate, line, field, message):
    lines = _lines(mini)
    mutate(lines)
    _write(mini, lines)
    with pytest.raises(GoldenSetError) as info:
        et.load_golden(mini)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, et.EvaltoolsError)
    assert message in str(err)
    assert err.path.endswith("items.jsonl") and err.line == line and err.field == field
    assert f"items.jsonl:{line}" in str(err)


def test_empty_file(mini):
    (mini / "items.jsonl").write_text("\n\n")
    with pytest.raises(GoldenSetError, match="no records"):
        et.load_golden(mini)


def test_non_utf8(mini):
    raw = (mini / "items.jsonl").read_bytes().split(b"\n")
    raw[5] = raw[5].replace(b"free trial", b"free \xe9trial")
    (mini / "items.jsonl").write_bytes(b"\n".join(raw))
    with pytest.raises(GoldenSetError, match="not valid UTF-8") as info:
        et.load_golden(mini)
    assert info.value.line == 6


def test_invalid_json_schema(mini):
    (mini / "schemas" / "ticket_triage.schema.json").write_text(json.dumps({"type": "objekt"}))
    with pytest.raises(SchemaError, match="Not a valid JSON Schema") as info:
        et.load_golden(mini)
    assert isinstance(info.value, InputError)


def test_schema_not_json(mini):
    (mini / "schemas" / "ticket_triage.schema.json").write_text("{type: object")
    with pytest.raises(SchemaError, match="not valid JSON"):
        et.load_golden(mini)


def test_missing_schema_file(mini):
    (mini / "schemas" / "ticket_triage.schema.json").unlink()
    with pytest.raises(SchemaError, match="not found") as info:
        et.load_golden(mini)
    assert info.value.line == 4 and info.value.field == "schema"


def test_bad_card(mini):
    (mini / "card.yaml").write_text("targets: {common: 0.5, edge: 0.2, adversarial: 0.1}\n")
    with pytest.raises(GoldenSetError, match="add up to 1"):
        et.load_golden(mini)
    (mini / "card.yaml").write_text("calibration: {items: [nope]}\n")
    with pytest.raises(GoldenSetError, match="not in the set"):
        et.load_golden(mini)


def test_nothing_written_on_error(mini):
    before = {p: p.read_bytes() for p in mini.rglob("*") if p.is_file()}
    lines = _lines(mini)
    lines[3] = "{broken"
    _write(mini, lines)
    before[mini / "items.jsonl"] = (mini / "items.jsonl").read_bytes()
    with pytest.raises(GoldenSetError):
        et.load_golden(mini)
    after = {p: p.read_bytes() for p in mini.rglob("*") if p.is_file()}
    assert after == before


def test_chat_message_query(mini):
    lines = _lines(mini)
    lines.append(json.dumps({"id": "m-11", "stratum": "common", "ideal": "ok",
                             "query": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "?"}]}))
    _write(mini, lines)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GoldenSetWarning)
        assert len(et.load_golden(mini)) == 11
    lines[-1] = json.dumps({"id": "m-11", "stratum": "common", "ideal": "ok", "query": [{"role": "bot", "content": 1}]})
    _write(mini, lines)
    with pytest.raises(GoldenSetError, match="Chat message 0"):
        et.load_golden(mini)


class _FakeEmbedder:
    """Bag-of-words embedder: deterministic, no model; good enough to test the QA plumbing."""

    def encode(self, texts):
        vocab = sorted({w for t in texts for w in t.lower().split()})
        idx = {w: i for i, w in enumerate(vocab)}
        m = np.zeros((len(texts), max(1, len(vocab))))
        for r, t in enumerate(texts):
            for w in t.lower().split():
                m[r, idx[w]] += 1
        return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_check_golden_finds_problems(mini):
    lines = _lines(mini)
    dup = json.loads(lines[0]); dup["id"] = "m-dup"; dup["query"] = "  how much is the GROWTH plan? "
    near = json.loads(lines[1]); near["id"] = "m-near"; near["query"] = "Can I delete a sent invoice please?"
    empty = json.loads(lines[5]); empty["id"] = "m-empty"; empty["query"] = "Do you have an Android app?"; empty["ideal"] = " "
    _write(mini, lines + [json.dumps(dup), json.dumps(near), json.dumps(empty)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GoldenSetWarning)
        gs = et.load_golden(mini)
    check = et.check_golden(gs, near_threshold=0.75, embedder=_FakeEmbedder())
    assert not check.ok
    assert check.exact_duplicates[["id_a", "id_b"]].values.tolist() == [["m-01", "m-dup"]]
    assert ["m-02", "m-near"] in check.near_duplicates[["id_a", "id_b"]].values.tolist()
    assert check.empty_ideals == ["m-empty"]
    # m-01 is in the calibration subset and its duplicate is not: a leak
    assert "m-dup" in check.calibration_overlap["id_b"].tolist()
    assert set(check.to_frame()["check"]) >= {"exact_duplicate", "near_duplicate", "empty_ideal", "calibration_overlap"}


@pytest.mark.slow
def test_check_golden_real_embedder_on_fixture():
    check = et.check_golden(et.load_golden(FIXTURE))
    assert check.ok, check.to_frame()


@pytest.mark.slow
def test_example_golden_set_passes_checks():
    gs = et.load_golden(Path(__file__).parents[2] / "golden" / "support")
    comp = gs.composition()
    assert len(gs) >= 200
    assert not comp["off_target"].any()
    check = et.check_golden(gs)
    assert check.ok, check.to_frame().to_string()
    task_tags = [set(t) & {"answer", "triage"} for t in gs.frame["tags"]]
    assert all(len(t) == 1 for t in task_tags)
    from evaltools.scorers import field_match, json_schema_valid
    for item in gs.items:
        if "triage" in item["tags"]:
            schema = gs.schemas[item["schema"]]
            assert json_schema_valid(item["ideal"], schema).value == 1.0, item["id"]
            assert field_match(item["ideal"], item["expected"]).value == 1.0, item["id"]


def test_largest_remainder():
    assert largest_remainder(300, et.DEFAULT_TARGETS) == {"common": 180, "edge": 75, "adversarial": 45}
    # 7 * (0.6, 0.25, 0.15) = 4.2, 1.75, 1.05 -> floors 4, 1, 1; the spare goes to edge (0.75 remainder)
    assert largest_remainder(7, et.DEFAULT_TARGETS) == {"common": 4, "edge": 2, "adversarial": 1}
    assert sum(largest_remainder(1001, {"a": 0.3, "b": 0.3, "c": 0.4}).values()) == 1001


def _pool(n_common=400, n_edge=100, n_adv=30, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for stratum, n in (("common", n_common), ("edge", n_edge), ("adversarial", n_adv)):
        for i in range(n):
            words = rng.choice(["invoice", "refund", "bank", "feed", "plan", "user", "export", "tax", "vat",
                                "receipt", "currency", "api", "login", "card", "payout", "report"], size=6)
            rows.append({"query": f"{stratum} {i} " + " ".join(words), "stratum": stratum})
    return pd.DataFrame(rows)


def test_sample_golden_allocation_and_probabilities():
    pool = _pool()
    pool = pd.concat([pool, pool.iloc[:5].assign(query=lambda d: d["query"].str.upper())], ignore_index=True)
    drawn = et.sample_golden(pool, 100, seed=3, embedder=_FakeEmbedder(), near_threshold=0.999)
    s = drawn.rows
    assert drawn.seed == 3 and drawn.allocation == {"common": 60, "edge": 25, "adversarial": 15} and len(drawn) == 100
    assert s["stratum"].value_counts().to_dict() == {"common": 60, "edge": 25, "adversarial": 15}
    assert drawn.exact_duplicates_removed == 5 and "removed 5 exact" in drawn.summary()
    # inclusion probability n_h / N_h: 60/400, 25/100, 15/30
    probs = s.groupby("stratum")["inclusion_prob"].first().to_dict()
    assert probs == pytest.approx({"common": 0.15, "edge": 0.25, "adversarial": 0.5})
    again = et.sample_golden(pool, 100, seed=3, embedder=_FakeEmbedder(), near_threshold=0.999).rows
    pd.testing.assert_frame_equal(s, again)
    other = et.sample_golden(pool, 100, seed=4, embedder=_FakeEmbedder(), near_threshold=0.999).rows
    assert set(other["query"]) != set(s["query"])


def test_sample_golden_short_stratum_and_near_duplicates():
    pool = _pool(n_adv=10)
    pool = pd.concat([pool, pd.DataFrame([{"query": pool["query"][0] + " please", "stratum": "common"}])],
                     ignore_index=True)
    with pytest.warns(GoldenSetWarning, match="adversarial"):
        drawn = et.sample_golden(pool, 100, seed=1, embedder=_FakeEmbedder(), near_threshold=0.9)
    s = drawn.rows
    assert drawn.near_duplicates_removed >= 1
    adv = s[s.stratum == "adversarial"]
    assert len(adv) == 10 and adv["stratum_short"].all() and (adv["inclusion_prob"] == 1.0).all()


def test_sample_golden_bad_args():
    with pytest.raises(et.ConfigError, match="no column 'text'"):
        et.sample_golden(_pool(), 10, seed=0, text_col="text", embedder=_FakeEmbedder())
    with pytest.raises(et.ConfigError, match="positive integer"):
        et.sample_golden(_pool(), 0, seed=0, embedder=_FakeEmbedder())


@pytest.mark.slow
def test_example_ideals_score_perfectly_on_every_automatic_dimension():
    """The golden set agrees with its own card: each ideal, used as the output, passes every
    non-judge dimension, and the refusal detector sees every must_refuse ideal as a refusal."""
    from evaltools.scorers import dimensions_from_card, score_outputs
    from evaltools.scorers.refusal import is_refusal

    gs = et.load_golden(Path(__file__).parents[2] / "golden" / "support")
    dims = [d for d in dimensions_from_card(gs) if d.scorer != "judge"]
    table = score_outputs(gs, {i["id"]: i["ideal"] for i in gs.items}, dims, run_id="ideal")
    bad = table[table["value"] < 0.999]
    assert bad.empty, bad[["item_id", "dimension", "failure", "detail"]].to_string()
    must = [i for i in gs.items if "must_refuse" in i["tags"]]
    assert len(must) >= 7 and all(is_refusal(i["ideal"]) for i in must), [
        i["id"] for i in must if not is_refusal(i["ideal"])]


# --------------------------------------------------------------------------- reliability (issue 10)


def test_byte_order_mark_in_items_is_accepted(mini):
    raw = (mini / "items.jsonl").read_bytes()
    version = et.load_golden(mini).version
    (mini / "items.jsonl").write_bytes(b"\xef\xbb\xbf" + raw)
    gs = et.load_golden(mini)
    assert gs.ids[0] == "m-01" and gs.version == version


def test_cr_only_line_endings_are_named(mini):
    raw = (mini / "items.jsonl").read_bytes()
    (mini / "items.jsonl").write_bytes(raw.replace(b"\n", b"\r"))
    with pytest.raises(GoldenSetError, match=r"old Mac \(CR-only\) line endings"):
        et.load_golden(mini)
    (mini / "items.jsonl").write_bytes(raw.replace(b"\n", b"\r\n"))  # Windows line endings are fine
    assert len(et.load_golden(mini)) == 10


@pytest.mark.parametrize(
    ("query", "match"),
    [
        ([], r"empty conversation"),
        ("   \n\t", r"empty or only whitespace"),
        ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "  "}], r"no user message with text"),
    ],
    ids=["empty-list", "whitespace", "blank-user-turn"],
)
def test_empty_queries_are_refused_at_load_and_by_golden_check(mini, query, match, capsys):
    from evaltools.cli._main import main

    lines = _lines(mini)
    item = json.loads(lines[1])
    item["query"] = query
    lines[1] = json.dumps(item)
    _write(mini, lines)
    with pytest.raises(GoldenSetError, match=match) as info:
        et.load_golden(mini)
    assert info.value.line == 2 and info.value.field == "query"
    assert main(["golden", "check", str(mini)]) != 0  # refused with the error, not checked
    assert "items.jsonl:2" in capsys.readouterr().err


def test_ids_with_surrounding_whitespace_are_refused(mini):
    lines = _lines(mini)
    item = json.loads(lines[0])
    item["id"] = " m-01"
    lines.append(json.dumps(item))  # otherwise a "new" item next to m-01
    _write(mini, lines)
    with pytest.raises(GoldenSetError, match=r"' m-01' has leading or trailing whitespace") as info:
        et.load_golden(mini)
    assert info.value.line == 11


@pytest.mark.parametrize("name", ["../../../../etc/passwd", "/etc/passwd", "../card.yaml", "link.json"])
def test_schema_paths_are_confined_to_the_schemas_folder(mini, name):
    (mini / "schemas" / "link.json").symlink_to(mini / "card.yaml")
    lines = _lines(mini)
    item = json.loads(lines[3])
    item["schema"] = name
    lines[3] = json.dumps(item)
    _write(mini, lines)
    with pytest.raises(SchemaError, match=r"inside the set's schemas/ folder.*leads outside it") as info:
        et.load_golden(mini)
    assert info.value.line == 4
