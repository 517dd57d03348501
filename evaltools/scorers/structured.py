"""Scorers for structured outputs: matching, regex, JSON, JSON Schema, fields.

Every scorer is a plain synchronous function returning a binary or continuous
:class:`~evaltools.scorers.Score`. A missing output (``None``: the generation
failed) is unscored with reason ``no_output``; an output that is present but
wrong is a failure with a named ``failure`` mode, never unscored.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from evaltools._util import jsonschema_validators
from evaltools.errors import ConfigError
from evaltools.scorers._types import Score

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)


def _no_output(kind: Literal["binary", "continuous"] = "binary") -> Score:
    return Score.unscored("no_output", kind=kind, explanation="the generation produced no output")


def normalize_text(text: str, *, ignore_case: bool = True, ignore_punctuation: bool = False) -> str:
    """Normalize text for matching: Unicode NFKC, folded whitespace, optional case and punctuation folding.

    Args:
        text: the text.
        ignore_case: fold case (``casefold``).
        ignore_punctuation: drop ASCII and Unicode punctuation.

    Returns:
        The normalized text.

    Examples:
        >>> normalize_text("  Hello,\\n  WORLD! ", ignore_punctuation=True)
        'hello world'
    """
    text = unicodedata.normalize("NFKC", text)
    if ignore_case:
        text = text.casefold()
    if ignore_punctuation:
        text = "".join(
            ch for ch in text if ch not in string.punctuation and not unicodedata.category(ch).startswith("P")
        )
    return " ".join(text.split())


def exact_match(prediction: str | None, reference: str, *, ignore_case: bool = False) -> Score:
    """Whether the output equals the reference (surrounding whitespace ignored).

    Args:
        prediction: the model output.
        reference: the expected text.
        ignore_case: compare case-insensitively.

    Returns:
        Binary score: 1.0 on a match, 0.0 (failure ``mismatch``) otherwise;
        unscored when ``prediction`` is None.

    Examples:
        >>> exact_match(" Paris ", "Paris").value
        1.0
        >>> exact_match("paris", "Paris").value
        0.0
        >>> exact_match("paris", "Paris", ignore_case=True).value
        1.0
    """
    if prediction is None:
        return _no_output()
    a, b = prediction.strip(), reference.strip()
    if ignore_case:
        a, b = a.casefold(), b.casefold()
    ok = a == b
    return Score(value=float(ok), kind="binary", failure=None if ok else "mismatch")


def normalized_match(
    prediction: str | None, reference: str, *, ignore_case: bool = True, ignore_punctuation: bool = True
) -> Score:
    """Whether output and reference agree after :func:`normalize_text`.

    Args:
        prediction: the model output.
        reference: the expected text.
        ignore_case: fold case.
        ignore_punctuation: drop punctuation.

    Returns:
        Binary score; unscored when ``prediction`` is None.

    Examples:
        >>> normalized_match("The answer is: 42.", "the answer is 42").value
        1.0
    """
    if prediction is None:
        return _no_output()
    a = normalize_text(prediction, ignore_case=ignore_case, ignore_punctuation=ignore_punctuation)
    b = normalize_text(reference, ignore_case=ignore_case, ignore_punctuation=ignore_punctuation)
    ok = a == b
    return Score(value=float(ok), kind="binary", failure=None if ok else "mismatch")


def regex_match(
    prediction: str | None, pattern: str, *, mode: Literal["search", "fullmatch"] = "search", flags: int = 0
) -> Score:
    """Whether the output matches a regular expression.

    Args:
        prediction: the model output.
        pattern: a Python regular expression.
        mode: ``search`` (anywhere) or ``fullmatch`` (the whole stripped output).
        flags: ``re`` flags.

    Returns:
        Binary score; the match (when any) is in ``metadata['match']``.

    Raises:
        ConfigError: the pattern does not compile, or the mode is unknown.

    Examples:
        >>> regex_match("Ticket #4521 closed", r"#\\d{4}").value
        1.0
        >>> regex_match("Ticket #4521 closed", r"#\\d{4}", mode="fullmatch").value
        0.0
    """
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise ConfigError(f"The 'pattern' parameter of regex_match is not a valid regex: {exc}.") from None
    if mode not in ("search", "fullmatch"):
        raise ConfigError(f"The 'mode' parameter of regex_match must be 'search' or 'fullmatch'. Got {mode!r} instead.")
    if prediction is None:
        return _no_output()
    m = compiled.search(prediction) if mode == "search" else compiled.fullmatch(prediction.strip())
    return Score(
        value=float(m is not None),
        kind="binary",
        failure=None if m else "pattern_not_found",
        explanation=None if m else f"no match for /{pattern}/ ({mode})",
        metadata={"match": m.group(0)} if m else {},
    )


def parse_json_output(prediction: str, *, allow_code_fence: bool = False) -> tuple[Any, str | None]:
    """Parse an output that should be a JSON document.

    Args:
        prediction: the model output.
        allow_code_fence: accept a single Markdown code fence around the JSON.

    Returns:
        ``(value, None)`` on success, ``(None, error message)`` otherwise.

    Examples:
        >>> parse_json_output('{"a": 1}')
        ({'a': 1}, None)
        >>> parse_json_output('```json\\n{"a": 1}\\n```')[1]
        'the JSON is wrapped in a Markdown code fence'
        >>> parse_json_output('```json\\n{"a": 1}\\n```', allow_code_fence=True)
        ({'a': 1}, None)
    """
    text = prediction.strip()
    fence = _FENCE.match(text)
    if fence:
        if not allow_code_fence:
            return None, "the JSON is wrapped in a Markdown code fence"
        text = fence.group(1).strip()
    if not text:
        return None, "the output is empty"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at line {exc.lineno} column {exc.colno}"


def json_valid(prediction: str | None, *, allow_code_fence: bool = False, require_object: bool = True) -> Score:
    """Whether the output is exactly one JSON document (an object by default).

    Args:
        prediction: the model output.
        allow_code_fence: accept one Markdown code fence around the JSON.
        require_object: the document must be a JSON object.

    Returns:
        Binary score; failure ``invalid_json`` with the parser's message.

    Examples:
        >>> json_valid('{"priority": "high"}').value
        1.0
        >>> s = json_valid('Sure! {"priority": "high"}')
        >>> s.value, s.failure
        (0.0, 'invalid_json')
    """
    if prediction is None:
        return _no_output()
    value, err = parse_json_output(prediction, allow_code_fence=allow_code_fence)
    if err is None and require_object and not isinstance(value, dict):
        err = f"expected a JSON object, got {type(value).__name__}"
    if err is not None:
        return Score(value=0.0, kind="binary", failure="invalid_json", explanation=err)
    return Score(value=1.0, kind="binary")


def json_schema_valid(
    prediction: str | None, schema: Mapping[str, Any], *, allow_code_fence: bool = False
) -> Score:
    """Whether the output is JSON valid against a JSON Schema.

    Args:
        prediction: the model output.
        schema: the JSON Schema (any draft ``jsonschema`` supports; the
            ``$schema`` key picks it, default 2020-12).
        allow_code_fence: accept one Markdown code fence around the JSON.

    Returns:
        Binary score. Failures: ``invalid_json`` (not parseable) or
        ``schema_violation``, whose explanation names the failing path
        (JSON Pointer) and the rule; every violation is listed in
        ``metadata['errors']``.

    Examples:
        >>> schema = {"type": "object", "properties": {"priority": {"enum": ["low", "high"]}}, "required": ["priority"]}
        >>> json_schema_valid('{"priority": "high"}', schema).value
        1.0
        >>> s = json_schema_valid('{"priority": "critical"}', schema)
        >>> s.failure, s.explanation
        ('schema_violation', "/priority: 'critical' is not one of ['low', 'high']")
    """
    validators = jsonschema_validators()
    if prediction is None:
        return _no_output()
    value, err = parse_json_output(prediction, allow_code_fence=allow_code_fence)
    if err is not None:
        return Score(value=0.0, kind="binary", failure="invalid_json", explanation=err)
    cls = validators.validator_for(schema)
    errors = sorted(cls(schema).iter_errors(value), key=lambda e: (list(e.absolute_path), e.message))
    if not errors:
        return Score(value=1.0, kind="binary")
    described = [f"/{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors]
    return Score(
        value=0.0,
        kind="binary",
        failure="schema_violation",
        explanation=described[0] + (f" (+{len(described) - 1} more)" if len(described) > 1 else ""),
        metadata={"errors": described},
    )


def required_fields(prediction: str | None, fields: Sequence[str], *, allow_code_fence: bool = False) -> Score:
    """Whether the output's JSON object has every required field (dotted paths allowed).

    Args:
        prediction: the model output.
        fields: field names; ``"a.b"`` looks inside nested objects.
        allow_code_fence: accept one Markdown code fence around the JSON.

    Returns:
        Binary score; failure ``missing_field`` listing the missing ones, or
        ``invalid_json``.

    Examples:
        >>> required_fields('{"a": 1, "b": {"c": 2}}', ["a", "b.c"]).value
        1.0
        >>> required_fields('{"a": 1}', ["a", "b"]).explanation
        "missing: 'b'"
    """
    if prediction is None:
        return _no_output()
    value, err = parse_json_output(prediction, allow_code_fence=allow_code_fence)
    if err is None and not isinstance(value, dict):
        err = f"expected a JSON object, got {type(value).__name__}"
    if err is not None:
        return Score(value=0.0, kind="binary", failure="invalid_json", explanation=err)
    missing = [f for f in fields if not _has_path(value, f)]
    if missing:
        return Score(
            value=0.0,
            kind="binary",
            failure="missing_field",
            explanation="missing: " + ", ".join(repr(m) for m in missing),
            metadata={"missing": missing},
        )
    return Score(value=1.0, kind="binary")


def field_match(
    prediction: str | None,
    expected: Mapping[str, Any],
    *,
    fields: Sequence[str] | None = None,
    ignore_case: bool = True,
    allow_code_fence: bool = False,
) -> Score:
    """Share of expected fields whose value the output's JSON object matches.

    Strings are compared after whitespace folding (and case folding when
    ``ignore_case``); other values must be equal (``1 == 1.0`` but ``True``
    is not ``1``: a boolean field answered with a number is wrong).

    Args:
        prediction: the model output.
        expected: field -> expected value (the golden item's ``expected``).
        fields: the fields to compare (default: every key of ``expected``).
        ignore_case: fold case when comparing strings.
        allow_code_fence: accept one Markdown code fence around the JSON.

    Returns:
        Continuous score in [0, 1] (matched / compared); failure
        ``field_mismatch`` when any field differs (``metadata['mismatched']``
        lists them with both values), ``invalid_json`` scores 0.

    Raises:
        ConfigError: ``fields`` names a field not in ``expected``, or there is
            nothing to compare.

    Examples:
        >>> s = field_match('{"category": "Billing", "priority": "low"}', {"category": "billing", "priority": "high"})
        >>> s.value, s.failure
        (0.5, 'field_mismatch')
    """
    names = list(fields) if fields is not None else list(expected)
    unknown = [f for f in names if f not in expected]
    if unknown:
        raise ConfigError(f"field_match: fields {unknown} are not in 'expected' (keys: {list(expected)}).")
    if not names:
        raise ConfigError("field_match needs at least one expected field to compare.")
    if prediction is None:
        return _no_output("continuous")
    value, err = parse_json_output(prediction, allow_code_fence=allow_code_fence)
    if err is None and not isinstance(value, dict):
        err = f"expected a JSON object, got {type(value).__name__}"
    if err is not None:
        return Score(value=0.0, kind="continuous", failure="invalid_json", explanation=err)
    mismatched = {}
    for name in names:
        got = value.get(name, _MISSING)
        if not _values_equal(got, expected[name], ignore_case=ignore_case):
            mismatched[name] = {"expected": expected[name], "got": None if got is _MISSING else got}
    share = 1 - len(mismatched) / len(names)
    return Score(
        value=share,
        kind="continuous",
        failure="field_mismatch" if mismatched else None,
        explanation=(
            "; ".join(f"{k}: expected {v['expected']!r}, got {v['got']!r}" for k, v in mismatched.items())
            if mismatched
            else None
        ),
        metadata={"mismatched": mismatched, "compared": names},
    )


_MISSING = object()


def _values_equal(got: Any, want: Any, *, ignore_case: bool) -> bool:
    if got is _MISSING:
        return False
    if isinstance(want, bool) or isinstance(got, bool):
        return isinstance(got, bool) and isinstance(want, bool) and got == want
    if isinstance(want, str) and isinstance(got, str):
        return normalize_text(got, ignore_case=ignore_case) == normalize_text(want, ignore_case=ignore_case)
    return bool(got == want)


def _has_path(obj: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return False
        obj = obj[part]
    return True
