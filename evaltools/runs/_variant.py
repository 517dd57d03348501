"""Variants: what is being evaluated (a model, a system prompt, sampling parameters).

A golden set's ``card.yaml`` declares them under ``variants:`` as
``{name, model, system_prompt, params}``; :meth:`Variant.from_card` reads one, and
:meth:`Variant.request` turns a golden item's query into the chat request to send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from evaltools.errors import ConfigError
from evaltools.golden import GoldenSet, load_golden
from evaltools.llm import ChatRequest

__all__ = ["StructuredOutput", "Variant"]

_KNOWN_PARAMS = ("temperature", "max_tokens", "seed", "structured_output")

StructuredOutput = Literal["json_object", "json_object_schema", "json_schema"]
"""How a variant asks for the items that have a JSON Schema (structured items):

* ``json_object``: JSON mode, ``{"type": "json_object"}`` (OpenAI, vLLM, llama.cpp, Ollama);
* ``json_object_schema``: JSON mode constrained to the item's schema,
  ``{"type": "json_object", "schema": ...}`` (llama.cpp's server, vLLM);
* ``json_schema``: OpenAI structured outputs, ``{"type": "json_schema", "json_schema": {...}}``.
"""


@dataclass(frozen=True, slots=True)
class Variant:
    """What is being evaluated: a model, a system prompt and sampling parameters.

    Args:
        name: the variant's name (``prompt-v2``).
        model: the model name the endpoint knows.
        system_prompt: prepended as a system message; None for none.
        temperature: sampling temperature (0 by default, for reproducible runs).
        max_tokens: completion length limit.
        seed: sampling seed, for endpoints that honour it.
        extra: other request parameters (``top_p``, ``stop``...), sent as is.
        structured_output: how items with a JSON Schema (``schema`` in the golden
            item) are requested (see :data:`StructuredOutput`); None asks for them
            like any other item, so only the prompt says "answer in JSON".

    Raises:
        ConfigError: an empty name or model, or a parameter out of range.

    Examples:
        >>> v = Variant("v1", "gpt-4o-mini", "Be brief.", extra={"top_p": 0.9})
        >>> v.to_dict()["params"]
        {'temperature': 0.0, 'max_tokens': 512, 'seed': None, 'top_p': 0.9}
        >>> Variant.from_dict(v.to_dict()) == v
        True
    """

    name: str
    model: str
    system_prompt: str | None = None
    temperature: float | None = 0.0
    max_tokens: int | None = 512
    seed: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    structured_output: StructuredOutput | None = None

    def __post_init__(self) -> None:
        for attr in ("name", "model"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"The '{attr}' of a Variant must be a non-empty string. Got {value!r} instead.")
        if self.system_prompt is not None and not isinstance(self.system_prompt, str):
            raise ConfigError(f"The 'system_prompt' of Variant {self.name!r} must be a string or None.")
        if self.temperature is not None and (
            not isinstance(self.temperature, int | float) or not 0 <= self.temperature <= 2
        ):
            raise ConfigError(
                f"The 'temperature' of Variant {self.name!r} must be a number in [0, 2]. "
                f"Got {self.temperature!r} instead."
            )
        for attr in ("max_tokens", "seed"):
            value = getattr(self, attr)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ConfigError(
                    f"The '{attr}' of Variant {self.name!r} must be an integer or None. Got {value!r} instead."
                )
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ConfigError(f"The 'max_tokens' of Variant {self.name!r} must be >= 1. Got {self.max_tokens}.")
        if self.structured_output is not None and self.structured_output not in get_args(StructuredOutput):
            raise ConfigError(
                f"The 'structured_output' of Variant {self.name!r} must be one of "
                f"{', '.join(get_args(StructuredOutput))} or None. Got {self.structured_output!r} instead."
            )
        clash = set(self.extra) & {*_KNOWN_PARAMS, "model", "messages", "response_format"}
        if clash:
            raise ConfigError(f"Variant {self.name!r}: set {sorted(clash)} as fields, not in 'extra'.")

    @property
    def params(self) -> dict[str, Any]:
        """The parameters: temperature, max_tokens, seed, structured_output (when set), then ``extra``."""
        out: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens, "seed": self.seed}
        if self.structured_output is not None:
            out["structured_output"] = self.structured_output
        return {**out, **self.extra}

    def to_dict(self) -> dict[str, Any]:
        """The variant as stored in a manifest: ``{name, model, system_prompt, params}``."""
        return {"name": self.name, "model": self.model, "system_prompt": self.system_prompt, "params": self.params}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | Path | None = None) -> Variant:
        """Build a variant from ``{name, model, system_prompt, params}`` (a card entry or a manifest).

        Args:
            data: the mapping; ``params`` may hold temperature, max_tokens, seed
                and any other request parameter.
            source: the file it came from, named in errors.

        Returns:
            The :class:`Variant`.

        Raises:
            ConfigError: a missing name or model, an unknown key, a bad parameter.
        """
        unknown = set(data) - {"name", "model", "system_prompt", "params", "description"}
        if unknown:
            raise ConfigError(
                f"Unknown variant key(s) {sorted(unknown)}. Valid keys: name, model, system_prompt, params.",
                path=source,
                field="variants",
            )
        params = dict(data.get("params") or {})
        known = {k: params.pop(k) for k in _KNOWN_PARAMS if k in params}
        try:
            return cls(
                name=data.get("name"),  # type: ignore[arg-type]
                model=data.get("model"),  # type: ignore[arg-type]
                system_prompt=data.get("system_prompt"),
                extra=params,
                **known,
            )
        except ConfigError as exc:
            raise ConfigError(exc.message, path=source, field="variants") from None

    @classmethod
    def from_card(cls, golden: GoldenSet | str | Path, name: str) -> Variant:
        """The variant called ``name`` in a golden set's ``card.yaml``.

        Args:
            golden: the golden set (or its folder).
            name: the variant's name.

        Returns:
            The :class:`Variant`.

        Raises:
            ConfigError: no variant of that name (the message lists the valid ones),
                or a malformed entry.

        Examples:
            >>> Variant.from_card("tests/fixtures/golden_tiny", "terse").max_tokens
            64
        """
        gs = golden if isinstance(golden, GoldenSet) else load_golden(golden, warn=False)
        card_path = gs.path / "card.yaml"
        entries = gs.card.get("variants") or []
        if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
            raise ConfigError("'variants' must be a list of mappings.", path=card_path, field="variants")
        for entry in entries:
            if entry.get("name") == name:
                return cls.from_dict(entry, source=card_path)
        valid = [str(e.get("name")) for e in entries]
        raise ConfigError(
            f"The golden set {gs.name!r} has no variant {name!r}. "
            f"Valid variants: {', '.join(valid) if valid else 'none (add a variants: list to card.yaml)'}.",
            path=card_path,
            field="variants",
        )

    def messages(self, query: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The chat messages for a golden item's query: the system prompt, then the query.

        Args:
            query: a user message, or a conversation (list of chat messages).

        Returns:
            A new list of messages.

        Examples:
            >>> Variant("v", "m", "Be brief.").messages("Hi?")
            [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hi?'}]
        """
        out = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        if isinstance(query, str):
            out.append({"role": "user", "content": query})
        else:
            out.extend(dict(m) for m in query)
        return out

    def request(
        self, query: str | list[dict[str, Any]], *, schema: Mapping[str, Any] | None = None, schema_name: str = "output"
    ) -> ChatRequest:
        """The :class:`~evaltools.llm.ChatRequest` for a golden item's query.

        Args:
            query: the item's query (a message or a conversation).
            schema: the item's JSON Schema, for structured items; with
                ``structured_output`` set it becomes the request's ``response_format``.
            schema_name: the schema's name (OpenAI's ``json_schema.name``).

        Returns:
            The request.

        Examples:
            >>> v = Variant("v", "m", structured_output="json_object_schema")
            >>> v.request("TRIAGE: help", schema={"type": "object"}).response_format
            {'type': 'json_object', 'schema': {'type': 'object'}}
            >>> v.request("a question").response_format is None
            True
        """
        response_format: dict[str, Any] | None = None
        if schema is not None and self.structured_output == "json_object":
            response_format = {"type": "json_object"}
        elif schema is not None and self.structured_output == "json_object_schema":
            response_format = {"type": "json_object", "schema": dict(schema)}
        elif schema is not None and self.structured_output == "json_schema":
            name = re.sub(r"[^A-Za-z0-9_-]", "_", schema_name)[:64]
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": dict(schema), "strict": True},
            }
        return ChatRequest(
            self.model,
            self.messages(query),
            self.temperature,
            self.max_tokens,
            self.seed,
            response_format,
            dict(self.extra),
        )
