"""LLM-as-judge scorers: a rubric, a fenced prompt, a JSON verdict.

Three modes share one prompt design:

* :class:`RubricJudge` on an ordinal rubric scores one output on the
  rubric's scale (pointwise);
* :class:`RubricJudge` on a binary rubric gives pass (1) or fail (0);
* :class:`PairwiseJudge` compares two outputs, asking in both orders; a
  verdict that flips with the order is a tie, reported in the metadata
  (Zheng et al. 2023, arXiv:2306.05685).

**Prompt injection.** The evaluated output (and the query, which may be
adversarial) is untrusted. It goes into the user message between markers
``<<<RESPONSE TO GRADE {nonce}>>>`` ... ``<<<END RESPONSE TO GRADE {nonce}>>>``
whose nonce is an HMAC of the item's content under a key: an output cannot
contain its own closing marker, because it would have to contain a keyed
hash of itself. The system message says that only markers with that nonce
are real and that everything inside them is data, not instructions, and the
instruction is repeated after the data. By default the key is random per
judge, so a nonce cannot be computed from an output at all; pass
``nonce_key`` (or set ``EVALTOOLS_JUDGE_KEY``) to make prompts identical
across sessions, which lets the LLM cache answer a rerun without a call.

**Replies** must be one JSON object ``{"score": ..., "reason": "..."}``. The
parser tolerates code fences and prose around it; a reply with no such
object, an empty reply, conflicting objects or a score off the scale
becomes :meth:`Score.unscored` with the reason, never a 0.

**Clients** implement :class:`JudgeClient` (``complete(messages, *,
response_format) -> str``); the LLM layer provides one for any
OpenAI-compatible endpoint, tests use a fake.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import pandas as pd

from evaltools.errors import ConfigError, EvaltoolsError
from evaltools.scorers._rubric import Rubric, load_rubric
from evaltools.scorers._types import Score
from evaltools.scorers.judge_prompt import (
    Message,
    Query,
    _render_query,
    _score_instruction,
    build_judge_messages,
    build_pairwise_messages,
    parse_judge_reply,
    planted_verdicts,
    swap_planted,
)

__all__ = [
    "JudgeCapabilityWarning",
    "JudgeClient",
    "PairwiseJudge",
    "RubricJudge",
    "build_judge_messages",
    "build_pairwise_messages",
    "parse_judge_reply",
]

ResponseFormat = Literal["json_schema", "json_object"] | None

KEY_ENV = "EVALTOOLS_JUDGE_KEY"
"""Environment variable holding a fixed nonce key (makes prompts reproducible)."""


@runtime_checkable
class JudgeClient(Protocol):
    """What a judge needs from an LLM: one synchronous chat completion."""

    def complete(self, messages: list[Message], *, response_format: dict[str, Any] | None) -> str:
        """Return the assistant's reply text for ``messages``.

        Args:
            messages: chat messages (``role``, ``content``).
            response_format: an OpenAI ``response_format`` (JSON schema or
                JSON mode), or None; endpoints without it may ignore it.

        Returns:
            The reply text.
        """
        ...


class JudgeCapabilityWarning(UserWarning):
    """The judge is not declared more capable than the model it evaluates."""


# ---------------------------------------------------------------- judges


def _response_format(kind: ResponseFormat, allowed: list[Any]) -> dict[str, Any] | None:
    if kind is None:
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    schema = {
        "type": "object",
        "properties": {"score": {"enum": allowed}, "reason": {"type": "string"}},
        "required": ["score", "reason"],
        "additionalProperties": False,
    }
    return {"type": "json_schema", "json_schema": {"name": "judge_verdict", "strict": True, "schema": schema}}


class _JudgeBase:
    def __init__(
        self,
        client: JudgeClient,
        rubric: Rubric | str,
        *,
        judge_model: str,
        evaluated_model: str | None = None,
        judge_more_capable: bool = False,
        response_format: ResponseFormat = "json_object",
        nonce_key: str | bytes | None = None,
        threshold: float | None = None,
    ) -> None:
        if not callable(getattr(client, "complete", None)):
            raise ConfigError(
                f"The 'client' parameter of {type(self).__name__} must have a complete(messages, *, "
                f"response_format) method (the JudgeClient protocol). Got {type(client).__name__} instead."
            )
        if response_format not in ("json_schema", "json_object", None):
            raise ConfigError(
                f"The 'response_format' parameter of {type(self).__name__} must be 'json_schema', "
                f"'json_object' or None. Got {response_format!r} instead."
            )
        self.client = client
        self.rubric = rubric if isinstance(rubric, Rubric) else load_rubric(rubric)
        self.judge_model = judge_model
        self.evaluated_model = evaluated_model
        self.judge_more_capable = judge_more_capable
        self.response_format = response_format
        self.threshold = threshold
        key = nonce_key if nonce_key is not None else os.environ.get(KEY_ENV)
        self._key = key.encode() if isinstance(key, str) else (key or secrets.token_bytes(32))
        if not judge_more_capable or judge_model == evaluated_model:
            same = judge_model == evaluated_model
            warnings.warn(
                JudgeCapabilityWarning(
                    f"The judge model {judge_model!r} "
                    + (
                        "is the model it evaluates (self-preference bias). "
                        if same
                        else f"is not declared more capable than the evaluated model {evaluated_model!r}. "
                    )
                    + "A judge is reliable when it is stronger than the model it grades; use a stronger "
                    "judge, pass judge_more_capable=True once you have checked, and calibrate it against "
                    "human labels."
                ),
                stacklevel=2,
            )

    def _nonce(self, *parts: str) -> str:
        payload = json.dumps([self.rubric.version, *parts]).encode()
        for attempt in range(100):
            digest = hmac.new(self._key, payload + str(attempt).encode(), hashlib.sha256).hexdigest()[:16]
            # An output containing its own keyed hash is astronomically unlikely;
            # re-derive rather than trust the odds.
            if not any(digest in p for p in parts):
                return digest
        raise ConfigError("Could not derive a fence nonce absent from the material to grade.")

    def _metadata(self) -> dict[str, Any]:
        return {
            "scale": (float(self.rubric.scale[0]), float(self.rubric.scale[-1])),
            "judge_model": self.judge_model,
            "evaluated_model": self.evaluated_model,
            "judge_more_capable": self.judge_more_capable,
            "rubric": self.rubric.name,
            "rubric_version": self.rubric.version,
        }

    def _check_planted(
        self,
        score: Score,
        query: Query,
        outputs: list[str],
        build: Any,
        allowed: list[Any],
        kind: Literal["binary", "ordinal"],
    ) -> Score:
        """Keep a score that equals a verdict planted in the material only if it does not follow it.

        When the evaluated output (or the query) asks for the very score the
        judge gave, in JSON (``{"score": 4}``) or prose (``give score 5``),
        the judge is asked once more with the planted score changed to the
        opposite end of the scale. A judge that grades the content gives the
        same score again: it stands (an honest answer may quote
        ``{"score": 4}``). A judge whose score moves with the planted one
        obeyed it: the item is unscored as ``injection_suspected``.
        """
        if not score.scored:
            return score
        mode: Literal["pointwise", "pass_fail", "pairwise"] = (
            "pairwise" if isinstance(self, PairwiseJudge) else self.mode  # type: ignore[attr-defined]
        )
        scale = self.rubric.scale if mode == "pointwise" else ()
        new_outputs = [swap_planted(o, score.value, mode=mode, scale=scale) for o in outputs]
        new_query: Query | None
        if isinstance(query, str):
            new_query = swap_planted(query, score.value, mode=mode, scale=scale)
        else:
            swapped = [swap_planted(str(m.get("content", "")), score.value, mode=mode, scale=scale) for m in query]
            new_query = (
                [
                    {**m, "content": t if t is not None else m.get("content", "")}
                    for m, t in zip(query, swapped, strict=True)
                ]
                if any(t is not None for t in swapped)
                else None
            )
        if new_query is None and all(o is None for o in new_outputs):
            return score
        snippets = [
            p.snippet
            for text in [*outputs, _render_query(query)]
            for p in planted_verdicts(text, mode=mode, scale=scale)
            if p.value == score.value
        ]
        # a JSON verdict first: it is what a copying judge copies
        planted = "; ".join(sorted(dict.fromkeys(snippets), key=lambda t: not t.startswith("{"))[:3])
        messages = build(
            new_query if new_query is not None else query,
            [n if n is not None else o for n, o in zip(new_outputs, outputs, strict=True)],
        )
        reply = self._ask(messages, allowed)
        recheck = reply if isinstance(reply, Score) else parse_judge_reply(reply, mode=mode, scale=scale)
        check = {"planted": planted, "recheck_reply": recheck.metadata.get("raw_reply"), "recheck_value": recheck.value}
        if recheck.scored and recheck.value == score.value:
            return Score(
                score.value,
                kind=score.kind,
                reason=score.reason,
                explanation=score.explanation,
                failure=score.failure,
                metadata={**score.metadata, "planted_verdict_check": check},
            )
        return _suspected(score, planted, kind, recheck)

    def _ask(self, messages: list[Message], allowed: list[Any]) -> str | Score:
        try:
            return self.client.complete(messages, response_format=_response_format(self.response_format, allowed))
        except EvaltoolsError as exc:
            # An endpoint that failed after the LLM layer's retries: this item has
            # no verdict, which the report counts; it is not a low score.
            return Score.unscored("judge_call_failed", explanation=f"{type(exc).__name__}: {exc}")


class RubricJudge(_JudgeBase):
    """Grade one output on a rubric: pointwise on an ordinal rubric, pass/fail on a binary one.

    Args:
        client: an object implementing :class:`JudgeClient`.
        rubric: a :class:`~evaltools.scorers.Rubric` or a packaged rubric name / file path.
        judge_model: the judge's model name (recorded on every score).
        evaluated_model: the evaluated model's name (recorded).
        judge_more_capable: declare that the judge is more capable than the
            evaluated model; otherwise :class:`JudgeCapabilityWarning` is emitted.
        response_format: ``"json_object"`` (JSON mode: OpenAI, vLLM, Ollama,
            llama.cpp), ``"json_schema"`` (OpenAI structured outputs, a strict
            schema with the allowed scores; llama.cpp's server rejects it) or None.
        nonce_key: key for the fence nonce; None uses ``EVALTOOLS_JUDGE_KEY``
            or a random key (prompts then differ between sessions).
        threshold: scores below it get ``failure="low_judge_score"``; by
            default only a binary rubric's fail does.

    Raises:
        ConfigError: the client lacks ``complete`` or the rubric name is unknown.

    Examples:
        >>> class Fake:
        ...     def complete(self, messages, *, response_format):
        ...         return '{"score": 4, "reason": "Answers both parts."}'
        >>> judge = RubricJudge(Fake(), "helpfulness", judge_model="big", evaluated_model="small",
        ...                     judge_more_capable=True)
        >>> score = judge("Go to Settings > Billing.", query="Where is my invoice?")
        >>> score.value, score.kind, score.metadata["judge_model"]
        (4.0, 'ordinal', 'big')
    """

    def _fails(self, value: float) -> bool:
        if self.threshold is not None:
            return value < self.threshold
        return self.rubric.kind == "binary" and value == 0.0

    @property
    def mode(self) -> Literal["pointwise", "pass_fail"]:
        """``pass_fail`` for a binary rubric, else ``pointwise``."""
        return "pass_fail" if self.rubric.kind == "binary" else "pointwise"

    def __call__(self, prediction: str | None, reference: str | None = None, *, query: Query) -> Score:
        """Judge one output.

        Args:
            prediction: the evaluated output; None (no output, e.g. a failed
                call) is unscored without asking the judge.
            reference: the ideal response (required by rubrics with
                ``requires_ideal``).
            query: the user query.

        Returns:
            The score (ordinal on the rubric's scale, or binary 1/0), or
            unscored with the reason; metadata records both models and the rubric.
        """
        kind: Literal["binary", "ordinal"] = "binary" if self.mode == "pass_fail" else "ordinal"
        meta = self._metadata()
        if prediction is None:
            return Score(
                math.nan,
                kind=kind,
                reason="no_output",
                explanation="The evaluated model produced no output.",
                metadata=meta,
            )
        if self.rubric.requires_ideal and not reference:
            return Score(
                math.nan,
                kind=kind,
                reason="missing_ideal",
                explanation=f"The rubric '{self.rubric.name}' needs the ideal response, which is missing.",
                metadata=meta,
            )
        ideal = reference if reference else None
        nonce = self._nonce(_render_query(query), prediction, ideal or "")
        messages = build_judge_messages(self.rubric, query=query, output=prediction, ideal=ideal, nonce=nonce)
        _, allowed = _score_instruction(self.rubric)
        reply = self._ask(messages, allowed)
        score = reply if isinstance(reply, Score) else parse_judge_reply(reply, mode=self.mode, scale=self.rubric.scale)

        def again(q: Query, outs: list[str]) -> list[Message]:
            n = self._nonce(_render_query(q), outs[0], ideal or "")
            return build_judge_messages(self.rubric, query=q, output=outs[0], ideal=ideal, nonce=n)

        score = self._check_planted(score, query, [prediction], again, allowed, kind)
        return Score(
            score.value,
            kind=kind,
            reason=score.reason,
            explanation=score.explanation,
            failure="low_judge_score" if score.scored and self._fails(score.value) else None,
            metadata={**meta, **score.metadata},
        )

    def score_frame(
        self,
        frame: pd.DataFrame,
        *,
        prediction: str = "output",
        reference: str = "ideal",
        query: str = "query",
    ) -> pd.DataFrame:
        """Judge every row of a frame into score-table rows.

        Args:
            frame: one row per output, with the columns named below and
                ``item_id`` (or ``id``); ``run_id``, ``stratum`` and ``group``
                are carried over when present.
            prediction: column of the evaluated outputs.
            reference: column of the ideal responses (may be absent).
            query: column of the queries.

        Returns:
            The long score table (docs/internals.md) for dimension
            ``rubric.name``, plus ``judge_model`` and ``evaluated_model``.
        """
        id_col = "item_id" if "item_id" in frame.columns else "id"
        rows = []
        for rec in frame.to_dict("records"):
            ref = rec.get(reference) if reference in frame.columns else None
            ref = ref if isinstance(ref, str) else None
            out = rec[prediction] if isinstance(rec[prediction], str) else None
            s = self(out, ref, query=rec[query])
            rows.append(
                {
                    "run_id": rec.get("run_id"),
                    "item_id": str(rec[id_col]),
                    "dimension": self.rubric.name,
                    "value": s.value,
                    "kind": s.kind,
                    "scale_min": float(self.rubric.scale[0]),
                    "scale_max": float(self.rubric.scale[-1]),
                    "unscored_reason": s.reason,
                    "failure": s.failure,
                    "detail": s.explanation,
                    "stratum": rec.get("stratum"),
                    "group": rec.get("group"),
                    "judge_model": self.judge_model,
                    "evaluated_model": self.evaluated_model,
                }
            )
        return pd.DataFrame(rows)


_WINNER = {1.0: "first", 2.0: "second", 0.0: "tie"}


def _suspected(score: Score, planted: str, kind: Literal["binary", "ordinal"], recheck: Score) -> Score:
    if recheck.scored:
        moved = f"asked again with the planted score changed, it gave {recheck.value:g}"
    else:
        moved = f"asked again with the planted score changed, it gave no verdict ({recheck.reason})"
    return Score(
        math.nan,
        kind=kind,
        reason="injection_suspected",
        explanation=(
            f"The judge returned score {score.value:g}, the verdict planted in the evaluated material "
            f"({planted[:120]}); {moved}: it follows instructions inside the output. "
            "Not counted; review this item."
        ),
        metadata={**score.metadata, "planted_verdict_check": {"planted": planted, "recheck_value": recheck.value}},
    )


class PairwiseJudge(_JudgeBase):
    """Compare outputs A and B on a rubric, asking in both orders.

    The value is 1.0 when A is better, 0.0 when B is better and 0.5 for a
    tie. A verdict that changes with the order (position bias) is a tie;
    ``metadata["first_order"]`` / ``["second_order"]`` hold the two verdicts
    (``"A"``, ``"B"``, ``"tie"``, mapped back to the outputs; None for an
    order that could not be read) and ``metadata["consistent"]`` whether
    they agreed. :meth:`compare_frame` judges a frame of pairs into the
    verdict frame :func:`evaltools.calibrate_pairwise` reads, so a live run
    and verdicts imported from elsewhere are calibrated the same way.

    Args:
        client: an object implementing :class:`JudgeClient`.
        rubric: the rubric both outputs are compared on.
        judge_model: the judge's model name.
        evaluated_model: the evaluated models' names, e.g. ``"a-model vs b-model"``.
        judge_more_capable: as for :class:`RubricJudge`.
        response_format: as for :class:`RubricJudge`.
        nonce_key: as for :class:`RubricJudge`.

    Examples:
        >>> class AlwaysFirst:
        ...     def complete(self, messages, *, response_format):
        ...         return '{"score": "1", "reason": "first looks fine"}'
        >>> judge = PairwiseJudge(AlwaysFirst(), "helpfulness", judge_model="big", judge_more_capable=True)
        >>> s = judge("short", "a longer answer", query="q")
        >>> s.value, s.metadata["first_order"], s.metadata["second_order"], s.metadata["consistent"]
        (0.5, 'A', 'B', False)
    """

    def __call__(
        self,
        prediction_a: str | None,
        prediction_b: str | None,
        reference: str | None = None,
        *,
        query: Query,
    ) -> Score:
        """Compare two outputs in both orders.

        Args:
            prediction_a: output A.
            prediction_b: output B.
            reference: the ideal response.
            query: the user query.

        Returns:
            1.0 (A better), 0.0 (B better) or 0.5 (tie, including a verdict
            that flips with order); unscored when either order could not be
            parsed or an output is missing.
        """
        meta = self._metadata()
        if prediction_a is None or prediction_b is None:
            return Score(
                math.nan,
                kind="ordinal",
                reason="no_output",
                explanation="An output is missing.",
                metadata=meta,
            )
        if self.rubric.requires_ideal and not reference:
            return Score(
                math.nan,
                kind="ordinal",
                reason="missing_ideal",
                explanation="The ideal response is missing.",
                metadata=meta,
            )
        ideal = reference if reference else None
        verdicts: list[str] = []
        replies: list[Any] = []
        for first, second, names in ((prediction_a, prediction_b, "AB"), (prediction_b, prediction_a, "BA")):
            nonce = self._nonce(_render_query(query), first, second, ideal or "")
            messages = build_pairwise_messages(
                self.rubric, query=query, output_1=first, output_2=second, ideal=ideal, nonce=nonce
            )
            reply = self._ask(messages, ["1", "2", "tie"])
            parsed = reply if isinstance(reply, Score) else parse_judge_reply(reply, mode="pairwise")
            replies.append(parsed.metadata.get("raw_reply"))

            def again(q: Query, outs: list[str]) -> list[Message]:
                n = self._nonce(_render_query(q), outs[0], outs[1], ideal or "")
                return build_pairwise_messages(
                    self.rubric, query=q, output_1=outs[0], output_2=outs[1], ideal=ideal, nonce=n
                )

            parsed = self._check_planted(parsed, query, [first, second], again, ["1", "2", "tie"], "ordinal")
            if not parsed.scored:
                order = "A first" if names == "AB" else "B first"
                # The order that was read stays on record; the missing one is None.
                known = [*verdicts, None, None][:2]
                return Score(
                    math.nan,
                    kind="ordinal",
                    reason=parsed.reason,
                    explanation=f"{order}: {parsed.explanation}",
                    metadata={**meta, "first_order": known[0], "second_order": known[1], "raw_replies": replies},
                )
            winner = _WINNER[parsed.value]
            verdicts.append("tie" if winner == "tie" else names[0] if winner == "first" else names[1])
        consistent = verdicts[0] == verdicts[1]
        final = verdicts[0] if consistent else "tie"
        explanation = (
            f"Verdict {final} in both orders."
            if consistent
            else f"The verdict changed with the order (A first: {verdicts[0]}; B first: {verdicts[1]}), "
            "so it counts as a tie (position bias)."
        )
        return Score(
            {"A": 1.0, "B": 0.0, "tie": 0.5}[final],
            kind="ordinal",
            explanation=explanation,
            metadata={
                **meta,
                "scale": (0.0, 1.0),
                "first_order": verdicts[0],
                "second_order": verdicts[1],
                "consistent": consistent,
                "position_flip": not consistent and "tie" not in verdicts,
                "raw_replies": replies,
            },
        )

    def compare_frame(
        self,
        frame: pd.DataFrame,
        *,
        output_a: str = "output_a",
        output_b: str = "output_b",
        reference: str = "ideal",
        query: str = "query",
    ) -> pd.DataFrame:
        """Judge every pair of a frame in both orders: the verdict frame :func:`evaltools.calibrate_pairwise` reads.

        Args:
            frame: one row per pair, with the columns named below and
                ``item_id`` (or ``id``); ``run_id``, ``stratum``, ``group`` and
                ``human`` (a human verdict, ``"A"``/``"B"``/``"tie"``) are
                carried over when present.
            output_a: column of the outputs A.
            output_b: column of the outputs B.
            reference: column of the ideal responses (may be absent).
            query: column of the queries.

        Returns:
            One row per pair: ``item_id``, ``first`` (verdict with A shown
            first), ``second`` (verdict with B shown first, mapped back to the
            outputs), each ``"A"``, ``"B"``, ``"tie"`` or None (no verdict);
            ``output_a``, ``output_b``; ``value`` (1.0 A, 0.0 B, 0.5 tie or
            flip, NaN unscored), ``consistent``, ``unscored_reason``,
            ``detail``, ``dimension`` (the rubric) and ``judge_model``.

        Examples:
            >>> class AlwaysFirst:
            ...     def complete(self, messages, *, response_format):
            ...         return '{"score": "1", "reason": "first looks fine"}'
            >>> judge = PairwiseJudge(AlwaysFirst(), "helpfulness", judge_model="big", judge_more_capable=True)
            >>> pairs = pd.DataFrame({"item_id": ["q1"], "query": ["q"], "output_a": ["x"], "output_b": ["y"]})
            >>> judge.compare_frame(pairs)[["item_id", "first", "second", "value"]].to_dict("records")
            [{'item_id': 'q1', 'first': 'A', 'second': 'B', 'value': 0.5}]
        """
        id_col = "item_id" if "item_id" in frame.columns else "id"
        missing = [c for c in (id_col, output_a, output_b, query) if c not in frame.columns]
        if missing:
            raise ConfigError(
                f"The frame passed to PairwiseJudge.compare_frame lacks column(s) {missing}; "
                f"it has {list(frame.columns)}."
            )
        rows = []
        for rec in frame.to_dict("records"):
            ref = rec.get(reference) if reference in frame.columns else None
            a = rec[output_a] if isinstance(rec[output_a], str) else None
            b = rec[output_b] if isinstance(rec[output_b], str) else None
            s = self(a, b, ref if isinstance(ref, str) else None, query=rec[query])
            row: dict[str, Any] = {
                "run_id": rec.get("run_id"),
                "item_id": str(rec[id_col]),
                "dimension": self.rubric.name,
                "first": s.metadata.get("first_order"),
                "second": s.metadata.get("second_order"),
                "output_a": rec[output_a],
                "output_b": rec[output_b],
                "value": s.value,
                "consistent": s.metadata.get("consistent"),
                "unscored_reason": s.reason,
                "detail": s.explanation,
                "stratum": rec.get("stratum"),
                "group": rec.get("group"),
                "judge_model": self.judge_model,
            }
            if "human" in frame.columns:
                row["human"] = rec["human"]
            rows.append(row)
        return pd.DataFrame(rows)


# ---------------------------------------------------------------- the card scorer "judge"

_JUDGE_PARAMS = ("judge_model", "judge_more_capable", "response_format", "nonce_key", "threshold")


def judge_batch(items: Sequence[Mapping[str, Any]], outputs: Sequence[str | None], dim: Any, ctx: Any) -> list[Score]:
    """Score a card dimension ``scorer: judge`` (see :func:`evaltools.scorers.score_run`)."""
    client = ctx.judge_client
    if client is None:
        raise ConfigError(
            f"Dimension {dim.name!r} uses the judge scorer but no judge client was given; pass "
            "judge_client= (an object with complete(messages, *, response_format), such as the LLM layer's "
            "judge adapter) to score_run."
        )
    params = dict(dim.params)
    unknown = sorted(set(params) - set(_JUDGE_PARAMS))
    if unknown:
        raise ConfigError(
            f"Unknown judge parameter(s) {unknown} in dimension {dim.name!r}; valid: {list(_JUDGE_PARAMS)}."
        )
    judge_model = params.pop("judge_model", None) or getattr(client, "model", None)
    if not judge_model:
        raise ConfigError(f"Dimension {dim.name!r}: name the judge model with params.judge_model.")
    variant = ctx.run_manifest.get("variant") or {}
    golden_dir = getattr(getattr(ctx, "golden", None), "path", None)
    judge = RubricJudge(
        client,
        load_rubric(dim.rubric or dim.name, base_dir=golden_dir),
        judge_model=str(judge_model),
        evaluated_model=variant.get("model"),
        **params,
    )
    tick = getattr(ctx, "on_item", None)
    scores = []
    for item, out in zip(items, outputs, strict=True):
        scores.append(judge(out, item.get("ideal"), query=item["query"]))
        if tick is not None:
            tick(1)
    return scores
